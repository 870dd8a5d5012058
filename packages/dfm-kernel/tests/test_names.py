"""dfm.kernel.names: the documented character sets, and their use by dfm.api and the IR serde."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dfm.api import Pipeline, PlaceParam, Yield
from dfm.api.pipeline import record_call
from dfm.kernel.errors import DfmError, PipelineError
from dfm.kernel.ir import pipeline as irp
from dfm.kernel.ir.serde import from_data, to_data
from dfm.kernel.names import ALLOWED, InvalidNameError, name_problem, shown, validate_name

VALID = [
    ("site", "server"),
    ("site", "lab-a"),
    ("site", "Site_01.eu"),
    ("site", "hospital-a@example.org"),
    ("site", "admin@nvidia.com"),
    ("site", "s" * 64),
    ("provider", "gpu"),
    ("provider", "spot-v2.1"),
    ("place", "out3"),
    ("operation", "users.GreetMe"),
    ("operation", "a.b.c_d"),
    ("operation", "Greet"),
    ("schema", "geo.BBox"),
    ("schema", "Record-v2"),
    ("parameter", "min_age"),
    ("parameter", "_x"),
    ("code-package", "examplefed"),
]

INVALID = [
    ("site", "../x/victim", "'/' is not allowed in this name"),
    ("site", "..", "it must start with a letter or a digit"),
    ("site", "a..b", "'..' is not allowed"),
    ("site", "a\x00b", "'\\x00' is not allowed in this name"),
    ("site", "", "it is empty"),
    ("site", "s" * 65, "it is 65 characters long, at most 64 are allowed"),
    ("site", "a@", "the domain after '@' is empty"),
    ("site", "a@b..c", "is not a hostname"),
    ("site", "a@-b.org", "is not a hostname"),
    ("site", "a@b@c", "is not a hostname"),
    ("site", "@example.org", "it is empty"),
    ("site", "é", "'é' is not allowed in this name"),
    ("site", 3, "a name must be a string, found int"),
    ("provider", "p@example.org", "'@' is not allowed in this name"),
    ("place", "-x", "it must start with a letter or a digit"),
    ("operation", "users.Greet-Me", "'-' is not allowed in this name"),
    ("operation", "users.class", "'class' is a Python keyword"),
    ("operation", "users..Greet", "a part between dots is empty"),
    ("operation", "1users.Greet", "it must not start with a digit"),
    ("schema", "../s", "a part between dots is empty"),
    ("parameter", "first-name", "'-' is not allowed in this name"),
    ("parameter", "a.b", "'.' is not allowed in this name"),
    ("code-package", "def", "'def' is a Python keyword"),
]


@pytest.mark.parametrize(("kind", "name"), VALID)
def test_valid_names(kind, name):
    assert name_problem(kind, name) is None
    assert validate_name(kind, name) == name


@pytest.mark.parametrize(("kind", "name", "problem"), INVALID)
def test_invalid_names(kind, name, problem):
    found = name_problem(kind, name)
    assert found is not None and problem in found
    with pytest.raises(InvalidNameError) as info:
        validate_name(kind, name)
    assert isinstance(info.value, DfmError) and isinstance(info.value, ValueError)
    assert str(info.value) == f"invalid {kind} name {shown(name)}: {found}; allowed: {ALLOWED[kind]}"


def test_shown_escapes_and_shortens():
    assert shown("a\x1b[31mb") == "'a\\x1b[31mb'"
    assert shown("x" * 100, 10) == "'xxxxxxxxxx'... (100 characters)"
    assert shown(None) == "None"


@given(st.text(max_size=80))
def test_a_simple_name_is_one_safe_path_component(name):
    if name_problem("site", name) is None and "@" not in name:
        assert os.sep not in name and "/" not in name and "\\" not in name
        assert name not in (".", "..") and os.path.basename(name) == name
        assert os.path.normpath(os.path.join("base", name)).startswith("base" + os.sep)
        assert name.isprintable() and name.isascii()


# -- dfm.api and the IR -------------------------------------------------------------


def test_yield_place_and_pins_are_checked():
    with Pipeline():
        with pytest.raises(PipelineError, match=r"^invalid Yield place name '\.\./out': '/' is not allowed"):
            Yield(PlaceParam("x"), place="../out")
        with pytest.raises(PipelineError, match=r"^invalid provider name 'p/q'"):
            record_call("users.GreetMe", {}, provider="p/q")
        with pytest.raises(PipelineError, match=r"^invalid site name 'a\\x00'"):
            record_call("users.GreetMe", {}, site="a\x00")
        with pytest.raises(PipelineError, match=r"^invalid operation name 'users/Greet'"):
            record_call("users/Greet", {})


def _ir_json(place="y", site="server", param="x", operation="users.GreetMe"):
    ir = irp.PipelineIR(
        (
            irp.Call("n1", "users.GreetMe", {"name": irp.Param("x")}, "server", None),
            irp.Yield("n2", irp.Ref("n1"), "y"),
        ),
        ("x",),
    )
    data = json.loads(json.dumps(to_data(ir)))
    data["statements"][0]["site"] = site
    data["statements"][0]["operation"] = operation
    data["statements"][0]["args"]["name"]["name"] = param
    data["statements"][1]["place"] = place
    return data


def test_a_pipeline_read_from_json_has_its_names_checked():
    assert from_data(_ir_json(), irp.PipelineIR).statements[1].place == "y"
    for kwargs, message in [
        ({"place": "../../etc/x"}, "invalid Yield place name '../../etc/x'"),
        ({"site": "../victim"}, "invalid site name '../victim'"),
        ({"param": "a b"}, "invalid PlaceParam name 'a b'"),
        ({"operation": "x/y"}, "invalid operation name 'x/y'"),
    ]:
        with pytest.raises(PipelineError) as info:
            from_data(_ir_json(**kwargs), irp.PipelineIR)
        assert str(info.value).startswith(message)
        assert "allowed: " in str(info.value)
    with pytest.raises(PipelineError, match="invalid Yield place name"):
        Pipeline.from_json(json.dumps(_ir_json(place="a/b")))
