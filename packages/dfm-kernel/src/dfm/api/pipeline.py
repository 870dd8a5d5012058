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
        self._check_use("a node reference")
        return irp.Ref(self.id)

    def _check_use(self, what: str) -> _Block:
        block = _current(what)
        if block.pipeline is not self._pipeline:
            raise PipelineError(f"{self._label} ({self.id}) belongs to another pipeline")
        if block.path[: len(self._path)] != self._path:
            raise PipelineError(
                f"{self._label} ({self.id}) was produced inside a ForEach or If block "
                "and cannot be used outside it"
            )
        return block

    def fieldref(self, sel: int | str) -> Selection:
        """A part of this node's value: item ``sel`` (int index or str key) or its field ``sel``.

        Usable wherever a node is (an argument, ``Yield``, ``ForEach``, ``If``) and chainable:
        ``node.fieldref("rows").fieldref(0)``. The part is selected at the site producing the
        value, so only that part crosses to other sites. The safe set of steps is documented in
        :func:`dfm.kernel.ir.pipeline.select`.
        """
        return Selection(self, (_check_step(sel),))


def _check_step(sel: object) -> int | str:
    problem = irp.step_problem(sel)
    if problem is not None:
        raise PipelineError(f"fieldref({sel!r:.60}): {problem}")
    assert isinstance(sel, (int, str))
    return sel


class Selection(_Operand):
    """``node.fieldref(sel)``: a part of a node's value (see :meth:`Node.fieldref`)."""

    def __init__(self, node: Node, path: tuple[int | str, ...]):
        if len(path) > irp.MAX_SELECT_STEPS:
            raise PipelineError(f"a selector has at most {irp.MAX_SELECT_STEPS} steps")
        self.node = node
        self.path = path

    @property
    def id(self) -> str:
        """The id of the node this selection reads from."""
        return self.node.id

    def __repr__(self) -> str:
        return f"<{self.node._label} {self.node.id}{''.join(f'[{s!r}]' for s in self.path)}>"

    def __bool__(self) -> bool:
        raise PipelineError(f"{self!r} has no value while the pipeline is recorded; use 'with If(...):'")

    def fieldref(self, sel: int | str) -> Selection:
        """A further part of this selection: one more step ``sel`` (see ``Node.fieldref``)."""
        return Selection(self.node, (*self.path, _check_step(sel)))

    def _value(self) -> irp.Select:
        self.node._check_use("a node reference")
        return irp.Select(self.node.id, self.path)


class PlaceParam(_Operand):
    """A value supplied per execution: ``session.execute(prepared, {"name": ...})``.

    ``PlaceParam("name")`` or ``PlaceParam(place="name")`` (NVIDIA DFM's keyword); ``multiuse``
    is accepted for compatibility (a parameter may always be read by many nodes here).
    """

    def __init__(self, place: str | None = None, multiuse: bool = False, *, name: str | None = None):
        if place is None:
            place = name
        elif name is not None and name != place:
            raise PipelineError(f"PlaceParam given two names: {place!r} and {name!r}")
        _check_name("parameter", place, "PlaceParam")
        assert isinstance(place, str)
        self.name: str = place
        self.multiuse = bool(multiuse)

    @property
    def place(self) -> str:
        """The parameter's name (NVIDIA DFM's spelling of ``name``)."""
        return self.name

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


_UNSET: Any = object()


class _Comparison(Condition):
    """NVIDIA DFM's comparison classes: ``GreaterThan(left=x, right=3)`` (or positional) is ``x > 3``."""

    op: irp.CompareOp = "=="

    def __init__(self, left: Any = _UNSET, right: Any = _UNSET, *, operator: str | None = None):
        name = type(self).__name__
        if left is _UNSET or right is _UNSET:
            raise PipelineError(f"{name} needs two operands: {name}(left=..., right=...)")
        if operator is not None and operator != self.op:
            raise PipelineError(f"{name} compares with {self.op!r}, not {operator!r}")
        operands = []
        for side in (left, right):
            if isinstance(side, Condition):
                raise PipelineError(
                    f"{name}: compare values, not conditions; combine conditions with And/Or/Not"
                )
            operands.append(_as_value(side))
        super().__init__(irp.Compare(self.op, operands[0], operands[1]))


