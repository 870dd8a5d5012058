"""Payload codecs: how values cross a site boundary.

A codec is chosen by the federation config (``codec: <name>``, default
``safe``) among the ``dfm_codecs`` registry; every transport gets it from
:func:`codec_for`. The default codec, :class:`~dfm.kernel.codecs.safe.SafeCodec`,
carries JSON-compatible values, tuples, bytes, numpy arrays and attrs instances
of already-imported classes. It never unpickles unless the federation opts in
with ``allow-pickle: true``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dfm.kernel.codecs.safe import CodecError, SafeCodec

if TYPE_CHECKING:
    from dfm.kernel.config.models import Federation
    from dfm.kernel.plugins import DfmPluginManager

__all__ = ["DEFAULT_CODEC", "Codec", "CodecError", "SafeCodec", "codec_for"]

DEFAULT_CODEC = "safe"


@runtime_checkable
class Codec(Protocol):
    """What a ``dfm_codecs`` target builds: ``factory(allow_pickle=bool) -> Codec``.

    ``encode`` returns a JSON-compatible header and a list of buffers (the
    transports move the buffers without copies where they can); ``decode``
    inverts it and raises :class:`CodecError` for data it refuses or cannot read.
    A codec must never unpickle unless it was built with ``allow_pickle=True``.
    """

    name: str

    def encode(self, value: Any) -> tuple[Any, list[memoryview | bytes]]:
        """``value`` as a JSON-compatible header and a list of buffers."""
        ...

    def decode(self, header: Any, buffers: list[Any]) -> Any:
        """The value ``encode`` gave ``header`` and ``buffers`` for; raises ``CodecError`` if refused or
        unreadable.
        """
        ...


def codec_for(federation: Federation, manager: DfmPluginManager | None = None) -> Codec:
    """The codec the federation names (``codec:``, default ``safe``), from the ``dfm_codecs`` registry."""
    from dfm.kernel.plugins import get_plugin_manager

    entry = (manager or get_plugin_manager()).get("codecs", federation.codec)
    codec = entry.load()(allow_pickle=federation.allow_pickle)
    if not isinstance(codec, Codec):
        raise CodecError(
            f"codec '{entry.name}' from {entry.source} does not build a codec (encode/decode/name); "
            "please report this to the plugin's authors"
        )
    return codec
