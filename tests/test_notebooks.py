"""The notebooks under docs/notebooks/ run from top to bottom (nbclient, an IPython kernel, inproc).

Run by the ``docs`` nox session, which installs nbclient, ipykernel, pandas and
pyarrow; skipped where they are missing (the ``integration`` session).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path):
    pytest.importorskip("ipykernel")
    for module in ("pandas", "pyarrow"):
        pytest.importorskip(module)
    with warnings.catch_warnings():  # Jupyter's own deprecations are not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        nbformat = pytest.importorskip("nbformat")
        nbclient = pytest.importorskip("nbclient")
        notebook = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(
            notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        )
        client.execute()  # raises CellExecutionError naming the cell and the traceback

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    if path.name == "clinics.ipynb":
        shown = [data for o in outputs for data in o.get("data", {})]
        assert "image/svg+xml" in shown or "text/html" in shown  # the prepared pipeline shows itself
