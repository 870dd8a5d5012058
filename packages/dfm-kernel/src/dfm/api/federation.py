"""Operations obtained from a loaded federation, with no code generation step.

>>> fed = load_federation("federations/examplefed/examplefed.dfm.yaml")
>>> with Pipeline() as p:
...     Yield(fed.api.users.GreetMe(name=PlaceParam("name")), place="greeting")
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dfm.api.pipeline import Node, record_call
from dfm.kernel.config import load_config
from dfm.kernel.config.models import Federation, Operation
from dfm.kernel.errors import PipelineError
from dfm.kernel.fedregistry import resolve_federation
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
        sites = [site] if site else list(self._federation.sites)
        out: set[str] = set()
        for name in sites:
            if name not in self._federation.sites:
                continue
            entry = self._federation.interface_entry(name, self.name)
            if entry is not None:
                out.update(entry.expose_as.values())
        return out

    def __call__(self, *, site: str | None = None, provider: str | None = None, **args: Any) -> Node:
        if site is not None and site not in self._federation.sites:
            hint = did_you_mean(site, self._federation.sites)
            raise PipelineError(f"{self.name}: unknown site '{site}'" + (f"; {hint}" if hint else ""))
        allowed = set(self.spec.parameters) | self.exposed_params(site)
        for arg in args:
            if arg not in allowed:
                hint = did_you_mean(arg, allowed)
                known = ", ".join(sorted(allowed)) or "none"
                raise PipelineError(
                    f"{self.name}: unknown argument '{arg}'"
                    + (f"; {hint}" if hint else "")
                    + f" (takes: {known})"
                )
        missing = [p for p in self.spec.required if p not in args]
        if missing:
            raise PipelineError(f"{self.name}: missing required argument(s): {', '.join(missing)}")
        return record_call(self.name, args, site=site, provider=provider)


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
        return self.config.name

    def __repr__(self) -> str:
        return f"<federation {self.name} ({len(self.config.sites)} sites) from {self.path}>"


def load_federation(name_or_path: str | Path) -> FederationHandle:
    """Load a federation config by path, or by a name registered with ``dfm fed config set``."""
    path = resolve_federation(name_or_path)
    return FederationHandle(load_config(path), path)
