"""``dfm fed config set NAME --federation-dir DIR --config-path FILE [--project-path FILE]``.

NVIDIA DFM's form of registering a federation, beside ours (``set NAME PATH``).
"""

from __future__ import annotations

import os

import pytest
import yaml

from .test_fed import TINYFED


@pytest.fixture
def workspace(tmp_path):
    """A federation directory the reference's way: configs/ with the config and project file."""
    root = tmp_path / "tinyfed"
    (root / "configs").mkdir(parents=True)
    (root / "configs" / "federation.dfm.yaml").write_text(TINYFED)
    (root / "configs" / "project.yaml").write_text("name: tinyfed\n")
    return root


def _registry(tmp_path):
    return yaml.safe_load((tmp_path / "dfm-config" / "federations.yaml").read_text())


def test_set_with_federation_dir_resolves_relative_paths_inside_it(dfm, workspace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the paths are not relative to the current directory
    result = dfm(
        "fed", "config", "set", "tinyfed",
        "--federation-dir", str(workspace),
        "--config-path", "configs/federation.dfm.yaml",
        "--project-path", "configs/project.yaml",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = workspace / "configs" / "federation.dfm.yaml"
    assert result.stdout == f"tinyfed: {config}\n"
    assert _registry(tmp_path) == {
        "tinyfed": {
            "path": str(config),
            "federation_dir": str(workspace),
            "project_path": str(workspace / "configs" / "project.yaml"),
        }
    }
    show = dfm("fed", "config", "show", "tinyfed")
    assert show.exit_code == 0, show.output
    assert show.stdout.splitlines()[:3] == [
        f"tinyfed: {config}",
        f"  federation dir: {workspace}",
        f"  project file: {workspace / 'configs' / 'project.yaml'}",
    ]
    # the registered name works wherever a federation is named
    assert dfm("fed", "validate", "tinyfed").exit_code in (0, 1)


def test_config_path_alone_and_paths_relative_to_the_current_directory(dfm, workspace, tmp_path, monkeypatch):
    monkeypatch.chdir(workspace)
    result = dfm(
        "fed", "config", "set", "tinyfed", "--config-path", os.path.join("configs", "federation.dfm.yaml")
    )
    assert result.exit_code == 0, result.output
    assert _registry(tmp_path) == {"tinyfed": {"path": str(workspace / "configs" / "federation.dfm.yaml")}}
    # with --federation-dir, a path that is not inside it is looked up in the current directory too
    other = tmp_path / "elsewhere"
    other.mkdir()
    result = dfm(
        "fed", "config", "set", "tinyfed", "--federation-dir", str(other),
        "--config-path", "configs/federation.dfm.yaml",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _registry(tmp_path)["tinyfed"]["path"] == str(workspace / "configs" / "federation.dfm.yaml")


def test_our_form_still_works_and_may_name_a_federation_dir(dfm, workspace, tmp_path):
    config = workspace / "configs" / "federation.dfm.yaml"
    assert dfm("fed", "config", "set", "tinyfed", str(config)).exit_code == 0
    result = dfm("fed", "config", "set", "tinyfed", str(config), "--federation-dir", str(workspace))
    assert result.exit_code == 0, result.output
    assert _registry(tmp_path)["tinyfed"] == {"path": str(config), "federation_dir": str(workspace)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--federation-dir", "{ws}/nope", "--config-path", "x.yaml"],
            "no federation directory at {ws}/nope",
        ),
        (
            ["--federation-dir", "{ws}", "--config-path", "configs/missing.yaml"],
            "no federation config file at {ws}/configs/missing.yaml or {cwd}/configs/missing.yaml",
        ),
        (
            [
                "--federation-dir",
                "{ws}",
                "--config-path",
                "configs/federation.dfm.yaml",
                "--project-path",
                "p.yaml",
            ],
            "no project file at {ws}/p.yaml or {cwd}/p.yaml",
        ),
    ],
)
def test_user_errors_are_one_line(dfm, workspace, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    values = {"ws": workspace, "cwd": tmp_path}
    result = dfm("fed", "config", "set", "tinyfed", *[a.format(**values) for a in args])
    assert result.exit_code == 1
    assert result.stderr == message.format(**values) + "\n"
    assert not (tmp_path / "dfm-config" / "federations.yaml").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{cfg}", "--config-path", "{cfg}"], "give the config file as PATH or as --config-path, not both"),
        (["--federation-dir", "{ws}"], "missing the config file: give PATH or --config-path FILE"),
    ],
)
def test_usage_errors(dfm, workspace, args, message):
    values = {"ws": workspace, "cfg": workspace / "configs" / "federation.dfm.yaml"}
    result = dfm("fed", "config", "set", "tinyfed", *[a.format(**values) for a in args])
    assert result.exit_code == 2
    assert f"Error: {message}" in result.stderr
