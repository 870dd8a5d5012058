"""The per-user registry of federations (``dfm fed config ...``).

A YAML file mapping a federation name to the path of its config. Its
location is ``$DFM_CONFIG_HOME/federations.yaml``, else
``$XDG_CONFIG_HOME/dfm/federations.yaml``, else ``~/.config/dfm/federations.yaml``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from dfm.kernel.errors import DfmError
from dfm.kernel.suggest import did_you_mean


def registry_path() -> Path:
    if os.environ.get("DFM_CONFIG_HOME"):
        return Path(os.environ["DFM_CONFIG_HOME"]) / "federations.yaml"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dfm" / "federations.yaml"


def read_registry() -> dict[str, dict[str, Any]]:
    path = registry_path()
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DfmError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DfmError(f"{path}: expected a mapping of federation name -> {{path: ...}}")
    return data


def write_registry(data: dict[str, dict[str, Any]]) -> None:
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=True))
    tmp.replace(path)


def resolve_federation(name_or_path: str | os.PathLike[str]) -> Path:
    """A config path: an existing file path as given, else a registered federation name."""
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate.resolve()
    name = str(name_or_path)
    registry = read_registry()
    if name in registry:
        return Path(registry[name]["path"]).expanduser().resolve()
    hint = did_you_mean(name, registry)
    raise DfmError(
        f"no federation config file '{name}' and no registered federation of that name"
        + (f"; {hint}" if hint else "")
        + " (register one with 'dfm fed config set NAME PATH')"
    )
