"""The per-user list of named federations (federations.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfm.kernel import DfmError
from dfm.kernel.fedlist import (
    federation_path,
    fedlist_path,
    list_federations,
    register_federation,
    resolve_federation,
    unregister_federation,
)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DFM_CONFIG_HOME", str(tmp_path / "cfg"))
    config = tmp_path / "examplefed.dfm.yaml"
    config.write_text("dfm: 1.0.0\n")
    return config


def test_location(monkeypatch, tmp_path):
    monkeypatch.setenv("DFM_CONFIG_HOME", str(tmp_path / "a"))
    assert fedlist_path() == tmp_path / "a" / "federations.yaml"
    monkeypatch.delenv("DFM_CONFIG_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert fedlist_path() == tmp_path / "xdg" / "dfm" / "federations.yaml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert fedlist_path() == tmp_path / "home" / ".config" / "dfm" / "federations.yaml"


def test_set_list_resolve_delete(home, monkeypatch):
    assert list_federations() == {}

    stored, previous = register_federation("examplefed", home)
    assert (stored, previous) == (home.resolve(), None)
    assert list_federations() == {"examplefed": home.resolve()}
    assert federation_path("examplefed") == home.resolve()
    assert resolve_federation("examplefed") == home.resolve()
    assert resolve_federation(str(home)) == home.resolve()

    other = home.with_name("other.dfm.yaml")
    other.write_text("dfm: 1.0.0\n")
    assert register_federation("examplefed", other) == (other.resolve(), home.resolve())

    assert unregister_federation("examplefed") == other.resolve()
    assert list_federations() == {}


def test_paths_are_stored_absolute(home, monkeypatch):
    monkeypatch.chdir(home.parent)
    register_federation("examplefed", Path(home.name))

    assert "path: " + str(home.resolve()) in fedlist_path().read_text()


def test_unknown_names_get_did_you_mean(home):
    register_federation("examplefed", home)

    with pytest.raises(DfmError) as raised:
        federation_path("examplfed")

    assert str(raised.value) == (
        "unknown federation 'examplfed'; did you mean 'examplefed'? "
        "(registered: examplefed; register one with 'dfm fed config set NAME PATH')"
    )
    with pytest.raises(DfmError, match="did you mean 'examplefed'"):
        unregister_federation("examplfed")
    with pytest.raises(DfmError, match="no registered federation of that name; did you mean 'examplefed'"):
        resolve_federation("examplfed")


def test_bad_input_is_a_dfm_error(home, tmp_path):
    with pytest.raises(DfmError, match="invalid federation name 'no spaces'"):
        register_federation("no spaces", home)
    with pytest.raises(DfmError, match="no federation config file at"):
        register_federation("missing", tmp_path / "missing.dfm.yaml")

    fedlist_path().parent.mkdir(parents=True, exist_ok=True)
    fedlist_path().write_text("examplefed: [not, a, mapping]\n")
    with pytest.raises(DfmError, match=r"expected a mapping of federation name -> \{path: <config file>\}"):
        list_federations()
    fedlist_path().write_text("examplefed: {path: [1\n")
    with pytest.raises(DfmError, match="not valid YAML"):
        list_federations()


def test_registered_file_that_vanished(home):
    register_federation("examplefed", home)
    home.unlink()

    with pytest.raises(DfmError, match=r"federation 'examplefed' is registered at .*, which is not a file"):
        resolve_federation("examplefed")