class Equal(_Comparison):
    """``Equal(left=a, right=b)``: the condition ``a == b``."""

    op = "=="


class NotEqual(_Comparison):
    """``NotEqual(left=a, right=b)``: the condition ``a != b``."""

    op = "!="


class GreaterThan(_Comparison):
    """``GreaterThan(left=a, right=b)``: the condition ``a > b``."""

    op = ">"


class GreaterThanOrEqual(_Comparison):
    """``GreaterThanOrEqual(left=a, right=b)``: the condition ``a >= b``."""

    op = ">="


class LessThan(_Comparison):
    """``LessThan(left=a, right=b)``: the condition ``a < b``."""

    op = "<"


class LessThanOrEqual(_Comparison):
    """``LessThanOrEqual(left=a, right=b)``: the condition ``a <= b``."""

    op = "<="


class _BoolOp(Condition):
    op: Literal["and", "or"] = "and"

    def __init__(self, *items: Any, left: Any = _UNSET, right: Any = _UNSET):
        operands = [*items, *(x for x in (left, right) if x is not _UNSET)]
        name = type(self).__name__
        if len(operands) < 2:
            raise PipelineError(f"{name} needs at least two operands: {name}(left=..., right=...)")
        conds = [_as_condition(x) for x in operands]
        depth = 1 + max(c.depth for c in conds)
        super().__init__(irp.BoolOp(self.op, tuple(c.cond for c in conds)), depth)


class And(_BoolOp):
    """All operands hold: ``And(a, b)``, ``And(left=a, right=b)`` or ``a & b``."""

    op = "and"


class Or(_BoolOp):
    """Any operand holds: ``Or(a, b)``, ``Or(left=a, right=b)`` or ``a | b``."""

    op = "or"


class Not(Condition):
    """The operand does not hold: ``Not(a)`` or ``~a``."""

    def __init__(self, *args: Any, **kwargs: Any):
        operands = [*args, *kwargs.values()]
        unknown = set(kwargs) - {"expr", "operand", "value", "cond", "item"}
        if len(operands) != 1 or unknown:
            raise PipelineError("Not takes one operand: Not(condition)")
        inner = _as_condition(operands[0])
        super().__init__(irp.Not(inner.cond), inner.depth + 1)


def _as_condition(value: Any) -> Condition:
    if isinstance(value, Condition):
        return value
    return Condition(irp.Truthy(_as_value(value)))


def _as_cond(value: Any) -> irp.Cond:
    return _as_condition(value).cond


