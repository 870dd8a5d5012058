"""Ships DFM's adapter template (``templates/adapter`` of the monorepo) inside dfm-cli.

``dfm adapter new`` then works from ``pip install 'dfm-cli[templates]'``,
outside a checkout. The sdist carries the template under
``src/dfm/cli/templates/adapter``, so a wheel built from the sdist (where
the monorepo is gone) picks it up as package data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGED = "dfm/cli/templates/adapter"


class TemplateBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        template = Path(self.root).resolve().parents[1] / "templates" / "adapter"
        if not (template / "cookiecutter.json").is_file():
            return  # building from an sdist: the template is already under src/
        target = f"src/{PACKAGED}" if self.target_name == "sdist" else PACKAGED
        build_data["force_include"][str(template)] = target
