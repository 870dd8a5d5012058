"""Hostile federation configs: ``dfm fed validate`` refuses every one quickly and harmlessly.

Each case builds a federation folder (``fed/``) in a temporary directory, next to an
``outside/`` folder holding a sentinel file with a unique secret, and runs
``dfm fed validate fed/fed.dfm.yaml`` as a subprocess. The harness kills a case that
takes longer than :data:`TIMEOUT` seconds (``subprocess.run(timeout=...)``: the test fails,
there is no timed assertion) and caps the subprocess's address space. Every case must:

- exit with status 1;
- print no traceback and no "unexpected error";
- print the expected number of problems, each located (``file:line:col /pointer: ...``),
  except the few refused before anything is read (``file /: ...``);
- never print the secret, nor a raw control character, nor more than a few KB.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

SECRET = "DFM-SENTINEL-5d1f0b7e-never-print-me"
TIMEOUT = 30  # seconds a case may take before the harness kills it (typical: well under one)
MEMORY = 1 << 30  # address-space cap of the subprocess (the interpreter itself maps ~200 MB)
MIB = 1 << 20
LIMIT = 10 * MIB  # the loader's default per-file limit

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs, sockets and /dev are POSIX")


def dfm_executable() -> str:
    local = Path(sys.executable).parent / "dfm"
    found = str(local) if local.exists() else shutil.which("dfm")
    if found is None:
        pytest.skip("the dfm command is not installed")
    return found


def q(name: str) -> str:
    """``name`` as a YAML double-quoted scalar (JSON strings are YAML), so any character fits."""
    return json.dumps(name)


def fed_yaml(
    *,
    site: str = "server",
    provider: str | None = None,
    operation: str = "users.GreetMe",
    param: str = "name",
    schema: str = "{type: string}",
    code_package: str = "tiny",
    extra: str = "",
    args: str = "{from-param: name}",
) -> str:
    """A valid federation, with one part replaced."""
    entry = (
        f"      {q('#/operations/' + operation)}:\n"
        "        adapter: tiny.adapters.GreetMe\n"
        "        args:\n"
        f"          name: {args}\n"
    )
    if provider is None:
        where = "    interface:\n" + entry
    else:
        indented = "".join("    " + line + "\n" for line in entry.splitlines())
        where = f"    providers:\n      {q(provider)}:\n        interface:\n" + indented
    return (
        "dfm: 1.0.0\n"
        f"info: {{api-version: 1.0.0, code-package: {q(code_package)}}}\n"
        "operations:\n"
        f"  {q(operation)}:\n"
        "    parameters:\n"
        f"      {q(param)}: {schema}\n"
        "sites:\n"
        f"  {q(site)}:\n" + where + extra
    )


def ref(target: str) -> str:
    return fed_yaml(schema=f"{{$ref: {q(target)}}}")


def laughs(levels: int, width: int = 10) -> str:
    lines = [f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]" for n in range(1, levels)]
    return fed_yaml() + "schemas:\n" + "\n".join(lines) + "\n"


Build = Callable[[Path], None]


def write(text: str | bytes, name: str = "fed.dfm.yaml") -> Build:
    def build(fed: Path) -> None:
        path = fed / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")

    return build


def both(*builds: Build) -> Build:
    def build(fed: Path) -> None:
        for step in builds:
            step(fed)

    return build


def sparse(name: str, size: int) -> Build:
    """A file of ``size`` zero bytes that takes no disk space."""

    def build(fed: Path) -> None:
        with open(fed / name, "wb") as file:
            file.truncate(size)

    return build


def fifo(name: str) -> Build:
    return lambda fed: os.mkfifo(fed / name)


def unix_socket(name: str) -> Build:
    def build(fed: Path) -> None:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(fed / name))  # the socket file stays after close

    return build


def symlink(name: str, target: str) -> Build:
    """``fed/name`` -> ``target`` (``{outside}`` is the folder with the secret)."""
    return lambda fed: (fed / name).symlink_to(target.format(outside=fed.parent / "outside"))


def mkdir(name: str) -> Build:
    return lambda fed: (fed / name).mkdir()


@dataclass(frozen=True)
class Case:
    id: str
    build: Build
    expect: str  # a regex the output must contain
    issues: int = 1  # problems reported
    located: bool = True  # every problem has file:line:col
    config: str = "fed/fed.dfm.yaml"  # what is passed to dfm fed validate (relative to the tmp dir)
    plain: bool = False  # a one-line DfmError rather than a list of config problems


OUTSIDE = "is outside the federation directory"

CASES = [
    # -- YAML bombs and huge documents ----------------------------------------------------
    Case("billion-laughs", write(laughs(9)), r"expands to more than 200000 nodes"),
    Case("billion-laughs-wide", write(laughs(4, width=200)), r"expands to more than 200000 nodes"),
    Case(
        "quadratic-blowup",
        write(
            fed_yaml()
            + "schemas:\n  big: &big ["
            + ", ".join(["x"] * 2000)
            + "]\n  many: ["
            + ", ".join(["*big"] * 2000)
            + "]\n"
        ),
        r"expands to more than 200000 nodes",
    ),
    Case(
        "merge-key-bomb",
        write(
            fed_yaml()
            + "schemas:\n  m0: &m0 {"
            + ", ".join(f"k{i}: [a, b, c, d, e, f, g, h]" for i in range(50))
            + "}\n"
            + "".join(f"  m{n}: &m{n} {{<<: [{', '.join([f'*m{n - 1}'] * 20)}]}}\n" for n in range(1, 8))
        ),
        r"expands to more than 200000 nodes",
    ),
    Case(
        "deep-flow-lists",
        write(fed_yaml() + "schemas:\n  deep: " + "[" * 100_000 + "]" * 100_000 + "\n"),
        r"nested more than 100 levels deep",
    ),
    Case(
        "deep-flow-maps",
        write(fed_yaml() + "schemas:\n  deep: " + "{a: " * 50_000 + "1" + "}" * 50_000 + "\n"),
        r"nested more than 100 levels deep",
    ),
    Case(
        "deep-block-maps",
        write(
            fed_yaml()
            + "schemas:\n"
            + "".join("  " * (n + 1) + f"k{n}:\n" for n in range(300))
            + "  " * 301
            + "x: 1\n"
        ),
        r"nested more than 100 levels deep",
    ),
    Case(
        "many-nodes-near-size-limit",
        write(fed_yaml() + "schemas:\n  s: [" + "1," * (LIMIT // 2 - 1000) + "1]\n"),
        r"expands to more than 200000 nodes",
    ),
    Case(
        "many-block-nodes",
        write(fed_yaml() + "schemas:\n  s:\n" + "    - x\n" * 1_000_000),
        r"expands to more than 200000 nodes",
    ),
    Case(
        "config-just-over-limit",
        sparse("fed.dfm.yaml", LIMIT + 1),
        r"over the limit of 10 MiB",
        located=False,
    ),
    Case(
        "config-1-gib", sparse("fed.dfm.yaml", 1 << 30), r"is 1 GiB, over the limit of 10 MiB", located=False
    ),
    Case(
        "config-over-limit-real-text",
        write("dfm: 1.0.0\n" + "# padding\n" * (LIMIT // 10 + 1)),
        r"over the limit of 10 MiB",
        located=False,
    ),
    Case(
        "syntax-error-after-many-nodes",
        write(fed_yaml() + "schemas:\n" + "".join(f"  k{i}: v{i}\n" for i in range(20_000)) + "  end: [1\n"),
        r"fed.dfm.yaml:20016:1 /: invalid YAML: while parsing a flow sequence \(line 20015\)",
    ),
    Case(
        "syntax-error-after-many-nodes-large",
        write(fed_yaml() + "schemas:\n" + "".join(f"  k{i}: v{i}\n" for i in range(90_000)) + "  end: [1\n"),
        r"fed.dfm.yaml:90016:1 /: invalid YAML: while parsing a flow sequence \(line 90015\)",
    ),
    Case(
        "recursive-alias",
        write(fed_yaml() + "schemas:\n  loop: &loop {items: [*loop]}\n"),
        r"recursive YAML alias",
    ),
    Case("undefined-alias", write(fed_yaml() + "schemas:\n  x: *nope\n"), r"found undefined alias"),
    # -- $ref to things that are not regular files of the federation ------------------------
    Case("ref-dev-zero", write(ref("/dev/zero")), r"\$ref target '/dev/zero' " + OUTSIDE),
    Case("ref-dev-urandom", write(ref("/dev/urandom")), r"\$ref target '/dev/urandom' " + OUTSIDE),
    Case("ref-dev-stdin", write(ref("/dev/stdin")), r"\$ref target '/dev/stdin' " + OUTSIDE),
    Case("ref-dev-null", write(ref("/dev/null")), OUTSIDE),
    Case("ref-proc-environ", write(ref("/proc/self/environ")), OUTSIDE),
    Case("ref-etc-shadow", write(ref("../../../../../../../../etc/shadow")), OUTSIDE),
    Case(
        "ref-fifo",
        both(write(ref("pipe.yaml")), fifo("pipe.yaml")),
        r"'pipe.yaml' is not a regular file \(a FIFO\)",
    ),
    Case(
        "ref-socket",
        both(write(ref("sock.yaml")), unix_socket("sock.yaml")),
        r"'sock.yaml' is not a regular file \(a socket\)",
    ),
    Case(
        "ref-directory", both(write(ref("sub")), mkdir("sub")), r"'sub' is not a regular file \(a directory\)"
    ),
    Case("ref-dot", write(ref(".")), r"'\.' is not a regular file \(a directory\)"),
    Case(
        "ref-symlink-outside",
        both(write(ref("link.yaml")), symlink("link.yaml", "{outside}/secret.yaml")),
        r"'link.yaml' " + OUTSIDE,
    ),
    Case(
        "ref-symlink-to-dev-zero",
        both(write(ref("zero.yaml")), symlink("zero.yaml", "/dev/zero")),
        r"'zero.yaml' " + OUTSIDE,
    ),
    Case(
        "ref-symlinked-folder-outside",
        both(write(ref("shared/secret.yaml")), symlink("shared", "{outside}")),
        OUTSIDE,
    ),
    Case(
        "ref-symlink-loop",
        both(write(ref("a.yaml")), symlink("a.yaml", "b.yaml"), symlink("b.yaml", "a.yaml")),
        r"'a.yaml' (cannot be read|is outside)",
    ),
    Case(
        "ref-fifo-behind-symlink",
        both(write(ref("link.yaml")), fifo("pipe"), symlink("link.yaml", "pipe")),
        r"'link.yaml' is not a regular file \(a FIFO\)",
    ),
    Case(
        "ref-parent-traversal", write(ref("../outside/secret.yaml")), r"'\.\./outside/secret.yaml' " + OUTSIDE
    ),
    Case(
        "ref-traversal-through-subfolder",
        both(write(ref("sub/../../outside/secret.yaml")), mkdir("sub")),
        OUTSIDE,
    ),
    Case("ref-percent-encoded-traversal", write(ref("%2e%2e/outside/secret.yaml")), OUTSIDE),
    Case(
        "ref-absolute-path", lambda fed: write(ref(str(fed.parent / "outside" / "secret.yaml")))(fed), OUTSIDE
    ),
    Case("ref-nul-in-path", write(ref("a\x00b.yaml")), r"must not contain control characters"),
    Case("ref-newline-in-path", write(ref("a\nb.yaml")), r"must not contain control characters"),
    Case("ref-url-https", write(ref("https://example.org/x.yaml")), r"remote \$ref .* is not allowed"),
    Case("ref-url-file", write(ref("file:///etc/passwd")), r"remote \$ref .* is not allowed"),
    Case("ref-url-network-path", write(ref("//host/share/x.yaml")), r"remote \$ref .* is not allowed"),
    Case(
        "ref-nested-outside",
        both(write(ref("inner.yaml")), write("{$ref: ../outside/secret.yaml}\n", "inner.yaml")),
        OUTSIDE,
    ),
    Case(
        "ref-just-over-limit",
        both(write(ref("big.yaml")), sparse("big.yaml", LIMIT + 1)),
        r"'big.yaml' is 10.0 MiB, over the limit of 10 MiB",
    ),
    Case(
        "ref-huge-sparse",
        both(write(ref("huge.yaml")), sparse("huge.yaml", 4 << 30)),
        r"'huge.yaml' is 4 GiB, over the limit of 10 MiB",
    ),
    Case(
        "ref-total-over-limit",
        both(
            write(fed_yaml(extra="schemas:\n" + "".join(f"  s{i}: {{$ref: p{i}.yaml}}\n" for i in range(4)))),
            *(write("x: " + "a" * (9 * MIB) + "\n", f"p{i}.yaml") for i in range(4)),
        ),
        r"'p3.yaml' would take the config's files past their total limit of 32 MiB",
    ),
    Case("ref-missing-file", write(ref("nothere.yaml")), r"\$ref target file 'nothere.yaml' not found"),
    Case(
        "ref-not-utf8",
        both(write(ref("latin1.yaml")), write(b"type: caf\xe9\n", "latin1.yaml")),
        r"'latin1.yaml': it is not UTF-8 text \(line 1, column 10\)",
    ),
    Case(
        "ref-target-syntax-error",
        both(write(ref("bad.yaml")), write("type: [string\n", "bad.yaml")),
        r"bad.yaml:2:1 /: invalid YAML",
    ),
    Case(
        "ref-cycle-between-files",
        both(
            write(ref("a.yaml#/x")),
            write("x: {$ref: b.yaml#/y}\n", "a.yaml"),
            write("y: {$ref: a.yaml#/x}\n", "b.yaml"),
        ),
        r"circular \$ref",
    ),
    # the document is pulled in once (its keys are not a parameter's), then the cycle is found
    Case("ref-self-whole-document", write(ref("#")), r"circular \$ref: '#' -> '#'"),
    Case("ref-self-file", write(ref("fed.dfm.yaml")), r"circular \$ref"),
    Case("ref-self-pointer", write(ref("#/operations/users.GreetMe/parameters/name")), r"circular \$ref"),
    Case("ref-bad-pointer", write(ref("#schemas")), r"must be a JSON pointer"),
    Case("ref-not-a-string", write(fed_yaml(schema="{$ref: 1}")), r"\$ref must be a string"),
    Case(
        "ref-list-not-strings",
        write(fed_yaml(schema="{$ref: [1, 2]}")),
        r"a \$ref list holds strings",
        issues=2,
    ),
    # -- scalars that cannot be built ---------------------------------------------------------
    Case(
        "date-month-13",
        write(fed_yaml(extra="homesite: 2024-13-45\n")),
        r"invalid date '2024-13-45': month must be in 1\.\.12",
    ),
    Case(
        "date-feb-30",
        write(fed_yaml(extra="homesite: 2024-02-30\n")),
        r"invalid date '2024-02-30': day is out of range",
    ),
    Case("date-hour-25", write(fed_yaml(extra="homesite: 2024-01-01 25:00:00\n")), r"invalid date"),
    Case("date-explicit-tag", write(fed_yaml(extra="homesite: !!timestamp soon\n")), r"invalid date 'soon'"),
    Case(
        "int-5000-digits",
        write(fed_yaml(extra="links: {default-cost: " + "9" * 5000 + "}\n")),
        r"invalid integer .*5000 characters",
    ),
    Case(
        "int-1m-digits",
        write(fed_yaml(extra="links: {default-cost: " + "9" * MIB + "}\n")),
        r"invalid integer",
    ),
    Case(
        "int-sexagesimal-huge",
        write(fed_yaml(extra="links: {default-cost: 1" + ":59" * 3000 + "}\n")),
        r"invalid integer",
    ),
    Case(
        "int-400-digits-as-float",
        write(fed_yaml(extra="links: {default-cost: " + "9" * 400 + "}\n")),
        r"expected a number within the range of a float",
    ),
    Case("int-explicit-tag", write(fed_yaml(extra="homesite: !!int abc\n")), r"invalid integer 'abc'"),
    Case("float-explicit-tag", write(fed_yaml(extra="homesite: !!float abc\n")), r"invalid number 'abc'"),
    Case("bool-explicit-tag", write(fed_yaml(extra="homesite: !!bool maybe\n")), r"invalid boolean 'maybe'"),
    Case(
        "cost-infinite",
        write(fed_yaml(extra="links: {default-cost: .inf}\n")),
        r"must be a finite number, found inf",
    ),
    Case(
        "cost-nan",
        write(fed_yaml(extra="links: {default-cost: .nan}\n")),
        r"must be a number >= 0, found nan",
    ),
    Case(
        "estimated-size-huge",
        write(
            fed_yaml().replace(
                "    parameters:\n", "    estimated-size: " + "9" * 100 + "\n    parameters:\n"
            )
        ),
        r"estimated-size must be a number of bytes from 0 to 2\*\*63-1",
    ),
    Case(
        "python-tag",
        write(fed_yaml(extra="homesite: !!python/object/apply:os.system [id]\n")),
        r"could not determine a constructor",
    ),
    # -- names ---------------------------------------------------------------------------------
    Case("site-traversal", write(fed_yaml(site="../x/victim")), r"invalid site name '\.\./x/victim'"),
    Case("site-dotdot", write(fed_yaml(site="..")), r"invalid site name '\.\.'"),
    Case(
        "site-dotdot-inside",
        write(fed_yaml(site="a..b")),
        r"invalid site name 'a\.\.b': '\.\.' is not allowed",
    ),
    Case("site-slash", write(fed_yaml(site="a/b")), r"invalid site name 'a/b': '/' is not allowed"),
    Case("site-backslash", write(fed_yaml(site="a\\b")), r"invalid site name"),
    Case("site-nul", write(fed_yaml(site="a\x00b")), r"must not contain control characters, found '\\x00'"),
    Case(
        "site-escape-sequence", write(fed_yaml(site="a\x1b[31mred")), r"must not contain control characters"
    ),
    Case("site-newline", write(fed_yaml(site="a\nb")), r"must not contain control characters"),
    Case("site-tab", write(fed_yaml(site="a\tb")), r"must not contain control characters"),
    Case("site-space", write(fed_yaml(site="a b")), r"invalid site name 'a b': ' ' is not allowed"),
    Case("site-leading-dot", write(fed_yaml(site=".hidden")), r"must start with a letter or a digit"),
    Case("site-leading-dash", write(fed_yaml(site="-rf")), r"must start with a letter or a digit"),
    Case("site-too-long", write(fed_yaml(site="s" * 65)), r"65 characters long, at most 64"),
    Case(
        "site-1000-chars",
        write(fed_yaml(site="s" * 1000)),
        r"invalid site name 's+'\.\.\. \(1000 characters\)",
    ),
    Case("site-1-mib", write(fed_yaml(site="s" * MIB)), r"invalid YAML: mapping values are not allowed"),
    Case("site-bad-domain", write(fed_yaml(site="hospital@-bad-.org")), r"is not a hostname"),
    Case("site-empty-domain", write(fed_yaml(site="hospital@")), r"the domain after '@' is empty"),
    Case("site-two-at", write(fed_yaml(site="a@b@c.org")), r"invalid site name"),
    Case("site-unicode", write(fed_yaml(site="klinik-ü")), r"'ü' is not allowed"),
    Case("site-right-to-left-override", write(fed_yaml(site="a\u202eb")), r"invalid site name 'a\\u202eb'"),
    Case("site-empty", write(fed_yaml(site="")), r"invalid site name '': it is empty"),
    Case("provider-traversal", write(fed_yaml(provider="../p")), r"invalid provider name '\.\./p'"),
    Case("provider-nul", write(fed_yaml(provider="p\x00")), r"must not contain control characters"),
    Case("provider-at-domain", write(fed_yaml(provider="p@example.org")), r"invalid provider name"),
    Case(
        "operation-slash", write(fed_yaml(operation="users/Greet")), r"invalid operation name 'users/Greet'"
    ),
    Case("operation-dotdot", write(fed_yaml(operation="users..Greet")), r"a part between dots is empty"),
    Case("operation-traversal", write(fed_yaml(operation="../../x.Greet")), r"invalid operation name"),
    Case("operation-keyword", write(fed_yaml(operation="users.import")), r"'import' is a Python keyword"),
    Case(
        "operation-nul", write(fed_yaml(operation="users.Gr\x00eet")), r"must not contain control characters"
    ),
    Case(
        "parameter-dash",
        write(fed_yaml(param="first-name", args="{from-param: first-name}")),
        r"invalid parameter name 'first-name'",
    ),
    Case(
        "expose-as-traversal",
        write(
            fed_yaml(args="{from-param: name}").replace(
                "          name: {from-param: name}\n",
                "          name: {from-param: name}\n"
                "          who: {const: x}\n"
                "        expose-as: {who: ../who}\n",
            )
        ),
        r"invalid parameter name '\.\./who'",
    ),
    Case(
        "schema-traversal",
        write(fed_yaml(extra="schemas: {'../evil': {type: object}}\n")),
        r"invalid schema name '\.\./evil'",
    ),
    Case(
        "code-package-traversal",
        write(fed_yaml(code_package="../pkg")),
        r"invalid code-package name '\.\./pkg'",
    ),
    Case("code-package-keyword", write(fed_yaml(code_package="class")), r"'class' is a Python keyword"),
    Case(
        "value-with-terminal-escape",
        write(fed_yaml(args=json.dumps({"from-param": "\x1b]0;pwned\x07name"}))),
        r"unknown parameter '\\x1b\]0;pwned\\x07name'",
    ),
    Case("duplicate-site", write(fed_yaml() + "  server: {}\n"), r"duplicate key 'server'", issues=1),
    # -- bytes and layout ----------------------------------------------------------------------
    Case("not-utf8", write(fed_yaml().encode() + b"# caf\xe9\n"), r"not UTF-8 text \(byte 0xe9\)"),
    Case("utf16", write(fed_yaml().encode("utf-16")), r"not UTF-8 text \(byte 0xff\)"),
    Case(
        "bom-and-bad-site",
        write("\ufeff" + fed_yaml(site="a/b")),
        r"fed.dfm.yaml:8:3 /sites/a~1b: invalid site name",
    ),
    Case(
        "raw-nul-byte",
        write(fed_yaml().replace("1.0.0\n", "1.0.0\x00\n", 1)),
        r"special characters are not allowed",
    ),
    Case("raw-escape-byte", write(fed_yaml() + "# \x1b[2J\n"), r"special characters are not allowed"),
    Case("tab-indentation", write(fed_yaml().replace("    parameters:", "\tparameters:")), r"invalid YAML"),
    Case("two-documents", write(fed_yaml() + "---\n" + fed_yaml()), r"expected a single document"),
    Case("only-a-scalar", write("hello\n"), r"expected a mapping"),
    Case("empty-file", write(""), r"the config is empty", located=False),
    Case("key-is-a-list", write(fed_yaml() + "? [a, b]\n: 1\n"), r"a mapping key must be a string"),
    # -- the top-level path itself -------------------------------------------------------------
    Case("config-is-fifo", fifo("fed.dfm.yaml"), r"no federation config file", plain=True),
    Case(
        "config-is-dev-zero-symlink",
        symlink("fed.dfm.yaml", "/dev/zero"),
        r"no federation config file",
        plain=True,
    ),
    Case("config-is-directory", mkdir("fed.dfm.yaml"), r"no federation config file", plain=True),
]

_PROBLEMS = re.compile(r"^(\d+) problems? in federation config$")
_LOCATED = re.compile(r"^  \S+:\d+:\d+ /.*?: .+")
_UNLOCATED = re.compile(r"^  \S+ /.*?: .+")


def test_the_corpus_is_large_and_ids_are_unique() -> None:
    assert len(CASES) >= 60
    ids = [case.id for case in CASES]
    assert len(set(ids)) == len(ids)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """``tmp/fed`` (the federation directory, with a local adapter package) and ``tmp/outside``."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.yaml").write_text(f"type: string\nsecret: {SECRET}\n")
    fed = tmp_path / "fed"
    (fed / "tiny").mkdir(parents=True)
    (fed / "tiny" / "__init__.py").write_text("")
    (fed / "tiny" / "adapters.py").write_text(
        "class GreetMe:\n    def body(self, name):\n        return name\n"
    )
    return tmp_path


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def validate(workspace: Path, config: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFM_CONFIG")}
    env["DFM_CONFIG_HOME"] = str(workspace / "home")  # an empty list of named federations
    return subprocess.run(
        [dfm_executable(), "fed", "validate", config],
        cwd=workspace,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=TIMEOUT,  # the harness's time bound: a case that hangs is killed and fails
        preexec_fn=_limit_memory,
    )


def test_the_clean_federation_validates(workspace: Path) -> None:
    write(fed_yaml())(workspace / "fed")
    done = validate(workspace, "fed/fed.dfm.yaml")
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout


def test_a_bom_and_an_at_domain_site_validate(workspace: Path) -> None:
    write("\ufeff" + fed_yaml(site="hospital-a@example.org"))(workspace / "fed")
    done = validate(workspace, "fed/fed.dfm.yaml")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_hostile_config_is_refused(case: Case, workspace: Path) -> None:
    case.build(workspace / "fed")
    done = validate(workspace, case.config)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[:2000]
    assert "Traceback" not in output and "unexpected error" not in output, output[:2000]
    assert SECRET not in output
    assert len(output) < 8000, f"{len(output)} characters of output"
    assert all(char.isprintable() for line in output.splitlines() for char in line), ascii(output[:2000])
    assert re.search(case.expect, output), output
    lines = done.stderr.splitlines()
    if case.plain:
        assert len(lines) == 1, output
        return
    head = _PROBLEMS.match(lines[0]) if lines else None
    assert head, output
    problems = lines[1:]
    assert int(head.group(1)) == len(problems) == case.issues, output
    pattern = _LOCATED if case.located else _UNLOCATED
    assert all(pattern.match(line) for line in problems), output
