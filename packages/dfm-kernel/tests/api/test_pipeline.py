"""Recording pipelines with ``with Pipeline():``: ids, nesting, params, conditions and every misuse."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import attrs
import pytest

from dfm.api import Else, ForEach, If, Pipeline, PlaceParam, Yield, load_federation
from dfm.api.federation import FederationHandle
from dfm.kernel.config.models import Parameter
from dfm.kernel.errors import PipelineError
from dfm.kernel.ir import pipeline as irp

GREET = "users.GreetMe"


def untyped(handle: FederationHandle) -> FederationHandle:
    """``handle`` with ``users.GreetMe(name)`` taking any literal: these tests are about how
    literals are stored, not about the parameter's declared type (checked in test_federation)."""
    config = handle.config
    greet = attrs.evolve(config.operations["users.GreetMe"], parameters={"name": Parameter()})
    return FederationHandle(
        attrs.evolve(config, operations={**config.operations, "users.GreetMe": greet}), handle.path
    )


@pytest.fixture(scope="module")
def fed(examplefed_path) -> FederationHandle:
    return load_federation(examplefed_path)


def call(node_id: str, name: irp.Value, site: str | None = None, **extra: irp.Value) -> irp.Call:
    return irp.Call(node_id, GREET, {"name": name, **extra}, site)


def raises(message: str) -> Any:
    return pytest.raises(PipelineError, match=f"^{re.escape(message)}$")


# -- recording -----------------------------------------------------------------------


def test_ids_are_assigned_in_order(fed):
    with Pipeline("greet") as p:
        a = fed.api.users.GreetMe(name="a")
        b = fed.api.users.GreetMe(name=a, site="server")
        Yield(b, place="out")
    assert (a.id, b.id) == ("n1", "n2")
    assert repr(a) == "<users.GreetMe n1>"
    assert p.ir == irp.PipelineIR(
        (
            call("n1", irp.Lit("a")),
            call("n2", irp.Ref("n1"), "server"),
            irp.Yield("n3", irp.Ref("n2"), "out"),
        ),
        (),
        "greet",
    )


def test_foreach_if_else_nesting(fed):
    with Pipeline() as p:
        names = fed.api.users.GreetMe(name=PlaceParam("who"))  # n1
        with ForEach(names) as item:  # n2, item n3
            g = fed.api.users.GreetMe(name=item)  # n4
            with If(g > 3):  # n5
                Yield(g, place="big", multiuse=True)  # n6
            with Else():
                h = fed.api.users.GreetMe(name=g, provider="frontdesk")  # n7
                Yield(h, place="big", multiuse=True)  # n8
        with If(~names):  # n9
            Yield(PlaceParam("who"), place="empty")  # n10
    assert item.id == "n3"
    assert repr(item) == "<ForEach item n3>"
    expected = irp.PipelineIR(
        (
            call("n1", irp.Param("who")),
            irp.ForEach(
                "n2",
                irp.Ref("n1"),
                "n3",
                (
                    call("n4", irp.Ref("n3")),
                    irp.If(
                        "n5",
                        irp.Compare(">", irp.Ref("n4"), irp.Lit(3)),
                        (irp.Yield("n6", irp.Ref("n4"), "big", True),),
                        (
                            irp.Call("n7", GREET, {"name": irp.Ref("n4")}, None, "frontdesk"),
                            irp.Yield("n8", irp.Ref("n7"), "big", True),
                        ),
                    ),
                ),
            ),
            irp.If(
                "n9",
                irp.Not(irp.Truthy(irp.Ref("n1"))),
                (irp.Yield("n10", irp.Param("who"), "empty"),),
            ),
        ),
        ("who",),
    )
    assert p.ir == expected
    assert [s.id for s, _, _ in p.ir.walk()] == [f"n{i}" for i in (1, 2, 4, 5, 6, 7, 8, 9, 10)]


def test_nested_if_in_else_and_foreach_over_param(fed):
    with Pipeline() as p, ForEach(PlaceParam("people")) as person:  # n1, n2
        with If(person == "bob"):  # n3
            pass
        with Else(), If(person != "eve"):  # n4
            Yield(person, place="p")  # n5
    assert p.ir.statements == (
        irp.ForEach(
            "n1",
            irp.Param("people"),
            "n2",
            (
                irp.If(
                    "n3",
                    irp.Compare("==", irp.Ref("n2"), irp.Lit("bob")),
                    (),
                    (
                        irp.If(
                            "n4",
                            irp.Compare("!=", irp.Ref("n2"), irp.Lit("eve")),
                            (irp.Yield("n5", irp.Ref("n2"), "p"),),
                        ),
                    ),
                ),
            ),
        ),
    )
    assert p.params == ("people",)


