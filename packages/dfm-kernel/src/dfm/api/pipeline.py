"""Recording pipelines: ``with Pipeline() as p:`` and the statements inside it."""

from __future__ import annotations

import json
import linecache
import re
import sys
import threading
from types import FrameType
from typing import Any, Literal

from dfm.kernel.errors import PipelineError
from dfm.kernel.ir import pipeline as irp
from dfm.kernel.ir.pipeline import MAX_BLOCK_DEPTH, MAX_VALUE_DEPTH
from dfm.kernel.ir.serde import from_data, to_data
from dfm.kernel.names import ALLOWED, NameKind, name_message, name_problem

_state = threading.local()


def _stack() -> list[_Block]:
    if not hasattr(_state, "stack"):
        _state.stack = []
    return _state.stack  # type: ignore[no-any-return]


class _Block:
    """A statement list being recorded: the pipeline body, a loop body or an If branch."""

    def __init__(self, pipeline: Pipeline, path: tuple[str, ...]):
        self.pipeline = pipeline
        self.path = path  # ids of enclosing ForEach/If blocks ("n3", "n5:else")
        self.statements: list[Any] = []
        self.with_else: set[str] = set()  # ids of If statements that already have an Else


def _check_block_depth(parent: _Block, what: str) -> None:
    if len(parent.path) >= MAX_BLOCK_DEPTH:
        raise PipelineError(
            f"{what} blocks nested more than {MAX_BLOCK_DEPTH} levels deep (the limit of ForEach/If blocks "
            "inside each other)"
        )


def _current(what: str) -> _Block:
    stack = _stack()
    if not stack:
        raise PipelineError(f"{what} must be used inside 'with Pipeline():'")
    return stack[-1]


class _Operand:
    """Comparisons of pipeline values build If conditions: ``node > 3``, ``~node``."""

    def _compare(self, op: irp.CompareOp, other: object) -> Condition:
        return Condition(irp.Compare(op, _as_value(self), _as_value(other)))

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other: object) -> Condition:
        return self._compare("<", other)

    def __le__(self, other: object) -> Condition:
        return self._compare("<=", other)

    def __gt__(self, other: object) -> Condition:
        return self._compare(">", other)

    def __ge__(self, other: object) -> Condition:
        return self._compare(">=", other)

    def __invert__(self) -> Condition:
        return ~Condition(irp.Truthy(_as_value(self)))

    __hash__ = object.__hash__


class Node(_Operand):
    """The result of an operation call or a ForEach item, usable as an argument."""

    def __init__(self, pipeline: Pipeline, node_id: str, path: tuple[str, ...], label: str):
        self._pipeline = pipeline
        self.id = node_id
        self._path = path
        self._label = label

    def __repr__(self) -> str:
        return f"<{self._label} {self.id}>"

    def __bool__(self) -> bool:
        raise PipelineError(
            f"{self._label} ({self.id}) has no value while the pipeline is recorded; "
            "use 'with If(condition):' to branch on it"
        )

    def _value(self) -> irp.Ref:
        block = _current("a node reference")
        if block.pipeline is not self._pipeline:
            raise PipelineError(f"{self._label} ({self.id}) belongs to another pipeline")
        if block.path[: len(self._path)] != self._path:
            raise PipelineError(
                f"{self._label} ({self.id}) was produced inside a ForEach or If block "
                "and cannot be used outside it"
            )
        return irp.Ref(self.id)


class PlaceParam(_Operand):
    """A value supplied per execution: ``session.execute(prepared, {"name": ...})``."""

    def __init__(self, name: str):
        _check_name("parameter", name, "PlaceParam")
        self.name = name

    def __repr__(self) -> str:
        return f"PlaceParam({self.name!r})"


