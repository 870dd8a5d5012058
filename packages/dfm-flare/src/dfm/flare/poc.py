"""A provisioned FLARE deployment run on this machine, for ``dfm poc``, tests and benchmarks.

The kits of :func:`dfm.flare.provision.provision` are started directly as
subprocesses (no ``start.sh`` watchdog), each in its own session so its
process group can be signalled, with ``HOME`` pointed into the workspace.
:meth:`Deployment.start` returns when every client is connected and the
deployment's DFM service job (:mod:`dfm.flare.service`) has every site ready;
:meth:`Deployment.stop` signals the processes it started and every process of
the deployment (FLARE's job processes carry their kit's path): SIGTERM, then
SIGKILL for what is still alive after a short grace. It does not wait for FLARE
to end jobs cleanly (``shutdown all`` takes 5-7 s, most of it job teardown grace
periods): nothing of a DFM session needs saving when its deployment stops. The
pids, port and paths are kept in ``<workspace>/dfm-flare.json``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from dfm.flare.layout import ORG, SCHEME, DeploymentState, FlareSetupError, poc_home, require_nvflare
from dfm.kernel.config import load_config
from dfm.runner.spi import site_environment

__all__ = ["Deployment", "admin_session", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def admin_session(state: DeploymentState, timeout: float = 30.0) -> Any:
    """A FLARE API session of the deployment's project admin (an nvflare ``Session``)."""
    require_nvflare()
    from dfm.flare.admin import connect

    kit = state.admin_kit
    if not (kit / "startup" / "fed_admin.json").is_file():
        raise FlareSetupError(f"admin startup kit missing: {kit}/startup/fed_admin.json")
    try:
        return connect(state.admin, kit, timeout)
    except Exception as exc:
        raise FlareSetupError(
            f"cannot reach the FLARE server of '{state.federation}' on port {state.port} "
            f"within {timeout:g} s: {type(exc).__name__}: {exc}"
        ) from None


# Every process started here, by pid, for the life of this interpreter: a ``dfm poc start`` leaves
# them running on purpose, and a later ``stop`` (in the same process or not) finds them by pid;
# keeping the Popen objects lets it reap them without a "still running" warning on collection.
_children: dict[int, subprocess.Popen[bytes]] = {}


