"""An admin-API connection to a FLARE server in a fraction of a second instead of seconds.

Two things in nvflare 2.9's admin client cost an application seconds, on every
connection, and are avoided here:

- Its communication layer looks for optional config files (``comm_config``
  and others) in the directories of nvflare's ``ConfigService``; an admin
  client never sets them, so it searches the *current directory*
  recursively, several times: 3.4 s from a repository checkout here, more
  from a home directory. :func:`connect` first points the search at the admin
  kit (its ``local`` and ``startup`` folders), as FLARE's own processes point
  it at their workspace, unless the process set it already.
- It authenticates right after starting its cell, before the cell's connection
  to the server is up, so its first challenge always fails and it sleeps its
  hard-coded 1.0 s ``retry_interval`` before the second (measured: connection
  up ~60 ms after the start, login at ~1.1 s). While :func:`connect` runs,
  that module's ``Authenticator`` is a subclass retrying every 50 ms instead;
  nothing else changes (same challenge, same certificates, same timeout).

If nvflare's layout differs (another version), the connection is made as
nvflare makes it, only slower.
"""

from __future__ import annotations

import contextlib
import io
import threading
from pathlib import Path
from typing import Any

__all__ = ["connect"]

RETRY_INTERVAL = 0.05  # seconds between authentication attempts while the connection comes up
_lock = threading.Lock()


def connect(user: str, kit: Path | str, timeout: float) -> Any:
    """A secure FLARE API session (nvflare ``Session``) of admin ``user`` with the startup kit ``kit``."""
    from nvflare.fuel.flare_api.flare_api import new_secure_session

    _config_search_in(Path(kit))
    with _lock, _fast_retries(), contextlib.redirect_stdout(io.StringIO()):  # "Connecting to FLARE ..."
        return new_secure_session(user, str(kit), timeout=timeout)


def _config_search_in(kit: Path) -> None:
    try:
        from nvflare.fuel.utils.config_service import ConfigService
    except ImportError:
        return
    if getattr(ConfigService, "_config_path", None):
        return  # this process chose where nvflare looks
    folders = [str(kit / name) for name in ("local", "startup") if (kit / name).is_dir()]
    if folders:
        with contextlib.suppress(Exception):
            ConfigService.initialize(section_files={}, config_path=folders)


@contextlib.contextmanager
def _fast_retries() -> Any:
    try:
        from nvflare.fuel.hci.client import api
    except ImportError:
        yield
        return
    original = getattr(api, "Authenticator", None)
    if not isinstance(original, type):
        yield
        return

    class FastAuthenticator(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.retry_interval = min(float(getattr(self, "retry_interval", 1.0)), RETRY_INTERVAL)

    api.Authenticator = FastAuthenticator
    try:
        yield
    finally:
        api.Authenticator = original