class Condition:
    """A boolean expression for ``If``; combine with ``&``, ``|`` and ``~``.

    A condition nests at most :data:`MAX_VALUE_DEPTH` levels (operators and the
    literals compared, together).
    """

    def __init__(self, cond: irp.Cond, depth: int | None = None):
        self.cond = cond
        self.depth = irp.cond_depth(cond) if depth is None else depth  # kept: O(1) per operator
        if self.depth > MAX_VALUE_DEPTH:
            raise PipelineError(
                f"condition nested more than {MAX_VALUE_DEPTH} levels deep (the limit); "
                "compute the value in an operation instead"
            )

    def _combine(self, op: Literal["and", "or"], other: Any) -> Condition:
        right = _as_condition(other)
        return Condition(irp.BoolOp(op, (self.cond, right.cond)), 1 + max(self.depth, right.depth))

    def __and__(self, other: Condition) -> Condition:
        return self._combine("and", other)

    def __or__(self, other: Condition) -> Condition:
        return self._combine("or", other)

    def __invert__(self) -> Condition:
        return Condition(irp.Not(self.cond), self.depth + 1)

    def __bool__(self) -> bool:
        raise PipelineError("conditions are evaluated at run time; use 'with If(condition):'")


def _as_condition(value: Any) -> Condition:
    if isinstance(value, Condition):
        return value
    return Condition(irp.Truthy(_as_value(value)))


def _as_cond(value: Any) -> irp.Cond:
    return _as_condition(value).cond


def _as_value(value: Any) -> irp.Value:
    """Turn an argument written in a pipeline into an IR value."""
    if isinstance(value, Node):
        return value._value()
    if isinstance(value, PlaceParam):
        block = _current("PlaceParam")
        params = block.pipeline._params
        if value.name not in params:
            params.append(value.name)
        return irp.Param(value.name)
    if isinstance(value, Condition):
        raise PipelineError("a condition can only be used in If(...)")
    _check_literal(value, "argument")
    # The IR holds the literal as JSON gives it back (tuples become lists), so that
    # Pipeline.from_json(p.to_json()).ir == p.ir.
    return irp.Lit(json.loads(json.dumps(value)))


def _has_non_str_key(value: Any) -> bool:
    if isinstance(value, dict):
        return any(not isinstance(k, str) or _has_non_str_key(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_non_str_key(v) for v in value)
    return False


def _check_literal(value: Any, where: str) -> None:
    if irp.literal_depth(value) > MAX_VALUE_DEPTH:
        raise PipelineError(
            f"{where}: literal nested more than {MAX_VALUE_DEPTH} levels deep (the limit); "
            "pass such data through an operation or a PlaceParam"
        )
    try:
        json.dumps(value, allow_nan=False)
        if _has_non_str_key(value):  # json.dumps would silently turn them into strings
            raise TypeError
    except (TypeError, ValueError):
        raise PipelineError(
            f"{where} {value!r} is not JSON-compatible; pass data through an operation or a PlaceParam"
        ) from None
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, (Node, PlaceParam)):
                raise PipelineError(f"{where}: node references inside literals are not supported")


def _caused_by_recursion(exc: BaseException) -> bool:
    pending = [exc]
    while pending:
        item = pending.pop()
        if isinstance(item, RecursionError):
            return True
        pending.extend(getattr(item, "exceptions", ()))  # an exception group (also the 3.10 backport)
    return False


