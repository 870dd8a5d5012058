"""The ``dfm`` command line.

The root group lists commands contributed through the ``dfm_cli_commands``
hook (see :mod:`dfm.cli.hookspecs`) and imports a command only when it is
invoked. Plugins return :class:`~dfm.cli.records.CliCommandEntry` records;
a plugin group that wants its own subcommands contributed by other plugins
(``parent="mygroup"``) uses ``click.group(cls=dfm.cli.group.DfmGroup)``.

This module stays cheap to import (no click): plugin modules import
:mod:`dfm.cli.records` from processes that never run the CLI.
"""

from dfm.cli.records import CliCommandEntry

__all__ = ["CliCommandEntry"]