def test_params_in_first_use_order(fed):
    with Pipeline() as p:
        fed.api.users.GreetMe(name=PlaceParam("b"))
        fed.api.users.GreetMe(name=PlaceParam("a"), greeting=PlaceParam("c"))
        with If(PlaceParam("b") < PlaceParam("d")):
            Yield(PlaceParam("a"), place="x")
    assert p.params == ("b", "a", "c", "d")
    assert p.ir.params == ("b", "a", "c", "d")


def test_conditions(fed):
    with Pipeline() as p:
        n = fed.api.users.GreetMe(name="a")
        with If((n > 3) & (n <= 10) | ~(n == 5)):
            pass
        with If(n):
            pass
        with If((n >= 1) & n):
            pass
    ref = irp.Ref("n1")
    assert [s.cond for s in p.ir.statements[1:]] == [
        irp.BoolOp(
            "or",
            (
                irp.BoolOp("and", (irp.Compare(">", ref, irp.Lit(3)), irp.Compare("<=", ref, irp.Lit(10)))),
                irp.Not(irp.Compare("==", ref, irp.Lit(5))),
            ),
        ),
        irp.Truthy(ref),
        irp.BoolOp("and", (irp.Compare(">=", ref, irp.Lit(1)), irp.Truthy(ref))),
    ]


@pytest.mark.parametrize(
    ("build", "op", "left", "right"),
    [
        (lambda x: x == 1, "==", irp.Param("x"), irp.Lit(1)),
        (lambda x: x != "a", "!=", irp.Param("x"), irp.Lit("a")),
        (lambda x: x < 2.5, "<", irp.Param("x"), irp.Lit(2.5)),
        (lambda x: x <= None, "<=", irp.Param("x"), irp.Lit(None)),
        (lambda x: x > [1], ">", irp.Param("x"), irp.Lit([1])),
        (lambda x: x >= PlaceParam("y"), ">=", irp.Param("x"), irp.Param("y")),
        (lambda x: x > 3, ">", irp.Param("x"), irp.Lit(3)),  # reflected
        (lambda x: ~x, None, None, None),
    ],
)
def test_place_param_comparisons(build, op, left, right):
    with Pipeline() as p, If(build(PlaceParam("x"))):
        pass
    cond = p.ir.statements[0].cond
    if op is None:
        assert cond == irp.Not(irp.Truthy(irp.Param("x")))
    else:
        assert cond == irp.Compare(op, left, right)
    assert p.params[0] == "x"


def test_place_param_is_hashable_and_repr():
    x = PlaceParam("x")
    assert {x: 1}[x] == 1
    assert repr(x) == "PlaceParam('x')"


def test_multiuse_yield(fed):
    with Pipeline() as p:
        n = fed.api.users.GreetMe(name="a")
        Yield(n, place="out", multiuse=True)
        Yield(n, place="out", multiuse=True)
    assert [s.multiuse for s in p.ir.statements[1:]] == [True, True]


def test_expose_as(fed):
    with Pipeline() as p:
        fed.api.users.GreetMe(name="a", greeting="Hi", site="concierge")
    assert p.ir.statements == (call("n1", irp.Lit("a"), "concierge", greeting=irp.Lit("Hi")),)
    assert fed.api.users.GreetMe.exposed_params("concierge") == {"greeting"}
    assert fed.api.users.GreetMe.exposed_params("server") == set()


def test_from_ir_and_json(fed):
    with Pipeline("x") as p:
        Yield(fed.api.users.GreetMe(name=PlaceParam("n")), place="g")
    again = Pipeline.from_json(p.to_json())
    assert again.ir == p.ir
    assert again.name == "x"
    assert Pipeline.from_ir(p.ir).ir is p.ir


def test_recording_is_deterministic(fed):
    def record() -> irp.PipelineIR:
        with Pipeline() as p, ForEach(PlaceParam("xs")) as x:
            Yield(fed.api.users.GreetMe(name=x), place="g")
        return p.ir

    assert record() == record()


