"""The applications sharing a deployment's DFM service job: one table entry per session.

The server's :class:`~dfm.flare.controller.DfmController` runs once per
deployment and serves every application. Each application attaches and gets a
session: an unguessable token (a capability: whoever holds it is that session)
and a buffer of what sites sent for that session's jobs. A job belongs to the
session that first posted a frame naming it (job ids are random, 64 bits, made
by the application); frames naming a job another session owns are refused, and
what sites send about a job goes to its owner only. Frames that name no job
(an ``Install``, content-addressed; a site's ``Refused`` report) are not
anyone's: the first is relayed, the second shown to every session.

Bounds: at most ``max_sessions`` sessions, ``max_jobs`` jobs each, and
``buffer_bytes`` buffered per session; a session whose application stays
silent for its timeout is dropped (the controller cancels its jobs at the sites).

No FLARE import here: this is plain bookkeeping, tested on its own.
"""

from __future__ import annotations

import collections
import hashlib
import json
import secrets
import struct
import time
from collections.abc import Iterable
from typing import Any

from dfm.flare.frames import item_job

__all__ = ["JobFinder", "Session", "SessionError", "SessionTable", "new_token"]

_LEN = struct.Struct("!I")
MAX_HEAD_BYTES = 64 << 20  # a frame header larger than this is refused (an Install's net is the largest)
MAX_OPEN_STREAMS = 64  # chunked frames in progress per sender


class SessionError(ValueError):
    """A command for a session that does not exist (or no longer), or that the table refuses."""


def new_token() -> str:
    """A fresh session token: 256 random bits."""
    return secrets.token_urlsafe(32)


def _key(token: Any) -> str:
    # sessions are looked up by a digest of their token: lookups take the same time whatever a
    # guess has in common with a real token
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise SessionError("unknown session")
    return hashlib.sha256(token.encode()).hexdigest()


class Session:
    """One application's session: its buffer, its jobs, how long it may stay silent."""

    def __init__(self, sid: str, timeout: float):
        self.sid = sid  # a short public name for logs (never the token)
        self.timeout = timeout
        self.seen = time.monotonic()
        self.jobs: set[str] = set()
        self.buffer: collections.deque[tuple[int, Any, int, str]] = (
            collections.deque()
        )  # seq, item, size, site
        self.buffered = 0
        self.seq = 0
        self.post_seq = -1
        self.refused: collections.deque[list[str]] = collections.deque(maxlen=100)
        self.refused_seq = 0
        self.ended: str | None = None  # why the server ended it

    def add(self, item: Any, size: int, site: str) -> None:
        """Buffer ``item`` (``size`` bytes) from ``site`` for the application."""
        self.seq += 1
        self.buffer.append((self.seq, item, size, site))
        self.buffered += size

    def ack(self, after: int) -> None:
        """Drop what the application fetched (sequence numbers up to ``after``)."""
        while self.buffer and self.buffer[0][0] <= after:
            self.buffered -= self.buffer.popleft()[2]

    def report(self, sender: str, what: str) -> None:
        """Tell this session's application that the server refused something."""
        self.refused_seq += 1
        self.refused.append([str(self.refused_seq), sender, what])


class SessionTable:
    """The sessions of a service job, by token, and which session owns which job (see the module doc)."""

    def __init__(self, max_sessions: int = 64, max_jobs: int = 100_000, buffer_bytes: int = 256 << 20):
        self.max_sessions = max_sessions
        self.max_jobs = max_jobs
        self.buffer_bytes = buffer_bytes
        self._sessions: dict[str, Session] = {}
        self._owner: dict[str, Session] = {}
        self._count = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Any:
        return iter(list(self._sessions.values()))

    def open(self, timeout: float) -> tuple[str, Session]:
        """A new session: (its token, the session). :class:`SessionError` when the table is full."""
        if len(self._sessions) >= self.max_sessions:
            raise SessionError(f"the DFM service has {self.max_sessions} sessions already; try later")
        token = new_token()
        self._count += 1
        session = Session(f"s{self._count}", timeout)
        self._sessions[_key(token)] = session
        return token, session

    def get(self, token: Any) -> Session:
        """The session of ``token``; :class:`SessionError` (the same for any wrong token) otherwise."""
        session = self._sessions.get(_key(token))
        if session is None:
            raise SessionError("unknown session")
        session.seen = time.monotonic()
        return session

    def close(self, session: Session, why: str) -> list[str]:
        """Drop ``session``; return its jobs (to cancel at the sites)."""
        session.ended = why
        for key, value in list(self._sessions.items()):
            if value is session:
                del self._sessions[key]
        jobs = sorted(session.jobs)
        for job in jobs:
            if self._owner.get(job) is session:
                del self._owner[job]
        session.jobs.clear()
        session.buffer.clear()
        session.buffered = 0
        return jobs

    def expired(self, now: float | None = None) -> list[Session]:
        """Sessions silent for longer than their timeout."""
        now = time.monotonic() if now is None else now
        return [s for s in self._sessions.values() if now - s.seen > s.timeout]

    def claim(self, session: Session, job: str) -> bool:
        """Whether ``session`` may post about ``job``: it owns it, or takes it now (first come)."""
        owner = self._owner.get(job)
        if owner is session:
            return True
        if owner is not None or len(session.jobs) >= self.max_jobs:
            return False
        self._owner[job] = session
        session.jobs.add(job)
        return True

    def owner(self, job: str) -> Session | None:
        """The session that owns ``job``, if any."""
        return self._owner.get(job)

    def everyone(self) -> Iterable[Session]:
        """Every session (for what belongs to no job)."""
        return list(self._sessions.values())


