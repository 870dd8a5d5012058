"""Large frames as FLARE downloads (dfm.flare.streams): references, offers, receivers' files.

The component tests call the pieces FLARE calls (an offered frame's ``produce``, a
download consumer) with what a hostile peer controls: the reference it sends, the
pieces it serves and, for a requester, nothing but FLARE's authenticated ORIGIN.
The ``flare`` tests move 100 MB arrays on a real provisioned deployment.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dfm.flare.frames import (
    FrameError,
    Reassembler,
    item_from_json,
    item_size,
    item_to_json,
    item_to_wire,
    pack,
    split,
)
from dfm.flare.streams import MAX_STREAM_BYTES, StreamError, check_ref, inbox, make_ref, remove_inbox
from dfm.kernel.codecs import SafeCodec
from dfm.runner.messages import Token

REF = "R" + "0123abcd-0000-4000-8000-0123456789ab"
DIGEST = "0" * 64  # what a reference says the frame hashes to
codec = SafeCodec()


def test_a_reference_round_trips_through_the_application_json():
    ref = make_ref(REF, 100 << 20, "job-1", DIGEST)
    assert item_from_json(item_to_json(ref)) == ref
    assert check_ref(ref) == (REF, 100 << 20, "job-1")
    assert ref["h"] == DIGEST
    assert item_size(ref) < 1024  # a reference costs a batch next to nothing


@pytest.mark.parametrize(
    "ref",
    [
        {"s": "../../etc/passwd", "n": 10, "job": None, "h": DIGEST},  # path-like ids are refused
        {"s": "/tmp/x", "n": 10, "job": None, "h": DIGEST},
        {"s": REF + "/..", "n": 10, "job": None, "h": DIGEST},
        {"s": REF, "n": 0, "job": None, "h": DIGEST},
        {"s": REF, "n": -1, "job": None, "h": DIGEST},
        {"s": REF, "n": True, "job": None, "h": DIGEST},
        {"s": REF, "n": MAX_STREAM_BYTES + 1, "job": None, "h": DIGEST},  # oversized
        {"s": REF, "n": 10.0, "job": None, "h": DIGEST},
        {"s": REF, "n": 10, "job": "j" * 1000, "h": DIGEST},
        {"s": REF, "n": 10, "job": None, "h": DIGEST, "path": "/etc/passwd"},  # no other fields
        {"s": REF, "n": 10},
        {"s": REF, "n": 10, "job": None},  # no digest
        {"s": REF, "n": 10, "job": None, "h": "A" * 64},
        {"s": REF, "n": 10, "job": None, "h": "0" * 63},
        {"s": REF, "n": 10, "job": None, "h": 0},
        {"s": 1, "n": 10, "job": None, "h": DIGEST},
    ],
)
def test_malformed_references_are_refused(ref):
    with pytest.raises(StreamError):
        check_ref(ref)
    with pytest.raises(FrameError):
        item_from_json(ref)
    with pytest.raises(FrameError):
        item_to_json(ref)  # the server refuses to buffer it for the application


def test_a_reference_is_not_a_chunk():
    with pytest.raises(FrameError):
        Reassembler().feed(make_ref(REF, 10, None, DIGEST))


def test_inbox_is_private_and_files_have_no_name():
    from dfm.flare.streams import _private_file

    folder = inbox()
    try:
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        fd = _private_file(folder)
        try:
            os.write(fd, b"x")
            assert os.listdir(folder) == []  # unlinked at once: nothing to find, nothing left behind
        finally:
            os.close(fd)
    finally:
        remove_inbox(folder)
    assert not Path(folder).exists()


# -- the sender's offer: served only to its receiver ---------------------------------------------


def offered(frame: bytes, receiver: str, piece: int = 4):
    pytest.importorskip("nvflare")
    from dfm.flare.streams import _offered_class

    done = []
    return _offered_class()(frame, receiver.__eq__, piece, "a test frame", lambda: done.append(1)), done


def test_an_offer_is_served_in_pieces_to_its_receiver_only():
    from nvflare.fuel.f3.streaming.download_service import DownloadStatus, ProduceRC

    obj, done = offered(b"0123456789", "beta.job-1")
    assert obj.produce({}, "alpha.job-1")[0] == ProduceRC.ERROR  # another site's job cell
    assert obj.produce({}, "beta.other-job")[0] == ProduceRC.ERROR  # the receiver's other FLARE job
    assert obj.produce({}, "_admin_x")[0] == ProduceRC.ERROR  # an admin session
    got, state = b"", {}
    while True:
        rc, data, state = obj.produce(state, "beta.job-1")
        if rc == ProduceRC.EOF:
            break
        assert rc == ProduceRC.OK and len(data) <= 4
        got += data
    assert got == b"0123456789"
    obj.downloaded_to_one("alpha.job-1", DownloadStatus.FAILED)  # not its receiver: still offered
    assert obj.view is not None
    obj.downloaded_to_one("beta.job-1", DownloadStatus.SUCCESS)
    assert obj.view is None  # freed once its receiver has it
    wait_for(lambda: done == [1])  # and its transaction deleted


@pytest.mark.parametrize("state", [{"at": -1}, {"at": 11}, {"at": "0"}, {"at": 1.5}, {"at": True}])
def test_an_offer_refuses_states_outside_the_frame(state):
    from nvflare.fuel.f3.streaming.download_service import ProduceRC

    obj, _ = offered(b"0123456789", "beta.job-1")
    assert obj.produce(state, "beta.job-1")[0] == ProduceRC.ERROR


def test_admin_requesters_are_admin_cells_only():
    pytest.importorskip("nvflare")
    from nvflare.fuel.utils.admin_name_utils import is_valid_admin_client_name, new_admin_client_name

    from dfm.flare.executor import _admin

    allowed = _admin(is_valid_admin_client_name)
    assert allowed(new_admin_client_name())
    for forged in ("alpha.job-1", "server.job-1", "server", "_admin_", f"alpha.{new_admin_client_name()}"):
        assert not allowed(forged)


# -- the receiver's file: bounded by the declared size -------------------------------------------


def consumer(size: int):
    pytest.importorskip("nvflare")
    from dfm.flare.streams import _file_consumer, _private_file

    folder = inbox()
    fd = _private_file(folder)
    return _file_consumer(fd, size), fd, folder


def test_a_stream_longer_than_announced_is_refused():
    c, fd, folder = consumer(8)
    try:
        c.consume("r", {}, b"12345")
        with pytest.raises(StreamError, match="longer"):
            c.consume("r", {}, b"6789")
        with pytest.raises(StreamError):
            c.consume("r", {}, ["not", "bytes"])
        assert os.fstat(fd).st_size == 5
    finally:
        os.close(fd)
        remove_inbox(folder)


# -- FLARE's download service between real cells (plain TCP on loopback, in a process of their own) --


@pytest.fixture(scope="module")
def cell_scenarios() -> dict[str, str]:
    """What happened in each scenario of ``stream_cells.py`` (see there why it runs apart)."""
    pytest.importorskip("nvflare")
    import json
    import subprocess
    import sys

    script = Path(__file__).with_name("stream_cells.py")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_a_frame_is_downloaded_once_from_its_sender(cell_scenarios):
    assert cell_scenarios["download"] == "intact"
    assert cell_scenarios["download again"].startswith("refused")  # then the offer is withdrawn


def test_a_frame_offered_to_another_receiver_is_refused(cell_scenarios):
    assert cell_scenarios["another receiver"].startswith("refused")
    assert cell_scenarios["its receiver after another"] == "intact"  # still there for its receiver


@pytest.mark.parametrize("declared", ["-1", "+1", "-1049343"])
def test_a_stream_that_lies_about_its_size_fails(cell_scenarios, declared):
    assert cell_scenarios[f"declared {declared}"].startswith("refused")


def test_a_stream_whose_bytes_do_not_hash_to_its_reference_fails(cell_scenarios):
    assert cell_scenarios["other digest"].startswith("refused")
    assert "do not match the reference's digest" in cell_scenarios["other digest"]


def test_a_cancelled_download_fails_and_nothing_is_left(cell_scenarios):
    assert cell_scenarios["cancelled"].startswith("refused")
    assert cell_scenarios["files left"] == "0"


# -- a site's executor: references from whom, and in order ------------------------------------------

JOB = "job-1"


class Runtime:
    """Records what the executor hands the site's runtime (the real one runs inside FLARE)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.vault = SimpleNamespace(scrub=lambda text: text)

    def handle(self, msg: Any, sender: str) -> None:
        self.calls.append(("handle", msg, sender))

    def refuse_frame(self, job: Any, sender: str, reason: str) -> None:
        self.calls.append(("refuse_frame", job, sender))


