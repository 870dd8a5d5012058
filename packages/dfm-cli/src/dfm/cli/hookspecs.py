"""Hooks added by dfm-cli: the only place CLI hooks are declared.

Registered on the plugin manager by the CLI when it starts. Plugins that
implement them may be installed where dfm-cli is not (a FLARE site), so their
implementations must be marked ``@hookimpl(optionalhook=True)``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from dfm.kernel.records import CliCommandEntry

_spec = pluggy.HookspecMarker("dfm")

DFM_REGISTRIES = (CliCommandEntry,)
"""Registry kinds the manager learns when it adds these specs (``manager.registry("cli_commands")``)."""


@_spec
def dfm_cli_commands() -> CliCommandEntry | Iterable[CliCommandEntry]:  # type: ignore[empty-body]
    """Commands and groups to mount under ``dfm``.

    **Returns** one :class:`~dfm.kernel.records.CliCommandEntry` or an iterable of them.
    The target resolves to a :class:`click.Command` (or group), imported only when
    that command is invoked, so ``dfm --help`` stays cheap.

    **When called**: once per CLI invocation, when the root group lists or looks
    up its commands.

    **Names and conflicts**: the name is the subcommand (``pipeline``, ``poc``),
    ``[a-z][a-z0-9-]*``; ``parent`` mounts the command inside a group: ``"fed"``
    for ``dfm fed <name>``, ``"fed gen"`` for a generator under ``dfm fed gen``
    (dfm-flare's ``provision`` is one), or the path of a group another plugin
    contributes (declared with ``click.group(cls=dfm.cli.group.DfmGroup)`` to
    accept contributed subcommands). Commands are unique by their full path, so
    ``dfm validate`` and ``dfm fed validate`` do not conflict; two plugins
    claiming the same path is an error naming both.

    Implement it with ``@hookimpl(optionalhook=True)`` and import
    ``CliCommandEntry`` inside the function when dfm-cli is optional for your
    distribution.

    **Example**::

        from dfm.kernel import hookimpl
        from dfm.kernel.records import CliCommandEntry

        @hookimpl(optionalhook=True)
        def dfm_cli_commands():
            yield CliCommandEntry("pipeline", "dfm.compiler.cli:pipeline", summary="Inspect pipelines.")

    Implemented in ``dfm.cli.plugin`` (``plugins``, ``adapters``, ``fed``, ``fed validate``,
    ``fed config``...), ``dfm.runner.plugin`` (``fed submit``), ``dfm.compiler.plugin``
    (``pipeline``) and ``dfm.flare.plugin`` (``poc``, ``fed gen provision``).

    .. versionadded:: 0.1
    """
