"""attrs models of a federation config (``*.dfm.yaml``).

The YAML spelling of a field is its attrs ``alias`` (``api-version``); the
one converter in :mod:`dfm.kernel.config.converter` uses the aliases for
structuring, unstructuring and error paths alike. The format is the one
NVIDIA DFM uses, plus DFM's extensions: ``homesite``, ``plugins`` pins,
``links`` costs, per-site ``policy``, ``secrets`` and ``config``, and
``allow-pickle``.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import attrs

OPERATION_REF_PREFIX = "#/operations/"


YAML_KEY = "dfm.yaml_key"


def _field(key: str, **kwargs: Any) -> Any:
    """A field whose YAML key differs from its Python name (``api-version``)."""
    return attrs.field(metadata={YAML_KEY: key}, **kwargs)


def yaml_key(field: attrs.Attribute[Any]) -> str:
    """The YAML spelling of a field."""
    return str(field.metadata.get(YAML_KEY, field.name))


@attrs.frozen
class Info:
    api_version: str = _field("api-version")
    code_package: str = _field("code-package")
    description: str = ""


@attrs.frozen
class Parameter:
    type: Any = "any"  # a JSON-schema type name, a schema mapping, or a "#/schemas/X" reference
    description: str = ""
    default: Any = None


@attrs.frozen
class Operation:
    description: str = ""
    parameters: dict[str, Parameter] = attrs.Factory(dict)
    required: list[str] = attrs.Factory(list)
    returns: Any = "any"
    accepts_app_input: bool = _field("accepts-app-input", default=True)
    accepts_site_input: bool = _field("accepts-site-input", default=True)
    discoverable: bool = False
    # DFM extension: estimated size in bytes of one result, used by placement.
    estimated_size: int = _field("estimated-size", default=1024)


# -- bindings: how an adapter argument is fed ---------------------------------


@attrs.frozen
class FromParam:
    from_param: str = _field("from-param")


@attrs.frozen
class Const:
    const: Any


@attrs.frozen
class FromSecrets:
    from_secrets: str = _field("from-secrets")


@attrs.frozen
class FromProvider:
    from_provider: str = _field("from-provider")


@attrs.frozen
class FromSite:
    from_site: str = _field("from-site")


Binding = FromParam | Const | FromSecrets | FromProvider | FromSite
BINDING_KEYS: dict[str, type[Any]] = {
    "from-param": FromParam,
    "const": Const,
    "from-secrets": FromSecrets,
    "from-provider": FromProvider,
    "from-site": FromSite,
}

FROM_OPERATION: Final = "from-operation"
Args = Literal["from-operation"] | dict[str, Binding]


@attrs.frozen
class ComputeCost:
    """NVIDIA DFM's ``compute_cost`` of an interface entry, read by placement.

    Seconds to run: ``fixed_time + input bytes / compute_throughput`` (no throughput: the
    input size adds no time). Bytes produced: ``fixed_size + output_factor * input bytes``
    (neither given: the operation's ``estimated-size``; one given: the other counts as 0).
    """

    fixed_time: float = 0.0
    compute_throughput: float | None = None  # bytes/s
    fixed_size: float | None = None  # bytes
    output_factor: float | None = None


@attrs.frozen
class SendCost:
    """NVIDIA DFM's ``send_cost`` from a site to one destination: ``fixed_time + bytes / bandwidth``."""

    fixed_time: float = 0.0
    bandwidth: float | None = None  # bytes/s; not given: the size adds no time


@attrs.frozen
class InterfaceEntry:
    """How a site (or provider) implements one operation."""

    adapter: str  # a registry name from an installed plugin, or a dotted import path
    args: Args = FROM_OPERATION
    # adapter argument -> extra site-specific parameter name a pipeline may set
    expose_as: dict[str, str] = _field("expose-as", factory=dict)
    is_async: bool = _field("is-async", default=False)
    # DFM extension: seconds a call may run; a call that takes longer fails its job (None: no limit)
    timeout: float | None = None
    compute_cost: ComputeCost | None = None


@attrs.frozen
class Provider:
    description: str = ""
    interface: dict[str, InterfaceEntry] = attrs.Factory(dict)
    config: dict[str, Any] = attrs.Factory(dict)  # read by from-provider bindings


@attrs.frozen
class SiteInfo:
    description: str = ""


@attrs.frozen
class SitePolicy:
    # operations whose outputs must never leave this site (data residency)
    resident: list[str] = attrs.Factory(list)


@attrs.frozen
class SecretsConfig:
    """Where a site's vault reads secrets: environment variables and/or a file."""

    env_prefix: str | None = _field("env-prefix", default=None)
    file: str | None = None  # JSON or YAML mapping, path relative to the config file


@attrs.frozen
class Site:
    info: SiteInfo = attrs.Factory(SiteInfo)
    interface: dict[str, InterfaceEntry] = attrs.Factory(dict)
    providers: dict[str, Provider] = attrs.Factory(dict)
    config: dict[str, Any] = attrs.Factory(dict)  # read by from-site bindings
    policy: SitePolicy = attrs.Factory(SitePolicy)
    secrets: SecretsConfig = attrs.Factory(SecretsConfig)
    send_cost: dict[str, SendCost] = attrs.Factory(dict)  # destination site -> cost


@attrs.frozen
class LinkCost:
    sites: list[str]  # exactly two site names
    cost: float


@attrs.frozen
class Links:
    default_cost: float = _field("default-cost", default=1.0)
    costs: list[LinkCost] = attrs.Factory(list)


@attrs.frozen
class Provision:
    docker: dict[str, Any] | None = None
    helm: dict[str, Any] | None = None


@attrs.frozen
class Federation:
    """A whole federation: its operations API and its sites."""

    dfm: str
    info: Info
    operations: dict[str, Operation] = attrs.Factory(dict)
    sites: dict[str, Site] = attrs.Factory(dict)
    schemas: dict[str, Any] = attrs.Factory(dict)
    homesite: str | None = None
    plugins: dict[str, str] = attrs.Factory(dict)
    links: Links = attrs.Factory(Links)
    provision: Provision | None = None
    allow_pickle: bool = _field("allow-pickle", default=False)

    # -- derived views (the config itself stays plain data) --------------------

    @property
    def name(self) -> str:
        return self.info.code_package

    def home(self) -> str:
        """The homesite: declared, or the only site, or the first site in file order."""
        if self.homesite is not None:
            return self.homesite
        return next(iter(self.sites))

    def offers(self, site: str) -> dict[str, tuple[str | None, InterfaceEntry]]:
        """operation name -> (provider or None, interface entry) that ``site`` offers."""
        out: dict[str, tuple[str | None, InterfaceEntry]] = {}
        spec = self.sites[site]
        for provider_name, provider in spec.providers.items():
            for key, entry in provider.interface.items():
                out.setdefault(key.removeprefix(OPERATION_REF_PREFIX), (provider_name, entry))
        for key, entry in spec.interface.items():
            out[key.removeprefix(OPERATION_REF_PREFIX)] = (None, entry)
        return out

    def interface_entry(
        self, site: str, operation: str, provider: str | None = None
    ) -> InterfaceEntry | None:
        spec = self.sites[site]
        key = OPERATION_REF_PREFIX + operation
        if provider is not None:
            prov = spec.providers.get(provider)
            return prov.interface.get(key) if prov else None
        if key in spec.interface:
            return spec.interface[key]
        for prov in spec.providers.values():
            if key in prov.interface:
                return prov.interface[key]
        return None

    def link_cost(self, a: str, b: str) -> float:
        if a == b:
            return 0.0
        for link in self.links.costs:
            if set(link.sites) == {a, b}:
                return link.cost
        return self.links.default_cost