class Pipeline:
    """Records the statements of a pipeline.

    >>> with Pipeline() as p:
    ...     Yield(PlaceParam("name"), place="echo")

    Limits: ``ForEach``/``If``/``Else`` blocks nest at most :data:`MAX_BLOCK_DEPTH`
    (100) levels, one condition or literal at most :data:`MAX_VALUE_DEPTH` (50);
    deeper ones raise :class:`~dfm.kernel.errors.PipelineError` where written.
    """

    def __init__(self, name: str = "pipeline"):
        self.name = name
        self._counter = 0
        self._params: list[str] = []
        self._places: dict[str, bool] = {}  # yield place -> multiuse
        self._labels: dict[str, str] = {}  # node id -> display name (see PipelineIR.labels)
        self._label_sites: dict[str, tuple[int, int, int]] = {}  # node id -> where its label was read
        self._root = _Block(self, ())
        self._ir: irp.PipelineIR | None = None

    def __enter__(self) -> Pipeline:
        if self._ir is not None:
            raise PipelineError("a Pipeline can be recorded only once")
        _stack().append(self._root)
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        stack = _stack()
        while stack and stack[-1].pipeline is self:
            stack.pop()
        if exc_type is None:
            self._ir = irp.PipelineIR(
                tuple(self._root.statements), tuple(self._params), self.name, dict(self._labels)
            )

    def _next_id(self) -> str:
        self._counter += 1
        return f"n{self._counter}"

    @property
    def ir(self) -> irp.PipelineIR:
        """The recorded IR (after the ``with`` block)."""
        if self._ir is None:
            raise PipelineError("the pipeline is still being recorded; use it after its 'with' block")
        return self._ir

    @property
    def params(self) -> tuple[str, ...]:
        return self.ir.params

    def to_json(self) -> str:
        return json.dumps(to_data(self.ir), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Pipeline:
        try:
            data = json.loads(text)
            pipeline = cls(data.get("name", "pipeline"))
            pipeline._ir = from_data(data, irp.PipelineIR)
        except Exception as exc:  # cattrs wraps a RecursionError in its validation errors
            if not _caused_by_recursion(exc):
                raise
            raise PipelineError(
                f"pipeline JSON nested too deeply (blocks may nest {MAX_BLOCK_DEPTH} levels, "
                f"conditions and literals {MAX_VALUE_DEPTH})"
            ) from None
        problem = irp.nesting_problem(pipeline._ir)
        if problem is not None:
            raise PipelineError(f"pipeline JSON: {problem} (the limit)")
        return pipeline

    @classmethod
    def from_ir(cls, pipeline_ir: irp.PipelineIR) -> Pipeline:
        pipeline = cls(pipeline_ir.name)
        pipeline._ir = pipeline_ir
        return pipeline


def _check_name(kind: NameKind, name: object, label: str | None = None) -> None:
    """Raise :class:`PipelineError` naming ``name`` and the allowed set (:mod:`dfm.kernel.names`)."""
    problem = name_problem(kind, name)
    if problem is not None:
        raise PipelineError(name_message(label or kind, name, problem, ALLOWED[kind]))


# -- display labels: the name the user wrote -------------------------------------------------
#
# ``total = api.stats.Add(...)`` labels the call's node ``total`` in pictures. The name is
# read from the source line of the first caller outside dfm.api (linecache: no file is
# opened twice, nothing is executed) with a regular expression; when the source is not
# available (``python -c``, some REPLs), the line is not a plain assignment of this very
# call, or anything at all goes wrong, the node simply has no label. Labels never affect
# equality, digests or compiling (see PipelineIR.labels).

_ASSIGNED = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)\s*(?P<rhs>.*)$")
_FOREACH_AS = re.compile(r"\bForEach\s*\(.*\)\s+as\s+(?P<name>[A-Za-z_]\w*)\s*:")
_MAX_LABEL = 64


_Where = tuple[int, int, int]  # (id of the code object, line, bytecode offset) of a call


def _user_line() -> tuple[str, _Where]:
    """The source line being executed by the innermost caller outside dfm.api, and where."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("dfm.api"):
        frame = frame.f_back
    if frame is None:
        return "", (0, 0, 0)
    # f_lineno of a call written over several lines is its first line (Python >= 3.11)
    where = (id(frame.f_code), frame.f_lineno, frame.f_lasti)
    return linecache.getline(frame.f_code.co_filename, frame.f_lineno, frame.f_globals), where


def _call_label(operation: str) -> tuple[str, _Where] | None:
    """``total`` when the caller's line reads ``total = <...>.<Op>(``, else None; never raises."""
    try:
        line, where = _user_line()
        match = _ASSIGNED.match(line)
        if match is None:
            return None
        short = re.escape(operation.rsplit(".", 1)[-1])
        if re.match(rf"(?:[A-Za-z_]\w*\.)*{short}\s*\(", match["rhs"]) is None:
            return None
        return match["name"][:_MAX_LABEL], where
    except Exception:  # a label is a nicety: never let it fail a pipeline build
        return None


def _label_call(pipeline: Pipeline, node_id: str, operation: str, values: dict[str, irp.Value]) -> None:
    found = _call_label(operation)
    if found is None:
        return
    name, where = found
    for value in values.values():
        # ``x = Op(a=Op(...))``: the line matches both calls; the outer one (recorded last) is x.
        # The same line run again (a loop: ``x = Op(a=x)``) has the same offset and keeps its label.
        if isinstance(value, irp.Ref) and pipeline._labels.get(value.node) == name:
            code, line, offset = pipeline._label_sites.get(value.node, (0, 0, 0))
            if (code, line) == where[:2] and offset != where[2]:
                del pipeline._labels[value.node]
    pipeline._labels[node_id] = name
    pipeline._label_sites[node_id] = where


