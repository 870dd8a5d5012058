"""Pair keys: every DFM message between two processes of the service job carries an HMAC only they can make.

The sender of a message is the cell ORIGIN FLARE's server authenticates
(:mod:`dfm.flare.identity`). We do not rely on that alone: FLARE's server adds
its own fixed auth headers (client name ``server``, its token and signature) to
every message it sends, so every client sees them, and its check binds a
token to a registered origin for clients only (nvflare 2.9,
``fed_server._add_auth_headers`` and ``authenticator.validate_auth_headers``):
a site that controls its FLARE processes might replay those headers under any
ORIGIN, e.g. the server's job (the application's relay) or another site's.

So the service job carries a fresh 256-bit key per pair of its participants
(the server's job and every site), drawn when the job is exported and written
into its per-participant app configs. FLARE deploys each client only its own
app, so a site knows the keys of its own pairs and no other; the server's job
knows its pairs with every site. Each message's payload gets a ``seal``: the
HMAC-SHA256, under the key of its (sender, receiver) pair, of a typed encoding
of the sender's and receiver's names, the topic and the payload. A receiver
takes a message only when the seal verifies under the key it shares with the
authenticated sender: a site cannot speak as the application or as another
site even if FLARE's origin check were fooled.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["SEAL", "Seals", "pair_keys"]

SEAL = "seal"  # the payload key of a message's seal


def pair_keys(names: Iterable[str]) -> dict[str, dict[str, str]]:
    """A fresh key (hex) per pair of ``names`` (FLARE names): name -> {peer: key}."""
    names = list(dict.fromkeys(names))
    keys: dict[str, dict[str, str]] = {name: {} for name in names}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            keys[a][b] = keys[b][a] = secrets.token_hex(32)
    return keys


class Seals:
    """Seals and checks the messages of the process named ``me``, with its pair ``keys`` ({peer: hex})."""

    def __init__(self, me: str, keys: Mapping[str, str]):
        self.me = me
        self._keys = {peer: bytes.fromhex(key) for peer, key in keys.items()}

    def seal(self, receiver: str, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` with the seal for ``receiver`` added (KeyError if we share no key with it)."""
        return {**payload, SEAL: _mac(self._keys[receiver], self.me, receiver, topic, payload)}

    def check(self, sender: str | None, topic: str, payload: Any) -> bool:
        """True when ``payload`` carries a seal of ``sender`` (authenticated by FLARE) for us."""
        key = self._keys.get(sender) if sender is not None else None
        if key is None or not isinstance(payload, dict):
            return False
        seal = payload.get(SEAL)
        if not isinstance(seal, str):
            return False
        try:
            expected = _mac(key, str(sender), self.me, topic, payload)
        except TypeError:  # a value no honest sender puts in a payload
            return False
        return hmac.compare_digest(expected, seal)


def _mac(key: bytes, sender: str, receiver: str, topic: str, payload: dict[str, Any]) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    _feed(mac, [sender, receiver, topic, {k: v for k, v in payload.items() if k != SEAL}])
    return mac.hexdigest()


def _feed(mac: Any, value: Any) -> None:
    """A typed, length-prefixed encoding: no two different values feed the same bytes."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        view = memoryview(value).cast("B")
        mac.update(b"b" + view.nbytes.to_bytes(8, "big"))
        mac.update(view)
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        mac.update(b"s" + len(data).to_bytes(8, "big") + data)
    elif value is None or isinstance(value, bool):
        mac.update({None: b"n", True: b"t", False: b"f"}[value])
    elif isinstance(value, int):
        text = str(value).encode()
        mac.update(b"i" + len(text).to_bytes(8, "big") + text)
    elif isinstance(value, float):
        mac.update(b"d" + value.hex().encode() + b";")
    elif isinstance(value, (list, tuple)):
        mac.update(b"l" + len(value).to_bytes(8, "big"))
        for item in value:
            _feed(mac, item)
    elif isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("payload keys must be str")
        mac.update(b"m" + len(value).to_bytes(8, "big"))
        for k in sorted(value):
            _feed(mac, k)
            _feed(mac, value[k])
    else:
        raise TypeError(f"a {type(value).__name__} in a payload")
