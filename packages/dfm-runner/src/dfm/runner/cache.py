"""A site's pipeline cache (``TryFromCache``): entries on the site's ``cache_config``.

An entry is addressed by a digest only: SHA-256 over the block's key, whether the
value is resident at the site, and the encoded input values (the safe codec's
header with sorted keys, then its buffers). Files are named from that hex digest
(``<digest>.value`` and ``<digest>.json``), never from the key or anything else
received, so a key like ``../../etc`` is just bytes in a hash. The key is kept in
the ``.json`` beside the value for ``dfm cache list`` and ``dfm cache clear --key``.

A lookup or store that fails (storage unreachable, a corrupt entry) is logged and
treated as a miss or skipped: the cache never fails a job that would run without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import attrs

from dfm.kernel.codecs.safe import SafeCodec
from dfm.kernel.context import SiteContext
from dfm.kernel.errors import DfmError

__all__ = ["CacheEntry", "SiteCache", "entry_digest"]

logger = logging.getLogger("dfm.runner.cache")

_DIGEST = re.compile(r"[0-9a-f]{64}")
_VALUE, _META = ".value", ".json"
_FORMAT = 1  # bumped when the digest or file layout changes: old entries are then never found


def entry_digest(codec: SafeCodec, key: str, resident: bool, inputs: list[Any]) -> str:
    """The hex digest addressing the entry of ``key`` for these input values."""
    h = hashlib.sha256()
    h.update(json.dumps([_FORMAT, key, resident, len(inputs)]).encode())
    for value in inputs:
        header, buffers = codec.encode(value)
        head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        h.update(len(head).to_bytes(8, "big") + head)
        for buf in buffers:
            view = memoryview(buf).cast("B")
            h.update(view.nbytes.to_bytes(8, "big"))
            h.update(view)
    return h.hexdigest()


@attrs.frozen
class CacheEntry:
    """One entry as ``dfm cache list`` shows it."""

    digest: str
    key: str
    size: int  # bytes of the stored value
    created: float  # seconds since the epoch
    resident: bool


class SiteCache:
    """The cache of one site, on the filesystem of its ``cache_config`` (opened on first use)."""

    def __init__(self, site: SiteContext, codec: SafeCodec):
        self.site = site
        self.codec = codec
        self._fs: Any = None

    @property
    def fs(self) -> Any:
        """The site's cache filesystem (``SiteContext.cache_storage``); raises ``DfmError`` without one."""
        if self._fs is None:
            self._fs = self.site.cache_storage()
        return self._fs

    def digest(self, key: str, resident: bool, inputs: list[Any]) -> str:
        """See :func:`entry_digest`."""
        return entry_digest(self.codec, key, resident, inputs)

    def get(self, digest: str) -> tuple[bool, Any]:
        """``(True, value)`` for a stored entry, ``(False, None)`` otherwise (also when it cannot be read)."""
        _check(digest)
        try:
            if not self.fs.exists(digest + _VALUE):
                return False, None
            return True, self.codec.loads(self.fs.cat_file(digest + _VALUE))
        except (OSError, DfmError, ValueError) as exc:
            logger.warning(
                "site '%s': cache entry %s unreadable, treated as a miss: %s",
                self.site.name,
                digest[:12],
                exc,
            )
            return False, None

    def put(self, digest: str, key: str, resident: bool, value: Any) -> bool:
        """Store ``value``; False (logged) when it cannot be encoded or written."""
        _check(digest)
        try:
            data = self.codec.dumps(value)
            meta = {"key": key, "size": len(data), "created": time.time(), "resident": resident}
            # the value first, then its metadata: an entry listed is complete; a reader racing a
            # writer of the same digest reads the same bytes (same key and inputs)
            self.fs.pipe_file(digest + _VALUE, data)
            self.fs.pipe_file(digest + _META, json.dumps(meta).encode())
            return True
        except (OSError, DfmError, TypeError, ValueError) as exc:
            logger.warning("site '%s': cannot store cache entry %s: %s", self.site.name, digest[:12], exc)
            return False

    def entries(self) -> Iterator[CacheEntry]:
        """Every complete entry, by digest (files not named by a digest are ignored)."""
        try:
            names = sorted(self.fs.ls("", detail=False))
        except FileNotFoundError:
            return
        for name in names:
            base = str(name).rstrip("/").rsplit("/", 1)[-1]
            if not base.endswith(_META) or not _DIGEST.fullmatch(base[: -len(_META)]):
                continue
            digest = base[: -len(_META)]
            try:
                meta = json.loads(self.fs.cat_file(digest + _META))
                yield CacheEntry(
                    digest,
                    str(meta["key"]),
                    int(meta["size"]),
                    float(meta["created"]),
                    bool(meta.get("resident", False)),
                )
            except (OSError, ValueError, KeyError, TypeError):
                logger.warning(
                    "site '%s': cache entry %s has unreadable metadata", self.site.name, digest[:12]
                )

    def clear(self, key: str | None = None) -> int:
        """Remove every entry (or those of ``key``); returns how many were removed."""
        removed = 0
        for entry in list(self.entries()):
            if key is not None and entry.key != key:
                continue
            for suffix in (_META, _VALUE):
                try:
                    self.fs.rm_file(entry.digest + suffix)
                except FileNotFoundError:
                    pass
            removed += 1
        return removed


def _check(digest: str) -> None:
    if not _DIGEST.fullmatch(digest):  # only our own digests ever name a file
        raise ValueError("a cache entry is addressed by a 64-digit hex digest")
