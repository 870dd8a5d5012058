"""load_config: valid configs, round trips, references, constants and whole-file reporting."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dfm.kernel.config import Federation, load_config, load_config_text
from dfm.kernel.config.converter import converter
from dfm.kernel.config.models import Const, FromParam, FromProvider, InterfaceEntry
from dfm.kernel.errors import ConfigError, ConfigIssue

HERE = Path(__file__).parent
FULL = HERE / "fixtures" / "full" / "full.dfm.yaml"
GREET = "#/operations/users.GreetMe"

MINIMAL = """\
dfm: 1.0.0
info: {api-version: 1.0.0, code-package: tiny}
operations:
  users.GreetMe:
    parameters:
      name: {type: string}
sites:
  server:
    interface:
      "#/operations/users.GreetMe":
        adapter: tiny.adapters.GreetMe
        args:
          name: {from-param: name}
"""


def minimal(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MINIMAL)
    data.update(extra)
    return data


def entry(fed: Federation, site: str = "server") -> InterfaceEntry:
    found = fed.interface_entry(site, "users.GreetMe")
    assert found is not None
    return found


def issues_of(text: str, file: str = "fed.dfm.yaml") -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        load_config_text(textwrap.dedent(text), file)
    return info.value.issues


# -- valid configs ---------------------------------------------------------------------


def test_examplefed_loads(examplefed_path: Path) -> None:
    fed = load_config(examplefed_path)
    assert fed.name == "examplefed"
    assert list(fed.sites) == ["concierge", "server", "reception"]
    assert fed.home() == "concierge"
    assert entry(fed, "server").args == {
        "name": FromParam("name"),
        "greeting": Const("Welcome"),
        "where": entry(fed, "server").args["where"],  # type: ignore[index]
        "shout": Const(False),
    }
    provider, reception = fed.offers("reception")["users.GreetMe"]
    assert provider == "frontdesk"
    assert isinstance(reception.args, dict)
    assert reception.args["greeting"] == FromProvider("greeting")


def test_the_full_feature_config_loads() -> None:
    fed = load_config(FULL)
    assert fed.homesite == "hub" and fed.allow_pickle
    assert fed.plugins == {"dfm-adapter-sql": ">=0.2,<1", "dfm-adapter-files": ""}
    # $ref into another file
    assert fed.schemas["Person"]["properties"]["friends"]["items"] == {"type": "string"}
    # "#/schemas/X" strings are not references
    assert fed.operations["users.GreetMe"].returns == "#/schemas/Greeting"
    assert fed.operations["users.GreetMe"].parameters["person"].type == "#/schemas/Person"
    # dictionary merge: siblings win over the target
    query = fed.operations["sql.Query"].parameters["query"]
    assert (query.type, query.description) == ("string", "The SQL text.")
    db = fed.sites["warehouse"].providers["db"]
    assert db.description == "The warehouse database."
    assert db.config == {"dsn": "postgresql://warehouse/db", "pool": 4}
    # a reference inside a referenced file, pointing back into the first file
    assert fed.operations["files.Read"].returns == {"type": "string", "maxLength": 200}
    # YAML anchors and merge keys
    assert entry(fed, "hub").is_async is True
    assert fed.sites["warehouse"].providers["files"].interface["#/operations/files.Read"].is_async is False
    assert fed.link_cost("warehouse", "hub") == 10.0 and fed.links.default_cost == 2.5
    assert fed.sites["warehouse"].policy.resident == ["sql.Query"]
    assert fed.sites["hub"].secrets.env_prefix == "FULLFED_HUB_"
    assert fed.provision is not None and fed.provision.helm == {
        "chart-version": "0.1.0",
        "values": {"replicas": 1},
    }


@pytest.mark.parametrize("which", ["examplefed", "full"])
def test_round_trip(which: str, request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue("examplefed_path") if which == "examplefed" else FULL
    fed = load_config(path)
    data = converter.unstructure(fed)
    assert converter.structure(data, Federation) == fed
    # and through YAML text and the whole loader
    assert load_config_text(yaml.safe_dump(data, sort_keys=False)) == fed


@pytest.mark.parametrize(
    "text, value",
    [
        ("0", 0),
        ("false", False),
        ('""', ""),
        ("null", None),
        ("~", None),
        ("0.0", 0.0),
        ("[]", []),
        ("{}", {}),
    ],
)
def test_falsy_constants_survive(text: str, value: Any) -> None:
    fed = load_config_text(MINIMAL + f"          flag: {{const: {text}}}\n")
    args = entry(fed).args
    assert isinstance(args, dict)
    const = args["flag"]
    assert const == Const(value) and type(const.const) is type(value)  # type: ignore[union-attr]


CONSTANTS = st.one_of(
    st.sampled_from([0, 0.0, False, "", None]),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
)


@settings(max_examples=150, deadline=None)
@given(value=CONSTANTS)
def test_any_scalar_constant_survives_a_load(value: Any) -> None:
    data = minimal()
    data["sites"]["server"]["interface"][GREET]["args"]["flag"] = {"const": value}
    fed = load_config_text(yaml.safe_dump(data))
    args = entry(fed).args
    assert isinstance(args, dict)
    assert args["flag"] == Const(value)
    assert type(args["flag"].const) is type(value)  # type: ignore[union-attr]


def test_from_operation_args() -> None:
    fed = load_config_text(MINIMAL.replace("        args:\n          name: {from-param: name}\n", ""))
    assert entry(fed).args == "from-operation"


# -- references --------------------------------------------------------------------------


def test_pointer_escaping_in_refs(tmp_path: Path) -> None:
    (tmp_path / "fed.dfm.yaml").write_text(
        MINIMAL.replace(
            "        adapter: tiny.adapters.GreetMe\n",
            "        adapter: {$ref: 'entries.yaml#/a~1b~0c/%23~1operations~1users.GreetMe/adapter'}\n",
        )
    )
    (tmp_path / "entries.yaml").write_text("a/b~c:\n  '#/operations/users.GreetMe': {adapter: pkg.mod:Cls}\n")
    assert entry(load_config(tmp_path / "fed.dfm.yaml")).adapter == "pkg.mod:Cls"


def test_a_pointer_may_pass_through_a_reference(tmp_path: Path) -> None:
    text = MINIMAL + (
        "    providers:\n      team: {$ref: 'team.yaml'}\n"
        "    config: {$ref: '#/sites/server/providers/team/config'}\n"
    )
    (tmp_path / "fed.dfm.yaml").write_text(text)
    (tmp_path / "team.yaml").write_text("config: {display-name: the team}\n")
    fed = load_config(tmp_path / "fed.dfm.yaml")
    assert fed.sites["server"].config == {"display-name": "the team"}


def test_merged_ref_locates_target_keys_and_sibling_keys_in_their_files(tmp_path: Path) -> None:
    (tmp_path / "fed.dfm.yaml").write_text(
        MINIMAL + "    providers:\n      team: {$ref: 'team.yaml#/team', descripton: local}\n"
    )
    (tmp_path / "team.yaml").write_text("team:\n  confg: {}\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "fed.dfm.yaml")
    found = {(Path(i.file).name, i.line, i.column, i.pointer, i.hint) for i in info.value.issues}
    assert found == {
        ("fed.dfm.yaml", 15, 39, "/sites/server/providers/team/descripton", "did you mean 'description'?"),
        ("team.yaml", 2, 3, "/team/confg", "did you mean 'config'?"),
    }


def test_a_sibling_overriding_a_referenced_key_is_located_in_the_referring_file(tmp_path: Path) -> None:
    # The target's interface entry is itself a reference; the sibling replaces the whole
    # interface, so an issue in the sibling must not be sent to the target's files.
    (tmp_path / "team.yaml").write_text(
        "team:\n  interface: {$ref: '#/shared'}\n"
        "shared: {'#/operations/users.GreetMe': {$ref: '#/entry'}}\n"
        "entry: {adapter: team.adapters.Greet}\n"
    )
    sibling = "interface: {'#/operations/users.GreetMe': {adapter: x.y.Z, typo: 1}}"
    (tmp_path / "fed.dfm.yaml").write_text(
        MINIMAL + f"    providers:\n      team: {{$ref: 'team.yaml#/team', {sibling}}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "fed.dfm.yaml")
    (issue,) = info.value.issues
    assert (Path(issue.file).name, issue.line, issue.pointer) == (
        "fed.dfm.yaml",
        15,
        "/sites/server/providers/team/interface/#~1operations~1users.GreetMe/typo",
    )
    line = (tmp_path / "fed.dfm.yaml").read_text().splitlines()[14]
    assert issue.column == line.index("typo") + 1


def test_a_missing_key_inside_a_ref_target_is_reported_at_the_target(tmp_path: Path) -> None:
    (tmp_path / "fed.dfm.yaml").write_text(
        MINIMAL.replace("info: {api-version: 1.0.0, code-package: tiny}", "info: {$ref: 'info.yaml'}")
    )
    (tmp_path / "info.yaml").write_text("# the info block\napi-version: 1.0.0\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "fed.dfm.yaml")
    (issue,) = info.value.issues
    assert (Path(issue.file).name, issue.line, issue.column, issue.pointer) == ("info.yaml", 2, 1, "")
    assert issue.message == "missing required key 'code-package'"


def test_a_file_is_never_fetched_from_a_url() -> None:
    (issue,) = issues_of(MINIMAL.replace("{type: string}", "{$ref: 'file:///etc/passwd'}"))
    assert issue.message.startswith("remote $ref 'file:///etc/passwd' is not allowed")


# -- whole-file reporting ----------------------------------------------------------------


def test_every_issue_of_a_file_is_reported_sorted_by_position() -> None:
    text = """\
        dfm: 3.0.0
        info: {api-version: 1.0.0, code-package: many}
        homesite: nowhere
        operations:
          users.GreetMe:
            parameters: {name: {type: string}}
            required: [nmae]
        sites:
          server:
            interface:
              "#/operations/users.GreetMe":
                adapter: x.y.Z
                args: {name: {from-param: nam}, where: {from-site: place}}
            policy: {resident: [users.Other]}
        plugins: {dfm-adapter-x: "=>1"}
    """
    issues = issues_of(text)
    assert [(i.line, i.pointer.rsplit("/", 1)[-1]) for i in issues] == [
        (1, "dfm"),
        (3, "homesite"),
        (13, "from-param"),
        (13, "from-site"),
        (14, "0"),
        (15, "dfm-adapter-x"),
    ]
    message = str(ConfigError(issues))
    assert message.startswith("6 problems in federation config\n")
    assert all(str(issue) in message for issue in issues)


def test_structure_issues_are_all_reported() -> None:
    text = """\
        dfm: 1.0.0
        info: {api-version: [1], code-package: many, colour: blue}
        operations:
          users.GreetMe: {estimated-size: big, parameters: {name: {type: string}}}
        sites:
          server:
            interface:
              "#/operations/users.GreetMe": {adapter: x.y.Z, args: {a: 1, b: {const: 1, from-param: x}}}
    """
    entry = "/sites/server/interface/users.GreetMe"  # shown readably
    bindings = "from-param, const, from-secrets, from-provider, from-site"
    assert [str(issue) for issue in issues_of(text)] == [
        "fed.dfm.yaml:2:21 /info/api-version: expected a string, found a list",
        "fed.dfm.yaml:4:35 /operations/users.GreetMe/estimated-size: expected an integer, found a string",
        f"fed.dfm.yaml:8:64 {entry}/args/a: expected a binding mapping with one of {bindings},"
        " found an integer; write {const: <value>} to pass a fixed value",
        f"fed.dfm.yaml:8:70 {entry}/args/b: expected exactly one of {bindings}, found const, from-param",
    ]


def test_a_missing_file_is_an_issue_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.dfm.yaml")
    assert [i.message for i in info.value.issues] == ["config file not found"]
    with pytest.raises(ConfigError):
        load_config(tmp_path)  # a directory


def test_aliases_that_expand_too_far_are_refused() -> None:
    lines = [
        "dfm: 1.0.0",
        "info: {api-version: 1.0.0, code-package: laughs}",
        "schemas:",
        "  l0: &l0 [x, x, x, x, x, x, x, x, x, x]",
    ]
    lines += [f"  l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 9)]
    (issue,) = issues_of("\n".join(lines) + "\n")
    assert issue.message == "the config expands to more than 200000 nodes"


def test_a_recursive_alias_is_an_issue() -> None:
    issues = issues_of(MINIMAL + "schemas:\n  Loop: &loop {items: [*loop]}\n")
    assert [(i.line, i.pointer, i.message) for i in issues] == [
        (15, "/schemas/Loop/items/0", "a recursive YAML alias (a node that contains itself) is not supported")
    ]


def test_the_loader_does_not_load_plugins() -> None:
    fed = load_config_text(MINIMAL.replace("tiny.adapters.GreetMe", "not.installed.Anywhere"))
    assert entry(fed).adapter == "not.installed.Anywhere"
