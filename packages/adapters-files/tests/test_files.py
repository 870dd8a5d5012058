"""files.List / Read / Write and the root confinement."""

from __future__ import annotations

import os
import uuid

import pytest
from dfm_adapter_files.adapters import FilesError, List, Read, Write

from dfm.kernel.errors import DfmError
from dfm.kernel.testing import check_adapter_class

from .conftest import FakeProvider, FakeSite


@pytest.mark.parametrize(
    ("cls", "args"),
    [
        (List, ["path", "pattern", "recursive", "root"]),
        (Read, ["path", "binary", "root"]),
        (Write, ["path", "data", "overwrite", "root"]),
    ],
)
def test_contract(cls, args):
    check_adapter_class(cls, args=args)


def test_list(site):
    lister = List(site, None)
    assert lister.body() == ["notes.txt"]
    assert lister.body(recursive=True) == ["notes.txt", "tables/people.csv", "tables/people.jsonl"]
    assert lister.body(path="tables", pattern="*.csv") == ["tables/people.csv"]
    with pytest.raises(
        FilesError, match=r"^files.List at site 'lab': no folder 'nope' under the site's root$"
    ):
        lister.body(path="nope")


def test_read_text_and_bytes(site):
    assert Read(site, None).body(path="notes.txt") == "hello\n"
    assert Read(site, None).body(path="tables/../notes.txt", binary=True) == b"hello\n"
    with pytest.raises(FilesError, match=r"no file 'missing\.txt'"):
        Read(site, None).body(path="missing.txt")


def test_write_refuses_to_overwrite_unless_asked(site, root):
    writer = Write(site, None)
    assert writer.body(path="out/new.txt", data="Grüße") == {"path": "out/new.txt", "bytes": 7}
    assert (root / "out" / "new.txt").read_text(encoding="utf-8") == "Grüße"
    with pytest.raises(FilesError, match=r"'out/new\.txt' exists; pass overwrite: true"):
        writer.body(path="out/new.txt", data="again")
    writer.body(path="out/new.txt", data=b"\x00\x01", overwrite=True)
    assert (root / "out" / "new.txt").read_bytes() == b"\x00\x01"
    with pytest.raises(FilesError, match="data must be text or bytes, got list"):
        writer.body(path="x.txt", data=[1])
    with pytest.raises(FilesError, match="'out' is a folder"):
        writer.body(path="out", data="x", overwrite=True)


@pytest.mark.parametrize(
    "path",
    [
        "../outside.txt",
        "tables/../../outside.txt",
        "/etc/passwd",
        "~/x",
        "file:///etc/passwd",
        "memory://x",
        "..\\outside.txt",
        "C:/Windows/win.ini",
        "..",
    ],
)
def test_paths_may_not_escape_the_root(site, path):
    for call in (
        lambda: Read(site, None).body(path=path),
        lambda: Write(site, None).body(path=path, data="x", overwrite=True),
        lambda: List(site, None).body(path=path),
    ):
        with pytest.raises(
            FilesError, match=r"^files\.\w+ at site 'lab': path .* (escapes the site's root|must be relative)"
        ):
            call()


def test_symlinks_out_of_the_root_are_refused(site, root, tmp_path):
    os.symlink(tmp_path / "outside.txt", root / "link.txt")
    os.symlink(tmp_path, root / "up")
    with pytest.raises(FilesError, match="escapes the site's root"):
        Read(site, None).body(path="link.txt")
    with pytest.raises(FilesError, match="escapes the site's root"):
        Write(site, None).body(path="up/planted.txt", data="x")
    assert not (tmp_path / "planted.txt").exists()


def test_root_from_binding_provider_or_site(root, tmp_path, monkeypatch):
    assert Read(FakeSite(), None).body(path="notes.txt", root=str(root)) == "hello\n"
    provider = FakeProvider("p", {"root": str(root / "tables")})
    assert List(FakeSite(config={"root": str(root)}), provider).body() == ["people.csv", "people.jsonl"]
    monkeypatch.chdir(tmp_path)
    assert Read(FakeSite(config={"root": "root"}), None).body(path="notes.txt") == "hello\n"  # relative: cwd
    with pytest.raises(FilesError, match="no root: bind 'root'"):
        Read(FakeSite(), None).body(path="notes.txt")
    with pytest.raises(DfmError, match="path must be a string, got int"):
        Read(FakeSite(), None).body(path=3, root=str(root))


def test_any_fsspec_root():
    root = f"memory://dfm-test-{uuid.uuid4().hex}"
    site = FakeSite(config={"root": root})
    Write(site, None).body(path="a/b.txt", data="in memory")
    assert List(site, None).body(recursive=True) == ["a/b.txt"]
    assert Read(site, None).body(path="a/b.txt") == "in memory"
    with pytest.raises(FilesError, match="escapes the site's root"):
        Read(site, None).body(path="../x")
