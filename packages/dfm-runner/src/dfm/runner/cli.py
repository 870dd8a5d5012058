"""``dfm fed submit``: run a pipeline file or a script against a federation."""

from __future__ import annotations

import functools
import inspect
import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

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

    _valued = ("--target", "--transport", "--timeout", "--kit", "--workspace")
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
@click.option(
    "--kit",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --target flare: the deployment's admin startup kit (a folder with startup/fed_admin.json).",
)
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --target flare: a deployment folder (dfm-flare.json) as 'dfm fed gen provision --out' writes.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=1e9),
    default=None,
    metavar="SECONDS",
    help="Fail if the job (or the script) has not ended after this many seconds.",
)
@click.pass_context
def submit(
    ctx: click.Context,
    federation: str,
    target: str,
    transport: str | None,
    poc: bool,
    simulator: bool,
    kit: Path | None,
    workspace: Path | None,
    timeout: float | None,
) -> None:
    """Run a pipeline file or a script on FEDERATION (a config path or a registered name).

    \b
    dfm fed submit examplefed pipeline demo.py -- Ada
    dfm fed submit examplefed --timeout 60 pipeline demo.py -- Ada
    dfm fed submit examplefed --transport process script app.py -- --verbose
    dfm fed submit examplefed script run.sh -- one two
    dfm fed submit examplefed --target flare --kit kits/admin@examplefed.dfm.local pipeline demo.py

    With --target flare, the deployment is the one --kit, --workspace, --poc or
    --simulator names, else the one registered with
    'dfm fed config set NAME ... --project-path DIR/project.yml'.
    """
    chosen = [
        o
        for o, v in (("--poc", poc), ("--simulator", simulator), ("--kit", kit), ("--workspace", workspace))
        if v
    ]
    if chosen and target != "flare":
        raise click.UsageError(f"{chosen[0]} goes with --target flare")
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} exclude each other")
    options: dict[str, Any] = {}
    if poc:
        options = {"poc": True}
    elif simulator:
        options = {"simulator": True}
    elif kit is not None:
        options = {"kit": str(kit.resolve())}
    elif workspace is not None:
        options = {"workspace": str(workspace.resolve())}
    elif target == "flare":
        project = _registered_project(federation)
        if project is not None:
            options = {"workspace": str(project.parent)}
    ctx.obj = {
        "federation": federation,
        "target": target,
        "transport": transport,
        "options": options,
        "timeout": timeout,
    }


def _registered_project(federation: str) -> Path | None:
    """The FLARE project file registered for ``federation`` (``--project-path``), if any."""
    if Path(federation).is_file():
        return None
    from dfm.kernel.fedlist import read_fedlist

    entry = read_fedlist().get(federation) or {}
    project = entry.get("project_path")
    return Path(project) if project else None


def _open_session(handle: Any, target: str, transport: str | None, options: dict[str, Any]) -> Any:
    """A Session; on FLARE its slow start and stop steps are shown on stderr."""
    from dfm.runner import Session

    if target != "flare":
        return Session(handle, target=target, transport=transport, options=options), None
    from dfm.runner.steps import Steps

    steps = Steps(prefix="flare: ")
    try:
        session = Session(handle, target=target, transport=transport, options={**options, "progress": steps})
    finally:
        steps.close()
    return session, steps


ARGS_NAMES = ("args", "argv")  # a get_pipeline(args) of NVIDIA DFM's form receives ARGS


def _takes_args(fn: Callable[..., Any]) -> bool:
    """Is ``fn``'s first positional parameter named ``args``/``argv`` (NVIDIA DFM's form)?"""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return bool(positional) and positional[0].name in ARGS_NAMES


def _with_args(module: types.ModuleType, args: list[str]) -> types.ModuleType:
    """``module`` as dfm.api.files sees it, its ``get_pipeline(args)`` given ARGS when it takes them."""
    from dfm.api.files import pipeline_file_errors, pipeline_function

    fn = pipeline_function(module)
    path = Path(str(module.__file__))
    with pipeline_file_errors(path, "get_pipeline()"):
        takes_args = _takes_args(fn)
    if not takes_args:
        return module
    with pipeline_file_errors(path):
        parameters = getattr(module, "get_pipeline_parameters", None)
    shim = types.ModuleType(module.__name__)
    shim.__file__ = module.__file__
    shim.get_pipeline = functools.partial(fn, list(args))  # type: ignore[attr-defined]
    shim.get_pipeline_parameters = parameters  # type: ignore[attr-defined]
    return shim


