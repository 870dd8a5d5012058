"""Load ``*.dfm.yaml`` files into :class:`Federation` (provisional; see issue 2)."""

from __future__ import annotations

from pathlib import Path

import cattrs
import yaml

from dfm.kernel.config.converter import converter
from dfm.kernel.config.models import Federation
from dfm.kernel.errors import ConfigError, ConfigIssue


def load_config_text(text: str, file: str = "<string>") -> Federation:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue(file, 0, 0, "", f"not valid YAML: {exc}")]) from None
    try:
        return converter.structure(data, Federation)
    except cattrs.BaseValidationError as exc:
        raise ConfigError(
            [ConfigIssue(file, 0, 0, "", msg) for msg in cattrs.transform_error(exc)]
        ) from None


def load_config(path: str | Path) -> Federation:
    path = Path(path)
    return load_config_text(path.read_text(), str(path))
