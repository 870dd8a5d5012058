"""FLARE transport benchmarks: session start, latency, throughput, big arrays, memory.

    python bench/flare.py [--quick]

Provisions bench/benchfed into a temporary folder on a free loopback port,
starts FLARE's server and one client per site directly (dfm.flare.poc), which
also starts the deployment's DFM service job, and measures:

- system start (``Deployment.start``, what ``dfm poc start`` runs: processes ->
  all clients connected -> the service job ready at every site) and the first
  session's start in this process (imports included);
- attach and detach: ``Session(...)`` and its ``close()`` against the running
  service (median of 10), and one attach in a fresh process (what an
  application pays, imports excluded);
- first-result latency of the fresh session;
- per-execution latency of small executions (one operation at the homesite,
  and one at the other site with a hop to the homesite), median and p90,
  and the round trip of one admin-API app command (the application's leg);
- throughput of many small executions in flight at once;
- transfer of 10 MB and 100 MB numpy arrays (site -> site, and site -> app);
- peak RSS of every process involved (this one, FLARE's parents and jobs);
- system stop (``Deployment.stop``, what ``dfm poc stop`` runs), checking no process is left;
- the same job in FLARE's simulator: session start, small-execution latency, stop.

``--arrays`` measures only 100 MB numpy arrays (site -> site, site -> app from the
homesite, and remote -> homesite -> app), once with frames in 1 MiB chunks through
the messages (a service job whose sites have ``stream_bytes: 0``, the path before
issue 17 item 3) and once offered for
download (dfm.flare.streams), each with the peak RSS of every process over its
transfers and before them, and writes bench/out/flare-arrays.json.

``--schemes`` measures the same three 100 MB transfers (streamed) on a deployment of each
FLARE wire scheme (``tcp``, the default, ``grpc``, ``http``), one deployment at a time, the
schemes' order rotating over 3 rounds of 3 transfers each, with the small-execution latency
medians (30 executions) of each deployment and the CPU seconds every process of the deployment
and this one used per transfer (less sensitive to a shared machine's load than the wall time),
and writes bench/out/flare-schemes.json.

Prints a table and writes bench/out/flare.json. Target (issue 5): well under
100 ms per small execution once the session is up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.flare.poc import Deployment, _pids_using
from dfm.runner import JobStatus, Session

HERE = Path(__file__).parent
CONFIG = HERE / "benchfed" / "benchfed.dfm.yaml"
FED = load_federation(CONFIG)
api = FED.api.bench


class RssSampler:
    """Samples the RSS of this process and of every process of the deployment."""

    def __init__(self, prod_dir: str):
        self.prod_dir = prod_dir
        self.peak_total = 0
        self.peak_by_role: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def role(self, proc: psutil.Process) -> str:
        cmd = " ".join(proc.cmdline())
        if proc.pid == os.getpid():
            return "app"
        if "runner_process" in cmd:
            return "server job"
        kit = cmd.split(self.prod_dir + "/", 1)[-1].split("/")[0].split()[0]
        if "worker_process" in cmd:
            return f"client job {kit}"
        if "server_train" in cmd:
            return "server parent"
        return f"client parent {kit}"

    def run(self) -> None:
        while not self.stop.wait(0.1):
            total = 0
            for pid in [os.getpid(), *_pids_using(self.prod_dir)]:
                try:
                    proc = psutil.Process(pid)
                    rss = proc.memory_info().rss
                    role = self.role(proc)
                except (psutil.Error, IndexError):
                    continue
                total += rss
                self.peak_by_role[role] = max(self.peak_by_role.get(role, 0), rss)
            self.peak_total = max(self.peak_total, total)

    def reset(self) -> dict[str, int]:
        """Start new peaks; returns the peaks so far."""
        peaks, self.peak_by_role, self.peak_total = self.peak_by_role, {}, 0
        return peaks

    def __enter__(self) -> RssSampler:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()
        self.thread.join()


def pipelines() -> dict[str, Pipeline]:
    with Pipeline() as home:
        Yield(api.Echo(value=PlaceParam("v"), site="home"), place="out")
    with Pipeline() as hop:
        Yield(api.Echo(value=PlaceParam("v"), site="remote"), place="out")
    with Pipeline() as to_site:  # the array crosses from remote to home, home reads every page
        Yield(api.Touch(array=api.Array(mb=PlaceParam("mb"), site="remote"), site="home"), place="pages")
    with Pipeline() as to_app:  # the array crosses remote -> home -> server -> application
        Yield(api.Array(mb=PlaceParam("mb"), site="remote"), place="array")
    with Pipeline() as home_to_app:  # one leg: a fresh uint8 array at the homesite -> application
        Yield(api.Blob(kind="array", mb=PlaceParam("mb"), site="home"), place="array")
    return {"home": home, "hop": hop, "to_site": to_site, "to_app": to_app, "home_to_app": home_to_app}


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def latencies(s: Session, prepared: dict[str, Any], n: int, out: dict[str, Any], prefix: str = "") -> None:
    """Median and p90 of ``n`` sequential small executions, at the homesite and with one hop."""
    for name in ("home", "hop"):
        for i in range(10):  # warm up
            s.execute(prepared[name], {"v": i}).wait(30)
        pp = prepared[name]
        lat = sorted(timed(lambda i=i, pp=pp: s.execute(pp, {"v": i}).wait(30)) for i in range(n))
        out[f"{prefix}latency_{name}_median_ms"] = statistics.median(lat) * 1000
        out[f"{prefix}latency_{name}_p90_ms"] = lat[int(len(lat) * 0.9)] * 1000


ATTACH_SCRIPT = """
import sys, time
from dfm.api import load_federation
from dfm.runner import Session
fed = load_federation(sys.argv[1])
import dfm.flare.transport, nvflare.fuel.flare_api.flare_api  # imports are not the attach
t = time.perf_counter()
s = Session(fed, target="flare", options={"workspace": sys.argv[2]})
attach = time.perf_counter() - t
t = time.perf_counter()
s.close()
print(attach, time.perf_counter() - t)
"""


def attach_detach(workspace: Path, out: dict[str, Any], n: int = 10) -> None:
    """Session start and stop against the running service: in this process, and in a fresh one."""
    attach, detach = [], []
    for _ in range(n):
        t = time.perf_counter()
        s = Session(FED, target="flare", options={"workspace": str(workspace)})
        attach.append(time.perf_counter() - t)
        t = time.perf_counter()
        s.close()
        detach.append(time.perf_counter() - t)
    out["attach_median_s"] = statistics.median(attach)
    out["attach_max_s"] = max(attach)
    out["detach_median_s"] = statistics.median(detach)
    out["detach_max_s"] = max(detach)
    # a fresh process, as an application starts; run twice with bytecode written, so that the figure
    # is not this machine's PYTHONDONTWRITEBYTECODE compiling nvflare's drivers on every import
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _ in range(2):
        fresh = subprocess.run(
            [sys.executable, "-c", ATTACH_SCRIPT, str(CONFIG), str(workspace)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout.split()
    out["attach_fresh_process_s"], out["detach_fresh_process_s"] = float(fresh[-2]), float(fresh[-1])


def run_simulator(quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    with Session(FED, target="flare", options={"simulator": True}) as s:
        out["simulator_session_start_s"] = time.perf_counter() - t0
        latencies(
            s,
            {name: s.prepare(pipe) for name, pipe in pipelines().items()},
            30 if quick else 200,
            out,
            "simulator_",
        )
        stop_start = time.perf_counter()
    out["simulator_session_stop_s"] = time.perf_counter() - stop_start
    return out


def run(quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    workspace = Path(tempfile.mkdtemp(prefix="dfm-bench-flare-"))
    deployment = Deployment.prepare(CONFIG, workspace)
    out["system_start_s"] = timed(deployment.start)
    try:
        with RssSampler(deployment.state.prod_dir) as rss:
            t0 = time.perf_counter()
            session = Session(FED, target="flare", options={"workspace": str(workspace)})
            with session as s:
                out["session_start_s"] = time.perf_counter() - t0
                p = {name: s.prepare(pipe) for name, pipe in pipelines().items()}
                t = time.perf_counter()
                first = next(iter(s.execute(p["home"], {"v": 0}).results(timeout=60)))
                out["first_result_s"] = time.perf_counter() - t
                assert first.value == 0
                latencies(s, p, 30 if quick else 200, out)
                # the admin API's share: one app command (a fetch that acknowledges nothing new, so
                # whatever it returns stays for the transport's own receiver)
                fetch = {"after": s.transport._fetched, "token": s.transport._token}
                rtt = sorted(timed(lambda: s.transport._command("dfm.fetch", fetch)) for _ in range(50))
                out["app_command_rtt_median_ms"] = statistics.median(rtt) * 1000
                m = 200 if quick else 2000
                start = time.perf_counter()
                jobs = [s.execute(p["home"], {"v": i}) for i in range(m)]
                assert all(job.wait(120) is JobStatus.FINISHED for job in jobs)
                out["throughput_exec_per_s"] = m / (time.perf_counter() - start)
                for mb in (10, 100):
                    for kind in ("to_site", "to_app"):
                        s.execute(p[kind], {"mb": 1}).wait(60)  # warm the adapter
                        runs = []
                        for _ in range(1 if quick or mb == 100 else 3):
                            job = s.execute(p[kind], {"mb": mb})
                            runs.append(timed(lambda job=job: job.wait(300)))
                            assert job.status is JobStatus.FINISHED, job.error
                        seconds = statistics.median(runs)
                        out[f"array_{mb}mb_{kind}_s"] = seconds
                        out[f"array_{mb}mb_{kind}_MBps"] = mb * 1.048576 / seconds
                stop_start = time.perf_counter()
            out["session_stop_s"] = time.perf_counter() - stop_start
            attach_detach(workspace, out)
        out["peak_rss_total_MiB"] = rss.peak_total / 2**20
        out["peak_rss_MiB"] = {role: v / 2**20 for role, v in sorted(rss.peak_by_role.items())}
    finally:
        out["system_stop_s"] = timed(deployment.stop)
        assert deployment.leftover_pids() == []
        out["leftover_processes"] = len(_pids_using(str(workspace)))
        shutil.rmtree(workspace, ignore_errors=True)
    return out


def restart_service(deployment: Deployment, executor: dict[str, Any]) -> None:
    """End the deployment's DFM service job(s) and start one whose site executors get ``executor``."""
    from dfm.flare.poc import admin_session
    from dfm.flare.service import running_services, service_name, start_service

    state = deployment.state
    admin = admin_session(state)
    try:
        name = service_name(state.federation)
        for job_id in running_services(admin, name):
            admin.abort_job(job_id)
        while running_services(admin, name):
            time.sleep(0.5)
        start_service(admin, name, state.sites, executor=executor)
    finally:
        admin.close()


