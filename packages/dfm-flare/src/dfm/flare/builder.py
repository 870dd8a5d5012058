"""The FLARE provisioning builder that turns startup kits into DFM site kits.

Listed in the ``builders`` of the ``project.yml`` written by
:func:`dfm.flare.provision.project_config`, after FLARE's ``StaticFileBuilder``.
For every client (one per DFM site) it writes into ``<kit>/local/custom/``
(which FLARE puts on ``sys.path`` of the site and of its job processes):

- ``requirements.txt``: the distributions the site must have installed;
- ``dfm_site.json``: the site descriptor (federation, site name, FLARE name,
  config file, requirements);
- ``dfm/``: a copy of the federation config, of every file it pulls in by
  ``$ref``, of the federation-local adapter code the site's interface uses,
  and the site's generated runtime module (``<code-package>.fed.runtime.<site>``,
  its own bindings only); the descriptor records the config's digest;
- beside that config copy, the data files the site's own ``config:`` names
  (:func:`dfm.flare.sitedata.site_data_files`: never another site's, never a
  secrets file), at the same relative paths, so relative paths resolve as at
  the operator's; the descriptor lists them under ``data``.

For the server and every client it adds the ``dfm.`` package prefix to
``class_allow_list`` in ``local/resources.json.default``, so that jobs whose
components are :mod:`dfm.flare.controller` and :mod:`dfm.flare.executor` classes run without BYOC.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nvflare.lighter.constants import ParticipantType, ProvFileName
from nvflare.lighter.ctx import ProvisionContext
from nvflare.lighter.entity import Project
from nvflare.lighter.spec import Builder

from dfm.flare.layout import PACKAGE_PREFIX, REQUIREMENTS_FILE, SERVER_NAME, SITE_DESCRIPTOR, SITE_DIR
from dfm.kernel.config.digest import config_digest

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


def copy_site_code(config: Path, code_dir: Path, local_code: list[str], data: Sequence[str] = ()) -> None:
    """Copy the federation config, every file it pulls in by ``$ref``, the local adapter code and the
    site's data files (paths relative to the config's folder) into ``code_dir``."""
    from dfm.kernel.config.digest import config_files

    code_dir.mkdir(parents=True, exist_ok=True)
    for rel_file in config_files(config):
        target = code_dir / rel_file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(config.parent / rel_file, target)
    for rel in local_code:
        source = config.parent / rel
        target = code_dir / rel
        if source.is_dir():
            shutil.copytree(source, target, ignore=_IGNORE, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    for rel in data:
        target = code_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(config.parent / rel, target)  # content only: no mode or owner of the original


def write_runtime_module(config: Path, code_dir: Path, site: str) -> str:
    """Write the site's generated runtime module (the ``python-api`` emitter) under ``code_dir``.

    Returns its path relative to ``code_dir``'s parent (``dfm/examplefed/fed/runtime/reception.py``),
    as the site descriptor records it. The emitter comes
    from the ``dfm_emitters`` registry; it writes the package's root ``__init__.py``
    only when the copied local code has none.
    """
    from dfm.kernel.config import load_config
    from dfm.kernel.plugins import get_plugin_manager

    federation = load_config(config)
    emit = get_plugin_manager().get("emitters", "python-api").load()
    written = emit(federation, config_path=config, output_dir=code_dir, no_api=True, runtime_site=[site])
    module: Path = next(p for p in written if p.parent.name == "runtime" and p.name != "__init__.py")
    return module.relative_to(code_dir.parent).as_posix()


class DfmSiteBuilder(Builder):  # type: ignore[misc]  # nvflare ships no types
    """Writes each DFM site's runtime requirements, descriptor and federation code into its kit.

    Args:
        federation: the federation's name.
        config: absolute path of the federation config file.
        sites: FLARE client name -> ``{"site": dfm site, "requirements": [...], "local_code": [paths],
            "data": [paths]}`` (paths relative to the config's folder).
        storage: where the server keeps its job store and snapshots (FLARE's default is
            ``/tmp/nvflare``, shared by every FLARE server of the machine: two deployments
            on one machine would then schedule each other's jobs).
    """

    def __init__(
        self, federation: str, config: str, sites: dict[str, dict[str, Any]], storage: str | None = None
    ):
        self.federation = federation
        self.config = config
        self.sites = sites
        self.storage = storage

    def build(self, project: Project, ctx: ProvisionContext) -> None:
        """Add DFM to every startup kit: the server's descriptor (and storage), and each site's code,
        runtime module and descriptor; raises ``ValueError`` for a client that is not a site.
        """
        config = Path(self.config)
        for participant in project.get_all_participants():
            if participant.type not in (ParticipantType.SERVER, ParticipantType.CLIENT):
                continue
            local = Path(ctx.get_local_dir(participant))
            self._allow_dfm_classes(local / ProvFileName.RESOURCES_JSON_DEFAULT)
            custom = local / "custom"
            custom.mkdir(parents=True, exist_ok=True)
            if participant.type == ParticipantType.SERVER:
                if self.storage:
                    self._set_storage(local / ProvFileName.RESOURCES_JSON_DEFAULT, Path(self.storage))
                descriptor = {
                    "format": 1,
                    "role": "controller",
                    "federation": self.federation,
                    "server": participant.name,
                    "sites": {spec["site"]: name for name, spec in self.sites.items()},
                }
                (custom / SITE_DESCRIPTOR).write_text(json.dumps(descriptor, indent=2) + "\n")
                continue
            spec = self.sites.get(participant.name)
            if spec is None:
                raise ValueError(
                    f"client '{participant.name}' is not a site of federation '{self.federation}'"
                )
            data = list(spec.get("data", []))
            copy_site_code(config, custom / SITE_DIR, spec.get("local_code", []), data)
            runtime = write_runtime_module(config, custom / SITE_DIR, spec["site"])
            requirements = list(spec.get("requirements", []))
            (custom / REQUIREMENTS_FILE).write_text("".join(f"{line}\n" for line in requirements))
            descriptor = {
                "format": 1,
                "role": "site",
                "federation": self.federation,
                "site": spec["site"],
                "client": participant.name,
                "server": SERVER_NAME,
                "config": f"{SITE_DIR}/{config.name}",
                "requirements": requirements,
                "runtime": runtime,
                "config_digest": config_digest(config),
                "data": data,
            }
            (custom / SITE_DESCRIPTOR).write_text(json.dumps(descriptor, indent=2) + "\n")

    @staticmethod
    def _set_storage(resources_file: Path, storage: Path) -> None:
        resources = json.loads(resources_file.read_text())
        resources["snapshot_persistor"]["args"]["storage"]["args"]["root_dir"] = str(
            storage / "snapshot-storage"
        )
        for component in resources.get("components", []):
            if component.get("id") == "job_manager":
                component.setdefault("args", {})["uri_root"] = str(storage / "jobs-storage")
        resources_file.write_text(json.dumps(resources, indent=2) + "\n")

    @staticmethod
    def _allow_dfm_classes(resources_file: Path) -> None:
        if not resources_file.exists():
            raise RuntimeError(
                f"{resources_file} is missing: DfmSiteBuilder must come after StaticFileBuilder"
            )
        resources = json.loads(resources_file.read_text())
        allowed = resources.setdefault("class_allow_list", [])
        if not isinstance(allowed, list):
            raise RuntimeError(f"{resources_file}: class_allow_list is not a list")
        if PACKAGE_PREFIX not in allowed:
            allowed.append(PACKAGE_PREFIX)
        tmp = resources_file.with_name(resources_file.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(resources, indent=2) + "\n")
        os.replace(tmp, resources_file)
