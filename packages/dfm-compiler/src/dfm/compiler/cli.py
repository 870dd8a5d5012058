"""``dfm pipeline ...``: mounted under ``dfm`` by dfm-cli through ``dfm_cli_commands``.

``dfm pipeline show FILE`` compiles the pipeline that ``FILE`` (a Python file
defining ``get_pipeline()``) builds, and prints where each node runs.

Errors are :class:`~dfm.kernel.errors.DfmError` subclasses; the ``dfm`` command
prints their message only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from dfm.compiler.errors import PipelineFileError, RenderError
from dfm.kernel.config import load_config
from dfm.kernel.config.models import Federation
from dfm.kernel.errors import DfmError
from dfm.kernel.ir.pipeline import PipelineIR

__all__ = ["load_pipeline_file", "pipeline", "show"]

FORMATS = ("text", "dot", "svg", "png")


def _where(exc: BaseException, path: Path) -> str:
    """``file:line`` of the innermost frame of ``exc`` inside ``path`` (or just the file)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return f"{path}:{frames[-1].lineno}" if frames else str(path)


def _run_module(path: Path) -> ModuleType:
    name = "_dfm_pipeline_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PipelineFileError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    sys.path.insert(0, folder)  # like running the file: its siblings are importable
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except DfmError:
        raise
    except SyntaxError as exc:
        raise PipelineFileError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise PipelineFileError(f"{_where(exc, path)}: {type(exc).__name__}: {exc}") from None
    finally:
        sys.modules.pop(name, None)
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def load_pipeline_file(path: Path) -> tuple[PipelineIR, ModuleType]:
    """Run ``path`` and call its ``get_pipeline()``; return the pipeline IR and the module."""
    path = path.resolve()
    module = _run_module(path)
    get_pipeline = getattr(module, "get_pipeline", None)
    if not callable(get_pipeline):
        raise PipelineFileError(f"{path}: defines no get_pipeline() function returning a dfm.api.Pipeline")
    try:
        result = get_pipeline()
    except DfmError:
        raise
    except Exception as exc:
        raise PipelineFileError(
            f"{_where(exc, path)}: get_pipeline() raised {type(exc).__name__}: {exc}"
        ) from None
    if isinstance(result, PipelineIR):
        return result, module
    recorded = getattr(result, "ir", None)
    if isinstance(recorded, PipelineIR):
        return recorded, module
    raise PipelineFileError(
        f"{path}: get_pipeline() returned {type(result).__name__}, expected a dfm.api.Pipeline"
    )


def _federation(option: str | None, module: ModuleType, path: Path) -> Federation:
    from dfm.kernel.fedregistry import resolve_federation

    if option is not None:
        return load_config(resolve_federation(option))
    declared: Any = getattr(module, "FEDERATION", None)
    if declared is None:
        raise PipelineFileError(
            f"{path}: no federation given; pass --federation PATH_OR_NAME "
            "or set FEDERATION = 'path/to/fed.dfm.yaml' in the file"
        )
    if isinstance(declared, Federation):
        return declared
    config = getattr(declared, "config", None)
    if isinstance(config, Federation):
        return config
    if isinstance(declared, (str, os.PathLike)):
        candidate = Path(declared)
        if not candidate.is_absolute() and (path.parent / candidate).is_file():
            return load_config(path.parent / candidate)
        return load_config(resolve_federation(declared))
    raise PipelineFileError(
        f"{path}: FEDERATION is a {type(declared).__name__}; expected a path or a federation name"
    )


def render(prepared: Any, federation: Federation, fmt: str) -> str | bytes:
    """Render with the built-in emitters (``text``, ``dot``, ``svg``, ``png``)."""
    if fmt == "text":
        from dfm.compiler.emitters import text

        return text.emit(prepared, federation)
    if fmt == "dot":
        from dfm.compiler.emitters import dot

        return dot.emit(prepared, federation)
    from dfm.compiler.emitters import graphviz

    return (
        graphviz.emit_svg(prepared, federation) if fmt == "svg" else graphviz.emit_png(prepared, federation)
    )


@click.group(name="pipeline")
def pipeline() -> None:
    """Inspect how pipelines are placed and compiled."""


@pipeline.command(name="show")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--federation",
    "-f",
    metavar="PATH_OR_NAME",
    help="Federation config file or registered name (default: FEDERATION in FILE).",
)
@click.option("--strategy", "-s", default="auto", show_default=True, help="Placement strategy.")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help="Output format."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of stdout.",
)
def show(file: Path, federation: str | None, strategy: str, fmt: str, output: Path | None) -> None:
    """Compile the pipeline FILE builds and show where each node runs.

    FILE is a Python file defining get_pipeline(), which returns a dfm.api.Pipeline.
    """
    from dfm.compiler.driver import compile_pipeline

    pipeline_ir, module = load_pipeline_file(file)
    fed = _federation(federation, module, file.resolve())
    prepared = compile_pipeline(fed, pipeline_ir, strategy)
    rendered = render(prepared, fed, fmt)
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
    if fmt == "svg":
        click.echo(rendered.decode(), nl=False)
        return
    if sys.stdout.isatty():
        raise RenderError("PNG output is binary: write it to a file with -o FILE.png")
    sys.stdout.flush()
    sys.stdout.buffer.write(rendered)
    sys.stdout.buffer.flush()
