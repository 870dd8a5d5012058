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
INTERNAL = "dfm.internal"  # a field that is not a YAML key (filled by hooks or the loader)
EXTRA = "extra"  # open classes keep the keys they do not know in this field


def _field(key: str, **kwargs: Any) -> Any:
    """A field whose YAML key differs from its Python name (``api-version``)."""
    return attrs.field(metadata={YAML_KEY: key}, **kwargs)


def _internal(**kwargs: Any) -> Any:
    """A field that is never read from nor written to YAML by the generated hooks."""
    return attrs.field(metadata={INTERNAL: True}, **kwargs)


def yaml_key(field: attrs.Attribute[Any]) -> str:
    """The YAML spelling of a field."""
    return str(field.metadata.get(YAML_KEY, field.name))


def is_internal(field: attrs.Attribute[Any]) -> bool:
    """Whether a field is internal: not a YAML key, filled by hooks or the loader."""
    return bool(field.metadata.get(INTERNAL))


def is_open(cls: type) -> bool:
    """Whether ``cls`` tolerates unknown keys (kept in its ``extra`` field)."""
    return attrs.has(cls) and any(f.name == EXTRA and is_internal(f) for f in attrs.fields(cls))


@attrs.frozen
class Info:
    """The config's ``info`` section: ``api-version``, ``code-package`` (the federation's name) and a
    description; other keys are kept in ``extra``.
    """

    api_version: str = _field("api-version")
    code_package: str = _field("code-package")
    description: str = ""
    # other keys are tolerated, as by the reference, and kept here
    extra: dict[str, Any] = _internal(factory=dict)


JSON_TYPES: Final = ("string", "number", "integer", "boolean", "object", "array", "null")
SCHEMA_REF_PREFIX = "#/schemas/"


@attrs.frozen
class Parameter:
    """An operation parameter: any JSON Schema, plus DFM's flags.

    ``type`` is a JSON type, a list of them, a dotted Python class name (not
    checked), ``any`` (DFM's spelling of "no constraint"), a schema mapping or a
    ``"#/schemas/X"`` reference. Every other JSON Schema keyword (``items``,
    ``enum``, ``$ref``, ...) is kept in ``extra``.
    """

    type: Any = "any"
    description: str = ""
    default: Any = None
    accepts_literal_input: bool = _field("accepts-literal-input", default=True)
    accepts_node_input: bool = _field("accepts-node-input", default=True)
    accepts_place_input: bool = _field("accepts-place-input", default=True)
    discoverable: bool = True
    extra: dict[str, Any] = _internal(factory=dict)

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema values of this parameter must satisfy (``{}``: anything)."""
        schema = {k: v for k, v in self.extra.items() if k not in ("title", "examples")}
        kind = self.type
        if isinstance(kind, dict):
            schema = {**schema, **kind}
        elif isinstance(kind, str):
            if kind.startswith(SCHEMA_REF_PREFIX):
                schema["$ref"] = kind
            elif kind in JSON_TYPES:
                schema["type"] = kind
        elif isinstance(kind, list) and kind and all(isinstance(k, str) and k in JSON_TYPES for k in kind):
            schema["type"] = list(kind)
        return schema

    @property
    def type_name(self) -> str:
        """How messages name the expected type."""
        ref = self.extra.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF_PREFIX):
            return ref.removeprefix(SCHEMA_REF_PREFIX)
        if isinstance(self.type, str):
            return self.type.removeprefix(SCHEMA_REF_PREFIX)
        if isinstance(self.type, list):
            return " or ".join(map(str, self.type))
        return "a value of the declared schema"


@attrs.frozen
class Operation:
    """An operation of the federation's API (an entry of ``operations``).

    Its ``parameters`` (with the ``required`` ones), what it ``returns``, and the flags of
    NVIDIA DFM's format; ``estimated-size`` (DFM) is the bytes of one result, for placement.
    """

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
class ExposeAs(Parameter):
    """``expose-as`` on a binding: an optional parameter of the site-pinned operation.

    A value given for ``param`` replaces the configured one; without it the
    configured value is used.
    """

    param: str = ""


@attrs.frozen
class FromParam:
    """A binding fed by the call's argument ``from-param`` (an operation parameter)."""

    from_param: str = _field("from-param")
    doc: str | None = None


@attrs.frozen
class Const:
    """A binding fed by the constant ``const``, optionally exposed as a parameter (``expose-as``)."""

    const: Any
    expose_as: ExposeAs | None = _field("expose-as", default=None)
    doc: str | None = None


@attrs.frozen
class FromSecrets:
    """A binding fed by the secret ``from-secrets`` of the site's vault, optionally exposed as a parameter."""

    from_secrets: str = _field("from-secrets")
    expose_as: ExposeAs | None = _field("expose-as", default=None)
    doc: str | None = None


@attrs.frozen
class FromProvider:
    """``KEY`` of the entry's provider config (DFM), or ``PROVIDER.PROPERTY`` (any provider of the site)."""

    from_provider: str = _field("from-provider")
    expose_as: ExposeAs | None = _field("expose-as", default=None)
    doc: str | None = None


@attrs.frozen
class FromSite:
    """A key of the site's ``config`` (DFM), or an attribute of the site object (its ``impl``)."""

    from_site: str = _field("from-site")
    expose_as: ExposeAs | None = _field("expose-as", default=None)
    doc: str | None = None


