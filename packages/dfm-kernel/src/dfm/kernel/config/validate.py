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
import posixpath
import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import attrs

from dfm.kernel.config import pointers
from dfm.kernel.config.locations import Finding
from dfm.kernel.config.models import (
    JSON_TYPES,
    OPERATION_REF_PREFIX,
    CacheConfig,
    Federation,
    FromParam,
    FromProvider,
    FromSite,
    ImplRef,
    InterfaceEntry,
    Parameter,
    Provider,
    Site,
)
from dfm.kernel.config.refs import locate_file
from dfm.kernel.config.typenames import describe_value
from dfm.kernel.errors import ConfigIssue
from dfm.kernel.names import ADAPTER_NAME_RE, NameKind, name_message, name_problem
from dfm.kernel.suggest import did_you_mean

SUPPORTED_MAJOR = 1  # the config format version this loader reads: dfm: 1.x.y
MAX_ESTIMATED_SIZE = 2**63 - 1
# PEP 508 distribution names
_DIST_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
# The usual forms of the format version ("1.0.0") and of plugin pins (">=0.1,<0.2") are
# recognized here, because importing packaging's version and specifier modules compiles
# large regular expressions, a few ms of every load. They are strict subsets of what
# packaging accepts; anything else is packaging's to judge, with the messages below.
_RELEASE = re.compile(r"[0-9]{1,9}(?:\.[0-9]+)*")
_PIN = r" *(?:[<>]=?|[=!]=) *[0-9]+(?:\.[0-9]+)* *"
_PINS = re.compile(f"{_PIN}(?:,{_PIN})*")


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


# Attributes of the site object (dfm.kernel.context.SiteContext) that from-site may read.
SITE_ATTRIBUTES = ("name", "federation", "federation_name", "is_homesite", "base_dir")
# Attributes of a provider object that from-provider PROVIDER.PROPERTY may read besides info/config keys.
PROVIDER_ATTRIBUTES = ("name",)
LOCAL_PROTOCOLS = ("file", "local")


@attrs.define
class Skipped:
    """Parts of a config left out because they could not be structured: not checked further."""

    operations: set[str] = attrs.Factory(set)
    sites: set[str] = attrs.Factory(set)
    top: set[str] = attrs.Factory(set)  # top-level keys dropped or replaced by placeholders


def validate(fed: Federation, skipped: Skipped | None = None) -> list[Finding]:
    """Every semantic problem of ``fed``, as findings at pointers of the resolved document.

    Findings with ``warning`` set are tolerated (the reference accepts them).
    """
    return list(_Checks(fed, skipped or Skipped()).run())


