"""A griffe extension for the docs site: DFM's reStructuredText-flavoured docstrings as Markdown.

DFM's docstrings are written for ``help()`` and editors (reST habits: roles such as
``:class:`~dfm.kernel.records.AdapterEntry```, literal blocks introduced by ``::``,
``.. versionadded::``, doctest lines). mkdocstrings renders Markdown, so before it
does, this extension rewrites (mkdocs.yml loads it; the sources stay as they are):

* a role becomes inline code of its target (``~`` keeps the last name only);
* ``text::`` + an indented block becomes ``text:`` + a fenced Python block;
* consecutive ``>>>``/``...`` lines become a fenced ``pycon`` block;
* ``.. versionadded:: X`` / ``.. deprecated:: X`` become an italic line.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const|ref|term):`(?P<body>[^`]+)`")
DIRECTIVE = re.compile(
    r"^(?P<indent>\s*)\.\. (?P<name>versionadded|versionchanged|deprecated):: (?P<arg>.*)$"
)
DIRECTIVE_TEXT = {
    "versionadded": "Added in",
    "versionchanged": "Changed in",
    "deprecated": "Deprecated since",
}


def _role(match: re.Match[str]) -> str:
    body = match["body"]
    explicit = re.match(r"(?P<text>.*?)\s*<(?P<target>[^>]+)>$", body)
    if explicit:
        return f"`{explicit['text']}`"
    if body.startswith("~"):
        body = body[1:].rsplit(".", 1)[-1]
    return f"`{body}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def to_markdown(text: str) -> str:
    """One docstring, reST habits rewritten as Markdown."""
    lines = ROLE.sub(_role, text).splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = DIRECTIVE.match(line)
        if directive:
            out.append(
                f"{directive['indent']}*{DIRECTIVE_TEXT[directive['name']]} version {directive['arg']}.*"
            )
            i += 1
            continue
        if line.lstrip().startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].lstrip().startswith((">>>", "...")):
                block.append(lines[i].strip())
                i += 1
            out += ["```pycon", *block, "```"]
            continue
        if line.rstrip().endswith("::") and not line.strip().startswith(".."):
            head = line.rstrip()[:-2].rstrip()
            if head:
                out.append(head + ("" if head.endswith(":") else ":"))
            base = _indent(line)
            j = i + 1
            block = []
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            if block:
                code = textwrap.dedent("\n".join(block)).strip("\n")
                out += [
                    "",
                    " " * base + "```python",
                    *(" " * base + c for c in code.splitlines()),
                    " " * base + "```",
                ]
                out.append("")
                i = j
                continue
            i += 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite each docstring once, when griffe loads its object."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
