"""Shared setup of dfm-adapter-sql's tests: DFM's testing plugin, a fake site, a real SQLite database."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path

import pytest

from dfm.kernel.testing import provider_context, site_context

pytest_plugins = ["dfm.kernel.testing"]

PATIENTS = [
    # id, name, age, cohort, systolic_bp
    (1, "Ada", 36, "control", 118),
    (2, "Grace", 85, "treated", 151),
    (3, "Alan", 41, "control", None),
    (4, "Edsger", 72, "treated", 139),
    (5, "Barbara", 58, "control", 127),
]

QUERIES = {
    "patients": "SELECT id, name, age, cohort, systolic_bp FROM patients ORDER BY id",
    "by_name": "SELECT id, name FROM patients WHERE name = :name",
    "older_than": {
        "sql": "SELECT id, name, age, cohort, systolic_bp FROM patients WHERE age >= :min_age ORDER BY id",
        "defaults": {"min_age": 0},
    },
    "broken": "SELECT nope FROM patients",
    "drop": "DROP TABLE patients",
}


# What the runner hands adapters, with this suite's default site name.
FakeSite = functools.partial(site_context, name="clinic-a")
FakeProvider = provider_context


def make_database(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE patients "
            "(id INTEGER PRIMARY KEY, name TEXT, age INTEGER, cohort TEXT, systolic_bp INTEGER)"
        )
        db.executemany("INSERT INTO patients VALUES (?, ?, ?, ?, ?)", PATIENTS)
    db.close()
    return path


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return make_database(tmp_path / "clinic.sqlite")


@pytest.fixture
def site(database: Path) -> FakeSite:
    return FakeSite(config={"database": str(database), "queries": QUERIES})


def count_patients(path: Path) -> int:
    with sqlite3.connect(path) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM patients").fetchone()
    db.close()
    return int(count)
