"""Pipeline IR: the statements a ``with Pipeline()`` block records.

Plain frozen attrs data, serialized to JSON by :mod:`dfm.kernel.ir.serde`.
Node ids are assigned in recording order (``n1``, ``n2``...), so recording the
same program twice gives the same IR.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from dfm.kernel.errors import PipelineError
from dfm.kernel.names import ALLOWED, NameKind, name_message, name_problem

# -- values an operation argument can take ------------------------------------


@attrs.frozen
class Lit:
    """A literal (JSON-compatible) value written in the pipeline."""

    value: Any


@attrs.frozen
class Ref:
    """The result of an earlier node (an operation call or a ForEach item)."""

    node: str


@attrs.frozen
class Param:
    """A value supplied per execution (``PlaceParam("name")``)."""

    name: str


Step = int | str
"""One selector step: an int index, or a str mapping key or field name (see :func:`select`)."""

MAX_SELECT_STEPS = 32
MAX_STEP_CHARS = 200


@attrs.frozen
class Select(Ref):
    """A part of the result of an earlier node: ``node.fieldref(sel)...`` (``path``, outermost first).

    A selector is data, never code: each step is an int index (of a list, tuple or
    array), a str key (of a mapping) or the name of a declared field (of an attrs
    instance, a dataclass, a named tuple or a pydantic model); see :func:`select`.
    """

    path: tuple[Step, ...] = ()


@attrs.frozen
class PickledLit:
    """A Python object written in the pipeline as ``PickledObject(value)``: base64 of its pickle.

    Sites refuse a net carrying one unless their config sets ``allow-pickle: true``.
    """

    data: str


@attrs.frozen
class Advise:
    """``Advise()``: a field to advise on (discovery mode only)."""


Value = Lit | Ref | Select | Param | PickledLit | Advise

# -- boolean conditions for If -------------------------------------------------

CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]


@attrs.frozen
class Compare:
    """The condition ``left op right`` on two values."""

    op: CompareOp
    left: Value
    right: Value


@attrs.frozen
class Truthy:
    """The condition that a value is truthy (``If(node)``)."""

    value: Value


@attrs.frozen
class Not:
    """The negation of a condition."""

    item: Cond


@attrs.frozen
class BoolOp:
    """``and`` or ``or`` of several conditions."""

    op: Literal["and", "or"]
    items: tuple[Cond, ...]


Cond = Compare | Truthy | Not | BoolOp

# -- statements ----------------------------------------------------------------


@attrs.frozen
class Call:
    """Call ``operation`` with ``args``, optionally pinned to a site and/or provider."""

    id: str
    operation: str
    args: dict[str, Value] = attrs.Factory(dict)
    site: str | None = None
    provider: str | None = None
    # BestOf(sites=[...]): the placement chooses among these sites only (empty: no restriction)
    among: tuple[str, ...] = ()
    # dfm_after: node ids that must have produced their value (in the same frame) before this call
    after: tuple[str, ...] = ()
    advise_site: bool = False  # site=Advise(): discovery mode only


@attrs.frozen
class Yield:
    """Send ``value`` to the application under the place name ``place``."""

    id: str
    value: Value
    place: str
    multiuse: bool = False


@attrs.frozen
class ForEach:
    """Run ``body`` once per item of the collection ``over``; ``var`` names the item node."""

    id: str
    over: Value
    var: str
    body: tuple[Statement, ...] = ()


@attrs.frozen
class If:
    """Run ``then`` or ``orelse`` depending on ``cond``."""

    id: str
    cond: Cond
    then: tuple[Statement, ...] = ()
    orelse: tuple[Statement, ...] = ()


@attrs.frozen
class TryFromCache:
    """A cached block: ``body`` runs only when the site's cache has no entry for ``key`` and
    the digest of the block's inputs; ``value`` (read inside ``body``) is what is stored.

    ``id`` is the cache lookup, ``out`` the block's result (the cached or the computed
    value), usable after the block like an operation's result.
    """

    id: str
    key: str
    out: str
    value: Value
    body: tuple[Statement, ...] = ()


MAX_CACHE_KEY_CHARS = 200


def cache_key_problem(key: object) -> str | None:
    """Why ``key`` cannot be a ``TryFromCache`` key (1-200 characters, no control characters), or None."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_CACHE_KEY_CHARS:
        return f"a cache key is a str of 1-{MAX_CACHE_KEY_CHARS} characters, not {key!r:.60}"
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        return f"cache key {key!r:.60} has control characters"
    return None