# -- errors ------------------------------------------------------------------------------


def test_unknown_argument(fed):
    with (
        Pipeline(),
        raises("users.GreetMe: unknown argument 'nme'; did you mean 'name'? (takes: greeting, name)"),
    ):
        fed.api.users.GreetMe(nme="a")
    with Pipeline(), raises("users.GreetMe: unknown argument 'zzz' (takes: greeting, name)"):
        fed.api.users.GreetMe(name="a", zzz=1)


def test_missing_required_argument(fed):
    with Pipeline(), raises("users.GreetMe: missing required argument(s): name"):
        fed.api.users.GreetMe(greeting="x")


def test_unknown_site(fed):
    with Pipeline(), raises("users.GreetMe: unknown site 'sever'; did you mean 'server'?"):
        fed.api.users.GreetMe(name="a", site="sever")
    with Pipeline(), raises("users.GreetMe: unknown site 'mars'"):
        fed.api.users.GreetMe(name="a", site="mars")


def test_exposed_param_refused_at_other_site(fed):
    with Pipeline(), raises("users.GreetMe: unknown argument 'greeting' (takes: name)"):
        fed.api.users.GreetMe(name="a", greeting="Hi", site="server")


def test_yield_place_used_twice(fed):
    message = (
        "Yield place 'out' is used twice; give each Yield its own place "
        "or pass multiuse=True to every Yield of that place"
    )
    for first, second in [(False, False), (False, True), (True, False)]:
        with Pipeline():
            n = fed.api.users.GreetMe(name="a")
            Yield(n, place="out", multiuse=first)
            with raises(message):
                Yield(n, place="out", multiuse=second)


def test_yield_bad_place_and_literal(fed):
    with Pipeline():
        with raises(
            "invalid Yield place name '': it is empty; allowed: 1-64 characters of letters, digits,"
            " '_', '-' and '.', starting with a letter or digit, no '..'"
        ):
            Yield(PlaceParam("a"), place="")
        with pytest.raises(PipelineError, match=r"^invalid Yield place name '\.\./x': '/' is not allowed"):
            Yield(PlaceParam("a"), place="../x")
        with raises("Yield to 'x': yield an operation result, a ForEach item or a PlaceParam, not a literal"):
            Yield("hello", place="x")


@pytest.mark.parametrize("block", ["foreach", "if", "else"])
def test_node_used_outside_its_block(fed, block):
    with Pipeline():
        if block == "foreach":
            with ForEach(PlaceParam("xs")) as x:
                inner = fed.api.users.GreetMe(name=x)
        elif block == "if":
            with If(PlaceParam("c")):
                inner = fed.api.users.GreetMe(name="a")
        else:
            with If(PlaceParam("c")):
                pass
            with Else():
                inner = fed.api.users.GreetMe(name="a")
        with raises(
            f"users.GreetMe ({inner.id}) was produced inside a ForEach or If block "
            "and cannot be used outside it"
        ):
            Yield(inner, place="out")


def test_then_node_not_visible_in_else(fed):
    with Pipeline():
        with If(PlaceParam("c")):
            inner = fed.api.users.GreetMe(name="a")
        with Else(), pytest.raises(PipelineError, match="cannot be used outside it"):
            fed.api.users.GreetMe(name=inner)


def test_foreach_item_outside_loop(fed):
    with Pipeline():
        with ForEach(PlaceParam("xs")) as x:
            pass
        with raises(
            "ForEach item (n2) was produced inside a ForEach or If block and cannot be used outside it"
        ):
            fed.api.users.GreetMe(name=x)


def test_outer_nodes_usable_inside_blocks(fed):
    with Pipeline() as p:
        outer = fed.api.users.GreetMe(name="a")
        with ForEach(PlaceParam("xs")), If(outer):
            Yield(outer, place="o")
    assert p.ir.statements[1].body[0].then == (irp.Yield("n5", irp.Ref("n1"), "o"),)


def test_bool_of_node_and_condition(fed):
    message = (
        "users.GreetMe (n1) has no value while the pipeline is recorded; "
        "use 'with If(condition):' to branch on it"
    )
    with Pipeline():
        n = fed.api.users.GreetMe(name="a")
        with raises(message):
            bool(n)
        with raises(message):
            if n:
                pass
        with raises("conditions are evaluated at run time; use 'with If(condition):'"):
            if n > 3:
                pass
        with raises("conditions are evaluated at run time; use 'with If(condition):'"):
            bool((n > 1) & (n < 2))