@pytest.fixture
def folder():
    made = inbox()
    yield made
    assert os.listdir(made) == []  # whatever happened, no file is left
    remove_inbox(made)


@pytest.fixture
def beta(folder):
    from nvflare.fuel.f3.cellnet.cell import Cell

    from dfm.flare.executor import DfmExecutor

    from .test_identity import KEYS

    # a cell connected to nothing (a closed port): every download from it fails
    cell = Cell(
        fqcn=f"dfmtest{os.urandom(4).hex()}",
        root_url="tcp://127.0.0.1:9",
        secure=False,
        credentials={},
        create_internal_listener=False,
    )

    executor = DfmExecutor(
        "beta", {"alpha": "alpha", "beta": "beta", "home": "home"}, per_msg_timeout=2, keys=KEYS["beta"]
    )
    executor._runtime = Runtime()
    executor._loop = SimpleNamespace(call_soon_threadsafe=lambda fn, *args: fn(*args))
    executor._codec = codec
    executor._engine_ref = SimpleNamespace(get_cell=lambda: cell)
    executor._job_id = JOB
    executor._inbox = folder
    executor._offers = object()  # this site takes streams
    executor.to_app = []
    executor._to_app = executor.to_app.append
    return executor


def deliver(executor: Any, origin: str, claimed: str, items: list[Any], seq: int = 1) -> Any:
    from nvflare.apis.fl_constant import ReservedKey
    from nvflare.apis.fl_context import FLContext
    from nvflare.apis.shareable import Shareable

    from dfm.flare.identity import ORIGIN_KEY

    from .test_identity import sealed  # the keys and seals the other handler tests use

    request = Shareable()
    sender = origin.split(".")[0]  # sealed by the origin's own process, with the key it holds
    request["dfm"] = sealed(sender, "beta", "dfm.deliver", {"from": claimed, "seq": seq, "items": items})
    request.set_header(ORIGIN_KEY, origin)
    fl_ctx, peer = FLContext(), FLContext()
    fl_ctx.set_prop(ReservedKey.RUN_NUM, JOB, private=False)
    peer.set_prop(ReservedKey.IDENTITY_NAME, origin.split(".")[0], private=False)
    fl_ctx.set_peer_context(peer)
    return executor._on_deliver("dfm.deliver", request, fl_ctx)


