"""Transports move messages between the application and sites (see :class:`Transport`)."""

from dfm.runner.transports.base import Transport, TransportError

__all__ = ["Transport", "TransportError"]
