"""The runner's behaviour on the flare transport: the shared conformance suite and FLARE specifics."""

from __future__ import annotations

import pytest

from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.runner import Session
from dfm.runner.testing import TransportConformance

pytestmark = pytest.mark.flare


def values(job, place=None):
    return sorted((r.frame, r.value) for r in job.results(timeout=60) if place in (None, r.place))


class TestFlareConformance(TransportConformance):
    """The scenarios every transport must pass, on one long-lived FLARE job (``session`` in conftest)."""

    concurrent_jobs = 100
    service_requests = 500  # one open job; bench/service.py measures FLARE's requests/s

    @pytest.fixture(scope="class")
    @classmethod
    def examplefed_session(cls, examplefed_deployment, examplefed_path):
        options = {"workspace": str(examplefed_deployment.workspace)}
        with Session(load_federation(examplefed_path), target="flare", options=options) as session:
            yield session


@pytest.mark.parametrize("n", [300_000, 2_000_000])  # 2.4 MB inline; 16 MB in 1 MiB chunks
def test_numpy_arrays_cross_sites(session, mathfed, n):
    np = pytest.importorskip("numpy")
    with Pipeline() as p:
        arr = mathfed.api.math.Array(n=PlaceParam("n"))
        Yield(arr, place="array")
    job = session.execute(session.prepare(p), {"n": n})
    (result,) = list(job.results(timeout=60))
    assert isinstance(result.value, np.ndarray)
    assert result.value.shape == (n,) and result.value[-1] == n - 1


def test_many_executions_through_one_flare_job(session, mathfed):
    job_id = session.transport.job_id
    with Pipeline() as p:
        Yield(mathfed.api.math.Square(x=PlaceParam("x"), site="alpha"), place="sq")
    prepared = session.prepare(p)
    for i in range(20):
        assert [r.value for r in session.execute(prepared, {"x": i}).results(timeout=30)] == [i * i]
    assert session.transport.job_id == job_id  # per-execution latency is measured by bench/flare.py
