"""Sessions on FLARE: many applications share the deployment's DFM service job, isolated; errors that are
clear and never hang; a dead service is started again."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from dfm.api import Pipeline, PlaceParam, Yield
from dfm.flare.layout import DeploymentState
from dfm.flare.poc import _pids_using, admin_session
from dfm.flare.provision import provision
from dfm.flare.service import running_services, service_name
from dfm.runner import JobStatus, Session
from dfm.runner.messages import CancelJob, Credit, StopFrames
from dfm.runner.transports.base import TransportError

from .conftest import MATHFED


def test_without_a_deployment_the_error_says_how_to_get_one(mathfed, monkeypatch, tmp_path):
    monkeypatch.setenv("DFM_FLARE_HOME", str(tmp_path))
    with pytest.raises(TransportError, match="dfm poc prepare mathfed"):
        Session(mathfed, target="flare", options={"poc": True})
    with pytest.raises(TransportError, match="needs to know where FLARE runs"):
        Session(mathfed, target="flare")


def test_unreachable_server_is_a_clear_error(mathfed, tmp_path):
    provision(MATHFED, tmp_path, port=1)  # kits, but nothing listens
    start = time.monotonic()
    with pytest.raises(TransportError, match=r"the FLARE server of .* is not reachable"):
        Session(mathfed, target="flare", options={"workspace": str(tmp_path), "connect_timeout": 3})
    assert time.monotonic() - start < 30


def test_missing_admin_kit(mathfed, tmp_path):
    with pytest.raises(TransportError, match="admin startup kit not found"):
        Session(mathfed, target="flare", options={"kit": str(tmp_path / "nowhere")})


def test_nvflare_missing_names_the_install_command(mathfed, monkeypatch):
    monkeypatch.setitem(sys.modules, "nvflare", None)
    with pytest.raises(TransportError, match="pip install dfm-flare"):
        Session(mathfed, target="flare", options={"poc": True})


def test_deployment_for_another_federation_is_refused(mathfed, tmp_path):
    state = provision(MATHFED, tmp_path, port=9200)
    state.federation = "otherfed"
    state.save(tmp_path)
    with pytest.raises(TransportError, match="runs federation 'otherfed'"):
        Session(mathfed, target="flare", options={"workspace": str(tmp_path)})


@pytest.mark.flare
def test_killed_site_fails_the_jobs_naming_it_and_the_session_says_restart(mathfed, mathfed_deployment):
    """FLARE 2.9 ends the whole FLARE job when one client's job process dies: the jobs using that
    site fail naming it (not whichever site sorts first), the others say why, and the session
    refuses further jobs with a clear message instead of hanging."""
    workspace = mathfed_deployment.workspace
    state = DeploymentState.load(workspace)
    with Session(mathfed, target="flare", options={"workspace": str(workspace), "lost_after": 3}) as s:
        job_id = s.transport.job_id
        with Pipeline() as p:
            Yield(mathfed.api.math.SleepSync(seconds=PlaceParam("s")), place="slow")
        on_alpha = s.prepare(p)
        with Pipeline() as p:
            slept = mathfed.api.math.Sleep(seconds=PlaceParam("s"), value=3, site="home")
            Yield(mathfed.api.math.Square(x=slept, site="beta"), place="sq")
        via_beta = s.prepare(p)
        assert [r.value for r in s.execute(on_alpha, {"s": 0.1}).results(timeout=30)] == [0.1]
        assert [r.value for r in s.execute(via_beta, {"s": 0.1}).results(timeout=30)] == [9]
        alpha_job = s.execute(on_alpha, {"s": 30})
        beta_job = s.execute(via_beta, {"s": 30})
        time.sleep(1.0)
        beta_kit = str(Path(state.prod_dir) / state.sites["beta"])
        # beta's process of this FLARE job (its command line names the job)
        (worker,) = [p for p in _pids_using(beta_kit) if p in _pids_using(job_id)]
        start = time.monotonic()
        os.kill(worker, signal.SIGKILL)
        assert beta_job.wait(20) is JobStatus.FAILED
        assert alpha_job.wait(20) is JobStatus.FAILED
        assert time.monotonic() - start < 20
        assert "site 'beta' was lost" in beta_job.error
        assert "alpha" not in beta_job.error
        # alpha's job went down with the FLARE job; under load alpha's own heartbeats may lag enough
        # for the server to name it too, so only the victim's naming is asserted strictly
        assert "was lost" in alpha_job.error or "restart the session" in alpha_job.error
        later = s.execute(on_alpha, {"s": 0.1})
        assert later.wait(5) is JobStatus.FAILED
        assert "restart the session" in later.error
    session = __import__("dfm.flare.poc", fromlist=["admin_session"]).admin_session(state)
    try:
        status = session.get_job_status(job_id)
    finally:
        session.close()
    assert not str(status).startswith("RUNNING")


def _wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.flare
def test_applications_share_the_service_and_cannot_touch_each_others_jobs(mathfed, mathfed_deployment):
    """Two sessions at once on one service job: the second forges controls for the first's job and
    sees none of its results; the first's job runs on unharmed; each ends without ending the other."""
    options = {"workspace": str(mathfed_deployment.workspace)}
    api = mathfed.api.math
    with Pipeline() as service:
        Yield(api.Add(a=api.Square(x=PlaceParam("x"), site="alpha"), b=1, site="beta"), place="out")
    with Session(mathfed, target="flare", options=options) as owner:
        with Session(mathfed, target="flare", options=options) as intruder:
            assert owner.transport.job_id == intruder.transport.job_id  # attached, nothing submitted
            seen_by_intruder: list[object] = []
            deliver = intruder.transport.deliver

            def spy(msg, sender):  # everything the service hands the intruder's transport
                seen_by_intruder.append(msg)
                deliver(msg, sender)

            intruder.transport.deliver = spy
            victim = owner.execute(owner.prepare(service), [{"x": 2}], autostop=False)
            results = victim.results(timeout=60)
            assert next(results).value == 5
            for site in ("alpha", "beta", "home"):
                intruder.transport.send(site, CancelJob(victim.id))
                intruder.transport.send(site, StopFrames(victim.id, 1))
                intruder.transport.send(site, Credit(victim.id, 10**6))
            assert _wait_for(lambda: len([r for r in intruder.refusals if "not this session's" in r]) == 9)
            assert not any("not this session's" in r for r in owner.refusals)
            # the intruder's own work runs as usual
            with Pipeline() as mine:
                Yield(api.Square(x=PlaceParam("x"), site="alpha"), place="sq")
            assert [
                r.value for r in intruder.execute(intruder.prepare(mine), {"x": 3}).results(timeout=60)
            ] == [9]
        # the intruder ended its session: the owner's job goes on
        assert victim.send_input_params({"x": 3}) == [1]
        victim.send_stop_frame()
        assert sorted((r.frame, r.value) for r in results) == [((1,), 10)]
        assert victim.status is JobStatus.FINISHED
    assert not any(getattr(msg, "job", None) == victim.id for msg in seen_by_intruder)


