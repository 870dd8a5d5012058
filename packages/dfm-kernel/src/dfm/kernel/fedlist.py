"""The per-user list of named federations, ``federations.yaml`` (``dfm fed config ...``).

A YAML file mapping a federation name to the path of its config and, when
registered NVIDIA DFM's way (``--federation-dir DIR --config-path FILE
[--project-path FILE]``), its federation directory (the workspace) and FLARE
project file::

    examplefed:
      path: /home/me/feds/examplefed.dfm.yaml
    weather_fed:
      path: /home/me/weather_fed/configs/federation.dfm.yaml
      federation_dir: /home/me/weather_fed
      project_path: /home/me/weather_fed/configs/project.yaml

Its location is ``$DFM_CONFIG_HOME/federations.yaml``, else
``$XDG_CONFIG_HOME/dfm/federations.yaml``, else ``~/.config/dfm/federations.yaml``.
Registered paths are stored absolute. Every error is a :class:`DfmError`
naming the file, and unknown names get a did-you-mean.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from dfm.kernel.errors import DfmError
from dfm.kernel.suggest import did_you_mean

__all__ = [
    "federation_entry",
    "federation_path",
    "list_federations",
    "read_fedlist",
    "register_federation",
    "fedlist_path",
    "resolve_federation",
    "unregister_federation",
    "workspace_path",
    "write_fedlist",
]

OPTIONAL_KEYS = ("federation_dir", "project_path")

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def fedlist_path() -> Path:
    """Where the list lives (the file may not exist yet)."""
    if os.environ.get("DFM_CONFIG_HOME"):
        return Path(os.environ["DFM_CONFIG_HOME"]) / "federations.yaml"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dfm" / "federations.yaml"


def read_fedlist() -> dict[str, dict[str, Any]]:
    """The list's raw content (empty when the file does not exist)."""
    path = fedlist_path()
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DfmError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str)
        and isinstance(v, dict)
        and isinstance(v.get("path"), str)
        and all(isinstance(v.get(key, ""), str) for key in OPTIONAL_KEYS)
        for k, v in data.items()
    ):
        raise DfmError(f"{path}: expected a mapping of federation name -> {{path: <config file>}}")
    return data


def write_fedlist(data: dict[str, dict[str, Any]]) -> None:
    """Replace the list's file atomically."""
    path = fedlist_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=True))
    tmp.replace(path)


def list_federations() -> dict[str, Path]:
    """Registered federations, name -> config path, sorted by name."""
    known = read_fedlist()
    return {name: Path(known[name]["path"]) for name in sorted(known)}


def _unknown(name: str, known: dict[str, Any]) -> DfmError:
    hint = did_you_mean(name, known)
    names = ", ".join(sorted(known)) or "none"
    return DfmError(
        f"unknown federation '{name}'"
        + (f"; {hint}" if hint else "")
        + f" (registered: {names}; register one with 'dfm fed config set NAME PATH')"
    )


def federation_path(name: str) -> Path:
    """The config path registered under ``name``."""
    known = read_fedlist()
    if name not in known:
        raise _unknown(name, known)
    return Path(known[name]["path"])


def federation_entry(name: str) -> dict[str, Path]:
    """What is registered under ``name``: ``path`` and, if registered, ``federation_dir``
    and ``project_path``."""
    known = read_fedlist()
    if name not in known:
        raise _unknown(name, known)
    return {key: Path(value) for key, value in known[name].items() if key in ("path", *OPTIONAL_KEYS)}


def _file_in(folder: Path | None, given: str | os.PathLike[str], what: str) -> Path:
    """``given`` resolved: relative paths against ``folder`` first, then the current directory."""
    path = Path(given).expanduser()
    tried = [path.resolve()]
    if folder is not None and not path.is_absolute():
        tried.insert(0, (folder / path).resolve())
    for candidate in tried:
        if candidate.is_file():
            return candidate
    raise DfmError(f"no {what} at {' or '.join(str(p) for p in dict.fromkeys(tried))}")


def register_federation(
    name: str,
    config: str | os.PathLike[str],
    *,
    federation_dir: str | os.PathLike[str] | None = None,
    project_path: str | os.PathLike[str] | None = None,
) -> tuple[Path, Path | None]:
    """Register (or re-register) ``name``; returns the stored path and the one it replaced.

    With ``federation_dir`` (NVIDIA DFM's form), relative ``config`` and ``project_path``
    are looked up in that directory first, then in the current directory.
    """
    if not NAME_RE.match(name):
        raise DfmError(f"invalid federation name {name!r}: use letters, digits, '.', '_' and '-'")
    folder = None
    if federation_dir is not None:
        folder = Path(federation_dir).expanduser().resolve()
        if not folder.is_dir():
            raise DfmError(f"no federation directory at {folder}")
    path = _file_in(folder, config, "federation config file")
    entry = {"path": str(path)}
    if folder is not None:
        entry["federation_dir"] = str(folder)
    if project_path is not None:
        entry["project_path"] = str(_file_in(folder, project_path, "project file"))
    known = read_fedlist()
    previous = Path(known[name]["path"]) if name in known else None
    known[name] = entry
    write_fedlist(known)
    return path, previous


def unregister_federation(name: str) -> Path:
    """Remove ``name`` from the list; returns the path it pointed to."""
    known = read_fedlist()
    if name not in known:
        raise _unknown(name, known)
    entry = known.pop(name)
    write_fedlist(known)
    return Path(entry["path"])


def workspace_path(name_or_path: str | os.PathLike[str]) -> Path:
    """The federation's workspace: its registered federation directory, else its config's folder."""
    config = resolve_federation(name_or_path)
    if not Path(name_or_path).is_file():
        folder = read_fedlist().get(str(name_or_path), {}).get("federation_dir")
        if folder:
            return Path(folder)
    return config.parent


def resolve_federation(name_or_path: str | os.PathLike[str]) -> Path:
    """A config path: an existing file path as given, else a registered federation name."""
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate.resolve()
    name = str(name_or_path)
    known = read_fedlist()
    if name in known:
        path = Path(known[name]["path"]).expanduser().resolve()
        if not path.is_file():
            raise DfmError(
                f"federation '{name}' is registered at {path}, which is not a file "
                f"(fix it with 'dfm fed config set {name} PATH')"
            )
        return path
    hint = did_you_mean(name, known)
    raise DfmError(
        f"no federation config file '{name}' and no registered federation of that name"
        + (f"; {hint}" if hint else "")
        + " (register one with 'dfm fed config set NAME PATH')"
    )
