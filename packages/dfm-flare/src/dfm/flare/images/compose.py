"""``dfm fed gen compose``: a Compose file running the server and every site's client (N sites).

The services use the images ``dfm fed gen docker`` builds (startup kits inside),
on one network where the server answers to the host name the kits were
provisioned with (``dfm fed gen provision NAME --host server``). Site secrets
never enter the file: variables are listed by name (Compose takes their
values from the environment of ``docker compose up``), and a site's secrets
file (``secrets.file``) is a Compose secret read from ``secrets/<role>/`` beside
``compose.yaml`` and mounted where the site's vault reads it. The admin (application) service is in
the ``app`` profile, so ``up`` starts only the FLARE system.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dfm.flare.images.common import (
    GenerateError,
    docker_settings,
    dump_yaml,
    header,
    merge_patch,
    roles,
    write_files,
)
from dfm.flare.images.docker import secrets_file_mount
from dfm.flare.layout import FL_PORT
from dfm.kernel.config.models import Federation

__all__ = ["compose_document", "generate_compose"]


def compose_document(
    federation: Federation,
    config_path: Path,
    *,
    patch: Mapping[str, Any] | None = None,
    server_host: str = "server",
    port: int = FL_PORT,
) -> dict[str, Any]:
    """The Compose file's content (before ``patch['compose']``, which :func:`generate_compose` applies)."""
    settings = docker_settings(federation, patch)
    pushed = settings.push_url is not None
    project = "".join(c if c.isalnum() or c in "-_" else "-" for c in federation.name.lower()).strip("-_")
    services: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for role in roles(federation, config_path):
        service: dict[str, Any] = {"image": settings.image_name(role, pushed=pushed)}
        if role.kind == "server":
            service["hostname"] = server_host.split(".")[0]
            service["networks"] = {"dfm": {"aliases": [server_host]}}
            service["ports"] = [f"{port}:{port}"]
            service["restart"] = "unless-stopped"
        else:
            service["depends_on"] = ["server"]
            service["networks"] = ["dfm"]
            if role.kind == "client":
                service["restart"] = "unless-stopped"
                if role.secret_env:
                    service["environment"] = list(role.secret_env)  # names only: values from the shell
                mount = secrets_file_mount(role)
                if mount:
                    name = f"{role.slug}-secrets"
                    secrets[name] = {"file": f"./secrets/{role.slug}/{mount[0]}"}
                    service["secrets"] = [{"source": name, "target": mount[1]}]
            else:
                service["profiles"] = ["app"]
        service["labels"] = {"io.dfm.federation": federation.name, "io.dfm.role": role.kind}
        if role.site:
            service["labels"]["io.dfm.site"] = role.site
        services[role.slug] = service
    document: dict[str, Any] = {"name": project or "dfm", "services": services, "networks": {"dfm": {}}}
    if secrets:
        document["secrets"] = secrets
    return document


def generate_compose(
    federation: Federation,
    *,
    config_path: str | Path,
    output_dir: str | Path,
    force: bool = False,
    patch: Mapping[str, Any] | None = None,
    server_host: str = "server",
    port: int = FL_PORT,
) -> list[Path]:
    """Write ``compose.yaml`` (with ``patch['compose']`` merged in) into ``output_dir``."""
    patch = patch or {}
    document = compose_document(
        federation, Path(config_path).resolve(), patch=patch, server_host=server_host, port=port
    )
    document = merge_patch(document, patch.get("compose") or {})
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        raise GenerateError("the compose patch left no 'services' mapping")
    text = header(federation, "compose") + dump_yaml(document)
    return write_files(Path(output_dir), {"compose.yaml": text}, force=force)
