"""Sessions and jobs end to end: examplefed and the conformance suite on both local transports."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.kernel.errors import DfmError
from dfm.runner import JobStatus, Session
from dfm.runner.testing import MATHFED, SECRET, TransportConformance, env_session

from .conftest import EXAMPLEFED


@pytest.mark.parametrize("transport", ["inproc", "process"])
def test_examplefed_greets_at_every_site(transport, monkeypatch):
    monkeypatch.setenv("EXAMPLEFED_RECEPTION_BADGE_KEY", "badge-123")
    fed = load_federation(EXAMPLEFED)
    with Session(fed, transport=transport) as session:
        with Pipeline() as p:
            for site in ("concierge", "server", "reception"):
                Yield(fed.api.users.GreetMe(name=PlaceParam("name"), site=site), place=site)
        job = session.execute(session.prepare(p), [{"name": "Ada"}, {"name": "Alan"}])
        got = {(r.place, r.index): r.value for r in job.results(timeout=30)}
    assert job.status is JobStatus.FINISHED
    assert got == {
        ("concierge", 0): "Hello, Ada! Greetings from the concierge.",
        ("concierge", 1): "Hello, Alan! Greetings from the concierge.",
        ("server", 0): "Welcome, Ada! Greetings from the server.",
        ("server", 1): "Welcome, Alan! Greetings from the server.",
        ("reception", 0): "Good morning, Ada! Greetings from the reception (badge checked).",
        ("reception", 1): "Good morning, Alan! Greetings from the reception (badge checked).",
    }
    assert "badge-123" not in repr(got)


def _session(transport: str) -> Iterator[Session]:
    # MATHFED's beta vault reads the token (child processes inherit it)
    yield from env_session(MATHFED, {"MATHFED_BETA_API_TOKEN": SECRET}, transport=transport)


class TestInproc(TransportConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def session(cls) -> Iterator[Session]:
        yield from _session("inproc")


class TestProcess(TransportConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def session(cls) -> Iterator[Session]:
        yield from _session("process")


def test_unknown_transport_is_a_clear_error():
    with pytest.raises(DfmError, match=r"unknown transport 'procss'; did you mean 'process'\?"):
        Session(MATHFED, transport="procss")


def test_flare_target_without_dfm_flare_says_what_to_install(monkeypatch):
    from dfm.kernel import DfmPluginManager

    monkeypatch.setenv("DFM_DISABLE_PLUGINS", "dfm-flare")  # as if it were not installed
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()
    with pytest.raises(DfmError, match=r"the flare target needs dfm-flare .*: pip install dfm-flare"):
        Session(MATHFED, target="flare", options={"simulator": True}, manager=manager)


def test_unknown_target_is_a_clear_error():
    with pytest.raises(DfmError, match="unknown target 'cloud'"):
        Session(MATHFED, target="cloud")


def test_prepared_for_another_federation_is_refused(mathfed):
    fed = load_federation(EXAMPLEFED)
    with Pipeline() as p:
        Yield(fed.api.users.GreetMe(name="x"), place="g")
    with Session(fed) as ex, Session(mathfed) as math:
        prepared = ex.prepare(p)
        with pytest.raises(DfmError, match="prepared for federation 'examplefed'"):
            math.execute(prepared)


def test_unmet_plugin_pins_stop_the_session(tmp_path):
    from dfm.kernel.errors import PluginVersionError

    config = tmp_path / "pinned.dfm.yaml"
    text = MATHFED.read_text().replace(
        "homesite: home", "homesite: home\nplugins:\n  dfm-adapter-nowhere: '>=1'"
    )
    config.write_text(text.replace("mathfed_adapters.", "nowhere."))
    with pytest.raises(
        PluginVersionError, match=r"dfm-adapter-nowhere: requires >=1, found none \(not installed\)"
    ):
        Session(config)


NOT_PARAMS = "execute() params must be a mapping of parameter name -> value, or a list of such mappings"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            "x",
            f"{NOT_PARAMS}; got str",
        ),
        (
            b"x",
            f"{NOT_PARAMS}; got bytes",
        ),
        (
            3,
            f"{NOT_PARAMS}; got int",
        ),
        ([1, 2], "execute() parameter set 0: expected a mapping of parameter name -> value; got int"),
        (
            [{"name": "a"}, "b"],
            "execute() parameter set 1: expected a mapping of parameter name -> value; got str",
        ),
        ({1: 2}, "execute() parameter names are strings (PlaceParam names); got int 1"),
        (
            [{"name": "a"}, {None: 1}],
            "execute() parameter set 1: parameter names are strings (PlaceParam names); got NoneType None",
        ),
    ],
)
def test_execute_refuses_malformed_params(monkeypatch, params, message):
    monkeypatch.setenv("EXAMPLEFED_RECEPTION_BADGE_KEY", "badge-123")
    fed = load_federation(EXAMPLEFED)
    with Pipeline() as p:
        Yield(fed.api.users.GreetMe(name=PlaceParam("name")), place="greeting")
    with Session(fed) as session:
        prepared = session.prepare(p)
        with pytest.raises(DfmError, match=f"^{re.escape(message)}$"):
            session.execute(prepared, params)
