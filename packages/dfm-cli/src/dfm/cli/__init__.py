"""The ``dfm`` command line.

The root group lists commands contributed through the ``dfm_cli_commands``
hook (see :mod:`dfm.cli.hookspecs`) and imports a command only when it is
invoked. Plugins return :class:`~dfm.cli.records.CliCommandEntry` records;
a plugin group that wants its own subcommands contributed by other plugins
(``parent="mygroup"``) uses ``click.group(cls=dfm.cli.group.DfmGroup)``.

This module stays cheap to import (no click, no attrs): plugin modules import
:mod:`dfm.cli.records` from processes that never run the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dfm.cli.records import CliCommandEntry

__all__ = ["CliCommandEntry"]


def __getattr__(name: str) -> Any:
    if name == "CliCommandEntry":  # imported on use: `dfm --help` must not import the kernel's records
        from dfm.cli.records import CliCommandEntry

        return CliCommandEntry
    raise AttributeError(f"module 'dfm.cli' has no attribute '{name}'")
