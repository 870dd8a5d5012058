"""Liveness: frozen sites, hung sync adapters, timeouts, jobs that cannot start.

Elapsed times are never asserted: every wait has a generous bound, and a
hang shows up as that bound running out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest

from dfm.api import Pipeline, PlaceParam, Yield
from dfm.kernel.errors import DfmError
from dfm.runner import JobStatus, Session, TransportError
from dfm.runner.testing import MATHFED
from dfm.runner.testing.conformance import until
from dfm.runner.workers import WorkerPool

TRANSPORTS = ["inproc", "process"]


@pytest.fixture(params=TRANSPORTS)
def one_worker(request, mathfed) -> Iterator[Session]:
    """A session whose sites have a single worker thread each: a lost worker would show at once."""
    with Session(mathfed, transport=request.param, options={"workers": 1}) as s:
        yield s


def _pipeline(make) -> Pipeline:
    with Pipeline() as p:
        make()
    return p


def test_hung_sync_adapter_times_out_and_site_stays_usable(one_worker, mathfed):
    api = mathfed.api.math
    s = one_worker
    hang = s.prepare(_pipeline(lambda: Yield(api.Hang(site="home"), place="never")))  # timeout: 1
    job = s.execute(hang)
    assert job.wait(60) is JobStatus.FAILED
    assert "site 'home', operation 'math.Hang' (node " in job.error
    assert "timed out after 1 s" in job.error
    # The one worker of 'home' is still stuck in the call; a replacement runs the next sync call.
    square = s.prepare(_pipeline(lambda: Yield(api.Square(x=PlaceParam("x"), site="home"), place="sq")))
    for x in (3, 4):
        later = s.execute(square, {"x": x})
        assert [r.value for r in later.results(timeout=60)] == [x * x]
    if s.transport.name == "inproc":
        assert s.transport.sites["home"].pool.abandoned == 1


def test_cancel_abandons_hung_sync_adapter(one_worker, mathfed):
    api = mathfed.api.math
    s = one_worker
    job = s.execute(s.prepare(_pipeline(lambda: Yield(api.Hang(site="alpha"), place="never"))))  # no timeout
    until(lambda: job.status is JobStatus.RUNNING, what="RUNNING")
    if s.transport.name == "inproc":
        pool = s.transport.sites["alpha"].pool
        until(lambda: pool.running == 1, what="the call to start")
    job.cancel()
    assert job.wait(30) is JobStatus.CANCELLED
    later = s.execute(s.prepare(_pipeline(lambda: Yield(api.Square(x=5, site="alpha"), place="sq"))))
    assert [r.value for r in later.results(timeout=60)] == [25]
    if s.transport.name == "inproc":
        until(lambda: pool.abandoned == 1, what="the call to be abandoned")


def test_site_processes_with_hung_threads_exit_on_their_own(mathfed):
    api = mathfed.api.math
    s = Session(mathfed, transport="process")
    try:
        hung = s.execute(s.prepare(_pipeline(lambda: Yield(api.Hang(site="alpha"), place="never"))))
        until(lambda: hung.status is JobStatus.RUNNING, what="RUNNING")
    finally:
        procs = dict(s.transport.procs)
        s.close()
    # SIGTERM ended them (code 0); a process kept alive by a joined thread would have been SIGKILLed.
    assert {site: p.returncode for site, p in procs.items()} == {site: 0 for site in procs}


SCRIPT = textwrap.dedent(
    """
    from dfm.api import Pipeline, Yield, load_federation
    from dfm.runner import JobStatus, Session

    fed = load_federation({config!r})
    api = fed.api.math
    session = Session(fed, transport="inproc", options={{"workers": 1}})
    with Pipeline() as timed:
        Yield(api.Hang(site="home"), place="never")
    with Pipeline() as untimed:
        Yield(api.Hang(site="alpha"), place="never")
    with Pipeline() as square:
        Yield(api.Square(x=3, site="alpha"), place="sq")
    assert session.execute(session.prepare(timed)).wait(60) is JobStatus.FAILED
    job = session.execute(session.prepare(untimed))
    job.cancel()
    assert job.wait(60) is JobStatus.CANCELLED
    assert [r.value for r in session.execute(session.prepare(square)).results(timeout=60)] == [9]
    session.execute(session.prepare(untimed))  # still hanging at close
    session.close()
    print("closed", flush=True)
    """
)


def test_process_with_hung_adapters_exits_after_close():
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT.format(config=str(MATHFED))],
            capture_output=True,
            text=True,
            timeout=120,  # a blocked exit shows up as this bound running out
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the interpreter did not exit after close: {exc.stdout!r} {exc.stderr!r}")
    assert done.returncode == 0, done.stderr
    assert "closed" in done.stdout


@pytest.fixture
def fragile(mathfed) -> Iterator[Session]:
    """A process-transport session whose sites are lost after 2 s without a heartbeat."""
    with Session(mathfed, transport="process", options={"heartbeat": 0.25, "lost_after": 2}) as s:
        yield s


def test_stopped_site_fails_its_jobs_within_lost_after(fragile, mathfed):
    api = mathfed.api.math
    s = fragile
    slow = s.execute(s.prepare(_pipeline(lambda: Yield(api.SleepSync(seconds=60, site="alpha"), place="z"))))
    other = s.execute(s.prepare(_pipeline(lambda: Yield(api.Sleep(seconds=60, value=1), place="late"))))
    until(lambda: slow.status is JobStatus.RUNNING and other.status is JobStatus.RUNNING, what="RUNNING")
    alpha = s.transport.procs["alpha"].pid
    os.kill(alpha, signal.SIGSTOP)
    try:
        assert slow.wait(60) is JobStatus.FAILED
        assert "site 'alpha' was lost: no heartbeat for 2 s" in slow.error
        # A job started on the silent site fails at once; jobs elsewhere go on.
        square = s.prepare(_pipeline(lambda: Yield(api.Square(x=2, site="alpha"), place="sq")))
        refused = s.execute(square)
        assert refused.wait(60) is JobStatus.FAILED
        assert "site 'alpha' was lost" in refused.error
        assert other.status is JobStatus.RUNNING
    finally:
        os.kill(alpha, signal.SIGCONT)
    # Its heartbeats come back: it is used again.
    until(lambda: "alpha" not in s.transport.silent, what="heartbeats to resume")
    assert [r.value for r in s.execute(square).results(timeout=60)] == [4]
    other.cancel()


def test_liveness_options_are_checked(mathfed):
    with pytest.raises(TransportError, match="0 < heartbeat < lost_after"):
        Session(mathfed, transport="process", options={"heartbeat": 5, "lost_after": 1})


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_parameter_the_codec_refuses_fails_the_job(mathfed, transport):
    with Session(mathfed, transport=transport) as s:
        prepared = s.prepare(_pipeline(lambda: Yield(mathfed.api.math.Square(x=PlaceParam("x")), place="sq")))
        for value in (object(), {1, 2}):
            job = s.execute(prepared, {"x": value})
            assert job.wait(60) is JobStatus.FAILED
            assert "could not start: cannot send the job's parameters to site" in job.error
            assert "cannot be sent between sites with the safe codec" in job.error
        assert [r.value for r in s.execute(prepared, {"x": 3}).results(timeout=60)] == [9]


def test_any_error_while_starting_fails_the_job(mathfed, monkeypatch):
    with Session(mathfed) as s:
        prepared = s.prepare(_pipeline(lambda: Yield(mathfed.api.math.Square(x=2), place="sq")))
        send = s.transport.send

        def broken(site, msg):
            if type(msg).__name__ == "StartJob":
                raise RuntimeError("the wire is cut")
            send(site, msg)

        monkeypatch.setattr(s.transport, "send", broken)
        job = s.execute(prepared)
        assert job.wait(60) is JobStatus.FAILED
        assert "could not start" in job.error and "the wire is cut" in job.error
        monkeypatch.undo()
        assert [r.value for r in s.execute(prepared).results(timeout=60)] == [4]


def test_execute_timeout_is_checked(mathfed):
    with Session(mathfed) as s:
        prepared = s.prepare(_pipeline(lambda: Yield(mathfed.api.math.Square(x=2), place="sq")))
        for bad in (0, -1, float("inf"), "5"):
            with pytest.raises(DfmError, match="timeout must be a number of seconds > 0"):
                s.execute(prepared, timeout=bad)


@pytest.mark.parametrize(("value", "message"), [("0", "> 0, found 0"), ("'soon'", "expected a number")])
def test_operation_timeout_in_config_is_checked(tmp_path, value, message):
    from dfm.kernel.config import load_config
    from dfm.kernel.errors import ConfigError

    config = tmp_path / MATHFED.name
    config.write_text(MATHFED.read_text().replace("timeout: 1}", f"timeout: {value}}}"))
    with pytest.raises(ConfigError, match=message):
        load_config(config)


# -- the pool itself -------------------------------------------------------------------------


def test_pool_abandons_running_call_and_keeps_its_capacity():
    pool = WorkerPool(1, "test-pool")
    release = threading.Event()
    stuck = pool.submit(release.wait)
    until(lambda: pool.running == 1, what="the call to start")
    queued = pool.submit(lambda: "queued")
    assert pool.abandon(stuck) is True
    assert queued.result(timeout=60) == "queued"
    assert pool.submit(lambda: 42).result(timeout=60) == 42
    never = pool.submit(threading.Event().wait)
    until(lambda: pool.running == 1, what="the call to start")
    assert pool.abandon(never) is True
    release.set()  # the first abandoned thread returns; its result is dropped, its thread exits
    assert pool.submit(lambda: 7).result(timeout=60) == 7
    assert pool.abandoned == 2
    pool.shutdown(wait=True)  # joins live workers only: the one still hanging is not waited for
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(lambda: 0)


def test_pool_cancels_queued_calls():
    pool = WorkerPool(1, "test-pool")
    release = threading.Event()
    pool.submit(release.wait)
    until(lambda: pool.running == 1, what="the call to start")
    queued = pool.submit(lambda: "never")
    assert pool.abandon(queued) is False and queued.cancelled()
    release.set()
    pool.shutdown(cancel_futures=True)


def test_job_started_is_accepted_only_from_the_site_it_names(mathfed):
    from dfm.runner.messages import JobStarted

    with Session(mathfed) as s:
        p = _pipeline(lambda: Yield(mathfed.api.math.Sleep(seconds=60, value=1), place="late"))  # home only
        job = s.execute(s.prepare(p))
        until(lambda: job.status is JobStatus.RUNNING, what="RUNNING")
        s._run(_deliver_soon(s, JobStarted(job.id, "alpha"), "alpha"))  # alpha is not part of it
        s._run(_deliver_soon(s, JobStarted(job.id, "home"), "beta"))  # beta passing for home
        assert any("JobStarted naming site 'home' from 'beta'" in r for r in s.refusals)
        assert any("JobStarted of job" in r and "from 'alpha', not part of it" in r for r in s.refusals)
        job.cancel()
        assert job.wait(30) is JobStatus.CANCELLED


async def _deliver_soon(session: Session, msg, sender: str) -> None:
    session._deliver(msg, sender)
