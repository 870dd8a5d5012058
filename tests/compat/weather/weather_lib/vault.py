"""A secrets vault class: ``secret_for_key(key)``."""

from __future__ import annotations

from typing import Any


class DictVault:
    def __init__(self, secrets: dict[str, Any]) -> None:
        self._secrets = dict(secrets)

    def secret_for_key(self, key: str) -> Any:
        return self._secrets.get(key)
