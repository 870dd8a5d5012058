"""check_adapters (the registry-dependent check the CLI runs) and the name rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfm.kernel.config import load_config
from dfm.kernel.config.validate import adapter_problem, check_adapters, is_dotted_identifier, is_import_path

ENTRY = '      "#/operations/users.GreetMe": {{adapter: "{adapter}"}}\n'


def federation_with_adapters(folder: Path, *adapters: str) -> Path:
    sites = "".join(f"  s{n}:\n    interface:\n" + ENTRY.format(adapter=a) for n, a in enumerate(adapters))
    path = folder / "fed.dfm.yaml"
    path.write_text(
        "dfm: 1.0.0\ninfo: {api-version: 1.0.0, code-package: fed}\n"
        "operations:\n  users.GreetMe: {}\nsites:\n" + sites,
        encoding="utf-8",
    )
    return path


def test_check_adapters(tmp_path: Path) -> None:
    (tmp_path / "fed_local_adapters").mkdir()
    (tmp_path / "fed_local_adapters" / "__init__.py").write_text("")
    path = federation_with_adapters(
        tmp_path,
        "sql.Query",  # an installed registry name
        "json.JSONDecoder",  # importable from sys.path
        "fed_local_adapters.greet:GreetMe",  # a package beside the config
        "sql.Qery",
        "echo",
        "no_such_package_dfm.mod.Cls",
    )
    fed = load_config(path)
    issues = check_adapters(fed, ["sql.Query", "echo.Echo"], str(path))
    assert [(i.line, i.column, i.pointer, i.message, i.hint) for i in issues] == [
        (
            17,
            47,
            "/sites/s3/interface/#~1operations~1users.GreetMe/adapter",
            "unknown adapter 'sql.Qery': no installed plugin provides it and module 'sql' is not found",
            "did you mean 'sql.Query'?",
        ),
        (
            20,
            47,
            "/sites/s4/interface/#~1operations~1users.GreetMe/adapter",
            "unknown adapter 'echo': no installed plugin provides it",
            "did you mean 'echo.Echo'?",
        ),
        (
            23,
            47,
            "/sites/s5/interface/#~1operations~1users.GreetMe/adapter",
            "unknown adapter 'no_such_package_dfm.mod.Cls': no installed plugin provides it"
            " and module 'no_such_package_dfm' is not found",
            None,
        ),
    ]
    assert all(i.file == str(path) for i in issues)


def test_check_adapters_without_a_readable_file_gives_pointers_only(tmp_path: Path) -> None:
    fed = load_config(federation_with_adapters(tmp_path, "echo.Ech"))
    (issue,) = check_adapters(fed, ["echo.Echo"], "<memory>")
    assert (issue.file, issue.line, issue.column) == ("<memory>", 0, 0)
    assert issue.hint == "did you mean 'echo.Echo'?"


@pytest.mark.parametrize(
    "name, dotted, import_path",
    [
        ("users.GreetMe", True, True),
        ("GreetMe", True, False),
        ("users.Greet-Me", False, False),
        ("users.class", False, False),
        ("users..GreetMe", False, False),
        ("pkg.mod:Cls", False, True),
        ("pkg.mod:Outer.Inner", False, True),
        ("pkg.mod:", False, False),
    ],
)
def test_name_rules(name: str, dotted: bool, import_path: bool) -> None:
    assert is_dotted_identifier(name) is dotted
    assert is_import_path(name) is import_path


@pytest.mark.parametrize("adapter", ["pkg.mod.Cls", "pkg.mod:Cls", "sql.Query", "echo", "files.read-csv"])
def test_adapter_spellings_accepted_at_load(adapter: str) -> None:
    assert adapter_problem(adapter) is None


@pytest.mark.parametrize("adapter", ["", "  ", "a b", "pkg.mod:", ":Cls", "pkg:mod:Cls", "-x"])
def test_adapter_spellings_refused_at_load(adapter: str) -> None:
    assert adapter_problem(adapter) is not None


VERSIONS = (
    "1",
    "1.0.0",
    "0.9",
    "2.0",
    "01.2",
    "1.0.0.0.1",
    "123456789.0",
    "1234567890.0",
    "1.0rc1",
    "v1.0",
    " 1.0",
    "1.0-post1",
    "one",
    "1.",
    ".1",
    "1..0",
    "",
)
PINS = (
    ">=0.1,<0.2",
    ">=0.1, <0.2",
    " == 1.2.3 ",
    "!=1,>0,<=9.9",
    "<1",
    "~=1",
    "~=1.2",
    "==1.*",
    "0.2",
    ">=0.1,<<1",
    "=>0.2",
    ">=0.1,",
    "",
    ">=1.0a1",
)


@pytest.mark.parametrize("version", VERSIONS)
def test_release_shortcut_agrees_with_packaging(version: str) -> None:
    """The format version read without packaging (``_RELEASE``) has packaging's major version."""
    from packaging.version import InvalidVersion, Version

    from dfm.kernel.config.validate import _RELEASE, _major

    try:
        major: int | None = Version(version).major
    except InvalidVersion:
        major = None
    if _RELEASE.fullmatch(version):
        assert int(version.split(".", 1)[0]) == major
    assert _major(version) == major


@pytest.mark.parametrize("pin", PINS)
def test_pin_shortcut_is_a_subset_of_packaging(pin: str) -> None:
    """Pins accepted without packaging (``_PINS``) are valid specifier sets for packaging too."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    from dfm.kernel.config.validate import _PINS, _pin_problem

    try:
        SpecifierSet(pin)
        valid = True
    except InvalidSpecifier:
        valid = False
    if _PINS.fullmatch(pin):
        assert valid
    assert (_pin_problem(pin) is None) == valid
