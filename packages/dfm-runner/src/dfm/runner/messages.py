"""Messages exchanged between the application, sites and transports.

Plain tuples-with-names (attrs, slots) so that the in-process transport can
pass them as they are; the process transport encodes them with the codec.
``frame`` is a tuple of ints (see :mod:`dfm.kernel.ir.net`).

Who sent a message is never a field of it: every transport hands the receiver
the sender's authenticated identity (``APP`` or a site name) beside the
message. Only the application sends :data:`CONTROL` messages; sites send data
messages to sites, and results and reports to the application.
"""

from __future__ import annotations

from typing import Any

import attrs

Frame = tuple[int, ...]

#: The application's identity as a sender (not a valid site name, so no site can be it).
APP = "@app"


@attrs.define(slots=True)
class Install:
    """Install a prepared net at a site (sent once per prepared pipeline and site).

    On the wire ``net`` is the net's canonical JSON text: the site installs it under the
    SHA-256 of the text it received (which must be ``digest``), then parses it. ``text``: that
    text, when the sender has it already (the session does: it computed the digest from it);
    never a field on the wire of its own.
    """

    digest: str
    net: Any  # SiteNet; on the wire its canonical JSON text (or, from older senders, its JSON data)
    text: str | None = attrs.field(default=None, kw_only=True, metadata={"wire": False})


@attrs.define(slots=True)
class StartJob:
    """Start job ``job`` of the installed net ``digest`` at a site, over ``frames`` parameter sets.

    ``params`` holds only the parameters that site needs, one value per frame; ``open``: more
    frames may follow (:class:`MoreFrames`) until :class:`StopFrames`.
    """

    job: str
    digest: str
    frames: int  # number of parameter sets
    params: dict[str, list[Any]]  # parameter name -> value per frame (only what the site needs)
    open: bool = False  # more frames may follow (MoreFrames) until StopFrames
    window: int = 0  # homesite: results it may send before the application's first Credit (0: no limit)


@attrs.define(slots=True)
class MoreFrames:
    """More parameter sets for an open job: frames ``first .. first + count - 1``."""

    job: str
    first: int
    count: int
    params: dict[str, list[Any]]


@attrs.define(slots=True)
class StopFrames:
    """An open job gets no more frames: it has ``total`` in all and ends when they are done."""

    job: str
    total: int


@attrs.define(slots=True)
class Credit:
    """The application accepts up to ``allowed`` results of ``job`` in all (to the homesite).

    Backpressure: the homesite's streams pause while it has sent ``allowed`` results.
    """

    job: str
    allowed: int


@attrs.define(slots=True)
class Token:
    """A value sent from site to site: the input ``place`` of the receiver's net, in ``frame``."""

    job: str
    place: str
    frame: Frame
    value: Any


@attrs.define(slots=True)
class LoopCount:
    """The number of items a ForEach ``loop`` iterates over in the parent ``frame`` (sent to the sites running
    its body).
    """

    job: str
    loop: str
    frame: Frame  # the parent frame
    count: int


@attrs.define(slots=True)
class BranchTaken:
    """Which branch the If condition ``cond`` took in ``frame``: ``branch`` is True for its body, False for
    the Else.
    """

    job: str
    cond: str
    frame: Frame
    branch: bool


@attrs.define(slots=True)
class StreamEnd:
    """The stream of items at ``place`` for ``frame`` has ended after ``count`` items.

    A generator's items travel as :class:`Token` s one frame level deeper than
    ``place`` (``(*frame, k)``); the count is known only at the end.
    """

    job: str
    place: str
    frame: Frame
    count: int


@attrs.define(slots=True)
class StreamAck:
    """The receiver of a stream at ``place`` has taken ``count`` of its items for ``frame``.

    Sent back to the stream's sender, which keeps at most a window of items unacknowledged.
    """

    job: str
    place: str
    frame: Frame
    count: int


@attrs.define(slots=True)
class CancelJob:
    """Cancel ``job`` at a site: it stops running it."""

    job: str


@attrs.define(slots=True)
class Discover:
    """Discovery: advise on these calls (no net, nothing runs but the adapters' advisors).

    ``calls``: ``{"node", "operation", "provider", "known": {field: value}, "ask": [field]}``
    each, only for operations the site offers (it re-checks that against its own config).
    """

    job: str
    calls: list[Any]


# -- to the application ---------------------------------------------------------


