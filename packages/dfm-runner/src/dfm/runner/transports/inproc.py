"""``inproc``: every site in the session's own process and event loop.

This is the embedded target for development, tests and single-machine use.
Each site still has its own adapters, vault and thread pool, still re-checks
every net against its own config, and knows who sent each message (the
sender is whoever called, so it cannot be forged here).

Every message goes through the federation's codec on its way, exactly as on
the other transports, so a pipeline that works here does not fail on
``process`` or FLARE for a value the codec refuses, and no site gets a
reference to another site's objects. Option ``trusted=True`` skips the codec
and passes values by reference: faster, for pipelines already known to run.

Messages are queued and delivered in order by one loop callback per burst
(not one per message), which keeps the per-token cost to a few microseconds.

Option ``shuffle_seed`` (for tests) delivers messages in a random order that
keeps only what real networks keep: first-in first-out between each pair of
endpoints. It exposes code that silently relies on arrival order.

Liveness: the sites share the session's event loop, so there are no
heartbeats here. A loop frozen by code that blocks it (an ``async`` adapter
calling ``time.sleep``, a slow result callback) freezes the whole session:
that is the embedding application's own problem, and the one thing this
transport cannot detect. Sync adapters never block the loop: they run on each
site's :class:`~dfm.runner.workers.WorkerPool`, and a call that hangs is
abandoned on cancel or on its operation's ``timeout`` without costing the
site a worker or blocking interpreter exit.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from dfm.kernel.codecs import Codec, CodecError, codec_for
from dfm.runner.spi import APP, Install, Result, SiteRuntime, Token, Transport, from_wire, to_wire

Handler = Callable[[Any, str], None]
_IMMUTABLE_SCALARS = frozenset({int, float, str, bool, type(None)})  # the codec carries them as they are


class InprocTransport(Transport):
    """The ``inproc`` transport: every site a :class:`~dfm.runner.site.SiteRuntime` in the session's
    process and event loop (see the module docstring).
    """

    name = "inproc"

    async def start(self) -> None:
        """Create a site runtime for every site of the federation (options ``trusted``, ``shuffle_seed``,
        ``workers``).
        """
        self.sites: dict[str, SiteRuntime] = {}
        self._outbox: deque[tuple[Handler, Any, str]] = deque()
        self._codec: Codec | None = None if self.options.get("trusted") else codec_for(self.federation)
        self._scheduled = False
        seed = self.options.get("shuffle_seed")
        self._random = random.Random(seed) if seed is not None else None
        self._channels: dict[tuple[str, str], deque[tuple[Handler, Any, str]]] = {}
        workers = int(self.options.get("workers", 8))
        for name in self.federation.sites:
            self.sites[name] = SiteRuntime(
                self.federation,
                name,
                self.config_path.parent,
                partial(self._site_send, name),
                partial(self._to_app, name),
                loop=self.loop,
                workers=workers,
            )

    def _post(self, source: str, target: str, handler: Handler, msg: Any) -> None:
        if self._codec is not None:
            msg = self._roundtrip(msg)
        if self._random is None:
            self._outbox.append((handler, msg, source))
        else:
            self._channels.setdefault((source, target), deque()).append((handler, msg, source))
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        outbox = self._outbox
        # Handlers may post more messages; they join this burst, in order.
        while outbox:
            handler, msg, source = outbox.popleft()
            handler(msg, source)
        if self._random is not None:
            channels = self._channels
            while channels:
                key = self._random.choice(sorted(channels))
                handler, msg, source = channels[key].popleft()
                if not channels[key]:
                    del channels[key]
                handler(msg, source)
        self._scheduled = False

    def _roundtrip(self, msg: Any) -> Any:
        """What the receiver would get from another process: encoded and decoded by the codec."""
        assert self._codec is not None
        kind = type(msg)
        if kind is Token or kind is Result:  # the hot path: only the value needs the codec
            if type(msg.value) in _IMMUTABLE_SCALARS:
                return msg
            try:
                header, buffers = self._codec.encode(msg.value)
                value = self._codec.decode(header, [bytes(b) for b in buffers])
            except (ValueError, RecursionError) as exc:
                raise CodecError(f"{kind.__name__} cannot be carried: {exc}") from None
            return kind(msg.job, msg.place, msg.frame, value)
        if kind is Install:  # the application's own frozen IR: the site re-verifies it whole anyway
            return msg
        try:
            header, buffers = self._codec.encode(to_wire(msg))
            copy = from_wire(self._codec.decode(header, [bytes(b) for b in buffers]))
        except (ValueError, RecursionError) as exc:  # what another process would refuse to decode
            raise CodecError(f"{type(msg).__name__} cannot be carried: {exc}") from None
        return copy

    def _site_send(self, source: str, site: str, msg: Any) -> None:
        self._post(source, site, self.sites[site].handle, msg)

    def _to_app(self, source: str, msg: Any) -> None:
        self._post(source, APP, self.deliver, msg)

    def send(self, site: str, msg: Any) -> None:
        """Queue ``msg`` from the application to ``site``, through the codec unless ``trusted``."""
        self._post(APP, site, self.sites[site].handle, msg)

    async def stop(self) -> None:
        """Close every site runtime."""
        for site in self.sites.values():
            site.close()
