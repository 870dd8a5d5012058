"""Code shown in docs/ is code that runs: every included block matches its source.

A doc includes code with a comment followed by a fenced block::

    <!-- include: packages/adapters-sql/tests/test_plugin.py#discovery -->
    ```python
    ...
    ```

The block must equal the source's region between the lines holding
``docs-start: discovery`` and ``docs-end: discovery`` (comments in the source),
dedented, without blank lines around it; without ``#marker``, the whole file.
``python tests/test_docs.py`` copies every region into the docs again.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = re.compile(
    r"<!-- include: (?P<path>[^#\s]+)(?:#(?P<marker>[\w-]+))? -->\n```\w*\n(?P<code>.*?)```", re.S
)
DOCS = sorted((ROOT / "docs").rglob("*.md"))


def region(path: str, marker: str | None) -> str:
    text = (ROOT / path).read_text()
    if marker is None:
        return text
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if f"docs-start: {marker}" in line]
    ends = [i for i, line in enumerate(lines) if f"docs-end: {marker}" in line]
    assert len(starts) == len(ends) == 1, f"{path}: marker '{marker}' must open and close once"
    return textwrap.dedent("".join(lines[starts[0] + 1 : ends[0]])).strip("\n") + "\n"


INCLUDES = [
    pytest.param(doc, m["path"], m["marker"], m["code"], id=f"{doc.name}:{m['path']}#{m['marker']}")
    for doc in DOCS
    for m in INCLUDE.finditer(doc.read_text())
]


def test_docs_include_real_code():
    assert len(INCLUDES) >= 5


@pytest.mark.parametrize(("doc", "path", "marker", "code"), INCLUDES)
def test_included_code_matches_its_source(doc, path, marker, code):
    assert (ROOT / path).is_file(), f"{doc.name} includes {path}, which does not exist"
    assert code == region(path, marker), (
        f"{doc.relative_to(ROOT)} shows an outdated copy of {path}#{marker}: run python tests/test_docs.py"
    )


def test_docs_link_to_files_that_exist():
    for doc in DOCS:
        for target in re.findall(r"\]\((?!https?:|#)([^)#]+)", doc.read_text()):
            assert (doc.parent / target).resolve().exists(), f"{doc.name} links to missing {target}"


def refresh() -> None:
    """Copy every included region into the docs again."""
    for doc in DOCS:
        text = doc.read_text()

        def fill(m: re.Match[str]) -> str:
            head = m.group(0)[: m.start("code") - m.start(0)]
            return head + region(m["path"], m["marker"]) + "```"

        updated = INCLUDE.sub(fill, text)
        if updated != text:
            doc.write_text(updated)
            print(f"updated {doc.relative_to(ROOT)}")


if __name__ == "__main__":
    refresh()
