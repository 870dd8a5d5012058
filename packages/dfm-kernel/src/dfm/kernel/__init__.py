"""DFM kernel: the small, stable core every other distribution builds on.

Public API: the hook marker, the plugin manager factory, the record types
returned by hooks, and the error tree. Config models live in
:mod:`dfm.kernel.config`, IRs in :mod:`dfm.kernel.ir`.
"""

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
