"""The clinics federation end to end: federated statistics equal central ones, raw rows stay put.

Runs on a copy of ``federations/clinics`` in a temporary folder (the config
names its databases relative to the working directory), with the synthetic
databases written there by the federation's own ``make_data.py``.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from dfm.api import ForEach, Pipeline, PlaceParam, Yield, load_federation
from dfm.kernel.errors import CompileError, JobError
from dfm.runner import JobStatus, Session

CLINICS = Path(__file__).resolve().parents[1] / "federations" / "clinics"
FILES = ("clinics.dfm.yaml", "demo.py", "make_data.py", "clinic_advice.py", "discover.py")


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def clinics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    folder = tmp_path_factory.mktemp("clinics")
    for name in FILES:
        shutil.copy(CLINICS / name, folder / name)
    saved_path = sys.path[:]
    try:
        demo = _load(folder / "demo.py", "clinics_demo_under_test")  # imports make_data from the copy
        written = demo.make_data.make_data(folder / "data")
        assert [p.name for p in written] == ["clinic-a.sqlite", "clinic-b.sqlite", "clinic-c.sqlite"]
        yield SimpleNamespace(folder=folder, demo=demo, fed=load_federation(folder / "clinics.dfm.yaml"))
    finally:
        sys.path[:] = saved_path
        sys.modules.pop("make_data", None)


@pytest.fixture(autouse=True)
def in_folder(clinics: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(clinics.folder)


@pytest.mark.parametrize("min_age", [0, 65])
def test_federated_statistics_equal_central_ones(clinics, min_age):
    demo = clinics.demo
    federated, _ = demo.run_federated(clinics.fed, "inproc", min_age, verbose=False)
    central = demo.central_statistics(demo.read_all_rows(clinics.folder / "data", min_age))

    assert federated == central
    assert set(federated) == set(demo.STATISTICS)
    assert federated["patients"] == sum(federated["patients_by_cohort"].values()) > 0
    assert federated["mean_bp_by_cohort_sql"] == federated["mean_bp_by_cohort"]
    if min_age:  # no patient under 65 in the bins below 60
        for histogram in federated["age_histogram_by_cohort"].values():
            assert histogram["counts"][:4] == [0, 0, 0, 0]


def test_partials_are_computed_where_the_rows_are(clinics):
    with Session(clinics.fed) as session:
        prepared = session.prepare(clinics.demo.get_pipeline(clinics.fed))
    placed = clinics.demo.placements(prepared)
    clinic_sites = ["clinic-a", "clinic-b", "clinic-c"]
    for operation in ("clinic.Rows", "clinic.Summary", "stats.Count", "stats.Mean", "stats.Histogram"):
        assert placed[operation] == clinic_sites, operation
    assert placed["stats.Merge"] == placed["stats.Finalize"] == ["research"]


@pytest.mark.parametrize("variant", ["yield-rows", "aggregate-at-research", "iterate-rows-at-research"])
def test_raw_rows_at_research_are_rejected_at_compile_time(clinics, variant):
    api = clinics.fed.api
    with Pipeline("exfiltrate") as pipeline:
        rows = api.clinic.Rows(min_age=PlaceParam("min_age"), site="clinic-b")
        if variant == "yield-rows":
            Yield(rows, place="rows")
        elif variant == "aggregate-at-research":
            Yield(api.stats.Mean(data=rows, field="systolic_bp", site="research"), place="mean")
        else:
            with ForEach(rows) as row:
                Yield(row, place="row", multiuse=True)
    with Session(clinics.fed) as session, pytest.raises(CompileError) as caught:
        session.prepare(pipeline)
    message = str(caught.value)
    assert "residency" in message
    assert "clinic.Rows" in message and "clinic-b" in message


def test_a_missing_database_fails_the_job_naming_site_and_adapter(clinics, tmp_path, monkeypatch):
    for name in FILES:
        shutil.copy(clinics.folder / name, tmp_path / name)
    shutil.copytree(clinics.folder / "data", tmp_path / "data")
    (tmp_path / "data" / "clinic-b.sqlite").unlink()
    monkeypatch.chdir(tmp_path)
    fed = load_federation(tmp_path / "clinics.dfm.yaml")
    with Pipeline() as pipeline:
        rows = fed.api.clinic.Rows(site="clinic-b")
        Yield(fed.api.stats.Finalize(partial=fed.api.stats.Count(data=rows)), place="n")
    with Session(fed) as session:
        job = session.execute(session.prepare(pipeline))
        assert job.wait(60) is JobStatus.FAILED
        with pytest.raises(JobError):
            list(job.results())
    assert "site 'clinic-b'" in job.error
    assert "sql.Query at site 'clinic-b': database file 'data/clinic-b.sqlite'" in job.error
    assert "does not exist" in job.error


def test_the_demo_app_exit_codes(clinics, monkeypatch, capsys):
    demo = clinics.demo
    assert demo.main(["--min-age", "30"]) == 0
    out = capsys.readouterr().out
    assert "federated statistics equal the central computation" in out
    assert "stats.Mean       at clinic-a, clinic-b, clinic-c" in out

    original = demo.central_statistics
    monkeypatch.setattr(demo, "central_statistics", lambda rows: {**original(rows), "patients": -1})
    assert demo.main([]) == 1
    assert "MISMATCH patients" in capsys.readouterr().out


@pytest.mark.slow
def test_the_demo_script_writes_its_data_and_runs_on_the_process_transport(tmp_path):
    for name in FILES:
        shutil.copy(CLINICS / name, tmp_path / name)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "demo.py"), "--transport", "process"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "wrote synthetic database data/clinic-a.sqlite" in done.stdout
    assert "(process transport)" in done.stdout
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "clinic-a.sqlite",
        "clinic-b.sqlite",
        "clinic-c.sqlite",
    ]


# -- discovery: what each clinic can serve, without running anything ----------------------------


@pytest.mark.parametrize("transport", ["inproc", "process"])
def test_discovery_tells_what_each_clinic_serves(clinics, transport):
    from dfm.api import AdvisedDateRange, AdvisedOneOf, AdvisedSubsetOf, Okay

    discover = _load(clinics.folder / "discover.py", "clinics_discover_under_test")
    pipeline, node = discover.get_discovery_pipeline(clinics.fed)
    with Session(clinics.fed, transport=transport) as session:
        found = session.discover(pipeline, timeout=60)
    assert found.sites(node) == ["clinic-a", "clinic-b", "clinic-c"]  # research does not offer it
    for site in found.sites(node):
        assert found.site_advice(node, site).ok
        assert found.advice(node, site, "kind") == AdvisedOneOf(["count", "sum", "mean", "min", "max"])
        assert found.values(node, site, "column") == ["age", "systolic_bp"]
        assert found.values(node, site, "by") == ["sex", "cohort", "diagnosis"]
        cohorts = found.advice(node, site, "cohorts")
        assert isinstance(cohorts, AdvisedSubsetOf) and cohorts.values
        ages = found.values(node, site, "min_age")
        assert ages is not None and 18 <= ages[0] < ages[-1] <= 95
        assert isinstance(found.advice(node, site, "period"), AdvisedDateRange)
    assert found.advice(node, "clinic-c", "period") == AdvisedDateRange("2016-01-01", "2023-06-30")
    assert found.advice(node, "clinic-a", "nothing") == Okay()
    assert found.choose(node, period="2017-03-01") == "clinic-c"
    assert found.choose(node, period=("2022-01-01", "2024-01-01"), prefer="clinic-b") == "clinic-b"
    assert found.choose(node, column="systolic_bp", kind="mean") == "clinic-a"


def test_discovery_example_script(clinics, capsys):
    discover = _load(clinics.folder / "discover.py", "clinics_discover_script_under_test")
    assert discover.main(["--transport", "inproc", "--date", "2017-03-01"]) == 0
    out = capsys.readouterr().out
    assert "clinic-a:" in out and "period" in out and "records on 2017-03-01: clinic-c" in out
    assert "mean systolic BP by cohort at clinic-c" in out
