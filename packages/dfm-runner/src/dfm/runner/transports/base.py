"""The one small interface every transport implements.

A transport is created by a :class:`~dfm.runner.session.Session` on the
session's event loop. It starts every site of the federation (in this
process, in child processes, or on a FLARE deployment), carries messages from
the application to sites (:meth:`send`) and between sites, and hands every
message addressed to the application to ``deliver(msg, sender)`` on the
session's loop. If it loses a site it delivers
:class:`~dfm.runner.messages.SiteLost` with sender ``APP``.

Authentication is the transport's job: ``sender`` -- given to
``deliver`` and to each site's ``SiteRuntime.handle(msg, sender)`` -- is who
the transport knows sent the message (a site name, or
:data:`~dfm.runner.messages.APP` for the application), never a field a peer
wrote. The runtime then enforces roles (see :mod:`dfm.runner.site`).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dfm.kernel.config.models import Federation
from dfm.kernel.errors import DfmError


class TransportError(DfmError):
    """A transport could not start, reach or keep a site."""


class Transport(ABC):
    """Base class of transports; subclasses are registered through ``dfm_transports``."""

    name = "abstract"

    def __init__(
        self,
        federation: Federation,
        config_path: Path,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[Any, str], None],
        options: dict[str, Any] | None = None,
    ):
        self.federation = federation
        self.config_path = config_path
        self.loop = loop
        self.deliver = deliver
        self.options = dict(options or {})

    @abstractmethod
    async def start(self) -> None:
        """Start every site; return when all can receive messages."""

    @abstractmethod
    def send(self, site: str, msg: Any) -> None:
        """Send a message from the application to ``site`` (called on the session loop)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop every site this transport started; leave no process behind."""
