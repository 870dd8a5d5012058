"""Registries: the records one hook returns, validated, stamped with provenance and indexed by name.

A registry is named by its record type: the record says which hook returns
it (``AdapterEntry.hook == "dfm_adapters"``) and what one is called in
messages (``noun``); the registry's kind is the hook's name without
``dfm_`` (``"adapters"``). Each implementation is called on its own through
pluggy (so tracing and call monitoring see every call) and every problem is
kept, so that one report lists them all; two plugins claiming one name is a
:class:`~dfm.kernel.errors.PluginConflictError` naming every distribution.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

import attrs
import pluggy

from dfm.kernel.errors import PluginConflictError, PluginContractError, PluginError, PluginHookError
from dfm.kernel.plugins.status import one_line
from dfm.kernel.records import (
    AdapterEntry,
    CodecEntry,
    EmitterEntry,
    Entry,
    PlacementStrategyEntry,
    Provenance,
    TransportEntry,
)

__all__ = ["REGISTRIES", "Collection", "gather", "registries"]

E = TypeVar("E", bound=Entry)


def registries(*record_types: type[Entry]) -> dict[str, type[Entry]]:
    """Record types by the kind of registry they make (``{"adapters": AdapterEntry}``)."""
    return {record.registry_kind(): record for record in record_types}


REGISTRIES = registries(AdapterEntry, PlacementStrategyEntry, TransportEntry, EmitterEntry, CodecEntry)
"""The kernel's registry kinds; other distributions add theirs with their specs (``DFM_REGISTRIES``)."""


@attrs.define
class Collection(Generic[E]):
    """What one registry hook returned, with every problem found instead of the first one."""

    entries: dict[str, E]  # valid, unambiguous records by key, sorted
    errors: list[PluginError]  # hooks that raised, invalid records, conflicts
    conflicts: dict[str, list[E]]  # key -> every record claiming it (left out of ``entries``)

    def raise_errors(self) -> None:
        """Raise the problems as one error per category: hook errors, contract, conflicts."""
        for category in (PluginHookError, PluginContractError, PluginConflictError):
            found = [e for e in self.errors if type(e) is category]
            if found:
                if len(found) == 1:
                    raise found[0]
                raise category("\n".join(str(e) for e in found)) from found[0]


def _call_impl(
    manager: pluggy.PluginManager,
    hook_name: str,
    impl: pluggy.HookImpl,
    impls: list[pluggy.HookImpl],
    prov: Provenance,
) -> list[object]:
    """Call one implementation through pluggy and flatten what it returned."""
    others = [i.plugin for i in impls if i is not impl]
    caller = manager.subset_hook_caller(hook_name, others)
    try:
        items: list[object] = []
        for returned in caller():
            if isinstance(returned, (Entry, str, bytes, Mapping)) or not isinstance(returned, Iterable):
                items.append(returned)  # one record, or something wrong that validation reports
            else:
                items.extend(returned)
        return items
    except Exception as exc:
        raise PluginHookError(
            f"{hook_name}() in {prov.distribution} {prov.version} raised "
            f"{type(exc).__name__}: {one_line(str(exc))}"
        ) from exc


def gather(
    manager: pluggy.PluginManager, record_type: type[E], provenance_of: Callable[[str], Provenance]
) -> Collection[E]:
    """Call every implementation of ``record_type``'s hook and keep every problem (never raises for them)."""
    hook_name, noun = record_type.hook, record_type.noun
    caller = getattr(manager.hook, hook_name, None)
    if caller is None:
        return Collection({}, [], {})
    impls = caller.get_hookimpls()
    by_key: dict[str, list[E]] = defaultdict(list)
    errors: list[PluginError] = []
    offenders: list[str] = []
    for impl in impls:
        prov = provenance_of(impl.plugin_name)
        try:
            items = _call_impl(manager, hook_name, impl, impls, prov)
        except PluginHookError as exc:
            errors.append(exc)
            continue
        for item in items:
            if not isinstance(item, record_type):
                hint = " (hooks return records, not dicts)" if isinstance(item, Mapping) else ""
                offenders.append(
                    f"{prov.distribution} {prov.version}: {hook_name}() returned "
                    f"{type(item).__name__}, expected {record_type.__name__}{hint}"
                )
                continue
            problems = item.problems()
            if problems:
                offenders.extend(f"{prov.distribution} {prov.version}: {p}" for p in problems)
                continue
            by_key[item.key].append(attrs.evolve(item, provenance=prov))
    if offenders:
        errors.append(
            PluginContractError(
                f"invalid {noun} records:\n  "
                + "\n  ".join(offenders)
                + "\nplease report this to the plugin's authors"
            )
        )
    conflicts = {key: recs for key, recs in sorted(by_key.items()) if len(recs) > 1}
    for key, recs in conflicts.items():
        sources = ", ".join(sorted(r.source for r in recs))
        errors.append(PluginConflictError(f"{noun} '{key}' provided by: {sources}"))
    entries = {key: recs[0] for key, recs in sorted(by_key.items()) if len(recs) == 1}
    return Collection(entries, errors, conflicts)