@pytest.mark.flare
def test_sessions_attach_and_detach_without_submitting_a_job(mathfed, mathfed_deployment):
    state = DeploymentState.load(mathfed_deployment.workspace)
    options = {"workspace": str(mathfed_deployment.workspace)}
    admin = admin_session(state)
    try:
        before = len(admin.list_jobs())
        (service,) = running_services(admin, service_name("mathfed"))
        for _ in range(3):
            with Session(mathfed, target="flare", options=options) as s:
                assert s.transport.job_id == service
        assert len(admin.list_jobs()) == before
        assert admin.do_app_command(service, "dfm.status", {})["sessions"] == 0  # each one ended
    finally:
        admin.close()


@pytest.mark.flare
def test_a_killed_service_is_started_again_by_the_next_session(mathfed, mathfed_deployment):
    state = DeploymentState.load(mathfed_deployment.workspace)
    options = {"workspace": str(mathfed_deployment.workspace)}
    admin = admin_session(state)
    try:
        (old,) = running_services(admin, service_name("mathfed"))
        # the service's server-side job process (its command line names the job)
        (worker,) = [
            p for p in _pids_using(str(Path(state.prod_dir) / state.server)) if p in _pids_using(old)
        ]
        os.kill(worker, signal.SIGKILL)
        assert _wait_for(lambda: not str(admin.get_job_status(old)).startswith("RUNNING"), 60)
    finally:
        admin.close()
    with Session(mathfed, target="flare", options=options) as s:
        assert s.transport.job_id != old
        with Pipeline() as p:
            Yield(mathfed.api.math.Square(x=PlaceParam("x"), site="alpha"), place="sq")
        assert [r.value for r in s.execute(s.prepare(p), {"x": 4}).results(timeout=60)] == [16]


