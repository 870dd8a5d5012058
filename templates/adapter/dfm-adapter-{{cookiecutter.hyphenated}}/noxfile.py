"""nox sessions: tests on every supported Python, and against the lowest allowed dependencies.

    nox -s tests            # pytest on each Python found
    nox -s lowest           # direct dependencies resolved to their lowest allowed versions

``lowest`` proves that the lower bounds in pyproject.toml are honest.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


def _test_group() -> list[str]:
    return nox.project.dependency_groups(nox.project.load_toml("pyproject.toml"), "test")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    session.install(".", *_test_group())
    session.env["DFM_STRICT_PLUGINS"] = "1"
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHONS[0], venv_backend="uv")
def lowest(session: nox.Session) -> None:
    session.install("--resolution", "lowest-direct", ".", *_test_group())
    session.env["DFM_STRICT_PLUGINS"] = "1"
    session.run("pytest", *session.posargs)
