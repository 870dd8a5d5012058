"""A federation's ``plugins:`` pins checked against the installed distributions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dfm.kernel.entrypoints import canonical_name
from dfm.kernel.errors import PluginVersionError
from dfm.kernel.plugins.status import PluginInfo

__all__ = ["check_pins"]


def check_pins(
    infos: Iterable[PluginInfo], pins: Mapping[str, Any], locations: Mapping[str, str] | None = None
) -> None:
    """Raise one :class:`PluginVersionError` listing every pin that the installed versions do not meet.

    ``infos`` is what the plugin manager saw (a pinned distribution installed but
    disabled or failed is reported too); ``locations`` maps a distribution to
    ``file:line:col /plugins/<dist>`` for messages.
    """
    from importlib.metadata import PackageNotFoundError, version

    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    by_dist = {info.distribution: info for info in infos}
    problems = []
    for dist, spec_text in sorted(pins.items()):
        where = (locations or {}).get(dist, f"/plugins/{dist}")
        if not isinstance(spec_text, str):
            problems.append(
                f"{where}: version specifier must be a string such as '>=0.2,<1', got {spec_text!r}"
            )
            continue
        try:
            spec = SpecifierSet(spec_text)
        except InvalidSpecifier:
            hint = ""
            try:
                Version(spec_text.strip())
                hint = f"; did you mean '=={spec_text.strip()}'?"
            except InvalidVersion:
                pass
            problems.append(f"{where}: invalid version specifier {spec_text!r}{hint}")
            continue
        wanted = spec_text or "any version"
        try:
            installed = version(dist)
        except PackageNotFoundError:
            problems.append(f"{where}: requires {wanted}, found none (not installed)")
            continue
        try:
            ok = spec.contains(Version(installed), prereleases=True)
        except InvalidVersion:
            ok = False
        if not ok:
            problems.append(f"{where}: requires {wanted}, found {installed}")
            continue
        info = by_dist.get(canonical_name(dist))
        if info is not None and info.status != "active":
            problems.append(f"{where}: {info.label} is installed but {info.status}: {info.error}")
    if problems:
        count = len(problems)
        raise PluginVersionError(
            f"{count} federation plugin pin{'s' if count != 1 else ''} not met:\n  " + "\n  ".join(problems)
        )
