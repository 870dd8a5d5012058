"""Semantic checks of a structured federation config.

:func:`validate` runs inside :func:`~dfm.kernel.config.load_config`: names that
refer to other parts of the config (operations, parameters, sites, config
keys) must exist, versions and pins must parse, links must join two known
sites. It never loads plugins. :func:`check_adapters` is the check that needs
the adapter registry; the CLI calls it with the names the installed plugins
provide.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import keyword
import math
import re
from collections.abc import Collection, Iterator
from pathlib import Path

import attrs
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from dfm.kernel.config import pointers
from dfm.kernel.config.locations import Finding
from dfm.kernel.config.models import (
    OPERATION_REF_PREFIX,
    Federation,
    FromParam,
    FromProvider,
    FromSite,
    InterfaceEntry,
    Provider,
    Site,
)
from dfm.kernel.config.refs import locate_file
from dfm.kernel.errors import ConfigIssue
from dfm.kernel.names import NameKind, name_message, name_problem
from dfm.kernel.records import ADAPTER_NAME_RE
from dfm.kernel.suggest import did_you_mean

SUPPORTED_MAJOR = 1  # the config format version this loader reads: dfm: 1.x.y
MAX_ESTIMATED_SIZE = 2**63 - 1
# PEP 508 distribution names
_DIST_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def is_dotted_identifier(name: str) -> bool:
    """``users.GreetMe``: identifiers (not keywords) joined by dots."""
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in name.split("."))


def is_import_path(name: str) -> bool:
    """``pkg.mod.Class`` or ``pkg.mod:Class`` (the attribute may be dotted)."""
    module, colon, attribute = name.partition(":")
    if colon:
        return is_dotted_identifier(module) and is_dotted_identifier(attribute)
    return "." in name and is_dotted_identifier(name)


def adapter_problem(adapter: str) -> str | None:
    """Why ``adapter`` is neither an import path nor a registry name, or None if it may be either."""
    if not adapter.strip():
        return "adapter must not be empty"
    if is_import_path(adapter) or (":" not in adapter and ADAPTER_NAME_RE.match(adapter)):
        return None
    return (
        f"invalid adapter '{adapter}': expected a dotted import path (pkg.mod.Class or pkg.mod:Class)"
        " or an adapter registry name"
    )


def validate(fed: Federation) -> list[Finding]:
    """Every semantic problem of ``fed``, as findings at pointers of the resolved document."""
    return list(_Checks(fed).run())


class _Checks:
    def __init__(self, fed: Federation) -> None:
        self.fed = fed

    def run(self) -> Iterator[Finding]:
        yield from self.version()
        yield from self.names()
        yield from self.operations()
        yield from self.sites()
        yield from self.links()
        yield from self.plugins()

    def version(self) -> Iterator[Finding]:
        try:
            major = Version(self.fed.dfm).major
        except InvalidVersion:
            yield Finding("/dfm", f"invalid dfm version '{self.fed.dfm}'", "expected a version such as 1.0.0")
            return
        if major != SUPPORTED_MAJOR:
            yield Finding(
                "/dfm",
                f"unsupported dfm version '{self.fed.dfm}':"
                f" this DFM reads format version {SUPPORTED_MAJOR}.x",
            )

    def names(self) -> Iterator[Finding]:
        """Every name of the config against :mod:`dfm.kernel.names` (they become paths and code)."""
        fed = self.fed
        yield from _name("code-package", fed.info.code_package, "/info/code-package", at_key=False)
        for name in fed.schemas:
            yield from _name("schema", name, pointers.join("/schemas", name))
        for name, op in fed.operations.items():
            at = pointers.join("/operations", name)
            yield from _name("operation", name, at)
            for param in op.parameters:
                yield from _name("parameter", param, pointers.join(f"{at}/parameters", param))
        for site_name, site in fed.sites.items():
            at = pointers.join("/sites", site_name)
            yield from _name("site", site_name, at)
            for provider_name, provider in site.providers.items():
                provider_at = pointers.join(f"{at}/providers", provider_name)
                yield from _name("provider", provider_name, provider_at)
                for key, entry in provider.interface.items():
                    yield from _exposed(entry, pointers.join(f"{provider_at}/interface", key))
            for key, entry in site.interface.items():
                yield from _exposed(entry, pointers.join(f"{at}/interface", key))

    def operations(self) -> Iterator[Finding]:
        for name, op in self.fed.operations.items():
            at = pointers.join("/operations", name)
            if not 0 <= op.estimated_size <= MAX_ESTIMATED_SIZE:
                yield Finding(
                    f"{at}/estimated-size",
                    "estimated-size must be a number of bytes from 0 to 2**63-1,"
                    f" found {_int_text(op.estimated_size)}",
                )
            for index, param in enumerate(op.required):
                if param not in op.parameters:
                    yield Finding(
                        pointers.join(f"{at}/required", index),
                        f"required parameter '{param}' is not a parameter of operation '{name}'",
                        did_you_mean(param, op.parameters),
                    )

    def sites(self) -> Iterator[Finding]:
        fed = self.fed
        if not fed.sites:
            yield Finding("/sites", "a federation needs at least one site")
        if fed.homesite is not None and fed.homesite not in fed.sites:
            yield Finding(
                "/homesite", f"unknown site '{fed.homesite}'", did_you_mean(fed.homesite, fed.sites)
            )
        for site_name, site in fed.sites.items():
            at = pointers.join("/sites", site_name)
            offered: list[str] = []
            for provider_name, provider in site.providers.items():
                provider_at = pointers.join(f"{at}/providers", provider_name)
                for key, entry in provider.interface.items():
                    yield from self.entry(site_name, site, provider_name, provider, key, entry, provider_at)
                    offered.append(key.removeprefix(OPERATION_REF_PREFIX))
            for key, entry in site.interface.items():
                yield from self.entry(site_name, site, None, None, key, entry, at)
                offered.append(key.removeprefix(OPERATION_REF_PREFIX))
            for destination, cost in site.send_cost.items():
                cost_at = pointers.join(f"{at}/send_cost", destination)
                if destination not in fed.sites:
                    hint = did_you_mean(destination, fed.sites)
                    yield Finding(cost_at, f"unknown site '{destination}'", hint, at_key=True)
                yield from _costs(cost_at, attrs.asdict(cost), "bandwidth")
            offered = [name for name in offered if name in fed.operations]
            for index, name in enumerate(site.policy.resident):
                if name not in offered:
                    yield Finding(
                        pointers.join(f"{at}/policy/resident", index),
                        f"site '{site_name}' does not offer operation '{name}'",
                        did_you_mean(name, offered),
                    )

    def entry(
        self,
        site_name: str,
        site: Site,
        provider_name: str | None,
        provider: Provider | None,
        key: str,
        entry: InterfaceEntry,
        owner: str,
    ) -> Iterator[Finding]:
        """Checks of one interface entry; ``owner`` points to the site or provider."""
        ops = self.fed.operations
        at = pointers.join(f"{owner}/interface", key)
        operation = None
        name = key.removeprefix(OPERATION_REF_PREFIX)
        if not key.startswith(OPERATION_REF_PREFIX):
            hint = f"write '{OPERATION_REF_PREFIX}{key}'" if key in ops else None
            yield Finding(
                at, f"interface key '{key}' must have the form '{OPERATION_REF_PREFIX}<name>'", hint, True
            )
        else:
            operation = ops.get(name)
            if operation is None:
                yield Finding(at, f"unknown operation '{name}'", did_you_mean(name, ops), at_key=True)
        problem = adapter_problem(entry.adapter)
        if problem:
            yield Finding(f"{at}/adapter", problem)
        if entry.timeout is not None and not (math.isfinite(entry.timeout) and entry.timeout > 0):
            yield Finding(
                f"{at}/timeout", f"a timeout must be a number of seconds > 0, found {entry.timeout:g}"
            )
        if entry.compute_cost is not None:
            yield from _costs(f"{at}/compute_cost", attrs.asdict(entry.compute_cost), "compute_throughput")

        parameters = None if operation is None else set(operation.parameters)
        exposed = set(entry.expose_as.values())
        if isinstance(entry.args, dict):
            bound: set[str] | None = set(entry.args)
            for arg, binding in entry.args.items():
                binding_at = pointers.join(f"{at}/args", arg)
                if isinstance(binding, FromParam):
                    if parameters is not None and binding.from_param not in parameters | exposed:
                        yield Finding(
                            f"{binding_at}/from-param",
                            f"unknown parameter '{binding.from_param}' of operation '{name}'",
                            did_you_mean(binding.from_param, parameters | exposed),
                        )
                elif isinstance(binding, FromProvider):
                    if provider is None:
                        yield Finding(
                            f"{binding_at}/from-provider",
                            "from-provider is only allowed in a provider's interface",
                            "use from-site to read the site's config",
                        )
                    elif binding.from_provider not in provider.config:
                        yield Finding(
                            f"{binding_at}/from-provider",
                            f"unknown config key '{binding.from_provider}' of provider '{provider_name}'",
                            did_you_mean(binding.from_provider, provider.config),
                        )
                elif isinstance(binding, FromSite) and binding.from_site not in site.config:
                    yield Finding(
                        f"{binding_at}/from-site",
                        f"unknown config key '{binding.from_site}' of site '{site_name}'",
                        did_you_mean(binding.from_site, site.config),
                    )
        else:
            bound = parameters  # from-operation: the adapter takes the operation's parameters
        if bound is not None:
            for arg in entry.expose_as:
                if arg not in bound:
                    yield Finding(
                        pointers.join(f"{at}/expose-as", arg),
                        f"expose-as names argument '{arg}', which this entry does not bind",
                        did_you_mean(arg, bound),
                        at_key=True,
                    )

    def links(self) -> Iterator[Finding]:
        links = self.fed.links
        if not _is_cost(links.default_cost):
            yield Finding("/links/default-cost", _cost_message(links.default_cost))
        for index, link in enumerate(links.costs):
            at = f"/links/costs/{index}"
            if len(link.sites) != 2:
                yield Finding(f"{at}/sites", f"a link joins exactly two sites, found {len(link.sites)}")
            elif link.sites[0] == link.sites[1]:
                yield Finding(
                    f"{at}/sites", f"a link joins two different sites, found '{link.sites[0]}' twice"
                )
            for position, site in enumerate(link.sites):
                if site not in self.fed.sites:
                    yield Finding(
                        f"{at}/sites/{position}", f"unknown site '{site}'", did_you_mean(site, self.fed.sites)
                    )
            if not _is_cost(link.cost):
                yield Finding(f"{at}/cost", _cost_message(link.cost))

    def plugins(self) -> Iterator[Finding]:
        for dist, pin in self.fed.plugins.items():
            at = pointers.join("/plugins", dist)
            if not _DIST_NAME.match(dist):
                yield Finding(at, f"invalid distribution name '{dist}'", at_key=True)
            try:
                SpecifierSet(pin)
            except InvalidSpecifier:
                hint = "expected PEP 440 version specifiers such as '>=0.2,<1'"
                try:
                    hint = f"did you mean '=={Version(pin)}'?"
                except InvalidVersion:
                    pass
                yield Finding(at, f"invalid version specifier '{pin}' for '{dist}'", hint)


def _is_cost(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def _cost_message(value: float) -> str:
    if math.isinf(value) and value > 0:
        return "a link cost must be a finite number, found inf"
    return f"a link cost must be a number >= 0, found {value:g}"


_COST_UNITS = {
    "fixed_time": "seconds",
    "compute_throughput": "bytes per second",
    "bandwidth": "bytes per second",
    "fixed_size": "bytes",
    "output_factor": "",
}


def _costs(at: str, fields: dict[str, float | None], rate: str) -> Iterator[Finding]:
    """``compute_cost`` / ``send_cost`` numbers: finite, >= 0, and the rate (``rate``) > 0."""
    for name, value in fields.items():
        if value is None:
            continue
        bound = "> 0" if name == rate else ">= 0"
        if not math.isfinite(value) or value < 0 or (name == rate and value == 0):
            unit = _COST_UNITS[name]
            what = f"a finite number of {unit} {bound}" if unit else f"a finite number {bound}"
            yield Finding(f"{at}/{name}", f"{name} must be {what}, found {value:g}")


def _int_text(value: int) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"an integer of {len(text.lstrip('-'))} digits"


def _name(kind: NameKind, name: str, at: str, *, at_key: bool = True) -> Iterator[Finding]:
    problem = name_problem(kind, name)
    if problem is not None:
        yield Finding(at, name_message(kind, name, problem), at_key=at_key)


def _exposed(entry: InterfaceEntry, at: str) -> Iterator[Finding]:
    for arg, param in entry.expose_as.items():
        yield from _name("parameter", param, pointers.join(f"{at}/expose-as", arg), at_key=False)


# -- adapters against the registry (run by the CLI, not by load_config) --------------


def check_adapters(
    federation: Federation,
    known_names: Collection[str],
    file: str,
    *,
    base_dir: str | Path | None = None,
) -> list[ConfigIssue]:
    """Adapters that are neither installed registry names nor importable-looking dotted paths.

    ``known_names`` are the adapter registry names of the installed plugins. A dotted
    path is accepted when its top-level package can be found (without importing it)
    on ``sys.path`` or in ``base_dir`` (default: the config file's folder, where a
    federation keeps its local adapter packages). When ``file`` can be read, issues
    carry line and column; otherwise they carry the pointer only.
    """
    folder = Path(base_dir) if base_dir is not None else Path(file).parent
    known = set(known_names)
    findable: dict[str, bool] = {}
    findings: list[Finding] = []
    for at, entry in _entries(federation):
        adapter = entry.adapter
        if adapter in known or adapter_problem(adapter) is not None:
            continue  # known, or already reported by load_config
        hint = did_you_mean(adapter, known)
        if is_import_path(adapter):
            top = adapter.partition(":")[0].split(".")[0]
            if top not in findable:
                findable[top] = _findable(top, folder)
            if findable[top]:
                continue
            message = (
                f"unknown adapter '{adapter}': no installed plugin provides it"
                f" and module '{top}' is not found"
            )
        else:
            message = f"unknown adapter '{adapter}': no installed plugin provides it"
        findings.append(Finding(f"{at}/adapter", message, hint))
    if not findings:
        return []
    locator = locate_file(file)
    if locator is None:
        return [ConfigIssue(file, 0, 0, f.pointer, f.message, f.hint) for f in findings]
    return [locator.issue(f) for f in findings]


def _entries(fed: Federation) -> Iterator[tuple[str, InterfaceEntry]]:
    for site_name, site in fed.sites.items():
        at = pointers.join("/sites", site_name)
        for provider_name, provider in site.providers.items():
            for key, entry in provider.interface.items():
                yield (
                    pointers.join(pointers.join(f"{at}/providers", provider_name) + "/interface", key),
                    entry,
                )
        for key, entry in site.interface.items():
            yield pointers.join(f"{at}/interface", key), entry


def _findable(top: str, folder: Path) -> bool:
    try:
        if importlib.util.find_spec(top) is not None:
            return True
    except (ImportError, ValueError):
        pass
    return importlib.machinery.PathFinder.find_spec(top, [str(folder)]) is not None
