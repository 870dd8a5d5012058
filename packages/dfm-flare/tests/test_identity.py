"""Who sent a message, as FLARE authenticates it: the cell ORIGIN, never a payload field.

These call the FLARE handlers directly with crafted ``FLContext``/``Shareable``
objects (no FLARE processes): what a hostile site's job process can put in a
message is exactly its payload, its ``__peer_props__`` and any header name it
guesses, and the tests forge each. That the real deployment fills the stamp
from FLARE's authenticated ORIGIN is covered by every ``flare`` test (a site
whose messages carried no stamp would never be ready).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("nvflare")

from nvflare.apis.fl_constant import ReservedKey, ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable

from dfm.flare.controller import DfmController
from dfm.flare.executor import DfmExecutor
from dfm.flare.frames import item_to_wire, pack, split
from dfm.flare.identity import ORIGIN_KEY, flare_sender, stamp_origins
from dfm.flare.seals import SEAL, Seals, pair_keys
from dfm.flare.topics import RC_REFUSED
from dfm.kernel.codecs import SafeCodec
from dfm.runner.messages import APP, CancelJob, Refused, Token

JOB = "job-1"
SITES = {"home": "home", "alpha": "alpha", "beta": "beta"}
KEYS = pair_keys(["server", *SITES.values()])  # as export_service_job draws them
codec = SafeCodec()


def sealed(sender: str, receiver: str, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` as ``sender`` seals it for ``receiver`` with the key of their pair."""
    return Seals(sender, KEYS[sender]).seal(receiver, topic, payload)


def ctx(peer: str | None = None, job: str = JOB) -> FLContext:
    fl_ctx = FLContext()
    fl_ctx.set_prop(ReservedKey.RUN_NUM, job, private=False)
    if peer is not None:
        peer_ctx = FLContext()
        peer_ctx.set_prop(ReservedKey.IDENTITY_NAME, peer, private=False)
        fl_ctx.set_peer_context(peer_ctx)
    return fl_ctx


def request(payload: dict[str, Any], origin: str | None) -> Shareable:
    req = Shareable()
    req["dfm"] = payload
    if origin is not None:
        req.set_header(ORIGIN_KEY, origin)
    return req


def test_sender_is_the_stamped_origin_of_this_job():
    clients = set(SITES.values())
    assert flare_sender(request({}, f"alpha.{JOB}"), ctx("alpha"), clients, simulating=False) == "alpha"
    assert flare_sender(request({}, f"server.{JOB}"), ctx("mathfed"), clients, simulating=False) == "server"
    # relayed through a hierarchy: the client is the cell above the job cell
    assert flare_sender(request({}, f"relay.alpha.{JOB}"), ctx("alpha"), clients, simulating=False) == "alpha"


@pytest.mark.parametrize(
    "origin, peer",
    [
        (None, "alpha"),  # no stamp: the peer context alone is the sender's say-so
        (f"alpha.{JOB}", "server"),  # peer props claiming another identity than the origin
        (f"alpha.{JOB}", "beta"),
        ("alpha.other-job", "alpha"),  # another FLARE job of that site
        ("alpha", "alpha"),  # a parent process, not this job
    ],
)
def test_forged_or_foreign_senders_are_unknown(origin, peer):
    assert flare_sender(request({}, origin), ctx(peer), set(SITES.values()), simulating=False) is None


def test_a_sender_cannot_preset_the_stamp():
    forged = request({"from": "server"}, None)
    forged.set_header("__dfm_origin__", f"server.{JOB}")  # a guess at the header name
    assert ORIGIN_KEY != "__dfm_origin__"
    assert flare_sender(forged, ctx("alpha"), set(SITES.values()), simulating=False) is None


