"""Pipeline IR -> dataflow graph: one node per thing that runs somewhere.

Node kinds (the ``kind`` attribute):

``call``     an operation call (:class:`~dfm.kernel.ir.pipeline.Call`); candidates are
             the sites whose interface offers the operation, narrowed by ``site=`` /
             ``provider=`` pins.
``yield``    a :class:`~dfm.kernel.ir.pipeline.Yield`; fixed to the homesite.
``scatter``  a :class:`~dfm.kernel.ir.pipeline.ForEach` (its id); runs on the site of the
             node producing the collection (``colocate``), any site for a parameter.
``item``     the loop variable of a ForEach (its ``var`` id); same site as the scatter.
``branch``   an :class:`~dfm.kernel.ir.pipeline.If` (its id): evaluates the condition; any site.
``cache``    a :class:`~dfm.kernel.ir.pipeline.TryFromCache` (its id): the cache lookup, on a
             site with a ``cache_config``; it reads the block's inputs (the values its body
             reads from outside it), and its body runs in its miss branch, on its site.
``cached``   the result of a TryFromCache (its ``out`` id): the cached or computed value,
             on the cache's site, resident wherever the value cached is.

Edges (the ``kind`` attribute) carry ``bytes``, the estimated payload crossing them:
``data`` (a value read by its consumer: the producer operation's ``estimated-size``, or
in the time model its ``compute_cost`` size estimate, see :mod:`dfm.compiler.costs`),
``item`` (scatter -> loop item), ``after`` (a ``dfm_after`` dependency: a small constant for
the completion signal) and ``control`` (ForEach/If -> each statement directly
inside it: a small constant for the control token). Parameters and literals add no
edge: parameter values are delivered to every site that needs them at job start.

The graph also records, per node, its scope (enclosing loops and branches, outermost
first, as :mod:`dfm.kernel.ir.net` scope items), its canonical index (recording order,
which is a topological order) and a human label used in every message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from dfm.compiler.costs import MAX_BYTES, compute_time, output_size, uses_time_model
from dfm.compiler.digraph import DataflowGraph
from dfm.kernel.config.models import OPERATION_REF_PREFIX, Federation
from dfm.kernel.errors import CompileError
from dfm.kernel.ir import pipeline as ir
from dfm.kernel.ir.net import BranchScope, LoopScope, Scope
from dfm.kernel.suggest import did_you_mean

if TYPE_CHECKING:
    from dfm.api.federation import FederationHandle  # type: ignore[import-untyped]
    from dfm.api.pipeline import Pipeline  # type: ignore[import-untyped]

__all__ = [
    "CONTROL_BYTES",
    "PARAM_ITEM_BYTES",
    "AnalyzedNode",
    "analyze",
    "as_federation",
    "as_pipeline_ir",
    "build_graph",
    "site_order",
]

CONTROL_BYTES = 16  # a control token: loop item count or taken branch
PARAM_ITEM_BYTES = 64  # an item of a collection supplied as a parameter (size unknown)

NodeKind = str  # "call" | "yield" | "scatter" | "item" | "branch" | "cache" | "cached"


def as_federation(federation: Federation | FederationHandle) -> Federation:
    """Accept a :class:`Federation` config or a ``dfm.api`` federation handle."""
    if isinstance(federation, Federation):
        return federation
    config = getattr(federation, "config", None)
    if isinstance(config, Federation):
        return config
    raise TypeError(f"expected a Federation or a loaded federation handle, got {type(federation).__name__}")


def as_pipeline_ir(pipeline: ir.PipelineIR | Pipeline) -> ir.PipelineIR:
    """Accept a :class:`PipelineIR` or a recorded ``dfm.api.Pipeline``."""
    if isinstance(pipeline, ir.PipelineIR):
        return pipeline
    recorded = getattr(pipeline, "ir", None)
    if isinstance(recorded, ir.PipelineIR):
        return recorded
    raise TypeError(f"expected a PipelineIR or a recorded Pipeline, got {type(pipeline).__name__}")


def site_order(federation: Federation) -> tuple[str, ...]:
    """Sites in tie-break order: the homesite first, then the others by name."""
    home = federation.home()
    return (home, *sorted(s for s in federation.sites if s != home))


@attrs.frozen
class AnalyzedNode:
    """One graph node as found by :func:`analyze` (before any federation is involved)."""

    id: str
    kind: NodeKind
    stmt: ir.Statement
    scope: Scope  # enclosing loops/branches, outermost first
    parent: str | None  # innermost enclosing ForEach/If id (source of its control edge)
    refs: tuple[str, ...]  # value nodes it reads, in order, without repeats
    params: tuple[str, ...]  # parameters it reads, in order, without repeats
    after: tuple[str, ...] = ()  # value nodes it must run after, without reading them (dfm_after)


def _stmt_label(stmt: ir.Statement) -> str:
    if isinstance(stmt, ir.Call):
        return f"{stmt.id} ({stmt.operation})"
    if isinstance(stmt, ir.Yield):
        return f"{stmt.id} (Yield '{stmt.place}')"
    if isinstance(stmt, ir.ForEach):
        return f"{stmt.id} (ForEach)"
    if isinstance(stmt, ir.TryFromCache):
        return f"{stmt.id} (TryFromCache {stmt.key!r:.60})"
    return f"{stmt.id} (If)"


def node_label(node: AnalyzedNode) -> str:
    """A node's label in messages: its id and what it is (``n3 (stats.Add)``, ``n5 (item of ForEach n4)``)."""
    if node.kind == "item":
        assert isinstance(node.stmt, ir.ForEach)
        return f"{node.id} (item of ForEach {node.stmt.id})"
    if node.kind == "cached":
        assert isinstance(node.stmt, ir.TryFromCache)
        return f"{node.id} (value of TryFromCache {node.stmt.id})"
    return _stmt_label(node.stmt)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _reads(stmt: ir.Statement) -> list[ir.Value]:
    if isinstance(stmt, ir.Call):
        return list(stmt.args.values())
    if isinstance(stmt, ir.Yield):
        return [stmt.value]
    if isinstance(stmt, ir.ForEach):
        return [stmt.over]
    if isinstance(stmt, ir.TryFromCache):  # the lookup reads the block's inputs
        return cache_inputs(stmt)
    return ir.cond_values(stmt.cond)


