"""What the code of ``dfm fed gen code`` (the ``python-api`` emitter) runs on.

A generated operation class is a thin typed wrapper: its ``__init__`` carries
the operation's real signature for type checkers, editors and ``help()``;
calling the class runs :meth:`GeneratedOperation.__new__`, which hands the
arguments given, unchanged, to the same :class:`~dfm.api.federation.OperationCall`
that ``fed.api.<namespace>.<Name>`` is, built from the API description embedded
in the generated package (:class:`ApiSpec`). So a generated class records the
same node, checks the same things and accepts the same keywords as the
operation of a federation loaded with :func:`~dfm.api.load_federation`.

Two conveniences are the wrapper's own: instances of generated schema classes
are turned into the JSON mappings their schema describes, and an optional
parameter passed as ``None`` counts as not given (its default applies, as the
signature says).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs

from dfm.api.federation import FederationHandle, OperationCall
from dfm.api.pipeline import Node
from dfm.kernel.errors import PipelineError

__all__ = ["JSON_NAME", "ApiSpec", "GeneratedOperation", "check_adapters", "to_json"]

JSON_NAME = "dfm.json_name"
"""Field metadata of generated schema classes: the property's name in the JSON Schema."""


class ApiSpec:
    """The federation API a generated package was made from (no site bindings, no secrets).

    ``data`` is the config's YAML form restricted to what pipelines are checked
    against: ``dfm``, ``info``, ``schemas``, ``operations``, ``homesite`` and, per site,
    the operations it offers with their ``expose-as`` parameters.
    """

    def __init__(self, data: Mapping[str, Any], source: str = "<generated>") -> None:
        self.data = data
        self.source = source
        self._handle: FederationHandle | None = None
        self._lock = threading.Lock()

    def handle(self) -> FederationHandle:
        """The federation handle built from the embedded API description (once)."""
        with self._lock:
            if self._handle is None:
                from dfm.kernel.config.converter import converter
                from dfm.kernel.config.models import Federation

                config = converter.structure(dict(self.data), Federation)
                self._handle = FederationHandle(config, Path(self.source))
            return self._handle

    def operation(self, name: str) -> OperationCall:
        """The operation object ``fed.api.<name>`` of the embedded API."""
        return self.handle().operations[name]


def to_json(value: Any) -> Any:
    """``value`` with instances of generated schema classes turned into JSON mappings (recursively)."""
    if attrs.has(type(value)) and getattr(type(value), "__dfm_schema__", None) is not None:
        out: dict[str, Any] = {}
        for field in attrs.fields(type(value)):
            item = getattr(value, field.name)
            if item is None and field.default is None:
                continue  # an optional property not given
            out[field.metadata.get(JSON_NAME, field.name)] = to_json(item)
        return out
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, tuple):
        return tuple(to_json(item) for item in value)
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def _signature(cls: type) -> inspect.Signature:
    init = inspect.signature(cls.__init__)  # type: ignore[misc]
    params = list(init.parameters.values())[1:]  # without self
    return init.replace(parameters=params, return_annotation=cls.__name__)


class GeneratedOperation(Node):
    """Base of generated operation classes; calling one records an operation call.

    For type checkers the result is an instance of the generated class, a
    :class:`~dfm.api.Node`; at run time it is the node the federation's
    operation records. Arguments are keyword-only, as for ``fed.api``.
    """

    __dfm_operation__: ClassVar[str] = ""
    __dfm_api__: ClassVar[ApiSpec | None] = None
    __dfm_site__: ClassVar[str | None] = None  # site-pinned classes
    __dfm_names__: ClassVar[Mapping[str, str]] = {}  # Python name -> parameter name, where they differ
    __dfm_optional__: ClassVar[frozenset[str]] = frozenset()  # parameters for which None means "not given"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in vars(cls):
            cls.__signature__ = _signature(cls)  # type: ignore[attr-defined]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """Record a call of this operation in the pipeline being recorded; return its node."""
        name = cls.__dfm_operation__
        if cls.__dfm_api__ is None or not name:
            raise PipelineError(f"{cls.__qualname__} is not a generated operation class")
        if args:
            raise PipelineError(f"{name}: arguments are keyword-only ({cls.__qualname__}(name=value, ...))")
        pinned = cls.__dfm_site__
        if pinned is not None:
            given = kwargs.pop("site", None)
            if given is not None and given != pinned:
                raise PipelineError(
                    f"{name}: {cls.__module__}.{cls.__qualname__} is pinned to site '{pinned}'"
                )
            kwargs["site"] = pinned
        call: dict[str, Any] = {}
        for key, value in kwargs.items():
            param = cls.__dfm_names__.get(key, key)
            if value is None and param in cls.__dfm_optional__:
                continue
            call[param] = value if key in ("site", "provider") else to_json(value)
        return cls.__dfm_api__.operation(name)(**call)


def check_adapters(operations: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Import every adapter of a generated runtime module's ``OPERATIONS``; the problems found.

    An adapter is a plugin registry name or an import path (``pkg.mod.Cls`` or
    ``pkg.mod:Cls``), resolved as a site resolves it. Every adapter is tried, so
    all problems are reported at once.
    """
    from dfm.kernel.plugins import get_plugin_manager
    from dfm.kernel.records import import_target, load_target

    registry = get_plugin_manager().registry("adapters")
    problems = []
    for name, operation in operations.items():
        adapter = operation["adapter"]
        try:
            if adapter in registry:
                registry[adapter].load()
            else:
                load_target(import_target(adapter))
        except Exception as exc:  # report every adapter, not the first failure
            problems.append(f"{name}: adapter {adapter}: {type(exc).__name__}: {exc}")
    return problems
