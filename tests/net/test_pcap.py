"""Classic pcap reading/writing, link-type presentation and damage handling.

Reference: tcpdump/libpcap on the same files (packet counts with --count and
every timestamp to the nanosecond), skipped with the reason when tcpdump is
not installed.
"""

from __future__ import annotations

import io
import logging
import os
import random
import re
import shutil
import signal
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.errors import CaptureError
from pybpf.net import linktype as lt
from pybpf.net.capture import Packet, open_capture, read_packets
from pybpf.net.pcap import PcapReader, PcapWriter, write_pcap
from support.paths import PCAPS  # noqa: E402

ALL_CAPTURES = sorted(p for p in PCAPS.glob("*") if p.suffix in (".pcap", ".pcapng"))
TCPDUMP = shutil.which("tcpdump") or next(
    (p for p in ("/usr/sbin/tcpdump", "/usr/bin/tcpdump") if os.path.exists(p)), None
)
_TS_LINE = re.compile(r"^(\d+)\.(\d{9}) ", re.M)


def tcpdump_count(path: Path) -> int:
    out = subprocess.run(
        [TCPDUMP, "-r", str(path), "--count"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    m = re.search(r"(\d+) packets?", out.stdout + out.stderr)
    assert m, out.stdout + out.stderr
    return int(m.group(1))


def tcpdump_timestamps(path: Path) -> list[int]:
    out = subprocess.run(
        [TCPDUMP, "-r", str(path), "-nn", "-tt", "--time-stamp-precision=nano"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return [int(s) * 1_000_000_000 + int(ns) for s, ns in _TS_LINE.findall(out.stdout)]


needs_tcpdump = pytest.mark.skipif(
    TCPDUMP is None,
    reason="tcpdump is not installed (apt install tcpdump) — no independent reference",
)


def test_shared_captures_present():
    assert len(ALL_CAPTURES) >= 23, f"expected the 23 shared captures in {PCAPS}"


@pytest.mark.parametrize("path", ALL_CAPTURES, ids=lambda p: p.name)
def test_shared_capture_reads(path: Path):
    with open_capture(path) as reader:
        pkts = list(reader.iter_packets(strict=True))
        assert reader.error is None
    for p in pkts:
        assert isinstance(p.data, bytes)
        assert p.orig_len >= len(p.data)
        if p.linktype == lt.LINKTYPE_ETHERNET or p.mac_len == lt.ETH_HLEN:
            assert p.protocol == lt.eth_protocol(p.data) or len(p.data) < 14
    if TCPDUMP is None:
        pytest.skip("tcpdump is not installed: packet count not cross-checked")
    assert len(pkts) == tcpdump_count(path)
    ts = tcpdump_timestamps(path)
    assert [p.timestamp_ns for p in pkts] == ts


EXPECTED_COUNTS = {  # verified with `tcpdump -r FILE --count` (tcpdump 4.99.3)
    "802.1ad_QinQ.pcap": 2,
    "IGMP_V2.pcap": 18,
    "LINKTYPE_RAW_ipv4.pcap": 1,
    "bgp-orf.pcapng": 1,
    "dns_tcp.pcap": 11,
    "dns_udp.pcap": 2,
    "empty.pcap": 0,
    "gso-ipv4-vxlan-ipv6.pcap": 1,
    "icmp-length-zero.pcapng": 1,
    "icmpv6.pcap": 5,
    "ipv4_invalid_length.pcap": 1,
    "ipv4_tcp_http_xml.pcap": 1,
    "ipv6-routing-header.pcap": 4,
    "loopback.pcap": 6,
    "mpls-over-udp.pcap": 2,
    "ntp.pcap": 8,
    "pppoe.pcap": 1,
    "tcp-handshake-nano.pcap": 3,
    "tcp_header_heapoverflow.pcap": 1,
    "tcp_rst_data.pcap": 1,
    "tftp.pcap": 7,
    "vxlan.pcap": 10,
    "wccp_redirect_gre.pcap": 1,
}


def test_shared_counts_recorded():
    got = {p.name: len(read_packets(p)) for p in ALL_CAPTURES if p.name in EXPECTED_COUNTS}
    assert got == {k: v for k, v in EXPECTED_COUNTS.items() if k in got}


def test_header_fields():
    with open_capture(PCAPS / "tcp-handshake-nano.pcap") as r:
        assert isinstance(r, PcapReader)
        assert r.nanosecond and r.byte_order == "<" and r.linktype == 113
        assert r.snaplen == 262144
        pkts = list(r)
    # SLL: the kernel's pkt_type and protocol are kept; the frame gets an Ethernet header.
    assert [p.pkt_type for p in pkts] == [lt.PACKET_OUTGOING, lt.PACKET_HOST, lt.PACKET_OUTGOING]
    raw = open(PCAPS / "tcp-handshake-nano.pcap", "rb").read()
    first_caplen = struct.unpack_from("<I", raw, 24 + 8)[0]
    sll = raw[40:56]
    p = pkts[0]
    assert p.protocol == lt.ETH_P_IP and p.hatype == struct.unpack("!H", sll[2:4])[0]
    assert p.data[:6] == bytes(6) and p.data[6:12] == sll[6:12] and p.data[12:14] == b"\x08\x00"
    assert p.data[14:] == raw[56 : 40 + first_caplen]
    assert p.data[14] >> 4 == 4 and p.data[14 + 9] == 6  # IPv4, TCP at LD_ABS 14+9
    assert len(p.data) == first_caplen - 16 + 14


def test_raw_ipv4_modes():
    path = PCAPS / "LINKTYPE_RAW_ipv4.pcap"
    raw = open(path, "rb").read()
    ip = raw[40:]
    eth = read_packets(path)[0]
    assert eth.data == bytes(12) + b"\x08\x00" + ip
    assert (eth.protocol, eth.mac_len, eth.linktype) == (lt.ETH_P_IP, 14, 101)
    dev = read_packets(path, mode="device")[0]
    assert dev.data == ip and dev.mac_len == 0 and dev.protocol == lt.ETH_P_IP
    assert dev.hatype == lt.ARPHRD_NONE
    assert read_packets(path, mode="raw")[0].data == ip
    assert eth.orig_len - len(eth.data) == dev.orig_len - len(dev.data)


@pytest.mark.parametrize(
    "family,big,proto",
    [
        (2, False, lt.ETH_P_IP),
        (2, True, lt.ETH_P_IP),
        (24, False, lt.ETH_P_IPV6),
        (28, True, lt.ETH_P_IPV6),
        (30, False, lt.ETH_P_IPV6),
        (7, False, 0),
    ],
)
def test_null_and_loop(family, big, proto):
    payload = bytes([0x45 if proto != lt.ETH_P_IPV6 else 0x60]) + bytes(39)
    for linktype in (lt.LINKTYPE_NULL, lt.LINKTYPE_LOOP):
        if linktype == lt.LINKTYPE_LOOP:
            big = True
        hdr = family.to_bytes(4, "big" if big else "little")
        p = Packet.from_frame(linktype, hdr + payload)
        assert p.protocol == proto
        assert p.data == bytes(12) + proto.to_bytes(2, "big") + payload
        assert Packet.from_frame(linktype, hdr + payload, mode="device").data == p.data
        assert Packet.from_frame(linktype, hdr + payload, mode="raw").data == hdr + payload


def test_sll2_and_cooked_headerless():
    ip6 = bytes([0x60]) + bytes(39)
    addr = bytes.fromhex("0200aabbccdd") + bytes(2)
    sll2 = struct.pack(
        "!HHIHBB8s", lt.ETH_P_IPV6, 0, 7, lt.ARPHRD_ETHER, lt.PACKET_BROADCAST, 6, addr
    )
    p = Packet.from_frame(lt.LINKTYPE_LINUX_SLL2, sll2 + ip6, orig_len=100)
    assert p.ifindex == 7 and p.pkt_type == lt.PACKET_BROADCAST
    assert p.data == b"\xff" * 6 + addr[:6] + b"\x86\xdd" + ip6
    assert p.orig_len == 100 - 20 + 14
    # A cooked capture from a tun device (ARPHRD_NONE): L3 at offset 0 in device mode.
    sll = struct.pack("!HHH8sH", lt.PACKET_HOST, lt.ARPHRD_NONE, 0, bytes(8), lt.ETH_P_IPV6)
    assert Packet.from_frame(113, sll + ip6, mode="device").data == ip6
    assert Packet.from_frame(113, sll + ip6).data == bytes(12) + b"\x86\xdd" + ip6
    # Multicast: the destination MAC is derived from the IPv4 group (RFC 1112).
    ip4 = bytes([0x45]) + bytes(15) + bytes([224, 0x81, 2, 3])
    sll = struct.pack("!HHH8sH", lt.PACKET_MULTICAST, 1, 6, addr, lt.ETH_P_IP)
    assert Packet.from_frame(113, sll + ip4).data[:6] == bytes.fromhex("01005e010203")


def test_ethernet_metadata():
    bcast = b"\xff" * 6 + bytes(6) + b"\x08\x06" + bytes(28)
    mcast = b"\x01\x00\x5e\x00\x00\x01" + bytes(6) + b"\x08\x00" + bytes(20)
    llc = bytes(12) + b"\x00\x30" + b"\x42\x42\x03" + bytes(45)
    novell = bytes(12) + b"\x00\x30" + b"\xff\xff" + bytes(46)
    assert Packet.from_frame(1, bcast).pkt_type == lt.PACKET_BROADCAST
    assert Packet.from_frame(1, mcast).pkt_type == lt.PACKET_MULTICAST
    assert Packet.from_frame(1, llc).protocol == lt.ETH_P_802_2
    assert Packet.from_frame(1, novell).protocol == lt.ETH_P_802_3
    assert Packet.from_frame(1, b"\x00" * 5).protocol == 0


def test_vlan_untag():
    qinq = read_packets(PCAPS / "802.1ad_QinQ.pcap")[0]
    with open_capture(PCAPS / "802.1ad_QinQ.pcap") as r:
        un = next(r.iter_packets(vlan_untag=True))
    assert un.vlan_present and un.vlan_proto == lt.ETH_P_8021AD
    assert un.data == qinq.data[:12] + qinq.data[16:]
    assert un.vlan_tci == int.from_bytes(qinq.data[14:16], "big")
    assert un.protocol == lt.ETH_P_8021Q  # inner tag stays in the data


@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize("big", [False, True])
def test_writer_round_trip(tmp_path, nano, big):
    frames = [
        Packet.from_frame(
            1,
            bytes([i]) * (60 + i),
            timestamp_ns=1_700_000_000_123_456_789 + i * 1_001_001,
            orig_len=60 + 2 * i,
        )
        for i in range(20)
    ]
    out = tmp_path / "rt.pcap"
    assert write_pcap(out, frames, nanosecond=nano, big_endian=big, snaplen=70) == 20
    with open_capture(out) as r:
        assert r.nanosecond == nano and r.byte_order == (">" if big else "<")
        assert r.snaplen == 70
        back = list(r)
    for a, b in zip(frames, back, strict=True):
        assert b.data == a.data[:70]
        assert b.orig_len == a.orig_len
        assert b.timestamp_ns == (a.timestamp_ns if nano else a.timestamp_ns // 1000 * 1000)
    if TCPDUMP:
        assert tcpdump_count(out) == 20
        assert tcpdump_timestamps(out) == [p.timestamp_ns for p in back]


def _pcap_bytes(records, *, snaplen=65535, linktype=1, magic=0xA1B2C3D4):
    head = struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    body = b"".join(struct.pack("<IIII", 1, 2, len(d), len(d)) + d for d in records)
    return head + body


def test_caplen_over_snaplen_cut_like_libpcap():
    data = _pcap_bytes([b"A" * 50, b"B" * 10], snaplen=20)
    pkts = list(PcapReader(io.BytesIO(data)).iter_packets(strict=True))
    assert [p.data for p in pkts] == [b"A" * 20, b"B" * 10]
    assert pkts[0].orig_len == 50


def test_kuznetzov_and_fcs_bits():
    head = struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1 | 0x04000000 | (2 << 28))
    frame = bytes(12) + b"\x08\x00" + bytes(30)
    rec = struct.pack("<IIIIiHBx", 3, 4, len(frame), len(frame), 5, 0x0800, 3) + frame
    r = PcapReader(io.BytesIO(head + rec))
    assert r.linktype == 1 and r.fcs_len == 4
    (p,) = list(r.iter_packets(strict=True))
    assert (p.ifindex, p.pkt_type, p.data) == (5, lt.PACKET_OTHERHOST, frame)


# --- damage -----------------------------------------------------------------------------


def test_not_a_capture(tmp_path):
    f = tmp_path / "x.pcap"
    f.write_bytes(b"GIF89a" + bytes(40))
    with pytest.raises(CaptureError, match="not a pcap or pcapng") as ei:
        open_capture(f)
    assert ei.value.offset == 0 and "offset 0x0" in str(ei.value)
    f.write_bytes(b"")
    with pytest.raises(CaptureError, match="empty file"):
        open_capture(f)


def test_bad_version():
    data = bytearray(_pcap_bytes([b"x" * 20]))
    data[4] = 9
    with pytest.raises(CaptureError, match="version") as ei:
        PcapReader(io.BytesIO(bytes(data)))
    assert ei.value.offset == 4


@pytest.mark.parametrize("cut,what", [(-5, "packet data"), (-30, "record header")])
def test_truncated(cut, what, caplog):
    data = _pcap_bytes([b"a" * 20, b"b" * 20, b"c" * 20])[:cut]
    r = PcapReader(io.BytesIO(data))
    it = r.iter_packets(strict=True)
    got = []
    with pytest.raises(CaptureError, match=f"truncated {what}") as ei:
        for p in it:
            got.append(p.data)
    assert got == [b"a" * 20, b"b" * 20]
    assert ei.value.offset is not None and f"offset {ei.value.offset:#x}" in str(ei.value)
    # Lenient: the same packets, then a warning naming the offset, error kept on the reader.
    r2 = PcapReader(io.BytesIO(data), path="cut.pcap")
    with caplog.at_level(logging.WARNING, logger="pybpf.net.capture"):
        assert [p.data for p in r2.iter_packets(strict=False)] == got
    assert isinstance(r2.error, CaptureError) and r2.error.offset == ei.value.offset
    assert f"cut.pcap offset {ei.value.offset:#x}" in caplog.text


def test_absurd_caplen():
    data = bytearray(_pcap_bytes([b"a" * 20, b"b" * 20]))
    second = 24 + 16 + 20
    struct.pack_into("<I", data, second + 8, 0x7FFFFFFF)
    r = PcapReader(io.BytesIO(bytes(data)))
    with pytest.raises(CaptureError, match="absurd captured length") as ei:
        list(r.iter_packets(strict=True))
    assert ei.value.offset == second


# --- streaming ------------------------------------------------------------------------------


class _CountingFile(io.BufferedReader):
    max_read = 0

    def read(self, n=-1):
        assert n is not None and n >= 0, "reader must never read the whole file"
        type(self).max_read = max(type(self).max_read, n)
        return super().read(n)


def test_streams_without_loading_whole_file(tmp_path):
    out = tmp_path / "big.pcap"
    frame = bytes(12) + b"\x08\x00" + bytes(1400)
    with PcapWriter(out) as w:
        for i in range(3000):
            w.write(frame, i * 1000)
    size = out.stat().st_size
    with _CountingFile(io.FileIO(out)) as f:
        r = PcapReader(f)
        it = r.iter_packets(strict=True)
        next(it)
        assert f.tell() < size // 10, "first packet must come before the file is read"
        assert sum(1 for _ in it) == 2999
    assert _CountingFile.max_read <= 1 << 20


# --- fuzzing: truncated and mutated shared captures -------------------------------------


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang("reader hung")


def _read_all(data: bytes) -> list[bytes]:
    got: list[bytes] = []
    try:
        reader = open_capture(io.BytesIO(data))
        for p in reader.iter_packets(strict=True):
            got.append(p.data)
    except CaptureError as err:
        assert err.offset is not None
        assert 0 <= err.offset <= len(data)
    return got


@pytest.mark.parametrize("path", ALL_CAPTURES, ids=lambda p: p.name)
def test_fuzz_truncations_and_flips(path: Path):
    data = path.read_bytes()
    full = [p.data for p in read_packets(path)]
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(50)
    try:
        step = max(1, len(data) // 400)
        for cut in range(0, len(data), step):
            got = _read_all(data[:cut])
            assert got == full[: len(got)], f"cut at {cut}: packets before damage changed"
        rng = random.Random(path.name)
        for _ in range(150):
            buf = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(buf))
                buf[i] = rng.choice((0, 0xFF, rng.randrange(256), buf[i] ^ 0x80))
            _read_all(bytes(buf))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


_SOURCES = [p.read_bytes() for p in ALL_CAPTURES if p.stat().st_size > 24]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    src=st.sampled_from(_SOURCES) if _SOURCES else st.just(b""),
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 1 << 16),
)
def test_fuzz_hypothesis(src, edits, cut):
    buf = bytearray(src)
    for pos, val in edits:
        if buf:
            buf[pos % len(buf)] = val
    _read_all(bytes(buf[: max(4, cut % (len(buf) + 1))]))