@attrs.define(slots=True)
class Result:
    """A value the pipeline yields to the application at ``place``, in ``frame``; ``node``: the
    Yield it came from when several share the place (optional on the wire)."""

    job: str
    place: str
    frame: Frame
    value: Any
    node: str | None = None


@attrs.define(slots=True)
class JobStarted:
    """A site started a job (sent on :class:`StartJob`, before any of the job's results)."""

    job: str
    site: str


@attrs.define(slots=True)
class SiteDone:
    """A site finished its part of ``job``."""

    job: str
    site: str


@attrs.define(slots=True)
class SiteFailed:
    """A site failed ``job``; ``message`` says why (with secrets scrubbed)."""

    job: str
    site: str
    message: str


@attrs.define(slots=True)
class Advice:
    """A site's answer to :class:`Discover`: node id -> ``{"fields": {field: advice}, "error": str | None}``.

    Advice is in its JSON-compatible form (:func:`dfm.kernel.advice.advice_to_data`).
    """

    job: str
    site: str
    nodes: dict[str, Any]


@attrs.define(slots=True)
class Refused:
    """A site refused a message (forged role, unexpected sender or place, bad frame).

    Reported so the application can see an attack or a bug; the refused
    message had no effect at the site.
    """

    site: str
    sender: str
    reason: str


@attrs.define(slots=True)
class SiteLost:
    """A transport lost a site (its process exited, its connection dropped)."""

    site: str
    reason: str


SiteMessage = (
    Install
    | StartJob
    | MoreFrames
    | StopFrames
    | Credit
    | Token
    | LoopCount
    | BranchTaken
    | StreamEnd
    | StreamAck
    | CancelJob
    | Discover
)
AppMessage = Result | JobStarted | SiteDone | SiteFailed | Advice | Refused | SiteLost
CONTROL = (
    Install,
    StartJob,
    MoreFrames,
    StopFrames,
    Credit,
    CancelJob,
    Discover,
)  # from the application only

KINDS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        Install,
        StartJob,
        MoreFrames,
        StopFrames,
        Credit,
        Token,
        LoopCount,
        BranchTaken,
        StreamEnd,
        StreamAck,
        CancelJob,
        Discover,
        Result,
        JobStarted,
        SiteDone,
        SiteFailed,
        Advice,
        Refused,
        SiteLost,
    )
}


_FIELDS: dict[type[Any], tuple[str, ...]] = {
    cls: tuple(a.name for a in attrs.fields(cls) if a.metadata.get("wire", True)) for cls in KINDS.values()
}
# fields left off the wire while None (added after the first wire format; older peers omit them)
_OPTIONAL: dict[type[Any], frozenset[str]] = {Result: frozenset({"node"})}


def to_wire(msg: Any) -> dict[str, Any]:
    """A message as a JSON-compatible mapping: its fields plus ``m``, the message kind (see
    :func:`from_wire`).
    """
    data = {name: getattr(msg, name) for name in _FIELDS[type(msg)]}
    for name in _OPTIONAL.get(type(msg), ()):
        if data[name] is None:
            del data[name]
    if "frame" in data:
        data["frame"] = list(data["frame"])  # JSON-native: no tagged tuple for the codec to wrap
    data["m"] = type(msg).__name__
    return data


class BadMessage(ValueError):
    """Wire data that is not a well-formed message."""


def from_wire(data: dict[str, Any]) -> Any:
    """Rebuild a message from wire data, checking its kind, fields and frame."""
    if not isinstance(data, dict):
        raise BadMessage(f"a message must be a mapping, not {type(data).__name__}")
    cls = KINDS.get(data.pop("m", None))
    if cls is None:
        raise BadMessage("unknown message kind")
    optional = _OPTIONAL.get(cls, frozenset())
    if not set(_FIELDS[cls]) - optional <= set(data) <= set(_FIELDS[cls]):
        raise BadMessage(f"{cls.__name__} with fields {sorted(data)!r}")
    if "frame" in data:
        frame = data["frame"]
        if not isinstance(frame, list) or not all(type(i) is int and i >= 0 for i in frame):
            raise BadMessage(f"{cls.__name__} with a malformed frame")
        data["frame"] = tuple(frame)
    if data.get("node") is not None and not isinstance(data["node"], str):
        raise BadMessage(f"{cls.__name__}.node must be a string")
    for name in ("job", "place", "site", "loop", "cond", "digest"):
        if name in data and not isinstance(data[name], str):
            raise BadMessage(f"{cls.__name__}.{name} must be a string")
    return cls(**data)
