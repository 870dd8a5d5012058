"""Display labels: the name a pipeline gives a node (``total = api.X(...)``), kept as metadata only."""

from __future__ import annotations

import json

import pytest

from dfm.api import ForEach, Pipeline, PlaceParam, Yield, load_federation
from dfm.api.federation import FederationHandle
from dfm.kernel.ir import serde


@pytest.fixture(scope="module")
def fed(examplefed_path) -> FederationHandle:
    return load_federation(examplefed_path)


def test_assignment_targets_label_their_calls(fed):
    api = fed.api
    with Pipeline() as p:
        greeting = api.users.GreetMe(name=PlaceParam("name"))
        typed: object = api.users.GreetMe(name="a")
        spread = api.users.GreetMe(
            name="b",
        )
        Yield(api.users.GreetMe(name="c"), place="direct")  # not assigned
        Yield(greeting, place="g")
        Yield(typed, place="t")
        Yield(spread, place="s")

    assert p.ir.labels == {"n1": "greeting", "n2": "typed", "n3": "spread"}


def test_only_the_call_the_line_assigns_is_labelled(fed):
    api = fed.api
    with Pipeline() as p:
        inner = api.users.GreetMe(name=api.users.GreetMe(name="x"))
        same = inner == "x"  # noqa: F841  (a condition, not a call)
        with ForEach(PlaceParam("names")) as name:
            Yield(api.users.GreetMe(name=name), place="each", multiuse=True)

    # the inner call is recorded first (n1); 'inner' names the outer one (n2)
    assert p.ir.labels == {"n2": "inner", "n4": "name"}


def test_a_loop_reassigning_a_name_keeps_every_label(fed):
    api = fed.api
    with Pipeline() as p:
        merged = api.users.GreetMe(name="a")
        for part in ("b", "c"):
            merged = api.users.GreetMe(name=merged, provider=None) if part else merged
        Yield(merged, place="m")

    assert p.ir.labels == {"n1": "merged", "n2": "merged", "n3": "merged"}


def test_no_source_no_label_and_no_failure(fed):
    code = "with Pipeline() as p:\n    x = fed.api.users.GreetMe(name='a')\n    Yield(x, place='x')\n"
    scope = {"Pipeline": Pipeline, "Yield": Yield, "fed": fed}

    exec(compile(code, "<no source>", "exec"), scope)

    assert scope["p"].ir.labels == {}


def test_a_failing_lookup_never_fails_the_build(fed, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr("linecache.getline", broken)
    with Pipeline() as p:
        x = fed.api.users.GreetMe(name="a")
        Yield(x, place="x")

    assert p.ir.labels == {}


def test_labels_are_metadata(fed):
    api = fed.api
    with Pipeline() as named:
        alpha = api.users.GreetMe(name="a")
        Yield(alpha, place="x")
    with Pipeline() as renamed:
        beta = api.users.GreetMe(name="a")
        Yield(beta, place="x")

    assert named.ir == renamed.ir  # equality ignores labels
    assert serde.digest(named.ir) == serde.digest(renamed.ir)
    back = Pipeline.from_json(named.to_json())
    assert back.ir.labels == {"n1": "alpha"}  # serialized
    assert json.loads(renamed.to_json())["labels"] == {"n1": "beta"}


def test_a_pipeline_without_labels_serializes_as_before(fed):
    with Pipeline() as p:
        Yield(fed.api.users.GreetMe(name="a"), place="x")

    assert "labels" not in json.loads(p.to_json())
