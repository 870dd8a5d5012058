"""Discovery: what each candidate site can serve for each call of a discovery-mode pipeline.

``Session.discover(pipeline)`` sends every candidate site one :class:`~dfm.runner.messages.Discover`
listing the calls it offers; each site runs its adapters' advisors (never a body) and answers
with :class:`~dfm.runner.messages.Advice`. The :class:`Discovery` holds the tree of advice per
(node, site) and helpers to walk it and choose from it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import attrs

from dfm.kernel.advice import (
    AdviceError,
    AdvisedDateRange,
    AdvisedDict,
    AdvisedError,
    AdvisedLiteral,
    AdvisedOneOf,
    AdvisedSubsetOf,
    Okay,
    advice_from_data,
)
from dfm.kernel.config.models import Federation
from dfm.kernel.errors import DfmError
from dfm.kernel.ir import pipeline as irp

__all__ = ["Discovery", "SiteAdvice", "accepts", "discover_calls"]


@attrs.define
class SiteAdvice:
    """One site's advice on one call: per field, or why it cannot serve the call at all."""

    node: str
    site: str
    operation: str
    fields: dict[str, Any] = attrs.Factory(dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """The site can serve the call: no error for it nor for any of its fields."""
        return self.error is None and not any(isinstance(a, AdvisedError) for a in self.fields.values())


def accepts(advice: Any, value: Any) -> bool:
    """Whether ``value`` is valid by ``advice`` (a date range takes a date or a ``(start, end)`` pair)."""
    if isinstance(advice, Okay):
        return True
    if isinstance(advice, AdvisedError):
        return False
    if isinstance(advice, AdvisedOneOf):
        return value in advice.values
    if isinstance(advice, AdvisedSubsetOf):
        return isinstance(value, (list, tuple)) and all(v in advice.values for v in value)
    if isinstance(advice, AdvisedLiteral):
        return bool(value == advice.value)
    if isinstance(advice, AdvisedDateRange):
        ends = list(value) if isinstance(value, (list, tuple)) and len(value) == 2 else [value]
        return all(advice.start <= str(end) <= advice.end for end in ends)
    if isinstance(advice, AdvisedDict):
        return isinstance(value, dict) and all(
            accepts(advice.fields.get(k, Okay()), v) for k, v in value.items()
        )
    return False


def _calls(statements: tuple[Any, ...]) -> Iterator[irp.Call]:
    for statement in statements:
        if isinstance(statement, irp.Call):
            yield statement
        elif isinstance(statement, (irp.ForEach, irp.TryFromCache)):
            yield from _calls(statement.body)
        elif isinstance(statement, irp.If):
            yield from _calls(statement.then)
            yield from _calls(statement.orelse)


def discover_calls(
    federation: Federation, pipeline: irp.PipelineIR
) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]:
    """``(node -> operation, site -> the calls to ask it about)`` for a pipeline.

    A call's candidates are the sites offering its operation (from its provider, if named):
    only the pinned site, or those of ``BestOf(sites=...)``, when the call names them.
    """
    operations: dict[str, str] = {}
    per_site: dict[str, list[dict[str, Any]]] = {}
    for call in _calls(pipeline.statements):
        operations[call.id] = call.operation
        known = {name: v.value for name, v in call.args.items() if isinstance(v, irp.Lit)}
        ask = [name for name, v in call.args.items() if isinstance(v, (irp.Param, irp.Advise))]
        if call.site is not None:
            wanted: list[str] = [call.site] if call.site in federation.sites else []
        else:
            wanted = [s for s in federation.sites if not call.among or s in call.among]
        for site in wanted:
            if federation.interface_entry(site, call.operation, call.provider) is None:
                continue
            per_site.setdefault(site, []).append(
                {
                    "node": call.id,
                    "operation": call.operation,
                    "provider": call.provider,
                    "known": known,
                    "ask": ask,
                }
            )
    return operations, per_site