def _as_value(value: Any) -> irp.Value:
    """Turn an argument written in a pipeline into an IR value."""
    if isinstance(value, (Node, Selection)):
        return value._value()
    if isinstance(value, PickledObject):
        return irp.PickledLit(value.data)
    if isinstance(value, Advise):
        return irp.Advise()
    if isinstance(value, (BestOf, NodeId)):
        raise PipelineError(f"{value!r} is not a value; BestOf goes in site=, well_known_id in dfm_node_id=")
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
            if isinstance(item, (Node, PlaceParam, Selection)):
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

    def __init__(self, name: str | None = None, mode: Literal["execute", "discovery"] = "execute"):
        if mode not in ("execute", "discovery"):
            raise PipelineError(f"Pipeline mode must be 'execute' or 'discovery', not {mode!r}")
        self.name = "pipeline" if name is None else name
        self.mode = mode
        self._ids: set[str] = set()  # well-known ids taken
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
                tuple(self._root.statements),
                tuple(self._params),
                self.name,
                self.mode,
                labels=dict(self._labels),
            )

    def _next_id(self, well_known: Any = None) -> str:
        if well_known is not None:
            if not isinstance(well_known, NodeId):
                well_known = well_known_id(well_known)
            if well_known in self._ids:
                raise PipelineError(f"node id '{well_known}' is used twice in this pipeline")
            self._ids.add(str(well_known))
            return str(well_known)
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
        """The names of the ``PlaceParam`` parameters, in the order first used (after the ``with`` block)."""
        return self.ir.params

    def to_json(self) -> str:
        """The recorded IR as indented JSON text; ``Pipeline.from_json`` reads it back.

        Raises ``PipelineError`` while the pipeline is still being recorded.
        """
        from dfm.kernel.ir.serde import to_data  # the IR converter: only when serializing

        return json.dumps(to_data(self.ir), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Pipeline:
        """A pipeline from the text of ``to_json``, ready to prepare (not recordable again).

        Raises ``PipelineError`` when the JSON nests blocks, conditions or literals deeper than
        the limits or holds a bad name; other malformed input raises the JSON decoder's or
        cattrs' error.
        """
        from dfm.kernel.ir.serde import from_data  # the IR converter: only when serializing

        try:
            data = json.loads(text)
            pipeline = cls(data.get("name", "pipeline"))
            pipeline._ir = from_data(data, irp.PipelineIR)
            pipeline.mode = pipeline._ir.mode
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
        """A pipeline wrapping an already built ``PipelineIR`` (its name and mode are taken from it)."""
        pipeline = cls(pipeline_ir.name, pipeline_ir.mode)
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


class NodeId(str):
    """A node id chosen by the user: ``well_known_id("name")`` (see :func:`well_known_id`)."""

    __slots__ = ()


def well_known_id(ident: int | str) -> NodeId:
    """A stable, user-chosen node id: ``api.Op(..., dfm_node_id=well_known_id("load"))``.

    The id names the node in the prepared pipeline, in messages and in results (a callback's
    ``from_node_id``), instead of ``n1``, ``n2``... It must be unique in its pipeline, 1-64
    characters of ``A-Z a-z 0-9 _ -`` (not starting with ``-``), and not of the form ``n<digits>``
    (the automatic ids).
    """
    if isinstance(ident, bool) or not isinstance(ident, (int, str)):
        raise PipelineError(f"well_known_id takes an int or a str, not {type(ident).__name__}")
    text = str(ident)
    problem = irp.node_id_problem(text)
    if problem is not None:
        raise PipelineError(f"well_known_id: {problem}")
    if irp.AUTO_ID.fullmatch(text):
        raise PipelineError(f"well_known_id({text!r}): ids of the form n<digits> are DFM's automatic ids")
    return NodeId(text)


class BestOf:
    """``site=BestOf()``: let the placement choose the site (the default), or
    ``site=BestOf(sites=["a", "b"])``: choose among these sites only."""

    def __init__(self, sites: Any = None):
        if sites is not None:
            if isinstance(sites, str):
                sites = [sites]
            sites = tuple(dict.fromkeys(sites))
            if not sites:
                raise PipelineError(
                    "BestOf(sites=[]) leaves no site to choose from; omit sites= for any site"
                )
            for site in sites:
                _check_name("site", site, "BestOf site")
        self.sites: tuple[str, ...] | None = sites

    def __repr__(self) -> str:
        return f"BestOf(sites={list(self.sites) if self.sites is not None else None})"


class Advise:
    """``Advise()``: ask discovery for advice on a field (or on ``site=``); discovery mode only."""

    def __repr__(self) -> str:
        return "Advise()"


class PickledObject:
    """``PickledObject(value)``: send a Python object by pickle, as a literal argument or a parameter.

    An explicit opt-in: a site runs a pipeline with a pickled literal, and a session sends a
    pickled parameter, only if the federation config sets ``allow-pickle: true``; otherwise
    the site refuses it. Unpickling runs code: use it only between parties that trust each other.
    """

    def __init__(self, value: Any):
        import base64
        import pickle

        try:
            raw = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise PipelineError(f"PickledObject: the value cannot be pickled: {exc}") from None
        self.value = value
        self.data = base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:
        return f"PickledObject({type(self.value).__name__})"


def _after_ids(block: _Block, after: Any) -> tuple[str, ...]:
    if after is None:
        return ()
    items = [after] if isinstance(after, (Node, Selection, str)) else list(after)
    out: list[str] = []
    for item in items:
        if isinstance(item, Selection):
            item = item.node
        if isinstance(item, Node):
            item._check_use("dfm_after")
            node_id = item.id
        elif isinstance(item, str):
            node_id = str(item)
            problem = irp.node_id_problem(node_id)
            if problem is not None:
                raise PipelineError(f"dfm_after: {problem}")
        else:
            raise PipelineError(f"dfm_after takes operation results or node ids, not {type(item).__name__}")
        if node_id not in out:
            out.append(node_id)
    return tuple(out)


def record_call(
    operation: str,
    args: dict[str, Any],
    site: Any = None,
    provider: Any = None,
    *,
    dfm_after: Any = None,
    dfm_node_id: Any = None,
) -> Node:
    """Record an operation call in the current block (used by operation objects).

    ``site``: a site name, ``BestOf(sites=...)`` or ``Advise()``; ``provider``: a provider
    name (or ``BestOf()``: any); ``dfm_after``: nodes (or ids) this call runs after, without
    reading their values; ``dfm_node_id``: a :func:`well_known_id`.
    """
    block = _current(f"operation {operation}")
    _check_name("operation", operation)
    among: tuple[str, ...] = ()
    advise_site = False
    if isinstance(site, BestOf):
        among = site.sites or ()
        site = None
    elif isinstance(site, Advise):
        advise_site, site = True, None
    if site is not None:
        _check_name("site", site)
    if isinstance(provider, BestOf):
        provider = None
    if provider is not None:
        _check_name("provider", provider)
    after = _after_ids(block, dfm_after)
    values = {name: _as_value(value) for name, value in args.items()}
    node_id = block.pipeline._next_id(dfm_node_id)
    block.statements.append(irp.Call(node_id, operation, values, site, provider, among, after, advise_site))
    _label_call(block.pipeline, node_id, operation, values)
    return Node(block.pipeline, node_id, block.path, operation)


def Yield(value: Any, place: str = "yield", multiuse: bool = False, *, dfm_node_id: Any = None) -> None:
    """Send ``value`` to the application under the name ``place``."""
    block = _current("Yield")
    _check_name("place", place, "Yield place")
    places = block.pipeline._places
    if place in places and not (multiuse and places[place]):
        raise PipelineError(
            f"Yield place '{place}' is used twice; give each Yield its own place "
            "or pass multiuse=True to every Yield of that place"
        )
    if not isinstance(value, (Node, PlaceParam, Selection)):
        raise PipelineError(
            f"Yield to '{place}': yield an operation result, a ForEach item or a PlaceParam, not a literal"
        )
    places[place] = multiuse
    ir_value = _as_value(value)
    block.statements.append(irp.Yield(block.pipeline._next_id(dfm_node_id), ir_value, place, multiuse))


class ForEach:
    """``with ForEach(collection) as item:`` runs the body once per item."""

    def __init__(self, seq: Any = None, *, over: Any = None, dfm_node_id: Any = None):
        if seq is None:
            seq = over
        if not isinstance(seq, (Node, PlaceParam, Selection)):
            raise PipelineError("ForEach iterates over an operation result or a PlaceParam")
        self._over = seq
        self._node_id = dfm_node_id
        self._block: _Block | None = None

    def __enter__(self) -> Node:
        parent = _current("ForEach")
        _check_block_depth(parent, "ForEach")
        over = _as_value(self._over)
        pipeline = parent.pipeline
        self._id = pipeline._next_id(self._node_id)
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

    def __init__(self, cond: Any = None, *, condition: Any = None, dfm_node_id: Any = None):
        if cond is None:
            cond = condition
        if cond is None:
            raise PipelineError("If needs a condition: If(x > 3) or If(cond=GreaterThan(left=x, right=3))")
        self._condition = cond
        self._node_id = dfm_node_id

    def __enter__(self) -> None:
        parent = _current("If")
        _check_block_depth(parent, "If")
        self._cond = _as_cond(self._condition)
        self._parent = parent
        self._id = parent.pipeline._next_id(self._node_id)
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


class CachedValue(Node):
    """The result of a ``TryFromCache`` block: name the value to store with :meth:`cache` inside
    the block; after it, use the block's result like an operation's result."""

    def __init__(self, pipeline: Pipeline, node_id: str, path: tuple[str, ...], block: TryFromCache):
        super().__init__(pipeline, node_id, path, f"TryFromCache {block.key!r:.60}")
        self._block = block

    def cache(self, value: Any) -> None:
        """Store ``value`` (a result computed in this block's body) in the site's cache on a miss."""
        block = self._block
        body = block._body
        if body is None or block._closed or _current(".cache()") is not body:
            raise PipelineError(f"{self._label}: call .cache(value) directly inside its 'with' block")
        if block._value is not None:
            raise PipelineError(f"{self._label}: .cache() is called twice; cache one value per block")
        if not isinstance(value, (Node, Selection)) or isinstance(value, CachedValue):
            raise PipelineError(f"{self._label}: .cache() takes an operation result of its block")
        node = value.node if isinstance(value, Selection) else value
        if node._path != body.path:
            raise PipelineError(
                f"{self._label}: .cache() takes an operation result computed in its block, not {node!r}"
            )
        block._value = value._value()

    def _value(self) -> irp.Ref:
        if not self._block._closed:
            raise PipelineError(f"the value of {self._label} is usable only after its 'with' block")
        return super()._value()


class TryFromCache:
    """A cached block: ``with TryFromCache("key") as img:`` ... ``img.cache(value)``.

    On a hit in the cache of the site running the block, its body is skipped and the cached
    value is used; on a miss the body runs and the value passed to ``.cache()`` is stored.
    Entries are keyed by ``key`` and the digest of the block's inputs (the parameters and
    earlier results its body reads). The body holds operation calls only; they run at one
    site with a ``cache_config``. After the block, ``img`` is its result::

        with TryFromCache(key="render") as img:
            content = api.viz.Render(data=data)
            img.cache(content)
        Yield(value=img)
    """

    def __init__(self, key: Any = None, *, dfm_node_id: Any = None):
        problem = irp.cache_key_problem(key)
        if problem is not None:
            raise PipelineError(f"TryFromCache: {problem}")
        self.key: str = key
        self._node_id = dfm_node_id
        self._body: _Block | None = None
        self._closed = False
        self._value: irp.Value | None = None

    def __enter__(self) -> CachedValue:
        if self._body is not None:
            raise PipelineError(f"TryFromCache({self.key!r:.60}) can be entered only once")
        parent = _current("TryFromCache")
        _check_block_depth(parent, "TryFromCache")
        pipeline = parent.pipeline
        self._parent = parent
        self._id = pipeline._next_id(self._node_id)
        self._out = pipeline._next_id()
        self._body = _Block(pipeline, (*parent.path, self._id))
        _stack().append(self._body)
        self._result = CachedValue(pipeline, self._out, parent.path, self)
        return self._result

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        assert self._body is not None
        _stack().pop()
        self._closed = True
        if exc_type is not None:
            return
        if self._value is None:
            raise PipelineError(f"TryFromCache({self.key!r:.60}): call .cache(value) inside the block")
        for stmt in self._body.statements:
            if not isinstance(stmt, irp.Call):
                raise PipelineError(
                    f"TryFromCache({self.key!r:.60}): its body may hold only operation calls "
                    "(a Yield or block inside it would be skipped on a cache hit)"
                )
        self._parent.statements.append(
            irp.TryFromCache(self._id, self.key, self._out, self._value, tuple(self._body.statements))
        )
