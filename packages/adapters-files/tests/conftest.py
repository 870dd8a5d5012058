"""Shared setup of dfm-adapter-files' tests: DFM's testing plugin and fake sites."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest

pytest_plugins = ["dfm.kernel.testing"]


@attrs.frozen
class FakeSite:
    """What the runner hands an adapter as ``site``."""

    name: str = "lab"
    federation: str = "testfed"
    config: dict[str, Any] = attrs.Factory(dict)
    is_homesite: bool = False


@attrs.frozen
class FakeProvider:
    name: str
    config: dict[str, Any] = attrs.Factory(dict)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    (folder / "tables").mkdir(parents=True)
    (folder / "notes.txt").write_text("hello\n")
    (folder / "tables" / "people.csv").write_text("id,name,age,zip\n1,Ada,36,007\n2,Alan,,10115\n")
    (folder / "tables" / "people.jsonl").write_text('{"id": 1, "tags": ["x"]}\n\n{"id": 2, "tags": []}\n')
    (tmp_path / "outside.txt").write_text("secret\n")
    return folder


@pytest.fixture
def site(root: Path) -> FakeSite:
    return FakeSite(config={"root": str(root)})
