"""Safe YAML loading that remembers where every node starts.

:class:`LocatingLoader` is a :class:`yaml.SafeLoader` that composes the node
graph as usual and then builds the Python data itself, recording the start
mark (1-based line and column) of every value and of every mapping key under
its JSON pointer. It also reports duplicate keys (PyYAML silently keeps the
last one) and recursive aliases. Only safe YAML tags are accepted: this is
still SafeLoader's resolver and constructor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs
import yaml

from dfm.kernel.config import pointers

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class Mark(NamedTuple):
    """A 1-based position in a text file."""

    line: int
    column: int

    @classmethod
    def of(cls, mark: yaml.Mark) -> Mark:
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
            key = self.construct_object(key_node)
            child = pointers.join(pointer, key)
            self.document.keys[child] = Mark.of(key_node.start_mark)
            out[key] = self._build(value_node, child)
        return out

    def _check_duplicates(self, node: yaml.MappingNode, pointer: str) -> None:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node)
            first = seen.setdefault(key, key_node)
            if first is not key_node:
                line = first.start_mark.line + 1
                self.document.problems.append(
                    Problem(
                        pointers.join(pointer, key),
                        Mark.of(key_node.start_mark),
                        f"duplicate key '{pointers.segment(key)}' (first defined on line {line})",
                        at_key=True,
                    )
                )

    def _problem(self, pointer: str, node: yaml.Node, message: str) -> None:
        self.document.problems.append(Problem(pointer, Mark.of(node.start_mark), message))


class LocatingLoader(_Locating, yaml.SafeLoader):
    """SafeLoader that records the start mark of every node under its JSON pointer."""

    def __init__(self, stream: str) -> None:
        yaml.SafeLoader.__init__(self, stream)
        self._start()


FAST_LOADER: Callable[[str], _Locating] | None = None  # the libyaml loader, when PyYAML has libyaml

if yaml.__with_libyaml__:

    class FastLocatingLoader(_Locating, yaml.CSafeLoader):
        """The same over libyaml's parser (several times faster)."""

        def __init__(self, stream: str) -> None:
            yaml.CSafeLoader.__init__(self, stream)
            self._start()

    FAST_LOADER = FastLocatingLoader


def parse_yaml(text: str) -> YamlDocument:
    """Parse one YAML document with marks; raise :class:`YamlSyntaxError` if it is not YAML.

    libyaml parses when PyYAML has it; on any error the pure-Python loader parses again,
    so that messages are the same on every installation.
    """
    if FAST_LOADER is not None:
        try:
            return FAST_LOADER(text).load_document()
        except yaml.YAMLError:
            pass
    try:
        return LocatingLoader(text).load_document()
    except yaml.MarkedYAMLError as exc:
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
        raise YamlSyntaxError(
            f"invalid YAML: {what or 'not a YAML document'}", Mark.of(mark) if mark else None
        ) from None
    except yaml.reader.ReaderError as exc:
        # The reader counts characters; turn the offset into a line and column.
        before = text[: exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        message = f"invalid YAML: {exc.reason} (#x{exc.character:04x})"
        raise YamlSyntaxError(message, Mark(line, column)) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {exc}", None) from None
