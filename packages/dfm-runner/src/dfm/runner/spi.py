"""The transport SPI: what a transport plugin builds on, and nothing else of the runner.

A transport (``inproc``, ``process``, dfm-flare's ``flare``) subclasses
:class:`Transport`, hosts each site it runs in a :class:`SiteRuntime`, and
moves the messages below between the application (:data:`APP`) and the sites,
handing each receiver the sender's authenticated identity beside the
message. On a byte stream a message is a frame: :func:`encode_frame` /
:func:`decode_frame` (buffers of at least ``SPILL_BYTES`` travel through
memory-mapped files in private folders under :func:`shm_root`); in a
JSON-shaped envelope it is :func:`to_wire` / :func:`from_wire`. A transport
that starts a process per site gives it :func:`site_environment` (no other
site's secret variables; ``DEFAULT_ENV_PREFIX`` for the default vault).
:mod:`dfm.runner.testing` has the suites every transport passes
(``TransportConformance``, ``HostilePeerSuite``).

These names are stable for transport authors; the modules they come from
are not. :class:`SiteRuntime` is imported on first use: the application side
of a transport (``process``) never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dfm.runner.messages import (
    APP,
    CONTROL,
    Advice,
    AppMessage,
    BadMessage,
    BranchTaken,
    CancelJob,
    Credit,
    Discover,
    Frame,
    Install,
    JobStarted,
    LoopCount,
    MoreFrames,
    Refused,
    Result,
    SiteDone,
    SiteFailed,
    SiteLost,
    SiteMessage,
    StartJob,
    StopFrames,
    StreamAck,
    StreamEnd,
    Token,
    from_wire,
    to_wire,
)
from dfm.runner.transports.base import Transport, TransportError
from dfm.runner.transports.wire import SPILL_BYTES, FrameError, decode_frame, encode_frame, shm_root
from dfm.runner.vault import DEFAULT_ENV_PREFIX, site_environment

if TYPE_CHECKING:
    from dfm.runner.site import SiteRuntime

__all__ = [
    "APP",
    "CONTROL",
    "DEFAULT_ENV_PREFIX",
    "SPILL_BYTES",
    "Advice",
    "AppMessage",
    "BadMessage",
    "BranchTaken",
    "CancelJob",
    "Credit",
    "Discover",
    "Frame",
    "FrameError",
    "Install",
    "JobStarted",
    "LoopCount",
    "MoreFrames",
    "Refused",
    "Result",
    "SiteDone",
    "SiteFailed",
    "SiteLost",
    "SiteMessage",
    "SiteRuntime",
    "StartJob",
    "StopFrames",
    "StreamAck",
    "StreamEnd",
    "Token",
    "Transport",
    "TransportError",
    "decode_frame",
    "encode_frame",
    "from_wire",
    "shm_root",
    "site_environment",
    "to_wire",
]


def __getattr__(name: str) -> Any:
    if name == "SiteRuntime":
        from dfm.runner.site import SiteRuntime

        return SiteRuntime
    raise AttributeError(f"module 'dfm.runner.spi' has no attribute {name!r}")
