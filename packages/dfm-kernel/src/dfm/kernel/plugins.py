"""DFM's plugin manager: discovery, isolation, registries, conflicts and pins.

Plugins are modules of ``@hookimpl`` functions named by entry points in the
single group ``dfm.plugins``; the entry-point name is the distribution name.
DFM loads them itself (never pluggy's ``load_setuptools_entrypoints``):
core distributions first, then the rest, each sorted by (distribution,
entry point) and each in its own ``try``, so one broken plugin is reported
with its distribution and version while the others keep working.

Registries (``adapters``, ``transports``...) are collected on first use, one
implementation at a time through pluggy (so tracing and call monitoring see
every call), validated, stamped with provenance and indexed by name; two
plugins claiming one name is a :class:`~dfm.kernel.errors.PluginConflictError`
naming every distribution involved.

Controls (environment):

``DFM_DISABLE_PLUGINS``  comma-separated distribution names not to load.
``DFM_LOAD_PLUGINS``     allow-list of third-party distributions (set and empty: none);
                         core distributions are always loaded unless disabled.
``DFM_STRICT_PLUGINS=1`` a plugin that fails to load is an error, not a warning.
``DFM_TRACE_PLUGINS=1``  print every hook call (pluggy tracing) to stderr.

Entry points are read by :mod:`dfm.kernel.entrypoints`, which finds them as
``importlib.metadata`` does without its ~50 ms import: ``dfm --help`` loads
every plugin's records.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
import traceback
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any, Generic, Literal, TypeVar

import attrs
import pluggy

from dfm.kernel import hookspecs
from dfm.kernel.entrypoints import EntryPoint, canonical_name, entry_points
from dfm.kernel.errors import (
    PluginConflictError,
    PluginContractError,
    PluginError,
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
from dfm.kernel.suggest import did_you_mean, unknown

__all__ = [
    "CORE_DISTRIBUTIONS",
    "GROUP",
    "REGISTRIES",
    "Collection",
    "DfmPluginManager",
    "DfmPluginWarning",
    "PluginInfo",
    "Registry",
    "canonical_name",
    "get_plugin_manager",
    "iter_infos",
    "load_entry",
    "reset_plugin_manager",
]

GROUP = "dfm.plugins"
CORE_DISTRIBUTIONS = frozenset({"dfm-kernel", "dfm-compiler", "dfm-runner", "dfm-cli", "dfm-flare"})

E = TypeVar("E", bound=Entry)


class DfmPluginWarning(RuntimeWarning):
    """A plugin failed to load or misbehaves, and strict mode is off."""


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
        Registry(
            "placement_strategies", "dfm_placement_strategies", PlacementStrategyEntry, "placement strategy"
        ),
        Registry("transports", "dfm_transports", TransportEntry, "transport"),
        Registry("emitters", "dfm_emitters", EmitterEntry, "emitter"),
        Registry("codecs", "dfm_codecs", CodecEntry, "codec"),
    )
}

Status = Literal["active", "disabled", "failed"]


@attrs.frozen
class PluginInfo:
    """One entry point as the manager saw it."""

    distribution: str  # canonical distribution name, "dfm-adapter-sql"
    version: str
    entry_point: str  # the entry point's value, "dfm_adapter_sql.plugin"
    status: Status
    error: str | None = None  # one-line reason for failed / disabled
    traceback: str | None = attrs.field(default=None, repr=False, eq=False)
    name: str | None = None  # the entry point's name when it is not the distribution name

    @property
    def label(self) -> str:
        """``"<distribution> <version>"``."""
        return f"{self.distribution} {self.version}"

    @property
    def plugin_name(self) -> str:
        """The name the plugin is registered under in pluggy: the distribution name by convention."""
        if self.name is None or canonical_name(self.name) == self.distribution:
            return self.distribution
        return f"{self.distribution}:{self.name}"

    @property
    def message(self) -> str:
        """A full sentence about this plugin's state, for warnings, errors and the CLI."""
        where = f"plugin {self.label} (entry point {self.entry_point or self.plugin_name})"
        if self.status == "active":
            return f"{where} is active"
        if self.status == "disabled":
            return f"{where} is disabled: {self.error}"
        return (
            f"{where} failed to load: {self.error}. "
            "Other plugins are unaffected; run with --verbose for the traceback."
        )