def _reap() -> None:
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _pids_using(*paths: str) -> list[int]:
    """Processes whose command line mentions any of ``paths`` (FLARE's job processes carry their kit path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(path in cmdline for path in paths) and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


class Deployment:
    """A provisioned FLARE project in ``workspace``, started and stopped from this machine."""

    def __init__(self, workspace: str | os.PathLike[str]):
        self.workspace = Path(workspace).resolve()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._progress: Callable[[str], None] | None = None

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def for_federation(cls, federation: str) -> Deployment:
        """The ``dfm poc`` deployment of a federation (by name), at :func:`~dfm.flare.layout.poc_home`."""
        return cls(poc_home(federation))

    @classmethod
    def prepare(
        cls,
        config: str | os.PathLike[str],
        workspace: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        clean: bool = True,
        scheme: str = SCHEME,
    ) -> Deployment:
        """Provision ``config`` into ``workspace`` (default: the federation's POC home) on a free port.

        ``scheme``: FLARE's wire protocol (:data:`dfm.flare.layout.SCHEMES`).
        """
        from dfm.flare.provision import provision

        path = Path(config).resolve()
        if workspace is None:
            workspace = poc_home(load_config(path).name)
        deployment = cls(workspace)
        if clean and deployment.running():
            raise FlareSetupError(f"the deployment in {deployment.workspace} is running; stop it first")
        provision(
            path,
            deployment.workspace,
            port=port or free_port(),
            clean=clean,
            storage=deployment.workspace / "storage",  # not FLARE's machine-wide /tmp/nvflare
            scheme=scheme,
        )
        return deployment

    @property
    def state(self) -> DeploymentState:
        """The deployment's saved state (read from its workspace on each access)."""
        return DeploymentState.load(self.workspace)

    # -- processes ---------------------------------------------------------------------------

    def running(self) -> bool:
        """Whether any process this deployment started is still alive."""
        try:
            state = self.state
        except FlareSetupError:
            return False
        return any(_alive(pid) for pid in state.pids.values())

    def _env(self, home: Path, extra: Mapping[str, str] | None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(extra or {})
        env["HOME"] = str(home)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("PYTHONPATH", None)  # a kit's own local/custom is added by FLARE
        return env

    def _launch(
        self, name: str, module: str, args: list[str], env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        state = self.state
        kit = state.kit(name)
        logs = self.workspace / "logs"
        logs.mkdir(exist_ok=True)
        with open(logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-u", "-m", module, "-m", str(kit), *args],
                cwd=str(kit),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _children[proc.pid] = proc
        return proc

    def start(
        self,
        timeout: float = 90.0,
        env: Mapping[str, str] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> DeploymentState:
        """Start the server, every client and the DFM service job; return once every site is ready.

        ``env`` adds variables to the processes' environment (site vaults read
        secrets from it). ``progress`` is given one line per step (which sites
        are still awaited, by name). On failure everything started is stopped again.
        """
        self._progress = progress
        require_nvflare()
        state = self.state
        if self.running():
            raise FlareSetupError(
                f"the deployment in {self.workspace} is already running (pids {state.pids})"
            )
        home = self.workspace / "home"
        home.mkdir(exist_ok=True)
        state.home = str(home)
        penv = self._env(home, env)
        # each process gets only its own site's secrets (the FLARE server hosts no site: none)
        federation = load_config(state.config)
        site_of = {client: site for site, client in state.sites.items()}
        secure = ["--set", "secure_train=true", f"org={ORG}", "config_folder=config"]
        self._procs = {}
        state.pids = {}
        try:
            self._procs[state.server] = self._launch(
                state.server,
                "nvflare.private.fed.app.server.server_train",
                ["-s", "fed_server.json", *secure],
                site_environment(federation, None, penv),
            )
            for client in state.sites.values():
                self._procs[client] = self._launch(
                    client,
                    "nvflare.private.fed.app.client.client_train",
                    ["-s", "fed_client.json", *secure[:1], f"uid={client}", *secure[1:]],
                    site_environment(federation, site_of[client], penv),
                )
            state.pids = {name: proc.pid for name, proc in self._procs.items()}
            state.save(self.workspace)
            self._step(f"started the server and {len(state.sites)} client(s); waiting for the server")
            deadline = time.monotonic() + timeout
            self._wait_connected(state, deadline)
            self._start_service(state, deadline)
        except BaseException:
            self.stop()
            raise
        return state

    def _step(self, message: str) -> None:
        report = self._progress
        if report is not None:
            with contextlib.suppress(Exception):
                report(message)

    def _check_exited(self, state: DeploymentState) -> None:
        for name, proc in self._procs.items():
            code = proc.poll()
            if code is not None:
                raise FlareSetupError(
                    f"FLARE participant '{name}' exited with code {code} while starting: "
                    f"{self.log_tail(name)}"
                )

    def _wait_connected(self, state: DeploymentState, deadline: float) -> None:
        from dfm.flare.deploy import probe

        session = None
        wanted = set(state.sites.values())
        try:
            while session is None:
                self._check_exited(state)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FlareSetupError(f"the FLARE server did not come up: {self.log_tail(state.server)}")
                try:  # FLARE's connector logs every refused attempt: knock on the port first
                    probe(state.admin_kit, timeout=min(left, 1.0))
                except FlareSetupError:
                    time.sleep(0.2)
                    continue
                try:
                    session = admin_session(state, timeout=min(left, 5.0))
                except FlareSetupError:
                    continue
            while True:
                self._check_exited(state)
                connected = {c.name for c in session.get_connected_client_list()}
                if wanted <= connected:
                    return
                site_of = {client: site for site, client in state.sites.items()}
                self._step(
                    f"waiting for {len(wanted - connected)} of {len(wanted)} site(s): "
                    + ", ".join(site_of.get(c, c) for c in sorted(wanted - connected))
                )
                if time.monotonic() > deadline:
                    missing = sorted(wanted - connected)
                    raise FlareSetupError(
                        f"FLARE client(s) {', '.join(missing)} did not connect: {self.log_tail(missing[0])}"
                    )
                time.sleep(0.2)
        finally:
            if session is not None:
                with contextlib.suppress(Exception):
                    session.close()

    def _start_service(self, state: DeploymentState, deadline: float) -> None:
        """Submit the DFM service job and wait until every site is ready in it.

        Always a new one: the server just started, so any job it lists as RUNNING is stale.
        """
        from dfm.flare.service import ServiceError, service_name, start_service

        session = admin_session(state, timeout=max(1.0, deadline - time.monotonic()))
        try:
            self._step("starting the DFM service job")
            start_service(
                session,
                service_name(state.federation),
                state.sites,
                timeout=max(1.0, deadline - time.monotonic()),
                step=self._step,
            )
        except ServiceError as exc:
            raise FlareSetupError(str(exc)) from None
        finally:
            with contextlib.suppress(Exception):
                session.close()

    def connected_clients(self, timeout: float = 10.0) -> list[str]:
        """Names of the FLARE clients connected to the server now."""
        session = admin_session(self.state, timeout=timeout)
        try:
            return sorted(c.name for c in session.get_connected_client_list())
        finally:
            with contextlib.suppress(Exception):
                session.close()

    def service_status(self, timeout: float = 10.0) -> str:
        """One line on the DFM service job: its id and open sessions, or that none runs."""
        from dfm.flare.service import running_services, service_name
        from dfm.flare.topics import CMD_STATUS

        state = self.state
        session = admin_session(state, timeout=timeout)
        try:
            found = running_services(session, service_name(state.federation))
            if not found:
                return "not running (the next session starts it)"
            failures = []
            for job_id in found:  # the oldest that answers is the one sessions join
                try:
                    reply = session.do_app_command(job_id, CMD_STATUS, {})
                except Exception as exc:
                    failures.append(f"job {job_id} (not answering: {type(exc).__name__})")
                    continue
                lost = sorted(reply.get("lost") or {})
                return f"job {job_id}, {reply.get('sessions', 0)} session(s)" + (
                    f", lost site(s): {', '.join(lost)}" if lost else ""
                )
            return "; ".join(failures)
        finally:
            with contextlib.suppress(Exception):
                session.close()

    def log_tail(self, name: str, lines: int = 3) -> str:
        """The last ``lines`` lines of the log of process ``name``, joined with `` | `` (``(no log)`` or
        ``(empty log)`` if none).
        """
        path = self.workspace / "logs" / f"{name}.log"
        if not path.exists():
            return "(no log)"
        text = path.read_text(errors="replace").strip().splitlines()
        return " | ".join(line.strip() for line in text[-lines:]) or "(empty log)"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every process of the deployment and leave none behind.

        SIGTERM to the process groups started here and to every other process of the
        deployment (its job processes), SIGKILL after ``timeout`` / 2 seconds for what is
        left. FLARE's parents exit on SIGTERM within a second; jobs end with them.
        """
        try:
            state = self.state
        except FlareSetupError:
            return
        pids = dict(state.pids)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            leftovers = self._leftovers(state, pids)
            if not leftovers:
                break
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    if pid in pids.values():
                        os.killpg(pid, sig)
                    else:
                        os.kill(pid, sig)
            self._wait_gone({str(p): p for p in leftovers}, time.monotonic() + timeout / 2)
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        _reap()
        self._procs = {}
        state.pids = {}
        state.save(self.workspace)

    def _leftovers(self, state: DeploymentState, pids: dict[str, int]) -> list[int]:
        alive = {pid for pid in pids.values() if _alive(pid)}
        alive.update(_pids_using(state.prod_dir))
        return sorted(alive)

    def _wait_gone(self, pids: dict[str, int], deadline: float) -> None:
        while time.monotonic() < deadline:
            _reap()
            if not any(_alive(pid) for pid in pids.values()):
                return
            time.sleep(0.02)

    def leftover_pids(self) -> list[int]:
        """Processes of this deployment still alive (empty after :meth:`stop`)."""
        try:
            state = self.state
        except FlareSetupError:
            return []
        return self._leftovers(state, state.pids)


@contextlib.contextmanager
def running(
    config: str | os.PathLike[str], workspace: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> Iterator[Deployment]:
    """Provision ``config`` into ``workspace`` on a free port, start it, stop it on exit."""
    deployment = Deployment.prepare(config, workspace)
    deployment.start(env=env)
    try:
        yield deployment
    finally:
        deployment.stop()
