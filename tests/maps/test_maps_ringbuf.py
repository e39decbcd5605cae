"""RINGBUF: reserve/submit/discard/output, the 8-byte header, wrap-around, full ring, query."""

from __future__ import annotations

import errno
import struct

import pytest

from pybpf.errors import MapError
from pybpf.maps import Map, RingBufMap
from pybpf.maps.ringbuf import BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT
from pybpf.uapi import (
    BPF_MAP_TYPE_RINGBUF,
    BPF_RB_AVAIL_DATA,
    BPF_RB_CONS_POS,
    BPF_RB_FORCE_WAKEUP,
    BPF_RB_PROD_POS,
    BPF_RB_RING_SIZE,
)


def ring(size=4096) -> RingBufMap:
    m = Map(BPF_MAP_TYPE_RINGBUF, 0, 0, size)
    assert isinstance(m, RingBufMap)
    return m


def test_create_checks():
    for args in [(0, 0, 1000), (0, 0, 1024), (4, 0, 4096), (0, 4, 4096), (0, 0, 12288)]:
        with pytest.raises(MapError) as ei:
            Map(BPF_MAP_TYPE_RINGBUF, *args)
        assert ei.value.errno == errno.EINVAL
    with pytest.raises(MapError) as ei:
        Map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 1)
    assert ei.value.errno == errno.EINVAL


def test_header_bits_and_order():
    m = ring()
    a = m.reserve(5)
    assert a == 8
    hdr_len, pg_off = struct.unpack_from("<II", m.storage, 0)
    assert hdr_len == 5 | BPF_RINGBUF_BUSY_BIT and pg_off == 3
    b = m.reserve(3)
    assert b == 8 + 16 + 0 and m.query(BPF_RB_PROD_POS) == 32
    m.storage[b : b + 3] = b"two"
    m.submit(b)
    assert m.consume() == []  # the first record is still busy: nothing is readable
    m.storage[a : a + 5] = b"first"
    m.discard(a)
    assert struct.unpack_from("<I", m.storage, 0)[0] == 5 | BPF_RINGBUF_DISCARD_BIT
    assert m.consume() == [b"two"]  # the discarded record is skipped
    assert m.query(BPF_RB_CONS_POS) == 32 and m.query(BPF_RB_AVAIL_DATA) == 0
    assert m.query(BPF_RB_RING_SIZE) == 4096


def test_output_full_and_wrap():
    m = ring()
    assert m.output(b"x" * 100) == 0
    # 104-byte records (96 data + 8 header) until one no longer fits (prod - cons <= 4095)
    n = 1
    while m.output(bytes([n % 256]) * 96) == 0:
        n += 1
    assert n == 39 and m.query(BPF_RB_AVAIL_DATA) == 112 + 38 * 104
    while m.output(b"y") == 0:  # 16-byte records still fit in what is left
        n += 1
    assert m.query(BPF_RB_AVAIL_DATA) == 4080  # one more would make prod - cons 4096
    assert m.output(b"y") == -errno.EAGAIN
    assert m.output(b"y", 1 << 5) == -errno.EINVAL
    assert m.reserve(4096) is None  # larger than the ring
    recs = m.consume()
    assert recs[0] == b"x" * 100 and len(recs) == n
    # now records cross the end of the ring and read back whole
    payload = bytes(range(256)) * 4
    for _ in range(10):
        assert m.output(payload, BPF_RB_FORCE_WAKEUP) == 0
        assert m.consume() == [payload]
    assert m.query(BPF_RB_PROD_POS) > 4096


def test_reserved_sample_wraps_contiguously():
    m = ring()
    m.output(bytes(4000))
    m.consume()
    off = m.reserve(200)  # starts at 4008, runs past the end
    assert off + 200 > 4096
    m.storage[off : off + 200] = bytes(range(200))
    m.submit(off)
    assert m.consume() == [bytes(range(200))]
    assert bytes(m.storage[0:100]) == bytes(range(200))[80:180]


def test_bpf_ops_are_enotsupp():
    m = ring()
    for fn in (m.lookup, m.delete, m.next_key):
        with pytest.raises(MapError) as ei:
            fn(b"")
        assert ei.value.errno == 524