class _Checks:
    def __init__(self, fed: Federation, skipped: Skipped) -> None:
        self.fed = fed
        self.skipped = skipped

    def run(self) -> Iterator[Finding]:
        if "dfm" not in self.skipped.top:
            yield from self.version()
        yield from self.names()
        yield from self.operations()
        yield from self.schemas()
        yield from self.sites()
        yield from self.links()
        yield from self.plugins()

    def version(self) -> Iterator[Finding]:
        major = (
            int(self.fed.dfm.split(".", 1)[0]) if _RELEASE.fullmatch(self.fed.dfm) else _major(self.fed.dfm)
        )
        if major is None:
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
        if "info" not in self.skipped.top:
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
                if param not in op.parameters and name not in self.skipped.operations:
                    # tolerated by the reference: a warning, and the name is not required
                    yield Finding(
                        pointers.join(f"{at}/required", index),
                        f"required parameter '{param}' is not a parameter of operation '{name}'",
                        did_you_mean(param, op.parameters),
                        warning=True,
                    )
            for param_name, spec in op.parameters.items():
                yield from self.parameter(spec, pointers.join(f"{at}/parameters", param_name))

    def parameter(self, param: Parameter, at: str) -> Iterator[Finding]:
        """A parameter's type and schema must be a JSON Schema (dotted Python class names are not checked)."""
        kind = param.type
        kinds = kind if isinstance(kind, list) else [kind]
        for index, item in enumerate(kinds):
            where = f"{at}/type" + (f"/{index}" if isinstance(kind, list) else "")
            if isinstance(item, str):
                if item in JSON_TYPES or item == "any" or "." in item or item.startswith("#/schemas/"):
                    continue
                yield Finding(
                    where,
                    f"unknown type '{item}'",
                    did_you_mean(item, JSON_TYPES)
                    or "expected a JSON type (string, number, integer, boolean, object, array, null),"
                    " a dotted class name or a schema mapping",
                )
            elif not (isinstance(item, dict) and not isinstance(kind, list)):
                yield Finding(
                    where, f"a type must be a string or a schema mapping, found {describe_value(item)}"
                )
        problem = schema_problem(param.json_schema())
        if problem:
            yield Finding(at, f"invalid parameter schema: {problem}")

    def info(self) -> Iterator[Finding]:
        """Other keys of ``info`` are tolerated; one that looks like a misspelt known key is a warning."""
        known = ["api-version", "code-package", "description"]
        for key in self.fed.info.extra:
            hint = did_you_mean(str(key), known)
            if hint:
                yield Finding(
                    pointers.join("/info", key), f"unknown key '{key}' kept as extra info", hint, True, True
                )

    def schemas(self) -> Iterator[Finding]:
        yield from self.info()
        aliases = {
            name: schema["$ref"].removeprefix("#/schemas/")
            for name, schema in self.fed.schemas.items()
            if isinstance(schema, dict)
            and set(schema) == {"$ref"}
            and isinstance(schema["$ref"], str)
            and schema["$ref"].startswith("#/schemas/")
        }
        for name, schema in self.fed.schemas.items():
            at = pointers.join("/schemas", name)
            if name in aliases:
                chain, current = [name], aliases[name]
                while current in aliases and current not in chain:
                    chain.append(current)
                    current = aliases[current]
                if current in chain:
                    refs = [f"'#/schemas/{n}'" for n in [*chain[1:], current, aliases[current]]]
                    refs = refs[: len(chain) - chain.index(current) + 1] if current != name else refs
                    yield Finding(f"{at}/$ref", "circular $ref: " + " -> ".join(refs))
                    continue
            if not isinstance(schema, dict | bool):
                yield Finding(at, f"a schema must be a JSON Schema mapping, found {describe_value(schema)}")
                continue
            problem = schema_problem(schema)
            if problem:
                yield Finding(at, f"invalid schema '{name}': {problem}")

    def sites(self) -> Iterator[Finding]:
        fed = self.fed
        if not fed.sites and not self.skipped.top:  # a misspelt 'sites' is reported as such
            yield Finding("/sites", "a federation needs at least one site")
        if fed.homesite is not None and fed.homesite not in fed.sites and "sites" not in self.skipped.top:
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
            yield from self.site_extensions(at, site)
            if site_name in self.skipped.sites:
                continue
            for index, name in enumerate(site.policy.resident):
                if name not in offered:
                    yield Finding(
                        pointers.join(f"{at}/policy/resident", index),
                        f"site '{site_name}' does not offer operation '{name}'",
                        did_you_mean(name, offered),
                    )

    def site_extensions(self, at: str, site: Site) -> Iterator[Finding]:
        """The reference's ``impl``, ``secrets_vault``, ``cache_config`` and providers' ``impl``."""
        for key, ref in (("impl", site.impl), ("secrets_vault", site.secrets_vault)):
            if ref is not None:
                yield from _impl_path(ref, f"{at}/{key}")
        for provider_name, provider in site.providers.items():
            if provider.impl is not None:
                yield from _impl_path(
                    provider.impl, pointers.join(f"{at}/providers", provider_name) + "/impl"
                )
        if site.cache_config is not None:
            yield from _cache_config(site.cache_config, f"{at}/cache_config")

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
            yield Finding(f"{at}/adapter" + ("/path" if entry.adapter_args else ""), problem)
        if entry.timeout is not None and not (math.isfinite(entry.timeout) and entry.timeout > 0):
            yield Finding(
                f"{at}/timeout", f"a timeout must be a number of seconds > 0, found {entry.timeout:g}"
            )
        if entry.compute_cost is not None:
            yield from _costs(f"{at}/compute_cost", attrs.asdict(entry.compute_cost), "compute_throughput")

        parameters = None
        if operation is not None and name not in self.skipped.operations:
            parameters = set(operation.parameters)
        exposed = {spec.param for spec in entry.exposed().values()}
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
                    yield from self.from_provider(binding, binding_at, site, provider_name, provider)
                elif isinstance(binding, FromSite):
                    yield from self.from_site(binding, binding_at, site_name, site)
                spec = getattr(binding, "expose_as", None)
                if spec is not None:
                    spec_at = f"{binding_at}/expose-as"
                    if not spec.param:
                        yield Finding(spec_at, "expose-as needs 'param': the name of the parameter it adds")
                    else:
                        yield from _name("parameter", spec.param, f"{spec_at}/param", at_key=False)
                        if parameters is not None and spec.param in parameters:
                            yield Finding(
                                f"{spec_at}/param",
                                f"'{spec.param}' is already a parameter of operation '{name}'",
                                "expose the argument under another name",
                            )
                    yield from self.parameter(spec, spec_at)
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

    def from_provider(
        self,
        binding: FromProvider,
        at: str,
        site: Site,
        provider_name: str | None,
        provider: Provider | None,
    ) -> Iterator[Finding]:
        """``KEY`` of this entry's provider config (DFM) or ``PROVIDER.PROPERTY`` (the reference)."""
        key = binding.from_provider
        if provider is not None and key in provider.config:
            return
        other, dot, prop = key.partition(".")
        if dot and other in site.providers:
            target = site.providers[other]
            known = [*target.info, *target.config, *PROVIDER_ATTRIBUTES]
            if target.impl is None and prop not in known:
                yield Finding(
                    f"{at}/from-provider",
                    f"provider '{other}' has no property '{prop}'",
                    did_you_mean(prop, known)
                    or "it reads the provider's info or config keys, or its impl's attributes",
                )
            return
        if provider is None:
            yield Finding(
                f"{at}/from-provider",
                "from-provider outside a provider's interface must name PROVIDER.PROPERTY",
                did_you_mean(other, site.providers) if dot else "use from-site to read the site's config",
            )
        else:
            yield Finding(
                f"{at}/from-provider",
                f"unknown config key '{key}' of provider '{provider_name}'",
                did_you_mean(key, provider.config),
            )

    def from_site(self, binding: FromSite, at: str, site_name: str, site: Site) -> Iterator[Finding]:
        """A key of the site's ``config`` or an attribute of the site object (any, with an ``impl``)."""
        key = binding.from_site
        if key in site.config or key in SITE_ATTRIBUTES or site.impl is not None:
            return
        yield Finding(
            f"{at}/from-site",
            f"unknown config key '{key}' of site '{site_name}'",
            did_you_mean(key, site.config) or did_you_mean(key, SITE_ATTRIBUTES),
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
            if not _PINS.fullmatch(pin):
                problem = _pin_problem(pin)
                if problem is not None:
                    yield Finding(at, f"invalid version specifier '{pin}' for '{dist}'", problem)


def _major(version: str) -> int | None:
    """The major version of a PEP 440 version, or None if it is none."""
    from packaging.version import InvalidVersion, Version  # see _RELEASE

    try:
        return Version(version).major
    except InvalidVersion:
        return None


def _pin_problem(pin: str) -> str | None:
    """None if ``pin`` is a valid PEP 440 specifier set, else the hint of its finding."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet  # see _RELEASE
    from packaging.version import InvalidVersion, Version

    try:
        SpecifierSet(pin)
    except InvalidSpecifier:
        try:
            return f"did you mean '=={Version(pin)}'?"
        except InvalidVersion:
            return "expected PEP 440 version specifiers such as '>=0.2,<1'"
    return None


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


def _impl_path(ref: ImplRef, at: str) -> Iterator[Finding]:
    if not is_import_path(ref.path):
        yield Finding(
            f"{at}/path" if ref.args else at,
            f"invalid class path '{ref.path}': expected a dotted import path (pkg.mod.Class, pkg.mod:Class)",
        )


def _cache_config(cache: CacheConfig, at: str) -> Iterator[Finding]:
    if not cache.protocol:
        yield Finding(f"{at}/protocol", "protocol must not be empty")
    if cache.protocol in LOCAL_PROTOCOLS:
        path = cache.base_path
        if (
            posixpath.isabs(path)
            or Path(path).is_absolute()
            or posixpath.normpath(path).split("/")[0] == ".."
        ):
            yield Finding(
                f"{at}/base_path",
                f"base_path '{path}' is outside the federation directory",
                "a local cache lives in the federation directory: give a relative path such as 'cache'",
            )


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a valid JSON Schema (2020-12), or None; imports jsonschema only when needed."""
    if schema in ({}, True, False) or (
        isinstance(schema, dict) and set(schema) <= {"type"} and isinstance(schema.get("type"), str)
    ):
        return None
    from jsonschema import (  # type: ignore[import-untyped,unused-ignore]
        Draft202012Validator,
        SchemaError,
    )

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return f"{exc.message}" + (f" (at {where})" if where else "")
    return None


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
    findings = adapter_findings(federation, known_names, file, base_dir=base_dir)
    if not findings:
        return []
    locator = locate_file(file)
    if locator is None:
        return [ConfigIssue(file, 0, 0, f.pointer, f.message, f.hint) for f in findings]
    return [locator.issue(f) for f in findings]


def adapter_findings(
    federation: Federation,
    known_names: Collection[str],
    file: str,
    *,
    base_dir: str | Path | None = None,
) -> list[Finding]:
    """The findings of :func:`check_adapters`, not yet located."""
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
        findings.append(Finding(f"{at}/adapter" + ("/path" if entry.adapter_args else ""), message, hint))
    return findings


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