Binding = FromParam | Const | FromSecrets | FromProvider | FromSite
BINDING_EXTRA_KEYS: Final = ("expose-as", "doc")  # allowed beside the one source key
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
class ImplRef:
    """A class to instantiate: ``{path, args}`` (a bare dotted path is ``{path}``)."""

    path: str
    args: dict[str, Any] = attrs.Factory(dict)


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

    # a registry name from an installed plugin, or a dotted import path; ``adapter: {path, args}``
    # puts the path here and the constructor keyword arguments in ``adapter_args``
    adapter: str
    args: Args = FROM_OPERATION
    # adapter argument -> extra site-specific parameter name a pipeline may set
    expose_as: dict[str, str] = _field("expose-as", factory=dict)
    is_async: bool = _field("is-async", default=True)
    # DFM extension: seconds a call may run; a call that takes longer fails its job (None: no limit)
    timeout: float | None = None
    description: str = ""
    returns: Any = None  # documentation only
    adapter_args: dict[str, Any] = _internal(factory=dict)

    def exposed(self) -> dict[str, ExposeAs]:
        """adapter argument -> the parameter it is exposed as (entry-level and per-binding forms)."""
        out = {arg: ExposeAs(param=param) for arg, param in self.expose_as.items()}
        if isinstance(self.args, dict):
            for arg, binding in self.args.items():
                spec = getattr(binding, "expose_as", None)
                if spec is not None:
                    out[arg] = spec
        return out

    compute_cost: ComputeCost | None = None


@attrs.frozen
class Provider:
    """A provider of a site: its own ``interface`` entries, ``config`` (read by ``from-provider`` bindings),
    ``info`` and optional custom class ``impl``.
    """

    description: str = ""
    interface: dict[str, InterfaceEntry] = attrs.Factory(dict)
    config: dict[str, Any] = attrs.Factory(dict)  # read by from-provider bindings
    info: dict[str, Any] = attrs.Factory(dict)
    impl: ImplRef | None = None  # a custom provider class


@attrs.frozen
class SiteInfo:
    """A site's ``info``: a description and any other keys (kept in ``extra``)."""

    description: str = ""
    extra: dict[str, Any] = _internal(factory=dict)  # a site's info is a free mapping


@attrs.frozen
class CacheConfig:
    """The fsspec filesystem a site offers its adapters (``site.cache_storage()``)."""

    protocol: str = "file"
    storage_options: dict[str, Any] = attrs.Factory(dict)
    base_path: str = "."  # relative to the federation directory for the local protocol


@attrs.frozen
class SitePolicy:
    """A site's ``policy`` (DFM): ``resident`` operations' outputs must never leave the site."""

    # operations whose outputs must never leave this site (data residency)
    resident: list[str] = attrs.Factory(list)


@attrs.frozen
class SecretsConfig:
    """Where a site's vault reads secrets: environment variables and/or a file."""

    env_prefix: str | None = _field("env-prefix", default=None)
    file: str | None = None  # JSON or YAML mapping, path relative to the config file


@attrs.frozen
class Site:
    """A site of the federation: the operations it offers (``interface``, ``providers``) and its settings."""

    info: SiteInfo = attrs.Factory(SiteInfo)
    interface: dict[str, InterfaceEntry] = attrs.Factory(dict)
    providers: dict[str, Provider] = attrs.Factory(dict)
    config: dict[str, Any] = attrs.Factory(dict)  # read by from-site bindings
    policy: SitePolicy = attrs.Factory(SitePolicy)
    secrets: SecretsConfig = attrs.Factory(SecretsConfig)
    impl: ImplRef | None = None  # a custom site class; from-site reads its attributes
    cache_config: CacheConfig | None = None
    secrets_vault: ImplRef | None = None  # a class with secret_for_key(key)
    send_cost: dict[str, SendCost] = attrs.Factory(dict)  # destination site -> cost


@attrs.frozen
class LinkCost:
    """The cost of the link between two ``sites`` (used by placement)."""

    sites: list[str]  # exactly two site names
    cost: float


@attrs.frozen
class Links:
    """The ``links`` section (DFM): per-pair ``costs`` and the ``default-cost`` of any other pair of sites."""

    default_cost: float = _field("default-cost", default=1.0)
    costs: list[LinkCost] = attrs.Factory(list)


@attrs.frozen
class Provision:
    """The ``provision`` section: settings for the ``docker`` and ``helm`` deployment generators, kept as
    given.
    """

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
    # DFM extension: the payload codec, a name from the dfm_codecs registry
    codec: str = "safe"
    # problems that do not make the config invalid (set by the loader)
    warnings: tuple[Any, ...] = _internal(default=(), eq=False)

    # -- derived views (the config itself stays plain data) --------------------

    @property
    def name(self) -> str:
        """The federation's name: its ``info.code-package``."""
        return self.info.code_package

    def home(self) -> str:
        """The homesite: declared, else a site named ``server``, else the first."""
        if self.homesite is not None:
            return self.homesite
        if "server" in self.sites:
            return "server"
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
        """The interface entry implementing ``operation`` at ``site``, or None.

        With ``provider``, only that provider's entry; otherwise the site's own entry first,
        then the first provider offering it. Raises ``KeyError`` for an unknown site.
        """
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
        """The cost of the link between sites ``a`` and ``b``: 0 for the same site, else its ``links`` cost or
        the default.
        """
        if a == b:
            return 0.0
        for link in self.links.costs:
            if set(link.sites) == {a, b}:
                return link.cost
        return self.links.default_cost
