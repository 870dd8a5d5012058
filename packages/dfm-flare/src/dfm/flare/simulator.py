"""DFM sessions in NVIDIA FLARE's simulator: no provisioning, no ports, one process tree.

``Session(fed, target="flare", options={"simulator": True})`` (or
``dfm fed submit NAME --target flare --simulator ...``) runs the session's
FLARE job, with the same :class:`~dfm.flare.controller.DfmController` and
:class:`~dfm.flare.executor.DfmExecutor` as on a deployment, in
``nvflare simulator``: one client per site, all running at once (the
simulator deadlocks client-to-client traffic otherwise). Use it to try a
federation's FLARE job before provisioning; it does not exercise
provisioning, mTLS or the admin API.

Two things stand in for what a deployment has:

- the simulator has no admin API, so the controller serves the
  application's commands (``dfm.post``, ``dfm.fetch``, ``dfm.stop``) on a
  unix socket in a private folder (``app_socket``);
- the sites have no startup kits, so they share one *simulation descriptor*
  (``role: simulation``, FLARE client -> DFM site) and the federation code in
  the workspace's ``local/custom/``, which the simulator copies to every site.

Both are honoured only where FLARE runs a simulation: a deployed server
never opens the socket and a deployed site never accepts that descriptor.

:class:`Simulator` plays the admin session's part for
:class:`~dfm.flare.transport.FlareTransport` (``submit_job``,
``do_app_command``, ``get_job_status``, ``abort_job``, ``close``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dfm.flare.builder import copy_site_code
from dfm.flare.layout import PACKAGE_PREFIX, SITE_DESCRIPTOR, SITE_DIR, FlareSetupError, client_names
from dfm.flare.poc import _alive, _pids_using
from dfm.flare.provision import site_local_code
from dfm.flare.sitedata import site_data_files
from dfm.kernel.config.models import Federation
from dfm.kernel.plugins import get_plugin_manager

__all__ = ["Simulator", "prepare_workspace"]

JOB_ID = "simulate_job"  # the simulator's own name for the one job it runs
SOCKET_NAME = "app.sock"
LOG_NAME = "simulator.log"
log = logging.getLogger("dfm.flare")


def prepare_workspace(federation: Federation, config_path: Path, workspace: Path) -> None:
    """Write the simulator workspace's ``local/``, which the simulator copies to every participant.

    ``custom/`` gets the federation's config, its local code, the data files its
    sites' configs name (as kits carry them, :mod:`dfm.flare.sitedata`) and a simulation
    descriptor; ``resources.json.default`` FLARE's default ``class_allow_list``
    plus the ``dfm.`` prefix (as provisioning does for kits).
    """
    from nvflare.app_common.default_component_policy import DEFAULT_CLASS_ALLOW_LIST

    manager = get_plugin_manager()
    local = workspace / "local"
    custom = local / "custom"
    local_code = sorted(
        {rel for site in federation.sites for rel in site_local_code(federation, config_path, site, manager)}
    )
    # every site's data files: the simulated sites share one copy of local/ (and this machine has them all)
    data = {rel for site in federation.sites for rel in site_data_files(federation, config_path, site)}
    copy_site_code(config_path, custom / SITE_DIR, local_code, sorted(data))
    descriptor = {
        "format": 1,
        "role": "simulation",
        "federation": federation.name,
        "sites": {client: site for site, client in client_names(federation).items()},
        "config": f"{SITE_DIR}/{config_path.name}",
    }
    (custom / SITE_DESCRIPTOR).write_text(json.dumps(descriptor, indent=2) + "\n")
    resources = {"format_version": 2, "class_allow_list": [*DEFAULT_CLASS_ALLOW_LIST, PACKAGE_PREFIX]}
    (local / "resources.json.default").write_text(json.dumps(resources, indent=2) + "\n")


def _check_workspace(workspace: Path) -> None:
    """Refuse a folder holding anything but an earlier simulation: the simulator empties its workspace."""
    if not workspace.exists() or not any(workspace.iterdir()):
        return
    try:
        descriptor = json.loads((workspace / "local" / "custom" / SITE_DESCRIPTOR).read_text())
    except (OSError, ValueError):
        descriptor = {}
    if descriptor.get("role") != "simulation":
        raise FlareSetupError(
            f"{workspace} is not empty and holds no earlier simulation: FLARE's simulator deletes "
            "what is in its workspace; give an empty or new folder"
        )


class Simulator:
    """Runs one DFM session job in ``nvflare simulator`` and talks to its controller.

    Args:
        federation, config_path: the federation and its config file.
        workspace: the simulator's workspace (kept, logs included); default a temporary
            folder removed by :meth:`close`.

    The simulated sites inherit this process's environment (their vaults read secrets from it).
    """

    def __init__(
        self,
        federation: Federation,
        config_path: Path,
        workspace: str | os.PathLike[str] | None = None,
    ):
        self.clients = list(client_names(federation).values())
        # Private and short: a unix socket path must fit in 107 bytes.
        self._private = Path(tempfile.mkdtemp(prefix="dfm-sim-"))
        self._private.chmod(0o700)
        self.socket_path = str(self._private / SOCKET_NAME)
        self._own_workspace = workspace is None
        self.workspace = Path(workspace).resolve() if workspace else self._private / "workspace"
        self.log_path = self._private / LOG_NAME
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Any = None  # the socket's file object
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        _check_workspace(self.workspace)
        self.workspace.mkdir(parents=True, exist_ok=True)
        prepare_workspace(federation, Path(config_path).resolve(), self.workspace)

    # -- the admin session's part --------------------------------------------------------------

    def get_connected_client_list(self) -> list[Any]:
        """Every site's client, as objects with a ``name`` (all are connected in a simulation)."""
        return [SimpleNamespace(name=client) for client in self.clients]

    def submit_job(self, job_folder: str) -> str:
        """Copy the job folder and start FLARE's simulator on it, every client in its own thread; returns
        the one job id. Raises ``RuntimeError`` for a second job.
        """
        if self._proc is not None:
            raise RuntimeError("a simulator runs one job")
        job = self._private / "job" / Path(job_folder).name
        shutil.copytree(job_folder, job)  # the caller removes its export as soon as we return
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONPATH", None)
        n = str(len(self.clients))
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "nvflare.private.fed.app.simulator.simulator",
                    str(job),
                    "-w",
                    str(self.workspace),
                    "-c",
                    ",".join(self.clients),
                    "-n",
                    n,
                    "-t",  # every client at once: with fewer threads, site-to-site messages deadlock
                    n,
                ],
                cwd=str(self._private),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return JOB_ID

    def get_job_status(self, job_id: str) -> str:
        """The job's status in FLARE's words: ``SUBMITTED``, ``DISPATCHED``, ``RUNNING``,
        ``FINISHED:COMPLETED`` or an ``EXECUTION_EXCEPTION`` naming the exit code and log.
        """
        proc = self._proc
        if proc is None:
            return "SUBMITTED"
        rc = proc.poll()
        if rc is None:
            return "RUNNING" if os.path.exists(self.socket_path) else "DISPATCHED"
        if rc == 0:
            return "FINISHED:COMPLETED"
        return f"FINISHED:EXECUTION_EXCEPTION (the simulator exited with code {rc}; log: {self.log_path})"

    def get_job_meta(self, job_id: str) -> dict[str, Any]:
        """Always empty: a simulated job has no metadata."""
        return {}

    def do_app_command(self, job_id: str, topic: str, data: dict[str, Any]) -> dict[str, Any]:
        """Send the app command ``topic`` with ``data`` to the simulated job over its socket and return
        its result; raises FLARE's ``JobNotRunning`` or ``NoReply``, or ``RuntimeError`` with the job's
        error.
        """
        from nvflare.fuel.flare_api.api_spec import JobNotRunning, NoReply

        with self._lock:
            if self._conn is None:
                if self.get_job_status(job_id) != "RUNNING":
                    raise JobNotRunning(f"the simulated job is {self.get_job_status(job_id)}")
                conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                conn.settimeout(30.0)
                try:
                    conn.connect(self.socket_path)
                except OSError as exc:
                    conn.close()
                    raise JobNotRunning(f"the simulated job does not answer yet: {exc}") from None
                self._conn = conn.makefile("rwb")
                self._sock = conn
            try:
                self._conn.write(json.dumps({"topic": topic, "data": data}).encode() + b"\n")
                self._conn.flush()
                line = self._conn.readline()
            except OSError as exc:
                self._disconnect()
                raise NoReply(f"the simulated job did not answer '{topic}': {exc}") from None
            if not line:
                self._disconnect()
                raise NoReply(f"the simulated job closed its socket during '{topic}'")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        result: dict[str, Any] = reply["result"]
        return result

    def abort_job(self, job_id: str) -> None:
        """Kill the simulator."""
        self._kill()

    def close(self) -> None:
        """Disconnect, kill the simulator and, with a workspace the caller gave, copy the log there."""
        with self._lock:
            self._disconnect()
        self._kill()
        if not self._own_workspace and self.log_path.exists():
            shutil.copy2(self.log_path, self.workspace / LOG_NAME)
        if self._proc is not None and self.returncode != 0:
            log.warning("the FLARE simulator did not end cleanly; its files stay in %s", self._private)
            return
        shutil.rmtree(self._private, ignore_errors=True)

    # -- helpers ----------------------------------------------------------------------------------

    @property
    def returncode(self) -> int | None:
        """The simulator's exit code once it ended (0: the session's job ended cleanly)."""
        return None if self._proc is None else self._proc.poll()

    def processes(self) -> list[int]:
        """The live processes of this simulation: the simulator, its forked runner, its clients."""
        pids = _pids_using(str(self.workspace), str(self._private))
        if self._proc is not None and self._proc.poll() is None:
            pids.append(self._proc.pid)
        return sorted(set(pids))

    def _disconnect(self) -> None:
        for closing in (self._conn, self._sock):
            if closing is not None:
                with contextlib.suppress(OSError):
                    closing.close()
        self._conn = self._sock = None

    def _kill(self, grace: float = 10.0) -> None:
        if self._proc is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            pids = self.processes()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
                self._proc.poll()
                time.sleep(0.1)
        self._proc.poll()
