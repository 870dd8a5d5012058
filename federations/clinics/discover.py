"""clinics discovery: ask each clinic what it can serve before running anything.

    python discover.py [--transport inproc|process]

A discovery-mode pipeline places and runs nothing: every clinic's ``clinic.Summary``
adapter answers with advice (``clinic_advice.py``) -- the aggregates, columns and groupings
it serves, its cohorts with enough patients, the ages and the dates its records span. The
script prints that tree per clinic, then picks a clinic whose records cover a date and
runs a real (execute-mode) summary there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dfm.api import Advise, FederationHandle, Node, Pipeline, PlaceParam, Yield, load_federation
from dfm.runner import Discovery, Session

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_data  # noqa: E402

CONFIG = HERE / "clinics.dfm.yaml"


def get_discovery_pipeline(fed: FederationHandle) -> tuple[Pipeline, Node]:
    """One Summary on any clinic, grouped by cohort, asking advice on everything else."""
    with Pipeline(name="what-can-clinics-serve", mode="discovery") as p:
        summary = fed.api.clinic.Summary(
            kind=Advise(), column=Advise(), by="cohort", min_age=PlaceParam("min_age"), site=Advise()
        )
        Yield(summary, place="summary")
    return p, summary


def show(discovery: Discovery, node: Node) -> None:
    for site in discovery.sites(node):
        print(f"{site}:")
        for field in ("kind", "column", "by", "cohorts", "min_age", "period"):
            advice = discovery.advice(node, site, field)
            values = discovery.values(node, site, field)
            if field == "min_age" and values:
                print(f"  {field:8} {values[0]}..{values[-1]}")
            else:
                print(f"  {field:8} {values if values is not None else advice}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", default="inproc", choices=["inproc", "process"])
    parser.add_argument("--date", default="2017-03-01", help="a date the chosen clinic's records must cover")
    args = parser.parse_args(argv)
    if not all((HERE / "data" / f"{c}.sqlite").exists() for c in ("clinic-a", "clinic-b", "clinic-c")):
        make_data.main([])
    fed = load_federation(CONFIG)
    pipeline, node = get_discovery_pipeline(fed)
    with Session(fed, transport=args.transport) as session:
        discovery = session.discover(pipeline)
        show(discovery, node)
        site = discovery.choose(node, period=args.date, column="systolic_bp")
        print(f"records on {args.date}: {site}")
        with Pipeline(name="chosen") as p:
            Yield(
                fed.api.clinic.Summary(kind="mean", column="systolic_bp", by="cohort", site=site), place="bp"
            )
        (result,) = list(session.execute(session.prepare(p), {}).results(timeout=60))
        print(f"mean systolic BP by cohort at {site}: {sorted(result.value['groups'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
