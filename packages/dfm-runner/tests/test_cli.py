"""``dfm fed submit`` (tested on its click group; dfm-cli mounts it under ``dfm fed``)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from dfm.kernel.errors import DfmError
from dfm.runner.cli import submit

from .conftest import EXAMPLEFED

DEMO = EXAMPLEFED.parent / "demo.py"


@pytest.fixture(autouse=True)
def badge(monkeypatch):
    monkeypatch.setenv("EXAMPLEFED_RECEPTION_BADGE_KEY", "badge-xyz")


def test_submit_pipeline_prints_results():
    result = CliRunner().invoke(submit, [str(EXAMPLEFED), "pipeline", str(DEMO), "--", "Ada"])
    assert result.exit_code == 0, result.output
    lines = sorted(result.stdout.splitlines())
    assert lines == [
        'concierge[0]: "Hello, Ada! Greetings from the concierge."',
        'reception[0]: "Good morning, Ada! Greetings from the reception (badge checked)."',
        'server[0]: "Welcome, Ada! Greetings from the server."',
    ]
    assert "FINISHED" in result.stderr
    assert "badge-xyz" not in result.output


def test_options_may_follow_the_federation_and_json_output():
    args = [str(EXAMPLEFED), "--transport", "process", "pipeline", str(DEMO), "--json", "--", "Bo", "Cy"]
    result = CliRunner().invoke(submit, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((r["place"], r["frame"][0]) for r in rows) == [
        (site, i) for site in ("concierge", "reception", "server") for i in (0, 1)
    ]


def test_missing_file_is_a_user_error(tmp_path):
    result = CliRunner().invoke(submit, [str(EXAMPLEFED), "pipeline", str(tmp_path / "nope.py")])
    assert isinstance(result.exception, DfmError)
    assert "no such file" in str(result.exception)


def test_file_without_get_pipeline(tmp_path):
    (tmp_path / "empty.py").write_text("X = 1\n")
    result = CliRunner().invoke(submit, [str(EXAMPLEFED), "pipeline", str(tmp_path / "empty.py")])
    assert isinstance(result.exception, DfmError)
    assert "defines no get_pipeline()" in str(result.exception)


def test_submit_script_runs_as_main(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(
        "import sys\n"
        "from dfm.api import Pipeline, PlaceParam, Yield, load_federation\n"
        "from dfm.runner import Session\n"
        "with Session.from_env() as s:\n"
        "    fed = load_federation(s.config_path)\n"
        "    with Pipeline() as p:\n"
        "        Yield(fed.api.users.GreetMe(name=PlaceParam('n'), site='server'), place='g')\n"
        "    job = s.execute(s.prepare(p), {'n': sys.argv[1]})\n"
        "    print([r.value for r in job.results(timeout=30)])\n"
    )
    result = CliRunner().invoke(submit, [str(EXAMPLEFED), "script", str(script), "--", "Dee"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "['Welcome, Dee! Greetings from the server.']"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--simulator"], "--poc and --simulator go with --target flare"),
        (["--target", "flare", "--poc", "--simulator"], "exclude each other"),
    ],
)
def test_flare_flags_need_the_flare_target(flags, message):
    result = CliRunner().invoke(submit, [str(EXAMPLEFED), *flags, "pipeline", str(DEMO)])
    assert result.exit_code == 2
    assert message in result.stderr


def test_script_sees_the_flare_flags_and_the_environment_is_restored(tmp_path, monkeypatch):
    monkeypatch.delenv("DFM_FLARE_SIMULATOR", raising=False)
    script = tmp_path / "app.py"
    script.write_text(
        "import os\n"
        "env = os.environ\n"
        "print(env['DFM_TARGET'], env.get('DFM_FLARE_SIMULATOR'), env.get('DFM_FLARE_POC'))\n"
    )
    args = [str(EXAMPLEFED), "--target", "flare", "--simulator", "script", str(script)]
    result = CliRunner().invoke(submit, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["flare", "1", "None"]
    assert "DFM_FLARE_SIMULATOR" not in os.environ
