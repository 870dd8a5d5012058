"""JSON pointers and the marking YAML loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dfm.kernel.config import pointers
from dfm.kernel.config.yamlmarks import FAST_LOADER, LocatingLoader, Mark, YamlSyntaxError, parse_yaml

HERE = Path(__file__).parent


@pytest.mark.parametrize(
    "key, token",
    [
        ("#/operations/users.GreetMe", "#~1operations~1users.GreetMe"),
        ("a~b", "a~0b"),
        ("~1", "~01"),
        ("", ""),
    ],
)
def test_pointer_escaping(key: str, token: str) -> None:
    assert pointers.escape(key) == token
    assert pointers.unescape(token) == key
    assert pointers.split(pointers.join("/sites", key)) == ["sites", key]


def test_pointer_helpers() -> None:
    assert pointers.split("") == []
    assert pointers.parent("/a/b~1c") == "/a" and pointers.parent("/a") == "" and pointers.parent("") == ""
    assert [pointers.segment(k) for k in (None, True, False, 3, 1.5)] == ["null", "true", "false", "3", "1.5"]
    with pytest.raises(ValueError):
        pointers.split("schemas/X")


def test_marks_of_values_and_keys() -> None:
    doc = parse_yaml('dfm: 1.0.0\nsites:\n  a:\n    interface:\n      "#/operations/x": {adapter: m.C}\n')
    key = "/sites/a/interface/#~1operations~1x"
    assert doc.values[key] == Mark(5, 25)
    assert doc.keys[key] == Mark(5, 7)
    assert doc.values[f"{key}/adapter"] == Mark(5, 35)
    assert doc.values[""] == Mark(1, 1)


def test_duplicate_keys_are_problems_not_errors() -> None:
    doc = parse_yaml("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert [(p.pointer, p.mark, p.message) for p in doc.problems] == [
        ("/b/c", Mark(4, 3), "duplicate key 'c' (first defined on line 3)")
    ]


def test_merge_keys_are_not_duplicates() -> None:
    doc = parse_yaml("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 3\n")
    assert doc.problems == []
    assert doc.data["d"] == {"x": 3, "y": 2}
    assert doc.values["/d/y"] == Mark(1, 20)  # where the merged value is written


def test_syntax_errors_have_a_position() -> None:
    with pytest.raises(YamlSyntaxError) as info:
        parse_yaml("a: 1\nb: [1, 2\n")
    assert info.value.mark == Mark(3, 1)
    assert info.value.message == (
        "invalid YAML: while parsing a flow sequence (line 2), expected ',' or ']', but got '<stream end>'"
    )


def _yaml_files() -> list[Path]:
    return sorted(HERE.rglob("*.yaml"))


@pytest.mark.skipif(FAST_LOADER is None, reason="PyYAML without libyaml")
@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: p.name)
def test_libyaml_and_pure_python_agree(path: Path) -> None:
    assert FAST_LOADER is not None
    text = path.read_text(encoding="utf-8")
    try:
        slow = LocatingLoader(text).load_document()
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            FAST_LOADER(text).load_document()
        return
    assert FAST_LOADER(text).load_document() == slow