VANISHING_APP = """
import sys, time
from dfm.api import Pipeline, Yield, load_federation
from dfm.runner import Session
fed = load_federation(sys.argv[1])
s = Session(fed, target="flare", options={"workspace": sys.argv[2], "app_timeout": 2})
with Pipeline() as p:
    Yield(fed.api.math.Forever(site="alpha"), place="n")
job = s.execute(s.prepare(p))
next(iter(job.results(timeout=60)))
print("running", flush=True)
time.sleep(600)
"""


@pytest.mark.flare
def test_the_session_of_a_vanished_application_is_dropped(mathfed, mathfed_deployment):
    """An application killed with a job running: the server drops its session after its timeout
    (and cancels its jobs at the sites, unit-tested in test_sessions.py); the service runs on."""
    import subprocess

    state = DeploymentState.load(mathfed_deployment.workspace)
    app = subprocess.Popen(
        [sys.executable, "-c", VANISHING_APP, str(MATHFED), str(mathfed_deployment.workspace)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "running"
        admin = admin_session(state)
        try:
            (service,) = running_services(admin, service_name("mathfed"))
            open_now = admin.do_app_command(service, "dfm.status", {})["sessions"]  # other tests' too
            assert open_now >= 1
            app.kill()
            app.wait()
            assert _wait_for(
                lambda: admin.do_app_command(service, "dfm.status", {})["sessions"] == open_now - 1, 30
            )
        finally:
            admin.close()
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        if app.stdout is not None:
            app.stdout.close()
    with Session(mathfed, target="flare", options={"workspace": str(mathfed_deployment.workspace)}) as s:
        assert s.transport.job_id == service


@pytest.mark.flare
def test_applications_that_find_no_service_at_once_converge_on_one(mathfed, mathfed_deployment):
    """Two applications start while no service runs: each submits one, both end up on the older,
    the younger is aborted by the application that started it, and both work."""
    import threading

    state = DeploymentState.load(mathfed_deployment.workspace)
    options = {"workspace": str(mathfed_deployment.workspace)}
    name = service_name("mathfed")
    admin = admin_session(state)
    try:
        for job_id in running_services(admin, name):
            admin.abort_job(job_id)
        assert _wait_for(lambda: not running_services(admin, name, pending=True), 60)
        before = {job["job_id"] for job in admin.list_jobs()}
        sessions: list[Session] = []
        start = threading.Barrier(2)

        def open_session() -> None:
            start.wait()
            sessions.append(Session(mathfed, target="flare", options=options))

        threads = [threading.Thread(target=open_session) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        try:
            assert len(sessions) == 2
            submitted = [job for job in admin.list_jobs() if job["job_id"] not in before]
            assert len(submitted) == 2, "both applications found no service and started one"
            (older, younger) = sorted(submitted, key=lambda job: job["submit_time"])
            assert {s.transport.job_id for s in sessions} == {older["job_id"]}
            assert _wait_for(lambda: running_services(admin, name) == [older["job_id"]], 60)
            assert str(admin.get_job_status(younger["job_id"])).startswith("FINISHED")
            with Pipeline() as p:
                Yield(mathfed.api.math.Square(x=PlaceParam("x"), site="alpha"), place="sq")
            for i, s in enumerate(sessions):
                assert [r.value for r in s.execute(s.prepare(p), {"x": i + 2}).results(timeout=60)] == [
                    (i + 2) ** 2
                ]
        finally:
            for s in sessions:
                s.close()
    finally:
        admin.close()
