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

A target file is read only if its resolved path (symlinks followed) is inside
the federation directory (the folder of the top-level config) or a folder of
``Limits.ref_allow``, and then only if it is a regular file within the size
limits (:func:`~dfm.kernel.config.files.read_regular_file`). A refused file is
never opened, and nothing of its content reaches a message.

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
from dfm.kernel.config.files import (
    Limits,
    Refused,
    decode_utf8,
    inside,
    read_config_text,
    read_regular_file,
    size_text,
)
from dfm.kernel.config.locations import Locator, Origin, Source, issue_at, problem_issue
from dfm.kernel.config.typenames import describe_value
from dfm.kernel.config.yamlmarks import MAX_NODES, YamlSyntaxError, parse_yaml
from dfm.kernel.errors import ConfigError, ConfigIssue
from dfm.kernel.names import shown
from dfm.kernel.suggest import did_you_mean

__all__ = ["MAX_NODES", "REF", "ConfigTooLarge", "RefResolver", "locate_file"]

REF = "$ref"
_MAX_HOPS = 64  # references followed while walking one pointer
_REMOTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]+:|//)")  # a URI scheme (not a drive letter) or //host
_MISSING = object()
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ConfigTooLarge(Exception):
    """The document expands to more than :data:`MAX_NODES` nodes."""


