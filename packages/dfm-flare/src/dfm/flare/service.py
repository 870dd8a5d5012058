"""A deployment's DFM service: ONE long-lived FLARE job hosting every site's runtime for all applications.

The job is a :class:`~dfm.flare.controller.DfmController` on the server and a
:class:`~dfm.flare.executor.DfmExecutor` per site, named ``dfm-service-<federation>``.
It is submitted when the deployment starts (:meth:`dfm.flare.poc.Deployment.start`,
``dfm poc start``) and again by the first application that finds none running
(:meth:`dfm.flare.transport.FlareTransport.start`):
whoever needs the service restarts it, so no watcher process has to be kept
alive itself, and every deployment (POC, kits on other machines) gets the same
behaviour from the one component that always runs when the service is needed.
Applications then only attach to it (an app command), which takes milliseconds.
Two applications that find none at once each submit one; each then looks for an
older one (:func:`running_services`, oldest first), and the younger's starter
attaches to the older and aborts its own, so that all converge on one service.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from dfm.flare.topics import CMD_STATUS, SERVICE_PREFIX

__all__ = ["ServiceError", "export_service_job", "running_services", "service_name", "start_service"]

_ENDED = ("FINISHED", "ABORTED", "FAILED", "ABANDONED")


class ServiceError(RuntimeError):
    """The service job could not be started, or did not become ready (the message says why)."""


def service_name(federation: str) -> str:
    """The FLARE job name of ``federation``'s DFM service."""
    return (SERVICE_PREFIX + federation)[:60]


def export_service_job(
    out_dir: str,
    name: str,
    sites: dict[str, str],
    *,
    controller: dict[str, Any],
    executor: dict[str, Any],
) -> str:
    """Write the DFM service's FLARE job into ``out_dir``; return its folder.

    One controller on the server and one executor per site (``sites``: DFM site ->
    FLARE client), with these keyword arguments and their pair keys
    (:mod:`dfm.flare.seals`). The job carries no code: the components come
    from the sites' installs.
    """
    from nvflare.job_config.api import FedJob

    from dfm.flare.controller import DfmController
    from dfm.flare.executor import DfmExecutor
    from dfm.flare.layout import SERVER_NAME
    from dfm.flare.seals import pair_keys

    name = name[:60]
    # a fresh key per pair of participants, each in the app configs of its two ends only
    keys = pair_keys([SERVER_NAME, *sites.values()])
    job = FedJob(name=name, min_clients=len(sites), mandatory_clients=list(sites.values()))
    job.set_app_packages(["dfm"])  # not BYOC
    job.to_server(DfmController(sites, **controller, keys=keys[SERVER_NAME]))
    for site, client in sites.items():
        job.to(DfmExecutor(site, sites, **executor, keys=keys[client]), client, tasks=["dfm.*"])
    job.export_job(out_dir)
    return os.path.join(out_dir, name)


def running_services(admin: Any, name: str, *, pending: bool = False) -> list[str]:
    """Job ids of the jobs named ``name`` FLARE runs, oldest first (``admin``: an nvflare admin ``Session``).

    ``pending`` adds the jobs FLARE has not started yet (submitted, dispatched). The oldest live
    one is THE service: when two applications that found none start one each, both end up on
    the older (:meth:`dfm.flare.transport.FlareTransport.start`). Jobs submitted before the
    server's last start are left out: a server stopped while a job ran lists it as RUNNING for
    ever after its restart (its app commands fail with ``JobNotRunning``; aborting it fails too).
    """
    states = ("RUNNING", "SUBMITTED", "DISPATCHED") if pending else ("RUNNING",)
    server_start = _server_start(admin)
    jobs = sorted(
        (_submitted(job), str(job["job_id"]))
        for job in admin.list_jobs()
        if job.get("job_name") == name and str(job.get("status", "")).startswith(states)
    )
    return [job_id for submitted, job_id in jobs if submitted >= server_start]


