"""examplefed demo app: greet visitors at the concierge, the server and the reception.

    python demo.py [--transport inproc|process] [NAME ...]

Also usable with the CLI: ``dfm fed submit examplefed.dfm.yaml pipeline demo.py -- Ada``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from dfm.api import FederationHandle, Pipeline, PlaceParam, Yield, load_federation
from dfm.runner import Session

CONFIG = Path(__file__).with_name("examplefed.dfm.yaml")
SITES = ("concierge", "server", "reception")


def get_pipeline(fed: FederationHandle) -> Pipeline:
    with Pipeline("greetings") as pipeline:
        name = PlaceParam("name")
        for site in SITES:
            Yield(fed.api.users.GreetMe(name=name, site=site), place=site)
    return pipeline


def get_pipeline_parameters(argv: list[str]) -> list[dict[str, Any]]:
    return [{"name": name} for name in (argv or ["Ada Lovelace"])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", default="inproc", choices=["inproc", "process"])
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    # The reception's adapter reads a badge key from its vault; a demo value stands in for a real secret.
    os.environ.setdefault("EXAMPLEFED_RECEPTION_BADGE_KEY", "demo-badge-key")

    fed = load_federation(CONFIG)
    start = time.perf_counter()
    with Session(fed, transport=args.transport) as session:
        prepared = session.prepare(get_pipeline(fed))
        print(
            f"federation {fed.name}: pipeline placed on {', '.join(prepared.sites)} "
            f"({args.transport} transport)"
        )
        job = session.execute(prepared, get_pipeline_parameters(args.names))
        results = sorted(job.results(timeout=60), key=lambda r: (r.index, SITES.index(r.place)))
        for result in results:
            print(f"  [{result.index}] {result.place:<10} {result.value}")
    print(f"job {job.status.value} in {time.perf_counter() - start:.2f} s")
    return 0 if job.status.value == "FINISHED" and len(results) == len(SITES) * job.frames else 1


if __name__ == "__main__":
    sys.exit(main())
