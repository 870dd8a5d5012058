"""``inproc``: every site in the session's own process and event loop.

Values pass between sites by reference, without encoding: this is the
embedded target for development, tests and single-machine use. Each site
still has its own adapters, vault and thread pool, and still re-checks every
net against its own config.
"""

from __future__ import annotations

from typing import Any

from dfm.runner.site import SiteRuntime
from dfm.runner.transports.base import Transport


class InprocTransport(Transport):
    name = "inproc"

    async def start(self) -> None:
        self.sites: dict[str, SiteRuntime] = {}
        workers = int(self.options.get("workers", 8))
        for name in self.federation.sites:
            self.sites[name] = SiteRuntime(
                self.federation,
                name,
                self.config_path.parent,
                self._site_send,
                self._to_app,
                loop=self.loop,
                workers=workers,
            )

    def _site_send(self, site: str, msg: Any) -> None:
        self.loop.call_soon(self.sites[site].handle, msg)

    def _to_app(self, msg: Any) -> None:
        self.loop.call_soon(self.deliver, msg)

    def send(self, site: str, msg: Any) -> None:
        self.loop.call_soon(self.sites[site].handle, msg)

    async def stop(self) -> None:
        for site in self.sites.values():
            site.close()
