"""Pinning maps to files: round trips for every type, atomic saves, corrupt files."""

from __future__ import annotations

import errno
import os

import pytest

from pybpf.errors import MapError
from pybpf.maps import LpmTrieMap, Map
from pybpf.maps import pin as pinmod
from pybpf.uapi import (
    BPF_F_NO_PREALLOC,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_LPM_TRIE,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_TYPE_QUEUE,
    BPF_MAP_TYPE_RINGBUF,
    BPF_MAP_TYPE_STACK,
)


def k(i: int, n: int = 4) -> bytes:
    return i.to_bytes(n, "little")


def test_hash_round_trip_keeps_order_and_attributes(tmp_path):
    m = Map(BPF_MAP_TYPE_HASH, 4, 8, 64, name="flows")
    for i in range(40):
        m[k(i)] = k(i * 7, 8)
    m.pin(tmp_path / "flows")
    n = Map.open_pinned(tmp_path / "flows")
    assert (n.type, n.key_size, n.value_size, n.max_entries, n.flags, n.name) == (
        m.type,
        m.key_size,
        m.value_size,
        m.max_entries,
        m.flags,
        m.name,
    )
    assert n.keys() == m.keys() and n.items() == m.items()
    assert n.fd != m.fd


@pytest.mark.parametrize(
    "mtype,ks,vs,flags",
    [
        (BPF_MAP_TYPE_ARRAY, 4, 12, 0),
        (BPF_MAP_TYPE_PERCPU_ARRAY, 4, 12, 0),
        (BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 0),
        (BPF_MAP_TYPE_LRU_HASH, 4, 8, 0),
    ],
)
def test_kv_round_trip(tmp_path, mtype, ks, vs, flags):
    m = Map(mtype, ks, vs, 8, flags)
    for i in range(0, 8, 2):
        m[k(i)] = bytes([i + 1]) * m.user_value_size
    m.pin(tmp_path / "m")
    n = Map.open_pinned(tmp_path / "m")
    assert dict(n.items()) == dict(m.items())


def test_lpm_queue_stack_ringbuf_round_trip(tmp_path):
    t = Map(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 8, BPF_F_NO_PREALLOC)
    for plen, net in [(8, b"\x0a\0\0\0"), (16, b"\x0a\x01\0\0"), (24, b"\x0a\x01\x02\0")]:
        t[LpmTrieMap.key(plen, net)] = plen
    t.pin(tmp_path / "t")
    assert Map.open_pinned(tmp_path / "t").items() == t.items()
    for mtype in (BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK):
        q = Map(mtype, 0, 4, 4)
        for i in range(5):
            q.push(k(i), 2)
        q.pin(tmp_path / "q")
        r = Map.open_pinned(tmp_path / "q")
        assert r.values() == q.values() and r.type == mtype
    rb = Map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096)
    rb.output(b"hello")
    rb.output(b"world")
    rb.consume()
    rb.output(b"again")
    rb.pin(tmp_path / "rb")
    assert Map.open_pinned(tmp_path / "rb").consume() == [b"again"]


def test_prog_array_refuses(tmp_path):
    with pytest.raises(MapError) as ei:
        Map(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1).pin(tmp_path / "p")
    assert ei.value.errno == errno.EOPNOTSUPP


def test_crash_mid_save_keeps_previous_pin(tmp_path, monkeypatch):
    path = tmp_path / "m"
    m = Map(BPF_MAP_TYPE_HASH, 4, 4, 8)
    m[k(1)] = k(1)
    m.pin(path)
    before = path.read_bytes()
    m[k(2)] = k(2)

    def crash(*a):
        raise OSError(errno.EIO, "simulated crash before rename")

    monkeypatch.setattr(pinmod.os, "replace", crash)
    with pytest.raises(OSError):
        m.pin(path)
    monkeypatch.undo()
    assert path.read_bytes() == before  # nothing saved before is lost
    assert os.listdir(tmp_path) == ["m"]  # the temporary file is gone
    assert dict(Map.open_pinned(path).items()) == {k(1): k(1)}


def test_truncated_and_corrupt_files_name_the_offset(tmp_path):
    m = Map(BPF_MAP_TYPE_HASH, 4, 4, 8)
    for i in range(4):
        m[k(i)] = k(i)
    m.pin(tmp_path / "m")
    data = (tmp_path / "m").read_bytes()
    bad = tmp_path / "bad"
    for cut in (3, 16, 40, len(data) - 9, len(data) - 1):
        bad.write_bytes(data[:cut])
        with pytest.raises(MapError) as ei:
            Map.open_pinned(bad)
        assert str(bad) in str(ei.value) and "offset 0x" in str(ei.value)
    flipped = bytearray(data)
    flipped[len(data) - 6] ^= 0xFF  # inside the last value
    bad.write_bytes(bytes(flipped))
    with pytest.raises(MapError, match="checksum"):
        Map.open_pinned(bad)
    bad.write_bytes(b"NOTAPIN!" + data[8:])
    with pytest.raises(MapError, match="offset 0x0"):
        Map.open_pinned(bad)
    with pytest.raises(MapError) as ei:
        Map.open_pinned(tmp_path / "missing")
    assert ei.value.errno == errno.ENOENT
