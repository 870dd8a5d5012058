"""An open job's per-frame state is freed once each frame is done: bounded over many frames."""

from __future__ import annotations

from typing import Any

import pytest

from dfm.api import ForEach, If, Pipeline, PlaceParam, Yield
from dfm.runner.session import JobStatus, Session
from dfm.runner.testing import MATHFED, SECRET, env_session

FRAMES = 200


@pytest.fixture(scope="module")
def session():
    yield from env_session(MATHFED, {"MATHFED_BETA_API_TOKEN": SECRET}, transport="inproc")


def _sizes(session: Session, job: str) -> dict[str, int]:
    """How many entries each per-frame table of the job holds, summed over the sites."""
    sizes = {"tokens": 0, "fired": 0, "loops": 0, "branches": 0, "retired": 0}
    for site in session.transport.sites.values():  # type: ignore[attr-defined]
        runner: Any = site.jobs.get(job)
        if runner is None:
            continue
        sizes["tokens"] += sum(len(v) for v in runner.tokens.values())
        sizes["fired"] += sum(len(v) for v in runner.fired.values())
        sizes["loops"] += len(runner.loops)
        sizes["branches"] += len(runner.branches)
        sizes["retired"] += len(runner._retired)
    return sizes


def _service(mathfed: Any) -> Pipeline:
    api = mathfed.api.math
    with Pipeline() as p:
        sq = api.Square(x=PlaceParam("x"), site="alpha")
        with ForEach(api.Range(n=PlaceParam("n"), site="alpha")) as i, If(i > 0):
            Yield(api.Add(a=sq, b=i, site="beta"), place="sums")
        Yield(sq, place="square")
    return p


def test_state_of_served_frames_is_freed(session, mathfed):
    job = session.execute(session.prepare(_service(mathfed)), autostop=False)
    results = job.results(timeout=30)
    peak: dict[str, int] = {}
    for k in range(FRAMES):
        job.send_input_params({"x": k, "n": 3})
        got = [next(results) for _ in range(3)]  # its square and two sums
        assert sorted((r.place, r.value) for r in got) == [
            ("square", k * k),
            ("sums", k * k + 1),
            ("sums", k * k + 2),
        ]
        assert {r.frame[0] for r in got} == {k}
        sizes = _sizes(session, job.id)
        peak = {name: max(peak.get(name, 0), size) for name, size in sizes.items()}
    # every frame's tokens, firings, loop counts and branches went once it was served
    assert peak["tokens"] < 60 and peak["fired"] < 60, peak
    assert peak["loops"] <= 6 and peak["branches"] <= 12 and peak["retired"] <= 3, peak
    job.send_stop_frame()
    assert job.wait(30) is JobStatus.FINISHED
    assert [r for r in results] == []
