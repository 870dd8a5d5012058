"""Entry point of a site process started by the ``process`` transport.

The process reads its pair keys (one JSON line) from standard input, then
serves its Unix socket: every connection must open with an authenticated
hello (see :mod:`dfm.runner.transports.process`); messages are handed to the
site's runtime with the sender that hello proved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from dfm.kernel.codecs import codec_for
from dfm.kernel.config import load_config
from dfm.runner.messages import APP
from dfm.runner.site import SiteRuntime
from dfm.runner.transports.process import Layout, check_hello
from dfm.runner.transports.wire import (
    HEARTBEAT,
    FrameError,
    decode_frame,
    discard_frame,
    encode_frame,
    frame_job,
    read_frame,
    write_frame,
)

log = logging.getLogger("dfm.runner.site_main")


class SiteProcess:
    """One site's process, started by the ``process`` transport: a site runtime behind a Unix socket."""

    def __init__(
        self,
        index: int,
        config: Path,
        directory: Path,
        workers: int,
        keys: dict[str, str],
        heartbeat: float = 1.0,
    ):
        self.heartbeat_every = heartbeat
        self.federation = load_config(config)
        self.site = sorted(self.federation.sites)[index]
        self.config = config
        self.layout = Layout(directory, list(self.federation.sites))
        self.workers = workers
        self.keys = keys
        self.codec = codec_for(self.federation)
        self.peers: dict[str, asyncio.StreamWriter] = {}
        self.queued: dict[str, list[Any]] = {}
        self.done = asyncio.Event()

    async def run(self) -> None:
        """Run the site until SIGTERM, SIGINT or the application's connection closes: listen, connect to
        the application, send heartbeats.
        """
        loop = asyncio.get_running_loop()
        self.runtime = SiteRuntime(
            self.federation,
            self.site,
            self.config.parent,
            self.send,
            self.to_app,
            loop=loop,
            workers=self.workers,
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.done.set)
        server = await asyncio.start_unix_server(self.on_connection, path=str(self.layout.socket(self.site)))
        _, self.app = await asyncio.open_unix_connection(str(self.layout.socket(APP)))
        self.app.write(f"{self.site} {self.keys[APP]}\n".encode())
        beating = loop.create_task(self.heartbeat())
        await self.done.wait()
        beating.cancel()
        server.close()
        self.runtime.close()

    async def on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one incoming connection: check its hello, then hand each decoded message to the runtime
        (refusing bad frames).
        """
        peer = check_hello(await reader.readline(), self.keys)
        if peer is None:
            writer.close()
            self.runtime.refuse("?", "a connection without a valid key")
            return
        inbox = self.layout.inbox(self.site, peer)
        try:
            while True:
                head, inline = await read_frame(reader)
                try:
                    msg = decode_frame(head, inline, self.codec, inbox)
                except (ValueError, RecursionError) as exc:  # CodecError, FrameError, BadMessage, too deep
                    discard_frame(head, inbox)
                    self.runtime.refuse_frame(frame_job(head), peer, str(exc))
                    continue
                self.runtime.handle(msg, peer)
        except FrameError as exc:
            self.runtime.refuse(peer, f"{exc}; connection closed")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            if peer == APP:  # the application went away: this site's work is over
                self.done.set()

    async def heartbeat(self) -> None:
        """Tell the application this site's loop is alive, every ``heartbeat_every`` seconds.

        Sent from the site's event loop: a frozen or stopped process, or a loop blocked
        by an adapter, stops the heartbeats and the application reports the site lost.
        """
        while not self.app.is_closing():
            write_frame(self.app, [HEARTBEAT])
            await asyncio.sleep(self.heartbeat_every)

    def to_app(self, msg: Any) -> None:
        """Send ``msg`` to the application."""
        write_frame(self.app, encode_frame(msg, self.codec, self.layout.inbox(APP, self.site)))

    def send(self, site: str, msg: Any) -> None:
        """Send ``msg`` to ``site``, connecting to it on first use (messages wait until connected)."""
        frame = encode_frame(msg, self.codec, self.layout.inbox(site, self.site))
        writer = self.peers.get(site)
        if writer is not None:
            write_frame(writer, frame)
            return
        if site not in self.queued:
            self.queued[site] = [frame]
            asyncio.get_running_loop().create_task(self.connect(site))
        else:
            self.queued[site].append(frame)

    async def connect(self, site: str) -> None:
        """Connect to ``site``, say hello and write the messages queued for it."""
        _, writer = await asyncio.open_unix_connection(str(self.layout.socket(site)))
        writer.write(f"{self.site} {self.keys[site]}\n".encode())
        for frame in self.queued.pop(site):
            write_frame(writer, frame)
        self.peers[site] = writer


def main() -> None:
    """The site process's entry point: arguments on the command line, the pair keys as one JSON line on
    stdin.
    """
    parser = argparse.ArgumentParser(description="DFM site process (started by the process transport)")
    parser.add_argument("--site-index", required=True, type=int)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--heartbeat", type=float, default=1.0)
    args = parser.parse_args()
    keys = json.loads(sys.stdin.readline())
    process = SiteProcess(args.site_index, args.config, args.dir, args.workers, keys, args.heartbeat)
    logging.basicConfig(
        level=logging.WARNING, format=f"%(asctime)s site {args.site_index} %(levelname)s %(message)s"
    )
    asyncio.run(process.run())


if __name__ == "__main__":
    main()
