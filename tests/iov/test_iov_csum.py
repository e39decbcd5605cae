"""Checksums: csum_partial/fold/add/block_add against RFC 1071, copying while summing,
and datagram delivery that verifies UDP checksums (real captures from tests/data/pcaps)."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.errors import IovError
from pybpf.iov import (
    ITER_DEST,
    ITER_SOURCE,
    PAGE_SIZE,
    PROT_NONE,
    CsumState,
    IovIter,
    UserMemory,
    csum_add,
    csum_and_copy_from_iter_full,
    csum_and_copy_to_iter,
    csum_block_add,
    csum_fold,
    csum_partial,
    csum_tcpudp_magic,
    iov_iter_discard,
    iov_iter_init,
    iov_iter_kvec,
    skb_copy_and_csum_datagram_msg,
    udp_checksum,
    udp_recv_to_iter,
)
from support.paths import PCAPS  # noqa: E402


def rfc1071(data: bytes) -> int:
    """Reference: big-endian ones'-complement sum, folded (RFC 1071 section 4.1)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def checksum_le(data: bytes) -> int:
    """csum_fold result, as the kernel stores it (host order), for comparing with RFC 1071."""
    return csum_fold(csum_partial(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_csum_partial_matches_rfc1071(data):
    want = ~rfc1071(data) & 0xFFFF  # the checksum field value, big-endian
    got = checksum_le(data)
    assert struct.pack("<H", got) == struct.pack("!H", want)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.data())
def test_block_add_at_any_offset(data, d):
    """Summing pieces and combining with csum_block_add (odd offsets swap bytes) is exact."""
    cuts = sorted(d.draw(st.lists(st.integers(0, len(data)), max_size=6)))
    acc, prev = 0, 0
    for c in cuts + [len(data)]:
        acc = csum_block_add(acc, csum_partial(data[prev:c]), prev)
        prev = c
    assert csum_fold(acc) == csum_fold(csum_partial(data))


def test_csum_add_end_around_carry():
    assert csum_add(0xFFFFFFFF, 1) == 1
    assert csum_add(0x80000000, 0x80000000) == 1
    assert csum_fold(0) == 0xFFFF
    assert csum_fold(0xFFFF) == 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=6), st.integers(0, 3), st.data())
def test_csum_and_copy_to_iter_over_odd_segments(lens, chunks, d):
    data = d.draw(st.binary(min_size=sum(lens), max_size=sum(lens)))
    bufs = [bytearray(n) for n in lens]
    it = iov_iter_kvec(ITER_DEST, bufs)
    st8 = CsumState()
    pos = 0
    step = max(1, len(data) // (chunks + 1))
    while pos < len(data):
        n = csum_and_copy_to_iter(data[pos : pos + step], min(step, len(data) - pos), st8, it)
        pos += n
    assert st8.off == len(data)
    assert b"".join(bufs) == data
    assert csum_fold(st8.csum) == csum_fold(csum_partial(data))


def test_csum_and_copy_to_user_is_all_or_nothing_per_segment():
    mm = UserMemory()
    base = mm.mmap(3 * PAGE_SIZE)
    mm.mprotect(base + PAGE_SIZE, PAGE_SIZE, PROT_NONE)
    it = iov_iter_init(ITER_DEST, [(base, 100), (base + PAGE_SIZE - 10, 50)], mm=mm)
    state = CsumState()
    data = bytes(range(150))
    # the second segment faults 10 bytes in: csum_and_copy_to_user reports it as not copied
    assert csum_and_copy_to_iter(data, 150, state, it) == 100
    assert it.count == 50 and it.iov_offset == 0 and it.nr_segs == 1
    assert csum_fold(state.csum) == csum_fold(csum_partial(data[:100]))


def test_csum_and_copy_to_discard_sums_all():
    it = iov_iter_discard(ITER_DEST, 10)
    state = CsumState()
    assert csum_and_copy_to_iter(b"abcdefghijklmnop", 16, state, it) == 16
    assert state.off == 16 and it.count == 10  # kept kernel quirk: not advanced


def test_csum_and_copy_from_iter_full_reverts_on_short():
    src = [bytearray(b"hello "), bytearray(b"world")]
    it = iov_iter_kvec(ITER_SOURCE, src)
    out = bytearray(20)
    ok, c = csum_and_copy_from_iter_full(out, 20, 0, it)
    assert not ok and c == 0 and it.count == 11 and it.seg_index == 0
    ok, c = csum_and_copy_from_iter_full(out, 11, 0, it)
    assert ok and bytes(out[:11]) == b"hello world"
    assert csum_fold(c) == csum_fold(csum_partial(b"hello world"))


def _udp(saddr: bytes, daddr: bytes, payload: bytes, *, sport=1234, dport=53) -> bytes:
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = udp_checksum(saddr, daddr, seg)
    return seg[:6] + struct.pack("<H", c) + seg[8:]


S, D = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])


