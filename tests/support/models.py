"""Independent models of the seed's programs (sockex1: packets per IP protocol; sockex2:
flow tracking per IP address), counted with a plain Python parse of each frame."""

from __future__ import annotations

import struct
from collections import Counter

from pybpf.net.capture import open_capture
from support.paths import PCAPS

LINKTYPE_ETHERNET = 1
PACKET_OUTGOING = 4
#: bpf_test_init() refuses more than a page minus headroom and skb_shared_info
TEST_RUN_MAX = 4096 - 64 - 320


def ethernet_captures() -> list[tuple[str, list]]:
    """(name, packets) of every capture whose packets are all Ethernet (damage tolerated)."""
    out = []
    for p in sorted(PCAPS.glob("*.pcap*")):
        try:
            reader = open_capture(p)
        except Exception:  # noqa: BLE001 - not a capture at all: not ours to check here
            continue
        with reader:
            pkts = list(reader.iter_packets(strict=False))
        if all(pk.linktype == LINKTYPE_ETHERNET for pk in pkts):
            out.append((p.name, pkts))
    return out


CAPTURES = ethernet_captures()
IDS = [n for n, _ in CAPTURES]


# ---- independent models (a plain parse of the frames, not a translation of the C) ----------


def model_sockex1(frames: list[tuple[bytes, int]]) -> Counter:
    """Packets per 'IPv4 protocol byte': the byte 9 into a header right after 14 bytes.

    The program does not look at the EtherType, so every frame long enough to hold
    that byte is counted under whatever is there; outgoing packets are skipped.
    """
    c: Counter = Counter()
    for data, pkt_type in frames:
        if pkt_type == PACKET_OUTGOING or len(data) <= 14 + 9:
            continue
        ip = data[14:]
        if data[12:14] == b"\x08\x00" and ip[0] >> 4 == 4:
            assert ip[9] == struct.unpack_from("!BBHHHBB", ip)[6]  # the real protocol field
        c[ip[9]] += 1
    return c


class _Short(Exception):
    """A read past the end of the frame: the program (LD_ABS) ends, nothing counted."""


class _Frame:
    def __init__(self, data: bytes):
        self.d = data

    def u8(self, off: int) -> int:
        if off + 1 > len(self.d):
            raise _Short
        return self.d[off]

    def u16(self, off: int) -> int:
        if off + 2 > len(self.d):
            raise _Short
        return struct.unpack_from("!H", self.d, off)[0]

    def u32(self, off: int) -> int:
        if off + 4 > len(self.d):
            raise _Short
        return struct.unpack_from("!I", self.d, off)[0]


def _ip_header(f: _Frame, off: int, version: int, flow: dict) -> tuple[int, int]:
    """(next protocol, offset after the header) of an IPv4 or IPv6 header at ``off``."""
    if version == 4:
        frag = f.u16(off + 6)
        proto = 0 if frag & 0x3FFF else f.u8(off + 9)  # a fragment has no transport header
        if proto != 47:  # GRE: the outer addresses are not the flow's
            flow["src"], flow["dst"] = f.u32(off + 12), f.u32(off + 16)
        ihl = f.u8(off) & 0x0F
        return proto, off + (20 if f.u8(off) == 0x45 else ihl * 4)
    proto = f.u8(off + 6)
    # IPv6 addresses folded to 32 bits by XOR of their words
    flow["src"] = f.u32(off + 8) ^ f.u32(off + 12) ^ f.u32(off + 16) ^ f.u32(off + 20)
    flow["dst"] = f.u32(off + 24) ^ f.u32(off + 28) ^ f.u32(off + 32) ^ f.u32(off + 36)
    return proto, off + 40


_VERSION_OF = {0x0800: 4, 0x86DD: 6}


def model_sockex2_key(data: bytes) -> int | None:
    """The destination the flow dissector keys a frame by, or None when it is not counted."""
    f = _Frame(data)
    flow = {"src": 0, "dst": 0}
    try:
        off = 14
        etype = f.u16(12)
        for tag in (0x88A8, 0x8100):  # one QinQ outer tag, then one 802.1Q tag
            if etype == tag:
                etype, off = f.u16(off + 2), off + 4
        if etype not in _VERSION_OF:
            return None
        proto, off = _ip_header(f, off, _VERSION_OF[etype], flow)
        if proto == 47:
            flags, inner = f.u16(off), f.u16(off + 2)
            if not flags & (0x0007 | 0x4000):  # version 0, no routing
                off += 4 + 4 * sum(1 for bit in (0x8000, 0x2000, 0x1000) if flags & bit)
                if inner == 0x6558:  # transparent Ethernet bridging: an inner frame
                    inner, off = f.u16(off + 12), off + 14
                if inner == 0x8100:
                    inner, off = f.u16(off + 2), off + 4
                if inner not in _VERSION_OF:
                    return None
                proto, off = _ip_header(f, off, _VERSION_OF[inner], flow)
        elif proto in (4, 41):  # IP-in-IP, IPv6-in-IP
            proto, off = _ip_header(f, off, 4 if proto == 4 else 6, flow)
        if proto == 51:  # AH: the ports are 4 bytes further in
            off += 4
        f.u32(off)  # the ports must be there too
    except _Short:
        return None
    return flow["dst"]


def model_sockex2(frames: list[tuple[bytes, int]]) -> Counter:
    return Counter(k for k in (model_sockex2_key(d) for d, _t in frames) if k is not None)


def as_counts(entries: dict[bytes, bytes]) -> Counter:
    c: Counter = Counter()
    for k, v in entries.items():
        n = struct.unpack("<q", v[:8])[0]
        if n:
            c[int.from_bytes(k, "little")] = n
    return c
