"""Fixtures of dfm-flare's tests: real FLARE deployments on free loopback ports.

One deployment per federation and test session: provisioned into a temporary
folder, its server and clients started directly as subprocesses (``HOME``
pointed into the folder), stopped at the end with a check that none of its
processes is left. Tests that need FLARE processes carry the ``flare`` marker.
"""

from __future__ import annotations

import inspect
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dfm.api import FederationHandle, load_federation
from dfm.runner.testing import EXAMPLEFED_BADGE, MATHFED, SECRET

# the repository (the folder with noxfile.py): federations/, and packages/ for kits
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "noxfile.py").is_file())
EXAMPLEFED = ROOT / "federations" / "examplefed" / "examplefed.dfm.yaml"
BADGE = EXAMPLEFED_BADGE


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "flare: starts NVIDIA FLARE processes (server and clients) on loopback"
    )
    # nvflare 2.9's http driver passes aiohttp's deprecated ssl_context argument, in a connector
    # thread of every admin session; as an error it silently breaks the connection.
    config.addinivalue_line("filterwarnings", "ignore:ssl_context is deprecated:DeprecationWarning:aiohttp")


def _deployment(config: Path, env: dict[str, str]) -> Iterator[Any]:
    from dfm.flare.poc import Deployment

    # Not tmp_path_factory: concurrent pytest runs prune old base temp folders, kits included.
    tmp = Path(tempfile.mkdtemp(prefix=f"dfm-flare-{config.stem.split('.')[0]}-"))
    deployment = Deployment.prepare(config, tmp)
    try:
        deployment.start(env=env)
        yield deployment
    finally:
        deployment.stop()
        left = deployment.leftover_pids()
        shutil.rmtree(tmp, ignore_errors=True)
        assert left == [], "FLARE processes left behind"


@pytest.fixture(scope="session")
def mathfed() -> FederationHandle:
    return load_federation(MATHFED)


@pytest.fixture(scope="session")
def mathfed_deployment() -> Iterator[Any]:
    yield from _deployment(MATHFED, {"MATHFED_BETA_API_TOKEN": SECRET})


@pytest.fixture(scope="session")
def examplefed_deployment() -> Iterator[Any]:
    yield from _deployment(EXAMPLEFED, {"EXAMPLEFED_RECEPTION_BADGE_KEY": BADGE})


@pytest.fixture(scope="session")
def session(mathfed_deployment: Any) -> Iterator[Any]:
    """One flare session (one FLARE job) shared by the conformance tests."""
    from dfm.runner import Session

    options = {"workspace": str(mathfed_deployment.workspace)}
    with Session(load_federation(MATHFED), target="flare", options=options) as s:
        yield s


def _runner() -> Any:
    from click.testing import CliRunner

    if "mix_stderr" in inspect.signature(CliRunner).parameters:  # click < 8.2
        return CliRunner(mix_stderr=False)
    return CliRunner()


@pytest.fixture
def dfm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Any]:
    """``dfm("poc", "status", "mathfed")`` runs the CLI in-process (fresh plugin manager, private homes)."""
    pytest.importorskip("dfm.cli")
    from dfm.cli.group import reset_command_table
    from dfm.cli.main import cli
    from dfm.kernel.plugins import reset_plugin_manager

    monkeypatch.setenv("DFM_CONFIG_HOME", str(tmp_path / "dfm-config"))
    monkeypatch.setenv("DFM_FLARE_HOME", str(tmp_path / "flare-home"))
    reset_plugin_manager()
    reset_command_table()

    def invoke(*args: str, **kwargs: Any) -> Any:
        reset_command_table()
        return _runner().invoke(cli, list(args), prog_name="dfm", catch_exceptions=False, **kwargs)

    return invoke