def test_stamp_overwrites_whatever_the_sender_put_there():
    from nvflare.fuel.f3.cellnet.defs import CellChannel, MessageHeaderKey
    from nvflare.fuel.f3.cellnet.registry import Callback, Registry
    from nvflare.fuel.f3.message import Message

    seen: list[Any] = []
    registry = Registry()
    registry.set(CellChannel.AUX_COMMUNICATION, "*", Callback(lambda m: seen.append(m) or "reply", (), {}))

    class Cell:
        core_cell = SimpleNamespace(req_reg=registry)

        def register_request_cb(self, channel: str, topic: str, cb: Any) -> None:
            registry.set(channel, topic, Callback(cb, (), {}))

    engine = SimpleNamespace(get_cell=lambda: Cell())
    assert stamp_origins(engine, ["dfm.deliver"])
    payload = request({"from": "server"}, f"server.{JOB}")  # preset by a sender that knew the name
    message = Message(headers={MessageHeaderKey.ORIGIN: f"alpha.{JOB}"}, payload=payload)
    wrapped = registry.find(CellChannel.AUX_COMMUNICATION, "dfm.deliver")
    assert wrapped.cb(message) == "reply" and seen == [message]
    assert payload.get_header(ORIGIN_KEY) == f"alpha.{JOB}"
    assert registry.find(CellChannel.AUX_COMMUNICATION, "other").cb is not wrapped.cb


# -- the site's handler ------------------------------------------------------------------------


class FakeRuntime:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str]] = []
        self.vault = SimpleNamespace(scrub=lambda text: text)

    def handle(self, msg: Any, sender: str) -> None:
        self.calls.append(("handle", msg, sender))

    def refuse_frame(self, job: Any, sender: str, reason: str) -> None:
        self.calls.append(("refuse_frame", job, sender))


@pytest.fixture
def beta() -> Any:
    executor = DfmExecutor("beta", SITES, keys=KEYS["beta"])
    executor._runtime = FakeRuntime()
    executor._loop = SimpleNamespace(call_soon_threadsafe=lambda fn, *args: fn(*args))
    executor._codec = codec
    executor.to_app = []  # type: ignore[attr-defined]
    executor._to_app = executor.to_app.append  # type: ignore[method-assign]
    return executor


def frames(*msgs: Any) -> list[Any]:
    return [item_to_wire(i) for msg in msgs for i in split(pack(msg, codec))]


def deliver(
    executor: Any,
    origin: str | None,
    claimed: str,
    items: list[Any],
    peer: str,
    seq: int = 1,
    sealer: str | None = None,
) -> Any:
    """A delivery to beta from ``origin``, sealed by ``sealer`` (default: the origin's own process)."""
    payload = {"from": claimed, "seq": seq, "items": items}
    sealer = sealer or (origin.split(".")[0] if origin else None)
    if sealer is not None:
        payload = sealed(sealer, "beta", "dfm.deliver", payload)
    return executor._on_deliver("dfm.deliver", request(payload, origin), ctx(peer))


def test_application_messages_come_from_the_server_only(beta):
    reply = deliver(beta, f"server.{JOB}", "server", frames(CancelJob("j")), peer="mathfed")
    assert reply.get_return_code() == ReturnCode.OK
    assert beta._runtime.calls == [("handle", CancelJob("j"), APP)]


def test_a_site_gets_its_own_name_whatever_it_claims(beta):
    token = Token("j", "p", (0,), 1)
    assert deliver(
        beta, f"alpha.{JOB}", "alpha", frames(token, CancelJob("j")), peer="alpha"
    ).get_return_code() == (ReturnCode.OK)
    # the runtime is told "alpha", so it refuses CancelJob (not the application's) itself
    assert beta._runtime.calls == [("handle", token, "alpha"), ("handle", CancelJob("j"), "alpha")]


@pytest.mark.parametrize("claimed", ["server", "home", "beta"])
def test_forged_from_is_refused_and_reported(beta, claimed):
    reply = deliver(beta, f"alpha.{JOB}", claimed, frames(CancelJob("victim")), peer="alpha")
    assert reply.get_return_code() == RC_REFUSED
    assert beta._runtime.calls == []
    (refused,) = beta.to_app
    assert isinstance(refused, Refused) and refused.site == "beta" and refused.sender == "alpha"
    assert f"claiming to come from '{claimed}'" in refused.reason


def test_unstamped_or_forged_peer_is_refused(beta):
    assert (
        deliver(beta, None, "server", frames(CancelJob("j")), peer="server").get_return_code() == RC_REFUSED
    )
    assert deliver(
        beta, f"alpha.{JOB}", "server", frames(CancelJob("j")), peer="server"
    ).get_return_code() == (RC_REFUSED)
    assert beta._runtime.calls == []


