"""A site's secrets vault: environment variables and/or a file, never logged."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from dfm.kernel.config.models import SecretsConfig
from dfm.kernel.errors import DfmError


class SecretNotFound(DfmError):
    """A binding asked for a secret the site's vault does not hold (the message names only the key)."""


class Vault:
    """Reads ``from-secrets`` keys for one site.

    Key ``badge-key`` with ``env-prefix: EXAMPLEFED_RECEPTION_`` is read from
    ``EXAMPLEFED_RECEPTION_BADGE_KEY``; a ``file`` (JSON or YAML mapping,
    relative to the config file) is consulted after the environment.
    """

    def __init__(self, site: str, config: SecretsConfig, base_dir: Path):
        self.site = site
        self._config = config
        self._file = (base_dir / config.file) if config.file else None
        self._file_data: dict[str, Any] | None = None
        self._seen: set[str] = set()

    def _env_name(self, key: str) -> str | None:
        if self._config.env_prefix is None:
            return None
        return self._config.env_prefix + key.upper().replace("-", "_").replace(".", "_")

    def _from_file(self) -> dict[str, Any]:
        if self._file_data is None:
            if self._file is None or not self._file.exists():
                self._file_data = {}
            else:
                text = self._file.read_text()
                loaded = json.loads(text) if self._file.suffix == ".json" else yaml.safe_load(text)
                self._file_data = loaded if isinstance(loaded, dict) else {}
        return self._file_data

    def get(self, key: str) -> Any:
        env = self._env_name(key)
        if env is not None and env in os.environ:
            value: Any = os.environ[env]
        elif key in self._from_file():
            value = self._from_file()[key]
        else:
            places = [f"environment variable {env}"] if env else []
            if self._file is not None:
                places.append(f"secrets file {self._file.name}")
            where = " or ".join(places) or "nowhere: the site declares no secrets source"
            raise SecretNotFound(
                f"secret '{key}' not found in the vault of site '{self.site}' (looked in {where})"
            )
        if isinstance(value, str) and value:
            self._seen.add(value)
        return value

    def scrub(self, text: str) -> str:
        """Replace every secret value this vault handed out by ``***``."""
        for secret in sorted(self._seen, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text
