"""``dfm fed gen docker``: one Dockerfile per role and a build script.

Output folder (the build context)::

    build.sh                      stage kits and wheels, build, save, push
    .dockerignore
    server/Dockerfile             + requirements.txt  (FLARE server: the controller)
    <client>/Dockerfile           + requirements.txt  (one FLARE client per DFM site)
    admin/Dockerfile              + requirements.txt  (the project admin: the user's application)
    admin/federation/             the federation config and its local adapter code

Each image installs its role's requirement set, and nothing else, into a
virtual environment with ``pip install --no-index --find-links`` from a
wheelhouse staged into the context (``wheels/``): no index is consulted
inside the build. A second stage copies only that environment, then the
role's startup kit (staged as ``kits/<role>/`` by ``build.sh`` and removed
again after the build: the generated folder never holds a private key), and
runs as the unprivileged user ``dfm`` (uid 10001). The server and client
images start FLARE from the kit; the admin image runs ``dfm``.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from dfm.flare.builder import copy_site_code
from dfm.flare.images.common import (
    DEFAULT_BASE_IMAGE,
    GenerateError,
    ImageSettings,
    Role,
    docker_settings,
    header,
    relative_to,
    roles,
    write_files,
)
from dfm.flare.layout import FL_PORT, ORG, SITE_DIR
from dfm.kernel.config.models import Federation

__all__ = ["KIT_DIR", "USER_ID", "dockerfile", "generate_docker", "secrets_file_mount"]

KIT_DIR = "/opt/dfm/kit"
VENV = "/opt/dfm/venv"
APP_DIR = "/opt/dfm/federation"
USER_ID = 10001


def entrypoint(role: Role) -> list[str]:
    """The command an image starts with (FLARE from the kit, or ``dfm`` for the admin)."""
    secure = ["secure_train=true", f"org={ORG}", "config_folder=config"]
    if role.kind == "server":
        module, conf, extra = "nvflare.private.fed.app.server.server_train", "fed_server.json", []
    elif role.kind == "client":
        module, conf, extra = (
            "nvflare.private.fed.app.client.client_train",
            "fed_client.json",
            [f"uid={role.participant}"],
        )
    else:
        return ["dfm"]
    return ["python3", "-u", "-m", module, "-m", KIT_DIR, "-s", conf, "--set", secure[0], *extra, *secure[1:]]


def secrets_file_mount(role: Role) -> tuple[str, str] | None:
    """(file name, path in the container) of a site's secrets file, or None when it reads none.

    The site's vault reads ``secrets.file`` relative to the config copy in its kit
    (``KIT_DIR/local/custom/dfm/``) and only inside that folder, so the file is
    mounted exactly there at run time (a Compose secret, a Kubernetes Secret):
    images, kits and generated files never hold it.
    """
    if not role.secret_files:
        return None
    rel = PurePosixPath(role.secret_files[0].replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or rel.name in ("", "."):
        raise GenerateError(
            f"site '{role.site}': secrets.file {role.secret_files[0]!r} must be a relative path inside the "
            "federation folder (the site's vault reads nothing else)"
        )
    return rel.name, f"{KIT_DIR}/local/custom/{SITE_DIR}/{rel.as_posix()}"


def _json_list(items: list[str]) -> str:
    import json

    return json.dumps(items)


def dockerfile(federation: Federation, role: Role, settings: ImageSettings, base_image: str) -> str:
    """The Dockerfile of one role (build context: the generated folder)."""
    lines = [
        header(federation, "docker").rstrip("\n"),
        f"# Role: {role.kind} {role.participant}" + (f" (site {role.site})" if role.site else ""),
        "# Build with ./build.sh, which stages wheels/ and kits/ into the context first.",
        f"ARG BASE_IMAGE={base_image}",
        "",
        "FROM ${BASE_IMAGE} AS install",
        "COPY wheels/ /tmp/wheels/",
        f"COPY {role.slug}/requirements.txt /tmp/requirements.txt",
        f"RUN python3 -m venv {VENV} \\",
        f"    && {VENV}/bin/python -m pip install --no-index --no-cache-dir --disable-pip-version-check \\",
        "        --find-links /tmp/wheels -r /tmp/requirements.txt",
        "",
        "FROM ${BASE_IMAGE}",
        f'LABEL org.opencontainers.image.title="{settings.image}-{role.slug}" \\',
        f'      org.opencontainers.image.version="{settings.tag}" \\',
        f'      io.dfm.federation="{federation.name}" io.dfm.role="{role.kind}" \\',
        f'      io.dfm.participant="{role.participant}"',
        f"RUN useradd --uid {USER_ID} --user-group --home-dir /home/dfm --create-home \\",
        "    --shell /usr/sbin/nologin dfm",
        f"COPY --from=install {VENV} {VENV}",
        f"COPY --chown={USER_ID}:{USER_ID} kits/{role.slug}/ {KIT_DIR}/",
    ]
    if role.kind == "admin":
        lines.append(f"COPY --chown={USER_ID}:{USER_ID} admin/federation/ {APP_DIR}/")
    lines += [
        f"ENV PATH={VENV}/bin:/usr/local/bin:/usr/bin:/bin \\",
        "    HOME=/home/dfm \\",
        "    PYTHONUNBUFFERED=1 \\",
        f"    DFM_FLARE_KIT={KIT_DIR}",
        f"USER {USER_ID}:{USER_ID}",
        f"WORKDIR {KIT_DIR if role.kind != 'admin' else APP_DIR}",
    ]
    if role.kind == "server":
        lines.append(f"EXPOSE {FL_PORT}")
    if role.secret_env:
        lines.append("# Site secrets are read from these environment variables (give them at run time):")
        lines.append("#   " + " ".join(role.secret_env))
    mount = secrets_file_mount(role)
    if mount:
        lines.append(
            "# The site's secrets file is mounted at run time (compose secret, Kubernetes Secret) at:"
        )
        lines.append(f"#   {mount[1]}")
    lines.append(f"ENTRYPOINT {_json_list(entrypoint(role))}")
    if role.kind == "admin":
        lines.append('CMD ["--help"]')
    return "\n".join(lines) + "\n"


def _build_script(
    federation: Federation,
    all_roles: list[Role],
    settings: ImageSettings,
    kits: str,
    wheelhouse: str,
    base_image: str,
) -> str:
    q = shlex.quote
    role_table = " ".join(f"{r.slug}={r.participant}" for r in all_roles)
    images = {r.slug: settings.image_name(r) for r in all_roles}
    image_case = "\n".join(f"    {r.slug}) echo {q(images[r.slug])} ;;" for r in all_roles)
    pushed_case = "\n".join(
        f"    {r.slug}) echo {q(settings.image_name(r, pushed=True))} ;;" for r in all_roles
    )
    login = ""
    if settings.push_url:
        registry_host = settings.push_url.split("/", 1)[0]
        if settings.username_env:
            name = settings.username_env
            user_line = f'  user="${{{name}:?set {name} to the registry user name}}"'
        elif settings.username:
            user_line = f"  user={q(settings.username)}"
        else:
            user_line = ""
        if settings.password_env and user_line:
            login = (
                f"{user_line}\n"
                f'  printf %s "${{{settings.password_env}:?set {settings.password_env} to the registry password}}" \\\n'  # noqa: E501
                f'    | "$ENGINE" login --username "$user" --password-stdin {q(registry_host)} >&2\n'
            )
    save_block = ""
    if settings.save:
        stem = settings.save[:-4] if settings.save.endswith(".tar") else settings.save
        save_block = f"""  archive="$OUT/{stem}-$role.tar"
  rm -f "$archive"
  step "saving $image to $archive"
  if [ "$ENGINE" = buildah ]; then
    quietly buildah push "$image" "docker-archive:$archive:$image"
  else
    quietly "$ENGINE" save -o "$archive" "$image"
  fi
  done_lines+=("saved $archive")
