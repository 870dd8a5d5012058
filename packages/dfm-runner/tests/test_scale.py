"""Large nets and large values: results only (benchmarks live in bench/, never timed here)."""

from __future__ import annotations

import pytest

from dfm.api import ForEach, Pipeline, PlaceParam, Yield
from dfm.runner import JobStatus, Session
from dfm.runner.testing import MATHFED, SECRET


@pytest.fixture(params=["inproc", "process"])
def session(request, monkeypatch):
    monkeypatch.setenv("MATHFED_BETA_API_TOKEN", SECRET)
    with Session(MATHFED, transport=request.param) as session:
        yield session


def _chain(api, n: int) -> Pipeline:
    """``n`` additions of 1, alternating between the homesite and beta."""
    with Pipeline() as p:
        value = PlaceParam("v")
        for i in range(n):
            value = api.math.Add(a=value, b=1, site=("home", "beta")[i % 2])
        Yield(value, place="out")
    return p


def test_a_long_chain_across_two_sites_gives_its_result(session, mathfed):
    n = 1500
    prepared = session.prepare(_chain(mathfed.api, n))
    for v in (0, 10):  # the second run reuses the installed nets
        job = session.execute(prepared, [{"v": v}, {"v": v + 1}])
        got = sorted((r.index, r.value) for r in job.results(timeout=120))
        assert job.status is JobStatus.FINISHED
        assert got == [(0, v + n), (1, v + 1 + n)]


def test_a_chain_inside_a_loop_finishes_with_every_item(session, mathfed):
    api = mathfed.api
    with Pipeline() as p, ForEach(api.math.Range(n=PlaceParam("n"), site="alpha")) as item:
        value = item
        for i in range(20):
            value = api.math.Add(a=value, b=1, site=("home", "beta")[i % 2])
        Yield(value, place="out")
    prepared = session.prepare(p)
    job = session.execute(prepared, [{"n": 300}, {"n": 0}, {"n": 5}])
    got = sorted((r.frame, r.value) for r in job.results(timeout=120))
    assert job.status is JobStatus.FINISHED
    assert got == sorted([((0, k), k + 20) for k in range(300)] + [((2, k), k + 20) for k in range(5)])
