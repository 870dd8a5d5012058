"""Runner cost against net size: a chain of N operations, inproc (or ``--transport process``).

    python bench/scale.py [--sizes 1000,10000,100000] [--quick] [--transport process]
                          [--shapes one-site,two-sites]

Each size is prepared once (compile time printed separately: it is the
compiler's business), then executed twice, each timed from ``execute`` to the
job's end: the first execution also installs the nets at the sites (the
application computes each net's digest, sends it, the site decodes it,
re-verifies and recomputes its digest); the second reuses them. Prints
seconds per size and the growth exponent between consecutive sizes
(log(t2/t1) / log(n2/n1)) and between the smallest and largest, and the
install cost (first - run) with the ratio first / run. Writes bench/out/scale.json
(bench/out/scale-<transport>.json for another transport). Target (issue 17): a
100,000-operation chain runs in under 10 s and the exponent between 1,000 and
100,000 is under 1.1; installing its nets costs at most half a run (first / run <= 1.5).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import sys
import time
from pathlib import Path

from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.runner import JobStatus, Session

HERE = Path(__file__).parent
FED = load_federation(HERE / "benchfed" / "benchfed.dfm.yaml")
api = FED.api.bench


def chain(n: int, sites: tuple[str, ...]) -> Pipeline:
    """``n`` Echo calls in a row, placed on ``sites`` in turn, the last one yielded."""
    with Pipeline() as p:
        value = api.Echo(value=PlaceParam("v"), site=sites[0])
        for i in range(1, n):
            value = api.Echo(value=value, site=sites[i % len(sites)])
        Yield(value, place="out")
    return p


SHAPES = {"one-site": ("home",), "two-sites": ("home", "remote")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,3000,10000,30000,100000")
    parser.add_argument("--quick", action="store_true", help="sizes 1000,10000 only")
    parser.add_argument("--transport", default="inproc")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated, of " + ", ".join(SHAPES))
    args = parser.parse_args()
    sizes = [1000, 10000] if args.quick else [int(s) for s in args.sizes.split(",")]
    report: dict[str, object] = {}
    with Session(FED, transport=args.transport) as session:
        session.execute(session.prepare(chain(10, ("home",))), {"v": 0}).wait(60)  # warm up
        for shape in args.shapes.split(","):
            sites = SHAPES[shape]
            rows = []
            for n in sizes:
                t = time.perf_counter()
                prepared = session.prepare(chain(n, sites))
                compile_s = time.perf_counter() - t
                runs = []
                for i in range(
                    2
                ):  # the first execution installs the nets at the sites; the second reuses them
                    t = time.perf_counter()
                    job = session.execute(prepared, {"v": i})
                    results = list(job.results(timeout=3600))
                    runs.append(time.perf_counter() - t)
                    assert job.status is JobStatus.FINISHED and [r.value for r in results] == [i], results
                first_s, run_s = runs
                rows.append(
                    {
                        "ops": n,
                        "compile_s": compile_s,
                        "first_run_s": first_s,
                        "run_s": run_s,
                        "install_s": first_s - run_s,
                        "first_over_run": first_s / run_s,
                        "us_per_op": run_s / n * 1e6,
                    }
                )
                print(
                    f"{shape:>9} {n:>8} ops  compile {compile_s:8.2f} s  "
                    f"first run (installs) {first_s:8.3f} s  "
                    f"run {run_s:8.3f} s  {run_s / n * 1e6:7.1f} us/op  "
                    f"install (first - run) {first_s - run_s:7.3f} s  first/run {first_s / run_s:5.2f}",
                    flush=True,
                )
            exponents = {}
            pairs = list(itertools.pairwise(rows))
            if len(rows) > 2:
                pairs.append((rows[0], rows[-1]))
            for a, b in pairs:
                span = f"{a['ops']}-{b['ops']}"
                for key in ("run_s", "first_run_s"):
                    e = math.log(b[key] / a[key]) / math.log(b["ops"] / a["ops"])
                    exponents[f"{key} {span}"] = e
                    print(f"{shape:>9} growth exponent of {key} {span}: {e:.3f}")
            report[shape] = {"rows": rows, "exponents": exponents}
    machine = f"{platform.machine()} python {platform.python_version()}"
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    name = "scale.json" if args.transport == "inproc" else f"scale-{args.transport}.json"
    (out / name).write_text(
        json.dumps({"machine": machine, "transport": args.transport, "shapes": report}, indent=2)
    )


if __name__ == "__main__":
    sys.exit(main())
