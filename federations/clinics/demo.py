"""clinics demo app: federated patient statistics that never move a patient record.

    python demo.py [--transport inproc|process] [--min-age N]

Every clinic computes partial aggregates (counts, sums, histogram bins) over
its own rows; the research site merges the partials and finalizes them. The
demo then reads the three databases directly, computes the same statistics
centrally, and exits 1 if the two disagree. It writes the synthetic databases
(``make_data.py``) first when they are missing.

Also usable with the CLI, from this folder:
``dfm fed submit clinics.dfm.yaml pipeline demo.py -- 40``.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import os
import sqlite3
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dfm.api import FederationHandle, Node, Pipeline, PlaceParam, Yield, load_federation
from dfm.kernel.ir import pipeline as ir
from dfm.kernel.ir.net import PreparedPipeline
from dfm.runner import Session

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # make_data.py sits next to this file

import make_data  # noqa: E402

CONFIG = HERE / "clinics.dfm.yaml"
CLINICS = ("clinic-a", "clinic-b", "clinic-c")
AGE_EDGES = [18, 30, 40, 50, 60, 70, 80, 95]  # bins [18, 30) ... [80, 95]; ages are 18..95

# Yield place -> what it holds (the finalized value of merged per-clinic partials).
STATISTICS = {
    "patients_by_cohort": "patients per cohort",
    "mean_bp_by_cohort": "mean systolic blood pressure per cohort",
    "mean_bp_by_cohort_sql": "the same, computed inside each clinic's database (sql.Aggregate)",
    "age_histogram_by_cohort": "age histogram per cohort",
    "patients": "patients in all cohorts",
    "mean_bp": "mean systolic blood pressure in all cohorts",
}


def get_pipeline(fed: FederationHandle) -> Pipeline:
    """Per-clinic partial aggregates, merged and finalized at the research site.

    Only ``clinic.Rows`` and ``clinic.Summary`` are pinned to a clinic. The
    ``stats.*`` partial aggregates are offered by the research site too; the
    compiler places them on each clinic because clinic.Rows is resident there.
    """
    api = fed.api
    with Pipeline("clinic-statistics") as pipeline:
        min_age = PlaceParam("min_age")
        partials: dict[str, list[Node]] = {place: [] for place in STATISTICS}
        for clinic in CLINICS:
            rows = api.clinic.Rows(min_age=min_age, site=clinic)
            partials["patients_by_cohort"].append(api.stats.Count(data=rows, by="cohort"))
            partials["mean_bp_by_cohort"].append(api.stats.Mean(data=rows, field="systolic_bp", by="cohort"))
            partials["mean_bp_by_cohort_sql"].append(
                api.clinic.Summary(
                    kind="mean", column="systolic_bp", by="cohort", min_age=min_age, site=clinic
                )
            )
            partials["age_histogram_by_cohort"].append(
                api.stats.Histogram(data=rows, field="age", edges=AGE_EDGES, by="cohort")
            )
            partials["patients"].append(api.stats.Count(data=rows))
            partials["mean_bp"].append(api.stats.Mean(data=rows, field="systolic_bp"))
        for place, parts in partials.items():
            merged = parts[0]
            for part in parts[1:]:
                merged = api.stats.Merge(left=merged, right=part)
            Yield(api.stats.Finalize(partial=merged), place=place)
    return pipeline


def get_pipeline_parameters(argv: list[str]) -> list[dict[str, Any]]:
    """``[MIN_AGE ...]``: one execution per minimum age (default 0)."""
    return [{"min_age": int(arg)} for arg in argv] or [{"min_age": 0}]


# -- the same statistics, computed centrally over all rows -------------------------------------


def read_all_rows(data_dir: Path, min_age: int = 0) -> list[dict[str, Any]]:
    """Every clinic's rows, read directly from the databases (what federation avoids)."""
    rows: list[dict[str, Any]] = []
    for clinic in CLINICS:
        db = sqlite3.connect((data_dir / f"{clinic}.sqlite").as_uri() + "?mode=ro", uri=True)
        try:
            db.row_factory = sqlite3.Row
            found = db.execute("SELECT * FROM patients WHERE age >= ? ORDER BY id", (min_age,))
            rows.extend(dict(row) for row in found)
        finally:
            db.close()
    return rows


