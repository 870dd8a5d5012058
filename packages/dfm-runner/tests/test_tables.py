"""Job results as tables (pandas, Arrow) and the progress display (Jupyter only)."""

from __future__ import annotations

import sys
import types

import pytest

from dfm.api import ForEach, Pipeline, PlaceParam, Yield, load_federation
from dfm.kernel.errors import DfmError
from dfm.runner import Session, progress, tables
from dfm.runner.session import JobError
from dfm.runner.testing import MATHFED

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def fed(examplefed_path):
    return load_federation(examplefed_path)


@pytest.fixture(scope="module")
def session(fed):
    with Session(fed, transport="inproc") as session:
        yield session


@pytest.fixture(scope="module")
def prepared(fed, session):
    with Pipeline("tables") as p:
        Yield(fed.api.users.GreetMe(name=PlaceParam("name"), site="server"), place="greeting")
        with ForEach(PlaceParam("names")) as name:
            Yield(fed.api.users.GreetMe(name=name, site="server"), place="each", multiuse=True)
    return session.prepare(p)


def params():
    return [{"name": "Ada", "names": ["x", "y"]}, {"name": "Alan", "names": []}]


def test_to_pandas(session, prepared):
    job = session.execute(prepared, params())

    frame = job.to_pandas(timeout=30).sort_values(["index", "place", "frame"]).reset_index(drop=True)

    assert list(frame.columns) == ["place", "index", "frame", "value"]
    assert frame[["place", "index", "frame"]].values.tolist() == [
        ["each", 0, (0, 0)],
        ["each", 0, (0, 1)],
        ["greeting", 0, (0,)],
        ["greeting", 1, (1,)],
    ]
    assert frame["value"][2] == "Welcome, Ada! Greetings from the server."
    assert str(frame["index"].dtype) == "int64"
    again = job.to_pandas()  # the same table, not an empty one
    assert len(again) == 4
    assert len(job.to_pandas(place="greeting")) == 2


def test_to_arrow(session, prepared):
    job = session.execute(prepared, params())

    table = job.to_arrow(timeout=30)

    assert table.column_names == ["place", "index", "frame", "value"]
    assert table.num_rows == 4
    assert table.schema.field("value").type == pa.string()
    assert table.schema.field("frame").type == pa.list_(pa.int64())


def test_to_arrow_with_values_of_different_kinds_says_what_to_do():
    from dfm.runner.session import JobResult

    results = [JobResult("a", (0,), 1), JobResult("b", (0,), {"x": 1})]

    with pytest.raises(DfmError, match=r"do not fit one Arrow column .*pass place=\.\.\."):
        tables.to_arrow(results)
    assert tables.to_arrow(results, place="b").num_rows == 1


def test_a_failed_job_raises_instead_of_a_table():
    mathfed = load_federation(MATHFED)
    with Pipeline() as p:
        Yield(mathfed.api.math.Fail(message="disk on fire"), place="x")
    with Session(mathfed, transport="inproc") as session:
        job = session.execute(session.prepare(p))

        with pytest.raises(JobError, match="disk on fire"):
            job.to_pandas(timeout=30)


@pytest.mark.parametrize(
    ("module", "distribution", "method"),
    [("pandas", "pandas", "to_pandas"), ("pyarrow", "pyarrow", "to_arrow")],
)
def test_a_missing_optional_dependency_says_what_to_install(module, distribution, method, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import fails

    with pytest.raises(tables.MissingDependencyError, match=rf"pip install {distribution} "):
        getattr(tables, method)([])


def test_no_progress_display_outside_a_notebook(session, prepared, monkeypatch):
    assert progress.display_for(session.execute(prepared, params())) is None
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert not progress.in_notebook()  # IPython in the terminal: no kernel, no display


def test_progress_display_in_a_notebook(session, prepared, monkeypatch):
    shown: list[str] = []

    class Handle:
        def update(self, obj):
            shown.append(obj.data)

    class HTML:
        def __init__(self, data):
            self.data = data

    def display(obj, display_id=False):
        shown.append(obj.data)
        return Handle()

    kernel_shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: kernel_shell))
    monkeypatch.setitem(sys.modules, "IPython.display", types.SimpleNamespace(HTML=HTML, display=display))
    job = session.execute(prepared, params())

    job.wait(30)

    assert len(shown) >= 2  # shown, then updated when it ended
    assert "FINISHED" in shown[-1]
    assert "greeting: 2" in shown[-1] and "each: 2" in shown[-1]
    assert "FINISHED" in job._repr_html_()
