"""``name==version`` lines for the active plugin distributions (``dfm plugins list --requirements``)."""

from __future__ import annotations

from collections.abc import Iterable

from dfm.kernel.entrypoints import canonical_name
from dfm.kernel.plugins.status import PluginInfo

__all__ = ["requirements"]


def requirements(infos: Iterable[PluginInfo], distributions: Iterable[str] | None = None) -> list[str]:
    """``name==version`` of every active plugin distribution (or only of ``distributions``), sorted."""
    wanted = None if distributions is None else {canonical_name(d) for d in distributions}
    pins = {
        info.distribution: info.version
        for info in infos
        if info.status == "active" and (wanted is None or info.distribution in wanted)
    }
    return [f"{dist}=={pins[dist]}" for dist in sorted(pins)]