Statement = Call | Yield | ForEach | If | TryFromCache
Block = ForEach | If | TryFromCache


@attrs.frozen
class PipelineIR:
    """A recorded pipeline.

    ``labels`` maps node ids to display names for pictures (``dfm pipeline show``):
    the variable a call's result was assigned to (``total = api.stats.Add(...)``
    gives ``total``), the name of a ``ForEach`` item (``as row``) or a name the
    pipeline gave a node explicitly (such as a well-known id). Labels are
    metadata only: they take no part in equality, in digests or in compiling,
    and they are serialized only when there are any.
    """

    statements: tuple[Statement, ...] = ()
    params: tuple[str, ...] = ()  # PlaceParam names, in first-use order
    name: str = "pipeline"
    mode: Literal["execute", "discovery"] = "execute"
    labels: dict[str, str] = attrs.field(factory=dict, eq=False)

    def walk(self) -> list[tuple[Statement, tuple[Block, ...], bool | None]]:
        """Every statement with its enclosing blocks (outermost first) and its If branch
        (a ``TryFromCache`` body counts as the branch ``True``: it runs on a cache miss)."""
        out: list[tuple[Statement, tuple[Block, ...], bool | None]] = []

        def visit(stmts: tuple[Statement, ...], scope: tuple[Block, ...], branch: bool | None) -> None:
            for stmt in stmts:
                out.append((stmt, scope, branch))
                if isinstance(stmt, ForEach):
                    visit(stmt.body, (*scope, stmt), None)
                elif isinstance(stmt, TryFromCache):
                    visit(stmt.body, (*scope, stmt), True)
                elif isinstance(stmt, If):
                    visit(stmt.then, (*scope, stmt), True)
                    visit(stmt.orelse, (*scope, stmt), False)

        visit(self.statements, (), None)
        return out


def cond_values(cond: Cond) -> list[Value]:
    """Every value a condition reads, in order."""
    if isinstance(cond, Compare):
        return [cond.left, cond.right]
    if isinstance(cond, Truthy):
        return [cond.value]
    if isinstance(cond, Not):
        return cond_values(cond.item)
    return [v for item in cond.items for v in cond_values(item)]


# -- nesting limits --------------------------------------------------------------
#
# Serializing, hashing and compiling a pipeline recurse through its IR, so the
# depth of a pipeline is bounded: ``dfm.api`` refuses a deeper block, condition
# or literal where it is written, and the compiler refuses a deeper IR however it
# was made (e.g. ``Pipeline.from_json``). Both limits leave ample room under
# Python's default recursion limit.

MAX_BLOCK_DEPTH = 100
"""How many ``ForEach``/``If``/``Else`` blocks may be nested inside each other."""

MAX_VALUE_DEPTH = 50
"""How deep one literal (lists and dicts inside each other) or one condition may nest."""


