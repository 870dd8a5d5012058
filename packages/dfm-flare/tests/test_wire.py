"""The deployment's port: mutual TLS over plain sockets (the default scheme), nothing else gets in."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import pytest

from dfm.flare.provision import provision

from .conftest import MATHFED

pytestmark = pytest.mark.flare


def _handshake(port: int, kit: Path | None, ca: Path) -> None:
    """A TLS handshake and one read against the server, with ``kit``'s client certificate if given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca)
    context.check_hostname = False  # FLARE's server certificate names "server", not localhost
    if kit is not None:
        context.load_cert_chain(kit / "startup" / "client.crt", kit / "startup" / "client.key")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, context.wrap_socket(raw) as tls:
        tls.settimeout(1.0)
        try:
            tls.recv(1)  # TLS 1.3: the server's verdict on our certificate arrives after the handshake
        except TimeoutError:
            pass  # accepted: the server waits for the first frame


def test_the_server_takes_only_certificates_of_its_own_project(mathfed_deployment, tmp_path):
    state = mathfed_deployment.state
    prod = Path(state.prod_dir)
    ca = prod / "server" / "startup" / "rootCA.pem"
    site = prod / next(iter(state.sites.values()))
    assert state.sites and _kit_scheme(site) == "tcp"
    _handshake(state.port, site, ca)  # a site of the project: accepted
    with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED"):
        _handshake(state.port, None, ca)
    # a site of another project (same names, its own CA) is refused by the server
    other = provision(MATHFED, tmp_path / "other", port=state.port, storage=tmp_path / "store")
    stranger = Path(other.prod_dir) / next(iter(other.sites.values()))
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        _handshake(state.port, stranger, ca)
    with pytest.raises(ssl.SSLCertVerificationError):  # and the server is not the stranger's
        _handshake(state.port, stranger, Path(other.prod_dir) / "server" / "startup" / "rootCA.pem")


def _kit_scheme(kit: Path) -> str:
    client = json.loads((kit / "startup" / "fed_client.json").read_text())
    return str(client["servers"][0]["service"]["scheme"])
