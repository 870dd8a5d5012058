"""Hosts made of Linux network namespaces, for the multi-host FLARE test and benchmark.

Standard library only; needs root and ``ip`` (iproute2). One :class:`Lan` is a
switch namespace holding a bridge, and one namespace per host, joined to the
bridge by a veth pair; each host gets ``eth0`` with a 10.x.y.z/24 address (inside
its namespace only: the root namespace gets no address and no route) and its own
``/etc/netns/<ns>/hosts`` (``ip netns exec`` bind-mounts it over ``/etc/hosts``),
so every host resolves the others by name and nothing goes over loopback
between hosts. :meth:`Lan.teardown` kills every process in the namespaces
(``ip netns pids``), deletes them and their ``/etc/netns`` folders, and says
what, if anything, it could not remove.

    lan = Lan("dfmt", ["server", "org-a", "app"], names={"server": ["flare.example"]})
    lan.create()
    try:
        lan.popen("org-a", ["python3", "-c", "..."])
        lan.cut("org-a"); lan.restore("org-a")
    finally:
        problems = lan.teardown()
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["Lan", "install_venv", "machine_env", "unavailable", "uv_executable"]

NETNS_ETC = Path("/etc/netns")


def unavailable() -> str | None:
    """Why namespaces cannot be made here (None when they can)."""
    if os.name != "posix" or not Path("/proc/self/ns/net").exists():
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    probe = f"dfmprobe{os.getpid() % 100000}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip() or made.returncode}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


class Lan:
    """A switch and one namespace per host; ``names`` adds host names resolving to a host."""

    def __init__(
        self,
        tag: str,
        hosts: Sequence[str],
        names: Mapping[str, Sequence[str]] | None = None,
        local_names: Sequence[str] = (),
    ):
        if len(tag) > 8:
            raise ValueError("tag: at most 8 characters (interface names are 15 at most)")
        self.tag = tag
        self.hosts = list(hosts)
        self.names = {host: list((names or {}).get(host, ())) for host in self.hosts}
        self.local_names = list(local_names)  # resolved to 127.0.0.1 (one host doing everything)
        net = random.Random().randrange(1, 250)
        self.address = {host: f"10.213.{net}.{10 + i}" for i, host in enumerate(self.hosts)}
        self.switch = f"{tag}-sw"
        self.created: list[str] = []

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def _peer(self, host: str) -> str:
        return f"{self.tag}p{self.hosts.index(host)}"

    def create(self) -> None:
        """Make the namespaces, the bridge, the links and the hosts files (raises on failure)."""
        _ip("netns", "add", self.switch)
        self.created.append(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        hosts_file = [
            f"127.0.0.1 localhost {' '.join(self.local_names)}".rstrip(),
            "::1 localhost ip6-localhost",
        ]
        for host in self.hosts:
            hosts_file.append(f"{self.address[host]} {host} {' '.join(self.names[host])}".rstrip())
        for i, host in enumerate(self.hosts):
            ns = self.ns(host)
            _ip("netns", "add", ns)
            self.created.append(ns)
            (NETNS_ETC / ns).mkdir(parents=True, exist_ok=True)
            (NETNS_ETC / ns / "hosts").write_text("\n".join(hosts_file) + "\n")
            inner, peer = f"{self.tag}v{i}", self._peer(host)
            _ip("link", "add", inner, "type", "veth", "peer", "name", peer)
            _ip("link", "set", inner, "netns", ns)
            _ip("link", "set", peer, "netns", self.switch)
            _ip("-n", self.switch, "link", "set", peer, "master", "br0")
            _ip("-n", self.switch, "link", "set", peer, "up")
            _ip("-n", ns, "link", "set", inner, "name", "eth0")
            _ip("-n", ns, "addr", "add", f"{self.address[host]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def command(self, host: str, argv: Sequence[str | os.PathLike[str]]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host), *map(str, argv)]

    def popen(
        self, host: str, argv: Sequence[str | os.PathLike[str]], **kwargs: Any
    ) -> subprocess.Popen[Any]:
        return subprocess.Popen(self.command(host, argv), **kwargs)

    def run(
        self, host: str, argv: Sequence[str | os.PathLike[str]], **kwargs: Any
    ) -> subprocess.CompletedProcess[Any]:
        return subprocess.run(self.command(host, argv), **kwargs)

    def cut(self, host: str) -> None:
        """Take the host's link down (its processes live on, unreachable)."""
        _ip("-n", self.ns(host), "link", "set", "eth0", "down")

    def restore(self, host: str) -> None:
        _ip("-n", self.ns(host), "link", "set", "eth0", "up")

    def pids(self, host: str | None = None) -> list[int]:
        """Processes in one host's namespace, or in all of this LAN's."""
        spaces = [self.ns(host)] if host else list(self.created)
        found = []
        for ns in spaces:
            done = _ip("netns", "pids", ns, check=False)
            found += [int(p) for p in done.stdout.split() if p.isdigit()]
        return sorted(set(found))

    def kill_all(self, grace: float = 5.0, host: str | None = None) -> list[int]:
        """SIGTERM then SIGKILL every process in the namespaces (or one host's); returns those still alive."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
            pids = self.pids(host)
            if not pids:
                return []
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self.pids(host):
                time.sleep(0.1)
        return self.pids(host)

    def teardown(self) -> list[str]:
        """Kill, delete, clean; returns problems (empty when everything is gone)."""
        problems = []
        left = self.kill_all()
        if left:
            problems.append(f"processes still alive in the namespaces: {left}")
        for ns in reversed(self.created):
            _ip("netns", "del", ns, check=False)
            shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)
        listed = _ip("netns", "list", check=False).stdout.split()
        remaining = [ns for ns in self.created if ns in listed]
        if remaining:
            problems.append(f"namespaces not deleted: {remaining}")
        leftover_links = [
            line
            for line in _ip("-o", "link", "show", check=False).stdout.splitlines()
            if f" {self.tag}" in line
        ]
        if leftover_links:
            problems.append(f"links left in the root namespace: {leftover_links}")
        self.created = []
        return problems


def uv_executable(root: Path) -> str | None:
    """dev/nox.py's uv (``.venv-nox/bin/uv`` under ``root``), else one on PATH."""
    nox_uv = root / ".venv-nox" / "bin" / "uv"
    return str(nox_uv) if nox_uv.is_file() else shutil.which("uv")


def install_venv(
    uv: str, dist: Path, where: Path, requirements: Sequence[str], extra: Sequence[str] = (), python: str = ""
) -> Path:
    """A venv with ``requirements`` (DFM distributions) from the wheelhouse only, their
    third-party dependencies (and ``extra``) from the package index; uv's cache is shared."""
    import sys

    import wheelhouse

    def run(argv: list[Any], env: dict[str, str] | None = None) -> None:
        done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, argv))}: {done.stderr.strip()[-2000:]}")

    run([uv, "venv", "--quiet", "--python", python or sys.executable, where])
    target = where / "bin" / "python"
    third: set[str] = set(extra)
    for line in requirements:
        third.update(wheelhouse.third_party(dist, line.split("==")[0]))
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    if third:
        run([uv, "pip", "install", "--quiet", "--python", target, *sorted(third)], env)
    run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            target,
            "--no-index",
            "--find-links",
            dist,
            *requirements,
        ],
        env,
    )
    return where


def machine_env(machine: Path, venv: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a process of one machine: its venv first on PATH, its own HOME."""
    home = machine / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "DFM_CONFIG_HOME": str(home / "dfm-config"),
    }
    env.update(extra or {})
    return env
