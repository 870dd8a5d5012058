"""Hooks added by dfm-cli: the only place CLI hooks are declared.

Registered on the plugin manager by the CLI when it starts. Plugins that
implement them may be installed where dfm-cli is not (a FLARE site), so their
implementations must be marked ``@hookimpl(optionalhook=True)``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from dfm.kernel.plugins import Registry
from dfm.kernel.records import CliCommandEntry

_spec = pluggy.HookspecMarker("dfm")

DFM_REGISTRIES = (Registry("cli_commands", "dfm_cli_commands", CliCommandEntry, "cli command"),)
"""Registry kinds the manager learns when it adds these specs (``manager.registry("cli_commands")``)."""


@_spec
def dfm_cli_commands() -> CliCommandEntry | Iterable[CliCommandEntry]:  # type: ignore[empty-body]
    """Commands and groups to mount under ``dfm``.

    **Returns** one :class:`~dfm.kernel.records.CliCommandEntry` or an iterable of them.
    The target resolves to a :class:`click.Command` (or group), imported only when
    that command is invoked, so ``dfm --help`` stays cheap.

    **When called**: once per CLI invocation, when the root group lists or looks
    up its commands.

    **Names and conflicts**: the name is the subcommand (``pipeline``, ``poc``);
    a ``parent`` mounts the command inside an existing group (``fed``). Two
    plugins claiming the same (parent, name) is an error naming both.

    **Example**::

        from dfm.kernel import hookimpl
        from dfm.kernel.records import CliCommandEntry

        @hookimpl(optionalhook=True)
        def dfm_cli_commands():
            yield CliCommandEntry("pipeline", "dfm.compiler.cli:pipeline", summary="Inspect pipelines.")

    .. versionadded:: 0.1
    """
