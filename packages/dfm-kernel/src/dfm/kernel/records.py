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
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Literal

import attrs

from dfm.kernel.errors import PluginLoadError
from dfm.kernel.names import ADAPTER_NAME_RE

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

Target = str | Callable[[], Any]


@attrs.frozen
class Provenance:
    """Where a record came from."""

    distribution: str
    version: str
    entry_point: str


def load_target(target: Target) -> Any:
    """Resolve ``"pkg.mod:attr"`` (attr may be dotted; the module itself without one) or call a factory.

    Entry-point values may end in ``[extras]``, which name no object and are ignored.
    """
    if callable(target):
        return target()
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name.strip())
    for part in filter(None, attr.split("[", 1)[0].strip().split(".")):
        obj = getattr(obj, part)
    return obj


def import_target(ref: str) -> str:
    """The import string of a dotted path: ``pkg.mod.Cls`` -> ``pkg.mod:Cls`` (adapters, site classes).

    A reference already in ``module:attr`` form is returned as it is.
    """
    return ref if ":" in ref else ":".join(ref.rsplit(".", 1))


def describe_target(target: Target) -> str:
    """A printable form of a target: the import string, or the factory's qualified name."""
    if isinstance(target, str):
        return target
    module = getattr(target, "__module__", None) or "?"
    return f"{module}:{getattr(target, '__qualname__', repr(target))}"


@attrs.frozen
class Entry:
    """Common shape of every record."""

    hook: ClassVar[str] = ""  # the registry hook returning these records: "dfm_adapters"
    noun: ClassVar[str] = "entry"  # one record in messages: "adapter"
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
                f"{self.noun} '{self.key}' from {self.source}: cannot load "
                f"{describe_target(self.target)}: {type(exc).__name__}: {exc}"
            ) from exc

    @classmethod
    def registry_kind(cls) -> str:
        """The registry these records are collected into: the hook name without ``dfm_`` (``"adapters"``)."""
        return cls.hook.removeprefix("dfm_")

    @property
    def key(self) -> str:
        """What must be unique across plugins for this kind of record (the name, by default)."""
        return self.name

    def problems(self) -> list[str]:
        """Contract violations of this record (empty when valid)."""
        found = []
        if not isinstance(self.name, str) or not self.name_re.match(self.name):
            found.append(f"{self.noun} name {self.name!r} must match {self.name_re.pattern}")
        if isinstance(self.target, str):
            module_name, colon, attr = self.target.partition(":")
            dotted_ok = all(part.isidentifier() for part in module_name.split("."))
            attr_ok = not attr or all(part.isidentifier() for part in attr.split("."))
            if not (colon and dotted_ok and attr_ok):
                found.append(f"{self.noun} {self.name!r}: target {self.target!r} is not 'module:attribute'")
        elif not callable(self.target):
            found.append(f"{self.noun} {self.name!r}: target must be an import string or a callable")
        if not isinstance(self.summary, str):
            found.append(f"{self.noun} {self.name!r}: summary must be a string")
        elif "\n" in self.summary.strip():
            found.append(f"{self.noun} {self.name!r}: summary must be a single line")
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

    hook: ClassVar[str] = "dfm_adapters"
    noun: ClassVar[str] = "adapter"
    name_re: ClassVar[re.Pattern[str]] = ADAPTER_NAME_RE


@attrs.frozen
class PlacementStrategyEntry(Entry):
    """A placement strategy: ``target`` resolves to ``strategy(problem) -> placement``."""

    hook: ClassVar[str] = "dfm_placement_strategies"
    noun: ClassVar[str] = "placement strategy"


@attrs.frozen
class TransportEntry(Entry):
    """A transport factory (``inproc``, ``process``, ``flare``)."""

    hook: ClassVar[str] = "dfm_transports"
    noun: ClassVar[str] = "transport"


OPTION_RE = re.compile(r"^--[a-z][a-z0-9-]*$")
EMITTER_INPUTS = ("federation", "pipeline")


@attrs.frozen
class EmitterOption:
    """A command-line option of a federation emitter (``dfm fed gen KIND --OPTION``).

    The emitter receives it as a keyword argument named like the option
    (``--no-api`` -> ``no_api``): a bool for a ``flag``, a tuple of strings
    when ``multiple``, else a string or None.
    """

    name: str  # "--runtime-site"
    help: str = ""
    flag: bool = False
    multiple: bool = False
    metavar: str | None = None

    @property
    def keyword(self) -> str:
        """The keyword argument the emitter receives: ``runtime_site``."""
        return self.name.removeprefix("--").replace("-", "_")