def run_arrays(runs: int = 3, mb: int = 100) -> dict[str, Any]:
    """100 MB arrays through the messages in chunks, then as downloads: MB/s and peak RSS per process."""
    out: dict[str, Any] = {}
    workspace = Path(tempfile.mkdtemp(prefix="dfm-bench-flare-"))
    deployment = Deployment.prepare(CONFIG, workspace)
    deployment.start()
    kinds = ("to_site", "home_to_app", "to_app")
    try:
        with RssSampler(deployment.state.prod_dir) as rss:
            for mode, stream_bytes in (("chunked", 0), ("streamed", None)):
                options: dict[str, Any] = {"workspace": str(workspace)}
                # the sites' setting is the service job's: run one made with it
                restart_service(deployment, {} if stream_bytes is None else {"stream_bytes": stream_bytes})
                with Session(FED, target="flare", options=options) as s:
                    p = {kind: s.prepare(pipelines()[kind]) for kind in kinds}
                    for kind in kinds:
                        s.execute(p[kind], {"mb": 1}).wait(60)  # warm the adapters
                    time.sleep(1.0)
                    rss.reset()
                    time.sleep(1.0)
                    out[f"{mode}_idle_rss_MiB"] = {k: v / 2**20 for k, v in sorted(rss.reset().items())}
                    for kind in kinds:
                        seconds = []
                        for _ in range(runs):
                            job = s.execute(p[kind], {"mb": mb})
                            seconds.append(timed(lambda job=job: job.wait(300)))
                            assert job.status is JobStatus.FINISHED, job.error
                            del job
                        out[f"{mode}_{kind}_{mb}mb_MBps"] = mb * 1.048576 / statistics.median(seconds)
                        out[f"{mode}_{kind}_{mb}mb_MBps_runs"] = [mb * 1.048576 / t for t in seconds]
                        out[f"{mode}_{kind}_peak_rss_MiB"] = {
                            k: v / 2**20 for k, v in sorted(rss.reset().items())
                        }
    finally:
        deployment.stop()
        assert deployment.leftover_pids() == []
        shutil.rmtree(workspace, ignore_errors=True)
    return out


