"""Meta-tests: every hookspec is documented, follows the docstring shape, and its example works."""

from __future__ import annotations

import inspect
import re
import textwrap
import types
from pathlib import Path

import pytest

from dfm.kernel import DfmPluginManager, hookspecs
from dfm.kernel.plugins import REGISTRIES
from dfm.kernel.testing import check_records

SPECS = sorted(
    name
    for name, value in vars(hookspecs).items()
    if inspect.isfunction(value) and DfmPluginManager().parse_hookspec_opts(hookspecs, name) is not None
)
SECTIONS = ("**Returns**", "**When called**", "**Names and conflicts**", "**Example**::", ".. versionadded::")


def signature(function: object) -> str:
    """``name(args) -> return`` as written in the source (annotations are strings here)."""
    return f"{function.__name__}{inspect.signature(function)}".replace("'", "")  # type: ignore[attr-defined]


def example(function: object) -> str:
    doc = inspect.getdoc(function) or ""
    match = re.search(r"\*\*Example\*\*::\n\n(?P<code>(?:[ ]{4}.*\n|\n)+)", doc + "\n")
    assert match, f"{function.__name__} has no **Example**:: block"  # type: ignore[attr-defined]
    return textwrap.dedent(match["code"])


def hooks_md() -> str:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "docs" / "plugins" / "hooks.md"
        if candidate.is_file():
            return candidate.read_text()
    pytest.skip("docs/plugins/hooks.md is not part of this checkout")


def test_every_registry_hook_has_a_registry():
    assert sorted(r.hook for r in REGISTRIES.values()) == SPECS


@pytest.mark.parametrize("name", SPECS)
def test_docstring_shape(name):
    function = getattr(hookspecs, name)
    doc = inspect.getdoc(function) or ""
    positions = [doc.find(section) for section in SECTIONS]
    assert all(p > 0 for p in positions), f"{name}: missing one of {SECTIONS}"
    assert positions == sorted(positions), f"{name}: sections out of order"
    assert "\n" not in doc.split("\n\n")[0], f"{name}: the summary must be one line"
    assert name.startswith("dfm_")
    assert not inspect.signature(function).parameters, "registry hooks start with zero parameters"


@pytest.mark.parametrize("name", SPECS)
def test_docstring_example_registers_cleanly(name):
    module = types.ModuleType(f"example_{name}")
    exec(compile(example(getattr(hookspecs, name)), f"<{name} example>", "exec"), module.__dict__)
    manager = DfmPluginManager(strict=True)

    manager.register_plugin(module, distribution="dfm-example", version="1.0")
    registries = check_records(manager, load=False)

    kind = next(kind for kind, record in REGISTRIES.items() if record.hook == name)
    assert registries[kind], f"the {name} example contributes nothing"
    assert all(entry.source == "dfm-example 1.0" for entry in registries[kind].values())


def test_hooks_md_generates_the_reference_from_hookspecs():
    """docs/plugins/hooks.md renders these docstrings (mkdocstrings); it repeats none of them by hand.

    The ``docs`` nox session builds the site and checks every spec has its section there.
    """
    text = hooks_md()

    assert "::: dfm.kernel.hookspecs" in text.splitlines()
    assert not re.findall(r"^#+ `?dfm_\w+\(", text, flags=re.MULTILINE), "hand-written hook sections"
