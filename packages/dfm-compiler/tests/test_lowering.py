"""ForEach and If lowering: scopes, notify lists, depths, controls, params."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfm.api import Else, ForEach, If, Pipeline, PlaceParam, Yield
from dfm.api.federation import FederationHandle
from dfm.compiler import compile_pipeline
from dfm.kernel.ir.net import (
    BoolOpC,
    BranchScope,
    BranchT,
    CallT,
    CompareC,
    Constant,
    FromPlace,
    LoopScope,
    NotC,
    Place,
    PreparedPipeline,
    ScatterT,
    SendT,
    SiteNet,
    TruthyC,
    YieldT,
    scope_depth,
    transition_inputs,
)

L2 = LoopScope("n2")


@pytest.fixture
def api(examplefed):
    return FederationHandle(examplefed, Path("examplefed.dfm.yaml")).api


def transitions(prepared: PreparedPipeline, kind: type) -> list:
    return [t for net in prepared.nets.values() for t in net.transitions if isinstance(t, kind)]


def test_foreach_with_if_golden(api, examplefed, manager):
    with Pipeline("loop") as p:
        greetings = api.users.GreetMe(name=PlaceParam("name"), site="reception")
        with ForEach(greetings) as item:
            echoed = api.users.GreetMe(name=item, site="server")
            with If(echoed == "x"):
                Yield(echoed, place="out", multiuse=True)
            with Else():
                Yield(item, place="out", multiuse=True)

    prepared = compile_pipeline(examplefed, p, "optimal", manager=manager)

    t_branch = (L2, BranchScope("n5", True))
    e_branch = (L2, BranchScope("n5", False))
    assert prepared.placement == {
        "n1": "reception",
        "n2": "reception",  # the scatter runs where the collection is
        "n3": "reception",  # and so does its item
        "n4": "server",
        "n5": "server",  # the condition reads n4: evaluated next to it
        "n6": "concierge",
        "n7": "concierge",
    }
    assert prepared.nets == {
        "concierge": SiteNet(
            site="concierge",
            places=(Place("r:n3", 2, "received"), Place("r:n4", 2, "received")),
            # the place is shared: each YieldT names its Yield (a result's from_node_id)
            transitions=(
                YieldT("t8", t_branch, "r:n4", "out", "n6"),
                YieldT("t9", e_branch, "r:n3", "out", "n7"),
            ),
            controls=("n2", "n5"),
            senders={"r:n3": "reception", "r:n4": "server", "n2": "reception", "n5": "server"},
        ),
        "reception": SiteNet(
            site="reception",
            places=(Place("p:name", 1, "param"), Place("v:n1", 1, "value"), Place("v:n3", 2, "item")),
            transitions=(
                CallT("t1", (), "n1", "users.GreetMe", "frontdesk", {"name": FromPlace("p:name")}, "v:n1"),
                ScatterT("t2", (), "v:n1", "n2", "v:n3", ("concierge", "reception", "server")),
                SendT("t3", (L2,), "v:n3", "concierge", "r:n3"),
                SendT("t4", (L2,), "v:n3", "server", "r:n3"),
            ),
            params=("name",),
            controls=("n2",),
            senders={"n2": "reception"},
        ),
        "server": SiteNet(
            site="server",
            places=(Place("r:n3", 2, "received"), Place("v:n4", 2, "value")),
            transitions=(
                CallT("t5", (L2,), "n4", "users.GreetMe", None, {"name": FromPlace("r:n3")}, "v:n4"),
                SendT("t6", (L2,), "v:n4", "concierge", "r:n4"),
                BranchT("t7", (L2,), "n5", CompareC("==", FromPlace("v:n4"), Constant("x")), ("concierge",)),
            ),
            controls=("n2",),
            senders={"r:n3": "reception", "n2": "reception"},
        ),
    }


def test_scatter_over_a_parameter(api, examplefed, manager):
    with Pipeline() as p, ForEach(PlaceParam("names")) as name:
        Yield(api.users.GreetMe(name=name, site="server"), place="hi", multiuse=True)

    prepared = compile_pipeline(examplefed, p, manager=manager)

    (scatter,) = transitions(prepared, ScatterT)
    assert prepared.placement["n1"] == prepared.placement["n2"] == "server"  # items go where they are used
    assert scatter.source == "p:names"
    assert scatter.scope == ()
    assert scatter.notify == ("concierge", "server")
    server = prepared.nets["server"]
    assert server.params == ("names",)
    assert server.place("p:names") == Place("p:names", 1, "param")
    assert server.place("v:n2") == Place("v:n2", 2, "item")
    assert prepared.nets["concierge"].controls == ("n1",)
    assert prepared.nets["concierge"].params == ()


def test_nested_loops_deepen_frames_and_notify_every_level(api, examplefed, manager):
    with Pipeline() as p:
        outer = api.users.GreetMe(name=PlaceParam("name"), site="reception")
        with ForEach(outer) as a:
            inner = api.users.GreetMe(name=a, site="server")
            with ForEach(inner) as b:
                Yield(api.users.GreetMe(name=b, site="concierge"), place="deep", multiuse=True)

    prepared = compile_pipeline(examplefed, p, manager=manager)

    # n2/n3 outer loop and item; n4 inner call; n5/n6 inner loop and item; n7 call; n8 yield
    assert prepared.placement["n5"] == prepared.placement["n6"] == prepared.placement["n4"] == "server"
    outer_scatter, inner_scatter = transitions(prepared, ScatterT)
    assert (outer_scatter.loop, inner_scatter.loop) == ("n2", "n5")
    assert inner_scatter.scope == (LoopScope("n2"),)
    # reception sends each outer item to the server: a transition inside the loop
    assert outer_scatter.notify == ("concierge", "reception", "server")
    assert inner_scatter.notify == ("concierge", "server")
    home = prepared.nets["concierge"]
    assert home.controls == ("n2", "n5")
    assert home.place("r:n6").depth == 3
    assert home.place("v:n7") == Place("v:n7", 3, "value")
    (call,) = [t for t in home.transitions if isinstance(t, CallT)]
    assert call.scope == (LoopScope("n2"), LoopScope("n5"))
    server = prepared.nets["server"]
    assert server.place("v:n6") == Place("v:n6", 3, "item")
    assert server.place("r:n3").depth == 2
    assert server.controls == ("n2", "n5")
    assert prepared.nets["reception"].controls == ("n2",)


def test_if_notifies_the_sites_of_both_branches(api, examplefed, manager):
    with Pipeline() as p:
        with If(PlaceParam("formal") == True):  # noqa: E712 - builds a condition
            Yield(api.users.GreetMe(name=PlaceParam("name"), site="server"), place="out", multiuse=True)
        with Else():
            Yield(api.users.GreetMe(name=PlaceParam("name"), site="reception"), place="out", multiuse=True)

    prepared = compile_pipeline(examplefed, p, manager=manager)

    (branch,) = transitions(prepared, BranchT)
    assert prepared.placement["n1"] == "concierge"  # reads only parameters: homesite wins the tie
    assert branch.cond == CompareC("==", FromPlace("p:formal"), Constant(True))
    assert branch.notify == ("concierge", "reception", "server")
    for site, flag in (("server", True), ("reception", False)):
        net = prepared.nets[site]
        assert net.controls == ("n1",)
        assert net.params == ("name",)
        (call,) = [t for t in net.transitions if isinstance(t, CallT)]
        assert call.scope == (BranchScope("n1", flag),)
        (send,) = [t for t in net.transitions if isinstance(t, SendT)]
        assert send.scope == (BranchScope("n1", flag),)
    home = prepared.nets["concierge"]
    assert home.params == ("formal",)
    assert [t.scope for t in home.transitions if isinstance(t, YieldT)] == [
        (BranchScope("n1", True),),
        (BranchScope("n1", False),),
    ]


def test_truthy_and_boolean_conditions_lower_to_inputs(api, examplefed, manager):
    with Pipeline() as p:
        g = api.users.GreetMe(name="a", site="server")
        with If((g == "b") | ~g):
            Yield(g, place="g")

    prepared = compile_pipeline(examplefed, p, manager=manager)

    (branch,) = transitions(prepared, BranchT)
    assert prepared.placement["n2"] == "server"
    assert branch in prepared.nets["server"].transitions
    assert branch.cond == BoolOpC(
        "or", (CompareC("==", FromPlace("v:n1"), Constant("b")), NotC(TruthyC(FromPlace("v:n1"))))
    )
    assert transition_inputs(branch) == ["v:n1", "v:n1"]


def test_depths_never_exceed_the_frame(api, examplefed, manager):
    with Pipeline() as p:
        outer = api.users.GreetMe(name=PlaceParam("name"))
        with ForEach(outer) as a, If(a == "x"):
            Yield(api.users.GreetMe(name=outer, site="server"), place="o", multiuse=True)
    prepared = compile_pipeline(examplefed, p, manager=manager)
    for net in prepared.nets.values():
        for t in net.transitions:
            for name in transition_inputs(t):
                assert net.place(name).depth <= scope_depth(t.scope)


def test_homesite_always_has_a_net_and_idle_sites_none(api, examplefed, manager):
    with Pipeline() as p:
        api.users.GreetMe(name="nobody", site="server")  # result used by no one
    prepared = compile_pipeline(examplefed, p, manager=manager)
    assert prepared.sites == ("concierge", "server")
    assert prepared.nets["concierge"] == SiteNet("concierge", (), ())
    assert "reception" not in prepared.nets


def test_one_send_per_consumer_site_not_per_consumer(api, examplefed, manager):
    with Pipeline() as p:
        g = api.users.GreetMe(name="a", site="server")
        for i in range(3):
            Yield(api.users.GreetMe(name=g, site="reception"), place=f"r{i}")
    prepared = compile_pipeline(examplefed, p, manager=manager)
    sends = [t for t in prepared.nets["server"].transitions if isinstance(t, SendT)]
    assert [(s.source, s.site) for s in sends] == [("v:n1", "reception")]