def test_undecodable_frame_naming_another_job_does_not_fail_it(beta):
    """The runtime decides (refuse_frame): it fails the job only if alpha takes part in it here."""
    head = b'{"m":{"m":"NoSuchKind","job":"victim-job"},"b":[]}'
    bad = len(head).to_bytes(4, "big") + head
    assert deliver(beta, f"alpha.{JOB}", "alpha", [bad], peer="alpha").get_return_code() == ReturnCode.OK
    assert beta._runtime.calls[0][0] == "refuse_frame"
    assert beta._runtime.calls[0][1:] == ("victim-job", "alpha")


def test_oversized_chunk_stream_is_refused(beta):
    items = [["s1", 0, 1 << 20, b"x" * 10], ["s1", 1, 1 << 20, b"x" * 10]]
    assert deliver(beta, f"alpha.{JOB}", "alpha", items, peer="alpha").get_return_code() == ReturnCode.OK
    assert beta._runtime.calls == []
    assert all(isinstance(m, Refused) and "out of bounds" in m.reason for m in beta.to_app)


# -- the server's handlers ------------------------------------------------------------------------


@pytest.fixture
def server() -> Any:
    controller = DfmController(SITES, keys=KEYS["server"])
    controller._simulating = False
    return controller


def test_server_buffers_items_under_the_authenticated_site(server):
    token = server._on_attach("dfm.attach", {}, None)["token"]
    items = [pack(Refused("home", "alpha", "x"), codec)]  # names no job: every session sees it
    req = request(
        sealed("home", "server", "dfm.to_app", {"from": "home", "seq": 1, "items": items}), f"home.{JOB}"
    )
    assert server._on_to_app("dfm.to_app", req, ctx("home")).get_return_code() == ReturnCode.OK
    assert server._on_fetch("dfm.fetch", {"after": 0, "token": token}, None)["items"][0][2] == "home"


def test_server_refuses_forged_to_app_ready_and_heartbeat(server):
    token = server._on_attach("dfm.attach", {}, None)["token"]
    forged = request(
        sealed("alpha", "server", "dfm.to_app", {"from": "home", "seq": 1, "items": []}), f"alpha.{JOB}"
    )
    assert server._on_to_app("dfm.to_app", forged, ctx("alpha")).get_return_code() == RC_REFUSED
    ready = request(sealed("alpha", "server", "dfm.ready", {"site": "home", "error": "boom"}), f"alpha.{JOB}")
    assert server._on_ready("dfm.ready", ready, ctx("alpha")).get_return_code() == RC_REFUSED
    heartbeat = request(sealed("alpha", "server", "dfm.hb", {"site": "home"}), f"alpha.{JOB}")
    assert server._on_heartbeat("dfm.hb", heartbeat, ctx("alpha")).get_return_code() == RC_REFUSED
    fetched = server._on_fetch("dfm.fetch", {"after": 0, "token": token}, None)
    assert fetched["items"] == [] and fetched["ready"] == {}
    assert len(fetched["refused"]) == 3 and all(sender == "alpha" for _, sender, _ in fetched["refused"])


def test_only_the_server_cancels_the_jobs_of_an_ended_session(beta):
    forged = request(sealed("alpha", "beta", "dfm.cancel", {"jobs": ["victim"]}), f"alpha.{JOB}")
    assert beta._on_cancel("dfm.cancel", forged, ctx("alpha")).get_return_code() == RC_REFUSED
    unstamped = request(sealed("server", "beta", "dfm.cancel", {"jobs": ["victim"]}), None)
    assert beta._on_cancel("dfm.cancel", unstamped, ctx("server")).get_return_code() == RC_REFUSED
    assert beta._runtime.calls == []
    assert [m.sender for m in beta.to_app] == ["alpha", "?"]
    real = request(sealed("server", "beta", "dfm.cancel", {"jobs": ["j1", "j2"]}), f"server.{JOB}")
    assert beta._on_cancel("dfm.cancel", real, ctx("mathfed")).get_return_code() == ReturnCode.OK
    assert beta._runtime.calls == [("handle", CancelJob("j1"), APP), ("handle", CancelJob("j2"), APP)]


# -- seals: FLARE's origin is not enough (a site might replay the server's fixed auth headers) ----------


