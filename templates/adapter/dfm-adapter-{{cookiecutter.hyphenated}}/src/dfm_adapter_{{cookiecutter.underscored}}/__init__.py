"""dfm-adapter-{{ cookiecutter.hyphenated }}: {{ cookiecutter.description }}

Keep this module cheap to import: DFM imports it (through the entry point
``dfm_adapter_{{ cookiecutter.underscored }}.plugin``) whenever plugins are listed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read lazily: importlib.metadata scans the installed distributions
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("dfm-adapter-{{ cookiecutter.hyphenated }}")
        except PackageNotFoundError:
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
