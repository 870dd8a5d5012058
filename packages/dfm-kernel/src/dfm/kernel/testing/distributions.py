"""Write real (tiny) installed distributions for tests.

A fake distribution is what an installer leaves in ``site-packages``: a
``<name>-<version>.dist-info`` folder with ``METADATA`` and ``entry_points.txt``,
next to the distribution's modules. Put its folder on ``sys.path`` and
``importlib.metadata`` (and :mod:`dfm.kernel.entrypoints`) list its entry points with its
name and version, and a module with a bad import fails only at ``load()``,
exactly as for an installed plugin.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

from dfm.kernel.entrypoints import canonical_name
from dfm.kernel.plugins.discovery import GROUP

__all__ = ["DEFAULT", "FakeDistribution", "write_distribution"]


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = _Default()
"""Sentinel: derive the entry point from the distribution name (``<package>.plugin``)."""


@attrs.frozen
class FakeDistribution:
    """A distribution written by :func:`write_distribution`."""

    name: str  # as given ("dfm-adapter-hello")
    version: str
    root: Path  # the folder to put on sys.path (the "site-packages")
    dist_info: Path
    entry_point: str | None  # the entry point's value, "dfm_adapter_hello.plugin"
    modules: tuple[str, ...]  # dotted names of every module written

    @property
    def package(self) -> str:
        """The default top-level package name: ``dfm-adapter-hello`` -> ``dfm_adapter_hello``."""
        return _package_name(self.name)


def _package_name(name: str) -> str:
    return re.sub(r"[-.]+", "_", name).lower()


def write_distribution(
    root: Path,
    name: str,
    version: str = "0.1.0",
    *,
    plugin: str | None = None,
    modules: Mapping[str, str] | None = None,
    entry_point: str | _Default | None = DEFAULT,
    entry_point_name: str | None = None,
    requires: Iterable[str] = (),
    summary: str = "",
    group: str = GROUP,
) -> FakeDistribution:
    """Write a distribution's metadata and modules under ``root``.

    ``plugin`` is the source of ``<package>.plugin`` (``package`` derived from
    ``name``); ``modules`` maps more dotted module names to their source
    (dedented; parent packages get an empty ``__init__.py`` unless given).
    ``entry_point`` is the value in ``[dfm.plugins]`` (default
    ``<package>.plugin``; ``None`` writes no entry point) and
    ``entry_point_name`` its name (default: the distribution name).
    """
    package = _package_name(name)
    sources: dict[str, str] = dict(modules or {})
    if plugin is not None:
        sources[f"{package}.plugin"] = plugin
    value = f"{package}.plugin" if isinstance(entry_point, _Default) else entry_point
    if value is not None and not sources and isinstance(entry_point, _Default):
        sources[f"{package}.plugin"] = '"""An empty DFM plugin."""\n'

    packages = {".".join(mod.split(".")[:i]) for mod in sources for i in range(1, mod.count(".") + 1)}
    for module in sorted(packages | set(sources)):
        parts = module.split(".")
        if not all(part.isidentifier() for part in parts):
            raise ValueError(f"not a module name: {module!r}")
        path = (
            root.joinpath(*parts, "__init__.py")
            if module in packages
            else root.joinpath(*parts[:-1], parts[-1] + ".py")
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(sources.get(module, "")))

    dist_info = root / f"{package}-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=False)
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if summary:
        metadata.append(f"Summary: {summary}")
    metadata.extend(f"Requires-Dist: {req}" for req in requires)
    (dist_info / "METADATA").write_text("\n".join(metadata) + "\n")
    if value is not None:
        ep_name = entry_point_name or canonical_name(name)
        (dist_info / "entry_points.txt").write_text(f"[{group}]\n{ep_name} = {value}\n")
    (dist_info / "INSTALLER").write_text("dfm.kernel.testing\n")
    return FakeDistribution(name, version, root, dist_info, value, tuple(sorted(packages | set(sources))))
