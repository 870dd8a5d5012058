"""The plugin manager: pluggy's, with DFM's loader, typed registries and error reporting.

Plugins are modules of ``@hookimpl`` functions named by entry points in the
single group ``dfm.plugins``; the entry-point name is the distribution name.
DFM loads them itself (never pluggy's ``load_setuptools_entrypoints``): its
own distributions first, then the rest, each sorted by (distribution, entry
point) and each in its own ``try``, so one broken plugin is reported with its
distribution and version while the others keep working. Registries are
collected on first use (:mod:`dfm.kernel.plugins.registries`).
"""

from __future__ import annotations

import sys
import threading
import traceback
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any, TypeVar

import attrs
import pluggy

from dfm.kernel import hookspecs
from dfm.kernel.entrypoints import EntryPoint, canonical_name
from dfm.kernel.errors import PluginContractError, PluginLoadError, UnknownPluginError
from dfm.kernel.plugins import hookcheck
from dfm.kernel.plugins.discovery import GROUP, Controls, discover, strict_from_env, trace_from_env
from dfm.kernel.plugins.pins import check_pins
from dfm.kernel.plugins.registries import REGISTRIES, Collection, gather
from dfm.kernel.plugins.requirements import requirements
from dfm.kernel.plugins.status import DfmPluginWarning, PluginInfo, one_line
from dfm.kernel.records import Entry, Provenance
from dfm.kernel.suggest import unknown

__all__ = ["DfmPluginManager", "get_plugin_manager", "iter_infos", "reset_plugin_manager"]

E = TypeVar("E", bound=Entry)


