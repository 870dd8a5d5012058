"""Payload codecs: how values cross a site boundary.

The default codec, :class:`~dfm.kernel.codecs.safe.SafeCodec`, carries
JSON-compatible values, tuples, bytes, numpy arrays and attrs instances of
already-imported classes. It never unpickles unless the federation opts in
with ``allow-pickle: true``.
"""

from dfm.kernel.codecs.safe import CodecError, SafeCodec

__all__ = ["CodecError", "SafeCodec"]
