"""The names DFM accepts, in one place: configs, pipelines and IRs all check them here.

Names end up in file names (a transport's per-site log), in generated Python
code (operation namespaces become modules, parameters become keywords) and
on terminals (error messages), so each kind has a small, documented character
set. Everything is ASCII.

=================  ==========================================================
kind               allowed
=================  ==========================================================
``site``           a *simple name*, optionally followed by ``@`` and a domain
                   (``hospital-a@example.org``; NVIDIA DFM's form, see
                   COMPAT.md): the domain is a hostname, dot-separated labels
                   of 1-63 letters, digits and ``-`` (not first or last),
                   253 characters at most
``provider``       a simple name
``place``          a simple name (``Yield(..., place=...)``)
``operation``      dotted identifiers: ``namespace.Name`` (one or more
                   segments), 255 characters at most
``schema``         dotted names (``geo.BBox``) whose segments are identifiers
                   that may also hold ``-`` (``Record-v2``), 255 at most
``parameter``      an identifier (operation parameters, ``expose-as`` names,
                   ``PlaceParam`` names)
``code-package``   an identifier that is not a Python keyword (the root
                   package of generated code)
=================  ==========================================================

- A **simple name** is 1-64 characters of ``A-Z a-z 0-9 _ - .``, starts with a
  letter or a digit and never contains ``..``: it is always a safe, single
  path component.
- An **identifier** is 1-128 characters of ``A-Z a-z 0-9 _`` not starting
  with a digit. Segments of operation names must not be Python keywords
  either (``users.class`` cannot be generated as code).

:func:`name_problem` says what is wrong with a name (or None);
:func:`validate_name` raises :class:`InvalidNameError` (a
:class:`~dfm.kernel.errors.DfmError`) naming the bad name and the allowed set.
:func:`shown` renders any user-supplied string safely for a message: quoted,
control characters escaped, long strings shortened.
"""

from __future__ import annotations

import keyword
import re
from typing import Final, Literal

from dfm.kernel.errors import DfmError

NameKind = Literal["site", "provider", "place", "operation", "schema", "parameter", "code-package"]

SIMPLE_MAX: Final = 64
IDENTIFIER_MAX: Final = 128
DOTTED_MAX: Final = 255
DOMAIN_MAX: Final = 253

_SIMPLE_CHARS = re.compile(r"[A-Za-z0-9_.\-]*")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCHEMA_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?")
# Adapter registry names (:mod:`dfm.kernel.records`, checked by the config loader too) keep
# the operation's dotted form, which may be CamelCase: "users.GreetMe".
ADAPTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

_SIMPLE_RULE = (
    "1-64 characters of letters, digits, '_', '-' and '.', starting with a letter or digit, no '..'"
)
_IDENTIFIER_RULE = "1-128 characters of letters, digits and '_', not starting with a digit"
ALLOWED: Final[dict[str, str]] = {
    "site": _SIMPLE_RULE + ", optionally followed by '@' and a domain name such as 'example.org'",
    "provider": _SIMPLE_RULE,
    "place": _SIMPLE_RULE,
    "operation": "identifiers joined by dots, like 'users.GreetMe' (no Python keywords)",
    "schema": "names of letters, digits, '_' and '-' joined by dots, like 'geo.BBox'",
    "parameter": _IDENTIFIER_RULE,
    "code-package": _IDENTIFIER_RULE + ", not a Python keyword",
}


class InvalidNameError(DfmError, ValueError):
    """A name (site, provider, place, operation, ...) outside its allowed character set."""

    def __init__(self, kind: str, name: object, problem: str) -> None:
        self.kind = kind
        self.name = name
        self.problem = problem
        super().__init__(name_message(kind, name, problem))


def shown(text: object, limit: int = 80) -> str:
    """``text`` quoted for a message: control characters escaped, at most ``limit`` characters shown.

    Anything but a string is shown as its (shortened) ``repr``, without quotes.
    """
    if not isinstance(text, str):
        value = escape_controls(repr(text))
        return value if len(value) <= limit else value[:limit] + "..."
    if len(text) <= limit:
        return "'" + escape_controls(text) + "'"
    return "'" + escape_controls(text[:limit]) + f"'... ({len(text)} characters)"


