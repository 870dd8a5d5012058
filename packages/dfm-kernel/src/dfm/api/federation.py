"""Operations obtained from a loaded federation, with no code generation step.

>>> fed = load_federation("federations/examplefed/examplefed.dfm.yaml")
>>> with Pipeline() as p:
...     Yield(fed.api.users.GreetMe(name=PlaceParam("name")), place="greeting")
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dfm.api.pipeline import (
    Advise,
    BestOf,
    Condition,
    Node,
    PickledObject,
    PlaceParam,
    Selection,
    _check_literal,
    record_call,
)
from dfm.kernel.config import load_config
from dfm.kernel.config.models import Federation, Operation, Parameter
from dfm.kernel.errors import PipelineError
from dfm.kernel.fedlist import resolve_federation
from dfm.kernel.suggest import did_you_mean


class OperationCall:
    """Callable stand-in for one federation operation; calling it records a node."""

    def __init__(self, federation: Federation, name: str, spec: Operation):
        self._federation = federation
        self.name = name
        self.spec = spec
        self.__doc__ = spec.description or f"Operation {name}"

    def __repr__(self) -> str:
        params = ", ".join(self.spec.parameters)
        return f"<operation {self.name}({params})>"

    def exposed_params(self, site: str | None = None) -> set[str]:
        """Extra site-specific parameters published through ``expose-as``."""
        return set(self._exposed_specs(site))

    def _exposed_specs(self, site: str | None) -> dict[str, Parameter]:
        sites = [site] if site else list(self._federation.sites)
        out: dict[str, Parameter] = {}
        for name in sites:
            if name not in self._federation.sites:
                continue
            entry = self._federation.interface_entry(name, self.name)
            if entry is not None:
                for spec in entry.exposed().values():
                    out.setdefault(spec.param, spec)
        return out

    def _check_value(self, name: str, spec: Parameter, value: Any) -> None:
        """The value's kind against the parameter's flags, and a literal against its JSON Schema."""
        if isinstance(value, (Condition, Advise)):
            return  # refused by record_call with its own message; Advise: refused when prepared
        if isinstance(value, PlaceParam):
            kind, allowed = "place", spec.accepts_place_input
        elif isinstance(value, (Node, Selection)):
            kind, allowed = "node", spec.accepts_node_input
        else:
            kind, allowed = "literal", spec.accepts_literal_input
        if not allowed:
            what = {"place": "a PlaceParam", "node": "an operation result", "literal": "a literal value"}[
                kind
            ]
            raise PipelineError(
                f"{self.name}: parameter '{name}' does not accept {kind} input ({what});"
                f" the federation declares accepts-{kind}-input: false"
            )
        if kind == "literal" and not isinstance(value, PickledObject):  # a pickled object is opaque
            _check_literal(value, "argument")  # JSON-compatible first, then its schema
            problem = _schema_mismatch(spec, value, self._federation.schemas)
            if problem is not None:
                raise PipelineError(f"{self.name}: parameter '{name}': {problem}")

    def __call__(
        self,
        *,
        site: str | BestOf | Advise | None = None,
        provider: str | BestOf | None = None,
        dfm_after: Any = None,
        dfm_node_id: Any = None,
        **args: Any,
    ) -> Node:
        """Record a call. ``site``: a name, ``BestOf(sites=...)`` (the placement chooses among
        them) or ``Advise()`` (discovery); ``provider``: a name; ``dfm_after``: nodes this call
        runs after without reading them; ``dfm_node_id``: a ``well_known_id(...)``."""
        names = (
            [site] if isinstance(site, str) else list(site.sites or ()) if isinstance(site, BestOf) else []
        )
        for name in names:
            if name not in self._federation.sites:
                hint = did_you_mean(name, self._federation.sites)
                raise PipelineError(f"{self.name}: unknown site '{name}'" + (f"; {hint}" if hint else ""))
        exposed = self._exposed_specs(site if isinstance(site, str) else None)
        allowed = set(self.spec.parameters) | set(exposed)
        for arg, value in args.items():
            if arg not in allowed:
                hint = did_you_mean(arg, allowed)
                known = ", ".join(sorted(allowed)) or "none"
                raise PipelineError(
                    f"{self.name}: unknown argument '{arg}'"
                    + (f"; {hint}" if hint else "")
                    + f" (takes: {known})"
                )
            self._check_value(arg, self.spec.parameters.get(arg) or exposed[arg], value)
        # names in `required` that are not parameters are tolerated (the loader warns)
        missing = [p for p in self.spec.required if p not in args and p in self.spec.parameters]
        if missing:
            raise PipelineError(f"{self.name}: missing required argument(s): {', '.join(missing)}")
        return record_call(
            self.name, args, site=site, provider=provider, dfm_after=dfm_after, dfm_node_id=dfm_node_id
        )


def _schema_mismatch(spec: Parameter, value: Any, schemas: dict[str, Any]) -> str | None:
    """Why ``value`` does not satisfy the parameter's JSON Schema, or None (jsonschema imported lazily)."""
    schema = spec.json_schema()
    if not schema:
        return None
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped,unused-ignore]
    from jsonschema.exceptions import best_match  # type: ignore[import-untyped,unused-ignore]

    validator = Draft202012Validator({"schemas": schemas, "allOf": [schema]})
    error = best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    given = value
    if error.absolute_path:
        given = error.instance
    if error.validator == "type":
        expected = (
            error.validator_value
            if isinstance(error.validator_value, str)
            else " or ".join(error.validator_value)
        )
    elif error.validator == "enum":
        expected = "one of " + ", ".join(repr(v) for v in error.validator_value)
    else:
        expected = f"{spec.type_name} ({error.message})"
    text = repr(given)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"expected {expected}{' at ' + where.lstrip('.') if where else ''}, given {text}"


class Namespace:
    """One level of the dotted operation tree: ``fed.api.users.GreetMe``."""

    def __init__(self, path: str):
        self._path = path
        self._children: dict[str, Namespace | OperationCall] = {}

    def __getattr__(self, name: str) -> Namespace | OperationCall:
        try:
            return self._children[name]
        except KeyError:
            where = f"{self._path}." if self._path else ""
            hint = did_you_mean(name, self._children)
            raise AttributeError(
                f"no operation or namespace '{where}{name}'" + (f"; {hint}" if hint else "")
            ) from None

    def __dir__(self) -> list[str]:
        return sorted(self._children)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._children))


class FederationHandle:
    """A loaded federation: its config and its operations as callables under ``api``."""

    def __init__(self, config: Federation, path: Path):
        self.config = config
        self.path = path
        self.api = Namespace("")
        self.operations: dict[str, OperationCall] = {}
        for name, spec in config.operations.items():
            op = OperationCall(config, name, spec)
            self.operations[name] = op
            *parents, leaf = name.split(".")
            node = self.api
            for i, part in enumerate(parents):
                child = node._children.setdefault(part, Namespace(".".join(parents[: i + 1])))
                if not isinstance(child, Namespace):
                    raise PipelineError(f"operation name '{name}' clashes with operation '{child.name}'")
                node = child
            node._children[leaf] = op

    @property
    def name(self) -> str:
        """The federation's name, from its config."""
        return self.config.name

    def __repr__(self) -> str:
        return f"<federation {self.name} ({len(self.config.sites)} sites) from {self.path}>"


def load_federation(name_or_path: str | Path) -> FederationHandle:
    """Load a federation config by path, or by a name registered with ``dfm fed config set``."""
    path = resolve_federation(name_or_path)
    return FederationHandle(load_config(path), path)
