"""``dfm fed submit`` (tested on its click group; dfm-cli mounts it under ``dfm fed``)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from dfm.kernel.errors import DfmError
from dfm.runner.cli import submit


@pytest.fixture(autouse=True)
def badge(monkeypatch):
    monkeypatch.setenv("EXAMPLEFED_RECEPTION_BADGE_KEY", "badge-xyz")


def test_submit_pipeline_prints_results(examplefed_path, demo):
    result = CliRunner().invoke(submit, [str(examplefed_path), "pipeline", str(demo), "--", "Ada"])
    assert result.exit_code == 0, result.output
    lines = sorted(result.stdout.splitlines())
    assert lines == [
        'concierge[0]: "Hello, Ada! Greetings from the concierge."',
        'reception[0]: "Good morning, Ada! Greetings from the reception (badge checked)."',
        'server[0]: "Welcome, Ada! Greetings from the server."',
    ]
    assert "FINISHED" in result.stderr
    assert "badge-xyz" not in result.output


def test_options_may_follow_the_federation_and_json_output(examplefed_path, demo):
    args = [
        str(examplefed_path),
        "--transport",
        "process",
        "pipeline",
        str(demo),
        "--json",
        "--",
        "Bo",
        "Cy",
    ]
    result = CliRunner().invoke(submit, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((r["place"], r["frame"][0]) for r in rows) == [
        (site, i) for site in ("concierge", "reception", "server") for i in (0, 1)
    ]


def test_missing_file_is_a_user_error(tmp_path, examplefed_path):
    result = CliRunner().invoke(submit, [str(examplefed_path), "pipeline", str(tmp_path / "nope.py")])
    assert isinstance(result.exception, DfmError)
    assert "no such file" in str(result.exception)


def test_file_without_get_pipeline(tmp_path, examplefed_path):
    (tmp_path / "empty.py").write_text("X = 1\n")
    result = CliRunner().invoke(submit, [str(examplefed_path), "pipeline", str(tmp_path / "empty.py")])
    assert isinstance(result.exception, DfmError)
    assert "defines no get_pipeline()" in str(result.exception)


def test_submit_script_runs_as_main(tmp_path, examplefed_path):
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
    result = CliRunner().invoke(submit, [str(examplefed_path), "script", str(script), "--", "Dee"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "['Welcome, Dee! Greetings from the server.']"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--simulator"], "--simulator goes with --target flare"),
        (["--target", "flare", "--poc", "--simulator"], "exclude each other"),
    ],
)
def test_flare_flags_need_the_flare_target(flags, message, examplefed_path, demo):
    result = CliRunner().invoke(submit, [str(examplefed_path), *flags, "pipeline", str(demo)])
    assert result.exit_code == 2
    assert message in result.stderr


def test_script_sees_the_flare_flags_and_the_environment_is_restored(tmp_path, monkeypatch, examplefed_path):
    monkeypatch.delenv("DFM_FLARE_SIMULATOR", raising=False)
    script = tmp_path / "app.py"
    script.write_text(
        "import os\n"
        "env = os.environ\n"
        "print(env['DFM_TARGET'], env.get('DFM_FLARE_SIMULATOR'), env.get('DFM_FLARE_POC'))\n"
    )
    args = [str(examplefed_path), "--target", "flare", "--simulator", "script", str(script)]
    result = CliRunner().invoke(submit, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["flare", "1", "None"]
    assert "DFM_FLARE_SIMULATOR" not in os.environ


# -- NVIDIA DFM's forms (COMPAT.md section 4) -------------------------------------------------

SLEEPY = """\
from dfm.api import Pipeline, Yield


def get_pipeline(fed):
    with Pipeline() as p:
        Yield(fed.api.math.Sleep(seconds=30, value=1, site="home"), place="late")
    return p
"""


@pytest.mark.parametrize("where", ["group", "subcommand"])
def test_timeout_fails_a_job_that_has_not_ended(tmp_path, where):
    from dfm.runner.testing import MATHFED

    file = tmp_path / "sleepy.py"
    file.write_text(SLEEPY)
    if where == "group":
        args = [str(MATHFED), "--timeout", "0.5", "pipeline", str(file)]
    else:
        args = [str(MATHFED), "pipeline", str(file), "--timeout", "0.5"]
    result = CliRunner().invoke(submit, args)
    assert isinstance(result.exception, DfmError), result.output
    message = str(result.exception)
    assert "timed out after 0.5 s" in message and "\n" not in message


def test_timeout_is_passed_to_session_execute(monkeypatch, examplefed_path, demo):
    from dfm.runner import Session

    seen = []
    execute = Session.execute

    def spy(self, prepared, params=None, **kwargs):
        seen.append(kwargs.get("timeout"))
        return execute(self, prepared, params, **kwargs)

    monkeypatch.setattr(Session, "execute", spy)
    result = CliRunner().invoke(
        submit,
        [
            str(examplefed_path),
            "--timeout",
            "60",
            "pipeline",
            str(demo),
            "--",
            "Ada",
        ],
    )
    assert result.exit_code == 0, result.output
    assert seen == [60.0]


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_timeout_must_be_a_positive_number(value, examplefed_path, demo):
    result = CliRunner().invoke(
        submit,
        [str(examplefed_path), "--timeout", value, "pipeline", str(demo)],
    )
    assert result.exit_code == 2
    assert "'--timeout'" in result.stderr


ARGS_PIPELINE = """\
from dfm.api import Pipeline, PlaceParam, Yield, load_federation

