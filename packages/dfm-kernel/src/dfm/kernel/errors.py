"""The DFM error tree.

Every error meant for a user subclasses :class:`DfmError`; the CLI prints its
message (no traceback unless ``--verbose``) and exits 1. Messages say where
and what: file, line, column and JSON pointer for configs; distribution and
version for plugins; node and sites for compilation.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs


class DfmError(Exception):
    """Base of every user-facing DFM error."""


def exception_text(exc: BaseException, limit: int = 300) -> str:
    """``str(exc)`` on one line and at most ``limit`` characters, whatever ``exc.__str__`` does."""
    try:
        text = " ".join(str(exc).split())
    except BaseException:  # a hostile __str__: the caller still names the type
        text = "<unprintable message>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_exception(exc: BaseException) -> str:
    """``TypeName: message`` on one line, for exceptions that are not :class:`DfmError`."""
    name = type(exc).__qualname__
    text = exception_text(exc)
    return f"{name}: {text}" if text else name


@attrs.frozen
class ConfigIssue:
    """One problem in a federation config, with its exact location."""

    file: str
    line: int  # 1-based; 0 when unknown
    column: int  # 1-based; 0 when unknown
    pointer: str  # JSON pointer of the offending node ("" is the document root)
    message: str  # what was expected and what was found
    hint: str | None = None  # did-you-mean suggestion

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column}"
        text = f"{where} {_short_pointer(readable_pointer(self.pointer)) or '/'}: {self.message}"
        if self.hint:
            text += f"; {self.hint}"
        return _printable(text)


def _printable(text: str) -> str:
    """``text`` with control characters escaped: a config's strings never drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


_OPERATION_KEY = "#/operations/"


def readable_pointer(pointer: str) -> str:
    """A JSON pointer as people read it: interface keys ``#~1operations~1users.GreetMe`` are shown
    as ``users.GreetMe``; other tokens stay escaped (a ``/`` inside a name must stay visible)."""
    if "~1" not in pointer:
        return pointer
    shown = []
    for token in pointer.split("/"):
        raw = token.replace("~1", "/").replace("~0", "~")
        if raw.startswith(_OPERATION_KEY) and not any(c in raw[len(_OPERATION_KEY) :] for c in "/~"):
            token = raw[len(_OPERATION_KEY) :]
        shown.append(token)
    return "/".join(shown)


def _short_pointer(pointer: str, limit: int = 64) -> str:
    """A pointer with each overlong token shortened (a 1 MB key is not worth printing)."""
    if len(pointer) <= 4 * limit:
        return pointer
    return "/".join(t if len(t) <= limit else t[:limit] + "..." for t in pointer.split("/"))


class ConfigError(DfmError):
    """A federation config is invalid; holds every issue found, sorted by position."""

    def __init__(self, issues: Iterable[ConfigIssue]):
        self.issues = sorted(issues, key=lambda i: (i.file, i.line, i.column, i.pointer, i.message))
        count = len(self.issues)
        head = f"{count} problem{'s' if count != 1 else ''} in federation config"
        super().__init__("\n".join([head, *(f"  {issue}" for issue in self.issues)]))


class PipelineError(DfmError):
    """A pipeline is malformed (bad argument, unknown operation, misuse of ForEach/If...)."""


class PipelineFileError(PipelineError):
    """A pipeline file (``get_pipeline()``, ``get_pipeline_parameters()``) could not be used."""


class CompileError(DfmError):
    """A pipeline cannot be placed or lowered onto the federation."""


class PluginError(DfmError):
    """Base of plugin-related errors."""


class PluginLoadError(PluginError):
    """A plugin failed to load and strict mode is on."""


class PluginHookError(PluginError):
    """A plugin's hook implementation raised while its registry was collected."""


class PluginContractError(PluginError):
    """Plugins returned invalid records; lists every offender with its source."""


class PluginConflictError(PluginError):
    """Two or more plugins claim the same name; the message names every distribution."""


class UnknownPluginError(PluginError, LookupError):
    """A requested name is not provided by any installed plugin."""


class PluginVersionError(PluginError):
    """A federation's ``plugins:`` pins are not met by the installed distributions."""


class JobError(DfmError):
    """A job failed: an adapter raised, a site refused the work, or a site vanished."""
