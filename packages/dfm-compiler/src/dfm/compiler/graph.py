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

from dfm.compiler.analysis import AnalyzedNode, analyze, as_pipeline_ir, node_label
from dfm.compiler.candidates import cache_candidates, call_candidates, offer_index, site_order
from dfm.compiler.costs import MAX_BYTES, compute_time, output_size, uses_time_model
from dfm.compiler.digraph import DataflowGraph
from dfm.kernel.config.models import Federation
from dfm.kernel.errors import CompileError
from dfm.kernel.ir import pipeline as ir
from dfm.kernel.suggest import did_you_mean

if TYPE_CHECKING:
    from dfm.api.federation import FederationHandle
    from dfm.api.pipeline import Pipeline

__all__ = ["CONTROL_BYTES", "PARAM_ITEM_BYTES", "as_federation", "build_graph"]

CONTROL_BYTES = 16  # a control token: loop item count or taken branch
PARAM_ITEM_BYTES = 64  # an item of a collection supplied as a parameter (size unknown)


def as_federation(federation: Federation | FederationHandle) -> Federation:
    """Accept a :class:`Federation` config or a ``dfm.api`` federation handle."""
    if isinstance(federation, Federation):
        return federation
    config = getattr(federation, "config", None)
    if isinstance(config, Federation):
        return config
    raise TypeError(f"expected a Federation or a loaded federation handle, got {type(federation).__name__}")


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
    offers = offer_index(fed, sites)
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
            attrs_["candidates"] = call_candidates(fed, stmt, sites, offers)
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
            attrs_["candidates"] = cache_candidates(fed, stmt, cache_sites, resident[node.id], graph)
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
