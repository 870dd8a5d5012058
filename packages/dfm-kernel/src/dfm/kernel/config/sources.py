"""Which file each loaded federation came from.

Relative paths in a site's config (a files adapter's ``root``, a SQLite
``database``, the secrets ``file``) resolve against the folder of the config
file, on every target: the runner hands that folder to adapters as
``SiteContext.base_dir``. A :class:`Federation` is plain data, so
:func:`load_config` notes its file here, and a session given the object (not
the path) still finds the folder. Kept outside the model: configs stay
structurable and comparable, and copies (``attrs.evolve``) have no file.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

from dfm.kernel.config.models import Federation

__all__ = ["config_source", "remember_source"]

_sources: dict[int, tuple[weakref.ref[Federation], Path]] = {}


def remember_source(federation: Federation, file: str | os.PathLike[str]) -> Federation:
    """Note that ``federation`` was loaded from ``file`` (kept as an absolute path); returns it."""
    key = id(federation)
    ref = weakref.ref(federation, lambda _ref: _sources.pop(key, None))
    _sources[key] = (ref, Path(file).resolve())
    return federation


def config_source(federation: Federation) -> Path | None:
    """The absolute path of the file ``federation`` was loaded from, or None (built or copied in memory)."""
    found = _sources.get(id(federation))
    if found is None or found[0]() is not federation:
        return None
    return found[1]
