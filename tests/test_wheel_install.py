"""dfm-adapter-sql installed from wheels, offline, next to dfm-cli: `dfm adapters list` shows it.

Wheels of dfm-kernel, dfm-cli and dfm-adapter-sql are built into a wheelhouse;
their third-party requirements (read from the wheels' own metadata) are
downloaded into it from PyPI; then a fresh virtual environment installs
``dfm-cli dfm-adapter-sql`` with ``pip install --no-index --find-links`` -
exactly what an air-gapped site does with a wheelhouse it was handed.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LOCAL = ("dfm-kernel", "dfm-cli", "dfm-adapter-sql")


def wheel_metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        [name] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(zf.read(name).decode())


def third_party_requirements(wheels: list[Path]) -> list[str]:
    """Requires-Dist of the wheels that are not ours and not behind an extra."""
    found = set()
    for wheel in wheels:
        for requirement in wheel_metadata(wheel).get_all("Requires-Dist") or []:
            name = re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")
            if name not in LOCAL and "extra ==" not in requirement:
                found.add(requirement)
    return sorted(found)


def make_venv_with_pip(root: Path, uv: str | None, run) -> Path:
    python = root / ("Scripts" if os.name == "nt" else "bin") / "python"
    done = subprocess.run([sys.executable, "-m", "venv", root], capture_output=True, text=True)
    if done.returncode != 0:  # no ensurepip here (a uv-managed or trimmed Python): let uv seed pip
        if uv is None:
            pytest.fail(f"cannot create a venv with pip: {done.stderr}")
        shutil.rmtree(root, ignore_errors=True)
        run([uv, "venv", "--quiet", "--seed", "--python", sys.executable, root])
    return python


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory, repo_root, wheel_builder) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheelhouse")
    wheels = {
        name: wheel_builder(repo_root / "packages" / folder, out)
        for name, folder in (
            ("dfm-kernel", "dfm-kernel"),
            ("dfm-cli", "dfm-cli"),
            ("dfm-adapter-sql", "adapters-sql"),
        )
    }
    return {"dir": out, **wheels}


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheelhouse, uv_executable, command_runner) -> Path:
    root = tmp_path_factory.mktemp("offline") / "venv"
    python = make_venv_with_pip(root, uv_executable, command_runner)
    requirements = third_party_requirements([wheelhouse[name] for name in LOCAL])
    assert {"pluggy", "click", "attrs"} <= {re.split(r"\W", r, maxsplit=1)[0] for r in requirements}
    pip = [python, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    command_runner([*pip, "download", "--dest", wheelhouse["dir"], *requirements])
    offline = ["--no-index", "--find-links", wheelhouse["dir"]]
    command_runner([*pip, "install", *offline, "dfm-cli", "dfm-adapter-sql"])
    return python


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DFM_", "PYTHON", "VIRTUAL_ENV"))}
    env["DFM_STRICT_PLUGINS"] = "1"
    return env


def dfm(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [venv.parent / "dfm", *args], capture_output=True, text=True, timeout=120, env=clean_env()
    )
    assert done.returncode == 0, (
        f"dfm {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    return done


def test_the_adapter_wheel_is_a_regular_package(wheelhouse):
    with zipfile.ZipFile(wheelhouse["dfm-adapter-sql"]) as zf:
        names = set(zf.namelist())
    assert {
        "dfm_adapter_sql/__init__.py",
        "dfm_adapter_sql/plugin.py",
        "dfm_adapter_sql/adapters.py",
        "dfm_adapter_sql/py.typed",
    } <= names
    assert not any(n.startswith("dfm/") for n in names)  # never inside the dfm namespace
    metadata = wheel_metadata(wheelhouse["dfm-adapter-sql"])
    assert metadata["Name"] == "dfm-adapter-sql" and metadata["Version"] == "0.1.0"
    assert "dfm-kernel<0.2,>=0.1" in metadata.get_all("Requires-Dist")
    with zipfile.ZipFile(wheelhouse["dfm-adapter-sql"]) as zf:
        [entry_points] = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
        assert "[dfm.plugins]\ndfm-adapter-sql = dfm_adapter_sql.plugin" in zf.read(entry_points).decode()


@pytest.mark.parametrize("name", LOCAL)
def test_every_wheel_carries_the_license(wheelhouse, name):
    with zipfile.ZipFile(wheelhouse[name]) as zf:
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in zf.namelist())
    assert wheel_metadata(wheelhouse[name])["License-Expression"] == "Apache-2.0"


def test_dfm_adapters_list_shows_sql_query(venv):
    table = dfm(venv, "adapters", "list").stdout
    assert "sql.Query" in table
    assert "sql.Aggregate" in table
    row = next(line for line in table.splitlines() if line.startswith("sql.Query"))
    assert "dfm-adapter-sql 0.1.0" in row


def test_dfm_plugins_list_shows_the_adapter_distribution_active(venv):
    plugins = {p["name"]: p for p in json.loads(dfm(venv, "plugins", "list", "--json").stdout)}
    sql = plugins["dfm-adapter-sql"]
    assert (sql["version"], sql["status"]) == ("0.1.0", "active")
    assert sorted(sql["contributions"]["adapters"]) == ["sql.Aggregate", "sql.Query"]


def test_the_installed_adapter_queries_sqlite(venv, tmp_path):
    code = """
import sqlite3, sys, types
from dfm.kernel import get_plugin_manager
db = sys.argv[1]
with sqlite3.connect(db) as c:
    c.execute("CREATE TABLE t (x INTEGER)")
    c.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (3,)])
Query = get_plugin_manager().get("adapters", "sql.Query").load()
queries = {"big": "SELECT x FROM t WHERE x > :n"}
site = types.SimpleNamespace(name="s", config={"database": db, "queries": queries})
print(Query(site, None).body(query="big", n=1))
"""
    done = subprocess.run(
        [venv, "-c", code, str(tmp_path / "t.sqlite")], capture_output=True, text=True, env=clean_env()
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[{'x': 2}, {'x': 3}]"
