"""Entry point of a site process started by the ``process`` transport."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import Any

from dfm.kernel.codecs import CodecError, SafeCodec
from dfm.kernel.config import load_config
from dfm.runner.messages import SiteFailed
from dfm.runner.site import SiteRuntime
from dfm.runner.transports.wire import (
    HEARTBEAT,
    decode_frame,
    discard_frame,
    encode_frame,
    read_frame,
    write_frame,
)


class SiteProcess:
    def __init__(self, site: str, config: Path, directory: Path, workers: int, heartbeat: float = 1.0):
        self.site = site
        self.heartbeat_every = heartbeat
        self.federation = load_config(config)
        self.config = config
        self.dir = directory
        self.workers = workers
        self.codec = SafeCodec(allow_pickle=self.federation.allow_pickle)
        self.peers: dict[str, asyncio.StreamWriter] = {}
        self.queued: dict[str, list[Any]] = {}
        self.done = asyncio.Event()

    async def run(self) -> None:
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
        server = await asyncio.start_unix_server(self.on_connection, path=str(self.dir / f"{self.site}.sock"))
        _, self.app = await asyncio.open_unix_connection(str(self.dir / "app.sock"))
        self.app.write(f"{self.site}\n".encode())
        beating = loop.create_task(self.heartbeat())
        await self.done.wait()
        beating.cancel()
        server.close()
        self.runtime.close()

    async def on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = (await reader.readline()).decode().strip()
        try:
            while True:
                head, inline = await read_frame(reader)
                try:
                    msg = decode_frame(head, inline, self.codec)
                except (CodecError, ValueError) as exc:
                    discard_frame(head)
                    job = json.loads(head).get("m", {}).get("job")
                    if isinstance(job, str):
                        self.to_app(
                            SiteFailed(
                                job, self.site, f"site '{self.site}' refused data from '{peer}': {exc}"
                            )
                        )
                    continue
                self.runtime.handle(msg)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            if peer == "app":  # the application went away: this site's work is over
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
        write_frame(self.app, encode_frame(msg, self.codec))

    def send(self, site: str, msg: Any) -> None:
        frame = encode_frame(msg, self.codec)
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
        _, writer = await asyncio.open_unix_connection(str(self.dir / f"{site}.sock"))
        writer.write(f"{self.site}\n".encode())
        for frame in self.queued.pop(site):
            write_frame(writer, frame)
        self.peers[site] = writer


def main() -> None:
    parser = argparse.ArgumentParser(description="DFM site process (started by the process transport)")
    parser.add_argument("--site", required=True)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--heartbeat", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format=f"%(asctime)s {args.site} %(levelname)s %(message)s")
    asyncio.run(SiteProcess(args.site, args.config, args.dir, args.workers, args.heartbeat).run())


if __name__ == "__main__":
    main()