class DfmPluginManager(pluggy.PluginManager):
    """pluggy manager with DFM's loader, typed registries and error reporting.

    ``strict`` (default: ``DFM_STRICT_PLUGINS``) turns load failures and
    unknown hooks into errors instead of :class:`DfmPluginWarning`.
    """

    def __init__(self, *, strict: bool | None = None) -> None:
        super().__init__(hookspecs.PROJECT)
        self.strict = strict_from_env() if strict is None else strict
        self.infos: dict[str, PluginInfo] = {}  # by pluggy plugin name (the distribution name)
        self.registries: dict[str, type[Entry]] = dict(REGISTRIES)
        self._provenance: dict[str, Provenance] = {}  # by pluggy plugin name
        self._cache: dict[str, dict[str, Entry]] = {}
        self._spec_modules: set[str] = set()
        self._pending_reported: set[str] = set()
        self._lock = threading.RLock()
        self.add_specs(hookspecs)
        if trace_from_env():
            self.trace.root.setwriter(lambda text: sys.stderr.write(text))
            self.enable_tracing()

    # -- registration -------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """pluggy's ``register``; also forgets collected registries."""
        with self._lock:
            result = super().register(plugin, name)
            self._cache.clear()
            return result

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        """pluggy's ``unregister``; also forgets collected registries."""
        with self._lock:
            result = super().unregister(plugin, name)
            self._cache.clear()
            return result

    def register_plugin(
        self,
        plugin: object,
        *,
        distribution: str,
        version: str = "0",
        entry_point: str = "",
        name: str | None = None,
    ) -> str:
        """Register an already-imported plugin object on behalf of a distribution.

        Returns the plugin's name in pluggy (``name``, else the distribution name).
        An implementation that does not match its hookspec raises
        :class:`PluginContractError` naming the distribution and the hook.
        """
        dist = canonical_name(distribution)
        entry_point = entry_point or getattr(plugin, "__name__", type(plugin).__name__)
        info = PluginInfo(dist, version, entry_point, "active", name=name)
        plugin_name = info.plugin_name
        try:
            self.register(plugin, name=plugin_name)
        except pluggy.PluginValidationError as exc:
            raise PluginContractError(
                f"plugin {info.label} (entry point {entry_point}) has an invalid hook implementation: "
                f"{one_line(str(exc))}; please report this to the plugin's authors"
            ) from exc
        self._provenance[plugin_name] = Provenance(dist, version, entry_point)
        self.infos[plugin_name] = info
        return plugin_name

    def provenance_of(self, plugin_name: str) -> Provenance:
        """Distribution, version and entry point of a registered plugin."""
        return self._provenance.get(plugin_name) or Provenance(plugin_name, "0", plugin_name)

    # -- loading ------------------------------------------------------------

    def discover(self, group: str = GROUP) -> list[EntryPoint]:
        """Entry points of ``group``: DFM's own distributions first, then by (distribution, name)."""
        return discover(group)

    def load_entry_points(self, group: str = GROUP) -> None:
        """Discover and register every plugin of ``group``, each in isolation."""
        controls = Controls.from_env()
        for ep in self.discover(group):
            dist = canonical_name(ep.dist_name)
            ep_name = None if canonical_name(ep.name) == dist else ep.name
            info = PluginInfo(dist, ep.dist_version, ep.value, "active", name=ep_name)
            plugin_name = info.plugin_name
            if self.has_plugin(plugin_name):
                continue  # registered already (by register_plugin or an earlier call)
            refusal = controls.refusal(dist, plugin_name, blocked=self.is_blocked(plugin_name))
            if refusal is not None:
                self.infos[plugin_name] = attrs.evolve(info, status="disabled", error=refusal)
            else:
                self._load_one(info, ep)

    def _load_one(self, info: PluginInfo, ep: EntryPoint) -> None:
        try:
            plugin = ep.load()
        except Exception as exc:
            self._fail(info, f"{type(exc).__name__}: {one_line(str(exc))}", traceback.format_exc(), exc)
            return
        try:
            self.register_plugin(
                plugin,
                distribution=info.distribution,
                version=info.version,
                entry_point=ep.value,
                name=info.name,
            )
        except PluginContractError as exc:
            cause = exc.__cause__ or exc
            reason = f"invalid hook implementation: {one_line(str(cause))}"
            self._fail(info, reason, "".join(traceback.format_exception(cause)), exc)
        except ValueError as exc:  # the same object already registered by another entry point
            owner = self.get_name(plugin)
            reason = f"its plugin object {ep.value} is already registered by {owner or 'another plugin'}"
            self._fail(info, reason, traceback.format_exc(), exc)

    def _fail(self, info: PluginInfo, reason: str, tb: str, exc: BaseException) -> None:
        failed = attrs.evolve(info, status="failed", error=reason, traceback=tb)
        self.infos[failed.plugin_name] = failed
        if self.strict:
            raise PluginLoadError(failed.message) from exc
        warnings.warn(failed.message, DfmPluginWarning, stacklevel=3)

    # -- hook specs ---------------------------------------------------------

    def add_specs(self, module: ModuleType | type, *record_types: type[Entry]) -> None:
        """Add hookspecs from another distribution (dfm-cli adds ``dfm_cli_commands``).

        Safe to call again with the same module. Plugins registered before whose
        implementations do not match a new spec are unregistered and reported
        as failed (an error in strict mode) instead of breaking the caller.
        ``record_types``, and those the module lists in ``DFM_REGISTRIES``, make
        new registry kinds known to :meth:`registry` and :meth:`contributions`.
        """
        key = getattr(module, "__name__", repr(module))
        with self._lock:
            for record_type in (*getattr(module, "DFM_REGISTRIES", ()), *record_types):
                self.registries[record_type.registry_kind()] = record_type
            self._cache.clear()
            if key in self._spec_modules:
                return
            for plugin_name, reason in list(hookcheck.mismatched_impls(self, module)):
                self.unregister(name=plugin_name)
                prov = self.provenance_of(plugin_name)
                info = self.infos.get(plugin_name) or PluginInfo(
                    prov.distribution, prov.version, prov.entry_point, "active"
                )
                self._fail(info, reason, "", PluginContractError(reason))
            try:
                self.add_hookspecs(module)
            except pluggy.PluginValidationError as exc:  # pragma: no cover - pre-checked above
                raise PluginContractError(one_line(str(exc))) from exc
            self._spec_modules.add(key)

    def pending_problems(self) -> list[str]:
        """Implementations of hooks that no loaded distribution declares (not ``optionalhook``)."""
        return hookcheck.pending_problems(self, self.provenance_of)

    def check_pending(self) -> None:
        """Raise :class:`PluginContractError` listing every implementation of an undeclared hook."""
        problems = self.pending_problems()
        if problems:
            raise PluginContractError("unknown hooks:\n  " + "\n  ".join(problems))

    def _check_pending_once(self) -> None:
        if self.strict:
            self.check_pending()
            return
        for problem in self.pending_problems():
            if problem not in self._pending_reported:
                self._pending_reported.add(problem)
                warnings.warn(problem, DfmPluginWarning, stacklevel=4)

    # -- registries ---------------------------------------------------------

    def gather(self, record_type: type[E]) -> Collection[E]:
        """Call every implementation of a registry hook and keep every problem (never raises for them)."""
        self._check_pending_once()
        return gather(self, record_type, self.provenance_of)

    def collect(self, record_type: type[E]) -> dict[str, E]:
        """Call every implementation of a registry hook; validate, stamp and index the records.

        Raises :class:`PluginHookError` (a hook raised), :class:`PluginContractError`
        (invalid records, every offender listed) or :class:`PluginConflictError`
        (every conflicting name with every distribution claiming it).
        """
        collection = self.gather(record_type)
        collection.raise_errors()
        return collection.entries

    def registry(self, kind: str) -> dict[str, Entry]:
        """All records of one kind (``"adapters"``, ``"transports"``...), sorted by name."""
        with self._lock:
            if kind not in self._cache:
                if kind not in self.registries:
                    raise UnknownPluginError(unknown("plugin kind", kind, self.registries))
                self._cache[kind] = dict(self.collect(self.registries[kind]))
            return self._cache[kind]

    def get(self, kind: str, name: str) -> Entry:
        """One record by name, or :class:`UnknownPluginError` with a did-you-mean."""
        entries = self.registry(kind)
        try:
            return entries[name]
        except KeyError:
            noun = self.registries[kind].noun
            raise UnknownPluginError(unknown(noun, name, entries) + "; see 'dfm plugins list'") from None

    def contributions(self) -> dict[str, dict[str, list[str]]]:
        """distribution -> kind -> names it contributes (conflicting names included, errors skipped)."""
        out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for kind, record_type in self.registries.items():
            collection = self.gather(record_type)
            records = [
                *collection.entries.values(),
                *(r for recs in collection.conflicts.values() for r in recs),
            ]
            for record in records:
                dist = record.provenance.distribution if record.provenance else "?"
                out[dist][kind].append(record.key)
        return {dist: {kind: sorted(names) for kind, names in kinds.items()} for dist, kinds in out.items()}

    # -- requirements and pins ------------------------------------------------

    def requirements(self, distributions: Iterable[str] | None = None) -> list[str]:
        """``name==version`` of every active plugin distribution (or only of ``distributions``), sorted.

        This is what ``dfm plugins list --requirements`` prints.
        """
        return requirements(self.infos.values(), distributions)

    def check_pins(self, pins: Mapping[str, Any], locations: Mapping[str, str] | None = None) -> None:
        """Check a federation's ``plugins:`` pins against installed versions, all at once.

        ``locations`` maps a distribution to ``file:line:col /plugins/<dist>`` for messages.
        A pinned distribution that is installed but disabled or failed is reported too.
        """
        check_pins(self.infos.values(), pins, locations)


_manager: DfmPluginManager | None = None
_manager_lock = threading.RLock()


def get_plugin_manager() -> DfmPluginManager:
    """The process-wide manager, built and loaded on first use (no import-time side effects).

    In strict mode a plugin that fails to load raises :class:`PluginLoadError`
    here, and the next call tries again.
    """
    global _manager
    with _manager_lock:
        if _manager is None:
            manager = DfmPluginManager()
            _manager = manager  # visible to plugins that ask for it while being loaded
            try:
                manager.load_entry_points()
            except BaseException:
                _manager = None
                raise
        return _manager


def reset_plugin_manager() -> None:
    """Forget the process-wide manager (tests, or after installing plugins)."""
    global _manager
    with _manager_lock:
        _manager = None


def iter_infos(manager: DfmPluginManager) -> Iterable[PluginInfo]:
    """The manager's plugin infos sorted by plugin name."""
    return (manager.infos[name] for name in sorted(manager.infos))
