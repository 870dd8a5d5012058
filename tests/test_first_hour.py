"""A new user's first hour, outside the checkout, as one test (issue 15).

1. Build the wheelhouse with the build session's own code (``dev/wheelhouse.py``):
   every distribution but dfm-flare, which the journey does not use (nvflare is a
   large download and the FLARE target has its own session, ``-s flare``).
2. A fresh virtual environment; install with the README's exact lines (between
   its ``<!-- install -->`` markers): third-party dependencies from the package
   index, DFM's distributions with ``--no-index --find-links dist`` only.
3. ``dfm fed new``; validate it, run its demo, ``dfm pipeline show demo.py``
   without ``--federation``, ``dfm fed submit`` it; the federation's own nox session.
4. ``dfm adapter new``; the baked project's nox session (``tests-<this python>``)
   against the wheelhouse (``DFM_WHEELHOUSE``), third-party packages from the index.

Every project comes from the templates packaged in the dfm-cli wheel (pip
byte-compiled them: no ``__pycache__`` may reach a baked project). Takes a
minute or two on two cores; needs the package index.

    python3 dev/nox.py -s integration -- tests/test_first_hour.py
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.first_hour]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "dev"))
import wheelhouse  # noqa: E402  (dev/wheelhouse.py: what `python3 dev/nox.py -s build` runs)

SKIPPED = ("dfm-flare",)


def readme_install_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- install[^>]*-->\s*```bash\n(.*?)```\s*<!-- /install -->", text, re.DOTALL)
    assert block is not None, "README.md has no <!-- install --> block"
    lines = [line.split("  #")[0].strip() for line in block[1].splitlines()]
    return [line for line in lines if line]


def distributions() -> dict[str, Path]:
    found = {}
    for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
        name = re.search(r'^name\s*=\s*"([^"]+)"', pyproject.read_text(), re.MULTILINE)
        assert name is not None, pyproject
        if name[1] not in SKIPPED:
            found[name[1]] = pyproject.parent
    return found


def uv_for_builds(uv_executable: str | None) -> str | None:
    nox_uv = ROOT / ".venv-nox" / "bin" / "uv"  # dev/nox.py's, when the test runs under it
    return uv_executable or (str(nox_uv) if nox_uv.is_file() else None)


def test_first_hour(tmp_path, uv_executable, command_runner):
    run = command_runner
    home = tmp_path / "home"  # the new user's machine: no checkout above any of these folders
    home.mkdir()

    # 1. the wheelhouse
    dist = home / "dist"
    wheels = wheelhouse.build_wheelhouse(
        distributions(), dist, run, uv=uv_for_builds(uv_executable), python=sys.executable
    )
    assert len(wheels) == len(distributions())
    assert (dist / "requirements-all.txt").is_file()

    # 2. a fresh venv, the README's install lines
    venv = home / "venv"
    run([sys.executable, "-m", "venv", venv])
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DFM_", "PYTHON", "VIRTUAL_ENV"))}
    env |= {
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",  # as if activated
        "VIRTUAL_ENV": str(venv),
        "DFM_CONFIG_HOME": str(home / "config"),
        "DFM_STRICT_PLUGINS": "1",
        "UV_PYTHON_DOWNLOADS": "never",
    }
    lines = readme_install_lines()
    assert lines == [
        "pip install -r dist/requirements-all.txt",
        "pip install --no-index --find-links dist 'dfm-cli[all]'",
    ]
    for line in lines:
        argv = shlex.split(line)
        run([bin_dir / "python", "-m", *argv], cwd=home, env=env)

    def dfm(*args: str, cwd: Path = home) -> str:
        return run([bin_dir / "dfm", *args], cwd=cwd, env=env).stdout

    plugins = {p["name"]: p for p in json.loads(dfm("plugins", "list", "--json"))}
    assert {"dfm-kernel", "dfm-compiler", "dfm-runner", "dfm-cli"} <= plugins.keys()
    assert {"dfm-adapter-builtin", "dfm-adapter-files", "dfm-adapter-sql"} <= plugins.keys()
    assert all(p["status"] == "active" for p in plugins.values())

    # 3. a federation
    assert "created" in dfm("fed", "new", "Tide Watch", "--sites", "hub,buoy")
    fed = home / "tide_watch"
    assert not list(fed.rglob("__pycache__")), "a baked federation holds byte-code"
    assert dfm("fed", "validate", "tide_watch.dfm.yaml", cwd=fed).startswith("OK ")
    demo = run([bin_dir / "python", "demo.py", "Ada"], cwd=fed, env=env).stdout
    assert "hub: Hello, Ada! Greetings from hub." in demo and "job FINISHED" in demo
    shown = dfm("pipeline", "show", "demo.py", cwd=fed)  # FEDERATION in demo.py
    assert "hub" in shown and "buoy" in shown
    dfm("fed", "config", "set", "tide", str(fed / "tide_watch.dfm.yaml"))
    assert json.loads(dfm("fed", "config", "list", "--json")) == {"tide": str(fed / "tide_watch.dfm.yaml")}
    submitted = dfm("fed", "submit", "tide", "pipeline", str(fed / "demo.py"), "--", "Grace")
    assert 'buoy[0]: "Hello, Grace! Greetings from buoy."' in submitted

    # nox and uv as the templates' CI uses them (dev/requirements-nox.txt pins both)
    run(
        [bin_dir / "python", "-m", "pip", "install", "-q", "-r", ROOT / "dev" / "requirements-nox.txt"],
        env=env,
    )
    nox_env = {**env, "DFM_WHEELHOUSE": str(dist)}
    done = run([bin_dir / "nox", "-s", "tests"], cwd=fed, env=nox_env)
    assert "1 passed" in done.stdout + done.stderr

    # 4. an adapter distribution, tested by its own nox session against the wheelhouse
    assert "created" in dfm("adapter", "new", "Tide Gauge", "--no-input")
    adapter = home / "dfm-adapter-tide-gauge"
    assert not list(adapter.rglob("__pycache__")), "a baked adapter project holds byte-code"
    session = f"tests-{sys.version_info.major}.{sys.version_info.minor}"
    done = run([bin_dir / "nox", "-s", session], cwd=adapter, env=nox_env)
    output = done.stdout + done.stderr
    assert f"--find-links {dist}" in output  # DFM's distributions came from the wheelhouse
    assert re.search(r"\b11 passed, 2 skipped\b", output), output  # skipped: need dfm-runner / dfm-cli