def _mean(values: Iterable[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _histogram(values: Iterable[Any]) -> dict[str, Any]:
    counts = [0] * (len(AGE_EDGES) - 1)
    outside = 0
    for value in values:
        index = len(counts) - 1 if value == AGE_EDGES[-1] else bisect.bisect_right(AGE_EDGES, value) - 1
        if 0 <= index < len(counts):
            counts[index] += 1
        else:
            outside += 1
    return {"edges": AGE_EDGES, "counts": counts, "outside": outside}


def central_statistics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The statistics of :data:`STATISTICS`, computed in one place over all rows."""
    cohorts = sorted({row["cohort"] for row in rows})
    members = {c: [row for row in rows if row["cohort"] == c] for c in cohorts}
    by_cohort_mean = {c: _mean(r["systolic_bp"] for r in members[c]) for c in cohorts}
    return {
        "patients_by_cohort": {c: len(members[c]) for c in cohorts},
        "mean_bp_by_cohort": by_cohort_mean,
        "mean_bp_by_cohort_sql": by_cohort_mean,
        "age_histogram_by_cohort": {c: _histogram(r["age"] for r in members[c]) for c in cohorts},
        "patients": len(rows),
        "mean_bp": _mean(row["systolic_bp"] for row in rows),
    }


# -- running it ------------------------------------------------------------------------------


def placements(prepared: PreparedPipeline) -> dict[str, list[str]]:
    """operation -> the sites its calls were placed on."""
    out: dict[str, set[str]] = {}
    for stmt, _scope, _branch in prepared.pipeline.walk():
        if isinstance(stmt, ir.Call):
            out.setdefault(stmt.operation, set()).add(prepared.placement[stmt.id])
    return {operation: sorted(sites) for operation, sites in sorted(out.items())}


def run_federated(
    fed: FederationHandle, transport: str = "inproc", min_age: int = 0, *, verbose: bool = True
) -> tuple[dict[str, Any], PreparedPipeline]:
    """Run the pipeline; return {place: value} and the prepared pipeline."""
    with Session(fed, transport=transport) as session:
        prepared = session.prepare(get_pipeline(fed))
        if verbose:
            used = ", ".join(prepared.sites)
            print(f"federation {fed.name}: pipeline placed on {used} ({transport} transport)")
            for operation, sites in placements(prepared).items():
                print(f"  {operation:<16} at {', '.join(sites)}")
        job = session.execute(prepared, {"min_age": min_age})
        results = {result.place: result.value for result in job.results(timeout=120)}
    return results, prepared


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def print_table(results: dict[str, Any]) -> None:
    bins = " ".join(f"{lo}-{hi}" for lo, hi in itertools.pairwise(AGE_EDGES))
    print(f"\n{'cohort':<12} {'patients':>8} {'mean bp':>8} {'(in db)':>8}   age histogram [{bins}]")
    for cohort, count in results["patients_by_cohort"].items():
        hist = results["age_histogram_by_cohort"][cohort]["counts"]
        print(
            f"{cohort:<12} {count:>8} {_fmt(results['mean_bp_by_cohort'][cohort]):>8} "
            f"{_fmt(results['mean_bp_by_cohort_sql'][cohort]):>8}   {' '.join(f'{n:>5}' for n in hist)}"
        )
    print(f"{'all':<12} {results['patients']:>8} {_fmt(results['mean_bp']):>8}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", default="inproc", choices=["inproc", "process"])
    parser.add_argument("--min-age", type=int, default=0, help="only patients at least this old")
    args = parser.parse_args(argv)

    # The clinics' configs name their databases relative to this folder.
    os.chdir(HERE)
    for path in make_data.make_data(HERE / "data"):
        print(f"wrote synthetic database {path.relative_to(HERE)}")

    start = time.perf_counter()
    fed = load_federation(CONFIG)
    federated, _ = run_federated(fed, args.transport, args.min_age)
    elapsed = time.perf_counter() - start
    print_table(federated)

    central = central_statistics(read_all_rows(HERE / "data", args.min_age))
    mismatched = [place for place in STATISTICS if federated.get(place) != central[place]]
    if mismatched:
        for place in mismatched:
            print(f"MISMATCH {place}:\n  federated {federated.get(place)!r}\n  central   {central[place]!r}")
        return 1
    print(f"\nfederated statistics equal the central computation over all rows ({elapsed:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
