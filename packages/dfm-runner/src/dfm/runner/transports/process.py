"""``process``: one long-lived OS process per site on this machine.

The session's process is the application endpoint. Every site process runs
a :class:`~dfm.runner.site.SiteRuntime` on its own event loop and listens on
a Unix socket in the session's private folder; sites connect to each other
lazily and to the application once. Frames are encoded with the federation's
codec (see :mod:`dfm.runner.transports.wire`): large buffers travel through
memory-mapped files in the receiver's inbox, never through pickle. A site
process that exits or drops its connection is reported as lost, which fails
its running jobs at once.

Who is who: every connection opens with ``<name> <token>``, where the token
is the pair key of the two ends (an HMAC of the session's random master key,
given to each site process on its standard input, never in its arguments or
environment). A site knows only the keys of the pairs it is part of, so it
cannot pass for the application or for another site. File names in the
private folder come from each site's position in the federation, never from
the site's name. Each site process gets the environment without the other
sites' secret variables.

Liveness: every site process sends a heartbeat frame to the application every
``heartbeat`` seconds (option, default 1) from its event loop. A site from
which nothing arrived for ``lost_after`` seconds (option, default 10) -- a
stopped (SIGSTOP), frozen or hopelessly overloaded process -- is reported
lost too, and jobs started on it while it stays silent fail at once. If its
heartbeats come back it is used again (the jobs that failed stay failed and
were cancelled there).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from dfm.kernel.codecs import codec_for
from dfm.runner.spi import (
    APP,
    FrameError,
    Refused,
    SiteFailed,
    SiteLost,
    StartJob,
    Transport,
    TransportError,
    decode_frame,
    encode_frame,
)
from dfm.runner.transports.wire import (
    discard_frame,
    frame_job,
    is_heartbeat,
    read_frame,
    shm_root,
    write_frame,
)
from dfm.runner.vault import site_environment

log = logging.getLogger("dfm.runner.process")


class Layout:
    """Paths in a session's private folder, derived from site positions (never from names)."""

    def __init__(self, root: Path, sites: list[str] | tuple[str, ...]):
        self.root = root
        self.slots = {site: f"s{i}" for i, site in enumerate(sorted(sites))}
        self.slots[APP] = "app"
        self._inboxes: dict[tuple[str, str], Path] = {}

    def socket(self, who: str) -> Path:
        """The Unix socket ``who`` (a site, or the application) listens on."""
        return self.root / f"{self.slots[who]}.sock"

    def log(self, site: str) -> Path:
        """The log file of ``site``'s process."""
        return self.root / f"{self.slots[site]}.log"

    def inbox(self, receiver: str, sender: str) -> Path:
        """Where ``sender`` spills large buffers for ``receiver`` (created on first use).

        Called for every frame sent: the folder is made once, then remembered.
        """
        key = (receiver, sender)
        path = self._inboxes.get(key)
        if path is None:
            path = self.root / "inbox" / self.slots[receiver] / self.slots[sender]
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._inboxes[key] = path
        return path


def pair_key(master: bytes, a: str, b: str) -> str:
    """The token two ends present to each other: only they (and the application) know it."""
    low, high = sorted((a, b))
    return hmac.new(master, f"{low}\0{high}".encode(), hashlib.sha256).hexdigest()


def check_hello(line: bytes, keys: dict[str, str]) -> str | None:
    """The authenticated name of a connection's hello line ``<name> <token>``, or None."""
    name, _, token = line.decode("utf-8", "replace").strip().partition(" ")
    expected = keys.get(name)
    if expected is None or not hmac.compare_digest(token.encode(), expected.encode()):
        return None
    return name