class RefResolver:
    """Resolves every ``$ref`` of one config; collects issues instead of raising."""

    def __init__(
        self,
        root: Source,
        *,
        max_nodes: int | None = None,
        limits: Limits | None = None,
        used_bytes: int = 0,
    ) -> None:
        self.root = root
        self.limits = limits or Limits()
        # the federation directory, then the folders the caller allows
        folders = [os.path.dirname(os.path.abspath(root.file)), *self.limits.ref_allow]
        self.folders = [os.path.realpath(folder) for folder in folders]
        self._bytes_left = self.limits.max_total_bytes - used_bytes
        self.locator = Locator(root)
        self.issues: list[ConfigIssue] = []
        # pointers (of the resolved document) of references that could not be resolved
        self.failed: list[str] = []
        self._sources: dict[str, Source | None] = {os.path.realpath(root.file): root}
        self._nodes = 0
        self._max_nodes = self.limits.max_nodes if max_nodes is None else max_nodes

    def resolve(self) -> Any:
        """The root document with every reference replaced; raises :class:`ConfigTooLarge`.

        ``{$ref: "#/schemas/X"}`` inside schemas and parameters stays as it is (JSON Schema
        resolves it; recursive schemas stay possible) once ``X`` is known to exist.
        """
        self._kept: list[tuple[str, str, Origin]] = []
        data = self._walk(self.root.doc.data, self.root, "", "", ())
        schemas = data.get("schemas") if isinstance(data, dict) else None
        for out, ref, at in self._kept:
            name = unquote(ref.removeprefix("#/schemas/")).replace("~1", "/").replace("~0", "~")
            if not (isinstance(schemas, dict) and name in schemas):
                known = [pointers.segment(k) for k in schemas] if isinstance(schemas, dict) else []
                message = f"$ref '{ref}' points to nothing: there is no schema '{name}'"
                self.issues.append(issue_at(at, message, did_you_mean(name, known)))
                self.failed.append(out)
        return data

    def files(self) -> list[str]:
        """Real paths of every file read so far: the config and each ``$ref`` target that loaded."""
        return sorted(path for path, source in self._sources.items() if source is not None)

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
        siblings = [key for key in mapping if key != REF]
        if isinstance(ref, list) and ref:
            return self._merge_list(mapping, ref, source, src, out, stack)
        if not isinstance(ref, str):
            expected = "a string or a non-empty list of strings"
            self._fail(out, issue_at(at, f"$ref must be {expected}, found {describe_value(ref)}"))
            return mapping
        if not siblings and source is self.root and self._keeps(ref, out):
            # A schema reference stays a reference (recursive schemas, named types); it is
            # checked against the resolved document once everything is resolved.
            self._kept.append((out, ref, at))
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
        if not siblings:
            return resolved
        if not isinstance(resolved, dict):
            self.locator.mount(out, Origin(source, src), replace=True)
            message = f"a $ref with sibling keys must point to a mapping, found {describe_value(resolved)}"
            self._fail(out, issue_at(at, message))
            return mapping
        return self._siblings(dict(resolved), mapping, source, src, out, stack)

    @staticmethod
    def _keeps(ref: str, out: str) -> bool:
        """Whether ``ref`` is a schema reference left in place: ``#/schemas/X`` in a schema or parameter."""
        if not ref.startswith("#/schemas/"):
            return False
        tokens = pointers.split(out)
        return (len(tokens) >= 2 and tokens[0] == "schemas") or (
            len(tokens) >= 4 and tokens[0] == "operations" and tokens[2] == "parameters"
        )

    def _siblings(
        self,
        merged: dict[Any, Any],
        mapping: dict[Any, Any],
        source: Source,
        src: str,
        out: str,
        stack: tuple[tuple[str, str], ...],
    ) -> dict[Any, Any]:
        """``merged`` with the keys written beside ``$ref`` added; they win."""
        self.locator.nodes[out] = Origin(source, src)
        for key in mapping:
            if key == REF:
                continue
            child_src, child_out = pointers.join(src, key), pointers.join(out, key)
            # A key the target has too may have left mounts below it: forget them.
            self.locator.mount(child_out, Origin(source, child_src), replace=key in merged)
            merged[key] = self._walk(mapping[key], source, child_src, child_out, stack)
        return merged

    def _merge_list(
        self,
        mapping: dict[Any, Any],
        refs: list[Any],
        source: Source,
        src: str,
        out: str,
        stack: tuple[tuple[str, str], ...],
    ) -> Any:
        """``$ref: [a, b]``: every target mapping merged in order (later wins), then the siblings."""
        merged: dict[Any, Any] = {}
        self.locator.mount(out, Origin(source, src), replace=True)
        ok = True
        for index, ref in enumerate(refs):
            at = Origin(source, pointers.join(pointers.join(src, REF), index))
            if not isinstance(ref, str):
                self.issues.append(issue_at(at, f"a $ref list holds strings, found {describe_value(ref)}"))
                ok = False
                continue
            target = self._target(ref, source, at, 0)
            if target is None:
                ok = False
                continue
            target_source, target_pointer, target_value = target
            ident = f"{target_source.file}#{target_pointer}"
            seen = [ident_ for ident_, _ in stack]
            if ident in seen:
                chain = [ref_ for _, ref_ in stack[seen.index(ident) :]] + [ref]
                self.issues.append(issue_at(at, "circular $ref: " + " -> ".join(f"'{r}'" for r in chain)))
                ok = False
                continue
            if not isinstance(target_value, dict):
                message = f"a $ref list merges mappings; '{ref}' points to {describe_value(target_value)}"
                self.issues.append(issue_at(at, message))
                ok = False
                continue
            # each key of the target comes from the target's file
            for key in target_value:
                self.locator.mount(
                    pointers.join(out, key),
                    Origin(target_source, pointers.join(target_pointer, key)),
                    replace=key in merged,
                )
            resolved = self._walk(target_value, target_source, target_pointer, out, (*stack, (ident, ref)))
            merged.update(resolved)
        if not ok:
            self.failed.append(out)
            return mapping
        return self._siblings(merged, mapping, source, src, out, stack)

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
            relative = unquote(file_part)
            if _CONTROL.search(relative):
                self.issues.append(
                    issue_at(
                        at, f"invalid $ref {shown(ref)}: a file name must not contain control characters"
                    )
                )
                return None
            path = self._find(relative, source)
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

    def _candidates(self, relative: str, source: Source) -> list[str]:
        """Where a relative ``$ref`` file is looked for: beside the referring file, then in the
        federation directory (where the reference, run from there, finds it)."""
        here = os.path.normpath(os.path.join(os.path.dirname(source.file), relative))
        home = os.path.normpath(os.path.join(os.path.dirname(self.root.file), relative))
        return [here] if home == here or os.path.isabs(relative) else [here, home]

    def _find(self, relative: str, source: Source) -> str:
        candidates = self._candidates(relative, source)
        for path in candidates:
            real = os.path.realpath(path)
            # only looked at inside the allowed folders: whether it exists elsewhere is not asked
            if any(inside(real, folder) for folder in self.folders) and os.path.lexists(path):
                return path
        return candidates[0]

    def _load(self, path: str, ref: str, at: Origin) -> Source | None:
        real = os.path.realpath(path)
        if real in self._sources:
            return self._sources[real]  # None: already reported as unreadable
        file_part = ref.partition("#")[0]
        if not any(inside(real, folder) for folder in self.folders):
            # Not even looked at: whether it exists outside is none of the config's business.
            self.issues.append(
                issue_at(
                    at,
                    f"$ref target {shown(file_part)} is outside the federation directory",
                    "only files in the config's folder and below are read (the caller may allow more"
                    " folders: load_config(ref_allow=...) or DFM_CONFIG_REF_ALLOW)",
                )
            )
            return None  # reported at every reference
        limit = self.limits.max_bytes
        try:
            data = read_regular_file(real, min(limit, max(self._bytes_left, 0)))
        except FileNotFoundError:
            folder = Path(path).parent
            names = (
                [p.name for p in folder.iterdir() if p.suffix in {".yaml", ".yml", ".json"}]
                if folder.is_dir()
                else []
            )
            tried = [
                p
                for p in self._candidates(unquote(file_part), at.source)
                if any(inside(os.path.realpath(p), f) for f in self.folders)
            ]
            home = os.path.dirname(os.path.abspath(self.root.file))
            looked = (
                " or ".join(shown(os.path.relpath(os.path.abspath(p), home)) for p in tried)
                + " in the federation directory"
                if len(tried) > 1
                else None
            )
            message = f"$ref target file {shown(file_part)} not found" + (
                f" (looked for {looked})" if looked else ""
            )
            self.issues.append(issue_at(at, message, did_you_mean(Path(path).name, names)))
            return None  # not remembered: every reference to a missing file is reported where it is
        except Refused as exc:
            reason = exc.reason
            if self._bytes_left < limit and "over the limit" in reason:
                total = size_text(self.limits.max_total_bytes)
                reason = f"would take the config's files past their total limit of {total}"
            self.issues.append(issue_at(at, f"$ref target {shown(file_part)} {reason}"))
            self._sources[real] = None
            return None
        self._bytes_left -= len(data)
        text, bad = decode_utf8(data)
        if text is None:
            assert bad is not None
            line, column, _ = bad
            message = f"cannot read $ref target file {shown(file_part)}: it is not UTF-8 text"
            self.issues.append(issue_at(at, f"{message} (line {line}, column {column})"))
            self._sources[real] = None
            return None
        try:
            doc = parse_yaml(text, max_nodes=self._max_nodes, max_depth=self.limits.max_depth)
        except YamlSyntaxError as exc:
            line, column = exc.mark or (0, 0)
            self.issues.append(ConfigIssue(path, line, column, "", exc.message))
            self._sources[real] = None
            return None
        except RecursionError:
            self.issues.append(ConfigIssue(path, 0, 0, "", "the file is nested too deeply"))
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


def locate_file(file: str, limits: Limits | None = None) -> Locator | None:
    """The locator of a config file (parsed, references resolved), or None if that fails."""
    caps = Limits.make(limits)
    try:
        text = read_config_text(file, caps)
        doc = parse_yaml(text, max_nodes=caps.max_nodes, max_depth=caps.max_depth)
        resolver = RefResolver(Source(file, doc), limits=caps, used_bytes=len(text))
        resolver.resolve()
    except (ConfigError, YamlSyntaxError, ConfigTooLarge, RecursionError):
        return None
    return resolver.locator
