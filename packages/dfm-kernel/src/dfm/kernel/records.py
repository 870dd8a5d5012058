"""Frozen records returned by the registry hooks.

A record names one contribution (an adapter, a placement strategy, ...), says
what it is in one line and points at the implementation lazily: ``target`` is
an import string ``"package.module:attribute"`` or a zero-argument callable,
resolved by :meth:`Entry.load` only when the contribution is used, so that
listing plugins or printing ``dfm --help`` imports nothing heavy.

The plugin manager stamps provenance (distribution, version, entry point) on
its own copy of each record with :func:`attrs.evolve`; plugins never set it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, ClassVar

import attrs

from dfm.kernel.errors import PluginLoadError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# Adapter names keep the operation's dotted form, which may be CamelCase: "users.GreetMe".
ADAPTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

Target = str | Callable[[], Any]


@attrs.frozen
class Provenance:
    """Where a record came from."""

    distribution: str
    version: str
    entry_point: str


def load_target(target: Target) -> Any:
    """Resolve ``"pkg.mod:attr"`` (attr may be dotted) or call a zero-argument factory."""
    if callable(target):
        return target()
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def describe_target(target: Target) -> str:
    """A printable form of a target: the import string, or the factory's qualified name."""
    if isinstance(target, str):
        return target
    module = getattr(target, "__module__", None) or "?"
    return f"{module}:{getattr(target, '__qualname__', repr(target))}"


@attrs.frozen
class Entry:
    """Common shape of every record."""

    kind: ClassVar[str] = "entry"
    name_re: ClassVar[re.Pattern[str]] = NAME_RE

    name: str
    target: Target = attrs.field(repr=False)
    summary: str = ""
    provenance: Provenance | None = attrs.field(default=None, eq=False, kw_only=True)

    def load(self) -> Any:
        """Import and return the implementation.

        An import that fails becomes a :class:`~dfm.kernel.errors.PluginLoadError`
        naming the record, its target and the distribution that provided it.
        """
        try:
            return load_target(self.target)
        except (ImportError, AttributeError) as exc:
            raise PluginLoadError(
                f"{self.kind} '{self.key}' from {self.source}: cannot load "
                f"{describe_target(self.target)}: {type(exc).__name__}: {exc}"
            ) from exc

    @property
    def key(self) -> str:
        """What must be unique across plugins for this kind of record (the name, by default)."""
        return self.name

    def problems(self) -> list[str]:
        """Contract violations of this record (empty when valid)."""
        found = []
        if not isinstance(self.name, str) or not self.name_re.match(self.name):
            found.append(f"{self.kind} name {self.name!r} must match {self.name_re.pattern}")
        if isinstance(self.target, str):
            module_name, colon, attr = self.target.partition(":")
            dotted_ok = all(part.isidentifier() for part in module_name.split("."))
            attr_ok = not attr or all(part.isidentifier() for part in attr.split("."))
            if not (colon and dotted_ok and attr_ok):
                found.append(f"{self.kind} {self.name!r}: target {self.target!r} is not 'module:attribute'")
        elif not callable(self.target):
            found.append(f"{self.kind} {self.name!r}: target must be an import string or a callable")
        if not isinstance(self.summary, str):
            found.append(f"{self.kind} {self.name!r}: summary must be a string")
        elif "\n" in self.summary.strip():
            found.append(f"{self.kind} {self.name!r}: summary must be a single line")
        return found

    @property
    def source(self) -> str:
        """``"<distribution> <version>"`` of the plugin that provided this record."""
        if self.provenance is None:
            return "(unregistered)"
        return f"{self.provenance.distribution} {self.provenance.version}"


@attrs.frozen
class AdapterEntry(Entry):
    """An adapter class, by registry name such as ``"sql.Query"``."""

    kind: ClassVar[str] = "adapter"
    name_re: ClassVar[re.Pattern[str]] = ADAPTER_NAME_RE


@attrs.frozen
class PlacementStrategyEntry(Entry):
    """A placement strategy: ``target`` resolves to ``strategy(problem) -> placement``."""

    kind: ClassVar[str] = "placement strategy"


@attrs.frozen
class TransportEntry(Entry):
    """A transport factory (``inproc``, ``process``, ``flare``)."""

    kind: ClassVar[str] = "transport"


@attrs.frozen
class EmitterEntry(Entry):
    """A code or artifact emitter (``python-api``, ``flare-provision``...)."""

    kind: ClassVar[str] = "emitter"


@attrs.frozen
class CodecEntry(Entry):
    """A payload codec; ``safe`` never unpickles anything."""

    kind: ClassVar[str] = "codec"