"""
    push_block = ""
    if settings.push_url:
        push_block = """  remote=$(remote_of "$role")
  step "pushing $remote"
  quietly "$ENGINE" tag "$image" "$remote"
  quietly "$ENGINE" push "$remote"
  done_lines+=("pushed $remote")
"""
    platform = f"linux/{settings.arch}" if settings.arch else ""
    login_block = (
        f'if true; then  # registry login\n  step "logging in to the registry"\n{login}fi\n' if login else ""
    )
    per_role = 2 + bool(settings.save) + bool(settings.push_url)
    login_step = " + 1" if login else ""
    return f"""#!/usr/bin/env bash
{header(federation, "docker")}#
# Usage: ./build.sh [ROLE ...]       (roles: {" ".join(r.slug for r in all_roles)}; default: all)
#
# Environment (each has a default written at generation time):
#   DFM_KITS         the provisioned kits: a prod_NN folder, or the folder 'dfm fed gen provision' wrote
#   DFM_WHEELHOUSE   a wheelhouse (python3 dev/nox.py -s build writes dist/); third-party wheels are
#                    downloaded into it from the package index unless DFM_OFFLINE=1
#   DFM_BASE_IMAGE   the base image (a Python image with python3 and its venv module)
#   DFM_ENGINE       docker | podman | buildah (buildah reads BUILDAH_ISOLATION, e.g. chroot)
#   DFM_ARCH         amd64 | arm64 (empty: the engine's own)
#   DFM_PIP_ARGS     more 'pip download' arguments (e.g. --platform/--python-version for another Python)
#   DFM_VERBOSE      1: show pip's and the engine's output even when stderr is not a terminal
# Registry credentials are read from the environment only, never written here.
# Progress: one line per step on stderr ("build: [3/6] building IMAGE"). Off a terminal, pip's and the
# engine's output go to a log that is shown only when its step fails.
set -euo pipefail

