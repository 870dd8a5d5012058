"""Pipeline files: get_pipeline() / get_pipeline_parameters() and every failure, with file:line."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dfm.api.files import parameters_from, pipeline_from, run_pipeline_file, wants_federation
from dfm.kernel.errors import PipelineError, PipelineFileError
from dfm.kernel.ir import pipeline as irp


def write(tmp_path: Path, text: str, name: str = "pipe.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path.resolve()


def load(tmp_path: Path, text: str) -> Any:
    return run_pipeline_file(write(tmp_path, text))


def raises(message: str) -> Any:
    return pytest.raises(PipelineFileError, match=f"^{re.escape(message)}$")


PIPELINE = """\
from dfm.api import Pipeline, PlaceParam, Yield

def get_pipeline():
    with Pipeline("echo") as p:
        Yield(PlaceParam("name"), place="echo")
    return p
"""
ECHO = irp.PipelineIR((irp.Yield("n1", irp.Param("name"), "echo"),), ("name",), "echo")


def test_run_and_get_pipeline(tmp_path):
    module = load(tmp_path, PIPELINE)
    assert pipeline_from(module) == ECHO
    assert not wants_federation(module)
    assert parameters_from(module, ["a"]) == {}


def test_folder_is_importable_while_running(tmp_path):
    write(tmp_path, "VALUE = 42\n", "helper_dfm_files_test.py")
    module = load(tmp_path, "import helper_dfm_files_test\nV = helper_dfm_files_test.VALUE\n")
    assert module.V == 42
    assert str(tmp_path.resolve()) not in sys.path
    assert not [name for name in sys.modules if name.startswith("_dfm_pipeline_")]
    sys.modules.pop("helper_dfm_files_test", None)


def test_missing_file(tmp_path):
    path = (tmp_path / "nope.py").resolve()
    with raises(f"no such file: {path}"):
        run_pipeline_file(tmp_path / "nope.py")
    with raises(f"{tmp_path.resolve()}: is a directory, not a pipeline file"):
        run_pipeline_file(tmp_path)


def test_syntax_error(tmp_path):
    path = write(tmp_path, "x = 1\ny = (\n\ndef f(:\n")
    with pytest.raises(PipelineFileError, match=f"^{re.escape(str(path))}:\\d+:\\d+: syntax error: "):
        run_pipeline_file(path)
    path = write(tmp_path, "x = 1\nx +\n")
    with raises(f"{path}:2:4: syntax error: invalid syntax"):
        run_pipeline_file(path)


def test_error_at_import(tmp_path):
    path = write(tmp_path, "import os\n\n\ndef f():\n    return {}['k']\n\n\nf()\n")
    with raises(f"{path}:5: KeyError: 'k'"):
        run_pipeline_file(path)
    assert str(path.parent) not in sys.path


def test_dfm_error_at_import_gets_the_location(tmp_path):
    path = write(tmp_path, "from dfm.api import Yield, PlaceParam\nYield(PlaceParam('x'))\n")
    with raises(f"{path}:2: Yield must be used inside 'with Pipeline():'") as info:
        run_pipeline_file(path)
    assert type(info.value.__cause__) is PipelineError


def test_get_pipeline_missing(tmp_path):
    path = write(tmp_path, "get_pipeline = 3\n")
    module = run_pipeline_file(path)
    message = f"{path}: defines no get_pipeline() function returning a dfm.api.Pipeline"
    with raises(message):
        pipeline_from(module)
    with raises(message):
        wants_federation(module)


@pytest.mark.parametrize(("body", "kind"), [("return 3", "int"), ("return None", "NoneType")])
def test_get_pipeline_wrong_type(tmp_path, body, kind):
    path = write(tmp_path, f"def get_pipeline():\n    {body}\n")
    with raises(f"{path}: get_pipeline() returned {kind}, expected a dfm.api.Pipeline"):
        pipeline_from(run_pipeline_file(path))


def test_get_pipeline_may_return_ir(tmp_path):
    module = load(
        tmp_path,
        PIPELINE.replace("def get_pipeline", "def _get") + "\n\ndef get_pipeline():\n    return _get().ir\n",
    )
    assert pipeline_from(module) == ECHO


def test_get_pipeline_raises(tmp_path):
    path = write(
        tmp_path, "def helper():\n    raise ValueError('bad')\n\n\ndef get_pipeline():\n    helper()\n"
    )
    with raises(f"{path}:2: get_pipeline() raised ValueError: bad"):
        pipeline_from(run_pipeline_file(path))


def test_get_pipeline_raising_a_dfm_error(tmp_path):
    path = write(tmp_path, "from dfm.api import PlaceParam\n\ndef get_pipeline():\n    PlaceParam('1')\n")
    prefix = f"{path}:4: invalid PlaceParam name '1': it must not start with a digit; "
    with pytest.raises(PipelineFileError, match=f"^{re.escape(prefix)}"):
        pipeline_from(run_pipeline_file(path))


def test_get_pipeline_taking_the_federation(tmp_path, examplefed_path):
    module = load(
        tmp_path,
        """\
        from dfm.api import Pipeline, Yield

        def get_pipeline(fed, extra=1):
            with Pipeline() as p:
                Yield(fed.api.users.GreetMe(name=fed.name), place="g")
            return p
        """,
    )
    assert wants_federation(module)
    from dfm.api import load_federation

    fed = load_federation(examplefed_path)
    assert pipeline_from(module, fed).statements == (
        irp.Call("n1", "users.GreetMe", {"name": irp.Lit("examplefed")}),
        irp.Yield("n2", irp.Ref("n1"), "g"),
    )


def test_get_pipeline_needing_too_much(tmp_path):
    path = write(tmp_path, "def get_pipeline(a, b):\n    pass\n")
    with raises(f"{path}: get_pipeline() requires 2 arguments; it can be given at most the federation"):
        pipeline_from(run_pipeline_file(path))


PARAMS = PIPELINE + "\n\n{}\n"


def test_parameters_absent(tmp_path):
    assert parameters_from(load(tmp_path, PIPELINE), ["x"], object()) == {}
    assert parameters_from(load(tmp_path, PIPELINE + "get_pipeline_parameters = {}\n"), []) == {}


def test_parameters_without_arguments(tmp_path):
    module = load(tmp_path, PARAMS.format("def get_pipeline_parameters():\n    return [{'name': 'a'}]"))
    assert parameters_from(module, ["ignored"]) == [{"name": "a"}]


def test_parameters_with_argv(tmp_path):
    module = load(tmp_path, PARAMS.format("def get_pipeline_parameters(argv):\n    return {'name': argv[0]}"))
    assert parameters_from(module, ["bob", "x"], object()) == {"name": "bob"}


def test_parameters_with_argv_and_federation(tmp_path):
    module = load(
        tmp_path, PARAMS.format("def get_pipeline_parameters(argv, fed):\n    return {'name': fed + argv[0]}")
    )
    assert parameters_from(module, ["bob"], "fed:") == {"name": "fed:bob"}


def test_parameters_needing_three_arguments(tmp_path):
    path = write(tmp_path, PARAMS.format("def get_pipeline_parameters(a, b, c):\n    return {}"))
    message = (
        f"{path}: get_pipeline_parameters() requires 3 arguments; "
        "it can be given at most the arguments after --, the federation"
    )
    with raises(message):
        parameters_from(run_pipeline_file(path), [], None)


def test_parameters_raising(tmp_path):
    path = write(tmp_path, PARAMS.format("def get_pipeline_parameters(argv):\n    return argv[5]"))
    with raises(f"{path}:10: get_pipeline_parameters() raised IndexError: list index out of range"):
        parameters_from(run_pipeline_file(path), [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("class Boom(BaseException):\n    pass\n\n\nraise Boom('kaboom')\n", "{path}:5: Boom: kaboom"),
        ("x = 1\nraise GeneratorExit\n", "{path}:2: GeneratorExit"),
        ("import sys\n\nsys.exit(3)\n", "{path}:3: the pipeline file called sys.exit(3); {exits}"),
        ("raise SystemExit('bye now')\n", "{path}:1: the pipeline file called sys.exit('bye now'); {exits}"),
        ("exit()\n", "{path}:1: the pipeline file called sys.exit(); {exits}"),
        ("def f():\n    f()\n\n\nf()\n", "{path}:2: RecursionError: maximum recursion depth exceeded"),
        ("raise MemoryError('big')\n", "{path}:1: MemoryError: big"),
        (
            "import no_such_module_dfm_test\n",
            "{path}:1: ModuleNotFoundError: No module named 'no_such_module_dfm_test'",
        ),
        ("raise ValueError('a\\n  b\\n')\n", "{path}:1: ValueError: a b"),
        ("raise ValueError('x' * 1000)\n", "{path}:1: ValueError: " + "x" * 297 + "..."),
        (
            "class E(Exception):\n    def __str__(self):\n        raise OSError\n\n\nraise E\n",
            "{path}:6: E: <unprintable message>",
        ),
        ("raise SyntaxError('made up')\n", "{path}:1: syntax error: made up"),
        ("x = 1\0\n", "{path}: syntax error: source code string cannot contain null bytes"),
    ],
)
def test_anything_raised_is_one_located_line(tmp_path, text, message):
    path = write(tmp_path, text)
    exits = "a pipeline file defines get_pipeline() and must not exit"
    with raises(message.format(path=path, exits=exits)):
        run_pipeline_file(path)


def test_not_utf8(tmp_path):
    path = (tmp_path / "latin.py").resolve()
    path.write_bytes(b"x = 1\ny = '\xe9'\n")
    with pytest.raises(PipelineFileError, match=f"^{re.escape(str(path))}:2:\\d+: syntax error: .*utf-8"):
        run_pipeline_file(path)


def test_syntax_error_in_an_imported_module(tmp_path):
    write(tmp_path, "def f(:\n", "broken_helper_dfm_test.py")
    path = write(tmp_path, "x = 1\nimport broken_helper_dfm_test\n")
    helper = tmp_path.resolve() / "broken_helper_dfm_test.py"
    with raises(f"{path}:2: SyntaxError in {helper}:1:7: invalid syntax"):
        run_pipeline_file(path)


def test_keyboard_interrupt_stays_an_interrupt(tmp_path):
    path = write(tmp_path, "x = 1\nraise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt, match=f"^{re.escape(str(path))}:2: interrupted$"):
        run_pipeline_file(path)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    with raises(f"{fifo.resolve()}: not a regular file (a pipeline file is a Python file)"):
        run_pipeline_file(fifo)


def test_too_large(tmp_path, monkeypatch):
    from dfm.api import files

    monkeypatch.setattr(files, "MAX_FILE_BYTES", 10)
    path = write(tmp_path, "x = 1234567890\n")
    with raises(f"{path}: 15 bytes is larger than the 10 bytes a pipeline file may have"):
        run_pipeline_file(path)


def test_get_pipeline_raising_base_exceptions(tmp_path):
    path = write(tmp_path, "import sys\n\n\ndef get_pipeline():\n    sys.exit(2)\n")
    with raises(
        f"{path}:5: the pipeline file called sys.exit(2); "
        "a pipeline file defines get_pipeline() and must not exit"
    ):
        pipeline_from(run_pipeline_file(path))
    path = write(tmp_path, "def get_pipeline():\n    raise GeneratorExit('g')\n")
    with raises(f"{path}:2: get_pipeline() raised GeneratorExit: g"):
        pipeline_from(run_pipeline_file(path))


def test_get_pipeline_returning_a_pipeline_still_recording(tmp_path):
    path = write(tmp_path, "from dfm.api import Pipeline\n\n\ndef get_pipeline():\n    return Pipeline()\n")
    message = f"{path}: the pipeline is still being recorded; use it after its 'with' block"
    with raises(message):
        pipeline_from(run_pipeline_file(path))


def test_module_getattr_raising(tmp_path):
    path = write(tmp_path, "def __getattr__(name):\n    raise KeyError(name)\n")
    with raises(f"{path}:2: KeyError: 'get_pipeline'"):
        pipeline_from(run_pipeline_file(path))


def test_too_deep_blocks_are_refused_where_written(tmp_path):
    path = write(
        tmp_path,
        """\
        from contextlib import ExitStack
        from dfm.api import If, Pipeline, PlaceParam, Yield

        def get_pipeline():
            with Pipeline() as p, ExitStack() as stack:
                for _ in range(300):
                    stack.enter_context(If(PlaceParam("x")))
                Yield(PlaceParam("x"), place="out")
            return p
        """,
    )
    message = (
        f"{path}:7: If blocks nested more than 100 levels deep "
        "(the limit of ForEach/If blocks inside each other)"
    )
    with raises(message):
        pipeline_from(run_pipeline_file(path))
