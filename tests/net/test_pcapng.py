"""pcapng: sections in both byte orders, several interfaces, timestamp resolutions,
EPB/SPB/PB, skipped blocks, damage.  The files are built here block by block from
the format's definition (draft-ietf-opsawg-pcapng) and, where libpcap can read
them, cross-checked with tcpdump.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from pybpf.errors import CaptureError
from pybpf.net import linktype as lt
from pybpf.net.capture import open_capture, read_packets
from pybpf.net.pcapng import PcapngReader, tsresol
from support.paths import PCAPS  # noqa: E402

TCPDUMP = shutil.which("tcpdump") or next(
    (p for p in ("/usr/sbin/tcpdump", "/usr/bin/tcpdump") if os.path.exists(p)), None
)


def tcpdump_count(path: Path) -> int:
    out = subprocess.run(
        [TCPDUMP, "-r", str(path), "--count"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return int(re.search(r"(\d+) packets?", out.stdout + out.stderr).group(1))


def tcpdump_timestamps(path: Path) -> list[int]:
    out = subprocess.run(
        [TCPDUMP, "-r", str(path), "-nn", "-tt", "--time-stamp-precision=nano"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return [
        int(s) * 1_000_000_000 + int(ns)
        for s, ns in re.findall(r"^(\d+)\.(\d{9}) ", out.stdout, re.M)
    ]


def _opt(code: int, value: bytes, o: str) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack(o + "HH", code, len(value)) + value + bytes(pad)


def _opts(items, o: str) -> bytes:
    if not items:
        return b""
    return b"".join(_opt(c, v, o) for c, v in items) + struct.pack(o + "HH", 0, 0)


def _block(btype: int, body: bytes, o: str) -> bytes:
    body += bytes((-len(body)) % 4)
    n = len(body) + 12
    return struct.pack(o + "II", btype, n) + body + struct.pack(o + "I", n)


def shb(o: str = "<", opts=()) -> bytes:
    body = struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1) + _opts(opts, o)
    return _block(0x0A0D0D0A, body, o)


def idb(linktype: int = 1, snaplen: int = 0, o: str = "<", opts=()) -> bytes:
    return _block(1, struct.pack(o + "HHI", linktype, 0, snaplen) + _opts(opts, o), o)


def epb(iid: int, ts: int, data: bytes, o: str = "<", orig: int | None = None, opts=()) -> bytes:
    body = struct.pack(
        o + "IIIII", iid, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data) if orig is None else orig
    )
    body += data + bytes((-len(data)) % 4) + _opts(opts, o)
    return _block(6, body, o)


def spb(data: bytes, orig: int, o: str = "<") -> bytes:
    return _block(3, struct.pack(o + "I", orig) + data, o)


def pb(iid: int, ts: int, data: bytes, o: str = "<") -> bytes:
    body = struct.pack(o + "HHIIII", iid, 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
    return _block(2, body + data, o)


def frame(n: int) -> bytes:
    return bytes(12) + b"\x08\x00" + bytes([0x45]) + bytes([n]) * (45 + n)


def _reader(data: bytes) -> PcapngReader:
    r = open_capture(io.BytesIO(data))
    assert isinstance(r, PcapngReader)
    return r


def test_shared_pcapng():
    (p,) = read_packets(PCAPS / "bgp-orf.pcapng")
    assert p.linktype == lt.LINKTYPE_LINUX_SLL and p.protocol == lt.ETH_P_IPV6
    assert p.data[12:14] == b"\x86\xdd" and p.data[14] >> 4 == 6
    with open_capture(PCAPS / "icmp-length-zero.pcapng") as r:
        (q,) = list(r)
        assert r.sections[0].option_text(4) is not None  # shb_userappl
        assert r.linktype == 1
    assert q.protocol == lt.ETH_P_IP


def test_tsresol_values():
    assert tsresol(6) == (10**9, 10**6)
    assert tsresol(9) == (10**9, 10**9)
    assert tsresol(0x80 | 10) == (10**9, 1024)


def test_two_sections_both_byte_orders_several_interfaces():
    data = (
        shb("<", [(4, b"pybpf-test")])
        + idb(1, 0, "<")  # default microseconds
        + idb(1, 0, "<", [(9, b"\x09"), (2, b"eth1")])  # nanoseconds
        + idb(1, 0, "<", [(9, bytes([0x80 | 10])), (14, struct.pack("<q", 100))])
        + epb(0, 1_500_000, frame(1))
        + epb(1, 1_500_000_123, frame(2), opts=[(2, struct.pack("<I", 2))])
        + epb(2, 3 * 1024 + 512, frame(3), opts=[(2, struct.pack("<I", 1 | (3 << 2)))])
        + _block(0x00000BAD, b"\x00\x00\x7e\x5b" + b"custom", "<")
        + _block(5, bytes(20), "<")  # interface statistics
        + _block(0x12345678, bytes(8), "<")  # unknown
        + shb(">")
        + idb(lt.LINKTYPE_RAW, 64, ">", [(9, b"\x03")])  # milliseconds
        + epb(0, 2500, bytes([0x45]) + bytes(99), ">")
        + spb(bytes([0x45]) + b"\x04" * 99, 200, ">")
        + pb(0, 7000, frame(5), ">")
    )
    r = _reader(data)
    pkts = list(r.iter_packets(strict=True))
    assert len(pkts) == 6
    assert [p.interface for p in pkts] == [0, 1, 2, 0, 0, 0]
    assert [p.timestamp_ns for p in pkts[:4]] == [
        1_500_000_000,
        1_500_000_123,
        100 * 10**9 + 3_500_000_000,
        2_500_000_000,
    ]
    assert pkts[0].data == frame(1)
    assert pkts[1].pkt_type == lt.PACKET_OUTGOING
    assert pkts[2].pkt_type == lt.PACKET_BROADCAST
    # Second section: raw IP with snaplen 64 — EPB as stored, SPB cut to the snaplen.
    assert pkts[3].linktype == lt.LINKTYPE_RAW and pkts[3].data[12:14] == b"\x08\x00"
    assert len(pkts[3].data) == 14 + 100
    assert pkts[4].data == bytes(12) + b"\x08\x00" + (bytes([0x45]) + b"\x04" * 99)[:64]
    assert pkts[4].orig_len == 200 + 14 and pkts[4].timestamp_ns == 0
    assert pkts[5].timestamp_ns == 7_000_000_000
    assert len(r.sections) == 2 and r.sections[1].byte_order == ">"
    assert r.sections[0].option_text(4) == "pybpf-test"
    assert r.sections[0].interfaces[1].name == "eth1"
    assert r.skipped_blocks == {0xBAD: 1, 5: 1, 0x12345678: 1}


def test_cross_check_with_tcpdump(tmp_path: Path):
    if TCPDUMP is None:
        pytest.skip("tcpdump is not installed: no independent reference")
    data = (
        shb("<")
        + idb(1, 0, "<", [(9, b"\x09")])
        + idb(1, 0, "<")
        + b"".join(
            epb(
                i % 2, 1_700_000_000_000_000_000 // (1 if i % 2 == 0 else 1000) + i * 7919, frame(i)
            )
            for i in range(12)
        )
        + _block(0x40000BAD, b"\x00\x00\x7e\x5b" + b"x" * 9, "<")
        + spb(frame(3), len(frame(3)))
    )
    f = tmp_path / "x.pcapng"
    f.write_bytes(data)
    pkts = read_packets(f)
    assert len(pkts) == tcpdump_count(f) == 13
    assert [p.timestamp_ns for p in pkts[:12]] == tcpdump_timestamps(f)[:12]


@pytest.mark.parametrize(
    "damage,match",
    [
        ("length_not_multiple_of_4", "bad block total length"),
        ("trailer_mismatch", "trailing length"),
        ("absurd", "absurd block total length"),
        ("bad_interface", "interface 5"),
        ("truncated", "truncated"),
        ("caplen_overrun", "exceeds the block"),
    ],
)
def test_damage_after_good_packets(damage, match, caplog):
    good = shb() + idb() + epb(0, 1, frame(1)) + epb(0, 2, frame(2))
    bad = bytearray(epb(0, 3, frame(3)))
    if damage == "length_not_multiple_of_4":
        struct.pack_into("<I", bad, 4, len(bad) - 2)
    elif damage == "trailer_mismatch":
        struct.pack_into("<I", bad, len(bad) - 4, len(bad) + 4)
    elif damage == "absurd":
        struct.pack_into("<I", bad, 4, 0xFFFFFFF0)
    elif damage == "bad_interface":
        struct.pack_into("<I", bad, 8, 5)
    elif damage == "truncated":
        bad = bad[:-7]
    elif damage == "caplen_overrun":
        struct.pack_into("<I", bad, 20, 4000)
    data = good + bytes(bad) + (epb(0, 4, frame(4)) if damage != "truncated" else b"")
    got = []
    with pytest.raises(CaptureError, match=match) as ei:
        for p in _reader(data).iter_packets(strict=True):
            got.append(p.data)
    assert got == [frame(1), frame(2)]
    assert len(good) <= ei.value.offset < len(data)
    r = _reader(data)
    with caplog.at_level(logging.WARNING, logger="pybpf.net.capture"):
        assert len(list(r.iter_packets(strict=False))) == 2
    assert r.error is not None and f"offset {r.error.offset:#x}" in caplog.text


def test_not_starting_with_shb_and_bad_magic():
    with pytest.raises(CaptureError, match="byte-order magic") as ei:
        list(
            _reader(b"\x0a\x0d\x0d\x0a" + struct.pack("<I", 28) + b"XXXX" + bytes(16)).iter_packets(
                strict=True
            )
        )
    assert ei.value.offset == 8
    with pytest.raises(CaptureError, match="version"):
        data = bytearray(shb())
        struct.pack_into("<H", data, 12, 2)
        list(_reader(bytes(data)).iter_packets(strict=True))


def test_malformed_options_are_tolerated():
    bad_opts = struct.pack("<HH", 2, 200) + b"abcd"  # runs past the block
    data = shb() + _block(1, struct.pack("<HHI", 1, 0, 0) + bad_opts, "<") + epb(0, 5, frame(1))
    (p,) = list(_reader(data).iter_packets(strict=True))
    assert p.data == frame(1) and p.timestamp_ns == 5000


def test_fuzz_synthetic_all_block_kinds():
    """Mutations of a file with every block kind and SLL/SLL2/null link types:
    CaptureError or success, never another exception, never a hang."""
    import random

    data = (
        shb("<", [(4, b"fuzz")])
        + idb(1, 0, "<")
        + idb(113, 0, "<", [(9, b"\x09")])
        + idb(276, 0, "<", [(9, bytes([0x80 | 10])), (14, struct.pack("<q", 1))])
        + epb(0, 1, frame(1))
        + epb(1, 2, bytes(16) + frame(2), opts=[(2, struct.pack("<I", 2))])
        + epb(2, 3, bytes(20) + frame(3))
        + _block(0xBAD, b"\x00\x00\x7e\x5b" + b"custom", "<")
        + shb(">")
        + idb(0, 64, ">")
        + epb(0, 4, b"\x02\0\0\0" + frame(4)[14:], ">")
        + spb(frame(4)[14:], 200, ">")
        + pb(0, 7, frame(5), ">")
    )
    assert len(list(_reader(data).iter_packets(strict=True))) == 6
    rng = random.Random(6)
    for k in range(1500):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            buf[rng.randrange(len(buf))] = rng.choice((0, 255, rng.randrange(256)))
        if k % 5 == 0:
            buf = buf[: rng.randrange(len(buf) + 1)]
        try:
            for _p in open_capture(io.BytesIO(bytes(buf))).iter_packets(
                strict=True, mode=("ethernet", "device", "raw")[k % 3], vlan_untag=k % 2 == 0
            ):
                pass
        except CaptureError as err:
            assert err.offset is not None and 0 <= err.offset <= len(buf)
