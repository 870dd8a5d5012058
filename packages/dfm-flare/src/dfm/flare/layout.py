"""Names and places shared by provisioning, the POC deployment and the transport.

Nothing here imports nvflare: the CLI lists and documents commands without it.

- A DFM site becomes one FLARE client. Its FLARE name is the site name, except
  where FLARE reserves the name or forbids its characters (a site called
  ``server`` would collide with the server's cell), see :func:`flare_client_name`.
- The FLARE server is the federation's controller: it relays messages and
  buffers those addressed to the application.
- A deployment is a directory holding ``project.yml``, the provisioned kits
  and ``dfm-flare.json`` (:class:`DeploymentState`). ``dfm poc`` keeps one per
  federation under :func:`poc_home`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import attrs

from dfm.kernel.config.models import Federation
from dfm.kernel.errors import DfmError

STATE_FILE = "dfm-flare.json"
SITE_DESCRIPTOR = "dfm_site.json"  # in <kit>/local/custom/
REQUIREMENTS_FILE = "requirements.txt"  # in <kit>/local/custom/
SITE_DIR = "dfm"  # <kit>/local/custom/dfm/: the federation config and its local adapter code
SERVER_NAME = "server"
ORG = "dfm"
PACKAGE_PREFIX = "dfm."  # the class_allow_list entry for our job components
SITE_DISTRIBUTIONS = ("dfm-kernel", "dfm-runner", "dfm-flare")
FL_PORT = 8002  # the server's port (FL and admin) unless told otherwise, as in FLARE's POC
# FLARE's wire scheme between processes (server, site parents, job cells, admin), always under
# mTLS. FLARE's provisioning default is "http" (websockets over aiohttp); plain TLS sockets move
# 100 MiB site -> site at 126-140 MB/s here against 87 for "http" and 107 for "grpc"
# (bench/RESULTS.md). "grpc" and "http" remain for networks that only pass those protocols.
SCHEME = "tcp"
SCHEMES = ("tcp", "grpc", "http")

_RESERVED = {"server", "admin", "root"}
_CLIENT_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class FlareSetupError(DfmError):
    """A FLARE deployment is missing, incomplete or not reachable."""


def require_nvflare() -> None:
    """Import nvflare or raise a :class:`DfmError` that says how to install it."""
    try:
        import nvflare  # noqa: F401
    except ImportError as exc:
        raise FlareSetupError(
            f"NVIDIA FLARE is not installed ({exc}); install it with 'pip install dfm-flare'"
        ) from None


def flare_client_name(site: str) -> str:
    """The FLARE client name of a DFM site (stable, unique per federation)."""
    if site.lower() not in _RESERVED and _CLIENT_RE.match(site):
        return site
    return "site-" + re.sub(r"[^A-Za-z0-9_-]", "_", site)


def client_names(federation: Federation) -> dict[str, str]:
    """DFM site -> FLARE client name, in config order; refuses two sites mapped to one name."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for site in federation.sites:
        name = flare_client_name(site)
        if name in seen:
            raise DfmError(f"sites '{seen[name]}' and '{site}' map to the same FLARE client name '{name}'")
        seen[name] = site
        out[site] = name
    return out


def admin_name(federation: Federation) -> str:
    """The project admin user of a federation's FLARE project (FLARE wants an email)."""
    slug = re.sub(r"[^a-z0-9-]", "-", federation.name.lower()).strip("-") or "dfm"
    return f"admin@{slug}.dfm.local"


def project_name(federation: Federation) -> str:
    """The FLARE project name of ``federation``: its name with characters other than ``A-Z a-z 0-9 _ -``
    as ``_``, at most 63.
    """
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", federation.name) or "dfm"
    return slug[:63]


def flare_home() -> Path:
    """Root of ``dfm poc`` deployments: ``$DFM_FLARE_HOME`` or ``~/.dfm/flare``."""
    env = os.environ.get("DFM_FLARE_HOME")
    return Path(env) if env else Path.home() / ".dfm" / "flare"


def poc_home(federation: str) -> Path:
    """The well-known workspace of ``dfm poc`` for a federation (by its name)."""
    return flare_home() / federation


class StaleKitsWarning(UserWarning):
    """The startup kits were made from another version of the federation config."""


@attrs.define
class DeploymentState:
    """What ``dfm-flare.json`` records about a provisioned (and maybe running) deployment."""

    federation: str
    config: str  # the federation config the kits were made from
    port: int
    prod_dir: str  # <workspace>/<project>/prod_NN: one folder per participant
    admin: str  # admin user name (its kit is prod_dir/admin)
    server: str = SERVER_NAME
    sites: dict[str, str] = attrs.Factory(dict)  # DFM site -> FLARE client name
    pids: dict[str, int] = attrs.Factory(dict)  # participant -> pid (also its process group)
    home: str = ""  # HOME of the started processes
    config_digest: str = ""  # dfm.kernel.config.digest.config_digest of the config the kits were made from

    def out_of_date(self) -> str | None:
        """Why the kits no longer match their config (it changed since provisioning), or None."""
        from dfm.kernel.config.digest import config_digest
        from dfm.kernel.errors import ConfigError

        if not self.config_digest:
            return None  # provisioned before kits recorded a digest
        try:
            current = config_digest(self.config)
        except (ConfigError, OSError):
            return None  # loading the config reports that
        if current == self.config_digest:
            return None
        return (
            f"the startup kits in {self.prod_dir} were made from another version of {self.config} "
            f"({self.config_digest[:19]}, now {current[:19]}); run 'dfm poc prepare {self.federation}' "
            "(or 'dfm fed gen provision') to make them again"
        )

    @property
    def admin_kit(self) -> Path:
        """The admin's startup kit folder."""
        return Path(self.prod_dir) / self.admin

    def kit(self, participant: str) -> Path:
        """The startup kit folder of ``participant``."""
        return Path(self.prod_dir) / participant

    def save(self, workspace: Path) -> None:
        """Write the state to ``workspace`` (atomically: a temporary file, then a rename)."""
        path = workspace / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(attrs.asdict(self), indent=2) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, workspace: Path) -> DeploymentState:
        """The state saved in ``workspace``; raises ``FlareSetupError`` if it is missing or unreadable."""
        path = workspace / STATE_FILE
        if not path.is_file():
            raise FlareSetupError(f"no FLARE deployment in {workspace} (missing {STATE_FILE})")
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise FlareSetupError(f"{path}: unreadable deployment state: {exc}") from None
