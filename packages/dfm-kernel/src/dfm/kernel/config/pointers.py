"""JSON pointers (RFC 6901) as used in config error locations and ``$ref`` targets.

Interface keys look like ``"#/operations/users.GreetMe"``, so escaping matters:
``~`` is written ``~0`` and ``/`` is written ``~1``.
"""

from __future__ import annotations

from typing import Any


def escape(segment: str) -> str:
    """Escape one reference token: ``~`` -> ``~0``, ``/`` -> ``~1``."""
    return segment.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    """Undo :func:`escape` (``~1`` first would turn ``~01`` into ``/``, so ``~1`` then ``~0``)."""
    return token.replace("~1", "/").replace("~0", "~")


def segment(key: Any) -> str:
    """The pointer token of a mapping key or sequence index, spelled the way YAML writes it."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def join(pointer: str, key: Any) -> str:
    """``join("/sites", "a/b")`` -> ``"/sites/a~1b"``."""
    return f"{pointer}/{escape(segment(key))}"


def split(pointer: str) -> list[str]:
    """The unescaped tokens of a pointer; ``""`` (the whole document) has none.

    Raises ValueError if the pointer is neither empty nor starts with ``/``.
    """
    if not pointer:
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON pointer must be empty or start with '/', found {pointer!r}")
    return [unescape(token) for token in pointer[1:].split("/")]


def parent(pointer: str) -> str:
    """The pointer of the enclosing node (the document root is its own parent)."""
    return pointer[: pointer.rfind("/")] if pointer else ""
