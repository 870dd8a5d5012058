"""Images from ``dfm fed gen docker``, built for real with buildah and started with ``buildah run``.

Run by the ``containers`` nox session (root, Debian's buildah, a debootstrap base image
and a wheelhouse it prepares); skipped elsewhere. OCI runtimes cannot run containers
on this kind of machine (setrlimit, cgroups), so each image's entrypoint is started
with ``buildah run --isolation chroot``, which shares the host's network: the client's
FLARE process reaches the server's over loopback, with the kits' mTLS.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import EXAMPLEFED

BASE = os.environ.get("DFM_CONTAINER_BASE")
WHEELHOUSE = os.environ.get("DFM_CONTAINER_WHEELHOUSE")

pytestmark = [
    pytest.mark.skipif(
        not (BASE and WHEELHOUSE and shutil.which("buildah")),
        reason="builds images with buildah: run 'python3 dev/nox.py -s containers'",
    )
]


def _buildah(*args: str, check: bool = True) -> str:
    done = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"buildah {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = path.read_text(errors="replace") if path.exists() else ""
        if text in log:
            return log
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    log = path.read_text(errors="replace") if path.exists() else "(no log)"
    raise AssertionError(f"{text!r} not seen in {path.name} within {timeout:g} s:\n{log[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_server_and_site_images_build_and_start_flare(tmp_path):
    from dfm.flare.images.common import docker_settings
    from dfm.flare.images.docker import generate_docker
    from dfm.flare.poc import free_port
    from dfm.flare.provision import provision
    from dfm.kernel.config import load_config

    federation = load_config(EXAMPLEFED)
    port = free_port()
    state = provision(EXAMPLEFED, tmp_path / "kits", port=port, host="localhost")
    out = tmp_path / "docker"
    generate_docker(
        federation,
        config_path=EXAMPLEFED,
        output_dir=out,
        base_image=BASE,
        kits=tmp_path / "kits",
        wheelhouse=WHEELHOUSE,
    )
    tag = docker_settings(federation).tag
    images = {role: f"localhost/examplefed-{role}:{tag}" for role in ("server", "concierge")}
    env = {
        **os.environ,
        "DFM_ENGINE": "buildah",
        "BUILDAH_ISOLATION": "chroot",
        "DFM_OFFLINE": "1",  # everything from the wheelhouse: no index, here or in the builds
        "PYTHON": sys.executable,
    }
    containers: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        build = subprocess.run(
            [str(out / "build.sh"), "server", "concierge"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        # off a terminal: one line per step, the engine's output only on failure
        names = [image.removeprefix("localhost/") for image in images.values()]  # as build.sh names them
        assert build.stderr.splitlines() == [
            "build: [1/4] staging the kit and the wheels of server",
            "build: [2/4] staging the kit and the wheels of concierge",
            f"build: [3/4] building {names[0]}",
            f"build: [4/4] building {names[1]}",
        ]
        assert build.stdout.splitlines() == [f"built {name}" for name in names]
        print("\n" + build.stderr, end="")
        assert not (out / "kits").exists(), "build.sh must remove the staged kits (private keys)"
        for role, image in images.items():
            config = json.loads(_buildah("inspect", image))["OCIv1"]["config"]
            assert config["User"] == "10001:10001"  # not root
            containers.append(_buildah("from", "--name", f"dfm-test-{role}-{port}", image).strip())
        server, client = containers
        # exactly the site's requirement set: the core distributions, no CLI, no compiler extras
        listed = _buildah("run", client, "--", "python3", "-m", "pip", "list", "--format", "json")
        names = {d["name"].lower() for d in json.loads(listed)}
        assert {"dfm-kernel", "dfm-runner", "dfm-flare", "nvflare"} <= names
        assert "dfm-cli" not in names and "dfm-adapter-sql" not in names
        assert _buildah("run", client, "--", "id", "-u").strip() == "10001"
        # start FLARE with each image's own entrypoint
        for container, image, name in (
            (server, images["server"], "server"),
            (client, images["concierge"], "concierge"),
        ):
            entrypoint = json.loads(_buildah("inspect", image))["OCIv1"]["config"]["Entrypoint"]
            with open(tmp_path / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
                procs.append(
                    subprocess.Popen(
                        ["buildah", "run", container, "--", *entrypoint],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
            if name == "server":
                _wait_for(tmp_path / "server.log", "is starting", procs[0], 120)
        _wait_for(tmp_path / "server.log", "client concierge registered", procs[0], 120)
        client_log = _wait_for(
            tmp_path / "concierge.log", "Successfully registered client:concierge", procs[1], 30
        )
        assert "verified server identity 'server'" in client_log  # mTLS with the kit's certificates
        assert state.sites["concierge"] == "concierge"
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for container in containers:
            _buildah("rm", container, check=False)
        for image in images.values():
            _buildah("rmi", image, check=False)
