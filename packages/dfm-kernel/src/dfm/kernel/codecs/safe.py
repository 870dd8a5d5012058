"""The safe codec: a JSON header plus out-of-band binary buffers.

``encode(value) -> (header, buffers)``: the header is JSON-compatible data
in which non-JSON values are replaced by tagged mappings (``{"__dfm__":
"ndarray", "dtype": ..., "shape": ..., "buf": 0}``); bytes and array
contents go to ``buffers`` untouched, so a transport can move them without
copies (shared memory, ``sendmsg``). ``decode(header, buffers)`` reverses it.

Pickle is used only when the federation sets ``allow-pickle: true``: for
encoding values nothing else can carry, and for decoding them. Without the
opt-in a value that needs pickle is refused on the sending side and a pickled
payload is refused on the receiving side.
"""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Callable
from typing import Any

import attrs

from dfm.kernel.errors import DfmError

TAG = "__dfm__"
#: Strings of at least this many characters travel as UTF-8 buffers, not inside the JSON header.
TEXT_BUFFER_CHARS = 1 << 20
_SCALARS = frozenset({str, int, float, bool, type(None)})


class TextBuffer:
    """A long ``str`` to carry as UTF-8, encoded only where it is written, a chunk at a time.

    :meth:`SafeCodec.encode` returns these only when asked (``lazy_text=True``), to a
    transport that writes buffers with :meth:`chunks`; ``bytes(buffer)`` encodes it whole.
    """

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def chunks(self, chars: int = 1 << 24) -> Any:
        """The text as UTF-8 bytes, ``chars`` characters at a time."""
        text = self.text
        for i in range(0, len(text), chars):
            yield text[i : i + chars].encode("utf-8", "surrogatepass")

    def __bytes__(self) -> bytes:
        return self.text.encode("utf-8", "surrogatepass")


Buffers = list[Any]  # bytes-like objects (and TextBuffer with encode(..., lazy_text=True))


class _LazyTextBuffers(list):  # type: ignore[type-arg]
    """The buffer list of an ``encode(..., lazy_text=True)`` call."""


class CodecError(DfmError):
    """A value cannot be encoded or a payload cannot be decoded safely."""


def _type_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


