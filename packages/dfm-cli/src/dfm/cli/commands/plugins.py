"""``dfm plugins``: what is installed, what each plugin contributes, and its status."""

from __future__ import annotations

import json

import click

from dfm.cli.group import DfmGroup, cli_manager, echo_rows
from dfm.kernel.plugins import iter_infos


@click.group("plugins", cls=DfmGroup)
def plugins() -> None:
    """Inspect installed DFM plugins (entry points of the dfm.plugins group)."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--requirements",
    is_flag=True,
    help="Print 'name==version' of every active plugin distribution (a pip requirements file).",
)
def list_plugins(as_json: bool, requirements: bool) -> None:
    """List plugins: distribution, version, entry point, status and contributions."""
    manager = cli_manager()
    if requirements:
        lines = manager.requirements()
        click.echo(json.dumps(lines, indent=2) if as_json else "\n".join(lines))
        return
    contributions = manager.contributions()
    kinds = sorted(manager.registries)
    infos = list(iter_infos(manager))
    contributed = {
        info.plugin_name: {
            kind: contributions.get(info.distribution, {}).get(kind, []) if info.status == "active" else []
            for kind in kinds
        }
        for info in infos
    }
    if as_json:
        items = [
            {
                "distribution": info.distribution,
                "version": info.version,
                "entry_point": info.entry_point,
                "name": info.plugin_name,
                "status": info.status,
                "error": info.error,
                "contributions": contributed[info.plugin_name],
            }
            for info in infos
        ]
        click.echo(json.dumps(items, indent=2))
        return
    rows = []
    for info in infos:
        summary = "; ".join(
            f"{kind}: {', '.join(names)}" for kind, names in contributed[info.plugin_name].items() if names
        )
        rows.append([info.plugin_name, info.version, info.entry_point, info.status, summary or "-"])
    echo_rows(["PLUGIN", "VERSION", "ENTRY POINT", "STATUS", "CONTRIBUTES"], rows)
    problems = [info for info in infos if info.status != "active"]
    if problems:
        click.echo("")
        for info in problems:
            click.echo(info.message)
