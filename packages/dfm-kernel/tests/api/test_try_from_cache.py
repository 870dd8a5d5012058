"""``with TryFromCache(key) as v: ... v.cache(value)``: what is recorded, and every misuse, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfm.api import ForEach, If, Pipeline, PlaceParam, TryFromCache, Yield, load_federation
from dfm.kernel.errors import PipelineError
from dfm.kernel.ir import pipeline as irp

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "noxfile.py").is_file())
EXAMPLEFED = ROOT / "federations" / "examplefed" / "examplefed.dfm.yaml"


@pytest.fixture(scope="module")
def greet():
    return load_federation(EXAMPLEFED).api.users.GreetMe


def test_records_a_block_with_its_body_value_and_result(greet):
    with Pipeline() as p:
        name = PlaceParam("name")
        with TryFromCache(key="greeting") as cached:
            hello = greet(name=name)
            cached.cache(hello)
        Yield(value=cached, place="out")
    block, yielded = p.ir.statements
    assert isinstance(block, irp.TryFromCache)
    assert (block.id, block.key, block.out, block.value) == ("n1", "greeting", "n2", irp.Ref("n3"))
    assert [s.id for s in block.body] == ["n3"]
    assert yielded.value == irp.Ref("n2")
    again = Pipeline.from_json(p.to_json())
    assert again.ir == p.ir


def test_positional_key_and_a_selected_part(greet):
    with Pipeline() as p:
        with TryFromCache("k") as cached:
            cached.cache(greet(name="Ada").fieldref(0))
        Yield(cached.fieldref(1), place="out")
    assert p.ir.statements[0].value == irp.Select("n3", (0,))


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, r"^TryFromCache: a cache key is a str of 1-200 characters, not None$"),
        ("", r"^TryFromCache: a cache key is a str of 1-200 characters, not ''$"),
        ("a\nb", r"^TryFromCache: cache key 'a\\nb' has control characters$"),
        (3, r"^TryFromCache: a cache key is a str of 1-200 characters, not 3$"),
    ],
)
def test_bad_keys(key, message):
    with pytest.raises(PipelineError, match=message):
        TryFromCache(key)


def test_misuses_are_one_line_errors(greet):
    with (
        Pipeline(),
        pytest.raises(PipelineError, match=r"call \.cache\(value\) inside the block$"),
        TryFromCache("none"),
    ):
        greet(name="x")
    with (
        Pipeline(),
        pytest.raises(PipelineError, match="usable only after its 'with' block"),
        TryFromCache("early") as cached,
    ):
        Yield(cached, place="early")
    with (
        Pipeline(),
        pytest.raises(PipelineError, match=r"\.cache\(\) is called twice"),
        TryFromCache("twice") as cached,
    ):
        cached.cache(greet(name="a"))
        cached.cache(greet(name="b"))
    with Pipeline():
        outside = greet(name="a")
        with pytest.raises(PipelineError, match="computed in its block"), TryFromCache("outside") as cached:
            cached.cache(outside)
    with (
        Pipeline(),
        pytest.raises(PipelineError, match="takes an operation result"),
        TryFromCache("param") as cached,
    ):
        cached.cache(PlaceParam("x"))
    with (
        Pipeline(),
        pytest.raises(PipelineError, match="may hold only operation calls"),
        TryFromCache("yield") as cached,
    ):
        inner = greet(name="a")
        Yield(inner, place="inside")
        cached.cache(inner)
    with Pipeline():
        with pytest.raises(PipelineError, match=r"inside the block$"), TryFromCache("late") as cached:
            value = greet(name="a")
        with pytest.raises(PipelineError, match=r"directly inside its 'with' block"):
            cached.cache(value)


def test_body_values_stay_inside_and_outer_values_are_inputs(greet):
    with Pipeline() as p:
        items = greet(name=PlaceParam("who"))
        with ForEach(items) as item:
            with TryFromCache("per-item") as cached:
                inner = greet(name=item)
                cached.cache(inner)
            with pytest.raises(PipelineError, match="cannot be used outside it"):
                Yield(inner, place="leak")
            with If(cached == "x"):
                Yield(cached, place="hit")
    assert isinstance(p.ir.statements[1].body[0], irp.TryFromCache)
