"""PcapngWriter: packets out with a comment and a direction each, read back by pybpf and tcpdump."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from pybpf.net.capture import read_packets
from pybpf.net.pcapng import PcapngWriter
from pybpf.uapi import PACKET_HOST, PACKET_OUTGOING
from support.paths import PCAPS


def test_round_trip_with_comments_directions_and_link_types(tmp_path):
    frames = [p for p in read_packets(PCAPS / "dns_tcp.pcap")]
    out = tmp_path / "out.pcapng"
    with PcapngWriter(out) as w:
        for i, p in enumerate(frames):
            w.write(
                p.data,
                timestamp_ns=p.timestamp_ns,
                orig_len=p.orig_len,
                comment=f"action=PASS #{i}",
                outbound=bool(i % 2),
            )
        w.write(bytes.fromhex("4500001400000000401100000a0000010a000002"), linktype=101)
    assert w.count == len(frames) + 1
    got = read_packets(out)
    assert [p.data for p in got[:-1]] == [p.data for p in frames]
    assert [p.timestamp_ns for p in got[:-1]] == [p.timestamp_ns for p in frames]
    assert [p.comment for p in got[:-1]] == [f"action=PASS #{i}" for i in range(len(frames))]
    assert [p.pkt_type for p in got[:-1:2]] == [PACKET_HOST] * len(got[:-1:2])
    assert {p.pkt_type for p in got[1:-1:2]} == {PACKET_OUTGOING}
    assert got[-1].linktype == 101 and got[-1].comment == ""


def test_empty_comment_and_snaplen(tmp_path):
    out = tmp_path / "cut.pcapng"
    with PcapngWriter(out, snaplen=20) as w:
        w.write(bytes(range(60)))
    (p,) = read_packets(out)
    assert p.data == bytes(range(20)) and p.orig_len == 60 and p.comment == ""


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
def test_tcpdump_reads_it(tmp_path):
    frames = [p.data for p in read_packets(PCAPS / "dns_udp.pcap")]
    out = tmp_path / "t.pcapng"
    with PcapngWriter(out) as w:
        for f in frames:
            w.write(f, comment="seen")
    r = subprocess.run(["tcpdump", "-n", "-r", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == len(frames)
