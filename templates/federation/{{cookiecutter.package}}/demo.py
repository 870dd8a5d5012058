"""{{ cookiecutter.federation_name }} demo: greet someone at every site.

Run it as ``python demo.py [--transport inproc|process] [NAME ...]``, or give it to
the CLI as a pipeline file:
``dfm fed submit {{ cookiecutter.package }}.dfm.yaml pipeline demo.py -- Ada``;
``dfm pipeline show demo.py`` shows where each operation runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dfm.api import FederationHandle, Pipeline, PlaceParam, Yield, load_federation
from dfm.runner import Session

CONFIG = Path(__file__).with_name("{{ cookiecutter.package }}.dfm.yaml")
FEDERATION = CONFIG  # the federation of this pipeline file: 'dfm pipeline show demo.py' needs no --federation


def get_pipeline(fed: FederationHandle) -> Pipeline:
    with Pipeline("greetings") as pipeline:
        name = PlaceParam("name")
        for site in fed.config.sites:
            Yield(fed.api.{{ cookiecutter.operation_namespace }}.Greet(name=name, site=site), place=site)
    return pipeline


def get_pipeline_parameters(argv: list[str]) -> list[dict[str, Any]]:
    return [{"name": name} for name in (argv or ["Ada"])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", default="inproc", choices=["inproc", "process"])
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    fed = load_federation(CONFIG)
    with Session(fed, transport=args.transport) as session:
        job = session.execute(session.prepare(get_pipeline(fed)), get_pipeline_parameters(args.names))
        for result in sorted(job.results(timeout=60), key=lambda r: (r.index, r.place)):
            print(f"[{result.index}] {result.place}: {result.value}")
    print(f"job {job.status.value}")
    return 0 if job.status.value == "FINISHED" else 1


if __name__ == "__main__":
    sys.exit(main())
