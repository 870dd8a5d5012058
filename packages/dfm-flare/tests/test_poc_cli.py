"""``dfm poc`` and ``dfm fed submit --target flare --poc`` with click's CliRunner."""

from __future__ import annotations

import json
import os

import pytest

from dfm.flare.layout import DeploymentState
from dfm.flare.poc import _pids_using

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
        assert "DFM service: job " in status.stdout and "0 session(s)" in status.stdout
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
        # stopped and started again: FLARE still lists the old service job as RUNNING, a new one serves
        assert dfm("poc", "stop", "examplefed").exit_code == 0
        assert _pids_using(str(home)) == []
        assert dfm("poc", "start", "examplefed").exit_code == 0
        from dfm.flare.poc import admin_session
        from dfm.flare.service import running_services, service_name

        admin = admin_session(DeploymentState.load(home))
        try:  # the leftover is listed RUNNING, but is not one of the services sessions try
            listed = [j for j in admin.list_jobs() if j["status"] == "RUNNING"]
            (live,) = running_services(admin, service_name("examplefed"))
            assert len(listed) == 2 and live == max(listed, key=lambda j: j["submit_time"])["job_id"]
        finally:
            admin.close()
        again = dfm("fed", "submit", str(EXAMPLEFED), "--target", "flare", "--poc", "pipeline", str(script),
                    "--json", "--", "Bo")  # fmt: skip
        assert again.exit_code == 0, again.output
        assert "Hello, Bo!" in again.stdout
    finally:
        stopped = dfm("poc", "stop", "examplefed")
    assert stopped.exit_code == 0, stopped.output
    pids = DeploymentState.load(home).pids
    assert pids == {}
    for pid in state.pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert _pids_using(str(home)) == []  # FLARE's job processes too
    assert "not running" in dfm("poc", "status", "examplefed").stdout
    cleaned = dfm("poc", "clean", "examplefed")
    assert cleaned.exit_code == 0 and not home.exists()


def _down_deployment(tmp_path):
    """Kits for examplefed whose server is not running (nothing listens on port 1)."""
    from dfm.flare.provision import provision

    return provision(EXAMPLEFED, tmp_path / "kits", port=1)


def test_submit_with_a_kit_of_a_down_deployment_fails_fast_in_one_line(dfm, tmp_path):
    import time

    state = _down_deployment(tmp_path)
    script = tmp_path / "hello.py"
    script.write_text(PIPELINE)
    start = time.monotonic()
    result = dfm(
        "fed", "submit", str(EXAMPLEFED), "--target", "flare", "--kit", str(state.admin_kit),
        "pipeline", str(script), "--", "Ada",
    )  # fmt: skip
    assert time.monotonic() - start < 15
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if not line.startswith("flare: ")]
    assert len(errors) == 1, result.stderr
    assert "localhost:1 is not reachable" in errors[0]


def test_submit_finds_the_registered_project(dfm, tmp_path):
    state = _down_deployment(tmp_path)
    registered = dfm(
        "fed", "config", "set", "exf", "--config-path", str(EXAMPLEFED),
        "--project-path", str(tmp_path / "kits" / "project.yml"),
    )  # fmt: skip
    assert registered.exit_code == 0, registered.output
    script = tmp_path / "hello.py"
    script.write_text(PIPELINE)
    result = dfm("fed", "submit", "exf", "--target", "flare", "pipeline", str(script), "--", "Ada")
    assert result.exit_code == 1 and "localhost:1 is not reachable" in result.stderr
    status = dfm("deploy", "status", "exf")
    assert status.exit_code == 1 and "localhost:1 is not reachable" in status.stderr
    assert state.admin


def test_submit_location_options_are_exclusive_and_need_flare(dfm, tmp_path):
    script = tmp_path / "hello.py"
    script.write_text(PIPELINE)
    both = dfm("fed", "submit", str(EXAMPLEFED), "--target", "flare", "--poc", "--kit", str(tmp_path),
               "pipeline", str(script))  # fmt: skip
    assert both.exit_code == 2 and "exclude each other" in both.stderr
    local = dfm("fed", "submit", str(EXAMPLEFED), "--kit", str(tmp_path), "pipeline", str(script))
    assert local.exit_code == 2 and "--kit goes with --target flare" in local.stderr
    unplaced = dfm("fed", "submit", str(EXAMPLEFED), "--target", "flare", "pipeline", str(script))
    assert unplaced.exit_code == 1 and "needs to know where FLARE runs" in unplaced.stderr


def test_poc_status_exits_1_when_not_running(dfm, tmp_path):
    from dfm.flare.poc import Deployment

    Deployment.prepare(EXAMPLEFED, tmp_path / "flare-home" / "examplefed", port=1)
    status = dfm("poc", "status", "examplefed")
    assert status.exit_code == 1 and "not running" in status.stdout


def test_steps_are_plain_lines_off_a_terminal():
    import io

    from dfm.runner.steps import Steps

    out = io.StringIO()
    with Steps(out, prefix="flare: ") as steps:
        steps("waiting for site-1, site-2")
        steps("waiting for site-1, site-2")  # unchanged: not repeated
        steps("waiting for site-2")
    assert out.getvalue() == "flare: waiting for site-1, site-2\nflare: waiting for site-2\n"
    tty = io.StringIO()
    with Steps(tty, tty=True) as steps:
        steps("connecting")
    assert "\r\033[K| connecting" in tty.getvalue() and tty.getvalue().endswith("\r\033[K")
