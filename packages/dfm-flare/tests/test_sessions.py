"""Applications sharing the DFM service job: each sees and controls only its own session's jobs.

These call the server's app-command handlers directly, as FLARE's admin API
would (no FLARE processes), with what a second, hostile application can send:
any token it can guess or forge, and any job id, in any frame. The same
isolation on a real deployment is in test_lifecycle.py.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("nvflare")

from nvflare.apis.fl_constant import ReturnCode

from dfm.flare.controller import DfmController
from dfm.flare.frames import item_to_json, pack, split
from dfm.flare.sessions import JobFinder, SessionTable, head_job
from dfm.kernel.codecs import SafeCodec
from dfm.runner.messages import CancelJob, Credit, Refused, Result

from .test_identity import JOB, KEYS, SITES, ctx, request, sealed

codec = SafeCodec()


class Courier:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def put(self, items: list[Any]) -> None:
        self.sent.extend(items)


@pytest.fixture
def server() -> Any:
    controller = DfmController(SITES, max_sessions=3, buffer_bytes=1 << 20, keys=KEYS["server"])
    controller._simulating = False
    controller._couriers = {site: Courier() for site in SITES}
    controller.cancelled = []  # type: ignore[attr-defined]
    controller._cancel = controller.cancelled.append  # type: ignore[method-assign]
    controller._engine_ref = object()  # so that ending a session cancels its jobs
    return controller


def attach(server: Any, **data: Any) -> dict[str, Any]:
    return server._on_attach("dfm.attach", data, None)  # type: ignore[no-any-return]


def post(
    server: Any, token: Any, site: str, *msgs: Any, seq: int = 1, chunk: int = 1 << 20
) -> dict[str, Any]:
    items = [[site, item_to_json(item)] for msg in msgs for item in split(pack(msg, codec), chunk)]
    return server._on_post("dfm.post", {"token": token, "seq": seq, "items": items}, None)  # type: ignore[no-any-return]


def fetch(server: Any, token: Any, after: int = 0) -> dict[str, Any]:
    return server._on_fetch("dfm.fetch", {"token": token, "after": after}, None)  # type: ignore[no-any-return]


def from_site(server: Any, site: str, *msgs: Any, seq: int = 1, chunk: int = 1 << 20) -> None:
    items = [bytes(i) if isinstance(i, memoryview) else i for m in msgs for i in split(pack(m, codec), chunk)]
    items = [[i[0], i[1], i[2], bytes(i[3])] if isinstance(i, list) else i for i in items]
    req = request(
        sealed(site, "server", "dfm.to_app", {"from": site, "seq": seq, "items": items}), f"{site}.{JOB}"
    )
    assert server._on_to_app("dfm.to_app", req, ctx(site)).get_return_code() == ReturnCode.OK


def test_tokens_are_unguessable_and_every_command_needs_one(server):
    first, second = attach(server)["token"], attach(server)["token"]
    assert first != second and len(first) >= 40
    for guess in (None, "", "s1", first[:-1] + ("A" if first[-1] != "A" else "B"), 42, {"token": first}):
        for command in (server._on_post, server._on_fetch, server._on_keep, server._on_stop):
            assert command("dfm.x", {"token": guess, "seq": 1, "after": 0}, None) == {
                "error": "unknown session"
            }
        if guess is not None:  # (no token at all asks for a new session)
            assert attach(server, token=guess) == {"error": "unknown session"}
    assert server._on_fetch("dfm.fetch", None, None) == {"error": "unknown session"}
    assert "error" not in fetch(server, first)


def test_a_session_cannot_control_another_sessions_job(server):
    owner, intruder = attach(server)["token"], attach(server)["token"]
    assert post(server, owner, "alpha", Credit("victim", 5))["seq"] == 1
    assert len(server._couriers["alpha"].sent) == 1
    post(server, intruder, "alpha", CancelJob("victim"), Credit("victim", 10**6))
    post(server, intruder, "beta", CancelJob("victim"), seq=2)
    assert len(server._couriers["alpha"].sent) == 1 and server._couriers["beta"].sent == []  # nothing relayed
    refused = fetch(server, intruder)["refused"]
    assert len(refused) == 3 and all("job 'victim', not this session's" in why for _, _, why in refused)
    assert fetch(server, owner)["refused"] == []  # the owner is not told about the attempt
    # the owner still controls it
    post(server, owner, "alpha", CancelJob("victim"), seq=2)
    assert len(server._couriers["alpha"].sent) == 2


def test_a_chunked_frame_about_another_sessions_job_is_refused_whole(server):
    owner, intruder = attach(server)["token"], attach(server)["token"]
    post(server, owner, "alpha", Credit("victim", 5))
    big = Refused("x", "y", "z" * 5000)  # no job: relayed in chunks
    post(server, intruder, "beta", big, chunk=1000, seq=1)
    assert len(server._couriers["beta"].sent) > 2
    server._couriers["beta"].sent.clear()
    post(server, intruder, "beta", CancelJob("victim" + " " * 0), Credit("victim", 1), chunk=8, seq=2)
    assert server._couriers["beta"].sent == []


def test_results_go_to_the_session_of_their_job_only(server):
    owner, other = attach(server)["token"], attach(server)["token"]
    post(server, owner, "home", Credit("mine", 5))
    from_site(server, "home", Result("mine", "out", (0,), 7), seq=1)
    from_site(server, "home", Result("mine", "out", (1,), "x" * 5000), seq=2, chunk=1000)
    assert [site for _, _, site in fetch(server, owner)["items"]] == ["home"] * (1 + 6)
    assert fetch(server, other)["items"] == []
    # a job nobody owns (its session ended, or a site invents one): nobody reads it
    from_site(server, "home", Result("nobody", "out", (0,), 1), seq=3)
    assert len(fetch(server, owner)["items"]) == 7 and fetch(server, other)["items"] == []
    # a site's report about no job is everyone's
    from_site(server, "alpha", Refused("alpha", "beta", "forged"), seq=1)
    assert len(fetch(server, other)["items"]) == 1


def test_ending_a_session_cancels_its_jobs_and_frees_them(server):
    owner, other = attach(server)["token"], attach(server)["token"]
    post(server, owner, "alpha", Credit("a", 1), Credit("b", 1))
    assert server._on_stop("dfm.stop", {"token": owner}, None) == {"stopped": True}
    assert server.cancelled == [["a", "b"]]
    assert fetch(server, owner) == {"error": "unknown session"}
    assert server._on_stop("dfm.stop", {"token": owner}, None) == {"error": "unknown session"}
    from_site(server, "home", Result("a", "out", (0,), 1))
    assert fetch(server, other)["items"] == []  # the ended session's results are read by nobody


def test_silent_sessions_expire_and_kept_ones_wait(server):
    gone, kept = attach(server)["token"], attach(server)["token"]
    post(server, gone, "alpha", Credit("g", 1))
    assert server._on_keep("dfm.keep", {"token": kept, "timeout": 3600}, None) == {
        "kept": True,
        "timeout": 3600,
    }
    assert server._on_keep("dfm.keep", {"token": kept, "timeout": 10**9}, None) == {"kept": False}
    for session in server._table:
        session.seen -= 120  # two minutes of silence (app_timeout is 60 s)
    server._expire_sessions()
    assert server.cancelled == [["g"]]
    assert fetch(server, gone) == {"error": "unknown session"}
    resumed = attach(server, token=kept)
    assert resumed["token"] == kept and resumed["post_seq"] == -1


def test_bounds_sessions_and_buffer(server):
    tokens = [attach(server)["token"] for _ in range(3)]
    assert attach(server) == {"error": "the DFM service has 3 sessions already; try later"}
    post(server, tokens[0], "home", Credit("j", 1))
    server.per_msg_timeout = 0.02  # backpressure waits this long / 2 before giving up on the session
    for seq in range(1, 4):
        from_site(server, "home", Result("j", "out", (seq,), b"x" * 600_000), seq=seq)
    assert fetch(server, tokens[0]) == {"error": "unknown session"}  # its buffer overflowed: dropped
    assert server.cancelled == [["j"]]
    assert "error" not in attach(server)  # its place is free again


def test_a_session_asks_for_its_own_timeout_within_bounds(server):
    assert attach(server, timeout=0) == {"error": "a session's timeout must be within (0, 2592000] s"}
    assert "error" in attach(server, timeout="soon")
    assert "token" in server._on_attach("dfm.attach", None, None)  # FLARE may pass no data at all
    token = attach(server, timeout=5)["token"]
    assert sorted(session.timeout for session in server._table) == [5, 60]  # and the one without data
    assert "error" not in fetch(server, token)


def test_a_lost_site_that_is_heard_again_is_back_for_new_sessions(server):
    server._mark_lost("alpha", "no heartbeat for 10 s")
    assert server._on_status("dfm.status", None, None)["lost"] == {"alpha": "no heartbeat for 10 s"}
    forged = request(sealed("beta", "server", "dfm.hb", {"site": "alpha"}), f"beta.{JOB}")  # only alpha can
    server._on_heartbeat("dfm.hb", forged, ctx("beta"))
    assert "alpha" in server._on_status("dfm.status", None, None)["lost"]
    server._on_heartbeat(
        "dfm.hb",
        request(sealed("alpha", "server", "dfm.hb", {"site": "alpha"}), f"alpha.{JOB}"),
        ctx("alpha"),
    )
    assert server._on_status("dfm.status", None, None)["lost"] == {}


def test_status_says_nothing_of_the_sessions(server):
    attach(server)
    assert server._on_status("dfm.status", None, None) == {"ready": {}, "lost": {}, "sessions": 1}


# -- the bookkeeping on its own -----------------------------------------------------------------------


def test_job_finder_needs_the_whole_header_before_deciding():
    frame = pack(Result("job-7", "out", (0,), "v" * 100), codec)
    finder = JobFinder()
    parts = split(frame, 8)
    decided = [finder.feed([p[0], p[1], p[2], bytes(p[3])]) for p in parts]
    first = next(i for i, d in enumerate(decided) if d)
    assert first > 0 and decided[first][0][0] == "job-7" and len(decided[first][0][1]) == first + 1
    assert all(
        d == [("job-7", [[*parts[i][:3], bytes(parts[i][3])]])] for i, d in enumerate(decided) if i > first
    )
    assert head_job(frame) == (True, "job-7")


@pytest.mark.parametrize(
    "items, error",
    [
        ([["s", 1, 3, b"x"]], "out of order"),  # a stream must start at chunk 0
        ([["s", 0, 3, b"\0\0\0\2{"], ["s", 2, 3, b"x"]], "out of order"),
        ([b"\0\0\0\x09not json!"], "not JSON"),
        ([b"\xff\xff\xff\xff"], "over the limit"),
        ([b"\0\0\0\x10{}"], "truncated"),
        ([["s", 0, 2, b"\0\0\0\x10{}"], ["s", 1, 2, b"{}"]], "truncated"),
    ],
)
def test_job_finder_refuses_what_no_honest_sender_sends(items, error):
    finder = JobFinder()
    with pytest.raises(ValueError, match=error):
        for item in items:
            finder.feed(item)


def test_table_drops_a_session_only_once_and_frees_its_jobs():
    table = SessionTable(max_sessions=2)
    _, one = table.open(60)
    _, two = table.open(60)
    assert table.claim(one, "j") and not table.claim(two, "j")
    assert table.close(one, "done") == ["j"]
    assert table.claim(two, "j")  # freed (job ids are random: a reuse is the new owner's)
