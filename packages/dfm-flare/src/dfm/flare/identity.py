"""Who sent a message to a DFM session's FLARE job, and which site a FLARE client may run."""

from __future__ import annotations

import secrets
from typing import Any

from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable

from dfm.flare.layout import SERVER_NAME

# -- who sent a message -------------------------------------------------------------------------
#
# FLARE hands a message handler a "peer context" (fl_ctx.get_peer_context()), but that is
# the sender's own FLContext props, carried in the payload's __peer_props__ header: a site's
# process sets it to whatever it likes. What FLARE does authenticate is the cell message's
# ORIGIN header: with secure_train (provisioned mTLS), the server's cell checks every message it
# receives or relays against the sending client's token (issued at registration, bound to its
# certificate name) and the FQCN that client registered from (nvflare.private.fed.authenticator.
# validate_auth_headers). A message from site "alpha"'s job process arrives with ORIGIN
# "alpha.<job id>"; one from the server's job process with "server.<job id>".
#
# That header stays at the cell layer, so each job process wraps FLARE's callback for the aux
# topics we take and copies ORIGIN into the request under a header name drawn at random in
# this process (a sender cannot preset it). Handlers read the sender from there, never from
# the payload.

ORIGIN_KEY = f"__dfm_origin_{secrets.token_hex(8)}__"


def stamp_origins(engine: Any, topics: list[str]) -> bool:
    """Copy the authenticated cell ORIGIN of aux requests on ``topics`` into their Shareable.

    Returns False when this engine has no cell to wrap (then no message gets a stamp).
    """
    from nvflare.fuel.f3.cellnet.defs import CellChannel, MessageHeaderKey

    get_cell = getattr(engine, "get_cell", None)
    cell = get_cell() if callable(get_cell) else None
    core = getattr(cell, "core_cell", None)
    registry = getattr(core, "req_reg", None)
    if cell is None or registry is None:
        return False
    channel = CellChannel.AUX_COMMUNICATION
    for topic in topics:
        found = registry.find(channel, topic)
        if found is None:
            return False
        if getattr(found.cb, "dfm_stamp", False):
            continue

        def stamp(request: Any, *args: Any, _cb: Any = found, **kwargs: Any) -> Any:
            payload = request.payload
            if isinstance(payload, Shareable):
                payload.set_header(ORIGIN_KEY, request.get_header(MessageHeaderKey.ORIGIN))
            return _cb.cb(request, *_cb.args, **_cb.kwargs)

        stamp.dfm_stamp = True  # type: ignore[attr-defined]
        # an exact channel:topic registration wins over FLARE's "aux_communication:*" (cellnet Registry)
        cell.register_request_cb(channel=channel, topic=topic, cb=stamp)
    return True


def flare_sender(request: Shareable, fl_ctx: FLContext, clients: Any, *, simulating: bool) -> str | None:
    """The FLARE name (client name, or SERVER_NAME) of who sent ``request``; None when unknown.

    Only a sender of this FLARE job counts (ORIGIN ``<name>.<this job id>``). The peer context's
    identity must agree (a consistency check only). Under FLARE's simulator, which has no
    authentication anyway, a message without a stamp falls back to the peer context (a name
    that is not one of ``clients`` is the server's).
    """
    peer = fl_ctx.get_peer_context()
    claimed = peer.get_identity_name() if isinstance(peer, FLContext) else None
    origin = request.get_header(ORIGIN_KEY)
    name = None
    if isinstance(origin, str) and origin:
        parts = origin.split(".")
        if len(parts) >= 2 and parts[-1] == fl_ctx.get_job_id():
            name = parts[-2]
    if simulating and name not in clients and name != SERVER_NAME:
        return claimed if claimed in clients else SERVER_NAME
    if name is None:
        return None
    if name != SERVER_NAME and claimed != name:
        return None
    return name


def check_descriptor(descriptor: dict[str, Any], site: str, client: str, *, simulating: bool) -> None:
    """Refuse to run ``site`` on FLARE client ``client`` unless the site descriptor says so.

    A kit's descriptor names its one site. A simulation descriptor (one for
    every simulated client, :mod:`dfm.flare.simulator`) maps client names to
    sites and counts only where FLARE says it simulates.
    """
    if descriptor.get("role") == "simulation":
        if not simulating:
            raise RuntimeError("this site's descriptor is for FLARE's simulator only: refused")
        kit_site = (descriptor.get("sites") or {}).get(client)
    else:
        kit_site = descriptor.get("site")
    if kit_site != site:
        raise RuntimeError(f"this FLARE client's kit is for site '{kit_site}', the job asked for '{site}'")


# -- server ---------------------------------------------------------------------------------
