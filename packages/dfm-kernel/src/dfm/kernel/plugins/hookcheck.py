"""Hook implementations that do not match a declared spec, or implement none.

pluggy validates an implementation against its spec when one of them is
registered after the other; DFM adds specs late (dfm-cli's), so these checks
find what pluggy would refuse and report it with the distribution to blame.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pluggy

from dfm.kernel.records import Provenance
from dfm.kernel.suggest import did_you_mean

__all__ = ["mismatched_impls", "pending_problems"]


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


def mismatched_impls(manager: pluggy.PluginManager, module: ModuleType | type) -> Iterator[tuple[str, str]]:
    """``(plugin name, reason)`` for every registered implementation asking for arguments a new spec lacks."""
    method = inspect.isclass(module)
    for name in dir(module):
        if manager.parse_hookspec_opts(module, name) is None:
            continue
        caller = getattr(manager.hook, name, None)
        if caller is None or caller.has_spec():
            continue
        spec_args = _required_args(getattr(module, name), method=method)
        for impl in caller.get_hookimpls():
            extra = sorted(set(impl.argnames) - spec_args)
            if extra:
                yield (
                    impl.plugin_name,
                    (
                        f"invalid hook implementation: {name}({', '.join(impl.argnames)}) asks for "
                        f"{', '.join(extra)}, which the hookspec {name}({', '.join(sorted(spec_args))}) "
                        "does not provide"
                    ),
                )


def pending_problems(manager: pluggy.PluginManager, provenance_of: Callable[[str], Provenance]) -> list[str]:
    """Implementations of hooks that no loaded distribution declares (not ``optionalhook``).

    ``provenance_of(plugin_name) -> Provenance`` names the distribution to blame.
    """
    known = [name for name, caller in vars(manager.hook).items() if caller.has_spec()]
    problems = []
    for name, caller in sorted(vars(manager.hook).items()):
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            prov = provenance_of(impl.plugin_name)
            hint = did_you_mean(name, known)
            problems.append(
                f"{prov.distribution} {prov.version} implements {name}(), which no loaded distribution "
                + (f"declares; {hint}" if hint else "declares")
                + " (mark it @hookimpl(optionalhook=True) if its spec comes from an optional "
                "distribution)"
            )
    return problems
