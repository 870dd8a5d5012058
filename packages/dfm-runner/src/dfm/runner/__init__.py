"""DFM runner: run prepared pipelines on a federation.

Public API: :class:`Session`, :class:`Job`, :class:`JobStatus`,
:class:`JobResult`, :class:`Steps` (progress lines for slow steps), and the
:class:`~dfm.runner.transports.Transport` base class for transport plugins
(the whole transport SPI: :mod:`dfm.runner.spi`). Names are imported on first use, so that
loading the runner's plugin (``dfm --help``) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dfm.runner.discovery import Discovery
    from dfm.runner.session import Job, JobResult, JobStatus, Session
    from dfm.runner.steps import Steps
    from dfm.runner.transports.base import Transport, TransportError

_EXPORTS = {
    "Discovery": "dfm.runner.discovery",
    "Job": "dfm.runner.session",
    "JobResult": "dfm.runner.session",
    "JobStatus": "dfm.runner.session",
    "Session": "dfm.runner.session",
    "Steps": "dfm.runner.steps",
    "Transport": "dfm.runner.transports.base",
    "TransportError": "dfm.runner.transports.base",
}

__all__ = ["Discovery", "Job", "JobResult", "JobStatus", "Session", "Steps", "Transport", "TransportError"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dfm.runner' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
