"""From a JSON pointer of the resolved config to a file, line and column.

After ``$ref`` resolution one document may hold content from several files.
The :class:`Locator` remembers, for every place where a ``$ref`` was replaced,
which file and which pointer inside it the content came from, so that an
issue about that content names the other file, its line and column and the
pointer inside that file.
"""

from __future__ import annotations

import attrs

from dfm.kernel.config import pointers
from dfm.kernel.config.yamlmarks import Mark, Problem, YamlDocument
from dfm.kernel.errors import ConfigIssue


@attrs.frozen
class Source:
    """One parsed config file: its path as shown in messages and its marked data."""

    file: str
    doc: YamlDocument = attrs.field(eq=False, repr=False)


@attrs.frozen
class Origin:
    """A node inside a source file."""

    source: Source
    pointer: str


@attrs.frozen
class Finding:
    """An issue before it has a location: the pointer is one of the resolved document."""

    pointer: str
    message: str
    hint: str | None = None
    at_key: bool = False  # locate the mapping key rather than its value
    warning: bool = False  # tolerated (as by the reference), reported without failing


class Locator:
    """Maps pointers of the resolved document to places in source files."""

    def __init__(self, root: Source) -> None:
        # content under a pointer comes from this origin (longest prefix wins)
        self.subtrees: dict[str, Origin] = {"": Origin(root, "")}
        # the value of exactly this pointer is shown here (a mapping merged by $ref + siblings)
        self.nodes: dict[str, Origin] = {}
        # the key of exactly this pointer is shown here (the key that held the $ref)
        self.keys: dict[str, Origin] = {}

    def mount(self, pointer: str, origin: Origin, *, replace: bool = False) -> None:
        """Content at and under ``pointer`` comes from ``origin``.

        With ``replace``, forget what was mounted below ``pointer`` before (a sibling key
        of a ``$ref`` overriding a key of the target).
        """
        if replace:
            below = pointer + "/"
            for table in (self.subtrees, self.nodes, self.keys):
                for stale in [p for p in table if p == pointer or p.startswith(below)]:
                    del table[stale]
        self.subtrees[pointer] = origin

    def origin(self, pointer: str, at_key: bool = False) -> Origin:
        """Where the node (or its key) at ``pointer`` of the resolved document comes from."""
        exact = (self.keys if at_key else self.nodes).get(pointer)
        if exact is not None:
            return exact
        base = pointer
        while base not in self.subtrees:
            base = pointers.parent(base)
        found = self.subtrees[base]
        return Origin(found.source, found.pointer + pointer[len(base) :])

    def issue(self, finding: Finding) -> ConfigIssue:
        """The finding, located in its source file."""
        origin = self.origin(finding.pointer, finding.at_key)
        return issue_at(origin, finding.message, finding.hint, at_key=finding.at_key)


def problem_issue(source: Source, problem: Problem) -> ConfigIssue:
    """A YAML problem (duplicate key, recursive alias) of a source file as an issue."""
    return ConfigIssue(source.file, problem.mark.line, problem.mark.column, problem.pointer, problem.message)


def issue_at(origin: Origin, message: str, hint: str | None = None, *, at_key: bool = False) -> ConfigIssue:
    """An issue about the node at ``origin`` (or about its key)."""
    mark = _mark(origin, at_key)
    line, column = mark if mark else (0, 0)
    return ConfigIssue(origin.source.file, line, column, origin.pointer, message, hint)


def _mark(origin: Origin, at_key: bool) -> Mark | None:
    """The mark of the node, or of its key, or of its nearest ancestor that has one."""
    doc = origin.source.doc
    if at_key and origin.pointer in doc.keys:
        return doc.keys[origin.pointer]
    pointer = origin.pointer
    while True:
        if pointer in doc.values:
            return doc.values[pointer]
        if not pointer:
            return None
        pointer = pointers.parent(pointer)
