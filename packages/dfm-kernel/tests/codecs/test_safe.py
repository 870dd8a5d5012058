"""SafeCodec: round trips of JSON-like values, bytes, arrays and attrs instances; everything it refuses."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfm.kernel.codecs import CodecError, SafeCodec
from dfm.kernel.errors import ConfigIssue, DfmError
from dfm.kernel.ir import pipeline as irp

SAFE = SafeCodec()
PICKLING = SafeCodec(allow_pickle=True)
KEYS = st.one_of(
    st.text(max_size=4),
    st.just("__dfm__"),
    st.integers(),
    st.none(),
    st.binary(max_size=3),
    st.tuples(st.integers(), st.text(max_size=2)),
)
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.binary(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=3) | st.just("__dfm__"), inner, max_size=3)
        | st.dictionaries(KEYS, inner, max_size=3)
    ),
    max_leaves=12,
)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 == 1.0 == True is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def message(text: str) -> str:
    return f"^{re.escape(text)}$"


@settings(max_examples=150, deadline=None)
@given(VALUES)
def test_round_trip(value):
    header, buffers = SAFE.encode(value)
    assert same(SAFE.decode(header, buffers), value)
    assert same(SAFE.loads(SAFE.dumps(value)), value)
    assert same(SAFE.loads(memoryview(SAFE.dumps(value))), value)


def test_tagged_forms():
    header, buffers = SAFE.encode({"__dfm__": 1, "k": (b"ab", bytearray(b"c"))})
    assert header == {
        "__dfm__": "dict",
        "items": [
            ["__dfm__", 1],
            [
                "k",
                {
                    "__dfm__": "tuple",
                    "items": [{"__dfm__": "bytes", "buf": 0}, {"__dfm__": "bytes", "buf": 1}],
                },
            ],
        ],
    }
    assert [bytes(b) for b in buffers] == [b"ab", b"c"]
    # a mapping that looks like a tag is data, not a tag
    fake = {"__dfm__": "pickle", "buf": 0}
    assert SAFE.loads(SAFE.dumps(fake)) == fake


def test_bytes_go_out_of_band_untouched():
    data = b"x" * 1000
    header, buffers = SAFE.encode([data, memoryview(b"mv")])
    assert buffers[0] is data
    assert header == [{"__dfm__": "bytes", "buf": 0}, {"__dfm__": "bytes", "buf": 1}]
    assert SAFE.decode(header, buffers) == [data, b"mv"]


# -- attrs -------------------------------------------------------------------------------------


def test_attrs_round_trip():
    values = [
        ConfigIssue("f.yaml", 3, 4, "/a", "bad", hint=None),
        irp.Call("n1", "op", {"a": irp.Lit((1, b"x")), "b": irp.Param("p")}, "site"),
        {"nested": [irp.Ref("n1"), (irp.Lit({"k": 1}),)]},
    ]
    for value in values:
        header, buffers = SAFE.encode(value)
        assert SAFE.decode(header, buffers) == value
        assert SAFE.loads(SAFE.dumps(value)) == value
    header, _ = SAFE.encode(irp.Ref("n1"))
    assert header == {"__dfm__": "attrs", "type": "dfm.kernel.ir.pipeline:Ref", "fields": {"node": "n1"}}


def test_attrs_of_a_module_not_imported_is_refused():
    name = "antigravity"  # importing it would open a web browser
    if name in sys.modules:
        pytest.skip(f"{name} is already imported")
    header = {"__dfm__": "attrs", "type": f"{name}:Thing", "fields": {}}
    with pytest.raises(
        CodecError, match=message(f"cannot decode attrs type {name}:Thing: module {name} is not loaded here")
    ):
        SAFE.decode(header, [])
    with pytest.raises(CodecError, match="is not loaded here"):
        PICKLING.decode(header, [])
    assert name not in sys.modules


@pytest.mark.parametrize(
    "target", ["builtins:dict", "os:system", "dfm.kernel.ir.pipeline:Nope", "dfm.kernel.ir.pipeline:attrs"]
)
def test_attrs_type_must_be_an_attrs_class(target):
    header = {"__dfm__": "attrs", "type": target, "fields": {}}
    with pytest.raises(CodecError, match=message(f"cannot decode {target}: not an attrs class")):
        SAFE.decode(header, [])


# -- pickle --------------------------------------------------------------------------------------

REFUSED = (
    "a value of type builtins.set cannot be sent between sites with the safe codec; "
    "return JSON-compatible data, bytes, numpy arrays or attrs instances, "
    "or set 'allow-pickle: true' in the federation config"
)
UNPICKLE = (
    "refusing to unpickle data received from another site; "
    "the federation must set 'allow-pickle: true' to allow it"
)


def test_set_needs_allow_pickle():
    with pytest.raises(CodecError, match=message(REFUSED)):
        SAFE.encode({1, 2})
    with pytest.raises(CodecError, match=message(REFUSED)):
        SAFE.dumps([{"a": ({3},)}])
    assert isinstance(CodecError("x"), DfmError)
    value = [{1, 2}, frozenset({"a"}), {"k": complex(1, 2)}]
    header, buffers = PICKLING.encode(value)
    assert header[0] == {"__dfm__": "pickle", "buf": 0}
    assert PICKLING.decode(header, buffers) == value
    assert PICKLING.loads(PICKLING.dumps(value)) == value


def test_pickled_payload_refused_without_opt_in():
    payload = PICKLING.dumps({"s": {1, 2}})
    with pytest.raises(CodecError, match=message(UNPICKLE)):
        SAFE.loads(payload)
    header, buffers = PICKLING.encode({1})
    with pytest.raises(CodecError, match=message(UNPICKLE)):
        SAFE.decode(header, buffers)


def test_unknown_tag():
    with pytest.raises(CodecError, match=message("unknown payload tag 'nope'")):
        SAFE.decode({"__dfm__": "nope"}, [])


# -- malformed bytes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x00",
        b"\x00\x00\x00\x05\x00\x00\x00\x00{",
        b"\x00\x00\x00\x02\x00\x00\x00\x00\xff\xfe",
        SAFE.dumps([b"hello", b"world"])[:-3],
        SAFE.dumps([b"hello"]) + b"extra",
        b'\x00\x00\x00\x1b\x00\x00\x00\x00{"__dfm__":"bytes","buf":5}',
        b'\x00\x00\x00\x12\x00\x00\x00\x00{"__dfm__":"dict"}',
    ],
)
def test_malformed_loads(data):
    with pytest.raises(CodecError, match=r"^malformed payload: "):
        SAFE.loads(data)


@pytest.mark.parametrize(
    ("header", "buffers"),
    [
        ({"__dfm__": "bytes"}, []),
        ({"__dfm__": "bytes", "buf": 3}, [b"x"]),
        ({"__dfm__": "tuple", "items": 5}, []),
        ({"__dfm__": "attrs", "type": "dfm.kernel.ir.pipeline:Yield"}, []),
        ({"__dfm__": "ndarray", "dtype": "<f8", "shape": [3], "buf": 0}, [b"\0" * 7]),
        ({"__dfm__": "ndarray", "dtype": [["a", "|O"]], "shape": [1], "buf": 0}, [b"\0" * 8]),
        ({"__dfm__": "ndarray", "dtype": "not a dtype", "shape": [1], "buf": 0}, [b"\0"]),
    ],
)
def test_malformed_decode(header, buffers):
    if "ndarray" in header.values():
        pytest.importorskip("numpy")
    with pytest.raises(CodecError, match=r"^malformed payload: "):
        SAFE.decode(header, buffers)


# -- numpy ---------------------------------------------------------------------------------------


def arrays() -> list[Any]:
    np = pytest.importorskip("numpy")
    grid = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    return [
        np.arange(10, dtype=np.int8),
        np.arange(12, dtype=np.uint32).reshape(3, 4),
        np.linspace(0, 1, 7, dtype=np.float32),
        np.array([1 + 2j, 3 - 4j]),
        np.array([True, False, True]),
        np.arange(6, dtype=">i4").reshape(2, 3),  # non-native byte order
        np.array(3.5),  # 0-d
        np.zeros((0, 3)),  # empty
        np.array(["ab", "c"]),
        np.arange(3).astype("datetime64[s]"),
        np.arange(6, dtype=np.float16),
        grid[:, ::2, 1:4],  # non-contiguous
        grid.T,  # Fortran order
        grid[::-1],  # negative strides
        np.array([(1, 2.5, "ab"), (3, 4.5, "c")], dtype=[("id", "<i4"), ("x", ">f8"), ("s", "U2")]),
        np.zeros(2, dtype=[("pos", "<f4", (3,)), ("inner", [("a", "u1"), ("b", "<i2")])]),
    ]


def test_numpy_round_trip():
    np = pytest.importorskip("numpy")
    for array in arrays():
        for got in (SAFE.decode(*SAFE.encode(array)), SAFE.loads(SAFE.dumps(array))):
            assert isinstance(got, np.ndarray)
            assert got.dtype == array.dtype
            assert got.dtype.names == array.dtype.names  # structured dtypes keep their fields
            assert got.shape == array.shape
            assert np.array_equal(got, array)


def test_numpy_scalars_and_nesting():
    np = pytest.importorskip("numpy")
    value = {"a": np.float64(2.5), "b": (np.arange(3), [np.int32(7)])}
    got = SAFE.loads(SAFE.dumps(value))
    assert got["a"] == 2.5 and type(got["a"]) is float
    assert np.array_equal(got["b"][0], np.arange(3))
    assert got["b"][1] == [7]


def test_numpy_decode_does_not_copy():
    np = pytest.importorskip("numpy")
    array = np.arange(24, dtype=np.float64).reshape(4, 6)
    header, buffers = SAFE.encode(array)
    assert np.shares_memory(np.frombuffer(buffers[0], dtype=np.uint8), array)  # contiguous: no copy either
    received = bytearray(bytes(buffers[0]))
    got = SAFE.decode(header, [received])
    assert np.shares_memory(got, np.frombuffer(received, dtype=np.uint8))
    received[:8] = np.float64(99).tobytes()
    assert got[0, 0] == 99
    payload = bytearray(SAFE.dumps(array))
    loaded = SAFE.loads(payload)
    assert np.shares_memory(loaded, np.frombuffer(payload, dtype=np.uint8))


def test_numpy_object_arrays_need_pickle():
    np = pytest.importorskip("numpy")
    array = np.array([{1}, "a", None], dtype=object)
    text = "numpy arrays of Python objects need 'allow-pickle: true' in the federation config"
    with pytest.raises(CodecError, match=message(text)):
        SAFE.encode(array)
    got = PICKLING.loads(PICKLING.dumps(array))
    assert got.dtype == object and list(got) == list(array)
    with pytest.raises(CodecError, match=message(UNPICKLE)):
        SAFE.loads(PICKLING.dumps(array))
