"""``dfm fed submit``: run a pipeline file or a script against a federation."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import runpy
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from dfm.kernel.errors import DfmError


def _load_module(path: Path) -> ModuleType:
    if not path.is_file():
        raise DfmError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(f"dfm_submitted_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise DfmError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except DfmError:
        raise
    except Exception as exc:
        raise DfmError(f"{path}: failed to import: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.remove(str(path.parent))
    return module


def _call(fn: Any, *candidates: Any) -> Any:
    """Call ``fn`` with as many leading ``candidates`` as it accepts positionally."""
    params = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return fn(*candidates[: len(params)])


def _printable(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


class _Progress:
    """A one-line progress indicator on stderr while a job runs (only on a terminal)."""

    def __init__(self, job: Any):
        self.job = job
        self.count = 0
        self.stop = threading.Event()
        self.enabled = sys.stderr.isatty()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Progress:
        if self.enabled:
            self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()
        if self.enabled:
            self.thread.join()
            click.echo("\r\033[K", nl=False, err=True)

    def _run(self) -> None:
        start = time.monotonic()
        while not self.stop.wait(0.2):
            elapsed = time.monotonic() - start
            click.echo(
                f"\r\033[Kjob {self.job.id} {self.job.status.value} {elapsed:.1f}s, {self.count} result(s)",
                nl=False,
                err=True,
            )


@click.group("submit")
def submit() -> None:
    """Run a pipeline file or a script on a federation."""


_common = [
    click.argument("federation"),
    click.option("--target", type=click.Choice(["local", "flare"]), default="local", show_default=True),
    click.option(
        "--transport",
        default=None,
        help="Transport for the local target: inproc (default) or process.",
    ),
    click.option("--poc", is_flag=True, help="With --target flare: use the local POC deployment."),
]


def _with_common(fn: Any) -> Any:
    for decorator in reversed(_common):
        fn = decorator(fn)
    return fn


@submit.command("pipeline")
@_with_common
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per result.")
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
def submit_pipeline(
    federation: str,
    target: str,
    transport: str | None,
    poc: bool,
    file: Path,
    args: tuple[str, ...],
    as_json: bool,
    timeout: float | None,
) -> None:
    """Run FILE's get_pipeline() with get_pipeline_parameters() on FEDERATION.

    FEDERATION is a config path or a name registered with 'dfm fed config set'.
    ARGS (after --) are passed to get_pipeline_parameters(argv) if it takes them.
    """
    from dfm.api import load_federation
    from dfm.runner import Session

    handle = load_federation(federation)
    module = _load_module(file)
    if not hasattr(module, "get_pipeline"):
        raise DfmError(f"{file}: defines no get_pipeline() function")
    pipeline = _call(module.get_pipeline, handle)
    params: Any = {}
    if hasattr(module, "get_pipeline_parameters"):
        params = _call(module.get_pipeline_parameters, list(args), handle)
    options = {"poc": True} if poc else {}
    with Session(handle, target=target, transport=transport, options=options) as session:
        prepared = session.prepare(pipeline)
        job = session.execute(prepared, params)
        with _Progress(job) as progress:
            try:
                for result in job.results(timeout=timeout):
                    progress.count += 1
                    if as_json:
                        click.echo(
                            json.dumps(
                                {"place": result.place, "frame": list(result.frame), "value": result.value}
                            )
                        )
                    else:
                        frame = ",".join(map(str, result.frame))
                        click.echo(f"{result.place}[{frame}]: {_printable(result.value)}")
            except TimeoutError:
                job.cancel()
                raise DfmError(f"job {job.id} timed out after {timeout} s and was cancelled") from None
    click.echo(f"job {job.id} {job.status.value}", err=True)


@submit.command("script")
@_with_common
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def submit_script(
    federation: str, target: str, transport: str | None, poc: bool, file: Path, args: tuple[str, ...]
) -> None:
    """Run a Python script as __main__ with the federation in the environment.

    The script reads DFM_FEDERATION, DFM_TARGET and DFM_TRANSPORT (or calls
    dfm.runner.Session.from_env()).
    """
    from dfm.kernel.fedregistry import resolve_federation

    if not file.is_file():
        raise DfmError(f"no such file: {file}")
    os.environ["DFM_FEDERATION"] = str(resolve_federation(federation))
    os.environ["DFM_TARGET"] = target
    if transport:
        os.environ["DFM_TRANSPORT"] = transport
    if poc:
        os.environ["DFM_FLARE_POC"] = "1"
    argv = sys.argv
    sys.argv = [str(file), *args]
    sys.path.insert(0, str(file.parent))
    try:
        runpy.run_path(str(file), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise
    finally:
        sys.argv = argv
        sys.path.remove(str(file.parent))
