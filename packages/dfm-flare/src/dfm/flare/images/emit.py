"""The ``docker``, ``compose`` and ``helm`` federation emitters (``dfm fed gen docker|compose|helm``).

dfm-flare registers them in the ``dfm_emitters`` registry (:mod:`dfm.flare.plugin`,
whose records name their command-line options), so ``dfm fed gen`` lists and runs
them like any other federation emitter. The command line hands options over as
strings (``--port 8443``, ``--patch FILE``); these functions turn them into what
:mod:`dfm.flare.images` takes, and report bad values as one-line errors
(:class:`~dfm.flare.images.common.GenerateError`).
From Python, ``patch`` may also be an already loaded patch mapping.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dfm.flare.images.common import GenerateError, docker_settings, load_patch
from dfm.flare.layout import FL_PORT
from dfm.kernel.config.models import Federation

__all__ = ["emit_compose", "emit_docker", "emit_helm"]

PathArg = str | os.PathLike[str] | None


def _patch(patch: Mapping[str, Any] | PathArg) -> dict[str, Any]:
    if isinstance(patch, Mapping):
        return dict(patch)
    return load_patch(patch)


def _port(value: int | str | None) -> int:
    if value is None:
        return FL_PORT
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise GenerateError(f"--port must be a port number from 1 to 65535, not {str(value)[:40]!r}")
    return port


def _output(output_dir: PathArg, out: PathArg, configured: str | None, config: Path, default: str) -> Path:
    """--output-dir (or its older name --out), else the folder the provision settings name (relative to
    the config), else ./DEFAULT."""
    if output_dir is not None and out is not None and Path(output_dir) != Path(out):
        raise GenerateError("give --output-dir or --out, not both")
    chosen = output_dir if output_dir is not None else out
    if chosen is not None:
        return Path(chosen)
    if configured:
        return config.parent / configured
    return Path.cwd() / default


def emit_docker(
    federation: Federation,
    *,
    config_path: str | os.PathLike[str],
    output_dir: PathArg = None,
    force: bool = False,
    patch: Mapping[str, Any] | PathArg = None,
    out: PathArg = None,
    base_image: str | None = None,
    kits: PathArg = None,
    wheelhouse: PathArg = None,
) -> list[Path]:
    """A Dockerfile per role and ``build.sh`` (:func:`dfm.flare.images.docker.generate_docker`)."""
    from dfm.flare.images.docker import generate_docker

    config = Path(config_path).resolve()
    loaded = _patch(patch)
    where = _output(
        output_dir,
        out,
        docker_settings(federation, loaded).dockerfile_dir,
        config,
        f"{federation.name}-docker",
    )
    return generate_docker(
        federation,
        config_path=config,
        output_dir=where,
        force=force,
        patch=loaded,
        base_image=base_image,
        kits=Path(kits) if kits is not None else None,
        wheelhouse=Path(wheelhouse) if wheelhouse is not None else None,
    )


def emit_compose(
    federation: Federation,
    *,
    config_path: str | os.PathLike[str],
    output_dir: PathArg = None,
    force: bool = False,
    patch: Mapping[str, Any] | PathArg = None,
    out: PathArg = None,
    server_host: str | None = None,
    port: int | str | None = None,
) -> list[Path]:
    """``compose.yaml`` (:func:`dfm.flare.images.compose.generate_compose`)."""
    from dfm.flare.images.compose import generate_compose

    config = Path(config_path).resolve()
    where = _output(output_dir, out, None, config, f"{federation.name}-compose")
    return generate_compose(
        federation,
        config_path=config,
        output_dir=where,
        force=force,
        patch=_patch(patch),
        server_host=server_host or "server",
        port=_port(port),
    )


def emit_helm(
    federation: Federation,
    *,
    config_path: str | os.PathLike[str],
    output_dir: PathArg = None,
    force: bool = False,
    patch: Mapping[str, Any] | PathArg = None,
    out: PathArg = None,
    server_host: str | None = None,
    port: int | str | None = None,
    kits: PathArg = None,
) -> list[Path]:
    """A Helm chart and ``deploy.sh`` (:func:`dfm.flare.images.helm.generate_helm`)."""
    from dfm.flare.images.helm import generate_helm, helm_settings

    config = Path(config_path).resolve()
    loaded = _patch(patch)
    where = _output(
        output_dir, out, helm_settings(federation, loaded)["path"], config, f"{federation.name}-helm"
    )
    return generate_helm(
        federation,
        config_path=config,
        output_dir=where,
        force=force,
        patch=loaded,
        server_host=server_host or "server",
        port=_port(port),
        kits=Path(kits) if kits is not None else None,
    )