def test_the_application_relay_is_believed_only_with_its_seal(beta):
    """A message whose FLARE origin is the server's job, as a site replaying FLARE's server headers
    could make it, is refused unless sealed with the key only the server's job and beta hold."""
    for sealer in ("alpha", "home"):  # a hostile site seals with the keys it has: its own pairs
        reply = deliver(beta, f"server.{JOB}", "server", frames(CancelJob("victim")), "x", sealer=sealer)
        assert reply.get_return_code() == RC_REFUSED
    unsealed = request({"from": "server", "seq": 1, "items": frames(CancelJob("victim"))}, f"server.{JOB}")
    assert beta._on_deliver("dfm.deliver", unsealed, ctx("x")).get_return_code() == RC_REFUSED
    cancel = request(sealed("alpha", "beta", "dfm.cancel", {"jobs": ["victim"]}), f"server.{JOB}")
    assert beta._on_cancel("dfm.cancel", cancel, ctx("x")).get_return_code() == RC_REFUSED
    assert beta._runtime.calls == []
    assert len(beta.to_app) == 4
    assert all("without the seal of the application's relay" in m.reason for m in beta.to_app)
    assert (
        deliver(beta, f"server.{JOB}", "server", frames(CancelJob("j")), "x").get_return_code()
        == ReturnCode.OK
    )
    assert beta._runtime.calls == [("handle", CancelJob("j"), APP)]


def test_a_site_cannot_speak_as_another_site(beta):
    token = Token("victim", "p", (0,), 1)
    reply = deliver(beta, f"home.{JOB}", "home", frames(token), "home", sealer="alpha")
    assert reply.get_return_code() == RC_REFUSED and beta._runtime.calls == []
    assert "without the seal of site 'home'" in beta.to_app[0].reason


def test_a_seal_holds_for_its_topic_receiver_and_content_only(beta):
    payload = sealed(
        "server", "beta", "dfm.deliver", {"from": "server", "seq": 1, "items": frames(CancelJob("j"))}
    )
    as_cancel = {"jobs": ["j"], SEAL: payload[SEAL]}
    assert (
        beta._on_cancel("dfm.cancel", request(as_cancel, f"server.{JOB}"), ctx("x")).get_return_code()
        == RC_REFUSED
    )
    for changed in ({**payload, "seq": 2}, {**payload, "items": frames(CancelJob("k"))}):
        assert beta._on_deliver(
            "dfm.deliver", request(changed, f"server.{JOB}"), ctx("x")
        ).get_return_code() == (RC_REFUSED)
    for_alpha = sealed("server", "alpha", "dfm.deliver", {"from": "server", "seq": 1, "items": []})
    assert beta._on_deliver(
        "dfm.deliver", request(for_alpha, f"server.{JOB}"), ctx("x")
    ).get_return_code() == (RC_REFUSED)
    assert beta._runtime.calls == []


def test_the_server_takes_site_messages_only_with_their_seal(server):
    token = server._on_attach("dfm.attach", {}, None)["token"]
    items = [pack(Refused("home", "alpha", "x"), codec)]
    for payload in (
        {"from": "home", "seq": 1, "items": items},  # unsealed
        sealed("alpha", "server", "dfm.to_app", {"from": "home", "seq": 1, "items": items}),  # alpha's key
        sealed("home", "server", "dfm.ready", {"from": "home", "seq": 1, "items": items}),  # another topic
    ):
        assert server._on_to_app(
            "dfm.to_app", request(payload, f"home.{JOB}"), ctx("home")
        ).get_return_code() == (RC_REFUSED)
    ready = request(sealed("alpha", "server", "dfm.ready", {"site": "home", "error": None}), f"home.{JOB}")
    assert server._on_ready("dfm.ready", ready, ctx("home")).get_return_code() == RC_REFUSED
    fetched = server._on_fetch("dfm.fetch", {"after": 0, "token": token}, None)
    assert fetched["items"] == [] and fetched["ready"] == {}
    assert len(fetched["refused"]) == 4 and all(
        "without the seal of site 'home'" in r for _, _, r in fetched["refused"]
    )


def test_components_without_keys_refuse_to_run():
    executor = DfmExecutor("beta", SITES)
    assert executor.keys == {} and not executor._seals.check("server", "dfm.deliver", {SEAL: "00"})
    assert DfmController(SITES).keys == {}
