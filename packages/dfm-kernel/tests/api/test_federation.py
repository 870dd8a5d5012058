"""load_federation by path and registered name, and the operation namespace it exposes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dfm.api import FederationHandle, Namespace, OperationCall, load_federation
from dfm.kernel.errors import DfmError
from dfm.kernel.fedlist import register_federation, write_fedlist


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("DFM_CONFIG_HOME", str(tmp_path / "cfg"))
    return tmp_path / "cfg"


def test_by_path(home, examplefed_path):
    for given in (examplefed_path, str(examplefed_path)):
        fed = load_federation(given)
        assert isinstance(fed, FederationHandle)
        assert fed.name == "examplefed"
        assert fed.path == examplefed_path.resolve()
        assert set(fed.config.sites) == {"concierge", "server", "reception"}
        assert repr(fed) == f"<federation examplefed (3 sites) from {examplefed_path.resolve()}>"


def test_relative_path(home, monkeypatch, examplefed_path):
    monkeypatch.chdir(examplefed_path.parent)
    assert load_federation("examplefed.dfm.yaml").path == examplefed_path.resolve()


def test_by_registered_name(home, examplefed_path):
    write_fedlist({"greetings": {"path": str(examplefed_path)}})
    assert load_federation("greetings").path == examplefed_path.resolve()
    register_federation("other", examplefed_path)
    assert load_federation("other").name == "examplefed"


def test_unknown_name(home, examplefed_path):
    register_federation("examplefed", examplefed_path)
    message = (
        "no federation config file 'examplefd' and no registered federation of that name; "
        "did you mean 'examplefed'? (register one with 'dfm fed config set NAME PATH')"
    )
    with pytest.raises(DfmError, match=f"^{re.escape(message)}$"):
        load_federation("examplefd")
    message = (
        "no federation config file 'zzz' and no registered federation of that name "
        "(register one with 'dfm fed config set NAME PATH')"
    )
    with pytest.raises(DfmError, match=f"^{re.escape(message)}$"):
        load_federation("zzz")


def test_registered_file_missing(home, tmp_path):
    gone = tmp_path / "gone.dfm.yaml"
    write_fedlist({"gone": {"path": str(gone)}})
    message = (
        f"federation 'gone' is registered at {gone}, which is not a file "
        "(fix it with 'dfm fed config set gone PATH')"
    )
    with pytest.raises(DfmError, match=f"^{re.escape(message)}$"):
        load_federation("gone")


def test_operation_handle(home, examplefed_path):
    fed = load_federation(examplefed_path)
    op = fed.api.users.GreetMe
    assert isinstance(op, OperationCall)
    assert op is fed.operations["users.GreetMe"]
    assert repr(op) == "<operation users.GreetMe(name)>"
    assert op.name == "users.GreetMe"
    assert op.__doc__ == "Returns a greeting for a person."
    assert op.exposed_params() == {"greeting"}


def test_namespaces(home, examplefed_path):
    fed = load_federation(examplefed_path)
    assert isinstance(fed.api.users, Namespace)
    assert dir(fed.api) == ["users"]
    assert dir(fed.api.users) == ["GreetMe"]
    assert list(fed.api) == ["users"]
    assert list(fed.api.users) == ["GreetMe"]


def test_unknown_attribute(home, examplefed_path):
    fed = load_federation(examplefed_path)
    message = "no operation or namespace 'user'; did you mean 'users'?"
    with pytest.raises(AttributeError, match=f"^{re.escape(message)}$"):
        fed.api.user  # noqa: B018
    message = "no operation or namespace 'users.GreetMee'; did you mean 'GreetMe'?"
    with pytest.raises(AttributeError, match=f"^{re.escape(message)}$"):
        fed.api.users.GreetMee  # noqa: B018
    with pytest.raises(AttributeError, match=r"^no operation or namespace 'users\.zzz'$"):
        fed.api.users.zzz  # noqa: B018
    assert not hasattr(fed.api, "nothing")
