"""``dfm adapters``: adapters offered by installed plugins, by registry name."""

from __future__ import annotations

import json

import click

from dfm.cli.group import DfmGroup, cli_manager, echo_rows


@click.group("adapters", cls=DfmGroup)
def adapters() -> None:
    """Adapters provided by installed plugins (usable as 'adapter:' in a federation config)."""


@adapters.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_adapters(as_json: bool) -> None:
    """List adapters: registry name, distribution and summary."""
    registry = cli_manager().registry("adapters")
    if as_json:
        items = [
            {
                "name": name,
                "distribution": entry.provenance.distribution if entry.provenance else None,
                "version": entry.provenance.version if entry.provenance else None,
                "summary": entry.summary,
            }
            for name, entry in registry.items()
        ]
        click.echo(json.dumps(items, indent=2))
        return
    if not registry:
        click.echo("no adapters installed (adapter plugins are distributions named dfm-adapter-*)")
        return
    echo_rows(
        ["NAME", "DISTRIBUTION", "SUMMARY"],
        [[name, entry.source, entry.summary] for name, entry in registry.items()],
    )