HERE=$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)
cd "$HERE"
ENGINE=${{DFM_ENGINE:-{settings.engine}}}
ARCH=${{DFM_ARCH-{settings.arch or ""}}}
BASE_IMAGE=${{DFM_BASE_IMAGE:-{base_image}}}
KITS=${{DFM_KITS:-{kits}}}
WHEELHOUSE=${{DFM_WHEELHOUSE:-{wheelhouse}}}
CONTEXT=$(cd "$HERE/{settings.context}" && pwd)
OUT=${{DFM_OUT:-$HERE}}
PYTHON=${{PYTHON:-python3}}
ROLES="{role_table}"
PLATFORM={q(platform)}
[ -n "$ARCH" ] && PLATFORM="linux/$ARCH"

image_of() {{
  case "$1" in
{image_case}
  esac
}}
remote_of() {{
  case "$1" in
{pushed_case}
  esac
}}
participant_of() {{
  local pair
  for pair in $ROLES; do
    if [ "${{pair%%=*}}" = "$1" ]; then echo "${{pair#*=}}"; return; fi
  done
  echo "unknown role '$1' (roles: $(for p in $ROLES; do printf '%s ' "${{p%%=*}}"; done))" >&2
  exit 2
}}

all_roles=$(for p in $ROLES; do printf '%s ' "${{p%%=*}}"; done)
if [ "$#" -gt 0 ]; then selected="$*"; else selected=$all_roles; fi

if [ -t 2 ] || [ "${{DFM_VERBOSE:-0}}" = 1 ]; then VERBOSE=1; else VERBOSE=0; fi
set -- $selected
STEPS=$(($# * {per_role}{login_step}))
STEP=0
done_lines=()
step() {{ STEP=$((STEP + 1)); echo "build: [$STEP/$STEPS] $*" >&2; }}
quietly() {{  # run a command; off a terminal its output is kept and shown only if it fails
  if [ "$VERBOSE" = 1 ]; then "$@"; return; fi
  if ! "$@" > "$LOG" 2>&1; then
    tail -n 60 "$LOG" >&2
    echo "build: step $STEP failed: $1 ${{2-}} ... (its last output is above)" >&2
    return 1
  fi
}}

# The kits: a prod_NN folder, or a provisioning folder (its dfm-flare.json names the prod_NN folder).
if [ -f "$KITS/dfm-flare.json" ]; then
  KITS=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["prod_dir"])' \\
    "$KITS/dfm-flare.json")
fi
for role in $selected; do
  kit="$KITS/$(participant_of "$role")"
  if [ ! -d "$kit/startup" ]; then
    echo "no startup kit for role $role at $kit" \\
      "(run 'dfm fed gen provision {federation.name}' and set DFM_KITS)" >&2
    exit 1
  fi
