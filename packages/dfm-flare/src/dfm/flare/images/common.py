"""What the docker, compose and helm generators share: roles, settings, merge patches, file output.

A *role* is one image of a FLARE deployment: the server (the federation's
controller), one client per DFM site, and the project admin (the user's
application). Each role installs exactly its own requirement set and carries
its own startup kit.

Nothing here writes a secret: registry credentials are environment variable
names (``$NAME``), site secrets are listed by variable name only, and startup
kits (which hold private keys) are never copied into generated folders: the
generated scripts stage them at build or deploy time.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from dfm.flare.layout import SERVER_NAME, SITE_DISTRIBUTIONS, admin_name, client_names
from dfm.kernel.config.models import Federation, FromSecrets
from dfm.kernel.errors import DfmError

__all__ = [
    "DEFAULT_BASE_IMAGE",
    "GENERATED_MARK",
    "ImageSettings",
    "Role",
    "docker_settings",
    "load_patch",
    "merge_patch",
    "roles",
    "write_files",
]

DEFAULT_BASE_IMAGE = "python:3.11-slim"
GENERATED_MARK = ".dfm-generated"  # lists the files a generator wrote into a folder (for --force)
APP_DISTRIBUTIONS = ("dfm-compiler", "dfm-cli")  # the application's image: core + these
ENGINES = ("docker", "podman", "buildah")
ARCHES = ("amd64", "arm64")
PATCH_KEYS = ("provision", "values", "compose")
_ENV_REF = re.compile(r"^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$")
_IMAGE_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class GenerateError(DfmError):
    """Bad generator settings or an output folder that must not be overwritten."""


# -- merge patches ---------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: mappings merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return patch
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def load_patch(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """A ``--patch`` file (YAML or JSON): a mapping with any of ``provision``, ``values``, ``compose``.

    - ``provision``: merged into the federation's ``provision`` settings (``docker:``, ``helm:``);
    - ``values``: merged into the Helm chart's ``values.yaml``;
    - ``compose``: merged into ``compose.yaml``.

    One patch file can serve all three generators; each applies the parts it knows.
    """
    if path is None:
        return {}
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise GenerateError(f"cannot read the patch file {file}: {exc.strerror}") from None
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise GenerateError(
            f"{file}: not valid {'JSON' if file.suffix == '.json' else 'YAML'}: {exc}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GenerateError(f"{file}: a patch is a mapping with keys {', '.join(PATCH_KEYS)}")
    unknown = sorted(set(data) - set(PATCH_KEYS))
    if unknown:
        raise GenerateError(
            f"{file}: unknown patch key(s) {', '.join(unknown)}; a patch has {', '.join(PATCH_KEYS)}"
        )
    for key, value in data.items():
        if value is not None and not isinstance(value, dict):
            raise GenerateError(f"{file}: '{key}' must be a mapping (a merge patch)")
    return data


def provision_section(federation: Federation, kind: str, patch: Mapping[str, Any]) -> dict[str, Any]:
    """``provision.<kind>`` of the config (``{}`` if absent), the patch's ``provision.<kind>`` merged in."""
    base: Any = getattr(federation.provision, kind, None) if federation.provision else None
    section = merge_patch(base or {}, (patch.get("provision") or {}).get(kind) or {})
    if not isinstance(section, dict):
        raise GenerateError(f"provision.{kind} must be a mapping")
    return section


# -- settings ---------------------------------------------------------------------------------


def env_name(value: Any, where: str) -> str:
    """The variable name of a ``$NAME`` / ``${NAME}`` reference; refuses anything else."""
    match = _ENV_REF.match(value) if isinstance(value, str) else None
    if match is None:
        raise GenerateError(
            f"{where} must name an environment variable ($NAME); a literal credential is never "
            "written into generated files"
        )
    return match[1] or match[2]


def _check_keys(section: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    if not isinstance(section, Mapping):
        raise GenerateError(f"{where} must be a mapping")
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise GenerateError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(allowed)})")


def _flag(section: Mapping[str, Any], where: str) -> bool:
    value = section.get("enabled", False)
    if not isinstance(value, bool):
        raise GenerateError(f"{where}.enabled must be true or false")
    return value


@attrs.frozen
class ImageSettings:
    """``provision.docker``, checked: image names, build engine and what to do with the images."""

    image: str
    tag: str
    dockerfile: str = "Dockerfile"  # file name of each role's Dockerfile
    dockerfile_dir: str | None = None  # default output folder (relative to the config's folder)
    context: str = "."  # build context, relative to the generated folder
    engine: str = "docker"
    arch: str | None = None
    save: str | None = None  # archive file name (one archive per role: NAME-<role>.tar)
    push_url: str | None = None  # registry/prefix the images are pushed to
    username: str | None = None  # a literal user name or None
    username_env: str | None = None
    password_env: str | None = None

    def image_name(self, role: Role, *, pushed: bool = False) -> str:
        """The image name of ``role``: ``<image>-<role>:<tag>``, under ``push_url`` when ``pushed`` and
        one is set.
        """
        name = f"{self.image}-{role.slug}:{self.tag}"
        return f"{self.push_url.rstrip('/')}/{name}" if pushed and self.push_url else name


