"""Behaviour specific to the process transport: isolation, codecs, lost sites."""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest

from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.runner import JobStatus, Session
from dfm.runner.testing import MATHFED

np = pytest.importorskip("numpy")


@pytest.fixture
def proc_session(mathfed):
    with Session(mathfed, transport="process") as s:
        yield s


def test_numpy_array_crosses_processes_without_pickle(proc_session, mathfed):
    with Pipeline() as p:
        Yield(mathfed.api.math.Array(n=PlaceParam("n")), place="array")
    job = proc_session.execute(proc_session.prepare(p), {"n": 300_000})
    (result,) = list(job.results(timeout=30))
    assert isinstance(result.value, np.ndarray)
    assert result.value.shape == (300_000,) and result.value[-1] == 299_999.0


def test_pickle_allowed_when_federation_opts_in(tmp_path):
    folder = tmp_path / "mathfed"
    shutil.copytree(MATHFED.parent, folder)
    config = folder / MATHFED.name
    config.write_text(config.read_text().replace("homesite: home", "homesite: home\nallow-pickle: true"))
    fed = load_federation(config)
    with Session(fed, transport="process") as s:
        with Pipeline() as p:
            Yield(fed.api.math.Unsafe(), place="set")
        job = s.execute(s.prepare(p))
        assert [r.value for r in job.results(timeout=30)] == [{1, 2, 3}]


def test_killed_site_fails_job_quickly(mathfed):
    with Session(mathfed, transport="process") as s:
        with Pipeline() as p:
            Yield(mathfed.api.math.SleepSync(seconds=20), place="slow")
        job = s.execute(s.prepare(p))
        time.sleep(0.5)
        alpha = s.transport.procs["alpha"]
        start = time.monotonic()
        os.kill(alpha.pid, signal.SIGKILL)
        assert job.wait(5) is JobStatus.FAILED
        assert time.monotonic() - start < 5
        assert "site 'alpha' was lost" in job.error


def test_stop_leaves_no_process(mathfed):
    s = Session(mathfed, transport="process")
    pids = [p.pid for p in s.transport.procs.values()]
    s.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
