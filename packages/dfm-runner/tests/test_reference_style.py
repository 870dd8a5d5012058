"""A pipeline written the way NVIDIA DFM's tutorials write them runs unchanged but for its imports.

The pipeline below uses only the reference's forms (COMPAT.md sections 2 and 3): keyword
``PlaceParam(place=...)``, ``ForEach(seq=...)``, ``If(cond=...)`` with the condition classes,
``Yield(value=..., place=..., multiuse=...)``, ``site=BestOf(...)``, ``well_known_id``,
``dfm_after``, ``fieldref``, ``execute(input_params=..., default_callback=...)``, a callback
``(from_site, from_node_id, frame, target_place, data)``, ``wait_until_finished`` and
``get_status``. Written from COMPAT.md, not copied from the reference.
"""

from __future__ import annotations

from typing import Any

import pytest

# -- the only lines a user changes: imports (the reference's are nv_dfm_core.api and the
# federation's generated package; here the operations come from the loaded federation) ------
from dfm.api import (
    And,
    BestOf,
    Equal,
    ForEach,
    GreaterThan,
    If,
    Not,
    Pipeline,
    PlaceParam,
    Yield,
    well_known_id,
)
from dfm.runner import JobStatus
from dfm.runner.testing import MATHFED, SECRET, env_session


@pytest.fixture(scope="module", params=["inproc", "process"])
def session(request: pytest.FixtureRequest) -> Any:
    yield from env_session(MATHFED, {"MATHFED_BETA_API_TOKEN": SECRET}, transport=request.param)


def test_a_reference_style_pipeline_runs(session: Any, mathfed: Any) -> None:
    Range, Square, Point, Sleep = (
        mathfed.api.math.Range,
        mathfed.api.math.Square,
        mathfed.api.math.Point,
        mathfed.api.math.Sleep,
    )

    # -- below: as a user of the reference writes it ---------------------------------------------
    with Pipeline(name="ported", mode="execute") as p:
        warmup = Sleep(seconds=0.2, value="warm", site="home", dfm_node_id=well_known_id("warmup"))
        numbers = Range(n=PlaceParam(place="count"), site=BestOf())
        with ForEach(seq=numbers) as n:  # noqa: SIM117 (as the reference writes it)
            with If(cond=And(left=GreaterThan(left=n, right=0), right=Not(Equal(left=n, right=2)))):
                sq = Square(x=n, site=BestOf(sites=["alpha", "beta"]), dfm_after=[warmup])
                Yield(value=sq, place="squares", multiuse=True)
        corner = Point(x=PlaceParam(place="count"), y=2)
        Yield(value=corner.fieldref("x"), place="x", dfm_node_id=well_known_id("corner_x"))

    received: list[tuple[Any, ...]] = []

    def callback(from_site, from_node_id, frame, target_place, data):
        received.append((from_site, from_node_id, tuple(frame), target_place, data))

    prepared = session.prepare(p)
    job = session.execute(prepared, input_params={"count": 4}, default_callback=callback)
    assert job.wait_until_finished(timeout=60)
    assert job.get_status() == JobStatus.FINISHED
    # -- end of the reference-style part ---------------------------------------------------------

    squares = sorted((frame, data) for site, node, frame, place, data in received if place == "squares")
    assert squares == [((0, 1), 1), ((0, 3), 9)]
    assert ("alpha", "corner_x", (0,), "x", 4) in received
    assert prepared.placement["warmup"] == "home"
