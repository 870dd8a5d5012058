"""Adapters of the hostile-peer suite's federation.

``Attack`` plays a compromised site: it finds its own site's runtime in its
process and sends, through the real transport and so under its site's real
identity, messages that site has no right to send.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import struct
from typing import Any

from dfm.api import AdvisedOneOf, field_advisor


class _Base:
    def __init__(self, site: Any, provider: Any):
        self.site = site
        self.provider = provider


class Echo(_Base):
    """``test.Echo``: returns its input."""

    def body(self, value: Any) -> Any:
        """``value``, unchanged."""
        return value


class Slow(_Base):
    """``test.Slow``: a slow advisor and a slow body, so that an attacker can try to answer first."""

    @field_advisor("seconds")
    async def valid_seconds(self, value: Any, context: dict[str, Any]) -> Any:
        """After a second: 0.5 or 1.0."""
        await asyncio.sleep(1.0)  # long enough for mallory to answer in home's place meanwhile
        return AdvisedOneOf([0.5, 1.0])

    async def body(self, seconds: float, value: Any) -> Any:
        """``value`` after ``seconds``."""
        await asyncio.sleep(seconds)
        return value


class Records(_Base):
    """``test.Records``: rows that are resident at their site (they must never leave it)."""

    def body(self) -> list[dict[str, Any]]:
        """Two patient rows."""
        return [{"patient": "p1", "age": 41}, {"patient": "p2", "age": 67}]


class Count(_Base):
    """``test.Count``: how many rows (an aggregate that may leave the site)."""

    def body(self, rows: list[Any]) -> int:
        """``len(rows)``."""
        return len(rows)


class Leak(_Base):
    """A careless adapter: returns its secret in a string, as bytes and in an error."""

    def body(self, token: str) -> dict[str, Any]:
        """The token in a string, as bytes and inside a repr."""
        return {"text": f"the token is {token}", "bytes": token.encode(), "nested": [repr(token)]}


def _own(kind: str, site: str) -> Any:
    for obj in gc.get_objects():
        if (
            type(obj).__name__ == kind
            and getattr(obj, "name" if kind == "SiteRuntime" else "site", None) == site
        ):
            return obj
    return None


class Attack(_Base):
    """Send what a site must not send; say what was sent ('unsupported' where there is no such path)."""

    async def body(self, kind: str, job: str = "", place: str = "", path: str = "") -> str:
        """Send the forged message named by ``kind``; return what was sent."""
        from dfm.kernel.ir.net import SiteNet
        from dfm.kernel.ir.serde import digest
        from dfm.runner import messages as m

        runtime = _own("SiteRuntime", self.site.name)
        if runtime is None:
            return "unsupported: no runtime found"
        if kind == "cancel":
            runtime.send("alice", m.CancelJob(job))
        elif kind == "install":
            net = SiteNet("alice", (), ())
            runtime.send("alice", m.Install(digest(net), net))
        elif kind == "start":
            runtime.send("alice", m.StartJob(job, "0" * 64, 1, {}))
        elif kind == "more-frames":  # open-job frames are the application's to add...
            runtime.send("alice", m.MoreFrames(job, 1, 1, {}))
        elif kind == "stop-frames":  # ...and to end
            runtime.send("alice", m.StopFrames(job, 1))
        elif kind == "credit":  # backpressure credit is the application's
            runtime.send("alice", m.Credit(job, 10**9))
        elif kind == "discover":  # discovery is the application's to ask for
            runtime.send(
                "alice",
                m.Discover(
                    job,
                    [
                        {
                            "node": "n1",
                            "operation": "test.Echo",
                            "provider": None,
                            "known": {},
                            "ask": ["value"],
                        }
                    ],
                ),
            )
        elif kind == "advice":  # advice for a discovery that did not ask mallory
            runtime.to_app(m.Advice(job, "mallory", {"n1": {"fields": {}, "error": None}}))
        elif kind == "advice-as-home":  # advice in the name of the site that was asked
            forged = {"kind": "one_of", "values": ["forged"]}
            runtime.to_app(m.Advice(job, "home", {"n1": {"fields": {"seconds": forged}, "error": None}}))
        elif kind == "stream-item":  # an item of a stream into a place alice receives from home
            runtime.send("alice", m.Token(job, place, (0, 0), "forged"))
        elif kind == "stream-end":  # the end of such a stream
            runtime.send("alice", m.StreamEnd(job, place, (0,), 0))
        elif kind == "stream-ack":  # acknowledging a stream alice does not send to mallory
            runtime.send("alice", m.StreamAck(job, place or "r:n1", (0,), 10**9))
        elif kind == "token":  # a value for a place alice receives from another site
            runtime.send("alice", m.Token(job, place, (0,), "forged"))
        elif kind == "unknown-place":
            runtime.send("alice", m.Token(job, "r:nowhere", (0,), "forged"))
        elif kind == "loop":
            runtime.send("alice", m.LoopCount(job, place or "n1", (0,), 3))
        elif kind == "result":
            runtime.to_app(m.Result(job, place or "out", (0,), "forged"))
        elif kind == "site-done":
            runtime.to_app(m.SiteDone(job, "alice"))
        elif kind == "site-failed":
            runtime.to_app(m.SiteFailed(job, "alice", "forged failure"))
        elif kind == "site-lost":
            runtime.to_app(m.SiteLost("alice", "forged"))
        elif kind == "job-started":
            runtime.to_app(m.JobStarted(job, "alice"))
        elif kind == "refused":  # a report that alice refused something home sent
            runtime.to_app(m.Refused("alice", "home", "forged report"))
        elif kind == "token-to-app":
            runtime.to_app(m.Token(job, "out", (0,), "forged"))
        elif kind == "env":  # what this site's process can see of alice's secret
            return repr(os.environ.get("HOSTILEFED_ALICE_TOKEN"))
        elif kind.startswith("raw-"):
            return await self._raw(kind, job, path)
        else:
            return f"unknown attack {kind}"
        return f"sent {kind}"

    async def _raw(self, kind: str, job: str, path: str) -> str:
        """Hand-made frames on the process transport, under this site's real key."""
        proc = _own("SiteProcess", self.site.name)
        if proc is None:
            return "unsupported: not a process-transport site"
        _, writer = await asyncio.open_unix_connection(str(proc.layout.socket("alice")))
        writer.write(f"{proc.site} {proc.keys['alice']}\n".encode())
        if kind == "raw-spill-path":  # buffers "spilled" to files the attacker names
            for name in (
                path,
                os.path.relpath(path, proc.layout.inbox("alice", proc.site)),
                "../" * 8 + path,
            ):
                header = {"m": {"m": "Token", "job": job, "place": "r:n1", "frame": [0], "value": None}}
                head = json.dumps({**header, "b": [{"n": 4, "f": name}]}).encode()
                writer.write(struct.pack("!IQ", len(head), 0) + head)
        elif kind == "raw-oversized":  # announces a 1 TiB frame
            writer.write(struct.pack("!IQ", 10, 1 << 40) + b"{}")
        elif kind == "raw-garbage":
            head = b"not json"
            writer.write(struct.pack("!IQ", len(head), 0) + head)
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        return f"sent {kind}"
