"""The verification pass rejects broken nets (compiler bugs) with a clear message."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from dfm.api import ForEach, If, Pipeline, PlaceParam, Yield
from dfm.api.federation import FederationHandle
from dfm.compiler import compile_with_details, verify_nets
from dfm.kernel.errors import CompileError
from dfm.kernel.ir.net import BranchT, Place, ScatterT, SendT, SiteNet, YieldT


@pytest.fixture
def compiled(examplefed, manager):
    api = FederationHandle(examplefed, Path("examplefed.dfm.yaml")).api
    with Pipeline() as p:
        g = api.users.GreetMe(name=PlaceParam("name"), site="reception")
        with ForEach(g) as item:
            h = api.users.GreetMe(name=item, site="server")
            with If(h == "x"):
                Yield(h, place="out", multiuse=True)
    return compile_with_details(examplefed, p, manager=manager)


def replace_net(nets, site, **changes):
    return {**nets, site: attrs.evolve(nets[site], **changes)}


def check(compiled, nets, message):
    with pytest.raises(CompileError, match="internal compiler error") as info:
        verify_nets(nets, compiled.prepared.homesite, compiled.problem, compiled.placement)
    assert message in str(info.value)


def test_compiled_nets_verify(compiled):
    verify_nets(compiled.prepared.nets, compiled.prepared.homesite, compiled.problem, compiled.placement)


def test_missing_send(compiled):
    nets = compiled.prepared.nets
    server = nets["server"]
    kept = tuple(t for t in server.transitions if not isinstance(t, SendT))
    check(
        compiled,
        replace_net(nets, "server", transitions=kept),
        "concierge: received place r:n4 has 0 matching sends",
    )


def test_duplicate_send(compiled):
    nets = compiled.prepared.nets
    server = nets["server"]
    send = next(t for t in server.transitions if isinstance(t, SendT))
    extra = (*server.transitions, attrs.evolve(send, id="t99"))
    check(compiled, replace_net(nets, "server", transitions=extra), "r:n4 has 2 matching sends")


def test_unproduced_input(compiled):
    nets = compiled.prepared.nets
    home = nets["concierge"]
    places = (*home.places, Place("v:ghost", 2, "value"))
    yields = tuple(
        attrs.evolve(t, source="v:ghost") if isinstance(t, YieldT) else t for t in home.transitions
    )
    check(compiled, replace_net(nets, "concierge", places=places, transitions=yields), "waits on v:ghost")


def test_input_deeper_than_the_frame(compiled):
    nets = compiled.prepared.nets
    reception = nets["reception"]
    places = tuple(attrs.evolve(p, depth=2) if p.name == "p:name" else p for p in reception.places)
    check(compiled, replace_net(nets, "reception", places=places), "reads p:name, which is deeper")


def test_param_not_listed(compiled):
    nets = compiled.prepared.nets
    check(
        compiled, replace_net(nets, "reception", params=()), "parameter place p:name is not listed in params"
    )


def test_notify_missing_a_site(compiled):
    nets = compiled.prepared.nets
    server = nets["server"]
    branch = tuple(attrs.evolve(t, notify=()) if isinstance(t, BranchT) else t for t in server.transitions)
    check(
        compiled,
        replace_net(nets, "server", transitions=branch),
        "concierge: has transitions inside n5 but is not notified",
    )


def test_controls_missing(compiled):
    nets = compiled.prepared.nets
    check(
        compiled,
        replace_net(nets, "server", controls=()),
        "server: has transitions inside n2 but does not list it",
    )


def test_two_scatters_for_one_loop(compiled):
    nets = compiled.prepared.nets
    reception = nets["reception"]
    scatter = next(t for t in reception.transitions if isinstance(t, ScatterT))
    extra = (*reception.transitions, attrs.evolve(scatter, id="t98"))
    check(compiled, replace_net(nets, "reception", transitions=extra), "n2 has 2 control transitions")


def test_yield_off_the_homesite(compiled):
    nets = compiled.prepared.nets
    server = nets["server"]
    extra = (*server.transitions, YieldT("t97", (), "v:n4", "bad"))
    check(compiled, replace_net(nets, "server", transitions=extra), "is not on the homesite concierge")


def test_missing_homesite_net(compiled):
    nets = {k: v for k, v in compiled.prepared.nets.items() if k != "concierge"}
    check(compiled, nets, "the homesite concierge has no net")


def test_residency_violation(compiled):
    problem = attrs.evolve(compiled.problem, resident={"n4": ("server",)})
    with pytest.raises(
        CompileError, match=r"sends the output of n4 \(users.GreetMe\) to concierge, but it is resident"
    ):
        verify_nets(compiled.prepared.nets, "concierge", problem, compiled.placement)


def test_duplicate_transition_ids(compiled):
    nets = compiled.prepared.nets
    server = nets["server"]
    renamed = tuple(attrs.evolve(t, id="t1") if isinstance(t, SendT) else t for t in server.transitions)
    check(
        compiled,
        replace_net(nets, "server", transitions=renamed),
        "transition id t1 is used on reception and server",
    )


def test_send_to_a_missing_place(compiled):
    nets = compiled.prepared.nets
    home: SiteNet = nets["concierge"]
    places = tuple(p for p in home.places if p.name != "r:n4")
    check(
        compiled,
        replace_net(nets, "concierge", places=places),
        "sends to concierge:r:n4, which is not a received place",
    )
