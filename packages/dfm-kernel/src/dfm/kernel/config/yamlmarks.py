"""Safe YAML loading that remembers where every node starts.

:class:`LocatingLoader` is a :class:`yaml.SafeLoader` that composes the node
graph as usual and then builds the Python data itself, recording the start
mark (1-based line and column) of every value and of every mapping key under
its JSON pointer. It also reports duplicate keys (PyYAML silently keeps the
last one) and recursive aliases. Only safe YAML tags are accepted: this is
still SafeLoader's resolver and constructor.

Hostile input is refused while it is read, never after:

- composition counts nodes, an alias counting as the whole node it repeats,
  and stops at ``max_nodes`` (a "billion laughs" bomb stops after a few
  hundred events), and refuses nesting deeper than ``max_depth``;
- a scalar that cannot be constructed (``2024-13-45`` looks like a date but is
  none, an integer of more than :data:`MAX_INT_DIGITS` digits, ``!!int abc``)
  and a mapping key holding a control character are located errors.

Timestamps that are valid dates stay dates (as with any YAML 1.1 loader):
quote them to get strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs
import yaml

from dfm.kernel.config import pointers
from dfm.kernel.names import escape_controls, shown

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_KINDS = {
    "tag:yaml.org,2002:int": "integer",
    "tag:yaml.org,2002:float": "number",
    "tag:yaml.org,2002:bool": "boolean",
    "tag:yaml.org,2002:timestamp": "date",
    "tag:yaml.org,2002:binary": "base64 binary",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

MAX_NODES = 200_000  # after expanding aliases (and, in the loader, references); a config is far smaller
MAX_DEPTH = 100  # nesting of collections
MAX_INT_DIGITS = 4300  # characters of an integer scalar (CPython's own default limit, on every version)
_REPARSE_MAX = 256 << 10  # re-parse with the pure-Python loader (for its messages) only texts this small


class Mark(NamedTuple):
    """A 1-based position in a text file."""

    line: int
    column: int

    @classmethod
    def of(cls, mark: yaml.Mark) -> Mark:
        """The 1-based position of a PyYAML (0-based) mark."""
        return cls(mark.line + 1, mark.column + 1)


@attrs.frozen
class Problem:
    """Something wrong in a YAML file that does not stop it from being read."""

    pointer: str
    mark: Mark
    message: str
    at_key: bool = False


@attrs.define
class YamlDocument:
    """A parsed YAML file: its data and the marks of its values and keys by JSON pointer."""

    data: Any
    values: dict[str, Mark] = attrs.Factory(dict)
    keys: dict[str, Mark] = attrs.Factory(dict)
    problems: list[Problem] = attrs.Factory(list)


class YamlSyntaxError(Exception):
    """The text is not YAML (or uses a tag the safe loader refuses)."""

    def __init__(self, message: str, mark: Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _Counting(yaml.composer.Composer):
    """A composer that counts nodes (aliases expanded) and nesting while it composes."""

    _max_nodes: int
    _max_depth: int
    _expanded: int
    _depth: int
    _sizes: dict[int, int]  # id(node) -> nodes it expands to

    def _start_counting(self, max_nodes: int, max_depth: int) -> None:
        yaml.composer.Composer.__init__(self)  # libyaml's loader does not call it
        self._max_nodes = max_nodes
        self._max_depth = max_depth
        self._expanded = 0
        self._depth = 0
        self._sizes = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        mark = event.start_mark
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            self._count(self._sizes.get(id(node), 1), mark)  # a recursive alias counts as one
            return node
        self._depth += 1
        if self._depth > self._max_depth:
            raise YamlSyntaxError(
                f"the config is nested more than {self._max_depth} levels deep", Mark.of(mark)
            )
        start = self._expanded
        self._count(1, mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if node is not None:
            node.end_mark = None  # only start marks are used: keep memory per node small
        if event.anchor is not None:  # only anchored nodes can be repeated by an alias
            self._sizes[id(node)] = self._expanded - start
        return node

    def _count(self, nodes: int, mark: yaml.Mark) -> None:
        self._expanded += nodes
        if self._expanded > self._max_nodes:
            raise YamlSyntaxError(f"the config expands to more than {self._max_nodes} nodes", Mark.of(mark))

    if TYPE_CHECKING:  # provided by the parser half of the loader

        def peek_event(self) -> Any: ...

        def check_event(self, *choices: Any) -> bool: ...


class _Locating(yaml.constructor.SafeConstructor):
    """Builds data from a composed node graph, recording marks (a mixin for a YAML loader)."""

    document: YamlDocument
    _built: dict[int, Any]  # id(node) -> data, so aliases share their data
    _building: set[int]  # ids of collections being built (recursive aliases)

    if TYPE_CHECKING:  # provided by the parser half of the loader

        def get_single_node(self) -> yaml.Node | None: ...

        def dispose(self) -> None: ...

    def _start(self) -> None:
        self.document = YamlDocument(None)
        self._built = {}
        self._building = set()

    def load_document(self) -> YamlDocument:
        """Compose and build the single document of the stream."""
        try:
            node = self.get_single_node()
            if node is not None:
                self.document.data = self._build(node, "")
        finally:
            self.dispose()
        return self.document

    # -- building ----------------------------------------------------------------

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """SafeConstructor's, with scalars it cannot construct turned into located errors."""
        if not isinstance(node, yaml.ScalarNode) or node.tag not in _SCALAR_KINDS:
            return super().construct_object(node, deep=deep)
        kind = _SCALAR_KINDS[node.tag]
        if kind == "integer" and len(node.value) > MAX_INT_DIGITS:
            reason = f"it has {len(node.value)} characters, at most {MAX_INT_DIGITS} are allowed"
        else:
            try:
                return super().construct_object(node, deep=deep)
            except yaml.YAMLError:
                raise
            except Exception as exc:  # ValueError, OverflowError, KeyError, AttributeError...
                reason = _scalar_reason(kind, exc)
        message = f"invalid {kind} {shown(node.value, 40)}: {reason}"
        if not node.style:  # a plain scalar (None or "" by parser): quoting makes it a string
            message += "; put it in quotes to make it a string"
        raise YamlSyntaxError(message, Mark.of(node.start_mark))

    def _key(self, node: yaml.ScalarNode) -> Any:
        key = self.construct_object(node)
        if isinstance(key, str):
            bad = _CONTROL.search(key)
            if bad:
                raise YamlSyntaxError(
                    f"a mapping key must not contain control characters, found {shown(bad.group())}"
                    f" in {shown(key, 40)}",
                    Mark.of(node.start_mark),
                )
        return key

    def _build(self, node: yaml.Node, pointer: str) -> Any:
        self.document.values[pointer] = Mark.of(node.start_mark)
        key = id(node)
        if key in self._built:
            return self._built[key]
        if key in self._building:
            self._problem(
                pointer, node, "a recursive YAML alias (a node that contains itself) is not supported"
            )
            return None
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
            self._building.add(key)
            data: Any = self._build_mapping(node, pointer)
            self._building.discard(key)
        elif isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
            self._building.add(key)
            data = [self._build(item, pointers.join(pointer, index)) for index, item in enumerate(node.value)]
            self._building.discard(key)
        else:  # scalars, and the rarer safe collections (!!set, !!omap, !!pairs)
            data = self.construct_object(node, deep=True)
        self._built[key] = data
        return data

    def _build_mapping(self, node: yaml.MappingNode, pointer: str) -> dict[Any, Any]:
        self._check_duplicates(node, pointer)
        self.flatten_mapping(node)  # YAML merge keys (<<); explicit keys win over merged ones
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "a mapping" if isinstance(key_node, yaml.MappingNode) else "a list"
                self._problem(pointer, key_node, f"a mapping key must be a string, found {kind}")
                continue
            key = self._key(key_node)
            child = pointers.join(pointer, key)
            self.document.keys[child] = Mark.of(key_node.start_mark)
            out[key] = self._build(value_node, child)
        return out

    def _check_duplicates(self, node: yaml.MappingNode, pointer: str) -> None:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                continue
            key = self._key(key_node)
            first = seen.setdefault(key, key_node)
            if first is not key_node:
                line = first.start_mark.line + 1
                self.document.problems.append(
                    Problem(
                        pointers.join(pointer, key),
                        Mark.of(key_node.start_mark),
                        f"duplicate key {shown(pointers.segment(key))} (first defined on line {line})",
                        at_key=True,
                    )
                )

    def _problem(self, pointer: str, node: yaml.Node, message: str) -> None:
        self.document.problems.append(Problem(pointer, Mark.of(node.start_mark), message))