def _options(value: Iterable[EmitterOption]) -> tuple[EmitterOption, ...]:
    return tuple(value)


@attrs.frozen
class EmitterEntry(Entry):
    """A code or artifact emitter, and what it takes and writes.

    ``takes`` is what the emitter consumes:

    - ``"pipeline"``: ``emit(prepared, federation) -> str | bytes`` renders a prepared
      pipeline; listed by ``dfm pipeline show --format``;
    - ``"federation"``: ``emit(federation, *, config_path, output_dir, **options) ->
      list[Path]`` writes files for a federation and returns them; listed as
      ``dfm fed gen <name>``, with ``options`` as its command-line options.

    ``writes`` says in a few words what comes out (``"text"``, ``"image/svg+xml"``,
    ``"a Python package"``). ``command`` names a federation emitter's subcommand when
    it differs from the emitter's name (``python-api`` is ``dfm fed gen code``).
    """

    hook: ClassVar[str] = "dfm_emitters"
    noun: ClassVar[str] = "emitter"

    takes: Literal["federation", "pipeline"] = attrs.field(default="pipeline", kw_only=True)
    writes: str = attrs.field(default="", kw_only=True)
    options: tuple[EmitterOption, ...] = attrs.field(default=(), kw_only=True, converter=_options)
    command: str | None = attrs.field(default=None, kw_only=True)

    @property
    def command_name(self) -> str:
        """The ``dfm fed gen`` subcommand of a federation emitter."""
        return self.command or self.name

    def problems(self) -> list[str]:
        """Contract violations of this record (empty when valid): the base checks plus ``takes``, ``writes``,
        ``options`` and ``command``.
        """
        found = super().problems()
        if self.takes not in EMITTER_INPUTS:
            found.append(f"{self.noun} {self.name!r}: takes must be one of {', '.join(EMITTER_INPUTS)}")
        if not isinstance(self.writes, str) or "\n" in self.writes:
            found.append(f"{self.noun} {self.name!r}: writes must be a one-line string")
        for option in self.options:
            if not isinstance(option, EmitterOption) or not OPTION_RE.match(option.name):
                found.append(
                    f"{self.noun} {self.name!r}: option {option!r} must be an EmitterOption "
                    "named like '--name'"
                )
            elif self.takes != "federation":
                found.append(f"{self.noun} {self.name!r}: only federation emitters take options")
        if self.command is not None and (
            not isinstance(self.command, str) or not re.match(r"^[a-z][a-z0-9-]*$", self.command)
        ):
            found.append(f"{self.noun} {self.name!r}: command {self.command!r} must be a command name")
        return found


@attrs.frozen
class CodecEntry(Entry):
    """A payload codec; ``safe`` never unpickles anything."""

    hook: ClassVar[str] = "dfm_codecs"
    noun: ClassVar[str] = "codec"


@attrs.frozen
class CliCommandEntry(Entry):
    """A click command or group mounted under ``dfm`` (or under ``dfm <parent>``).

    Returned by ``dfm_cli_commands``, a hook dfm-cli declares; the record lives
    here so that plugins contribute commands without importing dfm-cli.

    ``target`` resolves to a :class:`click.Command`; ``parent`` is the command
    path of the group to mount it in (``"fed"``, or ``"fed gen"`` for a group
    contributed under ``fed``), ``None`` for the top level. Commands are unique
    by their full path (:attr:`key`), so ``dfm validate`` and ``dfm fed validate``
    do not conflict.
    """

    hook: ClassVar[str] = "dfm_cli_commands"
    noun: ClassVar[str] = "cli command"
    name_re: ClassVar[re.Pattern[str]] = re.compile(r"^[a-z][a-z0-9-]*$")

    parent: str | None = None  # e.g. "fed" to mount under "dfm fed"

    @property
    def key(self) -> str:
        """The command's path under ``dfm``: ``"fed validate"``."""
        return f"{self.parent} {self.name}" if self.parent else self.name

    def problems(self) -> list[str]:
        """Contract violations of this record (empty when valid): the base checks plus ``parent``."""
        found = super().problems()
        if self.parent is not None and (
            not isinstance(self.parent, str)
            or not self.parent.split()
            or not all(self.name_re.match(word) for word in self.parent.split(" "))
        ):
            found.append(
                f"{self.noun} {self.name!r}: parent {self.parent!r} must be a command path "
                "such as 'fed' or 'fed gen'"
            )
        return found
