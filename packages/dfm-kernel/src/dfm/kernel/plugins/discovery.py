"""Which entry points are plugins, in which order, and which of them the environment lets load.

Controls (environment):

``DFM_DISABLE_PLUGINS``  comma-separated distribution names not to load.
``DFM_LOAD_PLUGINS``     allow-list of third-party distributions (set and empty: none);
                         DFM's own distributions are always loaded unless disabled.
``DFM_STRICT_PLUGINS=1`` a plugin that fails to load is an error, not a warning.
``DFM_TRACE_PLUGINS=1``  print every hook call (pluggy tracing) to stderr.
"""

from __future__ import annotations

import os

import attrs

from dfm.kernel.entrypoints import EntryPoint, canonical_name, entry_points

__all__ = ["DFM_DISTRIBUTIONS", "GROUP", "Controls", "discover", "strict_from_env", "trace_from_env"]

GROUP = "dfm.plugins"

DFM_DISTRIBUTIONS = frozenset({"dfm-kernel", "dfm-compiler", "dfm-runner", "dfm-cli", "dfm-flare"})
"""DFM's own plugin distributions: loaded first, never filtered by ``DFM_LOAD_PLUGINS``
or by a federation's ``plugins:`` pins."""


def discover(group: str = GROUP) -> list[EntryPoint]:
    """Entry points of ``group``: DFM's own distributions first, then by (distribution, name)."""

    def key(ep: EntryPoint) -> tuple[bool, str, str]:
        dist = canonical_name(ep.dist_name)
        return (dist not in DFM_DISTRIBUTIONS, dist, ep.name)

    return sorted(entry_points(group=group), key=key)


def _env_names(variable: str) -> set[str] | None:
    raw = os.environ.get(variable)
    if raw is None:
        return None
    return {canonical_name(n.strip()) for n in raw.split(",") if n.strip()}


def strict_from_env() -> bool:
    """``DFM_STRICT_PLUGINS`` is set to a true value."""
    return os.environ.get("DFM_STRICT_PLUGINS", "").strip().lower() in ("1", "true", "yes", "on")


def trace_from_env() -> bool:
    """``DFM_TRACE_PLUGINS=1``."""
    return os.environ.get("DFM_TRACE_PLUGINS", "") == "1"


@attrs.frozen
class Controls:
    """``DFM_DISABLE_PLUGINS`` and ``DFM_LOAD_PLUGINS`` as read once per loading pass."""

    disabled: frozenset[str] = frozenset()
    allowed: frozenset[str] | None = None  # None: every third-party distribution

    @classmethod
    def from_env(cls) -> Controls:
        """The controls the environment sets now."""
        allowed = _env_names("DFM_LOAD_PLUGINS")
        return cls(
            frozenset(_env_names("DFM_DISABLE_PLUGINS") or ()),
            None if allowed is None else frozenset(allowed),
        )

    def refusal(self, distribution: str, plugin_name: str, *, blocked: bool = False) -> str | None:
        """Why this plugin is not loaded (``blocked``: in pluggy's block list), or None."""
        if distribution in self.disabled or plugin_name in self.disabled:
            return "in DFM_DISABLE_PLUGINS"
        if blocked:
            return "blocked"
        if (
            self.allowed is not None
            and distribution not in DFM_DISTRIBUTIONS
            and distribution not in self.allowed
        ):
            return "not in DFM_LOAD_PLUGINS"
        return None
