"""The ``dfm`` root command: lazy plugin subcommands, global flags and error policy.

Exit codes: 0 ok; 1 a user error (any :class:`~dfm.kernel.errors.DfmError`:
its message only, on stderr) or an unexpected exception of any kind, even a
``BaseException`` subclass (one line); 2 a usage error; 130 an interrupt
(``KeyboardInterrupt``: one line). ``--verbose`` adds tracebacks. This is the
one error handler of every command; what a pipeline file does wrong is turned
into a :class:`~dfm.kernel.errors.PipelineFileError` by :mod:`dfm.api.files`.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from dfm.cli.group import DfmGroup, reset_command_table

__all__ = ["cli", "main"]


def _versions() -> list[tuple[str, str]]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("dfm-cli", "dfm-kernel"):
        try:
            out.append((dist, version(dist)))
        except PackageNotFoundError:
            out.append((dist, "not installed"))
    return out


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    for dist, dist_version in _versions():
        click.echo(f"{dist} {dist_version}")
    click.echo(f"Python {sys.version.split()[0]}")
    ctx.exit(0)


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    ctx.meta["dfm.verbose"] = value
    root = ctx.find_root().command
    if isinstance(root, DfmCli):
        root.verbose = value
    return value


class DfmCli(DfmGroup):
    """The root group: applies the error policy around click's own handling."""

    verbose = False

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; Ctrl-C prints ``dfm: interrupted`` (the traceback under ``--verbose``) and
        exits with status 130.
        """
        # Handled here, inside click's own handling, which would print a blank line and "Aborted!".
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            from dfm.kernel.errors import exception_text

            if self.verbose:
                click.echo(traceback.format_exc().rstrip(), err=True)
            where = exception_text(exc)
            click.echo(f"dfm: interrupted{' (' + where + ')' if where else ''}", err=True)
            ctx.exit(130)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run ``dfm`` with ``args`` (default: ``sys.argv[1:]``).

        In standalone mode a ``DfmError`` prints its message and any other error one line (the
        traceback under ``--verbose``), exiting with status 1; ``dfm``, ``dfm --help`` and
        ``dfm -h`` may be served from the cached command listing.
        """
        argv = sys.argv[1:] if args is None else list(args)
        # `dfm`, `dfm --help`, `dfm -h` only list commands: a cached listing may serve them
        reset_command_table(help_only=argv in ([], ["--help"], ["-h"]))
        self.verbose = False
        prog_name = prog_name or "dfm"
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # Exception, and GeneratorExit or any other BaseException subclass
            # dfm.kernel.errors is imported here, not at start-up (dfm --help must not import attrs)
            from dfm.kernel.errors import DfmError, describe_exception

            if isinstance(exc, DfmError):
                if self.verbose:
                    click.echo(traceback.format_exc().rstrip(), err=True)
                click.echo(str(exc), err=True)
                sys.exit(1)
            if self.verbose:
                click.echo(traceback.format_exc().rstrip(), err=True)
            hint = "" if self.verbose else " (run 'dfm --verbose ...' for the traceback)"
            click.echo(f"dfm: unexpected error: {describe_exception(exc)}{hint}", err=True)
            sys.exit(1)


@click.group(
    "dfm",
    cls=DfmCli,
    mount_path="",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_verbose,
    help="Show tracebacks for errors.",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the versions of dfm-cli and dfm-kernel and exit.",
)
def cli() -> None:
    """DFM, the Data Federation Mesh: run pipelines across the sites of a federation.

    Commands come from installed plugins (the dfm.plugins entry points);
    'dfm plugins list' shows them.
    """


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="dfm")
    sys.exit(0)  # pragma: no cover - click always exits in standalone mode