def literal_depth(value: Any) -> int:
    """Nesting depth of a JSON-like literal: 0 for a scalar, 1 for ``[1]``, 2 for ``[[1]]``... (iterative)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_VALUE_DEPTH:  # deep enough to refuse (this also ends a cycle)
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def value_depth(value: Value) -> int:
    """Nesting depth of an operation argument (that of its literal; 0 for a reference or parameter)."""
    return literal_depth(value.value) if isinstance(value, Lit) else 0


def cond_depth(cond: Cond) -> int:
    """Nesting depth of a condition: 1 plus its deepest operand or sub-condition (iterative)."""
    deepest = 0
    stack: list[tuple[Cond, int]] = [(cond, 1)]
    while stack and deepest <= MAX_VALUE_DEPTH:
        item, depth = stack.pop()
        if isinstance(item, Not):
            stack.append((item.item, depth + 1))
        elif isinstance(item, BoolOp):
            stack.extend((sub, depth + 1) for sub in item.items)
        else:
            operands = [item.left, item.right] if isinstance(item, Compare) else [item.value]
            deepest = max(deepest, depth + max(value_depth(v) for v in operands))
    return deepest


def nesting_problem(pipeline: PipelineIR) -> str | None:
    """What makes ``pipeline`` nest deeper than the limits allow, or None (iterative)."""
    stack: list[tuple[tuple[Statement, ...], int]] = [(pipeline.statements, 0)]
    while stack:
        statements, depth = stack.pop()
        for stmt in statements:
            values: list[Value] = []
            if isinstance(stmt, Call):
                values = list(stmt.args.values())
            elif isinstance(stmt, Yield):
                values = [stmt.value]
            elif isinstance(stmt, ForEach):
                values = [stmt.over]
            elif isinstance(stmt, TryFromCache):
                values = [stmt.value]
            elif cond_depth(stmt.cond) > MAX_VALUE_DEPTH:
                return f"{stmt.id}: condition nested more than {MAX_VALUE_DEPTH} levels deep"
            if any(value_depth(v) > MAX_VALUE_DEPTH for v in values):
                return f"{stmt.id}: literal nested more than {MAX_VALUE_DEPTH} levels deep"
            if isinstance(stmt, (ForEach, If, TryFromCache)):
                if depth + 1 > MAX_BLOCK_DEPTH:
                    return f"{stmt.id}: blocks nested more than {MAX_BLOCK_DEPTH} levels deep"
                if isinstance(stmt, (ForEach, TryFromCache)):
                    stack.append((stmt.body, depth + 1))
                else:
                    stack.extend([(stmt.then, depth + 1), (stmt.orelse, depth + 1)])
    return None


def name_problems(ir: PipelineIR) -> list[str]:
    """A message for every name in ``ir`` outside the rules of :mod:`dfm.kernel.names`.

    Checked: ``PlaceParam`` names (params and every ``Param`` value), Yield places,
    and the operation, pinned site, pinned provider and argument names of each call.
    """
    found: list[str] = []

    def check(kind: NameKind, name: object, label: str | None = None) -> None:
        problem = name_problem(kind, name)
        if problem is not None:
            message = name_message(label or kind, name, problem, ALLOWED[kind])
            if message not in found:
                found.append(message)

    def values(items: list[Value]) -> None:
        for value in items:
            if isinstance(value, Param):
                check("parameter", value.name, "PlaceParam")
            elif isinstance(value, Select):
                problem = path_problem(value.path)
                if problem is not None and problem not in found:
                    found.append(f"{value.node}: {problem}")

    def node_id(value: object) -> None:
        problem = node_id_problem(value)
        if problem is not None and problem not in found:
            found.append(problem)

    for name in ir.params:
        check("parameter", name, "PlaceParam")
    for stmt, _, _ in ir.walk():
        node_id(stmt.id)
        if isinstance(stmt, ForEach):
            node_id(stmt.var)
        if isinstance(stmt, TryFromCache):
            node_id(stmt.out)
            problem = cache_key_problem(stmt.key)
            if problem is not None and problem not in found:
                found.append(f"{stmt.id}: {problem}")
            values([stmt.value])
            continue
        if isinstance(stmt, Call):
            for other in stmt.after:
                node_id(other)
            for site in stmt.among:
                check("site", site)
        if isinstance(stmt, Call):
            check("operation", stmt.operation)
            if stmt.site is not None:
                check("site", stmt.site)
            if stmt.provider is not None:
                check("provider", stmt.provider)
            for arg in stmt.args:
                check("parameter", arg, "argument")
            values(list(stmt.args.values()))
        elif isinstance(stmt, Yield):
            check("place", stmt.place, "Yield place")
            values([stmt.value])
        elif isinstance(stmt, ForEach):
            values([stmt.over])
        else:
            values(cond_values(stmt.cond))
    return found


def check_names(ir: PipelineIR) -> None:
    """Raise :class:`~dfm.kernel.errors.PipelineError` if any name of ``ir`` is not allowed."""
    found = name_problems(ir)
    if found:
        more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
        raise PipelineError("; ".join(found[:5]) + more)


# -- node ids and selectors -------------------------------------------------------
#
# Node ids become parts of place names (``v:<id>``); a well-known id chosen by the
# user (``well_known_id("name")``) follows the same rule as the ids dfm.api assigns.

NODE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
AUTO_ID = re.compile(r"n[0-9]+")


def node_id_problem(node_id: object) -> str | None:
    """Why ``node_id`` cannot name a node, or None."""
    if not isinstance(node_id, str) or not NODE_ID.fullmatch(node_id):
        return f"node id {node_id!r:.80} is not 1-64 characters of A-Z a-z 0-9 _ - (not starting with '-')"
    return None


_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,199}")


def step_problem(step: object) -> str | None:
    """Why ``step`` is not a valid selector step, or None.

    Valid: an int (``bool`` excluded) of at most 18 digits, or a str of 1-200
    characters without control characters.
    """
    if type(step) is int:
        return None if abs(step) < 10**18 else "an index of more than 18 digits"
    if type(step) is str:
        if not 0 < len(step) <= MAX_STEP_CHARS:
            return f"a key of {len(step)} characters (1-{MAX_STEP_CHARS} allowed)"
        if any(ord(c) < 32 or ord(c) == 127 for c in step):
            return "a key with control characters"
        return None
    return f"a {type(step).__name__} (a selector step is an int index or a str key or field name)"


def path_problem(path: object) -> str | None:
    """Why ``path`` is not a valid selector path, or None."""
    if not isinstance(path, tuple) or not 0 < len(path) <= MAX_SELECT_STEPS:
        return f"a selector path has 1-{MAX_SELECT_STEPS} steps"
    for step in path:
        problem = step_problem(step)
        if problem is not None:
            return f"selector step {step!r:.60}: {problem}"
    return None


class SelectError(LookupError):
    """A selector step does not apply to the value it is applied to."""


def _declared_fields(value: Any) -> tuple[str, ...] | None:
    """Field names of an attrs instance, dataclass, named tuple or pydantic model; None otherwise."""
    cls = type(value)
    if attrs.has(cls):
        return tuple(a.name for a in attrs.fields(cls))
    found = getattr(cls, "__dataclass_fields__", None)
    if isinstance(found, dict):
        return tuple(name for name in found if isinstance(name, str))
    if isinstance(value, tuple):
        found = getattr(cls, "_fields", None)
        if isinstance(found, tuple):
            return tuple(name for name in found if isinstance(name, str))
    found = getattr(cls, "model_fields", None)  # pydantic v2
    if isinstance(found, dict):
        return tuple(name for name in found if isinstance(name, str))
    return None


def select(value: Any, path: tuple[Step, ...]) -> Any:
    """Apply a selector path to ``value``; :class:`SelectError` when a step does not apply.

    The safe set, step by step:

    * a mapping (``dict`` and other ``collections.abc.Mapping``): the item at the step (int or str key);
    * an int on a list, tuple, str, bytes or numpy array: the item at that index (negative counts
      from the end);
    * a str naming a declared field of an attrs instance, a dataclass, a named tuple or a pydantic
      model: that field's value. Only declared fields, never a name starting with ``_``: a selector
      cannot reach methods, dunder attributes or anything else of an object.
    """
    for step in path:
        if isinstance(value, Mapping):
            try:
                value = value[step]
            except (KeyError, TypeError):
                raise SelectError(f"no key {step!r:.60} in a {type(value).__name__}") from None
            continue
        if type(step) is int:
            numpy = sys.modules.get("numpy")
            indexable = isinstance(value, (list, tuple, str, bytes)) or (
                numpy is not None and isinstance(value, numpy.ndarray) and value.ndim > 0
            )
            if not indexable:
                raise SelectError(f"cannot index a {type(value).__name__} with {step}")
            try:
                value = value[step]
            except IndexError:
                raise SelectError(
                    f"index {step} out of range for a {type(value).__name__} of length {len(value)}"
                ) from None
            continue
        fields = _declared_fields(value)
        if type(step) is not str or fields is None or step.startswith("_") or step not in fields:
            raise SelectError(f"a {type(value).__name__} has no field {step!r:.60}")
        value = getattr(value, step)
    return value