class ProcessTransport(Transport):
    """The ``process`` transport: one OS process per site on this machine (see the module docstring)."""

    name = "process"

    async def start(self) -> None:
        """Spawn a process per site and connect to each; raises ``TransportError`` (with the sites' last
        log lines) if they do not start in ``start_timeout`` seconds.
        """
        self._liveness_options()
        self.codec = codec_for(self.federation)
        self.dir = Path(tempfile.mkdtemp(prefix="dfm-proc-", dir=shm_root()))
        self.layout = Layout(self.dir, list(self.federation.sites))
        self.master = secrets.token_bytes(32)
        self.app_keys = {site: pair_key(self.master, site, APP) for site in self.federation.sites}
        self.stopping = False
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.writers: dict[str, asyncio.StreamWriter] = {}
        self.hello: dict[str, asyncio.Future[None]] = {
            s: self.loop.create_future() for s in self.federation.sites
        }
        self.tasks: list[asyncio.Task[Any]] = []
        self.server = await asyncio.start_unix_server(self._on_site, path=str(self.layout.socket(APP)))
        timeout = float(self.options.get("start_timeout", 60))
        try:
            for site in self.federation.sites:
                await self._spawn(site)
            await asyncio.wait_for(asyncio.gather(*self.hello.values()), timeout)
            for site in self.federation.sites:
                _, writer = await asyncio.open_unix_connection(str(self.layout.socket(site)))
                writer.write(f"{APP} {self.app_keys[site]}\n".encode())
                self.writers[site] = writer
            self.tasks.append(self.loop.create_task(self._watchdog()))
        except (asyncio.TimeoutError, OSError, TransportError) as exc:
            logs = "; ".join(f"{s}: {self._log_tail(s)}" for s in self.federation.sites if self._log_tail(s))
            await self.stop()
            reason = str(exc) or type(exc).__name__
            raise TransportError(
                f"site processes did not start: {reason}" + (f" ({logs})" if logs else "")
            ) from None

    def _log_tail(self, site: str) -> str:
        path = self.layout.log(site)
        if not path.exists():
            return ""
        lines = path.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    async def _spawn(self, site: str) -> None:
        log = open(self.layout.log(site), "wb")  # noqa: SIM115 - handed to the child
        keys = {
            peer: pair_key(self.master, site, peer) for peer in [*self.federation.sites, APP] if peer != site
        }
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "dfm.runner.transports.site_main",
                "--site-index",
                str(sorted(self.federation.sites).index(site)),
                "--config",
                str(self.config_path),
                "--dir",
                str(self.dir),
                "--workers",
                str(int(self.options.get("workers", 8))),
                "--heartbeat",
                repr(self.heartbeat),
                stdin=asyncio.subprocess.PIPE,
                stdout=log,
                stderr=log,
                env=site_environment(self.federation, site, os.environ),
                start_new_session=True,
            )
        finally:
            log.close()
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(keys).encode() + b"\n")  # the site's pair keys, never in argv/env
        proc.stdin.close()
        self.procs[site] = proc
        self.tasks.append(self.loop.create_task(self._watch(site, proc)))

    async def _watch(self, site: str, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if not self.stopping:
            reason = f"its process exited with code {code}"
            hello = self.hello.get(site)
            if hello is not None and not hello.done():
                hello.set_exception(TransportError(f"site '{site}' process exited with code {code}"))
            self.deliver(SiteLost(site, reason), APP)

    async def _on_site(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A site's connection to the application: authenticated hello, then frames."""
        site: str | None = None
        try:
            site = check_hello(await reader.readline(), self.app_keys)
            if site is None or self.hello[site].done():
                self.deliver(Refused(APP, "?", "a connection without a valid site key"), APP)
                site = None
                return
            self.hello[site].set_result(None)
            inbox = self.layout.inbox(APP, site)
            self.last_seen[site] = self.loop.time()
            while True:
                head, inline = await read_frame(reader)
                if self._alive(site, head):
                    continue
                try:
                    msg = decode_frame(head, inline, self.codec, inbox)
                except (ValueError, RecursionError) as exc:  # CodecError, FrameError, BadMessage, too deep
                    discard_frame(head, inbox)
                    job = frame_job(head)
                    if isinstance(job, str):
                        self.deliver(
                            SiteFailed(job, site, f"the application refused data from '{site}': {exc}"), site
                        )
                    else:
                        self.deliver(Refused(APP, site, f"undecodable frame: {exc}"), APP)
                    continue
                self.deliver(msg, site)
        except FrameError as exc:
            if site is not None:
                self.deliver(Refused(APP, site, f"{exc}; connection closed"), APP)
                self.deliver(SiteLost(site, f"it broke the framing rules ({exc})"), APP)
        except (asyncio.IncompleteReadError, ConnectionError):
            if site is not None and not self.stopping:
                self.deliver(SiteLost(site, "its connection closed"), APP)
        finally:
            writer.close()

    def send(self, site: str, msg: Any) -> None:
        """Write ``msg`` to ``site``'s connection; with no connection, report the site lost."""
        writer = self.writers.get(site)
        if writer is None or writer.is_closing():
            self.loop.call_soon(self.deliver, SiteLost(site, "no connection to its process"), APP)
            return
        write_frame(writer, encode_frame(msg, self.codec, self.layout.inbox(site, APP)))
        silent = self.silent.get(site)
        if silent is not None and isinstance(msg, StartJob):
            self.loop.call_soon(self.deliver, SiteLost(site, silent), APP)

    # -- liveness ------------------------------------------------------------------------------

    def _liveness_options(self) -> None:
        try:
            self.heartbeat = float(self.options.get("heartbeat", 1.0))
            self.lost_after = float(self.options.get("lost_after", 10.0))
        except (TypeError, ValueError):
            raise TransportError("options 'heartbeat' and 'lost_after' must be numbers of seconds") from None
        if not 0 < self.heartbeat < self.lost_after < float("inf"):
            raise TransportError(
                f"options need 0 < heartbeat < lost_after, got heartbeat={self.heartbeat:g}, "
                f"lost_after={self.lost_after:g}"
            )
        self.last_seen: dict[str, float] = {}  # site -> loop time its last frame arrived
        self.silent: dict[str, str] = {}  # sites reported lost for their silence -> why

    def _alive(self, site: str, head: bytes) -> bool:
        """Note that ``site`` is alive; True if ``head`` is a heartbeat (nothing to deliver)."""
        self.last_seen[site] = self.loop.time()
        if self.silent.pop(site, None) is not None:
            log.warning("site '%s' sends heartbeats again; it is used again", site)
        return is_heartbeat(head)

    async def _watchdog(self) -> None:
        """Report a site lost when nothing, not even a heartbeat, arrived from it for ``lost_after`` s."""
        every = min(self.heartbeat, self.lost_after / 4)
        last = self.loop.time()
        while not self.stopping:
            await asyncio.sleep(every)
            now = self.loop.time()
            if now - last > every + self.lost_after / 2:
                # This loop itself stalled: heartbeats may be waiting unread; give every site time.
                for site in self.last_seen:
                    self.last_seen[site] = now
            last = now
            for site, seen in self.last_seen.items():
                proc = self.procs.get(site)
                if (
                    site in self.silent
                    or now - seen <= self.lost_after
                    or proc is None
                    or proc.returncode is not None  # exited: _watch reports it
                ):
                    continue
                reason = f"no heartbeat for {self.lost_after:g} s (its process is stopped, frozen or busy)"
                self.silent[site] = reason
                log.warning("site '%s' lost: %s", site, reason)
                self.deliver(SiteLost(site, reason), APP)

    async def stop(self) -> None:
        """Close the connections and stop every site process (SIGTERM, then SIGKILL after 5 seconds)."""
        self.stopping = True
        for writer in self.writers.values():
            writer.close()
        self.server.close()
        for proc in self.procs.values():
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        for task in self.tasks:
            task.cancel()
        shutil.rmtree(self.dir, ignore_errors=True)