def _item_label() -> str | None:
    """``row`` when the caller's line reads ``with ForEach(...) as row:``, else None; never raises."""
    try:
        match = _FOREACH_AS.search(_user_line()[0])
        return match["name"][:_MAX_LABEL] if match else None
    except Exception:
        return None


def record_call(
    operation: str, args: dict[str, Any], site: str | None = None, provider: str | None = None
) -> Node:
    """Record an operation call in the current block (used by operation objects)."""
    block = _current(f"operation {operation}")
    _check_name("operation", operation)
    if site is not None:
        _check_name("site", site)
    if provider is not None:
        _check_name("provider", provider)
    values = {name: _as_value(value) for name, value in args.items()}
    node_id = block.pipeline._next_id()
    block.statements.append(irp.Call(node_id, operation, values, site, provider))
    _label_call(block.pipeline, node_id, operation, values)
    return Node(block.pipeline, node_id, block.path, operation)


def Yield(value: Any, place: str = "yield", multiuse: bool = False) -> None:
    """Send ``value`` to the application under the name ``place``."""
    block = _current("Yield")
    _check_name("place", place, "Yield place")
    places = block.pipeline._places
    if place in places and not (multiuse and places[place]):
        raise PipelineError(
            f"Yield place '{place}' is used twice; give each Yield its own place "
            "or pass multiuse=True to every Yield of that place"
        )
    if not isinstance(value, (Node, PlaceParam)):
        raise PipelineError(
            f"Yield to '{place}': yield an operation result, a ForEach item or a PlaceParam, not a literal"
        )
    places[place] = multiuse
    block.statements.append(irp.Yield(block.pipeline._next_id(), _as_value(value), place, multiuse))


class ForEach:
    """``with ForEach(collection) as item:`` runs the body once per item."""

    def __init__(self, over: Any):
        if not isinstance(over, (Node, PlaceParam)):
            raise PipelineError("ForEach iterates over an operation result or a PlaceParam")
        self._over = over
        self._block: _Block | None = None

    def __enter__(self) -> Node:
        parent = _current("ForEach")
        _check_block_depth(parent, "ForEach")
        over = _as_value(self._over)
        pipeline = parent.pipeline
        self._id = pipeline._next_id()
        self._var = pipeline._next_id()
        self._parent = parent
        self._over_value = over
        self._block = _Block(pipeline, (*parent.path, self._id))
        _stack().append(self._block)
        label = _item_label()
        if label is not None:
            pipeline._labels[self._var] = label
        return Node(pipeline, self._var, self._block.path, "ForEach item")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        assert self._block is not None
        _stack().pop()
        if exc_type is None:
            self._parent.statements.append(
                irp.ForEach(self._id, self._over_value, self._var, tuple(self._block.statements))
            )


class If:
    """``with If(condition):`` runs its body only when the condition holds; see :class:`Else`."""

    def __init__(self, condition: Any):
        self._condition = condition

    def __enter__(self) -> None:
        parent = _current("If")
        _check_block_depth(parent, "If")
        self._cond = _as_cond(self._condition)
        self._parent = parent
        self._id = parent.pipeline._next_id()
        self._block = _Block(parent.pipeline, (*parent.path, self._id))
        _stack().append(self._block)

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        _stack().pop()
        if exc_type is None:
            self._parent.statements.append(irp.If(self._id, self._cond, tuple(self._block.statements)))


class Else:
    """``with Else():`` right after a ``with If(...):`` block: runs when it did not."""

    def __enter__(self) -> None:
        parent = _current("Else")
        last = parent.statements[-1] if parent.statements else None
        if not isinstance(last, irp.If) or last.id in parent.with_else:
            raise PipelineError("Else must directly follow an If block")
        parent.with_else.add(last.id)
        self._parent = parent
        self._if = last
        self._block = _Block(parent.pipeline, (*parent.path, f"{last.id}:else"))
        _stack().append(self._block)

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        _stack().pop()
        if exc_type is None:
            self._parent.statements[-1] = irp.If(
                self._if.id, self._if.cond, self._if.then, tuple(self._block.statements)
            )
