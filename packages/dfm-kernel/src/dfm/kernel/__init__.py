"""DFM kernel: the small, stable core every other distribution builds on.

Public API: the hook marker, the plugin manager factory, the record types
returned by hooks, and the error tree. Config models live in
:mod:`dfm.kernel.config`, IRs in :mod:`dfm.kernel.ir`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dfm.kernel.errors import (
    CompileError,
    ConfigError,
    ConfigIssue,
    DfmError,
    JobError,
    PipelineError,
    PluginConflictError,
    PluginContractError,
    PluginError,
    PluginHookError,
    PluginLoadError,
    PluginVersionError,
    UnknownPluginError,
)

if TYPE_CHECKING:
    from dfm.kernel.markers import hookimpl
    from dfm.kernel.plugins import DfmPluginManager, PluginInfo, get_plugin_manager, reset_plugin_manager
    from dfm.kernel.records import (
        AdapterEntry,
        CliCommandEntry,
        CodecEntry,
        EmitterEntry,
        EmitterOption,
        Entry,
        PlacementStrategyEntry,
        Provenance,
        TransportEntry,
    )

# The plugin machinery (pluggy, entry points, the record classes) is imported on first
# use: every ``dfm.kernel.*`` import runs this file, and loading a federation needs none of it.
_EXPORTS = {
    "hookimpl": "dfm.kernel.markers",
    **dict.fromkeys(
        ("DfmPluginManager", "PluginInfo", "get_plugin_manager", "reset_plugin_manager"), "dfm.kernel.plugins"
    ),
    **dict.fromkeys(
        (
            "AdapterEntry",
            "CliCommandEntry",
            "CodecEntry",
            "EmitterEntry",
            "EmitterOption",
            "Entry",
            "PlacementStrategyEntry",
            "Provenance",
            "TransportEntry",
        ),
        "dfm.kernel.records",
    ),
}
# Submodules this file used to import eagerly, so ``dfm.kernel.records`` after a bare
# ``import dfm.kernel`` still finds them.
_SUBMODULES = ("entrypoints", "hookspecs", "markers", "plugins", "records", "suggest")

__all__ = [
    "AdapterEntry",
    "CliCommandEntry",
    "CodecEntry",
    "CompileError",
    "ConfigError",
    "ConfigIssue",
    "DfmError",
    "DfmPluginManager",
    "EmitterEntry",
    "EmitterOption",
    "Entry",
    "JobError",
    "PipelineError",
    "PlacementStrategyEntry",
    "PluginConflictError",
    "PluginContractError",
    "PluginError",
    "PluginHookError",
    "PluginInfo",
    "PluginLoadError",
    "PluginVersionError",
    "Provenance",
    "TransportEntry",
    "UnknownPluginError",
    "get_plugin_manager",
    "hookimpl",
    "reset_plugin_manager",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'dfm.kernel' has no attribute '{name}'")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})
