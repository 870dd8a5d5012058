"""``dfm cache list|clear``: a site admin's view of the pipeline cache (``TryFromCache``).

Each site's cache is the one its ``cache_config`` names in the federation config,
opened as the site opens it (local paths relative to the config's folder, confined
to it). Run it where the site runs: on a FLARE deployment, on the site's machine.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from dfm.kernel.errors import DfmError

__all__ = ["cache"]


def _caches(federation: str, site: str | None) -> list[tuple[str, Any]]:
    """``(site, SiteCache)`` for ``site``, or for every site with a cache_config."""
    from dfm.api import load_federation
    from dfm.kernel.codecs.safe import SafeCodec
    from dfm.kernel.context import SiteContext
    from dfm.kernel.suggest import did_you_mean
    from dfm.runner.cache import SiteCache

    handle = load_federation(federation)
    config = handle.config
    if site is not None and site not in config.sites:
        hint = did_you_mean(site, config.sites)
        raise DfmError(f"federation {config.name} has no site '{site}'" + (f"; {hint}" if hint else ""))
    names = [site] if site is not None else sorted(config.sites)
    with_cache = [n for n in names if config.sites[n].cache_config is not None]
    if site is not None and not with_cache:
        raise DfmError(f"site '{site}' of federation {config.name} has no cache_config")
    base = Path(handle.path).parent
    out = []
    for name in with_cache:
        spec = config.sites[name]
        context = SiteContext(
            name, config.name, dict(spec.config), config.home() == name, base, cache_config=spec.cache_config
        )
        out.append((name, SiteCache(context, SafeCodec(allow_pickle=False))))
    return out


@click.group("cache")
def cache() -> None:
    """List or clear the sites' pipeline caches (TryFromCache entries)."""


@cache.command("list")
@click.argument("federation")
@click.option("--site", help="Only this site (default: every site with a cache_config).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of entries.")
def list_entries(federation: str, site: str | None, as_json: bool) -> None:
    """List the cache entries of FEDERATION's sites (a config path or a registered name).

    \b
    dfm cache list examplefed
    dfm cache list examplefed --site alpha --json
    """
    rows = []
    for name, site_cache in _caches(federation, site):
        for entry in site_cache.entries():
            rows.append(
                {
                    "site": name,
                    "key": entry.key,
                    "digest": entry.digest,
                    "size": entry.size,
                    "created": entry.created,
                    "resident": entry.resident,
                }
            )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no cache entries")
        return
    for row in rows:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created"]))
        resident = "  resident" if row["resident"] else ""
        click.echo(
            f"{row['site']}  {row['digest'][:16]}  {row['size']:>10} B  {created}  "
            f"{json.dumps(row['key'], ensure_ascii=False)}{resident}"
        )


@cache.command("clear")
@click.argument("federation")
@click.option("--site", help="Only this site (default: every site with a cache_config).")
@click.option("--key", help="Only the entries of this TryFromCache key.")
@click.option("--json", "as_json", is_flag=True, help="Print the count removed per site as JSON.")
def clear_entries(federation: str, site: str | None, key: str | None, as_json: bool) -> None:
    """Remove cache entries of FEDERATION's sites (all, or those of --key).

    \b
    dfm cache clear examplefed --site alpha
    dfm cache clear examplefed --key render
    """
    removed = {name: site_cache.clear(key) for name, site_cache in _caches(federation, site)}
    if as_json:
        click.echo(json.dumps(removed))
        return
    for name, count in removed.items():
        click.echo(f"{name}: removed {count} entr{'y' if count == 1 else 'ies'}")
