"""``dfm adapter new`` bakes the adapter template (the template itself is tested in test_template.py)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

pytest.importorskip("cookiecutter")

from dfm.cli.main import cli


def test_new_adapter_package(repo_root, tmp_path):
    template = repo_root / "templates" / "adapter"
    args = ["adapter", "new", "Moon Phase", "--output-dir", str(tmp_path), "--template", str(template)]
    result = CliRunner().invoke(cli, [*args, "--no-async", "--namespace", "moon"])
    assert result.exit_code == 0, result.output
    project = tmp_path / "dfm-adapter-moon-phase"
    assert 'name = "dfm-adapter-moon-phase"' in (project / "pyproject.toml").read_text()
    assert (project / "src" / "dfm_adapter_moon_phase" / "plugin.py").is_file()
    assert "moon." in (project / "src" / "dfm_adapter_moon_phase" / "plugin.py").read_text()

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1
    assert "already exists; pass --force" in again.output


def test_template_refusal_is_a_message_not_a_traceback(repo_root, tmp_path):
    template = repo_root / "templates" / "adapter"
    args = ["adapter", "new", "dfm thing", "--output-dir", str(tmp_path), "--template", str(template)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "the template refused these values" in result.output
    assert not any(tmp_path.iterdir())
