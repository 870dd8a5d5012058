"""files.ReadTable / files.WriteTable: CSV, JSON lines and Parquet round trips."""

from __future__ import annotations

import sys

import pytest
from dfm_adapter_files.adapters import FilesError, ReadTable, WriteTable
from dfm_adapter_files.formats import convert_cell
from hypothesis import given, settings
from hypothesis import strategies as st

from dfm.kernel.testing import check_adapter_class

from .conftest import FakeSite

TABLE = [
    {"id": 1, "name": "Ada", "age": 36, "score": 1.5, "ok": True},
    {"id": 2, "name": "Alan", "age": None, "score": -2.0, "ok": False},
]


def test_contract():
    check_adapter_class(ReadTable, args=["path", "format", "columns", "limit", "root"])
    check_adapter_class(WriteTable, args=["path", "rows", "format", "overwrite", "root"])


def test_read_csv_converts_cells(site):
    rows = ReadTable(site, None).body(path="tables/people.csv")
    assert rows == [
        {"id": 1, "name": "Ada", "age": 36, "zip": "007"},
        {"id": 2, "name": "Alan", "age": None, "zip": 10115},
    ]
    raw = ReadTable(site, None).body(path="tables/people.csv", convert=False, columns=["age"], limit=1)
    assert raw == [{"age": "36"}]


def test_read_jsonl(site):
    assert ReadTable(site, None).body(path="tables/people.jsonl") == [
        {"id": 1, "tags": ["x"]},
        {"id": 2, "tags": []},
    ]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_round_trip(site, suffix):
    path = f"out/table{suffix}"
    result = WriteTable(site, None).body(path=path, rows=TABLE)
    assert result["rows"] == 2 and result["path"] == path and result["bytes"] > 0
    back = ReadTable(site, None).body(path=path)
    expected = TABLE
    if suffix in (".csv", ".tsv"):  # booleans become text in CSV
        expected = [{**row, "ok": "true" if row["ok"] else "false"} for row in TABLE]
    assert back == expected


def test_tsv_uses_tabs(site, root):
    WriteTable(site, None).body(path="t.tsv", rows=[{"a": 1, "b": "x y"}])
    assert (root / "t.tsv").read_text() == "a\tb\n1\tx y\n"


def test_csv_header_is_the_union_of_keys(site, root):
    WriteTable(site, None).body(path="u.csv", rows=[{"a": 1}, {"b": 2, "a": None}])
    assert (root / "u.csv").read_text() == "a,b\n1,\n,2\n"


def test_parquet_columns_and_limit(site):
    WriteTable(site, None).body(path="p.parquet", rows=TABLE)
    assert ReadTable(site, None).body(path="p.parquet", columns=["name"], limit=1) == [{"name": "Ada"}]


def test_parquet_without_pyarrow_explains_the_extra(site, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(FilesError, match=r"pip install 'dfm-adapter-files\[parquet\]'"):
        WriteTable(site, None).body(path="p.parquet", rows=TABLE)


def test_errors(site, root):
    with pytest.raises(FilesError, match=r"cannot tell the table format of 'notes.txt'"):
        ReadTable(site, None).body(path="notes.txt")
    with pytest.raises(FilesError, match="unknown table format 'xlsx'"):
        ReadTable(site, None).body(path="notes.txt", format="xlsx")
    (root / "bad.jsonl").write_text('{"a": 1}\n[1]\n')
    with pytest.raises(FilesError, match=r"bad.jsonl:2: each line must be a JSON object, got list"):
        ReadTable(site, None).body(path="bad.jsonl")
    with pytest.raises(FilesError, match=r"has no column 'nope'"):
        ReadTable(site, None).body(path="tables/people.csv", columns=["nope"])
    with pytest.raises(FilesError, match=r"cannot read 'notes\.pq' as Parquet"):
        (root / "notes.pq").write_text("not parquet")
        ReadTable(site, None).body(path="notes.pq")
    with pytest.raises(FilesError, match="row 1 is a int, not a mapping"):
        WriteTable(site, None).body(path="x.csv", rows=[{"a": 1}, 2])
    with pytest.raises(FilesError, match="rows are not JSON-compatible"):
        WriteTable(site, None).body(path="x.jsonl", rows=[{"a": float("nan")}])
    with pytest.raises(FilesError, match="cannot write an empty table as Parquet"):
        WriteTable(site, None).body(path="x.parquet", rows=[])
    with pytest.raises(FilesError, match="escapes the site's root"):
        WriteTable(site, None).body(path="../x.csv", rows=[{"a": 1}])


def test_convert_cell():
    assert [convert_cell(t) for t in ["", "0", "-12", "007", "1.5", "1e3", "-0.25", "x", "1.", " 1"]] == [
        None,
        0,
        -12,
        "007",
        1.5,
        1000.0,
        -0.25,
        "x",
        "1.",
        " 1",
    ]


cell = st.one_of(
    st.none(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\x00"), max_size=8).filter(
        lambda s: convert_cell(s) == s
    ),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.fixed_dictionaries({"a": cell, "b": cell}), min_size=1, max_size=8))
def test_csv_and_jsonl_round_trip_any_table(tmp_path_factory, rows):
    site = FakeSite(config={"root": str(tmp_path_factory.mktemp("rt"))})
    for path in ("t.csv", "t.jsonl"):
        WriteTable(site, None).body(path=path, rows=rows)
        assert ReadTable(site, None).body(path=path) == rows