def test_condition_as_argument(fed):
    with Pipeline():
        n = fed.api.users.GreetMe(name="a")
        with raises("a condition can only be used in If(...)"):
            fed.api.users.GreetMe(name=n > 1)


def test_else_without_if(fed):
    message = "Else must directly follow an If block"
    with Pipeline(), raises(message), Else():
        pass
    with Pipeline():
        with If(PlaceParam("c")):
            pass
        fed.api.users.GreetMe(name="a")
        with raises(message), Else():
            pass
    with Pipeline():
        with If(PlaceParam("c")):
            pass
        with Else():
            pass
        with raises(message), Else():
            pass
    with Pipeline(), ForEach(PlaceParam("xs")), raises(message), Else():
        pass
    with Pipeline() as p:  # an empty Else still counts: a second one is refused
        with If(PlaceParam("c")):
            pass
        with Else():
            pass
        with raises(message), Else():
            Yield(PlaceParam("c"))
    assert p.ir.statements == (irp.If("n1", irp.Truthy(irp.Param("c"))),)


@pytest.mark.parametrize(
    ("value", "shown"),
    [({1, 2}, "{1, 2}"), (object, "<class 'object'>"), (b"x", "b'x'"), ([1, {"a": {2}}], "[1, {'a': {2}}]")],
)
def test_non_json_literal(fed, value, shown):
    message = f"argument {shown} is not JSON-compatible; pass data through an operation or a PlaceParam"
    with Pipeline(), raises(message):
        fed.api.users.GreetMe(name=value)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ({1: "a"}, "{1: 'a'}"),
        ([{"a": {None: 1}}], "[{'a': {None: 1}}]"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
    ],
)
def test_literal_json_would_change(fed, value, shown):
    message = f"argument {shown} is not JSON-compatible; pass data through an operation or a PlaceParam"
    with Pipeline(), raises(message):
        fed.api.users.GreetMe(name=value)


def test_literals_are_stored_as_json_gives_them_back(fed):
    fed = untyped(fed)
    with Pipeline() as p:
        fed.api.users.GreetMe(name=(1, ("a", {"k": (2.5, None, True)})))
    assert p.ir.statements[0].args["name"] == irp.Lit([1, ["a", {"k": [2.5, None, True]}]])
    assert Pipeline.from_json(p.to_json()).ir == p.ir


def test_node_inside_literal(fed):
    with Pipeline():
        n = fed.api.users.GreetMe(name="a")
        with pytest.raises(PipelineError, match="is not JSON-compatible"):
            fed.api.users.GreetMe(name=[n])


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "it is empty"),
        ("1a", "it must not start with a digit"),
        ("a-b", "'-' is not allowed in this name"),
        ("a b", "' ' is not allowed in this name"),
        ("a\x00", "'\\x00' is not allowed in this name"),
        (3, "a name must be a string, found int"),
        (None, "a name must be a string, found NoneType"),
    ],
)
def test_bad_place_param_name(name, problem):
    shown = f"'{name}'".replace("\x00", "\\x00") if isinstance(name, str) else repr(name)
    allowed = "1-128 characters of letters, digits and '_', not starting with a digit"
    with raises(f"invalid PlaceParam name {shown}: {problem}; allowed: {allowed}"):
        PlaceParam(name)


def test_foreach_over_literal():
    with Pipeline(), raises("ForEach iterates over an operation result or a PlaceParam"):
        ForEach([1, 2])


def test_statements_outside_a_pipeline(fed):
    with raises("operation users.GreetMe must be used inside 'with Pipeline():'"):
        fed.api.users.GreetMe(name="a")
    with raises("Yield must be used inside 'with Pipeline():'"):
        Yield(PlaceParam("x"))
    with raises("If must be used inside 'with Pipeline():'"), If(PlaceParam("x")):
        pass
    with raises("PlaceParam must be used inside 'with Pipeline():'"):
        PlaceParam("x") > 3  # noqa: B015
    with raises("ForEach must be used inside 'with Pipeline():'"), ForEach(PlaceParam("x")):
        pass
    with raises("Else must be used inside 'with Pipeline():'"), Else():
        pass


