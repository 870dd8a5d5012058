"""``dfm poc`` and ``dfm fed submit --target flare --poc`` with click's CliRunner."""

from __future__ import annotations

import json
import os

import pytest

from dfm.flare.layout import DeploymentState

from .conftest import EXAMPLEFED

PIPELINE = """
from dfm.api import Pipeline, PlaceParam, Yield


def get_pipeline(fed):
    with Pipeline() as p:
        Yield(fed.api.users.GreetMe(name=PlaceParam("name"), site="concierge"), place="hello")
    return p


def get_pipeline_parameters(argv):
    return [{"name": n} for n in argv]
"""


def test_poc_without_prepare_is_a_user_error(dfm):
    result = dfm("poc", "start", "examplefed")
    assert result.exit_code == 1
    assert "no FLARE deployment" in result.stderr


@pytest.mark.flare
def test_poc_lifecycle_and_submit(dfm, tmp_path, monkeypatch):
    monkeypatch.setenv("EXAMPLEFED_RECEPTION_BADGE_KEY", "b")
    prepared = dfm("poc", "prepare", str(EXAMPLEFED))
    assert prepared.exit_code == 0, prepared.output
    home = tmp_path / "flare-home" / "examplefed"
    state = DeploymentState.load(home)
    try:
        started = dfm("poc", "start", "examplefed")
        assert started.exit_code == 0, started.output
        status = dfm("poc", "status", "examplefed")
        assert "connected clients: concierge, reception, site-server" in status.stdout
        script = tmp_path / "hello.py"
        script.write_text(PIPELINE)
        submitted = dfm(
            "fed",
            "submit",
            str(EXAMPLEFED),
            "--target",
            "flare",
            "--poc",
            "pipeline",
            str(script),
            "--json",
            "--",
            "Ada",
        )
        assert submitted.exit_code == 0, submitted.output
        rows = [json.loads(line) for line in submitted.stdout.splitlines()]
        assert rows == [
            {"place": "hello", "frame": [0], "value": "Hello, Ada! Greetings from the concierge."}
        ]
        assert "FINISHED" in submitted.stderr
    finally:
        stopped = dfm("poc", "stop", "examplefed")
    assert stopped.exit_code == 0, stopped.output
    pids = DeploymentState.load(home).pids
    assert pids == {}
    for pid in state.pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert "not running" in dfm("poc", "status", "examplefed").stdout
    cleaned = dfm("poc", "clean", "examplefed")
    assert cleaned.exit_code == 0 and not home.exists()