@submit.command("pipeline")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per result.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=1e9),
    default=None,
    metavar="SECONDS",
    help="Fail if the job has not ended after this many seconds (as 'submit --timeout').",
)
@click.pass_obj
def submit_pipeline(
    obj: dict[str, Any], file: Path, args: tuple[str, ...], as_json: bool, timeout: float | None
) -> None:
    """Run FILE's get_pipeline() with get_pipeline_parameters() and print the results.

    get_pipeline() may take the loaded federation, or ARGS (everything after --)
    when its parameter is named args or argv (NVIDIA DFM's form);
    get_pipeline_parameters() may take ARGS (and the federation) and returns one
    parameter set or a list.
    """
    federation, target, transport = obj["federation"], obj["target"], obj["transport"]
    if timeout is None:
        timeout = obj.get("timeout")
    from dfm.api import load_federation
    from dfm.api.files import parameters_from, pipeline_from, run_pipeline_file

    handle = load_federation(federation)
    module = _with_args(run_pipeline_file(file), list(args))
    pipeline = pipeline_from(module, handle)
    params = parameters_from(module, list(args), handle)
    session, steps = _open_session(handle, target, transport, obj["options"])
    with session:
        prepared = session.prepare(pipeline)
        job = session.execute(prepared, params, timeout=timeout)
        # the job fails by itself at the timeout; waiting longer covers a session that stalls
        wait = None if timeout is None else timeout + 30
        with _Progress(job) as progress:
            # One write per batch of arrived results (click.echo per line costs more than the job).
            out = sys.stdout
            try:
                for batch in job.result_batches(timeout=wait):
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
    if steps is not None:
        steps.close()
    click.echo(f"job {job.id} {job.status.value}", err=True)


@submit.command("script")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def submit_script(obj: dict[str, Any], file: Path, args: tuple[str, ...]) -> None:
    """Run FILE with ARGS, the federation in its environment.

    A Python file (.py) runs with this Python; any other file must be executable
    (a shell script, a binary). It sees DFM_FEDERATION_WORKSPACE_PATH (the
    federation directory, else the config's folder), DFM_FEDERATION (the config
    file), DFM_TARGET and DFM_TRANSPORT; a Python script may call
    dfm.runner.Session.from_env().
    """
    from dfm.kernel.fedlist import resolve_federation, workspace_path

    federation, target, transport = obj["federation"], obj["target"], obj["transport"]
    config = resolve_federation(federation)
    command = _script_command(file)
    env = dict(os.environ)
    for key in (
        "DFM_TRANSPORT",
        "DFM_FLARE_POC",
        "DFM_FLARE_SIMULATOR",
        "DFM_FLARE_KIT",
        "DFM_FLARE_WORKSPACE",
    ):
        env.pop(key, None)  # only what this command says
    env.update(
        DFM_FEDERATION=str(config),
        DFM_FEDERATION_WORKSPACE_PATH=str(workspace_path(federation)),
        DFM_TARGET=target,
    )
    if transport:
        env["DFM_TRANSPORT"] = transport
    for option, value in obj["options"].items():  # poc, simulator: "1"; kit, workspace: a folder
        env[f"DFM_FLARE_{option.upper()}"] = "1" if value is True else str(value)
    code = _run_script([*command, *args], env, obj.get("timeout"), file)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        raise DfmError(f"{file} was stopped by {name}")
    if code != 0:
        raise DfmError(f"{file} exited with status {code}")


PYTHON_SUFFIXES = (".py", ".pyw")


def _script_command(file: Path) -> list[str]:
    """How to run ``file``: with this Python if it is a Python file, else as an executable."""
    if not file.exists():
        raise DfmError(f"no such file: {file}")
    if not file.is_file():
        raise DfmError(f"{file}: not a regular file (a script is a Python file or an executable)")
    path = file.resolve()
    if path.suffix.lower() in PYTHON_SUFFIXES:
        return [sys.executable, str(path)]
    if not os.access(path, os.X_OK):
        raise DfmError(f"{file}: not executable; make it executable (chmod +x) or give a Python file (.py)")
    return [str(path)]


def _has_fd(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return False
    return True


def _relay(source: IO[bytes], err: bool) -> None:
    try:
        for line in iter(source.readline, b""):
            click.echo(line.decode(errors="replace"), nl=False, err=err)
    except (OSError, ValueError):  # closed under us: the script ended but a child kept the pipe
        return


def _run_script(command: list[str], env: dict[str, str], timeout: float | None, file: Path) -> int:
    """Run ``command``; its output goes where ours goes. Returns its exit status.

    It runs in a process group of its own, which is stopped as a whole at the timeout
    or on Ctrl-C (a shell script's children too).
    """
    direct = _has_fd(sys.stdout) and _has_fd(sys.stderr)
    pipe = None if direct else subprocess.PIPE
    posix = os.name == "posix"
    try:
        proc = subprocess.Popen(command, env=env, stdout=pipe, stderr=pipe, start_new_session=posix)
    except OSError as exc:  # no interpreter for a shebang, a binary of another machine...
        raise DfmError(f"{file}: cannot run it: {exc.strerror or exc}") from None
    relays = []
    if not direct:
        assert proc.stdout is not None and proc.stderr is not None
        relays = [
            threading.Thread(target=_relay, args=(proc.stdout, False), daemon=True),
            threading.Thread(target=_relay, args=(proc.stderr, True), daemon=True),
        ]
        for thread in relays:
            thread.start()
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc, posix)
        raise DfmError(f"{file} did not end within {timeout:g} s and was stopped") from None
    except KeyboardInterrupt:
        _stop(proc, posix)
        raise
    finally:
        for thread in relays:
            thread.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    return code


def _stop(proc: subprocess.Popen[bytes], group: bool) -> None:
    """Stop ``proc`` (and its process group): SIGTERM, then SIGKILL after 5 s."""
    for sig, wait in ((signal.SIGTERM, 5.0), (getattr(signal, "SIGKILL", signal.SIGTERM), 5.0)):
        try:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
