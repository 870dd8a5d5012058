"""Write the clinics' synthetic patient databases: ``data/clinic-{a,b,c}.sqlite``.

    python make_data.py [--out DIR] [--force]

Deterministic: the same seed gives byte-for-byte the same rows. Every clinic
has its own size, age profile and cohort mix, and about 2 % of blood-pressure
readings are missing (NULL), so federated statistics are not trivially equal
across sites. Nothing here is real patient data.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SEED = 20240229
COHORTS = ("control", "treatment-a", "treatment-b")

# clinic -> (patients, mean age, cohort weights)
CLINICS = {
    "clinic-a": (420, 52, (0.5, 0.3, 0.2)),
    "clinic-b": (610, 61, (0.4, 0.2, 0.4)),
    "clinic-c": (275, 44, (0.6, 0.4, 0.0)),  # clinic C runs no treatment-b arm
}
BP_EFFECT = {"control": 0, "treatment-a": -6, "treatment-b": -11}

SCHEMA = """
CREATE TABLE patients (
    id INTEGER PRIMARY KEY,
    age INTEGER NOT NULL,
    sex TEXT NOT NULL CHECK (sex IN ('F', 'M')),
    cohort TEXT NOT NULL,
    systolic_bp INTEGER,
    diagnosis TEXT NOT NULL
)
"""


def patients(clinic: str, seed: int = SEED) -> list[tuple[object, ...]]:
    """The rows of one clinic: (id, age, sex, cohort, systolic_bp, diagnosis)."""
    count, mean_age, weights = CLINICS[clinic]
    rng = random.Random(f"{seed}:{clinic}")
    first_id = 1000 * (sorted(CLINICS).index(clinic) + 1)
    rows = []
    for n in range(count):
        age = min(95, max(18, round(rng.gauss(mean_age, 14))))
        sex = rng.choice("FM")
        cohort = rng.choices(COHORTS, weights=weights)[0]
        bp = round(rng.gauss(112 + 0.45 * age + (4 if sex == "M" else 0) + BP_EFFECT[cohort], 13))
        systolic_bp = None if rng.random() < 0.02 else bp
        if systolic_bp is not None and systolic_bp >= 140:
            diagnosis = "hypertension"
        elif systolic_bp is not None and systolic_bp >= 130:
            diagnosis = "elevated"
        else:
            diagnosis = "normal" if systolic_bp is not None else "unknown"
        rows.append((first_id + n, age, sex, cohort, systolic_bp, diagnosis))
    return rows


def write_database(path: Path, rows: list[tuple[object, ...]]) -> None:
    """Write ``rows`` to a new SQLite file at ``path`` (atomically: readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        db = sqlite3.connect(tmp)
        try:
            with db:
                db.execute(SCHEMA)
                db.executemany("INSERT INTO patients VALUES (?, ?, ?, ?, ?, ?)", rows)
        finally:
            db.close()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_data(out: Path = DATA, *, force: bool = False, seed: int = SEED) -> list[Path]:
    """Write every clinic's database into ``out`` (existing files are kept unless ``force``)."""
    written = []
    for clinic in CLINICS:
        path = out / f"{clinic}.sqlite"
        if force or not path.exists():
            write_database(path, patients(clinic, seed))
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA, help="folder for the databases (default: data/)")
    parser.add_argument("--force", action="store_true", help="rewrite existing databases")
    args = parser.parse_args(argv)
    written = make_data(args.out, force=args.force)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"databases already in {args.out} (use --force to rewrite them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
