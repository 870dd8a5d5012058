"""Runner benchmarks: job latency, job rates, token throughput and array transfer.

    python bench/run.py [--quick]

Prints a table and writes bench/out/run.json. Targets (issue 4): inproc
one-operation job under 1 ms median; 100,000 tokens/s inproc and 20,000
process across two sites; 100 MB numpy transfer between processes at
1 GB/s or more.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

from dfm.api import ForEach, Pipeline, PlaceParam, Yield, load_federation
from dfm.runner import JobStatus, Session

HERE = Path(__file__).parent
FED = load_federation(HERE / "benchfed" / "benchfed.dfm.yaml")
api = FED.api.bench


def one_op() -> Pipeline:
    with Pipeline() as p:
        Yield(api.Echo(value=PlaceParam("v"), site="home"), place="out")
    return p


def tokens() -> Pipeline:
    with Pipeline() as p, ForEach(api.Range(n=PlaceParam("n"), site="remote")) as item:
        Yield(item, place="item")
    return p


def array() -> Pipeline:
    """One hop: the remote site makes the array, the homesite (another process) reads every page."""
    with Pipeline() as p:
        Yield(api.Touch(array=api.Array(mb=PlaceParam("mb"), site="remote"), site="home"), place="pages")
    return p


# column -> (transport, options): inproc runs the codec by default; "trusted" skips it
COLUMNS = {
    "inproc": ("inproc", {}),
    "inproc-trusted": ("inproc", {"trusted": True}),
    "process": ("process", {}),
}


def bench_transport(transport: str, options: dict[str, object], quick: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    start = time.perf_counter()
    with Session(FED, transport=transport, options=options) as s:
        out["session_start_s"] = time.perf_counter() - start
        prepared = s.prepare(one_op())
        for _ in range(50):  # warm up adapters and caches
            s.execute(prepared, {"v": 1}).wait(10)
        n = 300 if quick else 3000
        lat = []
        for i in range(n):
            t = time.perf_counter()
            job = s.execute(prepared, {"v": i})
            job.wait(10)
            lat.append(time.perf_counter() - t)
        out["job_latency_median_ms"] = statistics.median(lat) * 1e3
        out["job_latency_p99_ms"] = sorted(lat)[int(len(lat) * 0.99)] * 1e3
        out["sequential_jobs_per_s"] = n / sum(lat)

        t = time.perf_counter()
        jobs = [s.execute(prepared, {"v": i}) for i in range(n)]
        for job in jobs:
            assert job.wait(60) is JobStatus.FINISHED
        out["concurrent_jobs_per_s"] = n / (time.perf_counter() - t)

        count = 20_000 if quick else 100_000
        prepared = s.prepare(tokens())
        s.execute(prepared, {"n": 10}).wait(30)
        rates = []
        for _ in range(3):
            t = time.perf_counter()
            job = s.execute(prepared, {"n": count})
            received = sum(1 for _ in job.results(timeout=120))
            rates.append(count / (time.perf_counter() - t))
            assert received == count, (received, count)
        out["tokens_per_s_two_sites_median_of_3"] = statistics.median(rates)

        prepared = s.prepare(array())
        s.execute(prepared, {"mb": 1}).wait(30)
        mb = 100
        rates = []
        for _ in range(2 if quick else 5):
            t = time.perf_counter()
            (result,) = list(s.execute(prepared, {"mb": mb}).results(timeout=120))
            rates.append(mb * 1024 * 1024 / (time.perf_counter() - t) / 1e9)
            assert result.value == mb * 1024 * 1024 // 8 / 512
        out["array_100MB_one_hop_GB_per_s"] = statistics.median(rates)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    results = {column: bench_transport(t, options, args.quick) for column, (t, options) in COLUMNS.items()}
    machine = f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip()
    print(f"runner benchmarks on {machine}")
    metrics = list(next(iter(results.values())))
    print(f"{'metric':<34}" + "".join(f"{t:>14}" for t in results))
    for metric in metrics:
        print(f"{metric:<34}" + "".join(f"{results[t][metric]:>14.3f}" for t in results))
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "run.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
