"""DFM's plugin manager: discovery, isolation, registries, conflicts and pins.

Plugins are modules of ``@hookimpl`` functions named by entry points in the
single group ``dfm.plugins``; the entry-point name is the distribution name.
DFM loads them itself (never pluggy's ``load_setuptools_entrypoints``):
core distributions first, then the rest, each sorted by (distribution,
entry point) and each in its own ``try``, so one broken plugin is reported
with its distribution and version while the others keep working.

Controls (environment):

``DFM_DISABLE_PLUGINS``  comma-separated distribution names not to load.
``DFM_LOAD_PLUGINS``     allow-list of third-party distributions (set and empty: none).
``DFM_STRICT_PLUGINS=1`` a plugin that fails to load is an error, not a warning.
``DFM_TRACE_PLUGINS=1``  print every hook call (pluggy tracing) to stderr.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any, Literal, TypeVar

import attrs
import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from dfm.kernel import hookspecs
from dfm.kernel.errors import (
    PluginConflictError,
    PluginContractError,
    PluginHookError,
    PluginLoadError,
    PluginVersionError,
    UnknownPluginError,
)
from dfm.kernel.records import (
    AdapterEntry,
    CodecEntry,
    EmitterEntry,
    Entry,
    PlacementStrategyEntry,
    Provenance,
    TransportEntry,
)
from dfm.kernel.suggest import unknown

if sys.version_info >= (3, 12):
    from importlib.metadata import EntryPoint, entry_points, version
else:
    from importlib_metadata import EntryPoint, entry_points, version

GROUP = "dfm.plugins"
CORE_DISTRIBUTIONS = frozenset({"dfm-kernel", "dfm-compiler", "dfm-runner", "dfm-cli", "dfm-flare"})

E = TypeVar("E", bound=Entry)


@attrs.frozen
class Registry:
    """How one kind of contribution is collected: hook name and record type."""

    kind: str  # "adapters"
    hook: str  # "dfm_adapters"
    record: type[Entry]
    noun: str  # "adapter", used in messages


REGISTRIES: dict[str, Registry] = {
    r.kind: r
    for r in (
        Registry("adapters", "dfm_adapters", AdapterEntry, "adapter"),
        Registry("placement_strategies", "dfm_placement_strategies", PlacementStrategyEntry, "placement strategy"),
        Registry("transports", "dfm_transports", TransportEntry, "transport"),
        Registry("emitters", "dfm_emitters", EmitterEntry, "emitter"),
        Registry("codecs", "dfm_codecs", CodecEntry, "codec"),
    )
}

Status = Literal["active", "disabled", "failed"]


@attrs.frozen
class PluginInfo:
    """One entry point as the manager saw it."""

    distribution: str
    version: str
    entry_point: str  # "dfm_adapter_sql.plugin"
    status: Status
    error: str | None = None  # one-line reason for failed / disabled
    traceback: str | None = attrs.field(default=None, repr=False)

    @property
    def label(self) -> str:
        return f"{self.distribution} {self.version}"


def _env_names(variable: str) -> set[str] | None:
    raw = os.environ.get(variable)
    if raw is None:
        return None
    return {canonicalize_name(n) for n in raw.split(",") if n.strip()}


def _strict_from_env() -> bool:
    return os.environ.get("DFM_STRICT_PLUGINS", "").lower() in ("1", "true", "yes")


class DfmPluginManager(pluggy.PluginManager):
    """pluggy manager with DFM's loader, typed registries and error reporting."""

    def __init__(self, *, strict: bool | None = None) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.strict = _strict_from_env() if strict is None else strict
        self.infos: dict[str, PluginInfo] = {}  # by distribution name
        self._provenance: dict[str, Provenance] = {}  # by pluggy plugin name
        self._registries: dict[str, dict[str, Entry]] = {}
        self._lock = threading.RLock()
        if os.environ.get("DFM_TRACE_PLUGINS", "") == "1":
            self.trace.root.setwriter(lambda text: sys.stderr.write(text))
            self.enable_tracing()

    # -- loading ------------------------------------------------------------

    def register_plugin(
        self, module: ModuleType | object, *, distribution: str, version: str = "0", entry_point: str = ""
    ) -> None:
        """Register an already-imported plugin object under a distribution's name."""
        name = f"{distribution}:{entry_point or getattr(module, '__name__', repr(module))}"
        self.register(module, name=name)
        self._provenance[name] = Provenance(distribution, version, entry_point or name)
        self.infos.setdefault(distribution, PluginInfo(distribution, version, entry_point, "active"))
        self._registries.clear()

    def load_entry_points(self, group: str = GROUP) -> None:
        """Discover and register every plugin of ``group``, each in isolation."""
        disabled = _env_names("DFM_DISABLE_PLUGINS") or set()
        allowed = _env_names("DFM_LOAD_PLUGINS")
        found: list[tuple[bool, str, str, EntryPoint]] = []
        for ep in entry_points(group=group):
            dist = canonicalize_name(ep.dist.name) if ep.dist is not None else canonicalize_name(ep.name)
            found.append((dist not in CORE_DISTRIBUTIONS, dist, ep.name, ep))
        for _third_party, dist, _name, ep in sorted(found, key=lambda item: item[:3]):
            dist_version = ep.dist.version if ep.dist is not None else "unknown"
            if dist in self.infos and self.infos[dist].status == "active":
                continue  # two copies on sys.path: the first one wins, as in importlib
            if dist in disabled:
                self.infos[dist] = PluginInfo(dist, dist_version, ep.value, "disabled", "in DFM_DISABLE_PLUGINS")
                continue
            if allowed is not None and dist not in CORE_DISTRIBUTIONS and dist not in allowed:
                self.infos[dist] = PluginInfo(dist, dist_version, ep.value, "disabled", "not in DFM_LOAD_PLUGINS")
                continue
            self._load_one(dist, dist_version, ep)

    def _load_one(self, dist: str, dist_version: str, ep: EntryPoint) -> None:
        try:
            module = ep.load()
            self.register_plugin(module, distribution=dist, version=dist_version, entry_point=ep.value)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            info = PluginInfo(dist, dist_version, ep.value, "failed", reason, traceback.format_exc())
            self.infos[dist] = info
            message = (
                f"plugin {info.label} (entry point {ep.value}) failed to load: {reason}. "
                "Other plugins are unaffected; run with --verbose for the traceback."
            )
            if self.strict:
                raise PluginLoadError(message) from exc
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    def add_specs(self, module: ModuleType) -> None:
        """Add hookspecs from another distribution (dfm-cli adds ``dfm_cli_commands``)."""
        self.add_hookspecs(module)
        self._registries.clear()

    def provenance_of(self, plugin_name: str) -> Provenance:
        return self._provenance.get(plugin_name) or Provenance(plugin_name, "0", plugin_name)

    # -- registries ---------------------------------------------------------

    def collect(self, hook_name: str, record_type: type[E], noun: str) -> dict[str, E]:
        """Call every implementation of a registry hook; validate, stamp and index the records."""
        hook = getattr(self.hook, hook_name)
        by_name: dict[str, list[E]] = defaultdict(list)
        offenders: list[str] = []
        for impl in hook.get_hookimpls():
            prov = self.provenance_of(impl.plugin_name)
            try:
                returned = impl.function()
                records = [returned] if isinstance(returned, Entry) or returned is None else list(returned)
            except Exception as exc:
                raise PluginHookError(
                    f"{hook_name}() in {prov.distribution} {prov.version} raised {type(exc).__name__}: {exc}"
                ) from exc
            for record in records:
                if record is None:
                    continue
                if not isinstance(record, record_type):
                    offenders.append(
                        f"{prov.distribution} {prov.version}: {hook_name}() returned "
                        f"{type(record).__name__}, expected {record_type.__name__}"
                    )
                    continue
                problems = record.problems()
                if problems:
                    offenders.extend(f"{prov.distribution} {prov.version}: {p}" for p in problems)
                    continue
                by_name[record.name].append(attrs.evolve(record, provenance=prov))
        if offenders:
            raise PluginContractError(
                "invalid plugin records:\n  "
                + "\n  ".join(offenders)
                + "\nplease report this to the plugin's authors"
            )
        conflicts = {name: recs for name, recs in by_name.items() if len(recs) > 1}
        if conflicts:
            lines = [
                f"{noun} '{name}' provided by: " + ", ".join(sorted(r.source for r in recs))
                for name, recs in sorted(conflicts.items())
            ]
            raise PluginConflictError("\n".join(lines))
        return {name: recs[0] for name, recs in sorted(by_name.items())}

    def registry(self, kind: str) -> dict[str, Entry]:
        """All records of one kind (``"adapters"``, ``"transports"``...), sorted by name."""
        with self._lock:
            if kind not in self._registries:
                spec = REGISTRIES[kind]
                self._registries[kind] = dict(self.collect(spec.hook, spec.record, spec.noun))
            return self._registries[kind]

    def get(self, kind: str, name: str) -> Entry:
        """One record by name, or :class:`UnknownPluginError` with a did-you-mean."""
        entries = self.registry(kind)
        try:
            return entries[name]
        except KeyError:
            noun = REGISTRIES[kind].noun
            raise UnknownPluginError(unknown(noun, name, entries) + "; see 'dfm plugins list'") from None

    def contributions(self) -> dict[str, dict[str, list[str]]]:
        """distribution -> kind -> names it contributes."""
        out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for kind in REGISTRIES:
            for name, entry in self.registry(kind).items():
                dist = entry.provenance.distribution if entry.provenance else "?"
                out[dist][kind].append(name)
        return {d: dict(k) for d, k in out.items()}

    # -- pins -----------------------------------------------------------------

    def check_pins(self, pins: Mapping[str, str], locations: Mapping[str, str] | None = None) -> None:
        """Check a federation's ``plugins:`` pins against installed versions, all at once.

        ``locations`` maps a distribution to ``file:line:col /plugins/<dist>`` for messages.
        """
        problems = []
        for dist, spec_text in sorted(pins.items()):
            where = (locations or {}).get(dist, f"/plugins/{dist}")
            try:
                spec = SpecifierSet(spec_text or "")
            except InvalidSpecifier:
                problems.append(f"{where}: invalid version specifier {spec_text!r}")
                continue
            try:
                installed = version(dist)
            except Exception:
                problems.append(f"{where}: requires {spec_text or 'any version'}, found: not installed")
                continue
            try:
                ok = Version(installed) in spec
            except InvalidVersion:
                ok = False
            if not ok:
                problems.append(f"{where}: requires {spec_text}, found {installed}")
        if problems:
            raise PluginVersionError("federation plugin pins not met:\n  " + "\n  ".join(problems))


_manager: DfmPluginManager | None = None
_manager_lock = threading.Lock()


def get_plugin_manager() -> DfmPluginManager:
    """The process-wide manager, built on first use (no import-time side effects)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            manager = DfmPluginManager()
            manager.load_entry_points()
            _manager = manager
        return _manager


def reset_plugin_manager() -> None:
    """Forget the process-wide manager (tests, or after installing plugins)."""
    global _manager
    with _manager_lock:
        _manager = None


def load_entry(kind: str, name: str, manager: DfmPluginManager | None = None) -> Any:
    """Resolve a named contribution to its implementation."""
    return (manager or get_plugin_manager()).get(kind, name).load()


def iter_infos(manager: DfmPluginManager) -> Iterable[PluginInfo]:
    return (manager.infos[d] for d in sorted(manager.infos))
