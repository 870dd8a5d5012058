"""Service pipelines: requests through ONE open job (``execute(..., autostop=False)``).

    python bench/service.py [--quick] [--no-flare]

For each transport (inproc, process and, unless ``--no-flare``, a FLARE
deployment of bench/benchfed on loopback) one open job runs
``Echo(v) at the remote site -> Yield at the homesite`` (one site-to-site hop),
and the application:

- latency: sends one request (``job.send_input_params``) and waits for its
  result before the next; median and p99 of the round trips;
- throughput: sends every request at once (one ``send_input_params`` call
  each) while a reader thread takes the results; requests per second from
  the first send to the last result. Each result is checked: once, in its frame.

Prints a table and writes bench/out/service.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.runner import JobStatus, Session

HERE = Path(__file__).parent
CONFIG = HERE / "benchfed" / "benchfed.dfm.yaml"
FED = load_federation(CONFIG)
api = FED.api.bench


def service() -> Pipeline:
    with Pipeline() as p:
        Yield(api.Echo(value=PlaceParam("v"), site="remote"), place="out")
    return p


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(session: Session, latency_n: int, throughput_n: int) -> dict[str, float]:
    prepared = session.prepare(service())
    out: dict[str, float] = {}
    job = session.execute(prepared, autostop=False)
    results = job.results(timeout=120)
    for i in range(20):  # warm up
        job.send_input_params({"v": i})
        next(results)
    rtts = []
    for i in range(20, 20 + latency_n):
        t = time.perf_counter()
        (frame,) = job.send_input_params({"v": i})
        r = next(results)
        rtts.append(time.perf_counter() - t)
        assert r.index == frame and r.value == i
    out["latency_median_ms"] = statistics.median(rtts) * 1000
    out["latency_p99_ms"] = percentile(rtts, 0.99) * 1000

    first = job.frames
    got: dict[int, Any] = {}
    done = threading.Event()

    def read() -> None:
        for r in results:
            assert r.index not in got
            got[r.index] = r.value
            if len(got) == throughput_n:
                done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    start = time.perf_counter()
    for i in range(throughput_n):
        job.send_input_params({"v": first + i})
    assert done.wait(600), f"{len(got)} of {throughput_n} results"
    out["throughput_req_per_s"] = throughput_n / (time.perf_counter() - start)
    job.send_stop_frame()
    reader.join(120)
    assert job.status is JobStatus.FINISHED, job.error
    assert got == {first + i: first + i for i in range(throughput_n)}
    out["requests"] = float(latency_n + throughput_n + 20)
    return out


def run_flare(quick: bool) -> dict[str, float]:
    from dfm.flare.poc import Deployment

    workspace = Path(tempfile.mkdtemp(prefix="dfm-bench-service-"))
    deployment = Deployment.prepare(CONFIG, workspace)
    deployment.start()
    try:
        with Session(FED, target="flare", options={"workspace": str(workspace)}) as s:
            return measure(s, 30 if quick else 200, 200 if quick else 2000)
    finally:
        deployment.stop()
        shutil.rmtree(workspace, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-flare", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for transport in ("inproc", "process"):
        with Session(CONFIG, transport=transport) as s:
            results[transport] = measure(s, 200 if args.quick else 2000, 2000 if args.quick else 10_000)
    if not args.no_flare:
        results["flare"] = run_flare(args.quick)
    keys = sorted({k for r in results.values() for k in r})
    print(f"{'':24}" + "".join(f"{t:>12}" for t in results))
    for key in keys:
        print(f"{key:24}" + "".join(f"{r.get(key, float('nan')):>12.2f}" for r in results.values()))
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    meta = {"python": sys.version.split()[0], "machine": platform.machine(), "quick": args.quick}
    (out / "service.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
