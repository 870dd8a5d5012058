"""FLARE's download service between real cells, run by test_streams.py in a process of its own.

Only a cell named ``server`` listens (FLARE's root), and cells of one process reach each
other by name through a process-wide table FLARE never empties: in the test process it
would capture the admin sessions' messages to their server. Prints one JSON object:
scenario name -> what happened.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
from typing import Any

from nvflare.apis.signal import Signal
from nvflare.fuel.f3.cellnet.cell import Cell

from dfm.flare.streams import Offers, StreamError, download, inbox, make_ref, remove_inbox

FRAME = bytes(range(256)) * 4099  # ~1 MB, not a multiple of the piece size


def listening(port: int) -> bool:
    """A LISTEN (0A) entry for ``port`` in the kernel's tables (looking does not disturb FLARE's listener)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            with open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
                        return True
    return False


def start_cells() -> dict[str, Any]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    cells = {}
    deadline = time.monotonic() + 30
    for name in ("server", "alpha", "beta"):
        cells[name] = Cell(
            fqcn=name, root_url=url, secure=False, credentials={}, create_internal_listener=False
        )
        cells[name].start()
        while name == "server" and not listening(port):  # FLARE leaks the socket of a refused connect
            assert time.monotonic() < deadline, "the root cell does not listen"
            time.sleep(0.05)
    while not all(cells[n].is_cell_connected("server") for n in ("alpha", "beta")):
        assert time.monotonic() < deadline, "cells did not connect"
        time.sleep(0.05)
    return cells


def outcome(fn: Any) -> str:
    try:
        got = fn()
    except StreamError as exc:
        return f"refused: {exc}"
    return "intact" if bytes(got) == FRAME else "corrupt"


def main() -> None:
    cells = start_cells()
    folder = inbox()

    def offer(receiver: str = "server") -> str:
        return Offers(cells["alpha"], 30, piece=64 << 10).offer(FRAME, receiver.__eq__, "a test frame")

    def pull(ref: dict[str, Any], by: str = "server", abort: Any = None) -> Any:
        return download(cells[by], "alpha", ref, folder, 5, abort=abort)

    out = {}
    digest = hashlib.sha256(FRAME).hexdigest()
    ref = make_ref(offer(), len(FRAME), "job-1", digest)
    out["download"] = outcome(lambda: pull(ref))
    out["download again"] = outcome(lambda: pull(ref))
    ref = make_ref(offer(), len(FRAME), None, digest)
    out["another receiver"] = outcome(lambda: pull(ref, by="beta"))
    out["its receiver after another"] = outcome(lambda: pull(ref))
    for declared in (len(FRAME) - 1, len(FRAME) + 1, 1):
        ref = make_ref(offer(), declared, None, digest)
        out[f"declared {declared - len(FRAME):+d}"] = outcome(lambda ref=ref: pull(ref))
    cancel = Signal()
    cancel.trigger("cancelled")
    ref = make_ref(offer(), len(FRAME), None, hashlib.sha256(b"another frame").hexdigest())
    out["other digest"] = outcome(lambda: pull(ref))  # e.g. pieces injected under a replayed origin
    ref = make_ref(offer(), len(FRAME), None, digest)
    out["cancelled"] = outcome(lambda: pull(ref, abort=cancel))
    out["files left"] = str(len(os.listdir(folder)))
    remove_inbox(folder)
    for cell in cells.values():
        cell.stop()
    json.dump(out, sys.stdout)
    sys.stdout.flush()
    os._exit(0)  # FLARE's cell threads do not all end on stop


if __name__ == "__main__":
    main()
