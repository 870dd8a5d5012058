"""Contract checks that a plugin's own tests call.

Each check collects *every* violation and raises one :class:`ContractViolation`
(an ``AssertionError``, so pytest reports it as a test failure) listing them::

    from dfm.kernel.testing import check_adapter_class, check_plugin
    import dfm_adapter_sql.plugin
    from dfm_adapter_sql.adapters import Query

    def test_contracts():
        check_plugin(dfm_adapter_sql.plugin)     # records valid, targets import, adapters conform
        check_adapter_class(Query, args=["sql", "limit"])
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from dfm.kernel.errors import PluginError
from dfm.kernel.plugins import DfmPluginManager
from dfm.kernel.records import Entry

__all__ = ["ContractViolation", "adapter_problems", "check_adapter_class", "check_plugin", "check_records"]


class ContractViolation(AssertionError):
    """A plugin or adapter breaks DFM's contract; the message lists every problem."""

    def __init__(self, subject: str, problems: Iterable[str]) -> None:
        self.subject = subject
        self.problems = list(problems)
        super().__init__(f"{subject} breaks the DFM contract:\n  " + "\n  ".join(self.problems))


def _describe(function: Any) -> str:
    try:
        return f"{function.__name__}{inspect.signature(function)}"
    except (TypeError, ValueError):
        return repr(function)


def adapter_problems(cls: object, *, args: Iterable[str] | None = None) -> list[str]:
    """Everything wrong with ``cls`` as an adapter class (empty when it conforms).

    An adapter is a class with ``__init__(self, site, provider)`` and
    ``body(self, **args)``, sync or async. With ``args`` (the argument names
    the site's bindings feed), also check that ``body`` accepts each of them
    and requires no other.
    """
    if not inspect.isclass(cls):
        return [f"{cls!r} is not a class"]
    problems: list[str] = []

    if cls.__init__ is object.__init__:
        problems.append("__init__(self, site, provider) is missing")
    else:
        try:
            signature = inspect.signature(cls)
        except (TypeError, ValueError):
            signature = None
        if signature is not None:
            positional = [
                p.name
                for p in signature.parameters.values()
                if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            ]
            try:
                signature.bind("site", "provider")
                signature.bind(site="site", provider="provider")
                ok = positional[:2] == ["site", "provider"] or not positional
            except TypeError:
                ok = False
            if not ok:
                problems.append(
                    f"__init__ must be __init__(self, site, provider), found {cls.__name__}{signature}"
                )

    raw_body = inspect.getattr_static(cls, "body", None)
    if raw_body is None:
        problems.append("body(self, **args) is missing")
        return problems
    if isinstance(raw_body, (staticmethod, classmethod)):
        problems.append("body must be an instance method, not a static or class method")
        return problems
    if not callable(raw_body):
        problems.append(f"body must be a method, found {type(raw_body).__name__}")
        return problems
    try:
        parameters = list(inspect.signature(raw_body).parameters.values())[1:]  # drop self
    except (TypeError, ValueError):
        return problems
    positional_only = [p.name for p in parameters if p.kind is inspect.Parameter.POSITIONAL_ONLY]
    if positional_only:
        problems.append(
            f"body takes its arguments by keyword; positional-only {', '.join(positional_only)} "
            f"cannot be fed ({_describe(raw_body)})"
        )
    if args is not None:
        given = set(args)
        names = {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL}
        has_var_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
        required = {
            p.name
            for p in parameters
            if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        }
        unaccepted = sorted(given - names) if not has_var_keyword else []
        if unaccepted:
            problems.append(f"body does not accept {', '.join(unaccepted)} ({_describe(raw_body)})")
        missing = sorted(required - given)
        if missing:
            problems.append(f"body requires {', '.join(missing)}, which the bindings do not feed")
    return problems


def check_adapter_class(cls: object, *, args: Iterable[str] | None = None) -> None:
    """Raise :class:`ContractViolation` unless ``cls`` is a valid adapter (see :func:`adapter_problems`)."""
    problems = adapter_problems(cls, args=args)
    if problems:
        raise ContractViolation(f"adapter class {getattr(cls, '__qualname__', cls)!r}", problems)


def check_records(manager: DfmPluginManager, *, load: bool = True) -> dict[str, dict[str, Entry]]:
    """Check every registry of ``manager``; return them (kind -> name -> record).

    Fails on implementations of undeclared hooks, hooks that raise, invalid
    records and conflicts; with ``load``, also imports every record's target
    and checks that adapter targets are adapter classes.
    """
    problems: list[str] = []
    try:
        manager.check_pending()
    except PluginError as exc:
        problems.append(str(exc))
    registries: dict[str, dict[str, Entry]] = {}
    for kind in sorted(manager.registries):
        try:
            registries[kind] = manager.registry(kind)
        except PluginError as exc:
            problems.append(str(exc))
            continue
        if not load:
            continue
        for name, entry in registries[kind].items():
            try:
                target = entry.load()
            except PluginError as exc:
                problems.append(str(exc))
                continue
            if kind == "adapters":
                problems.extend(
                    f"adapter '{name}' from {entry.source}: {p}" for p in adapter_problems(target)
                )
    if problems:
        raise ContractViolation("plugin records", problems)
    return registries


def check_plugin(
    plugin: object,
    *,
    distribution: str = "plugin-under-test",
    version: str = "0",
    specs: Iterable[ModuleType | type] = (),
    load: bool = True,
) -> dict[str, dict[str, Entry]]:
    """Register ``plugin`` alone on a fresh strict manager and run :func:`check_records`.

    ``specs`` adds hookspec modules from other distributions (for example
    ``dfm.cli.hookspecs``) so their hooks are checked too.
    """
    manager = DfmPluginManager(strict=True)
    for spec in specs:
        manager.add_specs(spec)
    try:
        manager.register_plugin(plugin, distribution=distribution, version=version)
    except PluginError as exc:
        raise ContractViolation(f"plugin {distribution}", [str(exc)]) from exc
    return check_records(manager, load=load)
