"""Frames: runner messages as bytes for FLARE, chunked when large."""

from __future__ import annotations

import json

import pytest

from dfm.flare.frames import (
    FrameError,
    Reassembler,
    frame_job,
    item_from_json,
    item_to_json,
    pack,
    split,
    unpack,
)
from dfm.kernel.codecs import CodecError, SafeCodec
from dfm.runner.messages import Result, SiteDone, Token

codec = SafeCodec()


def test_small_message_round_trips():
    msg = Token("job1", "place", (0, 2), {"a": [1, 2.5, None, "x"], "b": b"\x00\x01"})
    frame = pack(msg, codec)
    assert split(frame) == [frame]
    assert unpack(frame, codec) == msg
    assert frame_job(frame) == "job1"


def test_large_numpy_array_travels_in_chunks():
    np = pytest.importorskip("numpy")
    value = np.arange(1_000_000, dtype=np.float64)  # 8 MB
    frame = pack(Result("j", "out", (0,), value), codec)
    items = split(frame, chunk=1 << 20)
    assert len(items) == -(-len(frame) // (1 << 20)) == 8
    assert all(len(bytes(item[3])) <= 1 << 20 for item in items)
    reassembler = Reassembler()
    frames = [reassembler.feed(item_from_json(item_to_json(item))) for item in reversed(items)]
    assert frames[:-1] == [None] * (len(items) - 1)
    got = unpack(frames[-1], codec)
    assert isinstance(got, Result) and np.array_equal(got.value, value)
    assert reassembler.parts == {}


def test_frame_pointing_at_files_is_refused():
    assert unpack(pack(SiteDone("j", "alpha"), codec), codec) == SiteDone("j", "alpha")
    forged_head = json.dumps(
        {"m": {"m": "SiteDone", "job": "j", "site": "a"}, "b": [{"n": 3, "f": "/etc/passwd"}]}
    )
    forged = len(forged_head).to_bytes(4, "big") + forged_head.encode() + b"abc"
    with pytest.raises(FrameError, match="refers to files"):
        unpack(forged, codec)
    with pytest.raises(FrameError):
        unpack(b"\x00\x00", codec)


def test_values_needing_pickle_are_refused():
    with pytest.raises(CodecError, match="allow-pickle"):
        pack(Result("j", "p", (0,), {1, 2}), codec)


def test_reassembler_bounds_what_a_peer_can_make_it_hold():
    from dfm.flare.frames import MAX_CHUNK_BYTES, MAX_CHUNKS

    r = Reassembler(max_streams=2, max_frame=100)
    bad = [
        ["s", 0, MAX_CHUNKS + 1, b"x"],  # too many chunks
        ["s", 5, 3, b"x"],  # index out of range
        ["s", 0, 1, b"x"],  # a one-chunk "stream"
        ["s", 0, 2, b""],  # empty chunk
        ["s" * 65, 0, 2, b"x"],  # stream id too long
        ["s", "0", 2, b"x"],  # not an int
        ["s", 0, 2],  # not a chunk
        b"x" * 101,  # whole frame over the limit
    ]
    for item in bad:
        with pytest.raises(FrameError):
            r.feed(item)
    assert r.parts == {}
    with pytest.raises(FrameError, match="over the limit"):
        r.feed(["big", 0, 2, b"x" * (MAX_CHUNK_BYTES + 1)])
    # duplicates and changed counts drop the stream
    assert r.feed(["a", 0, 3, b"x"]) is None
    with pytest.raises(FrameError, match="twice"):
        r.feed(["a", 0, 3, b"x"])
    assert "a" not in r.parts
    assert r.feed(["a", 0, 3, b"x"]) is None
    with pytest.raises(FrameError, match="count changed"):
        r.feed(["a", 1, 4, b"x"])
    # all unfinished streams together stay under max_frame bytes
    assert r.feed(["b", 0, 3, b"x" * 60]) is None
    with pytest.raises(FrameError, match="over the limit"):
        r.feed(["c", 0, 3, b"x" * 60])
    # endless streams: only max_streams unfinished ones are kept, the oldest given up
    for i in range(10):
        assert r.feed([f"e{i}", 0, 3, b"x"]) is None
    assert len(r.parts) == 2


def test_items_from_json_are_checked():
    for data in [["s", 0, 2, 5], "not base64!", ["s", 0], 7]:
        with pytest.raises(FrameError):
            item_from_json(data)
