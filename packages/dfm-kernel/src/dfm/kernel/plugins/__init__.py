"""DFM's plugin machinery, one concept per module.

=================  ==============================================================
``discovery``      the ``dfm.plugins`` group, load order, environment controls
``status``         :class:`PluginInfo` (active / disabled / failed) and the warning
``hookcheck``      implementations that match no spec, or a spec added late
``registries``     records collected per hook, validated, stamped, indexed by name
``pins``           a federation's ``plugins:`` pins against installed versions
``requirements``   ``name==version`` lines of the active distributions
``manager``        :class:`DfmPluginManager`, which ties them together, and
                   :func:`get_plugin_manager`, the process-wide one
=================  ==============================================================

Entry points are read by :mod:`dfm.kernel.entrypoints`, which finds them as
``importlib.metadata`` does without its ~50 ms import: ``dfm --help`` loads
every plugin's records. The names below are this package's public API
(also exported, most of them, from :mod:`dfm.kernel`).
"""

from dfm.kernel.plugins.discovery import DFM_DISTRIBUTIONS, GROUP
from dfm.kernel.plugins.manager import DfmPluginManager, get_plugin_manager, iter_infos, reset_plugin_manager
from dfm.kernel.plugins.registries import REGISTRIES, Collection
from dfm.kernel.plugins.status import DfmPluginWarning, PluginInfo

__all__ = [
    "DFM_DISTRIBUTIONS",
    "GROUP",
    "REGISTRIES",
    "Collection",
    "DfmPluginManager",
    "DfmPluginWarning",
    "PluginInfo",
    "get_plugin_manager",
    "iter_infos",
    "reset_plugin_manager",
]
