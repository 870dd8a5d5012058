"""The kernel's own hook implementations (entry point ``dfm-kernel``)."""

from __future__ import annotations

from collections.abc import Iterator

from dfm.kernel.markers import hookimpl
from dfm.kernel.records import CodecEntry


@hookimpl
def dfm_codecs() -> Iterator[CodecEntry]:
    """The ``safe`` codec (the default)."""
    yield CodecEntry(
        "safe",
        "dfm.kernel.codecs.safe:SafeCodec",
        summary="JSON-compatible values, bytes, attrs models, numpy arrays; never unpickles",
    )
