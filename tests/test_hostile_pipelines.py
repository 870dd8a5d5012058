"""Hostile and broken pipeline files, and bad arguments, through the real ``dfm`` command.

Each pipeline-file case runs as a subprocess of both ``dfm pipeline show FILE
--federation examplefed.dfm.yaml`` and ``dfm fed submit examplefed.dfm.yaml
pipeline FILE`` (the same handling, in ``dfm.api.files``, serves both) with a
time bound enforced here. A failure must exit 1 (130 for KeyboardInterrupt)
with exactly one line on stderr naming the file and, where known, the line; no
traceback, whatever the file raised. Usage errors (exit 2) have click's form:
a usage line, a help hint and one ``Error: ...`` line.

Pipeline files that legitimately run forever (``while True: pass``) are not
cases: like any Python program they are the user's to stop; files that could
make the CLI wait without running anything (a FIFO) are refused.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLEFED = ROOT / "federations" / "examplefed" / "examplefed.dfm.yaml"
TIMEOUT = 120  # seconds per command; a case that hangs fails instead of blocking the session

HEAD = "from dfm.api import ForEach, If, Pipeline, PlaceParam, Yield\n\n\n"
GREET = """\
def get_pipeline(fed):
    with Pipeline() as p:
        Yield({call}, place="out")
    return p
"""
NESTED = """\
from contextlib import ExitStack


def get_pipeline(fed):
    with Pipeline() as p, ExitStack() as stack:
        x = fed.api.users.GreetMe(name="a")
        for _ in range(300):
            stack.enter_context({block})
        Yield(x, place="out")
    return p