def docker_settings(federation: Federation, patch: Mapping[str, Any] | None = None) -> ImageSettings:
    """Read ``provision.docker`` (with the patch's ``provision.docker``) into :class:`ImageSettings`."""
    where = "provision.docker"
    section = provision_section(federation, "docker", patch or {})
    _check_keys(section, ("image", "tag", "dockerfile", "build"), where)
    image = str(section.get("image") or re.sub(r"[^a-z0-9._-]+", "-", federation.name.lower()).strip("-._"))
    if not _IMAGE_RE.match(image):
        raise GenerateError(f"{where}.image {image!r} is not a valid image name (lowercase, [a-z0-9._-/])")
    tag = str(section.get("tag") or federation.info.api_version or "latest")
    if not _TAG_RE.match(tag):
        raise GenerateError(f"{where}.tag {tag!r} is not a valid image tag")
    dockerfile, dockerfile_dir = "Dockerfile", None
    spec = section.get("dockerfile")
    if isinstance(spec, str):
        dockerfile_dir, dockerfile = os.path.split(spec)
        dockerfile_dir = dockerfile_dir or None
    elif isinstance(spec, Mapping):
        _check_keys(spec, ("dir", "file"), f"{where}.dockerfile")
        dockerfile = str(spec.get("file") or "Dockerfile")
        dockerfile_dir = str(spec["dir"]) if spec.get("dir") else None
    elif spec is not None:
        raise GenerateError(f"{where}.dockerfile must be a path or {{dir, file}}")
    if "/" in dockerfile or dockerfile in ("", ".", ".."):
        raise GenerateError(f"{where}.dockerfile: file {dockerfile!r} must be a plain file name")
    build = section.get("build") or {}
    _check_keys(build, ("context", "engine", "arch", "save", "push"), f"{where}.build")
    engine = str(build.get("engine") or "docker")
    if engine not in ENGINES:
        raise GenerateError(f"{where}.build.engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    arch = build.get("arch")
    if arch is not None and arch not in ARCHES:
        raise GenerateError(f"{where}.build.arch must be one of {', '.join(ARCHES)}, not {arch!r}")
    save = None
    save_spec = build.get("save") or {}
    _check_keys(save_spec, ("enabled", "file"), f"{where}.build.save")
    if _flag(save_spec, f"{where}.build.save"):
        save = str(save_spec.get("file") or f"{image.rsplit('/', 1)[-1]}.tar")
        if "/" in save:
            raise GenerateError(f"{where}.build.save.file must be a file name")
    push_url = username = username_env = password_env = None
    push = build.get("push") or {}
    _check_keys(push, ("enabled", "registry"), f"{where}.build.push")
    if _flag(push, f"{where}.build.push"):
        registry = push.get("registry") or {}
        _check_keys(registry, ("url", "username", "password"), f"{where}.build.push.registry")
        push_url = registry.get("url")
        if not push_url or not isinstance(push_url, str):
            raise GenerateError(f"{where}.build.push.registry.url is required when push is enabled")
        push_url = re.sub(r"^[a-z]+://", "", push_url)
        user = registry.get("username")
        if isinstance(user, str) and user.startswith("$"):
            username_env = env_name(user, f"{where}.build.push.registry.username")
        elif user is not None:
            username = str(user)
        if registry.get("password") is not None:
            password_env = env_name(registry["password"], f"{where}.build.push.registry.password")
    return ImageSettings(
        image=image,
        tag=tag,
        dockerfile=dockerfile,
        dockerfile_dir=dockerfile_dir,
        context=str(build.get("context") or "."),
        engine=engine,
        arch=arch,
        save=save,
        push_url=push_url,
        username=username,
        username_env=username_env,
        password_env=password_env,
    )


# -- roles ------------------------------------------------------------------------------------


@attrs.frozen
class Role:
    """One image of the deployment."""

    slug: str  # folder name and image-name suffix (lowercase)
    kind: str  # "server" | "client" | "admin"
    participant: str  # the FLARE participant, i.e. the kit's folder name in prod_NN
    site: str | None = None  # the DFM site of a client
    requirements: tuple[str, ...] = ()
    secret_env: tuple[str, ...] = ()  # environment variable names the site's vault reads
    secret_files: tuple[str, ...] = ()  # secrets files (relative to the config) the site's vault reads


def site_secret_env(federation: Federation, site: str) -> tuple[list[str], list[str]]:
    """(environment variable names, secrets files) a site's vault reads for its ``from-secrets`` bindings.

    A custom ``secrets_vault`` class reads from wherever it likes: nothing is listed for it.
    """
    from dfm.runner.spi import DEFAULT_ENV_PREFIX

    spec = federation.sites[site]
    keys: set[str] = set()
    entries = list(spec.interface.values())
    for provider in spec.providers.values():
        entries.extend(provider.interface.values())
    for entry in entries:
        if isinstance(entry.args, Mapping):
            keys.update(b.from_secrets for b in entry.args.values() if isinstance(b, FromSecrets))
    if not keys or spec.secrets_vault is not None:
        return [], []
    secrets = spec.secrets
    files = [secrets.file] if secrets.file else []
    if secrets.env_prefix is None and secrets.file is None:
        return sorted(DEFAULT_ENV_PREFIX + k.upper() for k in keys), []
    if secrets.env_prefix is None:
        return [], files
    norm = sorted(secrets.env_prefix + k.upper().replace("-", "_").replace(".", "_") for k in keys)
    return norm, files


def roles(federation: Federation, config_path: Path) -> list[Role]:
    """The deployment's roles: server, one client per site (config order), the admin (application)."""
    from dfm.flare.provision import pinned_requirements, site_requirements
    from dfm.kernel.plugins import get_plugin_manager

    manager = get_plugin_manager()
    out = [
        Role(
            SERVER_NAME,
            "server",
            SERVER_NAME,
            requirements=tuple(pinned_requirements(federation, SITE_DISTRIBUTIONS)),
        )
    ]
    seen = {SERVER_NAME: SERVER_NAME, "admin": "the admin"}
    for site, client in client_names(federation).items():
        slug = re.sub(r"[^a-z0-9-]+", "-", client.lower()).strip("-") or "site"
        if slug in seen:
            raise GenerateError(
                f"site '{site}' and {seen[slug]} would share the image and folder name '{slug}'"
            )
        seen[slug] = f"site '{site}'"
        env, files = site_secret_env(federation, site)
        out.append(
            Role(
                slug,
                "client",
                client,
                site=site,
                requirements=tuple(site_requirements(federation, config_path, site, manager)),
                secret_env=tuple(env),
                secret_files=tuple(files),
            )
        )
    app = [*SITE_DISTRIBUTIONS, *APP_DISTRIBUTIONS]
    out.append(
        Role(
            "admin", "admin", admin_name(federation), requirements=tuple(pinned_requirements(federation, app))
        )
    )
    return out


# -- output -----------------------------------------------------------------------------------


def dump_yaml(data: Any) -> str:
    """``data`` as block-style YAML, keys in their order."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)


def write_files(
    out_dir: Path, files: Mapping[str, str | bytes], *, force: bool, executable: tuple[str, ...] = ()
) -> list[Path]:
    """Write ``files`` (relative path -> text or bytes) under ``out_dir`` and return their paths, sorted.

    Refuses to overwrite an existing file unless ``force``; with ``force``, the files a
    previous run wrote (listed in ``.dfm-generated``) that this run no longer writes are
    removed. Files the generator did not write are never touched.
    """
    out_dir = Path(out_dir)
    for rel in files:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise GenerateError(f"refusing to write {rel!r} outside {out_dir}")
    existing = sorted(rel for rel in files if (out_dir / rel).exists())
    if existing and not force:
        shown = ", ".join(existing[:3]) + (" ..." if len(existing) > 3 else "")
        raise GenerateError(f"{out_dir} already holds generated files ({shown}); use --force to replace them")
    mark = out_dir / GENERATED_MARK
    if force and mark.is_file():
        for rel in mark.read_text().split("\n"):
            rel = rel.strip()
            if not rel or rel in files or Path(rel).is_absolute() or ".." in Path(rel).parts:
                continue
            stale = out_dir / rel
            if stale.is_file() and not stale.is_symlink():
                stale.unlink()
    written = []
    for rel, text in sorted(files.items()):
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        path.chmod(0o755 if rel in executable else 0o644)
        written.append(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    mark.write_text("".join(f"{rel}\n" for rel in sorted(files)))
    return written


def header(federation: Federation, command: str, comment: str = "#") -> str:
    """The comment at the top of a generated file: what generated it, from which federation, and not to
    edit it.
    """
    return (
        f"{comment} Generated by dfm-flare ('dfm fed gen {command} {federation.name}') from federation "
        f"{federation.name} {federation.info.api_version}.\n{comment} Regenerate instead of editing; "
        "adjust with --patch (docs: Deploying, Docker / Compose / Helm).\n"
    )


def relative_to(path: str | os.PathLike[str], base: Path) -> str:
    """``path`` relative to ``base`` when both are on one tree, else absolute (for generated scripts)."""
    target = Path(path).resolve()
    try:
        return os.path.relpath(target, base.resolve())
    except ValueError:
        return str(target)
