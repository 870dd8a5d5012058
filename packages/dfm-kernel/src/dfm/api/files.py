"""Pipeline files: Python files defining ``get_pipeline()`` (and maybe ``get_pipeline_parameters()``).

Used by ``dfm pipeline show`` and ``dfm fed submit ... pipeline``. Both
functions may take leading arguments, filled from what the tool has:
``get_pipeline(federation)`` and ``get_pipeline_parameters(argv, federation)``.
Every failure is a :class:`~dfm.kernel.errors.PipelineFileError` naming the
file and line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from dfm.kernel.errors import DfmError, PipelineFileError
from dfm.kernel.ir.pipeline import PipelineIR


def _where(exc: BaseException, path: Path) -> str:
    """``file:line`` of the innermost frame of ``exc`` inside ``path`` (or just the file)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return f"{path}:{frames[-1].lineno}" if frames else str(path)


def run_pipeline_file(path: Path) -> ModuleType:
    """Execute ``path`` as a module (its folder importable, as when running it)."""
    path = path.resolve()
    if not path.is_file():
        raise PipelineFileError(f"no such file: {path}")
    name = "_dfm_pipeline_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PipelineFileError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except DfmError:
        raise
    except SyntaxError as exc:
        raise PipelineFileError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        raise PipelineFileError(f"{_where(exc, path)}: {type(exc).__name__}: {exc}") from None
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


def pipeline_function(module: ModuleType) -> Callable[..., Any]:
    """The file's ``get_pipeline``, or a :class:`PipelineFileError` saying it is missing."""
    fn = getattr(module, "get_pipeline", None)
    if not callable(fn):
        path = Path(str(module.__file__))
        raise PipelineFileError(f"{path}: defines no get_pipeline() function returning a dfm.api.Pipeline")
    return fn  # type: ignore[no-any-return]


def wants_federation(module: ModuleType) -> bool:
    """Whether ``get_pipeline`` takes the federation (so it must be loaded first)."""
    return _required_positional(pipeline_function(module)) > 0


def _call(module: ModuleType, name: str, labels: tuple[str, ...], *candidates: Any) -> Any:
    """Call ``module.name`` with as many leading ``candidates`` (``labels``) as it takes positionally."""
    fn: Callable[..., Any] = getattr(module, name)
    path = Path(str(module.__file__))
    count = _required_positional(fn)
    if count > len(candidates):
        raise PipelineFileError(
            f"{path}: {name}() requires {count} arguments; it can be given at most {', '.join(labels)}"
        )
    try:
        return fn(*candidates[:count])
    except DfmError:
        raise
    except Exception as exc:
        raise PipelineFileError(f"{_where(exc, path)}: {name}() raised {type(exc).__name__}: {exc}") from None


def pipeline_from(module: ModuleType, federation: Any = None) -> PipelineIR:
    """The IR of the pipeline ``module.get_pipeline([federation])`` returns."""
    path = Path(str(module.__file__))
    pipeline_function(module)
    result = _call(module, "get_pipeline", ("the federation",), federation)
    if isinstance(result, PipelineIR):
        return result
    recorded = getattr(result, "ir", None)
    if isinstance(recorded, PipelineIR):
        return recorded
    raise PipelineFileError(
        f"{path}: get_pipeline() returned {type(result).__name__}, expected a dfm.api.Pipeline"
    )


def parameters_from(module: ModuleType, argv: list[str], federation: Any = None) -> Any:
    """``module.get_pipeline_parameters([argv, [federation]])``, or ``{}`` when it is not defined."""
    if not callable(getattr(module, "get_pipeline_parameters", None)):
        return {}
    labels = ("the arguments after --", "the federation")
    return _call(module, "get_pipeline_parameters", labels, argv, federation)
