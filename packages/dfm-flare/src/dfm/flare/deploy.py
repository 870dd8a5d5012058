"""A running FLARE deployment seen from the application's machine: where it is, is it up, who is in.

- :func:`deployment_options` turns what the user said (``--kit``, ``--workspace``,
  ``--poc``, the registry's ``--project-path``) into the ``flare`` transport's options;
- :func:`probe` checks within seconds that the FLARE server named in an admin kit
  answers on its port (name resolution and TCP only: no FLARE code, so no
  connector noise), raising a one-line :class:`FlareSetupError` otherwise;
- :func:`status` lists every site with whether its FLARE client is connected,
  the DFM versions its kit pins and the SHA-256 of the federation config its kit
  carries (both from the kit's site descriptor, read by FLARE's ``cat`` admin
  command: recorded at provisioning, not what the site's processes loaded).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import socket
import time
from pathlib import Path
from typing import Any

import attrs

from dfm.flare.layout import (
    SITE_DESCRIPTOR,
    DeploymentState,
    FlareSetupError,
    admin_name,
    client_names,
    poc_home,
    require_nvflare,
)
from dfm.kernel.config.models import Federation

__all__ = ["SiteStatus", "admin_endpoint", "deployment_options", "probe", "status"]


def deployment_options(
    federation: Federation,
    *,
    kit: str | Path | None = None,
    workspace: str | Path | None = None,
    poc: bool = False,
    project_path: str | Path | None = None,
) -> dict[str, Any]:
    """The ``flare`` transport options for a deployment given in one of the supported ways.

    ``project_path`` (the registry's ``--project-path``) names the ``project.yml``
    that ``dfm fed gen provision`` wrote: its folder is the deployment directory.
    """
    given = [name for name, value in (("kit", kit), ("workspace", workspace), ("poc", poc)) if value]
    if len(given) > 1:
        raise FlareSetupError(f"give one of --kit, --workspace and --poc, not {' and '.join(given)}")
    if kit:
        return {"kit": str(Path(kit).expanduser())}
    if workspace:
        return {"workspace": str(Path(workspace).expanduser())}
    if poc:
        return {"poc": True}
    if project_path:
        return {"workspace": str(Path(project_path).expanduser().resolve().parent)}
    raise FlareSetupError(
        f"where does federation '{federation.name}' run on FLARE? Give --kit ADMIN_KIT_DIR, "
        f"--workspace DIR or --poc, or register the deployment: "
        f"'dfm fed config set {federation.name} --config-path FILE --project-path DIR/project.yml'"
    )


def admin_location(federation: Federation, options: dict[str, Any]) -> tuple[str, Path]:
    """(admin user, admin kit dir) of the deployment the options name."""
    if options.get("kit"):
        return str(options.get("user") or admin_name(federation)), Path(options["kit"]).expanduser()
    workspace = (
        Path(options["workspace"]).expanduser() if options.get("workspace") else poc_home(federation.name)
    )
    state = DeploymentState.load(workspace)
    if state.federation != federation.name:
        raise FlareSetupError(
            f"the FLARE deployment in {workspace} runs federation '{state.federation}', "
            f"not '{federation.name}'"
        )
    return state.admin, state.admin_kit


def admin_endpoint(kit: Path) -> tuple[str, int]:
    """The server host and port an admin kit connects to (its ``startup/fed_admin.json``)."""
    path = Path(kit) / "startup" / "fed_admin.json"
    try:
        admin = json.loads(path.read_text())["admin"]
        return str(admin["host"]), int(admin["port"])
    except FileNotFoundError:
        raise FlareSetupError(
            f"FLARE admin startup kit not found: {kit} (expected startup/fed_admin.json)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FlareSetupError(f"{path}: not a FLARE admin configuration ({exc})") from None


def probe(kit: Path, timeout: float = 5.0, federation: str = "") -> None:
    """Raise a one-line :class:`FlareSetupError` unless the kit's server accepts TCP connections."""
    host, port = admin_endpoint(kit)
    where = f"the FLARE server{f' of {federation!r}' if federation else ''} at {host}:{port}"
    hint = f"; is the deployment running? ('dfm deploy status {federation or 'NAME'}')"
    deadline = time.monotonic() + timeout
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FlareSetupError(f"{where}: cannot resolve host name '{host}' ({exc.strerror})") from None
    error: OSError | None = None
    for family, kind, proto, _name, address in infos:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(left)
            try:
                sock.connect(address)
                return
            except OSError as exc:
                error = exc
    if isinstance(error, (TimeoutError, socket.timeout)) or error is None:
        why = f"no answer within {timeout:g} s"
    else:
        why = error.strerror or type(error).__name__
    raise FlareSetupError(f"{where} is not reachable ({why}){hint}")


@attrs.define
class SiteStatus:
    """The deployment check's view of one site: its FLARE client, whether it is connected, and the
    versions and config digest its kit pins.
    """

    site: str
    client: str
    connected: bool
    versions: dict[str, str] = attrs.Factory(dict)  # distribution -> version the site's kit pins
    config_digest: str = ""  # sha256 of the federation config the site's kit carries ("" if unknown)
    detail: str = ""


def _versions(requirements: list[str]) -> dict[str, str]:
    out = {}
    for line in requirements:
        name, _, version = str(line).partition("==")
        out[name.strip()] = version.strip() or "*"
    return out


def _cat(session: Any, client: str, path: str) -> str:
    with contextlib.redirect_stdout(io.StringIO()):
        return str(session.cat_target(client, file=path))


def status(
    federation: Federation, options: dict[str, Any], *, timeout: float = 10.0
) -> tuple[str, list[SiteStatus]]:
    """(server address, one :class:`SiteStatus` per site) of the deployment ``options`` name."""
    require_nvflare()
    from nvflare.fuel.flare_api.flare_api import new_secure_session

    user, kit = admin_location(federation, options)
    host, port = admin_endpoint(kit)
    probe(kit, timeout=min(timeout, 5.0), federation=federation.name)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            session = new_secure_session(user, str(kit), timeout=timeout)
    except Exception as exc:
        raise FlareSetupError(
            f"the FLARE server at {host}:{port} refused the admin kit {kit} ({type(exc).__name__}: {exc})"
        ) from None
    out = []
    try:
        connected = {c.name for c in session.get_connected_client_list()}
        for site, client in client_names(federation).items():
            row = SiteStatus(site, client, client in connected)
            if row.connected:
                try:
                    descriptor = json.loads(_cat(session, client, f"local/custom/{SITE_DESCRIPTOR}"))
                    row.versions = _versions(descriptor.get("requirements") or [])
                    row.config_digest = str(descriptor.get("config_sha256") or "")
                except Exception as exc:  # an old kit, a site that forbids shell commands
                    row.detail = f"no site descriptor ({type(exc).__name__}: {exc})"
            out.append(row)
    finally:
        with contextlib.suppress(Exception):
            session.close()
    return f"{host}:{port}", out


def local_digest(config_path: Path) -> str:
    """The digest :func:`status` reports for a site whose kit carries the config at ``config_path``."""
    return hashlib.sha256(Path(config_path).read_bytes()).hexdigest()
