"""Golden tests: small pipelines on examplefed and synthfed, placement and nets spelled out."""

from __future__ import annotations

from dfm.api import Pipeline, PlaceParam, Yield
from dfm.api.federation import FederationHandle
from dfm.compiler import compile_pipeline
from dfm.kernel.config.models import Federation
from dfm.kernel.ir.net import CallT, Constant, FromPlace, Place, SendT, SiteNet, YieldT


def handle(config: Federation) -> FederationHandle:
    from pathlib import Path

    return FederationHandle(config, Path(f"{config.name}.dfm.yaml"))


def test_examplefed_greeting_runs_on_the_homesite(examplefed, manager):
    fed = handle(examplefed)
    with Pipeline("greet") as p:
        Yield(fed.api.users.GreetMe(name=PlaceParam("name")), place="greeting")

    prepared = compile_pipeline(examplefed, p, "optimal", manager=manager)

    assert prepared.federation == "examplefed"
    assert prepared.homesite == "concierge"
    assert prepared.placement == {"n1": "concierge", "n2": "concierge"}
    assert prepared.cost == 0.0
    assert prepared.nets == {
        "concierge": SiteNet(
            site="concierge",
            places=(Place("p:name", 1, "param"), Place("v:n1", 1, "value")),
            transitions=(
                CallT("t1", (), "n1", "users.GreetMe", None, {"name": FromPlace("p:name")}, "v:n1"),
                YieldT("t2", (), "v:n1", "greeting"),
            ),
            params=("name",),
            controls=(),
        )
    }
    assert prepared.yield_places == ("greeting",)
    assert len(prepared.digest) == 64


def test_examplefed_pinned_calls_send_to_the_homesite(examplefed, manager):
    fed = handle(examplefed)
    with Pipeline("pinned") as p:
        front = fed.api.users.GreetMe(name=PlaceParam("name"), provider="frontdesk")
        Yield(front, place="front")
        back = fed.api.users.GreetMe(name="ops", site="server")
        Yield(back, place="back")

    prepared = compile_pipeline(examplefed, p, "auto", manager=manager)

    assert prepared.placement == {"n1": "reception", "n2": "concierge", "n3": "server", "n4": "concierge"}
    assert prepared.cost == 64.0 * 2  # two 64-byte greetings over default-cost links
    assert prepared.sites == ("concierge", "reception", "server")
    assert prepared.nets["reception"] == SiteNet(
        site="reception",
        places=(Place("p:name", 1, "param"), Place("v:n1", 1, "value")),
        transitions=(
            CallT("t1", (), "n1", "users.GreetMe", "frontdesk", {"name": FromPlace("p:name")}, "v:n1"),
            SendT("t2", (), "v:n1", "concierge", "r:n1"),
        ),
        params=("name",),
    )
    assert prepared.nets["server"] == SiteNet(
        site="server",
        places=(Place("v:n3", 1, "value"),),
        transitions=(
            CallT("t4", (), "n3", "users.GreetMe", None, {"name": Constant("ops")}, "v:n3"),
            SendT("t5", (), "v:n3", "concierge", "r:n3"),
        ),
    )
    assert prepared.nets["concierge"] == SiteNet(
        site="concierge",
        places=(Place("r:n1", 1, "received"), Place("r:n3", 1, "received")),
        transitions=(YieldT("t3", (), "r:n1", "front"), YieldT("t6", (), "r:n3", "back")),
        senders={"r:n1": "reception", "r:n3": "server"},
    )


def synth_pipeline(fed: FederationHandle) -> Pipeline:
    api = fed.api
    with Pipeline("study") as p:
        rows = api.records.Query(cohort=PlaceParam("cohort"))
        anon = api.records.Anonymize(rows=rows)
        summary = api.stats.Summarize(data=rows)
        model = api.ml.Train(data=anon, epochs=3)
        report = api.report.Render(model=model, summary=summary)
        Yield(report, place="report")
    return p