def test_udp_checksum_agrees_with_kernel_magic():
    seg = struct.pack("!HHHH", 1, 2, 13, 0) + b"hello"
    c = udp_checksum(S, D, seg)
    assert c == csum_tcpudp_magic(S, D, 13, 17, csum_partial(seg)) or c == 0xFFFF
    ph = S + D + struct.pack("!BBH", 0, 17, 13)
    assert struct.pack("<H", c) == struct.pack("!H", ~rfc1071(ph + seg) & 0xFFFF)


@pytest.mark.parametrize("payload", [b"", b"x", b"odd-length payload", bytes(range(256)) * 5])
def test_good_datagram_delivered(payload):
    seg = _udp(S, D, payload)
    bufs = [bytearray(3), bytearray(len(payload) + 10)]
    it = IovIter.from_buffers(bufs)
    assert udp_recv_to_iter(S, D, seg, it) == len(payload)
    assert (bytes(bufs[0]) + bytes(bufs[1]))[: len(payload)] == payload


@pytest.mark.parametrize("reader", [1000, 5])  # room for all, and a truncating reader
def test_bad_checksum_detected_and_iterator_reverted(reader):
    seg = bytearray(_udp(S, D, b"some payload bytes"))
    seg[12] ^= 0x40
    it = IovIter.from_buffers([bytearray(reader)])
    before = (it.count, it.iov_offset, it.seg_index)
    with pytest.raises(IovError) as e:
        udp_recv_to_iter(S, D, bytes(seg), it)
    assert e.value.errno == errno.EINVAL
    assert (it.count, it.iov_offset, it.seg_index) == before
    # the kernel-style helper returns -EINVAL the same way
    seed = csum_partial(S + D + struct.pack("!BBH", 0, 17, len(seg)))
    assert skb_copy_and_csum_datagram_msg(bytes(seg), 8, it, seed) == -errno.EINVAL
    assert it.count == before[0]


def test_truncating_reader_gets_prefix():
    seg = _udp(S, D, b"0123456789")
    buf = bytearray(4)
    assert udp_recv_to_iter(S, D, seg, IovIter.from_buffers([buf])) == 4
    assert bytes(buf) == b"0123"


def _pcap_udp(path: Path):
    d = path.read_bytes()
    if d[:4] != b"\xd4\xc3\xb2\xa1" or struct.unpack("<I", d[20:24])[0] != 1:
        return
    off = 24
    while off + 16 <= len(d):
        incl = struct.unpack("<I", d[off + 8 : off + 12])[0]
        pkt = d[off + 16 : off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 34 or pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        if ip[9] == 17 and not struct.unpack("!H", ip[6:8])[0] & 0x3FFF:
            yield ip[12:16], ip[16:20], ip[ihl:total]


def test_real_captures_verified_like_rfc1071():
    """Every UDP datagram in the shared captures: delivered iff its checksum is right
    (by an independent RFC 1071 computation) or absent."""
    seen = good = 0
    for path in sorted(PCAPS.glob("*.pcap")):
        for saddr, daddr, seg in _pcap_udp(path):
            seen += 1
            ph = saddr + daddr + struct.pack("!BBH", 0, 17, len(seg))
            valid = seg[6:8] == b"\0\0" or rfc1071(ph + seg) == 0xFFFF
            buf = bytearray(len(seg))
            it = IovIter.from_buffers([buf])
            if valid:
                good += 1
                assert udp_recv_to_iter(saddr, daddr, seg, it) == len(seg) - 8
                assert bytes(buf[: len(seg) - 8]) == seg[8:]
            else:
                with pytest.raises(IovError):
                    udp_recv_to_iter(saddr, daddr, seg, it)
                assert it.count == len(seg)
    assert seen >= 20 and 0 < good < seen
