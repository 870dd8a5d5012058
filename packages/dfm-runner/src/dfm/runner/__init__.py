"""DFM runner: run prepared pipelines on a federation.

Public API: :class:`Session`, :class:`Job`, :class:`JobStatus`,
:class:`JobResult`, and the :class:`~dfm.runner.transports.Transport` base
class for transport plugins.
"""

from dfm.runner.session import Job, JobResult, JobStatus, Session
from dfm.runner.transports.base import Transport, TransportError

__all__ = ["Job", "JobResult", "JobStatus", "Session", "Transport", "TransportError"]
