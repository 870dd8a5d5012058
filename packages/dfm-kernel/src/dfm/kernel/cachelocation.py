"""Where a site's ``cache_config`` stores things, and which sites' caches overlap.

The compiler uses this to keep a value resident at a site out of any cache
another site could read (``TryFromCache``): two sites whose cache folders are
the same, or one inside the other, share a cache. Local paths are compared as
written, relative ones against the one federation directory, so sites that
might be on different machines but name the same folder count as sharing:
the check errs on the side of refusing.
"""

from __future__ import annotations

import json
import posixpath

from dfm.kernel.config.models import CacheConfig, Federation

__all__ = ["cache_location", "sharing_sites"]

_LOCAL = ("file", "local")


def cache_location(cache: CacheConfig) -> tuple[str, str]:
    """``(filesystem, folder)``: the filesystem identity (protocol and options) and the normalized folder."""
    protocol = "file" if cache.protocol in _LOCAL else cache.protocol
    options = "" if protocol == "file" else json.dumps(cache.storage_options, sort_keys=True, default=str)
    folder = posixpath.normpath(cache.base_path.replace("\\", "/").rstrip("/") or "/")
    return f"{protocol}:{options}", folder


def _inside(a: str, b: str) -> bool:
    return a == b or b == "." or a.startswith(b.rstrip("/") + "/")


def sharing_sites(federation: Federation, site: str) -> list[str]:
    """The other sites whose cache folder overlaps ``site``'s (empty when it has none or shares with none)."""
    own = federation.sites[site].cache_config
    if own is None:
        return []
    fs, folder = cache_location(own)
    out = []
    for other, spec in federation.sites.items():
        if other == site or spec.cache_config is None:
            continue
        other_fs, other_folder = cache_location(spec.cache_config)
        if other_fs == fs and (_inside(folder, other_folder) or _inside(other_folder, folder)):
            out.append(other)
    return sorted(out)
