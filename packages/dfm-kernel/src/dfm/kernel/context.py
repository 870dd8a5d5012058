"""What an adapter receives: ``Adapter(site, provider)``.

The runner builds one :class:`SiteContext` per site and one
:class:`ProviderContext` per provider from the site's own config; adapters
read their configuration from them (bindings feed ``body`` arguments, these
carry the rest). ``dfm.kernel.testing`` has factories for tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs

from dfm.kernel.config.models import CacheConfig
from dfm.kernel.errors import DfmError

LOCAL_PROTOCOLS = ("file", "local")


def _delegate(obj: Any, name: str) -> Any:
    """An attribute of the custom ``impl`` object behind a context (the reference's site/provider class)."""
    if name.startswith("__") or name == "impl":
        raise AttributeError(name)
    impl = object.__getattribute__(obj, "impl")
    if impl is None:
        raise AttributeError(f"{type(obj).__name__} has no attribute '{name}'")
    return getattr(impl, name)


def site_base_dir(site: Any) -> Path:
    """Where a site's relative paths start, for adapters: a :class:`SiteContext`'s ``base_dir`` (the
    folder of the federation config), a reference-style site object's ``config_dir``, else cwd."""
    for attribute in ("base_dir", "config_dir"):
        folder = getattr(site, attribute, None)
        if folder:
            return Path(folder)
    return Path.cwd()


@attrs.frozen
class SiteContext:
    """The site an adapter runs at."""

    name: str
    federation: str  # the federation's code-package name
    config: dict[str, Any]  # the site's ``config:`` mapping (read by from-site bindings too)
    is_homesite: bool
    base_dir: Path  # folder of the federation config: relative paths in site config resolve here
    # the site's custom class instance (``impl:``); its attributes are readable on this context too
    impl: Any = attrs.field(default=None, eq=False, repr=False)
    cache_config: CacheConfig | None = None

    @property
    def federation_name(self) -> str:
        """The reference's name for :attr:`federation`."""
        return self.federation

    def __getattr__(self, name: str) -> Any:
        return _delegate(self, name)

    def cache_storage(self) -> Any:
        """The fsspec filesystem of the site's ``cache_config``, rooted at its ``base_path``.

        The local protocol is confined to the federation directory: ``base_path`` is
        resolved there (symlinks followed) and paths with ``..`` are refused.
        """
        cache = self.cache_config
        if cache is None:
            raise DfmError(f"site '{self.name}' has no cache_config")
        try:
            # fsspec is optional (the files adapter brings it) and untyped: either error, whichever applies
            import fsspec  # type: ignore[import-not-found,import-untyped,unused-ignore]
            from fsspec.implementations.dirfs import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
                DirFileSystem,
            )
        except ImportError:
            raise DfmError(
                f"site '{self.name}': cache_config needs fsspec, which is not installed (pip install fsspec)"
            ) from None
        options = dict(cache.storage_options)
        if cache.protocol in LOCAL_PROTOCOLS:
            root = os.path.realpath(self.base_dir)
            base = os.path.realpath(os.path.join(root, cache.base_path))
            if os.path.commonpath([root, base]) != root:
                raise DfmError(
                    f"site '{self.name}': cache_config base_path is outside the federation directory"
                )
            os.makedirs(base, exist_ok=True)
            return _ConfinedDirFileSystem(path=base, fs=fsspec.filesystem("file", **options))
        return DirFileSystem(path=cache.base_path, fs=fsspec.filesystem(cache.protocol, **options))


@attrs.frozen
class ProviderContext:
    """The provider an interface entry belongs to (adapters outside a provider get ``None``)."""

    name: str
    config: dict[str, Any]  # the provider's ``config:`` mapping (read by from-provider bindings too)
    info: dict[str, Any] = attrs.Factory(dict)
    impl: Any = attrs.field(default=None, eq=False, repr=False)  # the provider's custom class instance

    def __getattr__(self, name: str) -> Any:
        return _delegate(self, name)


def _confined_class() -> Any:
    from fsspec.implementations.dirfs import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        DirFileSystem,
    )

    class ConfinedDirFileSystem(DirFileSystem):  # type: ignore[misc]
        """A DirFileSystem that refuses ``..`` and absolute paths: nothing outside its folder."""

        def _join(self, path: Any) -> Any:
            for item in path if isinstance(path, list | tuple) else [path]:
                if isinstance(item, str) and (
                    item.startswith("/") or ".." in item.replace("\\", "/").split("/")
                ):
                    raise PermissionError(f"path {item!r} leaves the site's cache folder")
            return super()._join(path)

    return ConfinedDirFileSystem


def _ConfinedDirFileSystem(**kwargs: Any) -> Any:
    return _confined_class()(**kwargs)
