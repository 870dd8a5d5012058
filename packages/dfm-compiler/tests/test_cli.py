"""``dfm pipeline show`` through click's CliRunner (dfm-cli need not be installed)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

click = pytest.importorskip("click")
from click.testing import CliRunner  # noqa: E402

from dfm.compiler.cli import pipeline  # noqa: E402
from dfm.compiler.errors import GraphvizNotFoundError, PipelineFileError  # noqa: E402
from dfm.kernel.errors import DfmError  # noqa: E402

PIPELINE = """
from dfm.api import Pipeline, PlaceParam, Yield, load_federation

FEDERATION = {federation!r}

def get_pipeline():
    fed = load_federation({load!r})
    with Pipeline("hello") as p:
        Yield(fed.api.users.GreetMe(name=PlaceParam("name"), site="server"), place="greeting")
    return p
"""


@pytest.fixture
def pipeline_file(tmp_path, examplefed_path):
    shutil.copy(examplefed_path, tmp_path / "fed.dfm.yaml")
    path = tmp_path / "hello.py"
    path.write_text(PIPELINE.format(federation="fed.dfm.yaml", load=str(tmp_path / "fed.dfm.yaml")))
    return path


def run(*args: str):
    return CliRunner().invoke(pipeline, list(args), catch_exceptions=True)


def test_show_text_uses_the_files_federation(pipeline_file):
    result = run("show", str(pipeline_file))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("pipeline 'hello' on federation examplefed (homesite concierge, strategy auto")
    assert lines[2].split() == ["node", "kind", "operation", "site", "candidates"]
    assert lines[3].split() == ["n1", "call", "users.GreetMe", "server", "server"]
    assert lines[4].split() == ["n2", "yield", "Yield", "'greeting'", "concierge", "concierge"]
    assert "n1    n2  server -> concierge  64     1          64" in result.output
    assert "estimated cost: 64" in result.output


def test_show_with_federation_option_and_strategy(pipeline_file, examplefed_path):
    result = run("show", str(pipeline_file), "--federation", str(examplefed_path), "--strategy", "greedy")
    assert result.exit_code == 0, result.output
    assert "strategy greedy" in result.output


def test_show_dot_to_a_file(pipeline_file, tmp_path):
    out = tmp_path / "placed.dot"
    result = run("show", str(pipeline_file), "--format", "dot", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith('digraph "hello" {')
    assert 'subgraph "cluster_0_concierge"' in text
    assert 'label="concierge (homesite)"' in text
    assert '"n1" -> "n2" [label="64 B\\ncost 64", color=firebrick, penwidth=2];' in text


def test_svg_without_graphviz_says_how_to_install_it(pipeline_file, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = run("show", str(pipeline_file), "--format", "svg")
    assert isinstance(result.exception, GraphvizNotFoundError)
    assert isinstance(result.exception, DfmError)
    assert "apt-get install graphviz" in str(result.exception)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
@pytest.mark.parametrize(("fmt", "magic"), [("svg", b"<svg"), ("png", b"\x89PNG")])
def test_svg_and_png_with_graphviz(pipeline_file, tmp_path, fmt, magic):
    out = tmp_path / f"placed.{fmt}"
    result = run("show", str(pipeline_file), "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert magic in out.read_bytes()[:400]


def test_file_without_get_pipeline(tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("X = 1\n")
    result = run("show", str(path))
    assert isinstance(result.exception, PipelineFileError)
    assert "defines no get_pipeline() function" in str(result.exception)


def test_error_in_the_file_names_its_line(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text(
        textwrap.dedent("""
        def get_pipeline():
            return 1 / 0
    """)
    )
    result = run("show", str(path), "--federation", "x")
    assert isinstance(result.exception, PipelineFileError)
    assert str(result.exception) == f"{path}:3: get_pipeline() raised ZeroDivisionError: division by zero"


def test_no_federation(tmp_path, examplefed_path):
    path = tmp_path / "nofed.py"
    path.write_text(
        PIPELINE.format(federation=None, load=str(examplefed_path)).replace("FEDERATION = None\n", "")
    )
    result = run("show", str(path))
    assert isinstance(result.exception, PipelineFileError)
    assert "no federation given; pass --federation" in str(result.exception)


def test_compile_errors_propagate_as_dfm_errors(tmp_path, examplefed_path):
    path = tmp_path / "bad.py"
    path.write_text(PIPELINE.format(federation=str(examplefed_path), load=str(examplefed_path)))
    result = run("show", str(path), "--strategy", "optimial")
    assert isinstance(result.exception, DfmError)
    assert "did you mean 'optimal'?" in str(result.exception)


def test_help():
    result = run("show", "--help")
    assert result.exit_code == 0
    assert "get_pipeline()" in result.output
    assert Path  # keep the import used


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_png_to_stdout_when_not_a_terminal(pipeline_file):
    result = CliRunner().invoke(pipeline, ["show", str(pipeline_file), "--format", "png"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(b"\x89PNG")