@attrs.define
class Collection(Generic[E]):
    """What one registry hook returned, with every problem found instead of the first one."""

    entries: dict[str, E]  # valid, unambiguous records by key, sorted
    errors: list[PluginError]  # hooks that raised, invalid records, conflicts
    conflicts: dict[str, list[E]]  # key -> every record claiming it (left out of ``entries``)

    def raise_errors(self) -> None:
        """Raise the problems as one error per category: hook errors, contract, conflicts."""
        for category in (PluginHookError, PluginContractError, PluginConflictError):
            found = [e for e in self.errors if type(e) is category]
            if found:
                if len(found) == 1:
                    raise found[0]
                raise category("\n".join(str(e) for e in found)) from found[0]


def _env_names(variable: str) -> set[str] | None:
    raw = os.environ.get(variable)
    if raw is None:
        return None
    return {canonical_name(n.strip()) for n in raw.split(",") if n.strip()}


def _strict_from_env() -> bool:
    return os.environ.get("DFM_STRICT_PLUGINS", "").strip().lower() in ("1", "true", "yes", "on")


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _required_args(function: Any, *, method: bool) -> set[str]:
    """Names of a hook function's required positional arguments (pluggy's view of a spec)."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return set()
    if method and parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {p.name for p in parameters if p.kind in positional and p.default is inspect.Parameter.empty}


class DfmPluginManager(pluggy.PluginManager):
    """pluggy manager with DFM's loader, typed registries and error reporting.

    ``strict`` (default: ``DFM_STRICT_PLUGINS``) turns load failures and
    unknown hooks into errors instead of :class:`DfmPluginWarning`.
    """

    def __init__(self, *, strict: bool | None = None) -> None:
        super().__init__(hookspecs.PROJECT)
        self.strict = _strict_from_env() if strict is None else strict
        self.infos: dict[str, PluginInfo] = {}  # by pluggy plugin name (the distribution name)
        self.registries: dict[str, Registry] = dict(REGISTRIES)
        self._provenance: dict[str, Provenance] = {}  # by pluggy plugin name
        self._cache: dict[str, dict[str, Entry]] = {}
        self._spec_modules: set[str] = set()
        self._pending_reported: set[str] = set()
        self._lock = threading.RLock()
        self.add_specs(hookspecs)
        if os.environ.get("DFM_TRACE_PLUGINS", "") == "1":
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
                f"{_one_line(str(exc))}; please report this to the plugin's authors"
            ) from exc
        self._provenance[plugin_name] = Provenance(dist, version, entry_point)
        self.infos[plugin_name] = info
        return plugin_name

    def discover(self, group: str = GROUP) -> list[EntryPoint]:
        """Entry points of ``group``: core distributions first, then by (distribution, name)."""

        def key(ep: EntryPoint) -> tuple[bool, str, str]:
            dist = canonical_name(ep.dist_name)
            return (dist not in CORE_DISTRIBUTIONS, dist, ep.name)

        return sorted(entry_points(group=group), key=key)

    def load_entry_points(self, group: str = GROUP) -> None:
        """Discover and register every plugin of ``group``, each in isolation."""
        disabled = _env_names("DFM_DISABLE_PLUGINS") or set()
        allowed = _env_names("DFM_LOAD_PLUGINS")
        for ep in self.discover(group):
            dist = canonical_name(ep.dist_name)
            dist_version = ep.dist_version
            ep_name = None if canonical_name(ep.name) == dist else ep.name
            info = PluginInfo(dist, dist_version, ep.value, "active", name=ep_name)
            plugin_name = info.plugin_name
            if self.has_plugin(plugin_name):
                continue  # registered already (by register_plugin or an earlier call)
            if dist in disabled or plugin_name in disabled:
                self.infos[plugin_name] = attrs.evolve(
                    info, status="disabled", error="in DFM_DISABLE_PLUGINS"
                )
            elif self.is_blocked(plugin_name):
                self.infos[plugin_name] = attrs.evolve(info, status="disabled", error="blocked")
            elif allowed is not None and dist not in CORE_DISTRIBUTIONS and dist not in allowed:
                self.infos[plugin_name] = attrs.evolve(
                    info, status="disabled", error="not in DFM_LOAD_PLUGINS"
                )
            else:
                self._load_one(info, ep)

    def _load_one(self, info: PluginInfo, ep: EntryPoint) -> None:
        try:
            plugin = ep.load()
        except Exception as exc:
            self._fail(info, f"{type(exc).__name__}: {_one_line(str(exc))}", traceback.format_exc(), exc)
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
            reason = f"invalid hook implementation: {_one_line(str(cause))}"
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

    def add_specs(self, module: ModuleType | type, *registries: Registry) -> None:
        """Add hookspecs from another distribution (dfm-cli adds ``dfm_cli_commands``).

        Safe to call again with the same module. Plugins registered before whose
        implementations do not match a new spec are unregistered and reported
        as failed (an error in strict mode) instead of breaking the caller.
        ``registries``, and those the module lists in ``DFM_REGISTRIES``, make
        new registry kinds known to :meth:`registry` and :meth:`contributions`.
        """
        key = getattr(module, "__name__", repr(module))
        with self._lock:
            for registry in (*getattr(module, "DFM_REGISTRIES", ()), *registries):
                self.registries[registry.kind] = registry
            self._cache.clear()
            if key in self._spec_modules:
                return
            self._drop_mismatched_impls(module)
            try:
                self.add_hookspecs(module)
            except pluggy.PluginValidationError as exc:  # pragma: no cover - pre-checked above
                raise PluginContractError(_one_line(str(exc))) from exc
            self._spec_modules.add(key)

    def _drop_mismatched_impls(self, module: ModuleType | type) -> None:
        method = inspect.isclass(module)
        for name in dir(module):
            if self.parse_hookspec_opts(module, name) is None:
                continue
            caller = getattr(self.hook, name, None)
            if caller is None or caller.has_spec():
                continue
            spec_args = _required_args(getattr(module, name), method=method)
            for impl in caller.get_hookimpls():
                extra = sorted(set(impl.argnames) - spec_args)
                if not extra:
                    continue
                plugin_name = impl.plugin_name
                self.unregister(name=plugin_name)
                prov = self.provenance_of(plugin_name)
                info = self.infos.get(plugin_name) or PluginInfo(
                    prov.distribution, prov.version, prov.entry_point, "active"
                )
                reason = (
                    f"invalid hook implementation: {name}({', '.join(impl.argnames)}) asks for "
                    f"{', '.join(extra)}, which the hookspec {name}({', '.join(sorted(spec_args))}) "
                    "does not provide"
                )
                self._fail(info, reason, "", PluginContractError(reason))

    def provenance_of(self, plugin_name: str) -> Provenance:
        """Distribution, version and entry point of a registered plugin."""
        return self._provenance.get(plugin_name) or Provenance(plugin_name, "0", plugin_name)

    # -- hook validation ------------------------------------------------------

    def pending_problems(self) -> list[str]:
        """Implementations of hooks that no loaded distribution declares (not ``optionalhook``)."""
        known = [name for name, caller in vars(self.hook).items() if caller.has_spec()]
        problems = []
        for name, caller in sorted(vars(self.hook).items()):
            if caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                prov = self.provenance_of(impl.plugin_name)
                hint = did_you_mean(name, known)
                problems.append(
                    f"{prov.distribution} {prov.version} implements {name}(), which no loaded distribution "
                    + (f"declares; {hint}" if hint else "declares")
                    + " (mark it @hookimpl(optionalhook=True) if its spec comes from an optional "
                    "distribution)"
                )
        return problems

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

    def _call_impl(self, hook_name: str, impl: pluggy.HookImpl, impls: list[pluggy.HookImpl]) -> list[object]:
        """Call one implementation through pluggy and flatten what it returned."""
        others = [i.plugin for i in impls if i is not impl]
        caller = self.subset_hook_caller(hook_name, others)
        try:
            items: list[object] = []
            for returned in caller():
                if isinstance(returned, (Entry, str, bytes, Mapping)) or not isinstance(returned, Iterable):
                    items.append(returned)  # one record, or something wrong that validation reports
                else:
                    items.extend(returned)
            return items
        except Exception as exc:
            prov = self.provenance_of(impl.plugin_name)
            raise PluginHookError(
                f"{hook_name}() in {prov.distribution} {prov.version} raised "
                f"{type(exc).__name__}: {_one_line(str(exc))}"
            ) from exc

    def gather(self, hook_name: str, record_type: type[E], noun: str) -> Collection[E]:
        """Call every implementation of a registry hook and keep every problem (never raises for them)."""
        self._check_pending_once()
        caller = getattr(self.hook, hook_name, None)
        if caller is None:
            return Collection({}, [], {})
        impls = caller.get_hookimpls()
        by_key: dict[str, list[E]] = defaultdict(list)
        errors: list[PluginError] = []
        offenders: list[str] = []
        for impl in impls:
            prov = self.provenance_of(impl.plugin_name)
            try:
                items = self._call_impl(hook_name, impl, impls)
            except PluginHookError as exc:
                errors.append(exc)
                continue
            for item in items:
                if not isinstance(item, record_type):
                    hint = " (hooks return records, not dicts)" if isinstance(item, Mapping) else ""
                    offenders.append(
                        f"{prov.distribution} {prov.version}: {hook_name}() returned "
                        f"{type(item).__name__}, expected {record_type.__name__}{hint}"
                    )
                    continue
                problems = item.problems()
                if problems:
                    offenders.extend(f"{prov.distribution} {prov.version}: {p}" for p in problems)
                    continue
                by_key[item.key].append(attrs.evolve(item, provenance=prov))
        if offenders:
            errors.append(
                PluginContractError(
                    f"invalid {noun} records:\n  "
                    + "\n  ".join(offenders)
                    + "\nplease report this to the plugin's authors"
                )
            )
        conflicts = {key: recs for key, recs in sorted(by_key.items()) if len(recs) > 1}
        for key, recs in conflicts.items():
            sources = ", ".join(sorted(r.source for r in recs))
            errors.append(PluginConflictError(f"{noun} '{key}' provided by: {sources}"))
        entries = {key: recs[0] for key, recs in sorted(by_key.items()) if len(recs) == 1}
        return Collection(entries, errors, conflicts)

    def collect(self, hook_name: str, record_type: type[E], noun: str) -> dict[str, E]:
        """Call every implementation of a registry hook; validate, stamp and index the records.

        Raises :class:`PluginHookError` (a hook raised), :class:`PluginContractError`
        (invalid records, every offender listed) or :class:`PluginConflictError`
        (every conflicting name with every distribution claiming it).
        """
        collection = self.gather(hook_name, record_type, noun)
        collection.raise_errors()
        return collection.entries

    def registry(self, kind: str) -> dict[str, Entry]:
        """All records of one kind (``"adapters"``, ``"transports"``...), sorted by name."""
        with self._lock:
            if kind not in self._cache:
                if kind not in self.registries:
                    raise UnknownPluginError(unknown("plugin kind", kind, self.registries))
                spec = self.registries[kind]
                self._cache[kind] = dict(self.collect(spec.hook, spec.record, spec.noun))
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
        for kind, spec in self.registries.items():
            collection = self.gather(spec.hook, spec.record, spec.noun)
            records = [
                *collection.entries.values(),
                *(r for recs in collection.conflicts.values() for r in recs),
            ]
            for record in records:
                dist = record.provenance.distribution if record.provenance else "?"
                out[dist][kind].append(record.key)
        return {dist: {kind: sorted(names) for kind, names in kinds.items()} for dist, kinds in out.items()}

    def distributions_for(self, kind: str, names: Iterable[str]) -> set[str]:
        """The distributions providing the named records of ``kind`` (unknown names raise)."""
        out = set()
        for name in names:
            entry = self.get(kind, name)
            if entry.provenance is not None:
                out.add(entry.provenance.distribution)
        return out

    def requirements(self, distributions: Iterable[str] | None = None) -> list[str]:
        """``name==version`` of every active plugin distribution (or only of ``distributions``), sorted.

        This is what ``dfm plugins list --requirements`` prints and what generation
        emits for each site, restricted to the distributions that site needs.
        """
        wanted = None if distributions is None else {canonical_name(d) for d in distributions}
        pins = {
            info.distribution: info.version
            for info in self.infos.values()
            if info.status == "active" and (wanted is None or info.distribution in wanted)
        }
        return [f"{dist}=={pins[dist]}" for dist in sorted(pins)]

    # -- pins -----------------------------------------------------------------

    def check_pins(self, pins: Mapping[str, Any], locations: Mapping[str, str] | None = None) -> None:
        """Check a federation's ``plugins:`` pins against installed versions, all at once.

        ``locations`` maps a distribution to ``file:line:col /plugins/<dist>`` for messages.
        A pinned distribution that is installed but disabled or failed is reported too.
        """
        from importlib.metadata import PackageNotFoundError, version

        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion, Version

        by_dist = {info.distribution: info for info in self.infos.values()}
        problems = []
        for dist, spec_text in sorted(pins.items()):
            where = (locations or {}).get(dist, f"/plugins/{dist}")
            if not isinstance(spec_text, str):
                problems.append(
                    f"{where}: version specifier must be a string such as '>=0.2,<1', got {spec_text!r}"
                )
                continue
            try:
                spec = SpecifierSet(spec_text)
            except InvalidSpecifier:
                hint = ""
                try:
                    Version(spec_text.strip())
                    hint = f"; did you mean '=={spec_text.strip()}'?"
                except InvalidVersion:
                    pass
                problems.append(f"{where}: invalid version specifier {spec_text!r}{hint}")
                continue
            wanted = spec_text or "any version"
            try:
                installed = version(dist)
            except PackageNotFoundError:
                problems.append(f"{where}: requires {wanted}, found none (not installed)")
                continue
            try:
                ok = spec.contains(Version(installed), prereleases=True)
            except InvalidVersion:
                ok = False
            if not ok:
                problems.append(f"{where}: requires {wanted}, found {installed}")
                continue
            info = by_dist.get(canonical_name(dist))
            if info is not None and info.status != "active":
                problems.append(f"{where}: {info.label} is installed but {info.status}: {info.error}")
        if problems:
            count = len(problems)
            raise PluginVersionError(
                f"{count} federation plugin pin{'s' if count != 1 else ''} not met:\n  "
                + "\n  ".join(problems)
            )


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


def load_entry(kind: str, name: str, manager: DfmPluginManager | None = None) -> Any:
    """Resolve a named contribution to its implementation."""
    return (manager or get_plugin_manager()).get(kind, name).load()


def iter_infos(manager: DfmPluginManager) -> Iterable[PluginInfo]:
    """The manager's plugin infos sorted by plugin name."""
    return (manager.infos[name] for name in sorted(manager.infos))
