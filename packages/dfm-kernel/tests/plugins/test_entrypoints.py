"""dfm.kernel.entrypoints finds what importlib.metadata finds, without importing it."""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
import textwrap

import pytest

from dfm.kernel.entrypoints import EntryPoint, canonical_name, entry_points
from dfm.kernel.plugins import GROUP


def _ours(group: str) -> list[tuple[str, str, str, str]]:
    return sorted(
        (canonical_name(ep.dist_name), ep.dist_version, ep.name, ep.value) for ep in entry_points(group)
    )


def _stdlib(group: str) -> list[tuple[str, str, str, str]]:
    return sorted(
        (canonical_name(ep.dist.name), ep.dist.version, ep.name, ep.value)
        for ep in md.entry_points(group=group)
        if ep.dist is not None
    )


@pytest.mark.parametrize("group", [GROUP, "console_scripts", "pytest11"])
def test_same_entry_points_as_importlib_metadata_in_this_environment(group):
    assert _ours(group) == _stdlib(group)


def _dist(root, folder, metadata, entry_points_txt=None):
    info = root / folder
    info.mkdir(parents=True)
    (info / ("PKG-INFO" if folder.endswith(".egg-info") else "METADATA")).write_text(
        textwrap.dedent(metadata)
    )
    if entry_points_txt is not None:
        (info / "entry_points.txt").write_text(textwrap.dedent(entry_points_txt))


def test_parsing_dedupe_and_egg_info(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(
        first,
        "Dfm_Adapter.Odd-1.2.dist-info",
        "Metadata-Version: 2.1\nName: Dfm_Adapter.Odd\nVersion: 1.2\n\nName: not a header\n",
        """
        # a comment
        [console_scripts]
        odd = dfm_adapter_odd.cli:main

        [dfm.test-group]
        # another comment
        dfm-adapter-odd = dfm_adapter_odd.plugin
        extra = dfm_adapter_odd.plugin:Thing.inner [fast]
        """,
    )
    _dist(
        second,
        "dfm_adapter_odd-9.9.dist-info",
        "Name: dfm-adapter-odd\nVersion: 9.9\n",
        "[dfm.test-group]\nx = y\n",
    )
    _dist(
        second, "legacy.egg-info", "Name: legacy\nVersion: 0.3\n", "[dfm.test-group]\nlegacy = legacy_mod\n"
    )
    _dist(second, "noentry-1.0.dist-info", "Name: noentry\nVersion: 1.0\n")
    (second / "old.egg-info").write_text("Name: old\n")  # a file, not a folder: ignored
    monkeypatch.setattr(sys, "path", [str(first), str(tmp_path / "missing"), str(second)])

    found = entry_points("dfm.test-group")
    assert found == [
        EntryPoint("dfm-adapter-odd", "dfm_adapter_odd.plugin", "dfm.test-group", "Dfm_Adapter.Odd", "1.2"),
        EntryPoint(
            "extra", "dfm_adapter_odd.plugin:Thing.inner [fast]", "dfm.test-group", "Dfm_Adapter.Odd", "1.2"
        ),
        EntryPoint("legacy", "legacy_mod", "dfm.test-group", "legacy", "0.3"),
    ]  # the later dfm_adapter_odd 9.9 is shadowed, as importlib.metadata shadows it
    assert [ep.name for ep in md.entry_points(group="dfm.test-group")] == [
        "dfm-adapter-odd",
        "extra",
        "legacy",
    ]


def test_load_resolves_module_attribute_paths_and_ignores_extras():
    assert EntryPoint("x", "os.path:join", "g", "d", "1").load() is __import__("os").path.join
    assert EntryPoint("x", "os.path : join [extra]", "g", "d", "1").load() is __import__("os").path.join
    assert EntryPoint("x", "textwrap", "g", "d", "1").load() is textwrap
    assert EntryPoint("x", "dfm.kernel.entrypoints:EntryPoint.load", "g", "d", "1").load() is EntryPoint.load


def test_the_plugin_manager_does_not_import_importlib_metadata():
    code = (
        "import sys\n"
        "from dfm.kernel.plugins import get_plugin_manager\n"
        "get_plugin_manager()\n"
        "print('importlib.metadata' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
