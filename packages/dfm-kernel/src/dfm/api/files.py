"""Pipeline files: Python files defining ``get_pipeline()`` (and maybe ``get_pipeline_parameters()``).

Used by ``dfm pipeline show`` and ``dfm fed submit ... pipeline``. Both
functions may take leading arguments, filled from what the tool has:
``get_pipeline(federation)`` and ``get_pipeline_parameters(argv, federation)``.

This module is the one place where whatever a pipeline file does wrong becomes
a :class:`~dfm.kernel.errors.PipelineFileError` with a one-line message naming
the file and, where known, the line (the innermost frame of the traceback that
is inside the file): any exception or ``BaseException`` subclass
(``GeneratorExit``, ``SystemExit`` from ``sys.exit()``/``exit()``, a class of
its own), errors of the pipeline API, syntax errors (``file:line:column``),
files that are not regular files (a FIFO, a directory, a device) or are larger
than :data:`MAX_FILE_BYTES`. ``KeyboardInterrupt`` stays a
``KeyboardInterrupt`` (so the CLI exits 130) with the location as its message.
The original exception is kept as ``__cause__`` for ``dfm --verbose``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.util
import inspect
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from dfm.kernel.errors import DfmError, PipelineFileError, describe_exception, exception_text
from dfm.kernel.ir.pipeline import PipelineIR

__all__ = [
    "MAX_FILE_BYTES",
    "parameters_from",
    "pipeline_file_errors",
    "pipeline_from",
    "pipeline_function",
    "run_pipeline_file",
    "wants_federation",
]

MAX_FILE_BYTES = 16 * 1024 * 1024  # a pipeline file larger than this is refused


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _line_in(exc: BaseException, path: Path) -> int | None:
    """The line of the innermost traceback frame inside ``path`` (no source is read)."""
    line = None
    target = str(path)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == target:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _where(exc: BaseException, path: Path) -> str:
    """``file:line`` of the innermost frame of ``exc`` inside ``path`` (or just the file)."""
    line = _line_in(exc, path)
    return f"{path}:{line}" if line is not None else str(path)


def _syntax_where(exc: SyntaxError, path: Path) -> str:
    """``file:line:column`` of a syntax error, as precise as the error knows it."""
    where = str(exc.filename or path)
    if exc.lineno:
        where += f":{exc.lineno}"
        if exc.offset:
            where += f":{exc.offset}"
    return where


def _exit_text(exc: SystemExit) -> str:
    code = exc.code
    if code is None:
        call = "sys.exit()"
    elif isinstance(code, (int, str)):
        call = f"sys.exit({_one_line(repr(code), 60)})"
    else:
        call = f"sys.exit(<{type(code).__name__}>)"
    return f"the pipeline file called {call}; a pipeline file defines get_pipeline() and must not exit"


@contextlib.contextmanager
def pipeline_file_errors(path: Path, doing: str = "") -> Iterator[None]:
    """Turn anything raised in the block (running code of ``path``) into a one-line error.

    ``doing`` names what ran ("get_pipeline()"); the message reads
    ``FILE:LINE: [get_pipeline() raised] TypeName: message``.
    """
    prefix = f"{doing} raised " if doing else ""
    try:
        yield
    except DfmError as exc:  # the pipeline API (or a federation loaded by the file) refused something
        text = exception_text(exc, 1000)
        if isinstance(exc, PipelineFileError) and text.startswith(str(path)):  # already located
            raise
        raise PipelineFileError(f"{_where(exc, path)}: {text}") from exc
    except SyntaxError as exc:  # compile() of the file, or a module it imports
        where = _syntax_where(exc, path)
        if exc.filename is None:  # compile() without a position, or raised by the file's own code
            message = f"{_where(exc, path)}: syntax error: {_one_line(str(exc.msg))}"
        elif Path(exc.filename) == path:
            message = f"{where}: syntax error: {_one_line(str(exc.msg))}"
        else:
            message = (
                f"{_where(exc, path)}: {prefix}{type(exc).__qualname__} in {where}: {_one_line(str(exc.msg))}"
            )
        raise PipelineFileError(message) from exc
    except SystemExit as exc:
        raise PipelineFileError(f"{_where(exc, path)}: {_exit_text(exc)}") from exc
    except KeyboardInterrupt as exc:
        raise KeyboardInterrupt(f"{_where(exc, path)}: interrupted") from exc
    except BaseException as exc:  # Exception, GeneratorExit, RecursionError, MemoryError, own classes
        raise PipelineFileError(f"{_where(exc, path)}: {prefix}{describe_exception(exc)}") from exc


def _read_regular_file(path: Path) -> bytes:
    """The bytes of ``path``, refusing anything but a regular file of at most MAX_FILE_BYTES.

    The file is opened without blocking and checked on the open descriptor, so a
    FIFO (or a file swapped for one) cannot make this wait.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise PipelineFileError(f"no such file: {path}") from None
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, "error")
        raise PipelineFileError(f"{path}: cannot open the pipeline file: {reason}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise PipelineFileError(f"{path}: is a directory, not a pipeline file")
        if not stat.S_ISREG(info.st_mode):
            raise PipelineFileError(f"{path}: not a regular file (a pipeline file is a Python file)")
        if info.st_size > MAX_FILE_BYTES:
            raise PipelineFileError(
                f"{path}: {info.st_size} bytes is larger than the {MAX_FILE_BYTES} bytes "
                "a pipeline file may have"
            )
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise PipelineFileError(f"{path}: cannot read the pipeline file: {exc.strerror}") from None
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:  # it grew while being read
        raise PipelineFileError(f"{path}: larger than the {MAX_FILE_BYTES} bytes a pipeline file may have")
    data = b"".join(chunks)
    return data


def run_pipeline_file(path: Path) -> ModuleType:
    """Execute ``path`` as a module (its folder importable, as when running it)."""
    try:
        path = Path(os.path.abspath(path))
        if path.exists():
            path = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long...
        raise PipelineFileError(f"{path}: cannot resolve the path: {describe_exception(exc)}") from None
    source = _read_regular_file(path)
    name = "_dfm_pipeline_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise PipelineFileError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        with pipeline_file_errors(path):
            code = compile(source, str(path), "exec", dont_inherit=True)
            exec(code, module.__dict__)
    finally:
        sys.modules.pop(name, None)
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def _required_positional(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    return sum(
        1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    )


def _path_of(module: ModuleType) -> Path:
    return Path(str(module.__file__))


def _attribute(module: ModuleType, name: str) -> Any:
    """``module.name`` or None (a module ``__getattr__`` of the file may raise anything)."""
    with pipeline_file_errors(_path_of(module)):
        return getattr(module, name, None)


def pipeline_function(module: ModuleType) -> Callable[..., Any]:
    """The file's ``get_pipeline``, or a :class:`PipelineFileError` saying it is missing."""
    fn = _attribute(module, "get_pipeline")
    if not callable(fn):
        path = _path_of(module)
        raise PipelineFileError(f"{path}: defines no get_pipeline() function returning a dfm.api.Pipeline")
    return fn  # type: ignore[no-any-return]


def wants_federation(module: ModuleType) -> bool:
    """Whether ``get_pipeline`` takes the federation (so it must be loaded first)."""
    fn = pipeline_function(module)
    with pipeline_file_errors(_path_of(module), "get_pipeline()"):
        return _required_positional(fn) > 0


def _call(module: ModuleType, name: str, labels: tuple[str, ...], *candidates: Any) -> Any:
    """Call ``module.name`` with as many leading ``candidates`` (``labels``) as it takes positionally."""
    fn: Callable[..., Any] = _attribute(module, name)
    path = _path_of(module)
    with pipeline_file_errors(path, f"{name}()"):  # a __signature__ of its own may raise
        count = _required_positional(fn)
    if count > len(candidates):
        raise PipelineFileError(
            f"{path}: {name}() requires {count} arguments; it can be given at most {', '.join(labels)}"
        )
    with pipeline_file_errors(path, f"{name}()"):
        return fn(*candidates[:count])


def pipeline_from(module: ModuleType, federation: Any = None) -> PipelineIR:
    """The IR of the pipeline ``module.get_pipeline([federation])`` returns."""
    path = _path_of(module)
    pipeline_function(module)
    result = _call(module, "get_pipeline", ("the federation",), federation)
    if isinstance(result, PipelineIR):
        return result
    with pipeline_file_errors(path, "get_pipeline()"):
        recorded = getattr(result, "ir", None)  # a Pipeline still being recorded raises PipelineError
    if isinstance(recorded, PipelineIR):
        return recorded
    raise PipelineFileError(
        f"{path}: get_pipeline() returned {type(result).__name__}, expected a dfm.api.Pipeline"
    )


def parameters_from(module: ModuleType, argv: list[str], federation: Any = None) -> Any:
    """``module.get_pipeline_parameters([argv, [federation]])``, or ``{}`` when it is not defined."""
    if not callable(_attribute(module, "get_pipeline_parameters")):
        return {}
    labels = ("the arguments after --", "the federation")
    return _call(module, "get_pipeline_parameters", labels, argv, federation)
