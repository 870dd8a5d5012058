"""The federation template and ``dfm fed new``: what is baked validates, runs and passes its own test."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

cookiecutter_main = pytest.importorskip("cookiecutter.main")
from cookiecutter.exceptions import FailedHookException  # noqa: E402

from dfm.api import load_federation  # noqa: E402
from dfm.cli.main import cli  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "templates" / "federation"


def bake(tmp_path: Path, **context: str) -> Path:
    return Path(
        cookiecutter_main.cookiecutter(
            str(TEMPLATE), no_input=True, extra_context=context, output_dir=str(tmp_path)
        )
    )


def test_defaults_make_a_federation_that_passes_its_own_test(tmp_path):
    project = bake(tmp_path)
    assert project.name == "weather_mesh"
    files = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert files == [
        ".github/workflows/test.yml",
        ".gitignore",
        "README.md",
        "demo.py",
        "noxfile.py",
        "tests/test_federation.py",
        "weather_mesh.dfm.yaml",
        "weather_mesh/__init__.py",
        "weather_mesh/adapters.py",
    ]
    fed = load_federation(project / "weather_mesh.dfm.yaml")
    assert (fed.name, fed.config.homesite, list(fed.config.sites)) == (
        "weather_mesh",
        "hub",
        ["hub", "lab-a", "lab-b"],
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_answers_shape_the_config_and_the_demo_runs_through_the_cli(tmp_path):
    project = bake(
        tmp_path,
        federation_name="Clinic Net",
        sites=" north , south ",
        operation_namespace="care",
        description='Quoted "text": with a colon',
    )
    config = project / "clinic_net.dfm.yaml"
    fed = load_federation(config)
    assert list(fed.config.sites) == ["north", "south"] and fed.config.homesite == "north"
    assert list(fed.config.operations) == ["care.Greet"]
    assert fed.config.info.description == 'Quoted "text": with a colon'
    result = CliRunner().invoke(
        cli, ["fed", "submit", str(config), "pipeline", str(project / "demo.py"), "--", "Ada"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.splitlines()) == [
        'north[0]: "Hello, Ada! Greetings from north."',
        'south[0]: "Hello, Ada! Greetings from south."',
    ]


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"package": "9lives"}, "package '9lives' must be a lowercase Python name"),
        ({"package": "dfm_things"}, "would shadow another module"),
        ({"sites": "hub,Lab A"}, "site 'Lab A' must be lowercase letters and digits"),
        ({"sites": "hub,,lab"}, "none empty"),
        ({"sites": "hub,hub"}, "site names must be unique"),
        ({"operation_namespace": "care.team"}, "must be a Python identifier"),
    ],
)
def test_the_hook_refuses_names_that_would_break_the_federation(tmp_path, capfd, context, message):
    with pytest.raises(FailedHookException):
        bake(tmp_path, **context)
    assert message in capfd.readouterr().err
    assert not any(tmp_path.iterdir())


def test_fed_new_command(tmp_path):
    args = [
        "fed",
        "new",
        "Sky Watch",
        "--sites",
        "base,rover",
        "--output-dir",
        str(tmp_path),
        "--template",
        str(TEMPLATE),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    config = tmp_path / "sky_watch" / "sky_watch.dfm.yaml"
    assert f"created {tmp_path / 'sky_watch'}" in result.output
    assert f"dfm fed validate {config}" in result.output
    assert list(load_federation(config).config.sites) == ["base", "rover"]

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and "already exists; pass --force" in again.output
    refused = CliRunner().invoke(cli, [*args[:3], "--sites", "Base", *args[5:], "--force"])
    assert refused.exit_code == 1 and "the template refused these values" in refused.output
    assert "Traceback" not in refused.output


def test_fed_new_inside_a_checkout_goes_to_federations(tmp_path, monkeypatch):
    checkout = tmp_path / "checkout"
    (checkout / "packages").mkdir(parents=True)
    shutil.copytree(TEMPLATE, checkout / "templates" / "federation")
    (checkout / "docs").mkdir()
    monkeypatch.chdir(checkout / "docs")
    result = CliRunner().invoke(cli, ["fed", "new", "Tide Gauges", "--no-input"])
    assert result.exit_code == 0, result.output
    assert (checkout / "federations" / "tide_gauges" / "tide_gauges.dfm.yaml").is_file()


def test_generated_python_is_lint_clean(tmp_path, lint_clean):
    lint_clean(bake(tmp_path, federation_name="Clinic Net", sites="north,south-east"))


def test_generated_demo_names_its_federation_for_pipeline_show(tmp_path, monkeypatch):
    project = bake(tmp_path, federation_name="Clinic Net", sites="north,south")
    monkeypatch.chdir(tmp_path)  # not the project's folder: FEDERATION does not depend on the cwd
    result = CliRunner().invoke(cli, ["pipeline", "show", str(project / "demo.py")])
    assert result.exit_code == 0, result.output
    assert "north" in result.stdout and "south" in result.stdout


def test_template_installed_with_byte_code_bakes_none(tmp_path):
    copy = tmp_path / "template"
    shutil.copytree(TEMPLATE, copy)
    cache = copy / "{{cookiecutter.package}}" / "__pycache__"
    cache.mkdir()
    (cache / "demo.cpython-311.pyc").write_bytes(
        b"\0"
    )  # what pip's byte-compiling leaves in the dfm-cli wheel
    project = Path(cookiecutter_main.cookiecutter(str(copy), no_input=True, output_dir=str(tmp_path / "out")))
    assert not list(project.rglob("__pycache__"))


def test_the_noxfile_pins_dfm_runner_to_its_current_minor_version():
    text = (ROOT / "packages" / "dfm-runner" / "pyproject.toml").read_text()
    major, minor = re.search(r'^version\s*=\s*"(\d+)\.(\d+)\.', text, re.MULTILINE).groups()
    upper = f"{major}.{int(minor) + 1}" if major == "0" else f"{int(major) + 1}"
    noxfile = (TEMPLATE / "{{cookiecutter.package}}" / "noxfile.py").read_text()
    assert f'DFM = ["dfm-runner>={major}.{minor},<{upper}"]' in noxfile