def _server_start(admin: Any) -> float:
    """When the FLARE server last started (epoch seconds; 0 when it does not say)."""
    try:
        return float(admin.get_system_info().server_info.start_time or 0)
    except Exception:
        return 0.0


def _submitted(job: dict[str, Any]) -> float:
    """When FLARE took ``job`` (epoch seconds, from its listing's ISO time; 0 when unreadable)."""
    try:
        return datetime.fromisoformat(str(job.get("submit_time"))).timestamp()
    except ValueError:
        return 0.0


def submit(
    admin: Any, name: str, sites: dict[str, str], controller: dict[str, Any], executor: dict[str, Any]
) -> str:
    """Export and submit the service job; return its FLARE job id."""
    tmp = tempfile.mkdtemp(prefix="dfm-flare-job-")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # FedJob prints its progress
            job_dir = export_service_job(tmp, name, sites, controller=controller, executor=executor)
        return str(admin.submit_job(job_dir))
    except Exception as exc:
        raise ServiceError(f"FLARE refused the DFM service job: {type(exc).__name__}: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def status(admin: Any, job_id: str) -> str:
    """FLARE's status of ``job_id`` (``unknown (...)`` when it cannot be read)."""
    try:
        return str(admin.get_job_status(job_id))
    except Exception as exc:
        return f"unknown ({type(exc).__name__})"


def wait_ready(
    admin: Any,
    job_id: str,
    sites: dict[str, str],
    deadline: float,
    step: Callable[[str], None] = lambda line: None,
) -> None:
    """Wait until every site of the service job ``job_id`` reports ready; :class:`ServiceError` if one
    failed, the job ended (the message carries FLARE's status) or ``deadline`` passed.
    """
    ready: dict[str, Any] = {}
    while True:
        reply = None
        with contextlib.suppress(Exception):  # FLARE refuses app commands for ~1 s after RUNNING
            reply = admin.do_app_command(job_id, CMD_STATUS, {})
        if isinstance(reply, dict):
            ready = reply.get("ready") or {}
            errors = [str(error) for error in ready.values() if error]
            if errors:
                raise ServiceError("; ".join(errors))
            if set(sites) <= set(ready):
                return
        else:
            now = status(admin, job_id)
            if any(now.startswith(ended) for ended in _ENDED):
                raise ServiceError(
                    f"the DFM service job {job_id} ended ({now}){_deploy_detail(admin, job_id)}"
                )
        waiting = sorted(set(sites) - set(ready))
        step(f"DFM service job {job_id}: waiting for site(s) {', '.join(waiting)}")
        if time.monotonic() > deadline:
            raise ServiceError(
                f"DFM service job {job_id}: site(s) {', '.join(waiting)} not ready in time "
                f"(job status {status(admin, job_id)})"
            )
        time.sleep(0.05)


def _deploy_detail(admin: Any, job_id: str) -> str:
    try:
        meta = admin.get_job_meta(job_id)
    except Exception:
        return ""
    detail = meta.get("job_deploy_detail") if isinstance(meta, dict) else None
    return f"; deployment: {detail}" if detail else ""


def start_service(
    admin: Any,
    name: str,
    sites: dict[str, str],
    *,
    controller: dict[str, Any] | None = None,
    executor: dict[str, Any] | None = None,
    timeout: float = 90.0,
    attempts: int = 3,
    step: Callable[[str], None] = lambda line: None,
) -> str:
    """Submit the service job and wait until every site is ready; return its job id.

    FLARE gives up deploying a job when a client is slow to answer (a loaded machine):
    such a job is submitted again, up to ``attempts`` times within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    for attempt in range(1, attempts + 1):
        step("submitting the DFM service job")
        job_id = submit(admin, name, sites, controller or {}, executor or {})
        try:
            wait_ready(admin, job_id, sites, deadline, step)
            return job_id
        except ServiceError as exc:
            if "FAILED_TO_RUN" not in str(exc) or attempt == attempts or time.monotonic() > deadline:
                with contextlib.suppress(Exception):
                    admin.abort_job(job_id)
                raise
    raise AssertionError("unreachable")
