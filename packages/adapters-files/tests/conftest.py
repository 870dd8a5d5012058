"""Shared setup of dfm-adapter-files' tests: DFM's testing plugin and fake sites."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from dfm.kernel.testing import provider_context, site_context

pytest_plugins = ["dfm.kernel.testing"]


# What the runner hands adapters, with this suite's default site name.
FakeSite = functools.partial(site_context, name="lab")
FakeProvider = provider_context


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
