"""The fixtures of :mod:`dfm.kernel.testing` (opt-in: ``pytest_plugins = ["dfm.kernel.testing"]``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dfm.kernel.entrypoints import canonical_name
from dfm.kernel.plugins import DfmPluginManager, reset_plugin_manager
from dfm.kernel.testing.distributions import FakeDistribution, write_distribution
from dfm.kernel.testing.recorder import HookRecorder

__all__ = ["fake_distribution", "hook_recorder", "plugin_manager"]

FakeDistributionFactory = Callable[..., FakeDistribution]


@pytest.fixture
def plugin_manager() -> DfmPluginManager:
    """A fresh, strict plugin manager with the kernel's hookspecs; nothing loaded from the environment."""
    return DfmPluginManager(strict=True)


def _forget_modules(folder: Path, names: set[str]) -> None:
    for module_name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        inside = file is not None and Path(file).resolve().is_relative_to(folder)
        if inside or module_name in names:
            del sys.modules[module_name]


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDistributionFactory]:
    """Factory writing an installed distribution with a ``[dfm.plugins]`` entry point.

    Unless the test environment sets ``DFM_LOAD_PLUGINS``, only DFM's core
    distributions and the fakes made here load: other plugins installed in the
    environment cannot change what a test sees.

    ``fake_distribution(name, version="0.1.0", *, plugin=None, modules=None,
    entry_point=DEFAULT, entry_point_name=None, requires=(), summary="")``; see
    :func:`~dfm.kernel.testing.distributions.write_distribution`. Each
    distribution gets its own folder, prepended to ``sys.path`` for the test.
    The process-wide plugin manager is reset on every call and at teardown,
    and every module imported from these folders is removed from ``sys.modules``.
    """
    base = (tmp_path / "dfm-fake-distributions").resolve()
    made: list[FakeDistribution] = []
    reset_plugin_manager()
    # Hermetic by default: plugins installed in the test's environment stay out, the fakes come in.
    hermetic = "DFM_LOAD_PLUGINS" not in os.environ
    if hermetic:
        monkeypatch.setenv("DFM_LOAD_PLUGINS", "")

    def make(name: str, version: str = "0.1.0", **options: Any) -> FakeDistribution:
        root = base / f"{canonical_name(name)}-{version}"
        if root.exists():
            raise ValueError(f"fake distribution {name} {version} was already made in this test")
        dist = write_distribution(root, name, version, **options)
        monkeypatch.syspath_prepend(str(root))  # also invalidates import caches
        made.append(dist)
        if hermetic and os.environ.get("DFM_LOAD_PLUGINS") is not None:
            allowed = [n for n in os.environ["DFM_LOAD_PLUGINS"].split(",") if n]
            monkeypatch.setenv("DFM_LOAD_PLUGINS", ",".join([*allowed, canonical_name(name)]))
        reset_plugin_manager()
        return dist

    yield make

    _forget_modules(base, {module for dist in made for module in dist.modules})
    reset_plugin_manager()


@pytest.fixture
def hook_recorder(plugin_manager: DfmPluginManager) -> Iterator[HookRecorder]:
    """Records the hook calls made on ``plugin_manager`` during the test."""
    recorder = HookRecorder(plugin_manager).start()
    yield recorder
    recorder.stop()
