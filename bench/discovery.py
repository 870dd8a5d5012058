"""Discovery round trip: ``session.discover(pipeline)`` on examplefed and clinics.

    python bench/discovery.py [--runs N]

For each federation and transport (inproc, process), one warm session answers the same
discovery pipeline ``runs`` times (after one warm-up): examplefed's ``users.GreetMe``
with its name and site to advise on (three sites, adapters without advisors), and
clinics' ``clinic.Summary`` with kind, column and site to advise on (three clinics,
advisors reading their SQLite files, as in federations/clinics/discover.py). Prints
median and p90 and writes bench/out/discovery.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from dfm.api import Advise, Pipeline, PlaceParam, Yield, load_federation
from dfm.runner import Session

ROOT = Path(__file__).resolve().parents[1]
EXAMPLEFED = ROOT / "federations" / "examplefed" / "examplefed.dfm.yaml"
CLINICS = ROOT / "federations" / "clinics" / "clinics.dfm.yaml"
OUT = Path(__file__).parent / "out" / "discovery.json"


def examplefed_pipeline(fed: Any) -> Pipeline:
    with Pipeline(name="greetings", mode="discovery") as p:
        Yield(fed.api.users.GreetMe(name=Advise(), site=Advise()), place="greeting")
    return p


def clinics_pipeline(fed: Any) -> Pipeline:
    with Pipeline(name="what-can-clinics-serve", mode="discovery") as p:
        summary = fed.api.clinic.Summary(
            kind=Advise(), column=Advise(), by="cohort", min_age=PlaceParam("min_age"), site=Advise()
        )
        Yield(summary, place="summary")
    return p


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    os.environ.setdefault("EXAMPLEFED_RECEPTION_BADGE_KEY", "bench-badge")
    sys.path.insert(0, str(CLINICS.parent))
    import make_data  # the clinics' SQLite files, made once like discover.py does

    if not all(
        (CLINICS.parent / "data" / f"{c}.sqlite").exists() for c in ("clinic-a", "clinic-b", "clinic-c")
    ):
        make_data.main([])
    rows = []
    for name, config, build in (
        ("examplefed", EXAMPLEFED, examplefed_pipeline),
        ("clinics", CLINICS, clinics_pipeline),
    ):
        fed = load_federation(config)
        pipeline = build(fed)
        for transport in ("inproc", "process"):
            with Session(fed, transport=transport) as session:
                found = session.discover(pipeline)  # warm-up: sites started, adapters created
                sites = sorted({site for _, site, _, _ in found.walk()})
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    session.discover(pipeline)
                    times.append(time.perf_counter() - start)
            row = {
                "federation": name,
                "transport": transport,
                "sites_answering": sites,
                "median_ms": statistics.median(times) * 1e3,
                "p90_ms": percentile(times, 0.9) * 1e3,
                "runs": args.runs,
            }
            rows.append(row)
            print(
                f"{name:10} {transport:8} {len(sites)} sites: median {row['median_ms']:7.2f} ms, "
                f"p90 {row['p90_ms']:7.2f} ms"
            )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(
        json.dumps(
            {"machine": platform.platform(), "python": platform.python_version(), "rows": rows}, indent=2
        )
    )


if __name__ == "__main__":
    main()
