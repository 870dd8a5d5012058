"""Pipeline IR -> nodes: what runs, in which scope, reading what (no federation involved).

:func:`analyze` flattens a pipeline into :class:`AnalyzedNode` s in canonical
(recording, topological) order and checks what a pipeline loaded from JSON may
break; :func:`dfm.compiler.graph.build_graph` then gives each node its candidate
sites and sizes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from dfm.kernel.errors import CompileError
from dfm.kernel.ir import pipeline as ir
from dfm.kernel.ir.net import BranchScope, LoopScope, Scope
from dfm.kernel.suggest import did_you_mean

if TYPE_CHECKING:
    from dfm.api.pipeline import Pipeline

__all__ = [
    "AnalyzedNode",
    "NodeKind",
    "analyze",
    "as_pipeline_ir",
    "cache_inputs",
    "node_label",
    "reads_of",
    "stmt_label",
]

NodeKind = str  # "call" | "yield" | "scatter" | "item" | "branch" | "cache" | "cached"


def as_pipeline_ir(pipeline: ir.PipelineIR | Pipeline) -> ir.PipelineIR:
    """Accept a :class:`PipelineIR` or a recorded ``dfm.api.Pipeline``."""
    if isinstance(pipeline, ir.PipelineIR):
        return pipeline
    recorded = getattr(pipeline, "ir", None)
    if isinstance(recorded, ir.PipelineIR):
        return recorded
    raise TypeError(f"expected a PipelineIR or a recorded Pipeline, got {type(pipeline).__name__}")


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


def stmt_label(stmt: ir.Statement) -> str:
    """A statement's label in messages: ``n3 (stats.Add)``, ``n4 (ForEach)``."""
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
    return stmt_label(node.stmt)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def reads_of(stmt: ir.Statement) -> list[ir.Value]:
    """The values a statement reads: a call's arguments, what a Yield / ForEach / If uses."""
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
        for value in reads_of(stmt):
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
            claim(stmt.id, stmt_label(stmt))
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
        label = stmt_label(stmt)
        reads = reads_of(stmt) if reads is None else reads
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
                        f"{stmt_label(stmt)} asks for advice on its site (site=Advise()), which only "
                        "a discovery pipeline gives; name a site, BestOf(...) or nothing"
                    )
                after, _ = check_reads(stmt, scope, [ir.Ref(a) for a in stmt.after])
                node = AnalyzedNode(stmt.id, "call", stmt, scope, parent, refs, params, after)
                values[stmt.id] = node
            elif isinstance(stmt, ir.Yield):
                if isinstance(stmt.value, (ir.Lit, ir.PickledLit, ir.Advise)):
                    raise CompileError(
                        f"{stmt_label(stmt)} yields a literal; yield an operation result, "
                        "a ForEach item or a PlaceParam"
                    )
                node = AnalyzedNode(stmt.id, "yield", stmt, scope, parent, refs, params)
            elif isinstance(stmt, ir.ForEach):
                if isinstance(stmt.over, (ir.Lit, ir.PickledLit, ir.Advise)):
                    raise CompileError(
                        f"{stmt_label(stmt)} iterates over a literal; iterate over an operation "
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
    label = stmt_label(block)
    problem = ir.cache_key_problem(block.key)
    if problem is not None:
        raise CompileError(f"{label}: {problem}")
    if not block.body:
        raise CompileError(f"{label} has an empty body; call the operations whose result to cache in it")
    for stmt in block.body:
        if not isinstance(stmt, ir.Call):
            raise CompileError(
                f"{label}: its body may hold only operation calls, not {stmt_label(stmt)} "
                "(a Yield or block would be skipped on a cache hit)"
            )
    inside = {stmt.id for stmt in block.body}
    if not isinstance(block.value, ir.Ref) or block.value.node not in inside:
        raise CompileError(f"{label} caches a value not computed in its body; pass .cache() a result from it")