class SafeCodec:
    """Encode/decode values for transport; see the module docstring."""

    name = "safe"

    def __init__(self, allow_pickle: bool = False):
        self.allow_pickle = allow_pickle

    # -- encoding ------------------------------------------------------------------

    def encode(self, value: Any, *, lazy_text: bool = False) -> tuple[Any, Buffers]:
        """The JSON-compatible header of ``value`` and its out-of-band buffers.

        Every buffer supports the buffer protocol, except that with ``lazy_text=True``
        long strings come as :class:`TextBuffer` (for a transport that writes them in chunks).
        """
        buffers: Buffers = _LazyTextBuffers() if lazy_text else []
        header = self._enc(value, buffers)
        return header, list(buffers) if lazy_text else buffers

    def _text(self, value: str, buffers: Buffers) -> Any:
        if len(value) < TEXT_BUFFER_CHARS:
            return value
        lazy = type(buffers) is _LazyTextBuffers
        buffers.append(TextBuffer(value) if lazy else value.encode("utf-8", "surrogatepass"))
        return {TAG: "str", "buf": len(buffers) - 1}

    def _enc(self, value: Any, buffers: Buffers) -> Any:
        cls = type(value)
        if cls is str:
            return value if len(value) < TEXT_BUFFER_CHARS else self._text(value, buffers)
        if cls in _SCALARS:
            return value
        if cls is list:  # lists of scalars are the common case: no call per item
            return [
                v
                if type(v) in _SCALARS and (type(v) is not str or len(v) < TEXT_BUFFER_CHARS)
                else self._enc(v, buffers)
                for v in value
            ]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, str):
            return self._text(value, buffers)
        if isinstance(value, list):
            return [self._enc(v, buffers) for v in value]
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value) and TAG not in value:
                return {
                    k: v
                    if type(v) in _SCALARS and (type(v) is not str or len(v) < TEXT_BUFFER_CHARS)
                    else self._enc(v, buffers)
                    for k, v in value.items()
                }
            return {
                TAG: "dict",
                "items": [[self._enc(k, buffers), self._enc(v, buffers)] for k, v in value.items()],
            }
        if isinstance(value, tuple):
            return {TAG: "tuple", "items": [self._enc(v, buffers) for v in value]}
        if isinstance(value, (bytes, bytearray, memoryview)):
            buffers.append(value if isinstance(value, (bytes, memoryview)) else bytes(value))
            return {TAG: "bytes", "buf": len(buffers) - 1}
        encoder = self._special_encoder(value)
        if encoder is not None:
            return encoder(value, buffers)
        if self.allow_pickle:
            buffers.append(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
            return {TAG: "pickle", "buf": len(buffers) - 1}
        raise CodecError(
            f"a value of type {_type_name(value)} cannot be sent between sites with the safe codec; "
            "return JSON-compatible data, bytes, numpy arrays or attrs instances, "
            "or set 'allow-pickle: true' in the federation config"
        )

    def _special_encoder(self, value: Any) -> Callable[[Any, Buffers], Any] | None:
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            if isinstance(value, numpy.ndarray):
                return self._enc_array
            if isinstance(value, numpy.generic):
                return lambda v, b: self._enc(v.item(), b)
        if attrs.has(type(value)):
            return self._enc_attrs
        return None

    def _enc_array(self, array: Any, buffers: Buffers) -> Any:
        if array.dtype.hasobject:
            if not self.allow_pickle:
                raise CodecError(
                    "numpy arrays of Python objects need 'allow-pickle: true' in the federation config"
                )
            buffers.append(pickle.dumps(array, protocol=pickle.HIGHEST_PROTOCOL))
            return {TAG: "pickle", "buf": len(buffers) - 1}
        import numpy

        # ascontiguousarray would turn a 0-d array into shape (1,); a uint8 view of the flat
        # array exports every dtype (datetime64 has no buffer format) and empty shapes.
        contiguous = array if array.flags.c_contiguous else numpy.ascontiguousarray(array)
        buffers.append(contiguous.reshape(-1).view(numpy.uint8).data)
        return {
            TAG: "ndarray",
            # dtype.str of a structured dtype is only its size ('|V12'): its descr keeps the fields
            "dtype": numpy.lib.format.dtype_to_descr(contiguous.dtype),
            "shape": list(array.shape),
            "buf": len(buffers) - 1,
        }

    def _enc_attrs(self, value: Any, buffers: Buffers) -> Any:
        cls = type(value)
        fields = {a.name: self._enc(getattr(value, a.name), buffers) for a in attrs.fields(cls) if a.init}
        return {TAG: "attrs", "type": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}

    # -- decoding ------------------------------------------------------------------

    def decode(self, header: Any, buffers: list[Any]) -> Any:
        """The value of ``header`` and its ``buffers``; :class:`CodecError` when they do not fit."""
        try:
            return self._dec(header, buffers)
        except CodecError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise CodecError(f"malformed payload: {type(exc).__name__}: {exc}") from None

    def _dec(self, data: Any, buffers: list[Any]) -> Any:
        if isinstance(data, list):
            return [v if type(v) in _SCALARS else self._dec(v, buffers) for v in data]
        if not isinstance(data, dict):
            return data
        tag = data.get(TAG)
        if tag is None:
            return {k: v if type(v) in _SCALARS else self._dec(v, buffers) for k, v in data.items()}
        if tag == "str":
            return str(buffers[data["buf"]], "utf-8", "surrogatepass")
        if tag == "tuple":
            return tuple(self._dec(v, buffers) for v in data["items"])
        if tag == "dict":
            return {self._dec(k, buffers): self._dec(v, buffers) for k, v in data["items"]}
        if tag == "bytes":
            return bytes(buffers[data["buf"]])
        if tag == "ndarray":
            import numpy

            raw = buffers[data["buf"]]
            descr = data["dtype"]
            dtype = numpy.dtype(descr) if isinstance(descr, str) else numpy.lib.format.descr_to_dtype(descr)
            if dtype.hasobject:
                raise CodecError("malformed payload: an array of Python objects without pickle")
            return numpy.frombuffer(raw, dtype=dtype).reshape(data["shape"])
        if tag == "attrs":
            return self._dec_attrs(data, buffers)
        if tag == "pickle":
            if not self.allow_pickle:
                raise CodecError(
                    "refusing to unpickle data received from another site; "
                    "the federation must set 'allow-pickle: true' to allow it"
                )
            return pickle.loads(bytes(buffers[data["buf"]]))
        raise CodecError(f"unknown payload tag {tag!r}")

    def _dec_attrs(self, data: dict[str, Any], buffers: list[Any]) -> Any:
        module_name, _, qualname = str(data["type"]).partition(":")
        module = sys.modules.get(module_name)
        if module is None:
            # Never import a module because a remote payload names it.
            raise CodecError(
                f"cannot decode attrs type {data['type']}: module {module_name} is not loaded here"
            )
        cls: Any = module
        for part in qualname.split("."):
            cls = getattr(cls, part, None)
        if not (isinstance(cls, type) and attrs.has(cls)):
            raise CodecError(f"cannot decode {data['type']}: not an attrs class")
        return cls(**{k: self._dec(v, buffers) for k, v in data["fields"].items()})

    # -- whole messages as bytes (for transports without a buffer channel) -------------

    def dumps(self, value: Any) -> bytes:
        """One self-contained bytes object: header length, JSON header, then length-prefixed buffers."""
        header, buffers = self.encode(value)
        head = json.dumps(header, separators=(",", ":")).encode()
        parts: list[bytes | memoryview] = [len(head).to_bytes(4, "big"), len(buffers).to_bytes(4, "big")]
        parts.append(head)
        for buf in buffers:
            view = memoryview(buf).cast("B")
            parts.append(view.nbytes.to_bytes(8, "big"))
            parts.append(view)
        return b"".join(parts)

    def loads(self, data: bytes | memoryview) -> Any:
        """The value of bytes written by ``dumps``; raises ``CodecError`` for a malformed payload or one
        ``decode`` refuses.
        """
        view = memoryview(data)
        try:
            head_len = int.from_bytes(view[0:4], "big")
            count = int.from_bytes(view[4:8], "big")
            pos = 8 + head_len
            header = json.loads(bytes(view[8:pos]))
            buffers: list[memoryview] = []
            for _ in range(count):
                size = int.from_bytes(view[pos : pos + 8], "big")
                pos += 8
                buffers.append(view[pos : pos + size])
                pos += size
            # Slicing past the end does not raise: check the lengths add up exactly.
            if len(view) < 8 or pos != len(view):
                raise ValueError(f"{len(view)} bytes, expected {max(pos, 8)}")
        except (ValueError, IndexError) as exc:
            raise CodecError(f"malformed payload: {exc}") from None
        return self.decode(header, buffers)
