"""The FLARE job of a DFM session: a controller on the server and an executor per site."""

from __future__ import annotations

import os
from typing import Any

from dfm.flare.controller import DfmController
from dfm.flare.executor import DfmExecutor


def export_session_job(
    out_dir: str,
    name: str,
    sites: dict[str, str],
    *,
    controller: dict[str, Any],
    executor: dict[str, Any],
) -> str:
    """Write a DFM session's FLARE job into ``out_dir``; return its folder.

    One :class:`DfmController` on the server and one :class:`DfmExecutor` per
    site (``sites``: DFM site -> FLARE client), with these keyword arguments.
    The job carries no code: the components come from the sites' installs.
    """
    from nvflare.job_config.api import FedJob

    name = name[:60]
    job = FedJob(name=name, min_clients=len(sites), mandatory_clients=list(sites.values()))
    job.set_app_packages(["dfm"])  # not BYOC
    job.to_server(DfmController(sites, **controller))
    for site, client in sites.items():
        job.to(DfmExecutor(site, sites, **executor), client, tasks=["dfm.*"])
    job.export_job(out_dir)
    return os.path.join(out_dir, name)