def test_node_used_after_its_pipeline(fed):
    with Pipeline():
        n = fed.api.users.GreetMe(name="a")
    with raises("a node reference must be used inside 'with Pipeline():'"):
        n > 3  # noqa: B015
    with Pipeline(), raises("users.GreetMe (n1) belongs to another pipeline"):
        Yield(n)


def test_ir_inside_with_block(fed):
    message = "the pipeline is still being recorded; use it after its 'with' block"
    with Pipeline() as p:
        with raises(message):
            p.ir  # noqa: B018
        with raises(message):
            p.to_json()
    assert p.ir == irp.PipelineIR()


def test_pipeline_recorded_once():
    with Pipeline() as p:
        pass
    with raises("a Pipeline can be recorded only once"), p:
        pass


def test_failed_recording_leaves_no_state(fed):
    p = Pipeline()
    with pytest.raises(ZeroDivisionError), p, ForEach(PlaceParam("xs")), If(PlaceParam("c")):
        1 / 0  # noqa: B018
    with raises("the pipeline is still being recorded; use it after its 'with' block"):
        p.ir  # noqa: B018
    with raises("Yield must be used inside 'with Pipeline():'"):
        Yield(PlaceParam("x"))


# -- nesting limits (serializing, hashing and compiling recurse through the IR) ----------


def _nested_ifs(depth: int) -> Pipeline:
    with Pipeline() as p, contextlib.ExitStack() as stack:
        for _ in range(depth):
            stack.enter_context(If(PlaceParam("x")))
        Yield(PlaceParam("x"), place="out")
    return p


def test_blocks_nest_up_to_the_limit():
    p = _nested_ifs(irp.MAX_BLOCK_DEPTH)
    assert irp.nesting_problem(p.ir) is None
    assert Pipeline.from_json(p.to_json()).ir == p.ir


@pytest.mark.parametrize("block", ["If", "ForEach"])
def test_blocks_deeper_than_the_limit_are_refused(block):
    with Pipeline(), contextlib.ExitStack() as stack:
        for _ in range(irp.MAX_BLOCK_DEPTH):
            stack.enter_context(If(PlaceParam("x")))
        opened = If(PlaceParam("x")) if block == "If" else ForEach(PlaceParam("x"))
        with raises(
            f"{block} blocks nested more than 100 levels deep "
            "(the limit of ForEach/If blocks inside each other)"
        ):
            stack.enter_context(opened)


def test_conditions_deeper_than_the_limit_are_refused():
    x = PlaceParam("x")
    with Pipeline():
        cond = x == 1
        for _ in range(irp.MAX_VALUE_DEPTH - 1):
            cond = cond & (x == 2)
        assert cond.depth == irp.MAX_VALUE_DEPTH == irp.cond_depth(cond.cond)
        message = (
            "condition nested more than 50 levels deep (the limit); compute the value in an operation instead"
        )
        with raises(message):
            cond | (x == 3)
        with raises(message):
            _ = ~cond
        deep: Any = "v"
        for _ in range(irp.MAX_VALUE_DEPTH):
            deep = [deep]
        with raises(message):
            _ = x == deep


def test_literals_deeper_than_the_limit_are_refused(fed):
    deep: Any = "v"
    for _ in range(10_000):  # json.dumps itself would hit the recursion limit
        deep = {"k": deep}
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with Pipeline():
        for value in (deep, cyclic):
            with pytest.raises(PipelineError, match=r"literal nested more than 50 levels deep \(the limit\)"):
                fed.api.users.GreetMe(name=value)


def test_json_deeper_than_the_limits_is_refused():
    text = _nested_ifs(irp.MAX_BLOCK_DEPTH).to_json()
    deeper = json.loads(text)
    deeper["statements"] = [
        {
            "kind": "If",
            "id": "n0",
            "cond": {"kind": "Truthy", "value": {"kind": "Param", "name": "x"}},
            "then": deeper["statements"],
        }
    ]
    with raises("pipeline JSON: n100: blocks nested more than 100 levels deep (the limit)"):
        Pipeline.from_json(json.dumps(deeper))
    opening = (
        '{"kind": "If", "id": "n", "cond": {"kind": "Truthy", "value": {"kind": "Param", "name": "x"}}, '
    )
    very = '{"statements": [' + (opening + '"then": [') * 2000
    very += "]}" * 2000 + "]}"
    with raises("pipeline JSON nested too deeply (blocks may nest 100 levels, conditions and literals 50)"):
        Pipeline.from_json(very)
