"""nox sessions: tests on every supported Python, and against the lowest allowed dependencies.

    nox -s tests            # pytest on each Python found
    nox -s lowest           # direct dependencies resolved to their lowest allowed versions

``lowest`` proves that the lower bounds in pyproject.toml are honest.

DFM's distributions (dfm-kernel, ...) are not on a package index yet: point
``DFM_WHEELHOUSE`` at a folder (or an HTML page) holding their wheels, e.g. the
``dist/`` that ``python3 dev/nox.py -s build`` writes in a DFM checkout::

    DFM_WHEELHOUSE=~/dfm/dist nox -s tests

Every install then also looks there (pip's ``--find-links``); other
dependencies come from the package index as usual.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
WHEELHOUSE = os.environ.get("DFM_WHEELHOUSE", "").strip()
FIND_LINKS = ["--find-links", os.path.expanduser(WHEELHOUSE)] if WHEELHOUSE else []


def _test_group() -> list[str]:
    return nox.project.dependency_groups(nox.project.load_toml("pyproject.toml"), "test")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    session.install(*FIND_LINKS, ".", *_test_group())
    session.env["DFM_STRICT_PLUGINS"] = "1"
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHONS[0], venv_backend="uv")
def lowest(session: nox.Session) -> None:
    session.install(*FIND_LINKS, "--resolution", "lowest-direct", ".", *_test_group())
    session.env["DFM_STRICT_PLUGINS"] = "1"
    session.run("pytest", *session.posargs)
