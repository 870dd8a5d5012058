"""``process``: one long-lived OS process per site on this machine.

The session's process is the application endpoint. Every site process runs
a :class:`~dfm.runner.site.SiteRuntime` on its own event loop and listens on
a Unix socket in a private directory; sites connect to each other lazily and
to the application once. Frames are encoded with the federation's codec
(see :mod:`dfm.runner.transports.wire`): large buffers travel through
memory-mapped files, never through pickle. A site process that exits or
drops its connection is reported as lost, which fails its running jobs at
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from dfm.kernel.codecs import SafeCodec
from dfm.runner.messages import SiteLost
from dfm.runner.transports.base import Transport, TransportError
from dfm.runner.transports.wire import decode_frame, encode_frame, read_frame, write_frame


class ProcessTransport(Transport):
    name = "process"

    async def start(self) -> None:
        self.codec = SafeCodec(allow_pickle=self.federation.allow_pickle)
        self.dir = Path(tempfile.mkdtemp(prefix="dfm-proc-"))
        self.stopping = False
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.writers: dict[str, asyncio.StreamWriter] = {}
        self.hello: dict[str, asyncio.Future[None]] = {
            s: self.loop.create_future() for s in self.federation.sites
        }
        self.tasks: list[asyncio.Task[Any]] = []
        self.server = await asyncio.start_unix_server(self._on_site, path=str(self.dir / "app.sock"))
        timeout = float(self.options.get("start_timeout", 60))
        try:
            for site in self.federation.sites:
                await self._spawn(site)
            await asyncio.wait_for(asyncio.gather(*self.hello.values()), timeout)
            for site in self.federation.sites:
                _, writer = await asyncio.open_unix_connection(str(self.dir / f"{site}.sock"))
                writer.write(b"app\n")
                self.writers[site] = writer
        except (asyncio.TimeoutError, OSError, TransportError) as exc:
            logs = "; ".join(f"{s}: {self._log_tail(s)}" for s in self.federation.sites if self._log_tail(s))
            await self.stop()
            reason = str(exc) or type(exc).__name__
            raise TransportError(
                f"site processes did not start: {reason}" + (f" ({logs})" if logs else "")
            ) from None

    def _log_tail(self, site: str) -> str:
        path = self.dir / f"{site}.log"
        if not path.exists():
            return ""
        lines = path.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    async def _spawn(self, site: str) -> None:
        log = open(self.dir / f"{site}.log", "wb")  # noqa: SIM115 - handed to the child
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "dfm.runner.transports.site_main",
                "--site",
                site,
                "--config",
                str(self.config_path),
                "--dir",
                str(self.dir),
                "--workers",
                str(int(self.options.get("workers", 8))),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        self.procs[site] = proc
        self.tasks.append(self.loop.create_task(self._watch(site, proc)))

    async def _watch(self, site: str, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if not self.stopping:
            reason = f"its process exited with code {code}"
            hello = self.hello.get(site)
            if hello is not None and not hello.done():
                hello.set_exception(TransportError(f"site '{site}' process exited with code {code}"))
            self.deliver(SiteLost(site, reason))

    async def _on_site(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A site's connection to the application: hello line, then frames."""
        site = ""
        try:
            site = (await reader.readline()).decode().strip()
            if site not in self.hello or self.hello[site].done():
                writer.close()
                return
            self.hello[site].set_result(None)
            while True:
                head, inline = await read_frame(reader)
                self.deliver(decode_frame(head, inline, self.codec))
        except (asyncio.IncompleteReadError, ConnectionError):
            if site and not self.stopping:
                self.deliver(SiteLost(site, "its connection closed"))
        finally:
            writer.close()

    def send(self, site: str, msg: Any) -> None:
        writer = self.writers.get(site)
        if writer is None or writer.is_closing():
            self.loop.call_soon(self.deliver, SiteLost(site, "no connection to its process"))
            return
        write_frame(writer, encode_frame(msg, self.codec))

    async def stop(self) -> None:
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
