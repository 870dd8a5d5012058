"""FLARE's simulator runs the session's job without provisioning: the smoke test of its config and code.

The conformance suite runs on one simulated session; the demo runs through
``dfm fed submit --target flare --simulator``. What stands in for a
deployment (the app socket, the simulation descriptor) is refused outside
the simulator.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dfm.api import load_federation
from dfm.flare.identity import check_descriptor
from dfm.flare.poc import _pids_using, admin_session
from dfm.flare.service import export_service_job
from dfm.runner import Session
from dfm.runner.testing import MATHFED, SECRET, TransportConformance
from dfm.runner.transports.base import TransportError

from .conftest import BADGE, EXAMPLEFED


@pytest.mark.flare
class TestSimulatorConformance(TransportConformance):
    concurrent_jobs = 50

    @pytest.fixture(scope="class")
    @classmethod
    def session(cls) -> Iterator[Session]:
        workspace = Path(tempfile.mkdtemp(prefix="dfm-sim-test-"))
        try:
            with pytest.MonkeyPatch.context() as env:
                env.setenv("MATHFED_BETA_API_TOKEN", SECRET)  # the simulated sites' vault reads it
                options = {"simulator": str(workspace)}
                with Session(load_federation(MATHFED), target="flare", options=options) as s:
                    simulator = s.transport.session
                    assert simulator.get_job_status(s.transport.job_id) == "RUNNING"
                    yield s
            assert simulator.returncode == 0
            assert _pids_using(str(workspace)) == [], "simulator processes left behind"
            log = (workspace / "simulator.log").read_text()
            assert "DFM session ended" in log
            assert SECRET not in log
        finally:
            shutil.rmtree(workspace, ignore_errors=True)


@pytest.mark.flare
def test_demo_through_the_cli_on_the_simulator(dfm, monkeypatch):
    monkeypatch.setenv("EXAMPLEFED_RECEPTION_BADGE_KEY", BADGE)
    demo = EXAMPLEFED.parent / "demo.py"
    args = ["fed", "submit", str(EXAMPLEFED), "--target", "flare", "--simulator", "pipeline", str(demo)]
    result = dfm(*args, "--", "Ada")
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.splitlines()) == [
        'concierge[0]: "Hello, Ada! Greetings from the concierge."',
        'reception[0]: "Good morning, Ada! Greetings from the reception (badge checked)."',
        'server[0]: "Welcome, Ada! Greetings from the server."',
    ]
    assert "FINISHED" in result.stderr
    assert BADGE not in result.output


CLINICS = EXAMPLEFED.parents[1] / "clinics"


@pytest.mark.flare
def test_clinics_on_the_simulator_find_their_databases(dfm, tmp_path):
    """The simulated sites run on the workspace's copy of the config: each finds its data beside it."""
    import importlib.util
    import json
    import subprocess
    import sys

    fed_dir = tmp_path / "clinics"
    shutil.copytree(CLINICS, fed_dir, ignore=shutil.ignore_patterns("__pycache__", "data"))
    make_data = [sys.executable, str(fed_dir / "make_data.py"), "--out", str(fed_dir / "data")]
    subprocess.run(make_data, check=True)
    config, demo = fed_dir / "clinics.dfm.yaml", fed_dir / "demo.py"
    args = ["fed", "submit", str(config), "--target", "flare", "--simulator"]
    result = dfm(*args, "pipeline", str(demo), "--json", "--", "40")
    assert result.exit_code == 0, result.output
    federated = {row["place"]: row["value"] for row in map(json.loads, result.stdout.splitlines())}
    spec = importlib.util.spec_from_file_location("clinics_demo", demo)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert federated == module.central_statistics(module.read_all_rows(fed_dir / "data", 40))
    assert federated["patients"] > 0


@pytest.mark.flare
def test_a_deployed_server_refuses_the_app_socket(mathfed_deployment, tmp_path):
    """A job asking the server for the simulator's app socket fails instead of opening a side door."""
    state = mathfed_deployment.state
    socket_path = str(tmp_path / "app.sock")
    job_dir = export_service_job(
        str(tmp_path), "dfm-side-door", state.sites, controller={"app_socket": socket_path}, executor={}
    )
    session = admin_session(state)
    try:
        job_id = session.submit_job(job_dir)
        deadline = time.monotonic() + 120
        status = ""
        while time.monotonic() < deadline:
            status = str(session.get_job_status(job_id))
            if status.startswith(("FINISHED", "ABORTED", "FAILED")):
                break
            time.sleep(0.5)
        else:
            session.abort_job(job_id)
    finally:
        session.close()
    assert status.startswith("FINISHED") and status != "FINISHED:COMPLETED", status
    assert "ABORTED" not in status, "the job should have failed on its own, not been aborted here"
    assert not os.path.exists(socket_path)
    # the server archives the job's workspace, logs included, in its job store
    archive = mathfed_deployment.workspace / "storage" / "jobs-storage" / job_id / "workspace"
    with zipfile.ZipFile(archive) as zf:
        server_log = zf.read("log.txt").decode()
    assert "app_socket is refused outside FLARE's simulator" in server_log


def test_a_kit_descriptor_names_its_one_site():
    kit = {"role": "site", "site": "alpha", "client": "alpha"}
    check_descriptor(kit, "alpha", "alpha", simulating=False)
    with pytest.raises(RuntimeError, match="kit is for site 'alpha', the job asked for 'beta'"):
        check_descriptor(kit, "beta", "alpha", simulating=False)


def test_a_simulation_descriptor_counts_only_in_the_simulator():
    sim = {"role": "simulation", "sites": {"alpha": "alpha", "site-server": "server"}}
    check_descriptor(sim, "server", "site-server", simulating=True)
    with pytest.raises(RuntimeError, match="the job asked for 'beta'"):
        check_descriptor(sim, "beta", "alpha", simulating=True)
    with pytest.raises(RuntimeError, match="simulator only"):
        check_descriptor(sim, "alpha", "alpha", simulating=False)


def test_a_folder_with_other_files_is_not_a_simulator_workspace(mathfed, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(TransportError, match="not empty and holds no earlier simulation"):
        Session(mathfed, target="flare", options={"simulator": str(tmp_path)})
    assert (tmp_path / "notes.txt").read_text() == "mine"
