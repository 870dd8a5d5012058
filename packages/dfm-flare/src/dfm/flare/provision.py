"""FLARE provisioning of a DFM federation: ``project.yml`` and mTLS startup kits.

:func:`project_config` derives FLARE's project from the federation config
(server = the controller, one client per DFM site, one project admin) and
:func:`site_requirements` the distributions each site needs.
:func:`provision` writes ``project.yml``, runs FLARE's provisioner with
:class:`~dfm.flare.builder.DfmSiteBuilder` (which drops each site's runtime
requirements, descriptor and federation code into ``<kit>/local/custom/``)
and records the result in ``dfm-flare.json``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import importlib.util
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from dfm.flare.layout import (
    FL_PORT,
    ORG,
    SCHEME,
    SCHEMES,
    SERVER_NAME,
    SITE_DISTRIBUTIONS,
    DeploymentState,
    FlareSetupError,
    admin_name,
    client_names,
    project_name,
    require_nvflare,
)
from dfm.flare.sitedata import site_data_files
from dfm.kernel.config import load_config
from dfm.kernel.config.digest import config_digest
from dfm.kernel.config.models import Federation
from dfm.kernel.entrypoints import canonical_name
from dfm.kernel.errors import DfmError
from dfm.kernel.plugins import DfmPluginManager, get_plugin_manager

__all__ = [
    "project_config",
    "provision",
    "site_adapters",
    "site_local_code",
    "pinned_requirements",
    "site_requirements",
]


def site_adapters(federation: Federation, site: str) -> set[str]:
    """Every adapter reference the site's interface (and its providers) uses."""
    spec = federation.sites[site]
    refs = {entry.adapter for entry in spec.interface.values()}
    for provider in spec.providers.values():
        refs.update(entry.adapter for entry in provider.interface.values())
    return refs


def _top_module(ref: str) -> str:
    return ref.split(":", 1)[0].split(".", 1)[0]


def _local_path(base: Path, module: str) -> Path | None:
    for candidate in (base / module, base / f"{module}.py"):
        if candidate.exists():
            return candidate
    return None


def site_local_code(
    federation: Federation, config_path: Path, site: str, manager: DfmPluginManager
) -> list[str]:
    """Paths (relative to the config's folder) of the federation-local code the site's adapters import."""
    registry = manager.registry("adapters")
    out = set()
    for ref in site_adapters(federation, site):
        if ref in registry:
            continue
        found = _local_path(config_path.parent, _top_module(ref))
        if found is not None:
            out.add(found.name)
    return sorted(out)


