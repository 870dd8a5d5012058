"""Which sites may run each node: the sites offering its operation, narrowed by its pins."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from dfm.compiler.analysis import stmt_label
from dfm.kernel.config.models import OPERATION_REF_PREFIX, Federation
from dfm.kernel.errors import CompileError
from dfm.kernel.ir import pipeline as ir
from dfm.kernel.suggest import did_you_mean

if TYPE_CHECKING:
    from dfm.compiler.digraph import DataflowGraph

__all__ = ["cache_candidates", "call_candidates", "offer_index", "site_order"]


def site_order(federation: Federation) -> tuple[str, ...]:
    """Sites in tie-break order: the homesite first, then the others by name."""
    home = federation.home()
    return (home, *sorted(s for s in federation.sites if s != home))


def offer_index(federation: Federation, sites: tuple[str, ...]) -> dict[str, list[str]]:
    """operation -> sites offering it, in tie-break order."""
    index: dict[str, list[str]] = {}
    for site in sites:
        for operation in federation.offers(site):
            index.setdefault(operation, []).append(site)
    return index


def _provider_sites(federation: Federation, sites: Iterable[str], operation: str, provider: str) -> list[str]:
    key = OPERATION_REF_PREFIX + operation
    out = []
    for site in sites:
        prov = federation.sites[site].providers.get(provider)
        if prov is not None and key in prov.interface:
            out.append(site)
    return out


def call_candidates(
    federation: Federation, call: ir.Call, sites: tuple[str, ...], offers: dict[str, list[str]]
) -> tuple[str, ...]:
    """The sites that may run ``call`` (tie-break order), or a :class:`CompileError` saying why none.

    ``offers`` is :func:`offer_index`; ``site=``, ``provider=`` and BestOf pins narrow it.
    """
    label = stmt_label(call)
    if call.operation not in federation.operations:
        hint = did_you_mean(call.operation, federation.operations)
        raise CompileError(
            f"node {call.id} calls unknown operation '{call.operation}'"
            + (f"; {hint}" if hint else "")
            + f" (federation {federation.name} has: {', '.join(sorted(federation.operations)) or 'none'})"
        )
    offering = offers.get(call.operation, [])
    considered = ", ".join(sites)
    if not offering:
        raise CompileError(
            f"cannot place {label}: no site offers operation '{call.operation}' "
            f"(sites considered: {considered})"
        )
    candidates = list(offering)
    if call.site is not None and call.site in federation.sites and call.site not in sites:
        raise CompileError(
            f"{label} is pinned to site '{call.site}', outside restrict_to_sites ({considered})"
        )
    if call.among:
        unknown = [s for s in call.among if s not in federation.sites]
        if unknown:
            hint = did_you_mean(unknown[0], federation.sites)
            raise CompileError(
                f"{label}: BestOf names unknown site '{unknown[0]}'" + (f"; {hint}" if hint else "")
            )
        candidates = [s for s in candidates if s in call.among]
        if not candidates:
            raise CompileError(
                f"cannot place {label}: none of the BestOf sites ({', '.join(call.among)}) offers "
                f"'{call.operation}' (sites offering it: {', '.join(offering)})"
            )
    if call.site is not None:
        if call.site not in federation.sites:
            hint = did_you_mean(call.site, federation.sites)
            raise CompileError(
                f"{label} is pinned to unknown site '{call.site}'"
                + (f"; {hint}" if hint else "")
                + f" (sites: {considered})"
            )
        if call.site not in candidates and call.site in offering:
            raise CompileError(
                f"{label} is pinned to site '{call.site}', which is not among its BestOf sites "
                f"({', '.join(call.among)})"
            )
        if call.site not in offering:
            raise CompileError(
                f"{label} is pinned to site '{call.site}', which does not offer '{call.operation}' "
                f"(sites offering it: {', '.join(offering)})"
            )
        candidates = [call.site]
    if call.provider is not None:
        with_provider = _provider_sites(federation, candidates, call.operation, call.provider)
        if not with_provider:
            providers = sorted(
                {
                    name
                    for site in offering
                    for name, prov in federation.sites[site].providers.items()
                    if OPERATION_REF_PREFIX + call.operation in prov.interface
                }
            )
            hint = did_you_mean(call.provider, providers)
            where = f"site '{call.site}'" if call.site is not None else "any site"
            raise CompileError(
                f"{label} is pinned to provider '{call.provider}', which does not offer "
                f"'{call.operation}' at {where}"
                + (f"; {hint}" if hint else "")
                + f" (sites considered: {', '.join(candidates)}; providers offering it: "
                + (", ".join(providers) or "none")
                + ")"
            )
        candidates = with_provider
    return tuple(candidates)


def cache_candidates(
    fed: Federation,
    block: ir.TryFromCache,
    cache_sites: tuple[str, ...],
    resident: tuple[str, ...],
    graph: DataflowGraph,
) -> tuple[str, ...]:
    """The sites a TryFromCache (lookup, body and result) may run at; a one-line error when none.

    A site qualifies if it has a ``cache_config``, offers every operation of the body (within
    its pins; ``graph`` holds the body's candidates), and, when the value is resident there,
    shares its cache with no other site.
    """
    label = stmt_label(block)
    considered = ", ".join(graph.graph["sites"])
    if not cache_sites:
        raise CompileError(
            f"{label}: no site has a cache_config (sites: {considered}); give the site that "
            "should run its body a cache_config"
        )
    allowed = list(cache_sites)
    for stmt in block.body:
        candidates = graph.nodes[stmt.id]["candidates"]
        kept = [s for s in allowed if s in candidates]
        if not kept:
            where = f"site '{candidates[0]}'" if len(candidates) == 1 else "sites " + ", ".join(candidates)
            raise CompileError(
                f"{label}: {stmt_label(stmt)} can run only at {where}, which has no cache_config "
                f"(sites with one: {', '.join(cache_sites)})"
                if not set(candidates) & set(cache_sites)
                else f"{label}: no site with a cache_config offers every operation of its body "
                f"(sites with one: {', '.join(cache_sites)})"
            )
        allowed = kept
    from dfm.kernel.cachelocation import sharing_sites

    private = [s for s in allowed if s not in resident or not sharing_sites(fed, s)]
    if not private:
        site = allowed[0]
        raise CompileError(
            f"{label}: the value it caches is resident at '{site}', whose cache_config is shared with "
            f"{', '.join(sharing_sites(fed, site))}; give '{site}' a cache folder of its own"
        )
    return tuple(private)
