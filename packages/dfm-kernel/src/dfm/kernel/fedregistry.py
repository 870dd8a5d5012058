"""Former name of :mod:`dfm.kernel.fedlist`, for dfm-flare until it imports that module; then delete."""

from dfm.kernel.fedlist import read_fedlist as read_registry
from dfm.kernel.fedlist import resolve_federation

__all__ = ["read_registry", "resolve_federation"]