# -- which job a frame names ------------------------------------------------------------------------


def head_job(data: bytes | bytearray | memoryview) -> tuple[bool, str | None]:
    """(header complete, job id) of a frame's start: ``(False, None)`` while more bytes are needed.

    :class:`ValueError` when the header cannot be a frame header.
    """
    view = memoryview(data)
    if view.nbytes < _LEN.size:
        return False, None
    (size,) = _LEN.unpack(view[: _LEN.size])
    if size > MAX_HEAD_BYTES:
        raise ValueError(f"frame header of {size} bytes is over the limit")
    if view.nbytes < _LEN.size + size:
        return False, None
    try:
        head = json.loads(bytes(view[_LEN.size : _LEN.size + size]))
    except ValueError:
        raise ValueError("frame header is not JSON") from None
    message = head.get("m") if isinstance(head, dict) else None
    if not isinstance(message, dict):
        raise ValueError("malformed frame header")
    job = message.get("job")
    if job is not None and not isinstance(job, str):
        raise ValueError("malformed job id")
    return True, job


class _Stream:
    __slots__ = ("count", "decided", "head", "held", "job", "next")

    def __init__(self, count: int):
        self.count = count
        self.next = 0
        self.head = bytearray()
        self.held: list[Any] = []
        self.decided = False
        self.job: str | None = None


class JobFinder:
    """The job each item of one sender's ordered item sequence belongs to.

    Items are whole frames (bytes), chunks ``[stream id, index, count, bytes]``
    sent in order, or stream references (dicts naming their frame's job). A
    chunk is held until its stream's header is complete.
    :meth:`feed` returns ``(job, items)`` pairs that are now attributed.
    """

    def __init__(self, max_streams: int = MAX_OPEN_STREAMS):
        self.max_streams = max_streams
        self._streams: dict[str, _Stream] = {}

    def feed(self, item: Any) -> list[tuple[str | None, list[Any]]]:
        """Attribute ``item``; :class:`ValueError` when it is not a well-formed item in sequence."""
        if isinstance(item, (bytes, bytearray, memoryview)):
            complete, job = head_job(item)
            if not complete:
                raise ValueError("truncated frame")
            return [(job, [item])]
        if isinstance(item, dict):  # a stream reference (dfm.flare.streams) names its frame's job
            return [(item_job(item), [item])]
        if not isinstance(item, (list, tuple)) or len(item) != 4:
            raise ValueError("malformed chunk")
        sid, index, count, data = item
        if not isinstance(sid, str) or type(index) is not int or type(count) is not int:
            raise ValueError("malformed chunk")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError("malformed chunk")
        stream = self._streams.get(sid)
        if stream is None:
            if index != 0 or count < 2:
                raise ValueError("a chunk out of order")
            if len(self._streams) >= self.max_streams:
                raise ValueError("too many chunked frames at once")
            stream = self._streams[sid] = _Stream(count)
        if index != stream.next or count != stream.count:
            del self._streams[sid]
            raise ValueError("a chunk out of order")
        stream.next += 1
        if index == count - 1:
            del self._streams[sid]
        if stream.decided:
            return [(stream.job, [item])]
        stream.held.append(item)
        stream.head += memoryview(data).cast("B")
        try:
            complete, job = head_job(stream.head)
        except ValueError:
            self._streams.pop(sid, None)
            raise
        if not complete:
            if index == count - 1:
                raise ValueError("truncated frame")
            return []
        stream.decided, stream.job, stream.head = True, job, bytearray()
        held, stream.held = stream.held, []
        return [(job, held)]
