"""``dfm pipeline ...``: mounted under ``dfm`` by dfm-cli through ``dfm_cli_commands``.

``dfm pipeline show FILE`` compiles the pipeline that ``FILE`` (a Python file
defining ``get_pipeline()``) builds, and prints where each node runs.

Errors are :class:`~dfm.kernel.errors.DfmError` subclasses; the ``dfm`` command
prints their message only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import click
from click.shell_completion import CompletionItem

from dfm.api import FederationHandle, load_federation
from dfm.api.files import pipeline_from, run_pipeline_file, wants_federation
from dfm.compiler.errors import PipelineFileError, RenderError
from dfm.kernel.config.models import Federation
from dfm.kernel.errors import DfmError
from dfm.kernel.records import EmitterEntry
from dfm.kernel.suggest import unknown

__all__ = ["EmitterChoice", "pipeline", "pipeline_emitters", "render", "show"]


def pipeline_emitters() -> dict[str, EmitterEntry]:
    """The emitters that render a prepared pipeline, by name (``dfm pipeline show --format``)."""
    from dfm.kernel.plugins import get_plugin_manager

    registry = get_plugin_manager().registry("emitters")
    return {
        name: entry
        for name, entry in registry.items()
        if isinstance(entry, EmitterEntry) and entry.takes == "pipeline"
    }


if TYPE_CHECKING:  # click >= 8.2 types ParamType by its value and input; older ones cannot subscript it
    _ParamType = click.ParamType[str, Any]
else:
    _ParamType = click.ParamType


class EmitterChoice(_ParamType):
    """A ``--format`` value: the name of a pipeline emitter in the ``dfm_emitters`` registry.

    The registry is read when a value is checked or completed, not when the
    command is defined, so an installed plugin's emitter is a valid format.
    """

    name = "format"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        """The help's metavar: the installed pipeline emitters as ``[a|b|...]``, or ``FORMAT`` if the registry
        cannot be read.
        """
        try:
            return "[" + "|".join(pipeline_emitters()) + "]"
        except DfmError:
            return "FORMAT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """``value`` if it names an installed pipeline emitter; otherwise fail with the known names."""
        known = pipeline_emitters()
        if value in known:
            return str(value)
        self.fail(unknown("format", str(value), known), param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        """Shell completions: the installed pipeline emitters starting with ``incomplete``."""
        return [CompletionItem(name) for name in pipeline_emitters() if name.startswith(incomplete)]


def _federation(option: str | None, module: ModuleType, path: Path) -> FederationHandle:
    from dfm.kernel.fedlist import resolve_federation

    if option is not None:
        return load_federation(option)
    declared: Any = getattr(module, "FEDERATION", None)
    if declared is None:
        raise PipelineFileError(
            f"{path}: no federation given; pass --federation PATH_OR_NAME "
            "or set FEDERATION = 'path/to/fed.dfm.yaml' in the file"
        )
    if isinstance(declared, FederationHandle):
        return declared
    if isinstance(declared, Federation):
        return FederationHandle(declared, path)
    if isinstance(declared, (str, os.PathLike)):
        candidate = Path(declared)
        if not candidate.is_absolute() and (path.parent / candidate).is_file():
            return load_federation(path.parent / candidate)
        return load_federation(resolve_federation(declared))
    raise PipelineFileError(
        f"{path}: FEDERATION is a {type(declared).__name__}; expected a path or a federation name"
    )


def render(prepared: Any, federation: Federation, fmt: str) -> str | bytes:
    """Render with the pipeline emitter named ``fmt`` from the ``dfm_emitters`` registry."""
    entry = pipeline_emitters().get(fmt)
    if entry is None:
        raise RenderError(unknown("format", fmt, pipeline_emitters()))
    rendered = entry.load()(prepared, federation)
    if not isinstance(rendered, (str, bytes)):
        raise RenderError(
            f"emitter '{fmt}' from {entry.source} returned {type(rendered).__name__}, not str or bytes; "
            "please report this to the plugin's authors"
        )
    return rendered


@click.group(name="pipeline")
def pipeline() -> None:
    """Inspect how pipelines are placed and compiled."""


@pipeline.command(name="show")
@click.argument("file", type=click.Path(path_type=Path))  # checked by dfm.api.files, as for fed submit
@click.option(
    "--federation",
    "-f",
    metavar="PATH_OR_NAME",
    help="Federation config file or registered name (default: FEDERATION in FILE).",
)
@click.option("--strategy", "-s", default="auto", show_default=True, help="Placement strategy.")
@click.option(
    "--format",
    "fmt",
    type=EmitterChoice(),
    default="text",
    show_default=True,
    help="Output format: a pipeline emitter of the dfm_emitters registry (text, dot, svg, png, ...).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of stdout.",
)
def show(file: Path, federation: str | None, strategy: str, fmt: str, output: Path | None) -> None:
    """Compile the pipeline FILE builds and show where each node runs.

    FILE is a Python file defining get_pipeline(), which returns a dfm.api.Pipeline
    (and may take the loaded federation as its argument).
    """
    from dfm.compiler.driver import compile_pipeline

    module = run_pipeline_file(file)
    if wants_federation(module):
        handle = _federation(federation, module, file.resolve())
        pipeline_ir = pipeline_from(module, handle)
    else:  # build the pipeline first: its errors are about the file, whatever the federation
        pipeline_ir = pipeline_from(module)
        handle = _federation(federation, module, file.resolve())
    prepared = compile_pipeline(handle.config, pipeline_ir, strategy)
    rendered = render(prepared, handle.config, fmt)
    if output is not None:
        if isinstance(rendered, bytes):
            output.write_bytes(rendered)
        else:
            output.write_text(rendered)
        click.echo(f"wrote {output}", err=True)
        return
    if isinstance(rendered, str):
        click.echo(rendered, nl=False)
        return
    if pipeline_emitters()[fmt].writes.startswith("image/svg"):
        click.echo(rendered.decode(), nl=False)
        return
    if sys.stdout.isatty():
        raise RenderError(f"{fmt} output is binary: write it to a file with -o FILE.{fmt}")
    sys.stdout.flush()
    sys.stdout.buffer.write(rendered)
    sys.stdout.buffer.flush()