def cache_inputs(block: ir.TryFromCache) -> list[ir.Value]:
    """The values a TryFromCache body reads from outside it (parameters and references to earlier
    nodes), in first-read order without repeats: what a cache entry is keyed by, with the key."""
    inside = {stmt.id for stmt in block.body}
    out: list[ir.Value] = []
    for stmt in block.body:
        for value in _reads(stmt):
            external = isinstance(value, ir.Param) or (isinstance(value, ir.Ref) and value.node not in inside)
            if external and value not in out:
                out.append(value)
    return out


def _describe_scope(item: LoopScope | BranchScope) -> str:
    if isinstance(item, LoopScope):
        return f"ForEach {item.loop}"
    return f"the {'then' if item.branch else 'else'} branch of If {item.cond} (or TryFromCache body)"


def analyze(pipeline: ir.PipelineIR) -> list[AnalyzedNode]:
    """Flatten a pipeline into nodes in canonical (recording, topological) order.

    Checks what :mod:`dfm.api` already guarantees but a pipeline loaded from JSON
    may break: unique ids, references to earlier value nodes only, and no use of a
    value outside the ForEach/If block that produced it. Raises :class:`CompileError`.
    """
    all_ids: dict[str, str] = {}  # id -> label, to tell forward references from unknown ones

    def claim(node_id: str, label: str) -> None:
        problem = ir.node_id_problem(node_id)
        if problem is not None:
            raise CompileError(f"pipeline '{pipeline.name}': {problem}")
        if node_id in all_ids:
            raise CompileError(
                f"pipeline '{pipeline.name}': node id '{node_id}' is used twice ({all_ids[node_id]})"
            )
        all_ids[node_id] = label

    def collect(stmts: tuple[ir.Statement, ...]) -> None:
        for stmt in stmts:
            claim(stmt.id, _stmt_label(stmt))
            if isinstance(stmt, ir.ForEach):
                claim(stmt.var, f"{stmt.var} (item of ForEach {stmt.id})")
                collect(stmt.body)
            elif isinstance(stmt, ir.If):
                collect(stmt.then)
                collect(stmt.orelse)
            elif isinstance(stmt, ir.TryFromCache):
                collect(stmt.body)
                claim(stmt.out, f"{stmt.out} (value of TryFromCache {stmt.id})")

    collect(pipeline.statements)

    declared_params = set(pipeline.params)
    out: list[AnalyzedNode] = []
    values: dict[str, AnalyzedNode] = {}  # value-producing nodes seen so far: calls and items
    seen: dict[str, AnalyzedNode] = {}

    def check_reads(
        stmt: ir.Statement, scope: Scope, reads: list[ir.Value] | None = None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        label = _stmt_label(stmt)
        reads = _reads(stmt) if reads is None else reads
        refs: list[str] = []
        params: list[str] = []
        for value in reads:
            if isinstance(value, ir.Param):
                if value.name not in declared_params:
                    raise CompileError(
                        f"{label} reads parameter '{value.name}', which the pipeline does not declare "
                        f"(declared: {', '.join(pipeline.params) or 'none'})"
                    )
                params.append(value.name)
                continue
            if isinstance(value, ir.Advise):
                raise CompileError(
                    f"{label} asks for advice (Advise()), which only a discovery pipeline gives; "
                    "pass a value, or use Pipeline(mode='discovery')"
                )
            if not isinstance(value, ir.Ref):
                continue
            if isinstance(value, ir.Select):
                problem = ir.path_problem(value.path)
                if problem is not None:
                    raise CompileError(f"{label} reads {value.node} with a bad selector: {problem}")
            target = value.node
            if target not in all_ids:
                hint = did_you_mean(target, all_ids)
                raise CompileError(
                    f"{label} references unknown node '{target}'" + (f"; {hint}" if hint else "")
                )
            producer = values.get(target)
            if producer is None:
                if target in seen:
                    raise CompileError(
                        f"{label} references {all_ids[target]}, which produces no value "
                        "(only operation calls and ForEach items do)"
                    )
                raise CompileError(f"{label} references {all_ids[target]}, which is not defined before it")
            if scope[: len(producer.scope)] != producer.scope:
                block = next(s for i, s in enumerate(producer.scope) if i >= len(scope) or scope[i] != s)
                raise CompileError(
                    f"{label} uses {node_label(producer)}, which is produced inside "
                    f"{_describe_scope(block)} and cannot be used outside it"
                )
            refs.append(target)
        return _unique(refs), _unique(params)

    def visit(stmts: tuple[ir.Statement, ...], scope: Scope, parent: str | None) -> None:
        for stmt in stmts:
            refs, params = check_reads(stmt, scope)
            if isinstance(stmt, ir.Call):
                if stmt.advise_site:
                    raise CompileError(
                        f"{_stmt_label(stmt)} asks for advice on its site (site=Advise()), which only "
                        "a discovery pipeline gives; name a site, BestOf(...) or nothing"
                    )
                after, _ = check_reads(stmt, scope, [ir.Ref(a) for a in stmt.after])
                node = AnalyzedNode(stmt.id, "call", stmt, scope, parent, refs, params, after)
                values[stmt.id] = node
            elif isinstance(stmt, ir.Yield):
                if isinstance(stmt.value, (ir.Lit, ir.PickledLit, ir.Advise)):
                    raise CompileError(
                        f"{_stmt_label(stmt)} yields a literal; yield an operation result, "
                        "a ForEach item or a PlaceParam"
                    )
                node = AnalyzedNode(stmt.id, "yield", stmt, scope, parent, refs, params)
            elif isinstance(stmt, ir.ForEach):
                if isinstance(stmt.over, (ir.Lit, ir.PickledLit, ir.Advise)):
                    raise CompileError(
                        f"{_stmt_label(stmt)} iterates over a literal; iterate over an operation "
                        "result or a PlaceParam"
                    )
                node = AnalyzedNode(stmt.id, "scatter", stmt, scope, parent, refs, params)
            elif isinstance(stmt, ir.TryFromCache):
                _check_cache_block(stmt)
                node = AnalyzedNode(stmt.id, "cache", stmt, scope, parent, refs, params)
            else:
                node = AnalyzedNode(stmt.id, "branch", stmt, scope, parent, refs, params)
            out.append(node)
            seen[stmt.id] = node
            if isinstance(stmt, ir.ForEach):
                inner: Scope = (*scope, LoopScope(stmt.id))
                item = AnalyzedNode(stmt.var, "item", stmt, inner, stmt.id, (), ())
                out.append(item)
                seen[stmt.var] = item
                values[stmt.var] = item
                visit(stmt.body, inner, stmt.id)
            elif isinstance(stmt, ir.If):
                visit(stmt.then, (*scope, BranchScope(stmt.id, True)), stmt.id)
                visit(stmt.orelse, (*scope, BranchScope(stmt.id, False)), stmt.id)
            elif isinstance(stmt, ir.TryFromCache):
                miss: Scope = (*scope, BranchScope(stmt.id, True))  # the body runs on a cache miss
                visit(stmt.body, miss, stmt.id)
                refs, params = check_reads(stmt, miss, [stmt.value])
                result = AnalyzedNode(stmt.out, "cached", stmt, scope, parent, refs, params)
                out.append(result)
                seen[stmt.out] = result
                values[stmt.out] = result

    visit(pipeline.statements, (), None)
    return out


def _check_cache_block(block: ir.TryFromCache) -> None:
    """A TryFromCache body: operation calls only, and the value cached is one of their results."""
    label = _stmt_label(block)
    problem = ir.cache_key_problem(block.key)
    if problem is not None:
        raise CompileError(f"{label}: {problem}")
    if not block.body:
        raise CompileError(f"{label} has an empty body; call the operations whose result to cache in it")
    for stmt in block.body:
        if not isinstance(stmt, ir.Call):
            raise CompileError(
                f"{label}: its body may hold only operation calls, not {_stmt_label(stmt)} "
                "(a Yield or block would be skipped on a cache hit)"
            )
    inside = {stmt.id for stmt in block.body}
    if not isinstance(block.value, ir.Ref) or block.value.node not in inside:
        raise CompileError(f"{label} caches a value not computed in its body; pass .cache() a result from it")


def _offer_index(federation: Federation, sites: tuple[str, ...]) -> dict[str, list[str]]:
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


def _call_candidates(
    federation: Federation, call: ir.Call, sites: tuple[str, ...], offers: dict[str, list[str]]
) -> tuple[str, ...]:
    label = _stmt_label(call)
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


def _timed(
    fed: Federation, call: ir.Call, candidates: tuple[str, ...], node: AnalyzedNode, size: dict[str, int]
) -> tuple[dict[str, float], int]:
    """A call's compute seconds per candidate site and its output size (time model)."""
    input_bytes = min(sum(size[ref] for ref in node.refs), MAX_BYTES)
    compute: dict[str, float] = {}
    sizes: list[int] = []
    for site in candidates:
        entry = fed.interface_entry(site, call.operation, call.provider)
        cost = entry.compute_cost if entry is not None else None
        compute[site] = compute_time(cost, input_bytes)
        out = output_size(cost, input_bytes)
        if out is not None:
            sizes.append(out)
    return compute, max(sizes) if sizes else size[node.id]


def build_graph(
    federation: Federation | FederationHandle,
    pipeline: ir.PipelineIR | Pipeline,
    restrict_to_sites: Iterable[str] | None = None,
) -> DataflowGraph:
    """Build the dataflow graph of ``pipeline`` on ``federation``.

    A :class:`~dfm.compiler.digraph.DataflowGraph` (networkx-like reads;
    ``.to_networkx()`` for a ``networkx.DiGraph``).

    Graph attributes: ``federation`` (name), ``pipeline`` (name), ``homesite``,
    ``sites`` (tie-break order), ``order`` (node ids, canonical order), ``params``,
    ``model`` (``bytes`` or ``time``, see :mod:`dfm.compiler.costs`).
    Node attributes: ``kind``, ``label``, ``operation`` (calls), ``stmt``, ``scope``,
    ``index``, ``candidates`` (tie-break order), ``colocate`` (node it must share a
    site with, or None), ``resident`` (sites its output may never leave), ``size``
    (estimated bytes of its output), ``params`` (parameters it reads), ``compute``
    (calls in the time model: site -> estimated seconds of the call there).
    """
    fed = as_federation(federation)
    pir = as_pipeline_ir(pipeline)
    if not fed.sites:
        raise CompileError(f"federation {fed.name} has no sites")
    home = fed.home()
    if home not in fed.sites:
        hint = did_you_mean(home, fed.sites)
        raise CompileError(
            f"federation {fed.name}: homesite '{home}' is not a site" + (f"; {hint}" if hint else "")
        )
    sites = site_order(fed)
    if restrict_to_sites is not None:
        allowed = set(restrict_to_sites)
        unknown = sorted(allowed - set(fed.sites))
        if unknown:
            hint = did_you_mean(unknown[0], fed.sites)
            raise CompileError(
                f"restrict_to_sites: unknown site '{unknown[0]}'" + (f"; {hint}" if hint else "")
            )
        if home not in allowed:
            raise CompileError(
                f"restrict_to_sites must include the homesite '{home}' (it receives the results)"
            )
        sites = tuple(s for s in sites if s in allowed)
    timed = uses_time_model(fed)
    nodes = analyze(pir)
    offers = _offer_index(fed, sites)
    resident_ops: dict[str, list[str]] = {}
    for site in sites:
        for operation in fed.sites[site].policy.resident:
            resident_ops.setdefault(operation, []).append(site)
    cache_sites = tuple(s for s in sites if fed.sites[s].cache_config is not None)
    cache_blocks = {n.id for n in nodes if n.kind == "cache"}

    graph = DataflowGraph(
        federation=fed.name,
        pipeline=pir.name,
        homesite=home,
        sites=sites,
        order=tuple(n.id for n in nodes),
        params=tuple(pir.params),
        model="time" if timed else "bytes",
    )
    size: dict[str, int] = {}
    resident: dict[str, tuple[str, ...]] = {}
    for index, node in enumerate(nodes):
        stmt = node.stmt
        attrs_: dict[str, Any] = {
            "kind": node.kind,
            "label": node_label(node),
            "operation": None,
            "stmt": stmt,
            "scope": node.scope,
            "index": index,
            "colocate": None,
            "resident": (),
            "size": 0,
            "params": node.params,
            "compute": {},
        }
        if node.kind == "call":
            assert isinstance(stmt, ir.Call)
            attrs_["operation"] = stmt.operation
            attrs_["candidates"] = _call_candidates(fed, stmt, sites, offers)
            size[node.id] = fed.operations[stmt.operation].estimated_size
            if timed:
                attrs_["compute"], size[node.id] = _timed(fed, stmt, attrs_["candidates"], node, size)
            resident[node.id] = tuple(resident_ops.get(stmt.operation, ()))
            if node.parent in cache_blocks:  # a TryFromCache body runs where its cache is
                attrs_["colocate"] = node.parent
        elif node.kind == "cache":
            attrs_["candidates"] = cache_sites
        elif node.kind == "cached":
            assert isinstance(stmt, ir.TryFromCache) and isinstance(stmt.value, ir.Ref)
            attrs_["colocate"] = stmt.id
            size[node.id] = size[stmt.value.node]
            # a hit must not let data go where the miss could not: the result is as resident as the value
            resident[node.id] = resident[stmt.value.node]
            attrs_["candidates"] = _cache_candidates(fed, stmt, cache_sites, resident[node.id], graph)
            graph.nodes[stmt.id]["candidates"] = attrs_["candidates"]
        elif node.kind == "yield":
            attrs_["candidates"] = (home,)
        elif node.kind == "scatter":
            assert isinstance(stmt, ir.ForEach)
            attrs_["candidates"] = sites
            if isinstance(stmt.over, ir.Ref):
                attrs_["colocate"] = stmt.over.node
        elif node.kind == "item":
            assert isinstance(stmt, ir.ForEach)
            attrs_["candidates"] = sites
            attrs_["colocate"] = stmt.id
            if isinstance(stmt.over, ir.Ref):
                # an item is a piece of the collection: same size guess, same residency
                size[node.id] = size[stmt.over.node]
                resident[node.id] = resident[stmt.over.node]
            else:
                size[node.id] = PARAM_ITEM_BYTES
                resident[node.id] = ()
        else:
            attrs_["candidates"] = sites
        attrs_["size"] = size.get(node.id, 0)
        attrs_["resident"] = resident.get(node.id, ())
        graph.add_node(node.id, **attrs_)

    for node in nodes:
        if node.parent is not None:
            kind = "item" if node.kind == "item" else "control"
            nbytes = size[node.id] if node.kind == "item" else CONTROL_BYTES
            graph.add_edge(node.parent, node.id, kind=kind, bytes=nbytes)
        for ref in node.refs:
            # a cache lookup reads the inputs its body reads too: count the bytes once, there
            nbytes = 0 if node.kind == "cache" else size[ref]
            graph.add_edge(ref, node.id, kind="data", bytes=nbytes)
        for ref in node.after:  # dfm_after: only a completion signal crosses sites
            if not graph.has_edge(ref, node.id):
                graph.add_edge(ref, node.id, kind="after", bytes=CONTROL_BYTES)
    return graph


def _cache_candidates(
    fed: Federation,
    block: ir.TryFromCache,
    cache_sites: tuple[str, ...],
    resident: tuple[str, ...],
    graph: DataflowGraph,
) -> tuple[str, ...]:
    """The sites a TryFromCache (lookup, body and result) may run at; a one-line error when none.

    A site qualifies if it has a ``cache_config``, offers every operation of the body (within
    its pins), and, when the value is resident there, shares its cache with no other site.
    """
    label = _stmt_label(block)
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
                f"{label}: {_stmt_label(stmt)} can run only at {where}, which has no cache_config "
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