done

# Stage the kits (private keys: removed again on exit) and the wheels into the context.
LOG=$(mktemp)  # the output of the current step, off a terminal
cleanup() {{ rm -rf "$CONTEXT/kits"; rm -f "$LOG"; }}
trap cleanup EXIT
rm -rf "$CONTEXT/kits"
mkdir -p "$CONTEXT/kits" "$CONTEXT/wheels"
offline=()
[ "${{DFM_OFFLINE:-0}}" = 1 ] && offline=(--no-index)
for role in $selected; do
  step "staging the kit and the wheels of $role"
  cp -a "$KITS/$(participant_of "$role")" "$CONTEXT/kits/$role"
  # wheels of exactly this role's requirement set and what it depends on, preferring the wheelhouse
  # (a dependency published only as an sdist is built into a wheel here, so images never build)
  quietly "$PYTHON" -m pip wheel --quiet --disable-pip-version-check "${{offline[@]}}" ${{DFM_PIP_ARGS:-}} \\
    --find-links "$WHEELHOUSE" --find-links "$CONTEXT/wheels" --wheel-dir "$CONTEXT/wheels" \\
    -r "$HERE/$role/requirements.txt"
done

{login_block}for role in $selected; do
  image=$(image_of "$role")
  args=(build --build-arg "BASE_IMAGE=$BASE_IMAGE" -f "$HERE/$role/{settings.dockerfile}" -t "$image")
  [ -n "$PLATFORM" ] && args+=(--platform "$PLATFORM")
  step "building $image"
  quietly "$ENGINE" "${{args[@]}}" "$CONTEXT"
  done_lines+=("built $image")
{save_block}{push_block}done
printf '%s\\n' "${{done_lines[@]}}"
"""


DOCKERIGNORE = (
    "# Generated by dfm-flare: only what the Dockerfiles copy\n"
    "*\n!wheels/\n!kits/\n!*/requirements.txt\n!admin/federation/\n"
)


def generate_docker(
    federation: Federation,
    *,
    config_path: str | Path,
    output_dir: str | Path,
    force: bool = False,
    patch: Mapping[str, Any] | None = None,
    base_image: str | None = None,
    kits: str | Path | None = None,
    wheelhouse: str | Path | None = None,
) -> list[Path]:
    """Write the Dockerfiles and ``build.sh`` of every role into ``output_dir``; return the files.

    ``kits`` (default ``./<name>-flare``, where ``dfm fed gen provision`` writes) and
    ``wheelhouse`` (default ``./dist``) become ``build.sh``'s defaults, relative to
    ``output_dir``; ``patch`` is a loaded ``--patch`` (its ``provision.docker`` applies).
    """
    config_path = Path(config_path).resolve()
    out = Path(output_dir)
    settings = docker_settings(federation, patch)
    base = base_image or DEFAULT_BASE_IMAGE
    all_roles = roles(federation, config_path)
    files: dict[str, str | bytes] = {}
    for role in all_roles:
        files[f"{role.slug}/{settings.dockerfile}"] = dockerfile(federation, role, settings, base)
        files[f"{role.slug}/requirements.txt"] = "".join(f"{line}\n" for line in role.requirements)
    files[".dockerignore"] = DOCKERIGNORE
    kits_rel = relative_to(kits if kits is not None else Path.cwd() / f"{federation.name}-flare", out)
    wheels_rel = relative_to(wheelhouse if wheelhouse is not None else Path.cwd() / "dist", out)
    files["build.sh"] = _build_script(federation, all_roles, settings, kits_rel, wheels_rel, base)
    # the application's image carries the federation config and its local adapter code (no secrets)
    staging = out / ".dfm-staging"
    local: set[str] = set()
    from dfm.flare.provision import site_local_code
    from dfm.kernel.plugins import get_plugin_manager

    manager = get_plugin_manager()
    for site in federation.sites:
        local.update(site_local_code(federation, config_path, site, manager))
    import shutil

    try:
        copy_site_code(config_path, staging, sorted(local))
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            rel = path.relative_to(staging).as_posix()
            files[f"admin/federation/{rel}"] = path.read_bytes()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return write_files(out, files, force=force, executable=("build.sh",))
