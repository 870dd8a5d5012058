"""FLARE across network namespaces against the same deployment on loopback.

    sudo python bench/multihost.py            # needs root, ip, uv; DFM_WHEELHOUSE=dist or it builds one

bench/benchfed is provisioned with the server named by a host name. Two runs
of the same kits, each participant in its own venv from the wheelhouse and
started by its kit's start.sh:

- ``namespaces``: server, home, remote and the application each in its own
  network namespace on one bridge (dev/netns.py), the server's name resolved
  to its namespace's address;
- ``loopback``: every participant in one namespace, the name resolved to 127.0.0.1.

In the application's namespace it measures session start (admin connection,
job submission, every site ready), small executions (median of 30: one
operation at the homesite; one at the remote site with a hop to the
homesite) and one 100 MB numpy array from the remote site to the application.
Prints a table and writes bench/out/multihost.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "dev"))
import netns  # noqa: E402
import wheelhouse  # noqa: E402

CONFIG = ROOT / "bench" / "benchfed" / "benchfed.dfm.yaml"
SERVER_HOST = "flare.benchfed.test"
PORT = 8002
PLACEMENT = {"home": "org-a", "remote": "org-b"}

MEASURE = """
import json, statistics, sys, time
from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.runner import JobStatus, Session

fed = load_federation(sys.argv[1]); api = fed.api.bench
out = {}
t0 = time.perf_counter()
with Session(fed, target="flare", options={"kit": sys.argv[2]}) as s:
    out["session_start_s"] = time.perf_counter() - t0
    with Pipeline() as home:
        Yield(api.Echo(value=PlaceParam("v"), site="home"), place="out")
    with Pipeline() as hop:
        Yield(api.Echo(value=PlaceParam("v"), site="remote"), place="out")
    with Pipeline() as big:
        Yield(api.Array(mb=PlaceParam("mb"), site="remote"), place="array")
    p = {"home": s.prepare(home), "hop": s.prepare(hop), "big": s.prepare(big)}
    for name in ("home", "hop"):
        for i in range(5):
            s.execute(p[name], {"v": i}).wait(60)
        lat = []
        for i in range(30):
            t = time.perf_counter()
            assert s.execute(p[name], {"v": i}).wait(60) is JobStatus.FINISHED
            lat.append(time.perf_counter() - t)
        out[f"latency_{name}_median_ms"] = statistics.median(lat) * 1000
    s.execute(p["big"], {"mb": 1}).wait(60)
    t = time.perf_counter()
    job = s.execute(p["big"], {"mb": 100})
    assert job.wait(600) is JobStatus.FINISHED, job.error
    out["array_100mb_to_app_s"] = time.perf_counter() - t
    t = time.perf_counter()
out["session_stop_s"] = time.perf_counter() - t
print(json.dumps(out))
"""


def scenario(
    name: str, tmp: Path, dist: Path, uv: str, state: Any, clients: dict[str, str]
) -> dict[str, Any]:
    base = tmp / name
    single = name == "loopback"
    hosts = ["solo"] if single else ["server", *PLACEMENT.values(), "app"]

    def host(role: str) -> str:
        return "solo" if single else role

    lan = netns.Lan(
        f"db{os.getpid() % 10000}{name[0]}",
        hosts,
        names={} if single else {"server": [SERVER_HOST]},
        local_names=[SERVER_HOST] if single else [],
    )
    out: dict[str, Any] = {}
    try:
        kits = {"server": base / "server" / "kit"}
        shutil.copytree(state.kit("server"), kits["server"])
        venvs = {"server": netns.install_venv(uv, dist, base / "server" / "venv", ["dfm-flare"])}
        for site, org in PLACEMENT.items():
            kits[site] = base / org / "kit"
            shutil.copytree(state.kit(clients[site]), kits[site])
            requirements = (kits[site] / "local" / "custom" / "requirements.txt").read_text().split()
            venvs[site] = netns.install_venv(uv, dist, base / org / "venv", requirements, extra=["numpy"])
        admin = base / "app" / "admin-kit"
        shutil.copytree(state.admin_kit, admin)
        venvs["app"] = netns.install_venv(
            uv, dist, base / "app" / "venv", ["dfm-cli[all,flare]"], extra=["numpy"]
        )
        shutil.copytree(
            CONFIG.parent, base / "app" / "benchfed", ignore=shutil.ignore_patterns("__pycache__")
        )
        (base / "app" / "measure.py").write_text(MEASURE)
        lan.create()
        t0 = time.perf_counter()
        for role, machine in [("server", "server"), *((s, o) for s, o in PLACEMENT.items())]:
            lan.popen(
                host(machine),
                ["bash", kits[role] / "startup" / "start.sh"],
                env=netns.machine_env(base / machine, venvs[role]),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ).wait(30)
        env = netns.machine_env(base / "app", venvs["app"])
        config = base / "app" / "benchfed" / "benchfed.dfm.yaml"
        deadline = time.monotonic() + 180
        while True:
            done = lan.run(
                host("app"),
                [venvs["app"] / "bin" / "dfm", "deploy", "status", config, "--kit", admin],
                env=env,
                capture_output=True,
                text=True,
            )
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: sites did not connect: {done.stdout} {done.stderr}")
            time.sleep(1)
        out["system_start_s"] = time.perf_counter() - t0  # includes start.sh's 5 s sleep
        done = lan.run(
            host("app"),
            [venvs["app"] / "bin" / "python", base / "app" / "measure.py", config, admin],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{name}: {done.stderr[-3000:]}")
        out.update(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        problems = lan.teardown()
        if problems:
            raise RuntimeError(f"{name}: teardown: {problems}")
    return out


def main() -> None:
    why = netns.unavailable()
    uv = netns.uv_executable(ROOT)
    if why or uv is None:
        sys.exit(f"skipped: {why or 'uv is needed'}")
    from dfm.flare.layout import client_names
    from dfm.flare.provision import provision
    from dfm.kernel.config import load_config

    tmp = Path(tempfile.mkdtemp(prefix="dfm-bench-multihost-"))
    try:
        given = os.environ.get("DFM_WHEELHOUSE")
        dist = Path(given).resolve() if given else tmp / "dist"
        if not given:
            sources = {p.parent.name: p.parent for p in ROOT.glob("packages/*/pyproject.toml")}
            wheelhouse.build_wheelhouse(sources, dist, lambda a: subprocess.run(a, check=True), uv=uv)
        state = provision(CONFIG, tmp / "kits", port=PORT, host=SERVER_HOST, storage=tmp / "server-storage")
        clients = client_names(load_config(CONFIG))
        results = {name: scenario(name, tmp, dist, uv, state, clients) for name in ("loopback", "namespaces")}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    keys = list(results["namespaces"])
    print(f"{'metric':<28} {'loopback':>10} {'namespaces':>11}")
    for key in keys:
        loop, spaced = results["loopback"].get(key, float("nan")), results["namespaces"][key]
        print(f"{key:<28} {loop:>10.3f} {spaced:>11.3f}")
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "multihost.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
