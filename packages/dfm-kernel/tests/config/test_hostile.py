"""load_config against hostile input: limits while reading, $ref confinement, bad scalars, names.

The full corpus runs through ``dfm fed validate`` in the repository's ``tests/test_hostile_configs.py``;
these tests cover the loader's own knobs (``ref_allow``, ``max_bytes``, :class:`Limits`, the
environment) and what the CLI cannot show (which files were opened).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dfm.kernel.config import files, load_config, load_config_text
from dfm.kernel.config.files import Limits, decode_utf8, read_regular_file
from dfm.kernel.errors import ConfigError, ConfigIssue

HERE = Path(__file__).parent
ROOT = next(p for p in HERE.parents if (p / "noxfile.py").is_file())  # the repository
SECRET = "SENTINEL-0c9a77e2"
MINIMAL = """\
dfm: 1.0.0
info: {api-version: 1.0.0, code-package: tiny}
operations:
  users.GreetMe:
    parameters:
      name: PARAM
sites:
  SITE:
    interface:
      "#/operations/users.GreetMe":
        adapter: tiny.adapters.GreetMe
        args:
          name: {from-param: name}
"""

posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX files")


def config(param: str = "{type: string}", site: str = "server") -> str:
    return MINIMAL.replace("PARAM", param).replace("SITE", site)


def issues(path: Path | str, **kwargs: object) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    return info.value.issues


@pytest.fixture
def fed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp/fed`` (the federation directory) next to ``tmp/outside/secret.yaml``."""
    for name in (files.REF_ALLOW_ENV, files.MAX_BYTES_ENV):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.yaml").write_text(f"type: string\ndescription: {SECRET}\n")
    (tmp_path / "fed").mkdir()
    return tmp_path / "fed"


