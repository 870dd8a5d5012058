"""dfm-adapter-files: files and tables under a site root, as DFM adapters.

Importing this package is cheap (the ``dfm.plugins`` entry point
``dfm_adapter_files.plugin`` imports it whenever plugins are listed); the
adapter classes live in :mod:`dfm_adapter_files.adapters`, which imports
fsspec (and pyarrow only when a Parquet file is read or written).
"""

from __future__ import annotations

from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("dfm-adapter-files")
        except PackageNotFoundError:  # running from a source tree that is not installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
