"""Large nets and large values: results only (benchmarks live in bench/, never timed here)."""

from __future__ import annotations

from typing import Any

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


@pytest.mark.parametrize("kind", ["bytes", "str", "numpy"])
def test_large_values_arrive_intact_on_the_process_transport(kind, monkeypatch, mathfed):
    """Above the spill threshold (a str also above the header bound): app -> homesite -> app."""
    import numpy

    from dfm.kernel.codecs.safe import TEXT_BUFFER_CHARS
    from dfm.runner.transports.wire import MAX_HEAD_BYTES, SPILL_BYTES

    size = max(MAX_HEAD_BYTES, SPILL_BYTES, TEXT_BUFFER_CHARS) + 12345
    raw = numpy.random.default_rng(7).integers(0, 256, size, dtype=numpy.uint8)
    value: Any
    if kind == "bytes":
        value = raw.tobytes()
    elif kind == "str":  # 1- to 4-byte UTF-8 characters and a lone surrogate (JSON carries those too)
        value = "a\u00e9\u20ac\U0001f600\udc80" + "".join(map(chr, raw[:4096] + 32)) * (size // 4096)
    else:
        value = raw[: size - size % 5].reshape(-1, 5)[:, 1:4]  # a strided view: sent as a contiguous copy
    with Pipeline() as p:
        Yield(mathfed.api.math.Sleep(seconds=0, value=PlaceParam("v"), site="home"), place="out")
    monkeypatch.setenv("MATHFED_BETA_API_TOKEN", SECRET)
    with Session(MATHFED, transport="process") as session:
        (result,) = list(session.execute(session.prepare(p), {"v": value}).results(timeout=120))
    got = result.value
    if kind == "numpy":
        assert got.dtype == value.dtype and got.shape == value.shape and (got == value).all()
    else:
        assert type(got) is type(value) and got == value