class Discovery:
    """The advice of a discovery-mode pipeline: per (node, site), the valid values of each field.

    Nodes may be given as node ids or as the ``Node`` objects the pipeline's calls returned.
    """

    def __init__(self, id: str, name: str, operations: dict[str, str], asked: dict[str, list[str]]):
        self.id = id
        self.name = name
        self.operations = operations  # node -> operation
        self.asked = asked  # site -> the nodes it was asked about
        self.tree: dict[str, dict[str, SiteAdvice]] = {node: {} for node in operations}
        self._waiting = set(asked)
        self._done = threading.Event()
        if not self._waiting:
            self._done.set()

    def __repr__(self) -> str:
        answered = len(self.asked) - len(self._waiting)
        return (
            f"<Discovery {self.name!r}: {len(self.tree)} calls, {answered}/{len(self.asked)} sites answered>"
        )

    # -- filled in on the session's loop ---------------------------------------------------

    def _answer(self, site: str, nodes: Any) -> None:
        self._waiting.discard(site)
        for node in self.asked[site]:
            data = nodes.get(node) if isinstance(nodes, dict) else None
            entry = SiteAdvice(node, site, self.operations[node])
            if not isinstance(data, dict) or set(data) != {"fields", "error"}:
                entry.error = f"site '{site}' sent malformed advice"
            elif data["error"] is not None:
                entry.error = str(data["error"])
            elif not isinstance(data["fields"], dict):
                entry.error = f"site '{site}' sent malformed advice"
            else:
                try:
                    entry.fields = {str(f): advice_from_data(a) for f, a in data["fields"].items()}
                except AdviceError as exc:
                    entry.error = f"site '{site}' sent malformed advice: {exc}"
            self.tree[node][site] = entry
        if not self._waiting:
            self._done.set()

    def _give_up(self, site: str, why: str) -> None:
        if site in self._waiting:
            self._answer(site, {node: {"fields": {}, "error": why} for node in self.asked[site]})

    # -- the application's side ---------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every asked site answered (or was given up on); True if so."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        """Whether every asked site answered (or was given up on)."""
        return self._done.is_set()

    @staticmethod
    def _node(node: Any) -> str:
        return node if isinstance(node, str) else str(getattr(node, "id", node))

    def _entry(self, node: Any, site: str) -> SiteAdvice:
        node_id = self._node(node)
        if node_id not in self.tree:
            raise DfmError(f"discovery '{self.name}' has no node '{node_id}' (nodes: {', '.join(self.tree)})")
        entry = self.tree[node_id].get(site)
        if entry is None:
            raise DfmError(
                f"site '{site}' gave no advice on node '{node_id}' "
                f"(sites: {', '.join(self.sites(node_id, only_ok=False)) or 'none'})"
            )
        return entry

    def sites(self, node: Any, only_ok: bool = False) -> list[str]:
        """The sites that answered for ``node`` (``only_ok``: those that can serve it)."""
        entries = self.tree.get(self._node(node), {})
        return sorted(site for site, entry in entries.items() if entry.ok or not only_ok)

    def site_advice(self, node: Any, site: str) -> SiteAdvice:
        """Everything ``site`` said about ``node``."""
        return self._entry(node, site)

    def advice(self, node: Any, site: str, field: str) -> Any:
        """The site's advice on one field.

        ``Okay()`` where it gave none, ``AdvisedError`` when it cannot serve the call at all.
        """
        entry = self._entry(node, site)
        if entry.error is not None:
            return AdvisedError(entry.error)
        return entry.fields.get(field, Okay())

    def values(self, node: Any, site: str, field: str) -> list[Any] | None:
        """The valid values of a field when the advice lists them (one-of, subset-of, literal), else None."""
        advice = self.advice(node, site, field)
        if isinstance(advice, (AdvisedOneOf, AdvisedSubsetOf)):
            return list(advice.values)
        if isinstance(advice, AdvisedLiteral):
            return [advice.value]
        return None

    def walk(self) -> Iterator[tuple[str, str, str | None, Any]]:
        """``(node, site, field, advice)`` for every piece of advice; ``field`` is None for a
        site that gave no advice on a call (``Okay()``) or cannot serve it (``AdvisedError``)."""
        for node, entries in self.tree.items():
            for site in sorted(entries):
                entry = entries[site]
                if entry.error is not None:
                    yield node, site, None, AdvisedError(entry.error)
                elif not entry.fields:
                    yield node, site, None, Okay()
                else:
                    for field, advice in entry.fields.items():
                        yield node, site, field, advice

    def choose(self, node: Any, prefer: str | list[str] | None = None, **wanted: Any) -> str:
        """A site that can serve ``node`` with the ``wanted`` field values: pin it with ``site=``.

        ``prefer``: a site (or sites, in order) to take when it qualifies; otherwise the first
        qualifying site by name. DfmError when none qualifies, saying why for each site.
        """
        node_id = self._node(node)
        if node_id not in self.tree:
            raise DfmError(f"discovery '{self.name}' has no node '{node_id}' (nodes: {', '.join(self.tree)})")
        reasons: dict[str, str] = {}
        good: list[str] = []
        for site in self.sites(node_id):
            entry = self.tree[node_id][site]
            if entry.error is not None:
                reasons[site] = entry.error
                continue
            bad = [f for f, v in wanted.items() if not accepts(entry.fields.get(f, Okay()), v)]
            failed = [f for f, a in entry.fields.items() if isinstance(a, AdvisedError) and f not in wanted]
            if bad or failed:
                reasons[site] = "does not accept " + ", ".join(bad + failed)
            else:
                good.append(site)
        order = [prefer] if isinstance(prefer, str) else list(prefer or [])
        for site in order:
            if site in good:
                return site
        if good:
            return good[0]
        why = "; ".join(f"{s}: {r}" for s, r in reasons.items()) or "no site offers it"
        raise DfmError(f"no site can serve node '{node_id}' ({self.operations[node_id]}) as wanted: {why}")

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The tree as plain data: node -> site -> {"error": ..., "fields": {field: advice}}."""
        return {
            node: {site: {"error": e.error, "fields": dict(e.fields)} for site, e in sorted(entries.items())}
            for node, entries in self.tree.items()
        }
