#!/usr/bin/env python3
"""Run nox from a private virtual environment, creating it on first use.

A fresh machine needs nothing but Python >= 3.10: this script makes
``.venv-nox/`` with the pinned tools from ``dev/requirements-nox.txt`` and
hands every argument to nox. It recreates the environment when that file
changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = ROOT / ".venv-nox"
REQUIREMENTS = ROOT / "dev" / "requirements-nox.txt"


def _python() -> Path:
    return ENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _ensure_env() -> None:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = ENV / ".requirements-sha256"
    if stamp.exists() and stamp.read_text() == digest and _python().exists():
        return
    if sys.version_info < (3, 10):  # noqa: UP036 - this script may be started by any python3
        sys.exit(f"DFM needs Python >= 3.10; this is {sys.version.split()[0]}")
    print(f"dev/nox.py: creating {ENV.name}/ with nox and uv", file=sys.stderr)
    venv.EnvBuilder(clear=True, with_pip=True).create(ENV)
    subprocess.run(
        [
            str(_python()),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
            str(REQUIREMENTS),
        ],
        check=True,
    )
    stamp.write_text(digest)


def main() -> None:
    _ensure_env()
    os.chdir(ROOT)
    args = [str(_python()), "-m", "nox", *sys.argv[1:]]
    if os.name == "nt":
        sys.exit(subprocess.call(args))
    os.execv(args[0], args)


if __name__ == "__main__":
    main()
