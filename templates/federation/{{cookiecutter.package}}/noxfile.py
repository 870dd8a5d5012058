"""nox session: the federation's tests, in a fresh environment with DFM installed.

    nox -s tests

DFM's distributions are not on a package index yet: point ``DFM_WHEELHOUSE``
at a folder (or an HTML page) holding their wheels, e.g. the ``dist/`` that
``python3 dev/nox.py -s build`` writes in a DFM checkout::

    DFM_WHEELHOUSE=~/dfm/dist nox -s tests

Installs then also look there (pip's ``--find-links``); other dependencies come
from the package index as usual.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"
WHEELHOUSE = os.environ.get("DFM_WHEELHOUSE", "").strip()
FIND_LINKS = ["--find-links", os.path.expanduser(WHEELHOUSE)] if WHEELHOUSE else []
# dfm-runner runs pipelines on the embedded local target; dfm-kernel and dfm-compiler come with it
DFM = ["dfm-runner>=0.1,<0.2"]


@nox.session
def tests(session: nox.Session) -> None:
    session.install(*FIND_LINKS, *DFM, "pytest>=8")
    session.run("pytest", "tests", *session.posargs)