def test_refused_files_are_never_opened(fed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_open = os.open
    monkeypatch.setattr(
        files.os, "open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k)
    )
    (fed / "fed.dfm.yaml").write_text(config("{$ref: ../outside/secret.yaml}"))
    (issue,) = issues(fed / "fed.dfm.yaml")
    assert issue.message == "$ref target '../outside/secret.yaml' is outside the federation directory"
    assert (issue.line, issue.column) == (6, 20)
    assert SECRET not in str(ConfigError([issue]))
    assert opened == [os.path.realpath(fed / "fed.dfm.yaml")]


def test_ref_allow_lets_the_caller_widen_the_federation_directory(fed: Path) -> None:
    (fed / "fed.dfm.yaml").write_text(config("{$ref: ../outside/secret.yaml}"))
    loaded = load_config(fed / "fed.dfm.yaml", ref_allow=[fed.parent / "outside"])
    assert loaded.operations["users.GreetMe"].parameters["name"].description == SECRET


def test_ref_allow_from_the_environment(fed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (fed / "fed.dfm.yaml").write_text(config("{$ref: ../outside/secret.yaml}"))
    monkeypatch.setenv(files.REF_ALLOW_ENV, os.pathsep.join(["/nonexistent", str(fed.parent / "outside")]))
    assert load_config(fed / "fed.dfm.yaml").operations["users.GreetMe"].parameters["name"].type == "string"


@posix
def test_an_allowed_folder_still_serves_only_regular_files(fed: Path) -> None:
    (fed / "fed.dfm.yaml").write_text(config("{$ref: /dev/zero}"))
    (issue,) = issues(fed / "fed.dfm.yaml", ref_allow=["/dev"])
    assert issue.message == "$ref target '/dev/zero' is not a regular file (a character device)"
    os.mkfifo(fed / "pipe.yaml")  # reading it would block forever
    (fed / "fed.dfm.yaml").write_text(config("{$ref: pipe.yaml}"))
    (issue,) = issues(fed / "fed.dfm.yaml")
    assert issue.message == "$ref target 'pipe.yaml' is not a regular file (a FIFO)"


@posix
def test_symlinks_are_followed_then_confined(fed: Path) -> None:
    (fed / "schemas").mkdir()
    (fed / "schemas" / "name.yaml").write_text("type: string\n")
    (fed / "inside.yaml").symlink_to(fed / "schemas" / "name.yaml")
    (fed / "outside.yaml").symlink_to(fed.parent / "outside" / "secret.yaml")
    (fed / "fed.dfm.yaml").write_text(config("{$ref: inside.yaml}"))
    assert load_config(fed / "fed.dfm.yaml").operations["users.GreetMe"].parameters["name"].type == "string"
    (fed / "fed.dfm.yaml").write_text(config("{$ref: outside.yaml}"))
    (issue,) = issues(fed / "fed.dfm.yaml")
    assert issue.message == "$ref target 'outside.yaml' is outside the federation directory"


def test_size_limits(fed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (fed / "name.yaml").write_text("type: string\ndescription: " + "x" * 2000 + "\n")
    (fed / "fed.dfm.yaml").write_text(config("{$ref: name.yaml}"))
    assert load_config(fed / "fed.dfm.yaml")
    (issue,) = issues(fed / "fed.dfm.yaml", max_bytes=1024)
    assert issue.message == "$ref target 'name.yaml' is 2.0 KiB, over the limit of 1 KiB"
    monkeypatch.setenv(files.MAX_BYTES_ENV, "100")
    (issue,) = issues(fed / "fed.dfm.yaml")
    assert issue.message.startswith("cannot read the config: the file is ")
    assert issue.message.endswith(", over the limit of 100 bytes")
    with pytest.raises(ConfigError, match="over the limit of 100 bytes"):
        load_config_text(config())


def test_the_total_of_all_files_is_limited(fed: Path) -> None:
    for index in range(3):
        (fed / f"p{index}.yaml").write_text("type: string\ndescription: " + "x" * 600 + "\n")
    extra = "schemas:\n" + "".join(f"  s{i}: {{$ref: p{i}.yaml}}\n" for i in range(3))
    (fed / "fed.dfm.yaml").write_text(config() + extra)
    (issue,) = issues(fed / "fed.dfm.yaml", limits=Limits(max_total_bytes=2000))
    assert (
        issue.message
        == "$ref target 'p2.yaml' would take the config's files past their total limit of 2.0 KiB"
    )


def test_node_and_depth_limits_are_located(fed: Path) -> None:
    (fed / "fed.dfm.yaml").write_text(config() + "schemas:\n  big: [" + ", ".join(["x"] * 500) + "]\n")
    (issue,) = issues(fed / "fed.dfm.yaml", limits=Limits(max_nodes=300))
    assert (issue.line, issue.message) == (15, "the config expands to more than 300 nodes")
    (fed / "fed.dfm.yaml").write_text(config() + "schemas:\n  deep: " + "[" * 20 + "]" * 20 + "\n")
    (issue,) = issues(fed / "fed.dfm.yaml", limits=Limits(max_depth=10))
    assert (issue.line, issue.column, issue.message) == (
        15,
        17,
        "the config is nested more than 10 levels deep",
    )


def test_limits_hold_inside_ref_targets(fed: Path) -> None:
    (fed / "big.yaml").write_text("type: [" + ", ".join(["x"] * 500) + "]\n")
    (fed / "fed.dfm.yaml").write_text(config("{$ref: big.yaml}"))
    (issue,) = issues(fed / "fed.dfm.yaml", limits=Limits(max_nodes=300))
    assert (Path(issue.file).name, issue.line, issue.message) == (
        "big.yaml",
        1,
        "the config expands to more than 300 nodes",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "2024-13-45",
            "invalid date '2024-13-45': month must be in 1..12; put it in quotes to make it a string",
        ),
        (
            "2023-02-29",
            "invalid date '2023-02-29': day is out of range for month; put it in quotes to make it a string",
        ),
        (
            "9" * 5000,
            "it has 5000 characters, at most 4300 are allowed; put it in quotes to make it a string",
        ),
        ("!!int '12x'", "invalid integer '12x': it is not a valid integer"),
        ('{"\\x01": 1}', "a mapping key must not contain control characters, found '\\x01' in '\\x01'"),
    ],
)
def test_bad_scalars_are_located_issues(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(config() + f"homesite: {value}\n")
    (issue,) = info.value.issues
    assert issue.line == 14 and issue.column > 1
    assert issue.message.endswith(message)


def test_valid_dates_stay_dates_and_an_at_domain_site_loads() -> None:
    import datetime

    fed = load_config_text(config(site="hospital-a@example.org") + "schemas:\n  s: {since: 2024-02-29}\n")
    assert list(fed.sites) == ["hospital-a"]  # the reference's domain suffix is stripped
    assert fed.schemas["s"]["since"] == datetime.date(2024, 2, 29)


def test_a_file_that_is_not_utf8_is_located_without_its_content(fed: Path) -> None:
    (fed / "fed.dfm.yaml").write_bytes(config().encode() + b"# secret caf\xe9\n")
    (issue,) = issues(fed / "fed.dfm.yaml")
    assert (issue.line, issue.column) == (14, 13)
    assert issue.message == "cannot read the config: it is not UTF-8 text (byte 0xe9)"
    assert decode_utf8("é\nxé".encode() + b"\xff") == (None, (2, 3, 0xFF))


@posix
def test_the_reader_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    for path, reason in [
        ("/dev/zero", "is not a regular file (a character device)"),
        (str(tmp_path / "fifo"), "is not a regular file (a FIFO)"),
        (str(tmp_path), "is not a regular file (a directory)"),
    ]:
        with pytest.raises(files.Refused) as info:
            read_regular_file(path, 100)
        assert info.value.reason == reason
    (tmp_path / "f").write_bytes(b"x" * 101)
    with pytest.raises(files.Refused, match="over the limit of 100 bytes"):
        read_regular_file(str(tmp_path / "f"), 100)
    assert read_regular_file(str(tmp_path / "f"), 101) == b"x" * 101


@pytest.mark.parametrize(
    "path",
    sorted(
        [
            *ROOT.glob("federations/*/*.dfm.yaml"),
            *ROOT.glob("bench/*/*.dfm.yaml"),
            *ROOT.glob("packages/dfm-runner/src/dfm/runner/testing/*/*.dfm.yaml"),
            *HERE.glob("fixtures/*/*.dfm.yaml"),
        ]
    ),
    ids=lambda path: path.name,
)
def test_the_repository_federations_still_load(path: Path) -> None:
    assert load_config(path).sites