FED = load_federation({fed!r})


def get_pipeline(args):
    with Pipeline() as p:
        Yield(FED.api.users.GreetMe(name=PlaceParam("name"), site=args[0]), place="greeting")
    return p


def get_pipeline_parameters(args):
    return {{"name": args[1]}}
"""


def test_get_pipeline_args_receives_the_arguments(tmp_path, examplefed_path):
    file = tmp_path / "reference_style.py"
    file.write_text(ARGS_PIPELINE.format(fed=str(examplefed_path)))
    result = CliRunner().invoke(submit, [str(examplefed_path), "pipeline", str(file), "--", "server", "Eve"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ['greeting[0]: "Welcome, Eve! Greetings from the server."']


def test_get_pipeline_args_errors_name_the_file_and_line(tmp_path, examplefed_path):
    file = tmp_path / "reference_style.py"
    file.write_text(ARGS_PIPELINE.format(fed=str(examplefed_path)))
    result = CliRunner().invoke(
        submit, [str(examplefed_path), "pipeline", str(file)]
    )  # no ARGS: args[0] fails
    assert isinstance(result.exception, DfmError)
    assert str(result.exception) == (
        f"{file.resolve()}:8: get_pipeline() raised IndexError: list index out of range"
    )


SHELL = """\
#!/bin/sh
echo "workspace=$DFM_FEDERATION_WORKSPACE_PATH"
echo "federation=$DFM_FEDERATION target=$DFM_TARGET"
echo "args=$*"
echo "to stderr" >&2
"""


def _shell_script(tmp_path, text=SHELL, mode=0o755):
    script = tmp_path / "run.sh"
    script.write_text(text)
    script.chmod(mode)
    return script


@pytest.mark.skipif(os.name != "posix", reason="shell scripts")
def test_script_runs_a_shell_script_with_the_workspace_and_args(tmp_path, examplefed_path):
    script = _shell_script(tmp_path)
    result = CliRunner().invoke(
        submit, [str(examplefed_path), "script", str(script), "--", "one", "two words"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"workspace={examplefed_path.parent}",
        f"federation={examplefed_path} target=local",
        "args=one two words",
    ]
    assert result.stderr == "to stderr\n"


@pytest.mark.skipif(os.name != "posix", reason="shell scripts")
def test_script_workspace_is_the_registered_federation_dir(tmp_path, monkeypatch, examplefed_path):
    from dfm.kernel.fedlist import register_federation

    monkeypatch.setenv("DFM_CONFIG_HOME", str(tmp_path / "config"))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    register_federation("example", examplefed_path, federation_dir=workspace)
    script = _shell_script(tmp_path)
    result = CliRunner().invoke(submit, ["example", "script", str(script)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"workspace={workspace}"


@pytest.mark.skipif(os.name != "posix", reason="shell scripts")
@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        (SHELL, 0o644, "{file}: not executable; make it executable (chmod +x) or give a Python file (.py)"),
        ("#!/bin/sh\nexit 3\n", 0o755, "{file} exited with status 3"),
        ("#!/bin/sh\nkill -9 $$\n", 0o755, "{file} was stopped by SIGKILL"),
        ("#!/no/such/interpreter\n", 0o755, "{file}: cannot run it: No such file or directory"),
    ],
)
def test_script_failures_are_one_line(tmp_path, text, mode, message, examplefed_path):
    script = _shell_script(tmp_path, text, mode)
    result = CliRunner().invoke(submit, [str(examplefed_path), "script", str(script)])
    assert isinstance(result.exception, DfmError), result.output
    assert str(result.exception) == message.format(file=script)


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_script_timeout_stops_the_script_and_its_children(tmp_path, examplefed_path):
    marker = tmp_path / "still-running"
    script = _shell_script(tmp_path, f"#!/bin/sh\n(sleep 3; touch {marker}) &\nsleep 60\n")
    result = CliRunner().invoke(submit, [str(examplefed_path), "--timeout", "0.5", "script", str(script)])
    assert isinstance(result.exception, DfmError), result.output
    assert str(result.exception) == f"{script} did not end within 0.5 s and was stopped"
    import time

    time.sleep(4)
    assert not marker.exists()  # the background child was stopped with the script


def test_script_that_is_a_directory(tmp_path, examplefed_path):
    result = CliRunner().invoke(submit, [str(examplefed_path), "script", str(tmp_path)])
    assert isinstance(result.exception, DfmError)
    assert str(result.exception).endswith("not a regular file (a script is a Python file or an executable)")
