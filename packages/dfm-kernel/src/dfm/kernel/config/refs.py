"""``$ref`` resolution, before structuring.

A mapping with a ``$ref`` key is a reference; strings are never references
(``returns: "#/schemas/X"`` stays a string). Two forms:

- single object: ``{$ref: "other.yaml#/pointer"}`` is replaced by the target;
- dictionary merge: ``{$ref: ..., key: value}`` is the target mapping with the
  sibling keys added, siblings winning.

``"#/schemas/X"`` refers into the same file, ``"other.yaml#/X"`` into a file
relative to the referring one, ``"other.yaml"`` to a whole file. The part after
``#`` is a JSON pointer (RFC 6901, percent-decoded as a URI fragment). Targets
may hold references themselves; a cycle is an issue. URLs are never fetched.
Every problem is an issue at the ``$ref`` value that caused it, and the
:class:`~dfm.kernel.config.locations.Locator` built on the way sends issues
about pulled-in content to the file the content came from.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from dfm.kernel.config import pointers
from dfm.kernel.config.locations import Locator, Origin, Source, issue_at, problem_issue
from dfm.kernel.config.typenames import describe_value
from dfm.kernel.config.yamlmarks import YamlSyntaxError, parse_yaml
from dfm.kernel.errors import ConfigIssue
from dfm.kernel.suggest import did_you_mean

REF = "$ref"
MAX_NODES = 200_000  # after expanding aliases and references; a config is far smaller
_MAX_HOPS = 64  # references followed while walking one pointer
_REMOTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]+:|//)")  # a URI scheme (not a drive letter) or //host
_MISSING = object()


class ConfigTooLarge(Exception):
    """The document expands to more than :data:`MAX_NODES` nodes."""


class RefResolver:
    """Resolves every ``$ref`` of one config; collects issues instead of raising."""

    def __init__(self, root: Source, *, max_nodes: int = MAX_NODES) -> None:
        self.root = root
        self.locator = Locator(root)
        self.issues: list[ConfigIssue] = []
        # pointers (of the resolved document) of references that could not be resolved
        self.failed: list[str] = []
        self._sources: dict[str, Source | None] = {os.path.realpath(root.file): root}
        self._nodes = 0
        self._max_nodes = max_nodes

    def resolve(self) -> Any:
        """The root document with every reference replaced; raises :class:`ConfigTooLarge`."""
        return self._walk(self.root.doc.data, self.root, "", "", ())

    # -- walking -------------------------------------------------------------------

    def _walk(
        self, value: Any, source: Source, src: str, out: str, stack: tuple[tuple[str, str], ...]
    ) -> Any:
        self._nodes += 1
        if self._nodes > self._max_nodes:
            raise ConfigTooLarge(f"the config expands to more than {self._max_nodes} nodes")
        if isinstance(value, dict):
            if REF in value:
                return self._ref(value, source, src, out, stack)
            return {
                key: self._walk(item, source, pointers.join(src, key), pointers.join(out, key), stack)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [
                self._walk(item, source, pointers.join(src, index), pointers.join(out, index), stack)
                for index, item in enumerate(value)
            ]
        return value

    def _ref(
        self, mapping: dict[Any, Any], source: Source, src: str, out: str, stack: tuple[tuple[str, str], ...]
    ) -> Any:
        ref = mapping[REF]
        at = Origin(source, pointers.join(src, REF))
        if not isinstance(ref, str):
            self._fail(out, issue_at(at, f"$ref must be a string, found {describe_value(ref)}"))
            return mapping
        target = self._target(ref, source, at, 0)
        if target is None:
            self.failed.append(out)
            return mapping
        target_source, target_pointer, target_value = target
        ident = f"{target_source.file}#{target_pointer}"
        seen = [ident_ for ident_, _ in stack]
        if ident in seen:
            chain = [ref_ for _, ref_ in stack[seen.index(ident) :]] + [ref]
            message = "circular $ref: " + " -> ".join(f"'{r}'" for r in chain)
            self._fail(out, issue_at(at, message))
            return mapping

        # Nothing is mounted below ``out`` yet: each pointer is walked once (a sibling key
        # overriding a key of the target is remounted with ``replace`` below).
        self.locator.mount(out, Origin(target_source, target_pointer))
        self.locator.keys[out] = Origin(source, src)
        resolved = self._walk(target_value, target_source, target_pointer, out, (*stack, (ident, ref)))
        siblings = [key for key in mapping if key != REF]
        if not siblings:
            return resolved
        if not isinstance(resolved, dict):
            self.locator.mount(out, Origin(source, src), replace=True)
            message = f"a $ref with sibling keys must point to a mapping, found {describe_value(resolved)}"
            self._fail(out, issue_at(at, message))
            return mapping
        self.locator.nodes[out] = Origin(source, src)
        merged = dict(resolved)
        for key in siblings:
            child_src, child_out = pointers.join(src, key), pointers.join(out, key)
            # A key the target has too may have left mounts below it: forget them.
            self.locator.mount(child_out, Origin(source, child_src), replace=key in resolved)
            merged[key] = self._walk(mapping[key], source, child_src, child_out, stack)
        return merged

    def _fail(self, out: str, issue: ConfigIssue) -> None:
        self.issues.append(issue)
        self.failed.append(out)

    # -- targets -------------------------------------------------------------------

    def _target(self, ref: str, source: Source, at: Origin, hops: int) -> tuple[Source, str, Any] | None:
        """The source, pointer and raw value ``ref`` points to, or None (issue recorded)."""
        file_part, _, fragment = ref.partition("#")
        if _REMOTE.match(file_part):
            self.issues.append(
                issue_at(
                    at,
                    f"remote $ref '{ref}' is not allowed: configs never fetch URLs",
                    "copy the file next to the config and refer to it by a relative path",
                )
            )
            return None
        target = source
        if file_part:
            path = os.path.normpath(os.path.join(os.path.dirname(source.file), unquote(file_part)))
            loaded = self._load(path, ref, at)
            if loaded is None:
                return None
            target = loaded
        try:
            tokens = pointers.split(unquote(fragment))
        except ValueError:
            self.issues.append(
                issue_at(
                    at,
                    f"invalid $ref '{ref}': the part after '#' must be a JSON pointer such as '#/schemas/X'",
                )
            )
            return None
        return self._lookup(target, tokens, ref, at, hops)

    def _load(self, path: str, ref: str, at: Origin) -> Source | None:
        real = os.path.realpath(path)
        if real in self._sources:
            return self._sources[real]  # None: already reported as unreadable
        file_part = ref.partition("#")[0]
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            folder = Path(path).parent
            names = (
                [p.name for p in folder.iterdir() if p.suffix in {".yaml", ".yml", ".json"}]
                if folder.is_dir()
                else []
            )
            self.issues.append(
                issue_at(
                    at, f"$ref target file '{file_part}' not found", did_you_mean(Path(path).name, names)
                )
            )
            return None  # not remembered: every reference to a missing file is reported where it is
        except (OSError, UnicodeDecodeError) as exc:
            reason = (
                "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror or str(exc)
            )
            self.issues.append(issue_at(at, f"cannot read $ref target file '{file_part}': {reason}"))
            self._sources[real] = None
            return None
        try:
            doc = parse_yaml(text)
        except YamlSyntaxError as exc:
            line, column = exc.mark or (0, 0)
            self.issues.append(ConfigIssue(path, line, column, "", exc.message))
            self._sources[real] = None
            return None
        source = Source(path, doc)
        self._sources[real] = source
        self.issues.extend(problem_issue(source, problem) for problem in doc.problems)
        return source

    def _lookup(
        self, source: Source, tokens: list[str], ref: str, at: Origin, hops: int
    ) -> tuple[Source, str, Any] | None:
        value, pointer = source.doc.data, ""
        for token in tokens:
            # A pointer may pass through a reference ("#/sites/a/providers/p/config" where
            # p is a $ref): continue inside its target.
            while isinstance(value, dict) and REF in value and _find_key(value, token) is _MISSING:
                hops += 1
                nested = value[REF]
                if hops > _MAX_HOPS:
                    self.issues.append(
                        issue_at(at, f"circular $ref: '{ref}' passes through too many references")
                    )
                    return None
                if not isinstance(nested, str):
                    break  # reported where that reference is walked
                target = self._target(nested, source, Origin(source, pointers.join(pointer, REF)), hops)
                if target is None:
                    return None
                source, pointer, value = target
            where = f"'{pointer}'" if pointer else "the document root"
            if isinstance(value, dict):
                key = _find_key(value, token)
                if key is _MISSING:
                    hint = did_you_mean(token, [pointers.segment(k) for k in value])
                    self.issues.append(
                        issue_at(at, f"$ref '{ref}' points to nothing: {where} has no key '{token}'", hint)
                    )
                    return None
                value, pointer = value[key], pointers.join(pointer, key)
            elif isinstance(value, list):
                if not (
                    token.isdigit()
                    and (token == "0" or not token.startswith("0"))
                    and int(token) < len(value)
                ):
                    message = (
                        f"$ref '{ref}' points to nothing: {where} is a list of {len(value)} items,"
                        f" no item '{token}'"
                    )
                    self.issues.append(issue_at(at, message))
                    return None
                value, pointer = value[int(token)], pointers.join(pointer, int(token))
            else:
                message = f"$ref '{ref}' points to nothing: {where} is {describe_value(value)}, not a mapping"
                self.issues.append(issue_at(at, message))
                return None
        return source, pointer, value


def _find_key(mapping: dict[Any, Any], token: str) -> Any:
    if token in mapping:
        return token
    for key in mapping:
        if not isinstance(key, str) and pointers.segment(key) == token:
            return key
    return _MISSING


def locate_file(file: str) -> Locator | None:
    """The locator of a config file (parsed, references resolved), or None if that fails."""
    try:
        doc = parse_yaml(Path(file).read_text(encoding="utf-8"))
        resolver = RefResolver(Source(file, doc))
        resolver.resolve()
    except (OSError, UnicodeDecodeError, YamlSyntaxError, ConfigTooLarge, RecursionError):
        return None
    return resolver.locator
