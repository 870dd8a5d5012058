"""The record returned by ``dfm_cli_commands`` (kept importable here; it lives in the kernel).

Plugins import :class:`dfm.kernel.records.CliCommandEntry` so that none of them
needs dfm-cli installed; this module re-exports it for older plugins.
"""

from __future__ import annotations

from dfm.kernel.records import CliCommandEntry

__all__ = ["CliCommandEntry"]
