"""Ships DFM's cookiecutter templates (``templates/`` of the monorepo) inside dfm-cli.

``dfm adapter new`` and ``dfm fed new`` then work from
``pip install 'dfm-cli[templates]'``, outside a checkout. The sdist carries
the templates under ``src/dfm/cli/templates/``, so a wheel built from the
sdist (where the monorepo is gone) picks them up as package data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

TEMPLATES = ("adapter", "federation")
PACKAGED = "dfm/cli/templates"


class TemplateBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        source = Path(self.root).resolve().parents[1] / "templates"
        prefix = f"src/{PACKAGED}" if self.target_name == "sdist" else PACKAGED
        for name in TEMPLATES:
            template = source / name
            if (template / "cookiecutter.json").is_file():  # else: building from an sdist, already in src/
                build_data["force_include"][str(template)] = f"{prefix}/{name}"