"""
EXITS = r"; a pipeline file defines get_pipeline\(\) and must not exit"
NESTING = r"If blocks nested more than 100 levels deep \(the limit of ForEach/If blocks inside each other\)"


@dataclass(frozen=True)
class Case:
    source: str | bytes | None  # None: the case makes FILE itself (see _make)
    message: str  # regex for what follows "FILE" on the one line of stderr ("" for exit 0)
    code: int = 1
    commands: tuple[str, ...] = ("show", "submit")


CASES = {
    # -- the file itself -------------------------------------------------------------------------
    "syntax-error": Case("x = 1\ndef f(:\n", r":2:7: syntax error: invalid syntax"),
    "indentation-error": Case("if True:\nx = 1\n", r":2:1: syntax error: expected an indented block.*"),
    "non-utf8-source": Case(
        b"x = 1\ny = '\xe9\xff'\n", r":2:\d+: syntax error: \(unicode error\) 'utf-8' codec.*"
    ),
    "null-byte": Case(b"x = 1\0\n", r": syntax error: source code string cannot contain null bytes"),
    "deeply-nested-expression": Case("x = " + "-" * 100_000 + "1\n", r": MemoryError"),
    "empty-file": Case("", r": defines no get_pipeline\(\) function returning a dfm.api.Pipeline"),
    "directory": Case(None, r": is a directory, not a pipeline file"),
    "missing-file": Case(None, ""),  # "no such file: FILE": checked in the test
    "fifo": Case(None, r": not a regular file \(a pipeline file is a Python file\)"),
    "symlink-loop": Case(None, r": cannot open the pipeline file: Too many levels of symbolic links"),
    # -- raised while the file runs --------------------------------------------------------------
    "name-error": Case("x = 1\nundefined_name\n", r":2: NameError: name 'undefined_name' is not defined"),
    "import-missing-module": Case(
        "import dfm_no_such_module\n", r":1: ModuleNotFoundError: No module named 'dfm_no_such_module'"
    ),
    "import-missing-name": Case(
        "from dfm.api import Nope\n", r":1: ImportError: cannot import name 'Nope'.*"
    ),
    "base-exception-subclass": Case(
        "class Boom(BaseException):\n    pass\n\n\nraise Boom('kaboom')\n", r":5: Boom: kaboom"
    ),
    "generator-exit": Case("raise GeneratorExit\n", r":1: GeneratorExit"),
    "sys-exit-3": Case("import sys\n\nsys.exit(3)\n", r":3: the pipeline file called sys.exit\(3\)" + EXITS),
    "system-exit-message": Case(
        "raise SystemExit('x')\n", r":1: the pipeline file called sys.exit\('x'\)" + EXITS
    ),
    "keyboard-interrupt": Case("x = 1\nraise KeyboardInterrupt\n", r":2: interrupted", code=130),
    "infinite-recursion": Case(
        "def f(n):\n    return f(n + 1)\n\n\nf(0)\n", r":2: RecursionError: maximum recursion depth exceeded"
    ),
    "memory-error": Case("raise MemoryError('out of memory')\n", r":1: MemoryError: out of memory"),
    "unprintable-exception": Case(
        "class E(Exception):\n    def __str__(self):\n        raise E\n\n\nraise E\n",
        r":6: E: <unprintable message>",
    ),
    "multi-line-message": Case(
        "raise ValueError('one\\ntwo\\n\\nthree')\n", r":1: ValueError: one two three"
    ),
    "huge-message": Case("raise ValueError('x' * 10**6)\n", r":1: ValueError: x{297}\.\.\."),
    "module-getattr-raising": Case(
        "def __getattr__(name):\n    raise KeyError(name)\n", r":2: KeyError: 'get_pipeline'"
    ),
    # -- get_pipeline() itself -------------------------------------------------------------------
    "get-pipeline-missing": Case(
        "def get_pipelines():\n    pass\n",
        r": defines no get_pipeline\(\) function returning a dfm.api.Pipeline",
    ),
    "get-pipeline-not-callable": Case(
        "get_pipeline = 5\n", r": defines no get_pipeline\(\) function returning a dfm.api.Pipeline"
    ),
    "get-pipeline-wrong-arity": Case(
        "def get_pipeline(a, b, c):\n    pass\n",
        r": get_pipeline\(\) requires 3 arguments; it can be given at most the federation",
    ),
    "get-pipeline-returns-none": Case(
        "def get_pipeline():\n    pass\n",
        r": get_pipeline\(\) returned NoneType, expected a dfm.api.Pipeline",
    ),
    "get-pipeline-returns-int": Case(
        "def get_pipeline(fed):\n    return 1\n",
        r": get_pipeline\(\) returned int, expected a dfm.api.Pipeline",
    ),
    "get-pipeline-returns-unfinished": Case(
        HEAD + "def get_pipeline():\n    return Pipeline()  # never recorded\n",
        r": the pipeline is still being recorded; use it after its 'with' block",
    ),
    "get-pipeline-base-exception": Case(
        "class Boom(BaseException):\n    pass\n\n\ndef get_pipeline():\n    raise Boom('late')\n",
        r":6: get_pipeline\(\) raised Boom: late",
    ),
    "get-pipeline-exits": Case(
        "def get_pipeline():\n    exit()\n", r":2: the pipeline file called sys.exit\(\)" + EXITS
    ),
    "get-pipeline-stop-iteration": Case(
        "def get_pipeline():\n    next(iter([]))\n", r":2: get_pipeline\(\) raised StopIteration"
    ),
    # -- invalid pipelines ------------------------------------------------------------------------
    "unknown-operation": Case(
        HEAD + GREET.format(call='fed.api.users.Nope(name="a")'),
        r":6: get_pipeline\(\) raised AttributeError: no operation or namespace 'users.Nope'",
    ),
    "wrong-argument-name": Case(
        HEAD + GREET.format(call='fed.api.users.GreetMe(nam="a")'),
        r":6: users.GreetMe: unknown argument 'nam'; did you mean 'name'\? \(takes: greeting, name\)",
    ),
    "unknown-site-pin": Case(
        HEAD + GREET.format(call='fed.api.users.GreetMe(name="a", site="mars")'),
        r":6: users.GreetMe: unknown site 'mars'",
    ),
    "yield-of-a-literal": Case(
        HEAD + GREET.format(call="3"),
        r":6: Yield to 'out': yield an operation result, a ForEach item or a PlaceParam, not a literal",
    ),
    "non-json-literal": Case(
        HEAD + GREET.format(call="fed.api.users.GreetMe(name=object())"),
        r":6: argument <object object at 0x[0-9a-f]+> is not JSON-compatible; .*",
    ),
    "300-nested-ifs": Case(HEAD + NESTED.format(block='If(x != "b")'), r":11: " + NESTING),
    "300-nested-foreach": Case(
        HEAD + NESTED.format(block="ForEach(PlaceParam('items'))"),
        r":11: " + NESTING.replace("If", "ForEach", 1),
    ),
    "deep-literal": Case(
        HEAD
        + "deep = 'v'\nfor _ in range(100_000):\n    deep = [deep]\n\n\n"
        + GREET.format(call="fed.api.users.GreetMe(name=deep)"),
        r":11: argument: literal nested more than 50 levels deep \(the limit\); .*",
    ),
    "deep-condition": Case(
        HEAD
        + "def get_pipeline(fed):\n    with Pipeline() as p:\n        x = fed.api.users.GreetMe(name='a')\n"
        + "        cond = x == 'b'\n        for i in range(1000):\n            cond = cond & (x != str(i))\n",
        r":9: condition nested more than 50 levels deep \(the limit\); compute the value in an operation .*",
    ),
    # -- pipelines that work ----------------------------------------------------------------------
    "valid": Case(HEAD + GREET.format(call='fed.api.users.GreetMe(name="Ada")'), "", code=0),
    "huge-literal": Case(
        HEAD + GREET.format(call='fed.api.users.GreetMe(name="x" * 5_000_000)'),
        "",
        code=0,
        commands=("show",),
    ),
    "100-nested-ifs": Case(
        HEAD + NESTED.format(block='If(x != "b")').replace("range(300)", "range(100)"), "", code=0
    ),
    # -- get_pipeline_parameters() (dfm fed submit only) ---------------------------------------
    "parameters-raise": Case(
        HEAD
        + GREET.format(call='fed.api.users.GreetMe(name="Ada")')
        + "\n\ndef get_pipeline_parameters(argv):\n    return argv[3]\n",
        r":11: get_pipeline_parameters\(\) raised IndexError: list index out of range",
        commands=("submit",),
    ),
    "parameters-not-a-mapping": Case(
        HEAD
        + GREET.format(call='fed.api.users.GreetMe(name="Ada")')
        + "\n\ndef get_pipeline_parameters():\n    return 'x'\n",
        "",  # raised by Session.execute, which does not know the file: checked in the test
        commands=("submit",),
    ),
}


def _dfm() -> str:
    found = shutil.which("dfm", path=str(Path(sys.executable).parent)) or shutil.which("dfm")
    if found is None:
        pytest.skip("the dfm command is not installed")
    return found


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DFM_CONFIG_HOME": str(cwd / "config"),  # no registered federations of the user's
        "EXAMPLEFED_RECEPTION_BADGE_KEY": "badge-for-tests",
        "PYTHONDONTWRITEBYTECODE": "1",
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [_dfm(), *args], capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd, env=env, errors="replace"
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def _make(name: str, case: Case, folder: Path) -> Path:
    path = folder / "pipe.py"
    if case.source is not None:
        if isinstance(case.source, bytes):
            path.write_bytes(case.source)
        else:
            path.write_text(textwrap.dedent(case.source))
    elif name == "directory":
        path.mkdir()
    elif name == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("needs FIFOs")
        os.mkfifo(path)
    elif name == "symlink-loop":
        path.symlink_to(path)
    return path


def _command(command: str, path: Path) -> list[str]:
    if command == "show":
        return ["pipeline", "show", str(path), "--federation", str(EXAMPLEFED)]
    return ["fed", "submit", str(EXAMPLEFED), "pipeline", str(path), "--timeout", "60"]


@pytest.mark.parametrize(
    ("name", "command"), [(name, command) for name, case in CASES.items() for command in case.commands]
)
def test_pipeline_file(name: str, command: str, tmp_path: Path) -> None:
    case = CASES[name]
    path = _make(name, case, tmp_path)
    # what the message names: the resolved path (a symlink loop cannot be resolved)
    shown = Path(os.path.abspath(path)) if name == "symlink-loop" else path.resolve()
    result = _run(_command(command, path), tmp_path)

    assert result.returncode == case.code, result.stderr
    lines = result.stderr.splitlines()
    if case.code == 0:
        if command == "submit":
            assert re.fullmatch(r"job \w+ FINISHED", lines[-1]), result.stderr
        else:
            assert result.stdout and not result.stderr
        return
    assert len(lines) == 1, result.stderr
    [line] = lines
    if name == "missing-file":
        assert line == f"no such file: {shown}"
    elif name == "parameters-not-a-mapping":
        expected = "execute() params must be a mapping of parameter name -> value, or a list of such mappings"
        assert line == f"{expected}; got str"
    elif case.code == 130:
        assert re.fullmatch(rf"dfm: interrupted \({re.escape(str(shown))}{case.message}\)", line), line
    else:
        assert re.fullmatch(re.escape(str(shown)) + case.message, line), line


def test_verbose_adds_the_traceback(tmp_path: Path) -> None:
    path = _make("base-exception-subclass", CASES["base-exception-subclass"], tmp_path)
    result = subprocess.run(
        [_dfm(), "--verbose", *_command("show", path)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1] == f"{path.resolve()}:5: Boom: kaboom"


PIPE = HEAD + GREET.format(call='fed.api.users.GreetMe(name="Ada")')
USAGE = {
    "submit-bad-target": (
        ["fed", "submit", "{fed}", "--target", "bogus", "pipeline", "{file}"],
        "'--target'",
    ),
    "submit-poc-without-flare": (["fed", "submit", "{fed}", "--poc", "pipeline", "{file}"], "--poc"),
    "submit-bad-timeout": (
        ["fed", "submit", "{fed}", "pipeline", "{file}", "--timeout", "soon"],
        "'--timeout'",
    ),
    "submit-no-federation": (["fed", "submit", "--target", "local"], "'FEDERATION'"),
    "submit-no-file": (["fed", "submit", "{fed}", "pipeline"], "'FILE'"),
    "submit-unknown-kind": (["fed", "submit", "{fed}", "notebook", "{file}"], "'notebook'"),
    "show-bad-format": (
        ["pipeline", "show", "{file}", "--federation", "{fed}", "--format", "bogus"],
        "'--format'",
    ),
    "show-no-file": (["pipeline", "show"], "'FILE'"),
    "show-unknown-option": (["pipeline", "show", "{file}", "--colour"], "--colour"),
    "validate-no-file": (["fed", "validate"], "'FILE'"),
    "unknown-command": (["pipelines"], "'pipelines'"),
}


@pytest.mark.parametrize("name", list(USAGE))
def test_usage_errors(name: str, tmp_path: Path) -> None:
    args, named = USAGE[name]
    file = tmp_path / "pipe.py"
    file.write_text(PIPE)
    result = _run([a.format(fed=EXAMPLEFED, file=file) for a in args], tmp_path)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert named in errors[0]
    assert result.stderr.splitlines()[0].startswith("Usage: dfm ")


USER_ERRORS = {
    "submit-unknown-federation": (
        ["fed", "submit", "nosuchfed", "pipeline", "{file}"],
        "no federation config file 'nosuchfed' and no registered federation of that name",
    ),
    "submit-missing-federation-file": (
        ["fed", "submit", "{tmp}/nope.dfm.yaml", "pipeline", "{file}"],
        "no federation config file '{tmp}/nope.dfm.yaml'",
    ),
    "submit-missing-script": (
        ["fed", "submit", "{fed}", "script", "{tmp}/nope.py"],
        "no such file: {tmp}/nope.py",
    ),
    "show-unknown-federation": (
        ["pipeline", "show", "{file}", "--federation", "nosuchfed"],
        "no federation config file 'nosuchfed'",
    ),
    "show-unknown-strategy": (
        ["pipeline", "show", "{file}", "--federation", "{fed}", "--strategy", "optimial"],
        "unknown placement strategy 'optimial'; did you mean 'optimal'?",
    ),
    "show-no-federation": (
        ["pipeline", "show", "{file}"],
        "{file}: no federation given; pass --federation PATH_OR_NAME",
    ),
    "validate-unknown-federation": (
        ["fed", "validate", "nosuchfed"],
        "no federation config file 'nosuchfed'",
    ),
    "validate-missing-file": (
        ["fed", "validate", "{tmp}/nope.dfm.yaml"],
        "no federation config file '{tmp}/nope.dfm.yaml'",
    ),
}


@pytest.mark.parametrize("name", list(USER_ERRORS))
def test_user_errors_in_arguments(name: str, tmp_path: Path) -> None:
    args, expected = USER_ERRORS[name]
    file = tmp_path / "pipe.py"
    file.write_text(PIPE)
    values = {"fed": EXAMPLEFED, "file": file, "tmp": tmp_path}
    result = _run([a.format(**values) for a in args], tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected.format(**values)), lines[0]
