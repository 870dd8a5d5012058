"""The one error the SQL adapters raise."""

from __future__ import annotations

from dfm.kernel.errors import DfmError

__all__ = ["SqlError"]


class SqlError(DfmError):
    """A SQL adapter failed; the message names the adapter and the site, and holds no secret."""