def test_synthfed_study_moves_compute_to_the_data(synthfed, manager):
    p = synth_pipeline(handle(synthfed))
    prepared = compile_pipeline(synthfed, p, "optimal", manager=manager)

    # Summarize must stay at the hospital (it reads resident rows); training and
    # rendering go to the cloud: 10 kB x 3 + 2 kB x 3 + 5 kB x 2 = 46,000.
    assert prepared.placement == {
        "n1": "hospital",
        "n2": "hospital",
        "n3": "hospital",
        "n4": "cloud",
        "n5": "cloud",
        "n6": "home",
    }
    assert prepared.cost == 46_000.0
    assert list(prepared.nets) == ["home", "cloud", "hospital"]  # homesite first, then by name
    assert prepared.nets["hospital"] == SiteNet(
        site="hospital",
        places=(
            Place("p:cohort", 1, "param"),
            Place("v:n1", 1, "value"),
            Place("v:n2", 1, "value"),
            Place("v:n3", 1, "value"),
        ),
        transitions=(
            CallT("t1", (), "n1", "records.Query", None, {"cohort": FromPlace("p:cohort")}, "v:n1"),
            CallT("t2", (), "n2", "records.Anonymize", None, {"rows": FromPlace("v:n1")}, "v:n2"),
            SendT("t3", (), "v:n2", "cloud", "r:n2"),
            CallT("t4", (), "n3", "stats.Summarize", None, {"data": FromPlace("v:n1")}, "v:n3"),
            SendT("t5", (), "v:n3", "cloud", "r:n3"),
        ),
        params=("cohort",),
    )
    assert prepared.nets["cloud"] == SiteNet(
        site="cloud",
        places=(
            Place("r:n2", 1, "received"),
            Place("r:n3", 1, "received"),
            Place("v:n4", 1, "value"),
            Place("v:n5", 1, "value"),
        ),
        transitions=(
            CallT(
                "t6", (), "n4", "ml.Train", None, {"data": FromPlace("r:n2"), "epochs": Constant(3)}, "v:n4"
            ),
            CallT(
                "t7",
                (),
                "n5",
                "report.Render",
                None,
                {"model": FromPlace("v:n4"), "summary": FromPlace("r:n3")},
                "v:n5",
            ),
            SendT("t8", (), "v:n5", "home", "r:n5"),
        ),
        senders={"r:n2": "hospital", "r:n3": "hospital"},
    )
    assert prepared.nets["home"] == SiteNet(
        site="home",
        places=(Place("r:n5", 1, "received"),),
        transitions=(YieldT("t9", (), "r:n5", "report"),),
        senders={"r:n5": "cloud"},
    )


def test_synthfed_strategies_agree_on_the_study(synthfed, manager):
    p = synth_pipeline(handle(synthfed))
    results = {
        name: compile_pipeline(synthfed, p, name, manager=manager) for name in ("optimal", "greedy", "auto")
    }
    assert {r.cost for r in results.values()} == {46_000.0}
    assert results["optimal"].nets == results["greedy"].nets == results["auto"].nets
    assert [r.strategy for r in results.values()] == ["optimal", "greedy", "auto"]


def test_provider_pin_selects_the_site_offering_it(synthfed, manager):
    api = handle(synthfed).api
    with Pipeline() as p:
        gpu = api.ml.Train(data=[1, 2], provider="gpu")
        spot = api.ml.Train(data=[1, 2], provider="spot")
        Yield(gpu, place="gpu")
        Yield(spot, place="spot")
    prepared = compile_pipeline(synthfed, p, manager=manager)
    assert prepared.placement["n1"] == "lab"
    assert prepared.placement["n2"] == "cloud"
    (call,) = [t for t in prepared.nets["lab"].transitions if isinstance(t, CallT)]
    assert call.provider == "gpu"
    (call,) = [t for t in prepared.nets["cloud"].transitions if isinstance(t, CallT)]
    assert call.provider == "spot"


def test_empty_pipeline_still_gets_a_homesite_net(examplefed, manager):
    with Pipeline() as p:
        pass
    prepared = compile_pipeline(examplefed, p, manager=manager)
    assert prepared.nets == {"concierge": SiteNet("concierge", (), ())}
    assert prepared.placement == {}
    assert prepared.cost == 0.0