def cpu_seconds(workspace: Path) -> float:
    """CPU seconds (user + system) used so far by this process and every process of the deployment."""
    total = 0.0
    for pid in [os.getpid(), *_pids_using(str(workspace))]:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def run_schemes(rounds: int = 3, per_deployment: int = 3, mb: int = 100) -> dict[str, Any]:
    """100 MB arrays streamed (the default) over each FLARE wire scheme. Each round provisions and
    starts one deployment per scheme in turn (alone on the machine: idle FLARE processes cost CPU),
    the order rotating from round to round so that the machine's load falls on all alike."""
    from dfm.flare.layout import SCHEMES

    kinds = ("to_site", "home_to_app", "to_app")
    runs: dict[str, dict[str, list[float]]] = {s: {k: [] for k in kinds} for s in SCHEMES}
    latency: dict[str, dict[str, list[float]]] = {s: {"home": [], "hop": []} for s in SCHEMES}
    cpu: dict[str, dict[str, list[float]]] = {s: {k: [] for k in kinds} for s in SCHEMES}
    for round_ in range(rounds):
        for scheme in SCHEMES[round_ % len(SCHEMES) :] + SCHEMES[: round_ % len(SCHEMES)]:
            workspace = Path(tempfile.mkdtemp(prefix=f"dfm-bench-{scheme}-"))
            deployment = Deployment.prepare(CONFIG, workspace, scheme=scheme)
            deployment.start()
            try:
                with Session(FED, target="flare", options={"workspace": str(workspace)}) as s:
                    small: dict[str, Any] = {}
                    latencies(s, {n: s.prepare(pipelines()[n]) for n in ("home", "hop")}, 30, small)
                    for name in ("home", "hop"):
                        latency[scheme][name].append(small[f"latency_{name}_median_ms"])
                    for kind in kinds:
                        prepared = s.prepare(pipelines()[kind])
                        s.execute(prepared, {"mb": 1}).wait(60)  # warm the adapters
                        for _ in range(per_deployment):
                            cpu0 = cpu_seconds(workspace)
                            job = s.execute(prepared, {"mb": mb})
                            seconds = timed(lambda job=job: job.wait(300))
                            assert job.status is JobStatus.FINISHED, job.error
                            runs[scheme][kind].append(mb * 1.048576 / seconds)
                            cpu[scheme][kind].append(cpu_seconds(workspace) - cpu0)
                            del job
            finally:
                deployment.stop()
                assert deployment.leftover_pids() == []
                shutil.rmtree(workspace, ignore_errors=True)
    return {
        **{
            f"{scheme}_{kind}_{mb}mb_MBps": {"median": statistics.median(r), "runs": r}
            for scheme, by_kind in runs.items()
            for kind, r in by_kind.items()
        },
        **{
            f"{scheme}_{kind}_{mb}mb_cpu_s": {"median": statistics.median(r), "runs": r}
            for scheme, by_kind in cpu.items()
            for kind, r in by_kind.items()
        },
        **{
            f"{scheme}_latency_{name}_ms": {"median": statistics.median(r), "runs": r}
            for scheme, by_name in latency.items()
            for name, r in by_name.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--arrays", action="store_true", help="only 100 MB arrays, chunked vs streamed")
    parser.add_argument("--schemes", action="store_true", help="only 100 MB arrays over each wire scheme")
    args = parser.parse_args()
    if args.schemes:
        results = run_schemes()
        print(f"FLARE wire schemes ({platform.python_version()}, {os.cpu_count()} cores)")
        for key, value in results.items():
            unit = {"ms": "ms", "_s": "s CPU"}.get(key[-2:], "MB/s")
            runs = [round(r, 2 if unit == "s CPU" else 0) for r in value["runs"]]
            print(f"{key:<32} {value['median']:7.2f} {unit:<5}  runs {runs}")
        target = HERE / "out" / "flare-schemes.json"
        target.parent.mkdir(exist_ok=True)
        target.write_text(json.dumps({"argv": sys.argv, "results": results}, indent=2) + "\n")
        return
    if args.arrays:
        results = run_arrays()
        print(f"FLARE arrays ({platform.python_version()}, {os.cpu_count()} cores)")
        print(json.dumps(results, indent=1))
        target = HERE / "out" / "flare-arrays.json"
        target.parent.mkdir(exist_ok=True)
        meta = {"python": platform.python_version(), "cores": os.cpu_count(), "argv": sys.argv}
        target.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
        print(f"wrote {target}")
        return
    results = run(args.quick)
    results.update(run_simulator(args.quick))
    rows = [
        (k, f"{v:.3f}" if isinstance(v, float) else str(v)) for k, v in results.items() if k != "peak_rss_MiB"
    ]
    rows += [(f"  peak RSS {role}", f"{v:.0f} MiB") for role, v in results["peak_rss_MiB"].items()]
    width = max(len(k) for k, _ in rows)
    print(f"FLARE transport ({platform.python_version()}, {os.cpu_count()} cores)")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    target = HERE / "out" / "flare.json"
    target.parent.mkdir(exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "quick": args.quick,
        "argv": sys.argv,
    }
    target.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