def _installed_distribution(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    dists = md.packages_distributions().get(module) or []
    return canonical_name(dists[0]) if dists else None


def site_requirements(
    federation: Federation, config_path: Path, site: str, manager: DfmPluginManager
) -> list[str]:
    """Requirement lines for one site: DFM core, the adapter plugins it uses, other imported packages.

    Registry adapter names resolve to the distribution that registered them;
    dotted paths to federation-local code need nothing (the kit carries the code);
    dotted paths into an installed package add that package's distribution.
    Versions are the federation's ``plugins:`` pins when given, else the installed ones.
    """
    registry = manager.registry("adapters")
    dists = {canonical_name(d) for d in SITE_DISTRIBUTIONS}
    unknown = []
    for ref in sorted(site_adapters(federation, site)):
        if ref in registry:
            entry = registry[ref]
            if entry.provenance is not None:
                dists.add(canonical_name(entry.provenance.distribution))
            continue
        module = _top_module(ref)
        if _local_path(config_path.parent, module) is not None:
            continue
        dist = _installed_distribution(module)
        if dist is None:
            unknown.append(ref)
        else:
            dists.add(dist)
    if unknown:
        raise DfmError(
            f"site '{site}': adapter(s) {', '.join(unknown)} are neither registered by an installed plugin "
            f"nor importable from {config_path.parent} or the environment"
        )
    lines = pinned_requirements(federation, dists)
    if federation.sites[site].cache_config is not None:  # TryFromCache there needs fsspec: dfm-runner[cache]
        lines = [_with_extra(line, "dfm-runner", "cache") for line in lines]
    return lines


def _with_extra(line: str, dist: str, extra: str) -> str:
    """``line`` with ``[extra]`` after the distribution name when it is a requirement on ``dist``."""
    name = line[: len(dist)]
    rest = line[len(dist) :]
    if canonical_name(name) != dist or (rest and rest[0] not in "=<>!~ ;"):
        return line
    return f"{name}[{extra}]{rest}"


def pinned_requirements(federation: Federation, dists: Iterable[str]) -> list[str]:
    """Requirement lines for distributions, sorted: the federation's ``plugins:`` pin of each
    when given, else the installed version, else the bare name."""
    pins = {canonical_name(k): v for k, v in federation.plugins.items()}
    lines = []
    for dist in sorted({canonical_name(d) for d in dists}):
        if pins.get(dist):
            lines.append(f"{dist}{pins[dist]}")
            continue
        try:
            lines.append(f"{dist}=={md.version(dist)}")
        except md.PackageNotFoundError:
            lines.append(dist)
    return lines


def project_config(
    federation: Federation,
    config_path: Path,
    *,
    port: int = FL_PORT,
    host: str = "localhost",
    manager: DfmPluginManager | None = None,
    scheme: str = SCHEME,
    storage: str | Path | None = None,
) -> dict[str, Any]:
    """FLARE's ``project.yml`` content for a federation (api_version 3).

    ``scheme`` is FLARE's wire protocol (one of ``SCHEMES``; mTLS in every case).
    ``storage`` moves the server's job store and snapshots out of FLARE's
    machine-wide default ``/tmp/nvflare``.
    """
    if scheme not in SCHEMES:
        raise FlareSetupError(f"unknown FLARE scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    manager = manager or get_plugin_manager()
    names = client_names(federation)
    sites: dict[str, Any] = {}
    participants: list[dict[str, Any]] = [
        {
            "name": SERVER_NAME,
            "type": "server",
            "org": ORG,
            "fed_learn_port": port,
            "admin_port": port,
            "default_host": host,
        }
    ]
    for site, client in names.items():
        participants.append({"name": client, "type": "client", "org": ORG})
        sites[client] = {
            "site": site,
            "requirements": site_requirements(federation, config_path, site, manager),
            "local_code": site_local_code(federation, config_path, site, manager),
            "data": site_data_files(federation, config_path, site),
        }
    participants.append(
        {"name": admin_name(federation), "type": "admin", "org": ORG, "role": "project_admin"}
    )
    static_args: dict[str, Any] = {"config_folder": "config", "scheme": scheme}
    return {
        "api_version": 3,
        "name": project_name(federation),
        "description": f"DFM federation {federation.name} (generated by dfm-flare)",
        "participants": participants,
        "builders": [
            {
                "path": "nvflare.lighter.impl.workspace.WorkspaceBuilder",
                "args": {"template_file": ["master_template.yml"]},
            },
            {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": static_args},
            {
                "path": "dfm.flare.builder.DfmSiteBuilder",
                "args": {
                    "federation": federation.name,
                    "config": str(config_path.resolve()),
                    "sites": sites,
                    **({"storage": str(storage)} if storage else {}),
                },
            },
            {"path": "nvflare.lighter.impl.cert.CertBuilder"},
            {"path": "nvflare.lighter.impl.signature.SignatureBuilder"},
        ],
    }


class _Log:
    """Collects the provisioner's messages instead of printing them."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(str(msg))

    debug = info
    warning = info

    def error(self, msg: str) -> None:
        self.lines.append("error: " + str(msg))


def _record_config_digests(prod_dir: Path, clients: Any) -> None:
    """Add ``config_sha256`` (of the config as the kit carries it) to each site's descriptor.

    ``dfm deploy status`` reads descriptors through FLARE's ``cat`` admin command,
    which only shows files such as .json: the YAML config itself cannot be read remotely.
    """
    from dfm.flare.layout import SITE_DESCRIPTOR

    for client in clients:
        custom = prod_dir / client / "local" / "custom"
        path = custom / SITE_DESCRIPTOR
        if not path.is_file():
            continue
        descriptor = json.loads(path.read_text())
        config = custom / str(descriptor.get("config", ""))
        if descriptor.get("config") and config.is_file():
            descriptor["config_sha256"] = hashlib.sha256(config.read_bytes()).hexdigest()
            path.write_text(json.dumps(descriptor, indent=2) + "\n")


def provision(
    config: str | Path,
    out_dir: str | Path,
    *,
    port: int = FL_PORT,
    host: str = "localhost",
    clean: bool = False,
    manager: DfmPluginManager | None = None,
    storage: str | Path | None = None,
    scheme: str = SCHEME,
) -> DeploymentState:
    """Write ``out_dir/project.yml``, provision the kits under ``out_dir`` and record ``dfm-flare.json``.

    Returns the deployment state (no processes yet). ``clean`` removes
    ``out_dir`` first; otherwise FLARE adds a new ``prod_NN`` folder.
    ``storage`` is the server's job store folder (default: FLARE's ``/tmp/nvflare``);
    ``scheme`` FLARE's wire protocol (see :func:`project_config`).
    """
    require_nvflare()
    from nvflare.lighter.constants import CtxKey, WorkDir
    from nvflare.lighter.prov_utils import prepare_builders, prepare_packager
    from nvflare.lighter.provision import prepare_project
    from nvflare.lighter.provisioner import Provisioner

    config_path = Path(config).resolve()
    federation = load_config(config_path)
    out = Path(out_dir).resolve()
    if clean and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    project_dict = project_config(
        federation, config_path, port=port, host=host, manager=manager, storage=storage, scheme=scheme
    )
    digest = config_digest(config_path)
    (out / "project.yml").write_text(
        "# Generated by dfm-flare from "
        + str(config_path)
        + "\n"
        + yaml.safe_dump(project_dict, sort_keys=False)
    )
    project_dict["gen_scripts"] = False
    log = _Log()
    try:
        project = prepare_project(project_dict)
        provisioner = Provisioner(str(out), prepare_builders(project_dict), prepare_packager(project_dict))
        ctx = provisioner.provision(project, logger=log)
    except (ValueError, RuntimeError) as exc:
        raise FlareSetupError(f"FLARE provisioning failed: {exc}") from None
    prod_dir = ctx.get(WorkDir.CURRENT_PROD_DIR) if ctx is not None else None
    if not prod_dir or ctx.get(CtxKey.BUILD_ERROR):
        detail = "; ".join(line for line in log.lines if line.startswith("error")) or "see project.yml"
        raise FlareSetupError(f"FLARE provisioning failed: {detail}")
    _record_config_digests(Path(prod_dir), client_names(federation).values())
    state = DeploymentState(
        federation=federation.name,
        config=str(config_path),
        port=port,
        prod_dir=str(prod_dir),
        admin=admin_name(federation),
        sites=client_names(federation),
        config_digest=digest,
    )
    state.save(out)
    return state
