"""What a :class:`~dfm.runner.netrunner.NetRunner` needs from the site that runs it.

:class:`~dfm.runner.site.SiteRuntime` is the one implementation; the runner
depends on this protocol instead of on the site module, which imports the
runner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from dfm.kernel.ir.net import CacheT, CallT, SiteNet

if TYPE_CHECKING:
    from dfm.runner.cache import SiteCache

__all__ = ["NetHost"]


class NetHost(Protocol):
    """A site as its net runners see it: where messages go, where adapter calls run."""

    name: str
    loop: asyncio.AbstractEventLoop

    def send(self, site: str, msg: Any) -> None:
        """Send ``msg`` to ``site`` (to itself on the event loop)."""

    def to_app(self, msg: Any) -> None:
        """Send ``msg`` to the application."""

    def defer(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` soon on the site's event loop."""

    def fail(self, job: str, message: str) -> None:
        """Fail ``job`` here and report ``message`` to the application."""

    def forget(self, job: str) -> None:
        """Drop ``job``: it has ended at this site."""

    def call_adapter(self, job: str, t: CallT, args: dict[str, Any]) -> asyncio.Task[Any]:
        """Start the adapter call of transition ``t`` with ``args``."""

    def describe_failure(self, t: CallT, error: BaseException) -> str:
        """The message for a failed call of ``t``."""

    def iterate(self, generator: Any) -> Any:
        """An async iterator over a generator an adapter returned."""

    @property
    def cache(self) -> SiteCache:
        """The site's pipeline cache (TryFromCache)."""

    async def blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on a worker thread."""

    def cache_lookup(self, net: SiteNet, block: str) -> CacheT:
        """The lookup of TryFromCache ``block`` in ``net``."""

    def cache_event(self, job: str, t: CacheT, frame: tuple[int, ...], outcome: str, digest: str) -> None:
        """Record a cache hit or miss."""
