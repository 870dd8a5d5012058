"""dfm-cli's hook implementations (entry point ``dfm-cli``): its own commands.

``optionalhook=True`` because this module is loaded in every process that
loads plugins, and only the CLI adds the ``dfm_cli_commands`` spec.
"""

from __future__ import annotations

from collections.abc import Iterator

from dfm.kernel.markers import hookimpl
from dfm.kernel.records import CliCommandEntry


@hookimpl(optionalhook=True)
def dfm_cli_commands() -> Iterator[CliCommandEntry]:
    """dfm-cli's own commands: ``plugins``, ``adapters``, ``fed`` and its subcommands, ``adapter``,
    ``completion``, ...
    """
    yield CliCommandEntry(
        "plugins", "dfm.cli.commands.plugins:plugins", summary="Inspect installed DFM plugins."
    )
    yield CliCommandEntry(
        "adapters",
        "dfm.cli.commands.adapters:adapters",
        summary="List adapters provided by installed plugins.",
    )
    yield CliCommandEntry("fed", "dfm.cli.commands.fed:fed", summary="Work with federations.")
    yield CliCommandEntry(
        "validate", "dfm.cli.commands.fed:validate", summary="Check a federation config file.", parent="fed"
    )
    yield CliCommandEntry(
        "config", "dfm.cli.commands.fed:config", summary="Your list of named federations.", parent="fed"
    )
    yield CliCommandEntry(
        "new", "dfm.cli.commands.fed:new", summary="Create a federation from the template.", parent="fed"
    )
    yield CliCommandEntry(  # a group: plugins mount their generators under "fed gen"
        "gen", "dfm.cli.commands.fed:gen", summary="Generate deployment artifacts.", parent="fed"
    )
    yield CliCommandEntry("adapter", "dfm.cli.commands.adapter:adapter", summary="Create adapter packages.")
    yield CliCommandEntry(
        "completion", "dfm.cli.completion:completion", summary="Shell completion: generate, setup, status."
    )