def _scalar_reason(kind: str, exc: Exception) -> str:
    if kind == "date" and isinstance(exc, ValueError) and len(str(exc)) < 80:
        return str(exc)  # "month must be in 1..12": datetime's messages never quote the input
    if isinstance(exc, OverflowError):
        return "it is out of range"
    return f"it is not a valid {kind}"


class LocatingLoader(_Locating, _Counting, yaml.SafeLoader):
    """SafeLoader that records the start mark of every node under its JSON pointer."""

    def __init__(self, stream: str, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> None:
        yaml.SafeLoader.__init__(self, stream)
        self._start_counting(max_nodes, max_depth)
        self._start()


FAST_LOADER: Callable[[str, int, int], _Locating] | None = None  # the libyaml loader, if PyYAML has it

if yaml.__with_libyaml__:

    class FastLocatingLoader(_Locating, _Counting, yaml.CSafeLoader):
        """The same over libyaml's parser (faster); composing stays ours, to count while composing."""

        def __init__(self, stream: str, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> None:
            yaml.CSafeLoader.__init__(self, stream)
            self._start_counting(max_nodes, max_depth)
            self._start()

    FAST_LOADER = FastLocatingLoader


def parse_yaml(text: str, *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> YamlDocument:
    """Parse one YAML document with marks; raise :class:`YamlSyntaxError` if it is not YAML.

    libyaml parses when PyYAML has it; on a YAML error the pure-Python loader parses again
    (texts up to 256 KiB), so that messages are the same on every installation. Composition
    stops with a located :class:`YamlSyntaxError` past ``max_nodes`` nodes (aliases
    expanded) or ``max_depth`` levels of nesting.
    """
    if FAST_LOADER is not None:
        try:
            return FAST_LOADER(text, max_nodes, max_depth).load_document()
        except yaml.YAMLError as exc:
            if len(text) > _REPARSE_MAX:
                raise _syntax_error(exc, text) from None
    try:
        return LocatingLoader(text, max_nodes, max_depth).load_document()
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text) from None


def _syntax_error(exc: yaml.YAMLError, text: str) -> YamlSyntaxError:
    """A PyYAML (or libyaml) error as a :class:`YamlSyntaxError` with a position."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or ""
        if exc.context:
            context = exc.context
            started = exc.context_mark
            if (
                context.startswith("while")
                and started
                and exc.problem_mark
                and started.line != exc.problem_mark.line
            ):
                context += f" (line {started.line + 1})"
            what = f"{context}, {what}" if what else context
        what = escape_message(what)
        return YamlSyntaxError(
            f"invalid YAML: {what or 'not a YAML document'}", Mark.of(mark) if mark else None
        )
    if isinstance(exc, yaml.reader.ReaderError):
        # The reader counts characters; turn the offset into a line and column.
        position = min(exc.position, len(text))
        before = text[:position]
        line = before.count("\n") + 1
        column = position - (before.rfind("\n") + 1) + 1
        character = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        return YamlSyntaxError(f"invalid YAML: {exc.reason} (#x{character:04x})", Mark(line, column))
    return YamlSyntaxError(f"invalid YAML: {escape_message(str(exc))}", None)


def escape_message(text: str, limit: int = 200) -> str:
    """A parser's message, shortened and with control characters escaped (it may quote the input)."""
    return escape_controls(text if len(text) <= limit else text[:limit] + "...")