def escape_controls(text: str) -> str:
    """Control characters (C0, DEL, C1), line and paragraph separators written as ``\\xNN``/``\\uNNNN``."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(
                f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
            )
    return "".join(out)


def _char_problem(name: str, allowed: re.Pattern[str], what: str) -> str | None:
    match = allowed.match(name)
    end = match.end() if match else 0
    if end < len(name):
        return f"{shown(name[end])} is not allowed in {what}"
    return None


def _simple_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if len(name) > SIMPLE_MAX:
        return f"it is {len(name)} characters long, at most {SIMPLE_MAX} are allowed"
    problem = _char_problem(name, _SIMPLE_CHARS, "this name")
    if problem:
        return problem
    if not name[0].isalnum():
        return "it must start with a letter or a digit"
    if ".." in name:
        return "'..' is not allowed"
    return None


def _domain_problem(domain: str) -> str | None:
    if not domain:
        return "the domain after '@' is empty"
    if len(domain) > DOMAIN_MAX:
        return f"the domain is {len(domain)} characters long, at most {DOMAIN_MAX} are allowed"
    for label in domain.split("."):
        if not _LABEL.fullmatch(label):
            return (
                f"the domain {shown(domain)} is not a hostname: dot-separated labels of 1-63 letters,"
                " digits and '-' (not first or last)"
            )
    return None


def _identifier_problem(name: str, *, keywords: bool, pattern: re.Pattern[str] = _IDENTIFIER) -> str | None:
    if not name:
        return "it is empty" if keywords else "a part is empty"
    if len(name) > IDENTIFIER_MAX:
        return f"it is {len(name)} characters long, at most {IDENTIFIER_MAX} are allowed"
    if name[0].isdigit():
        return "it must not start with a digit"
    problem = _char_problem(name, pattern, "this name")
    if problem:
        return problem
    if not keywords and keyword.iskeyword(name):
        return f"{shown(name)} is a Python keyword"
    return None


def _dotted_problem(
    name: str, *, keywords: bool, pattern: re.Pattern[str] = _IDENTIFIER, max_length: int = DOTTED_MAX
) -> str | None:
    if not name:
        return "it is empty"
    if len(name) > max_length:
        return f"it is {len(name)} characters long, at most {max_length} are allowed"
    for part in name.split("."):
        if not part:
            return "a part between dots is empty"
        problem = _identifier_problem(part, keywords=keywords, pattern=pattern)
        if problem:
            return problem
    return None


def name_problem(kind: NameKind, name: object) -> str | None:
    """What is wrong with ``name`` as a name of ``kind``, or None if it is allowed."""
    if not isinstance(name, str):
        return f"a name must be a string, found {type(name).__name__}"
    if kind == "site":
        local, at, domain = name.partition("@")
        return _simple_problem(local) or (_domain_problem(domain) if at else None)
    if kind in ("provider", "place"):
        return _simple_problem(name)
    if kind == "operation":
        return _dotted_problem(name, keywords=False)
    if kind == "schema":
        return _dotted_problem(name, keywords=True, pattern=_SCHEMA_SEGMENT)
    if kind == "parameter":
        return _identifier_problem(name, keywords=True)
    if kind == "code-package":
        return _identifier_problem(name, keywords=False)
    raise ValueError(f"unknown name kind {kind!r}")  # a programming error, not bad input


def name_message(kind: str, name: object, problem: str, allowed: str | None = None) -> str:
    """``invalid site name '../x': '/' is not allowed in this name; allowed: ...``.

    ``kind`` may be a label of its own ("Yield place") when ``allowed`` is given.
    """
    return f"invalid {kind} name {shown(name)}: {problem}; allowed: {allowed or ALLOWED.get(kind, '?')}"


def validate_name(kind: NameKind, name: object) -> str:
    """Return ``name`` if it is a valid name of ``kind``; raise :class:`InvalidNameError` otherwise."""
    problem = name_problem(kind, name)
    if problem is not None:
        raise InvalidNameError(kind, name, problem)
    assert isinstance(name, str)
    return name
