"""Shell completion: click's own (``_DFM_COMPLETE=bash_source dfm``) plus what DFM can complete.

``dfm completion generate|setup|status`` prints, installs and checks the script;
:func:`complete_federation` completes a federation argument with the names in
the registry (``dfm fed config list``) and with files; plugins may use it for
their own federation arguments (``shell_complete=complete_federation``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from click.shell_completion import CompletionItem, get_completion_class

__all__ = ["COMPLETE_VAR", "SHELLS", "complete_federation", "completion"]

COMPLETE_VAR = "_DFM_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
_RC = {"bash": "~/.bashrc", "zsh": "~/.zshrc"}
_MARK = "# dfm shell completion"


def complete_federation(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Registered federation names starting with ``incomplete``, then files."""
    try:
        from dfm.kernel.fedlist import list_federations

        names = [name for name in list_federations() if name.startswith(incomplete)]
    except Exception:  # a broken federations.yaml must not break the shell
        names = []
    return [CompletionItem(name, help="registered federation") for name in names] + [
        CompletionItem(incomplete, type="file")
    ]


def _shell(shell: str | None) -> str:
    if shell:
        return shell
    found = Path(os.environ.get("SHELL", "bash")).name
    if found not in SHELLS:
        raise click.UsageError(
            f"cannot tell your shell from SHELL={found!r}; pass --shell ({'|'.join(SHELLS)})"
        )
    return found


def _script(shell: str) -> str:
    from dfm.cli.main import cli

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - SHELLS are click's built-in ones
        raise click.UsageError(f"no completion for {shell}")
    return cls(cli, {}, "dfm", COMPLETE_VAR).source()


def _rc_file(shell: str) -> Path:
    if shell == "fish":
        config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        return config / "fish" / "completions" / "dfm.fish"
    return Path(_RC[shell]).expanduser()


def _line(shell: str) -> str:
    return f'eval "$({COMPLETE_VAR}={shell}_source dfm)"  {_MARK}'


_shell_option = click.option("--shell", type=click.Choice(SHELLS), help="The shell [default: from $SHELL].")


@click.group("completion")
def completion() -> None:
    """Shell completion of commands, options, federation names and files.

    Without this group: eval "$(_DFM_COMPLETE=bash_source dfm)" (zsh_source, fish_source).
    """


@completion.command("generate")
@_shell_option
def generate(shell: str | None) -> None:
    """Print the completion script for a shell."""
    click.echo(_script(_shell(shell)))


@completion.command("setup")
@_shell_option
def setup(shell: str | None) -> None:
    """Enable completion in new shells (a line in ~/.bashrc or ~/.zshrc; a file for fish)."""
    shell = _shell(shell)
    target = _rc_file(shell)
    target.parent.mkdir(parents=True, exist_ok=True)
    if shell == "fish":
        target.write_text(_script(shell) + "\n")
    else:
        text = target.read_text() if target.is_file() else ""
        if _MARK not in text:
            with target.open("a") as rc:
                rc.write(("" if not text or text.endswith("\n") else "\n") + _line(shell) + "\n")
    click.echo(f"{shell} completion enabled in {target}; start a new shell")


@completion.command("status")
@_shell_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def status(shell: str | None, as_json: bool) -> None:
    """Say whether completion is set up for a shell."""
    shell = _shell(shell)
    target = _rc_file(shell)
    enabled = target.is_file() and (shell == "fish" or _MARK in target.read_text())
    if as_json:
        click.echo(json.dumps({"shell": shell, "enabled": enabled, "file": str(target)}, indent=2))
        return
    state = "enabled" if enabled else "not set up (run 'dfm completion setup')"
    click.echo(f"{shell}: {state} ({target})")
