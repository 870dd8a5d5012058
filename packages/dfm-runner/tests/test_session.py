"""Sessions and jobs end to end: the conformance suite (examplefed included) on both local transports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.kernel.errors import DfmError
from dfm.runner import Session
from dfm.runner.testing import EXAMPLEFED_BADGE, MATHFED, SECRET, TransportConformance, env_session


def _session(transport: str) -> Iterator[Session]:
    # MATHFED's beta vault reads the token (child processes inherit it)
    yield from env_session(MATHFED, {"MATHFED_BETA_API_TOKEN": SECRET}, transport=transport)


def _examplefed_session(examplefed_path: Path, transport: str) -> Iterator[Session]:
    badge = {"EXAMPLEFED_RECEPTION_BADGE_KEY": EXAMPLEFED_BADGE}  # the reception site's vault reads it
    yield from env_session(examplefed_path, badge, transport=transport)


class TestInproc(TransportConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def session(cls) -> Iterator[Session]:
        yield from _session("inproc")

    @pytest.fixture(scope="class")
    @classmethod
    def examplefed_session(cls, examplefed_path: Path) -> Iterator[Session]:
        yield from _examplefed_session(examplefed_path, "inproc")


class TestProcess(TransportConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def session(cls) -> Iterator[Session]:
        yield from _session("process")

    @pytest.fixture(scope="class")
    @classmethod
    def examplefed_session(cls, examplefed_path: Path) -> Iterator[Session]:
        yield from _examplefed_session(examplefed_path, "process")


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


def test_prepared_for_another_federation_is_refused(mathfed, examplefed_path):
    fed = load_federation(examplefed_path)
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
def test_execute_refuses_malformed_params(monkeypatch, params, message, examplefed_path):
    monkeypatch.setenv("EXAMPLEFED_RECEPTION_BADGE_KEY", "badge-123")
    fed = load_federation(examplefed_path)
    with Pipeline() as p:
        Yield(fed.api.users.GreetMe(name=PlaceParam("name")), place="greeting")
    with Session(fed) as session:
        prepared = session.prepare(p)
        with pytest.raises(DfmError, match=f"^{re.escape(message)}$"):
            session.execute(prepared, params)