def wait_for(predicate: Any) -> None:
    import time

    deadline = time.monotonic() + 60  # a bound on a hang, not a timing assertion
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_reference_with_a_forged_sender_is_refused_before_any_download(beta):
    ref = make_ref(REF, 10, "victim", DIGEST)
    assert deliver(beta, f"alpha.{JOB}", "home", [ref]).get_return_code() == "DFM_REFUSED"
    assert deliver(beta, "alpha.other-job", "alpha", [ref]).get_return_code() == "DFM_REFUSED"
    assert beta._runtime.calls == []


def test_the_application_does_not_stream(beta):
    deliver(beta, f"server.{JOB}", "server", [make_ref(REF, 10, "victim", DIGEST)])
    wait_for(lambda: beta.to_app)
    assert beta._runtime.calls == [] and "do not stream" in beta.to_app[0].reason


def test_a_path_like_reference_is_refused_and_later_messages_still_arrive(beta):
    token = Token("j", "p", (0,), 1)
    bad = {"s": "../../../etc/passwd", "n": 10, "job": "victim", "h": DIGEST}
    deliver(beta, f"alpha.{JOB}", "alpha", [bad, *[item_to_wire(i) for i in split(pack(token, codec))]])
    wait_for(lambda: beta._runtime.calls)
    assert beta._runtime.calls == [("handle", token, "alpha")]
    assert "malformed" in beta.to_app[0].reason


def test_a_failed_download_fails_the_claimed_job_for_its_real_sender_in_order(beta):
    token = Token("j", "p", (0,), 1)
    items = [make_ref(REF, 10, "victim", DIGEST), *[item_to_wire(i) for i in split(pack(token, codec))]]
    # there is no cell "alpha.job-1" here: the download fails; the token waits for it
    deliver(beta, f"alpha.{JOB}", "alpha", items)
    wait_for(lambda: len(beta._runtime.calls) == 2)
    assert beta._runtime.calls == [("refuse_frame", "victim", "alpha"), ("handle", token, "alpha")]


# -- a real deployment -----------------------------------------------------------------------------

N = 100 * (1 << 20) // 8  # 100 MiB of float64


def shm_inboxes() -> list[Path]:
    from dfm.runner.transports.wire import shm_root

    return list(Path(shm_root()).glob("dfm-flare-in-*"))


@pytest.fixture(scope="module")
def session(mathfed_deployment: Any) -> Any:
    """A session of this module's own: earlier tests may have stopped or killed the shared one's job."""
    from dfm.api import load_federation
    from dfm.runner import Session
    from dfm.runner.testing import MATHFED

    options = {"workspace": str(mathfed_deployment.workspace)}
    with Session(load_federation(MATHFED), target="flare", options=options) as s:
        yield s


@pytest.mark.flare
def test_100mb_array_site_to_application_intact(session, mathfed):
    np = pytest.importorskip("numpy")
    from dfm.api import Pipeline, PlaceParam, Yield

    with Pipeline() as p:
        Yield(mathfed.api.math.Array(n=PlaceParam("n")), place="array")
    job = session.execute(session.prepare(p), {"n": N})
    (result,) = list(job.results(timeout=300))
    expected = hashlib.sha256(np.arange(N, dtype=np.float64).tobytes()).hexdigest()
    assert hashlib.sha256(result.value.tobytes()).hexdigest() == expected
    assert all(not any(folder.iterdir()) for folder in shm_inboxes())  # no file left


@pytest.mark.flare
def test_100mb_array_site_to_site_intact(session, mathfed):
    from dfm.api import Pipeline, PlaceParam, Yield

    with Pipeline() as p:  # alpha makes the array, beta sums it: exact for these integers
        Yield(
            mathfed.api.math.Sum(values=mathfed.api.math.Array(n=PlaceParam("n")), site="beta"), place="sum"
        )
    job = session.execute(session.prepare(p), {"n": N})
    (result,) = list(job.results(timeout=300))
    assert result.value == N * (N - 1) / 2
    assert all(not any(folder.iterdir()) for folder in shm_inboxes())
