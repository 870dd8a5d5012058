"""A site's secrets vault: environment variables and/or a file, never logged.

Every secret value a vault hands out is remembered, with the forms it takes
in text (its ``repr`` escaping) and in bytes, and scrubbed (replaced by
``***``) from everything that leaves the site: error messages, results,
tokens to other sites, and -- once any secret is known in the process --
every log record (:func:`install_log_scrubber`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from dfm.kernel.config.files import Refused, inside, read_regular_file
from dfm.kernel.config.models import Federation, ImplRef, SecretsConfig
from dfm.kernel.errors import DfmError

SECRETS_FILE_MAX_BYTES = 1 << 20


class SecretNotFound(DfmError):
    """A binding asked for a secret the site's vault does not hold (the message names only the key)."""


DEFAULT_ENV_PREFIX = "DFM_SECRET_"  # the reference's default vault: DFM_SECRET_<KEY upper-cased>


class Vault:
    """Reads ``from-secrets`` keys for one site.

    Key ``badge-key`` with ``env-prefix: EXAMPLEFED_RECEPTION_`` is read from
    ``EXAMPLEFED_RECEPTION_BADGE_KEY``; a ``file`` (JSON or YAML mapping,
    relative to the config file) is consulted after the environment. A
    ``secrets_vault`` class (the reference's form) is asked first, with
    ``secret_for_key(key)``. A site that declares none of them reads
    ``DFM_SECRET_<KEY>`` (key upper-cased), as the reference does.
    """

    def __init__(
        self,
        site: str,
        config: SecretsConfig,
        base_dir: Path,
        *,
        custom: ImplRef | None = None,
        load: Callable[[str, str], Any] | None = None,
    ):
        self.site = site
        self._custom = custom
        self._load = load
        self._custom_vault: Any = None
        self._default = custom is None and config.env_prefix is None and config.file is None
        self._config = config
        self._base_dir = base_dir
        self._file = (base_dir / config.file) if config.file else None
        self._file_data: dict[str, Any] | None = None
        self._seen: set[str] = set()
        self._forms: list[str] = []  # text forms to scrub, longest first
        self._bytes: list[bytes] = []

    @property
    def seen(self) -> bool:
        """Whether this vault has handed out a secret (only then is there anything to scrub)."""
        return bool(self._forms)

    def _env_name(self, key: str) -> str | None:
        if self._config.env_prefix is None:
            return None
        return self._config.env_prefix + key.upper().replace("-", "_").replace(".", "_")

    def _from_file(self) -> dict[str, Any]:
        if self._file_data is None:
            self._file_data = self._read_file() if self._file is not None else {}
        return self._file_data

    def _read_file(self) -> dict[str, Any]:
        """The secrets file: a bounded regular file inside the federation directory, or nothing."""
        assert self._file is not None
        real = os.path.realpath(self._file)
        if not inside(real, os.path.realpath(self._base_dir)):
            raise DfmError(f"site '{self.site}': the secrets file must be inside the federation directory")
        try:
            data = read_regular_file(real, SECRETS_FILE_MAX_BYTES)
        except FileNotFoundError:
            return {}
        except Refused as exc:
            raise DfmError(f"site '{self.site}': the secrets file {exc.reason}") from None
        try:
            text = data.decode("utf-8")
            loaded = json.loads(text) if self._file.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError):  # never echo the file: it holds secrets
            raise DfmError(f"site '{self.site}': the secrets file is not valid JSON or YAML") from None
        return loaded if isinstance(loaded, dict) else {}

    def _from_custom(self, key: str) -> Any:
        if self._custom_vault is None:
            assert self._custom is not None and self._load is not None
            cls = self._load(self._custom.path, "secrets_vault")
            try:
                self._custom_vault = cls(**self._custom.args)
            except TypeError as exc:
                raise DfmError(f"site '{self.site}': secrets_vault cannot be created: {exc}") from None
        value = self._custom_vault.secret_for_key(key)
        if value is not None:
            self._remember(value)  # before anything can echo it
        return value

    def get(self, key: str) -> Any:
        """The secret key: from the custom secrets_vault, else the environment, else the secrets file;
        raises SecretNotFound naming where it looked.
        """
        if self._custom is not None:
            value = self._from_custom(key)
            if value is not None:
                return value
        env = self._env_name(key)
        if self._default:
            env = DEFAULT_ENV_PREFIX + key.upper()
        if env is not None and env in os.environ:
            value = os.environ[env]
        elif key in self._from_file():
            value = self._from_file()[key]
        else:
            places = [f"environment variable {env}"] if env else []
            if self._custom is not None:
                places.insert(0, f"secrets_vault {self._custom.path}")
            if self._file is not None:
                places.append(f"secrets file {self._file.name}")
            where = " or ".join(places) or "nowhere: the site declares no secrets source"
            raise SecretNotFound(
                f"secret '{key}' not found in the vault of site '{self.site}' (looked in {where})"
            )
        self._remember(value)
        return value

    def _remember(self, value: Any, depth: int = 0) -> None:
        if isinstance(value, dict | list | tuple | set | frozenset) and depth < 20:
            # a vault may hand out structured secrets (a file's mapping, a vault class's dict)
            for item in value.values() if isinstance(value, dict) else value:
                self._remember(item, depth + 1)
            return
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value or value in self._seen:
            return
        self._seen.add(value)
        forms = {value, repr(value)[1:-1], json.dumps(value)[1:-1]}
        self._forms = sorted(set(self._forms) | forms, key=len, reverse=True)
        self._bytes = sorted({f.encode() for f in self._forms}, key=len, reverse=True)
        _remember_globally(forms)

    def scrub(self, text: str) -> str:
        """Replace every secret value this vault handed out (in any text form) by ``***``."""
        return _replace_all(text, self._forms)

    def scrub_value(self, value: Any) -> Any:
        """``value`` with every secret replaced by ``***`` in its strings and bytes (containers walked)."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, (bytes, bytearray)):
            data = bytes(value)
            for secret in self._bytes:
                data = data.replace(secret, b"***")
            return data
        if isinstance(value, list):
            return [self.scrub_value(v) for v in value]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return tuple(self.scrub_value(v) for v in value)
        if isinstance(value, dict):
            return {self.scrub_value(k): self.scrub_value(v) for k, v in value.items()}
        if isinstance(value, (set, frozenset)):
            return type(value)(self.scrub_value(v) for v in value)
        return value


def site_environment(federation: Federation, site: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables that hold other sites' secrets (every site's, for None).

    What a process hosting ``site`` is started with, so that no site's process can read
    another site's secrets from its environment.
    """
    own = federation.sites[site].secrets.env_prefix if site is not None else None
    others = [
        spec.secrets.env_prefix
        for name, spec in federation.sites.items()
        if name != site and spec.secrets.env_prefix
    ]

    def belongs_elsewhere(key: str) -> bool:
        # another site's prefix matches, and ours (if it matches too) is not the more specific one
        return any(
            key.startswith(p) and not (own and key.startswith(own) and len(own) >= len(p)) for p in others
        )

    return {key: value for key, value in environ.items() if not belongs_elsewhere(key)}


# -- logs ----------------------------------------------------------------------------------

_KNOWN: list[str] = []  # every secret form handed out in this process, longest first
_lock = threading.Lock()
_installed = False


def _remember_globally(forms: set[str]) -> None:
    global _KNOWN
    with _lock:
        _KNOWN = sorted(set(_KNOWN) | forms, key=len, reverse=True)
    install_log_scrubber()


def _replace_all(text: str, forms: list[str]) -> str:
    """``text`` with each of ``forms`` (longest first) replaced by ``***``."""
    for secret in forms:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _scrub_known(text: str) -> str:
    return _replace_all(text, _KNOWN)


def install_log_scrubber() -> None:
    """Scrub every secret this process handed out from every log record, whoever logs it.

    Installed as the log record factory the first time a secret is read, so
    adapters' own loggers are covered too. A record's message is formatted
    and its traceback rendered at creation, then scrubbed.
    """
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _KNOWN:
            record.msg = _scrub_known(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[0] is not None:
                record.exc_text = _scrub_known(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return record

    logging.setLogRecordFactory(factory)
