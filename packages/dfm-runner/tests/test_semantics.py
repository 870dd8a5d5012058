"""Property: any pipeline gives the results a direct interpretation of its IR gives.

Hypothesis builds random pipelines of arithmetic, ForEach and If over the
mathfed sites, with random site pins and ``BestOf`` candidate sets, selectors
(``fieldref``: mapping keys and list indices, applied at the producing site)
and ``dfm_after`` dependencies; the runner's results (place, frame, value)
must equal those of a plain recursive interpreter of the same IR, whatever
order tokens and control messages arrive in.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dfm.api import BestOf, Else, ForEach, If, Pipeline, PlaceParam, Selection, Yield
from dfm.api.pipeline import Node
from dfm.kernel.ir import pipeline as ir
from dfm.runner import Session
from dfm.runner.testing import MATHFED, SECRET

OPS = {
    "math.Square": lambda a: a["x"] * a["x"],
    "math.Add": lambda a: a["a"] + a["b"],
    "math.Range": lambda a: list(range(a["n"])),
    "math.Point": lambda a: {"x": a["x"], "y": a["y"]},  # an attrs Point at the site: same fields
}
SITES = {
    "math.Square": ["home", "alpha", "beta"],
    "math.Add": ["home", "beta"],
    "math.Range": ["alpha"],
    "math.Point": ["alpha"],
}
COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def interpret(
    pipeline: ir.PipelineIR, params: list[dict[str, Any]]
) -> list[tuple[str, tuple[int, ...], Any]]:
    out: list[tuple[str, tuple[int, ...], Any]] = []

    def value(v: ir.Value, env: dict[str, Any], frame: tuple[int, ...]) -> Any:
        if isinstance(v, ir.Lit):
            return v.value
        if isinstance(v, ir.Param):
            return params[frame[0]][v.name]
        if isinstance(v, ir.Select):
            return ir.select(env[v.node], v.path)
        return env[v.node]

    def cond(c: ir.Cond, env: dict[str, Any], frame: tuple[int, ...]) -> bool:
        if isinstance(c, ir.Compare):
            return bool(COMPARE[c.op](value(c.left, env, frame), value(c.right, env, frame)))
        if isinstance(c, ir.Truthy):
            return bool(value(c.value, env, frame))
        if isinstance(c, ir.Not):
            return not cond(c.item, env, frame)
        results = [cond(i, env, frame) for i in c.items]
        return all(results) if c.op == "and" else any(results)

    def run(stmts: tuple[ir.Statement, ...], env: dict[str, Any], frame: tuple[int, ...]) -> None:
        for s in stmts:
            if isinstance(s, ir.Call):
                env[s.id] = OPS[s.operation]({k: value(v, env, frame) for k, v in s.args.items()})
            elif isinstance(s, ir.Yield):
                out.append((s.place, frame, value(s.value, env, frame)))
            elif isinstance(s, ir.ForEach):
                for k, item in enumerate(value(s.over, env, frame)):
                    run(s.body, {**env, s.var: item}, (*frame, k))
            else:
                run(s.then if cond(s.cond, env, frame) else s.orelse, dict(env), frame)

    for i in range(len(params)):
        run(pipeline.statements, {}, (i,))
    return sorted(out, key=repr)


@st.composite
def pipelines(draw: st.DrawFn, fed: Any) -> Pipeline:
    api = fed.api.math
    counter = iter(range(1000))

    def pin(op: str) -> dict[str, Any]:
        kind = draw(st.sampled_from(["none", "site", "bestof"]))
        if kind == "site":
            return {"site": draw(st.sampled_from(SITES[op]))}
        if kind == "bestof":
            among = draw(st.lists(st.sampled_from(SITES[op]), min_size=1, max_size=3, unique=True))
            return {"site": BestOf(sites=among)}
        return {}

    def after(big: list[Any]) -> dict[str, Any]:
        nodes = [v for v in big if isinstance(v, (Node, Selection))]
        if not nodes or not draw(st.booleans()):
            return {}
        return {"dfm_after": draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=2))}

    def block(small: list[Any], big: list[Any], depth: int) -> None:
        for _ in range(draw(st.integers(1, 3))):
            kinds = ["square", "add", "yield", "point", "pick"]
            kind = draw(st.sampled_from([*kinds, "loop", "if"] if depth < 2 else kinds))
            anything = small + big
            if kind == "square":
                big.append(api.Square(x=draw(st.sampled_from(anything)), **pin("math.Square"), **after(big)))
            elif kind == "add":
                a, b = draw(st.sampled_from(anything)), draw(st.sampled_from(anything))
                big.append(api.Add(a=a, b=b, **pin("math.Add"), **after(big)))
            elif kind == "point":
                x, y = draw(st.sampled_from(anything)), draw(st.sampled_from(anything))
                point = api.Point(x=x, y=y, **pin("math.Point"))
                big.append(point.fieldref(draw(st.sampled_from(["x", "y"]))))
            elif kind == "pick":
                items = api.Range(n=4, **pin("math.Range"))
                big.append(items.fieldref(draw(st.integers(-4, 3))))
            elif kind == "yield":
                nodes = [v for v in anything if isinstance(v, (Node, PlaceParam, Selection))]
                Yield(draw(st.sampled_from(nodes)), place=f"y{next(counter)}")
            elif kind == "loop":
                with ForEach(api.Range(n=draw(st.sampled_from(small)))) as item:
                    block([*small, item], list(big), depth + 1)
            else:
                left = draw(
                    st.sampled_from([v for v in anything if isinstance(v, (Node, PlaceParam, Selection))])
                )
                op = draw(st.sampled_from(sorted(COMPARE)))
                with If(COMPARE[op](left, draw(st.integers(0, 4)))):
                    block(list(small), list(big), depth + 1)
                if draw(st.booleans()):
                    with Else():
                        block(list(small), list(big), depth + 1)

    with Pipeline() as p:
        block([0, 1, 2, 3, PlaceParam("p")], [], 0)
        Yield(PlaceParam("p"), place="param")
    return p


@pytest.fixture(scope="module", params=["inproc", "shuffled", "process"])
def session(request: pytest.FixtureRequest) -> Iterator[Session]:
    mp = pytest.MonkeyPatch()
    mp.setenv("MATHFED_BETA_API_TOKEN", SECRET)
    transport = "inproc" if request.param == "shuffled" else request.param
    options = {"shuffle_seed": 7} if request.param == "shuffled" else {}
    with Session(MATHFED, transport=transport, options=options) as s:
        s._examples = int(os.environ.get("DFM_SEMANTICS_EXAMPLES", 15 if request.param == "process" else 60))  # type: ignore[attr-defined]
        yield s
    mp.undo()


def test_runner_agrees_with_a_direct_interpretation(session: Session, mathfed: Any) -> None:
    @settings(max_examples=session._examples, deadline=None, suppress_health_check=list(HealthCheck))  # type: ignore[attr-defined]
    @given(data=st.data(), values=st.lists(st.integers(0, 3), min_size=1, max_size=3))
    def check(data: st.DataObject, values: list[int]) -> None:
        pipeline = data.draw(pipelines(mathfed))
        params = [{"p": v} for v in values]
        job = session.execute(session.prepare(pipeline), params)
        got = sorted(((r.place, r.frame, r.value) for r in job.results(timeout=30)), key=repr)
        assert got == interpret(pipeline.ir, params)

    check()
