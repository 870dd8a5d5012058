"""What the manager knows about each plugin: :class:`PluginInfo`, and the warning for lenient mode."""

from __future__ import annotations

from typing import Literal

import attrs

from dfm.kernel.entrypoints import canonical_name

__all__ = ["DfmPluginWarning", "PluginInfo", "Status", "one_line"]

Status = Literal["active", "disabled", "failed"]


class DfmPluginWarning(RuntimeWarning):
    """A plugin failed to load or misbehaves, and strict mode is off."""


def one_line(text: str) -> str:
    """``text`` with its lines joined by single spaces (exception texts inside one-line messages)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


@attrs.frozen
class PluginInfo:
    """One entry point as the manager saw it."""

    distribution: str  # canonical distribution name, "dfm-adapter-sql"
    version: str
    entry_point: str  # the entry point's value, "dfm_adapter_sql.plugin"
    status: Status
    error: str | None = None  # one-line reason for failed / disabled
    traceback: str | None = attrs.field(default=None, repr=False, eq=False)
    name: str | None = None  # the entry point's name when it is not the distribution name

    @property
    def label(self) -> str:
        """``"<distribution> <version>"``."""
        return f"{self.distribution} {self.version}"

    @property
    def plugin_name(self) -> str:
        """The name the plugin is registered under in pluggy: the distribution name by convention."""
        if self.name is None or canonical_name(self.name) == self.distribution:
            return self.distribution
        return f"{self.distribution}:{self.name}"

    @property
    def message(self) -> str:
        """A full sentence about this plugin's state, for warnings, errors and the CLI."""
        where = f"plugin {self.label} (entry point {self.entry_point or self.plugin_name})"
        if self.status == "active":
            return f"{where} is active"
        if self.status == "disabled":
            return f"{where} is disabled: {self.error}"
        return (
            f"{where} failed to load: {self.error}. "
            "Other plugins are unaffected; run with --verbose for the traceback."
        )
