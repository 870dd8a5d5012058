"""``dfm fed submit``: run a pipeline file or a script against a federation."""

from __future__ import annotations

import json
import os
import runpy
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from dfm.kernel.errors import DfmError


def _printable(value: Any) -> str:
    if type(value) is int:  # the common case, as json.dumps prints it
        return str(value)
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


class _SubmitGroup(click.Group):
    """Lets the group's options follow FEDERATION: 'dfm fed submit NAME --target flare pipeline FILE'."""

    _valued = ("--target", "--transport")
    _flags = ("--poc", "--simulator")

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        front: list[str] = []
        rest: list[str] = []
        positional = 0
        i = 0
        while i < len(args):
            arg = args[i]
            if positional < 2 and arg in self._valued and i + 1 < len(args):
                front += args[i : i + 2]
                i += 2
                continue
            if positional < 2 and (
                arg in self._flags or arg.startswith(tuple(f"{o}=" for o in self._valued))
            ):
                front.append(arg)
            else:
                rest.append(arg)
                if not arg.startswith("-"):
                    positional += 1
            i += 1
        return super().parse_args(ctx, front + rest)


@click.group("submit", cls=_SubmitGroup)
@click.argument("federation")
@click.option("--target", type=click.Choice(["local", "flare"]), default="local", show_default=True)
@click.option(
    "--transport", default=None, help="Transport for the local target: inproc (default) or process."
)
@click.option("--poc", is_flag=True, help="With --target flare: use the deployment 'dfm poc start' runs.")
@click.option(
    "--simulator", is_flag=True, help="With --target flare: run in FLARE's simulator (nothing provisioned)."
)
@click.pass_context
def submit(
    ctx: click.Context, federation: str, target: str, transport: str | None, poc: bool, simulator: bool
) -> None:
    """Run a pipeline file or a script on FEDERATION (a config path or a registered name).

    \b
    dfm fed submit examplefed pipeline demo.py -- Ada
    dfm fed submit examplefed --transport process script app.py -- --verbose
    """
    if (poc or simulator) and target != "flare":
        raise click.UsageError("--poc and --simulator go with --target flare")
    if poc and simulator:
        raise click.UsageError("--poc and --simulator exclude each other")
    options = {"poc": True} if poc else {"simulator": True} if simulator else {}
    ctx.obj = {"federation": federation, "target": target, "transport": transport, "options": options}


@submit.command("pipeline")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per result.")
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
@click.pass_obj
def submit_pipeline(
    obj: dict[str, Any], file: Path, args: tuple[str, ...], as_json: bool, timeout: float | None
) -> None:
    """Run FILE's get_pipeline() with get_pipeline_parameters() and print the results.

    get_pipeline() may take the loaded federation; get_pipeline_parameters()
    may take ARGS (everything after --) and returns one parameter set or a list.
    """
    federation, target, transport = obj["federation"], obj["target"], obj["transport"]
    from dfm.api import load_federation
    from dfm.api.files import parameters_from, pipeline_from, run_pipeline_file
    from dfm.runner import Session

    handle = load_federation(federation)
    module = run_pipeline_file(file)
    pipeline = pipeline_from(module, handle)
    params = parameters_from(module, list(args), handle)
    with Session(handle, target=target, transport=transport, options=obj["options"]) as session:
        prepared = session.prepare(pipeline)
        job = session.execute(prepared, params)
        with _Progress(job) as progress:
            # One write per batch of arrived results (click.echo per line costs more than the job).
            out = sys.stdout
            try:
                for batch in job.result_batches(timeout=timeout):
                    progress.count += len(batch)
                    if as_json:
                        lines = [
                            json.dumps({"place": r.place, "frame": list(r.frame), "value": r.value})
                            for r in batch
                        ]
                    else:
                        lines = [
                            f"{r.place}[{','.join(map(str, r.frame))}]: {_printable(r.value)}" for r in batch
                        ]
                    lines.append("")
                    out.write("\n".join(lines))
                    out.flush()
            except TimeoutError:
                job.cancel()
                raise DfmError(f"job {job.id} timed out after {timeout} s and was cancelled") from None
    click.echo(f"job {job.id} {job.status.value}", err=True)


@submit.command("script")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def submit_script(obj: dict[str, Any], file: Path, args: tuple[str, ...]) -> None:
    """Run a Python script as __main__ with the federation in the environment.

    The script reads DFM_FEDERATION, DFM_TARGET and DFM_TRANSPORT (or calls
    dfm.runner.Session.from_env()).
    """
    from dfm.kernel.fedregistry import resolve_federation

    federation, target, transport = obj["federation"], obj["target"], obj["transport"]
    if not file.is_file():
        raise DfmError(f"no such file: {file}")
    env = {"DFM_FEDERATION": str(resolve_federation(federation)), "DFM_TARGET": target}
    if transport:
        env["DFM_TRANSPORT"] = transport
    for option in obj["options"]:  # poc, simulator
        env[f"DFM_FLARE_{option.upper()}"] = "1"
    saved = {
        key: os.environ.get(key) for key in (*env, "DFM_TRANSPORT", "DFM_FLARE_POC", "DFM_FLARE_SIMULATOR")
    }
    os.environ.update(env)
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
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
