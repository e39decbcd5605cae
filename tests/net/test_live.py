"""Live AF_PACKET capture on ``lo`` (root): UDP datagrams sent to 127.0.0.1 are seen."""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import subprocess
import time

import pytest

from pybpf.errors import CaptureError
from pybpf.net import linktype as lt
from pybpf.net.capture import Packet
from pybpf.net.live import LiveSource, can_open_packet_socket

_REASON = can_open_packet_socket()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


def _udp_to_lo(payloads: list[bytes]) -> int:
    """Send each payload from an ephemeral port to a bound port on 127.0.0.1."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    port = rx.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for p in payloads:
            tx.sendto(p, ("127.0.0.1", port))
    rx.settimeout(2)
    for _ in payloads:
        rx.recv(2048)
    rx.close()
    return port


def _is_ours(pkt, port: int) -> bool:
    d = pkt.data
    return (
        len(d) >= 42
        and d[12:14] == b"\x08\x00"
        and d[23] == 17
        and int.from_bytes(d[36:38], "big") == port
    )


def test_udp_on_loopback_is_captured():
    tag = os.urandom(6).hex().encode()
    payloads = [b"pybpf-live-%d-" % i + tag for i in range(4)]
    start = time.time_ns()
    with LiveSource("lo") as src:
        src.drain()
        port = _udp_to_lo(payloads)
        seen = []
        for p in src.packets(timeout=3.0):
            if _is_ours(p, port):
                seen.append(p)
                if len(seen) == 2 * len(payloads):
                    break
    # Each datagram shows up once going out and once coming in on lo.
    assert len(seen) == 2 * len(payloads), [p.data[-12:] for p in seen]
    lo = socket.if_nametoindex("lo")
    for p in seen:
        assert p.pkt_type in (lt.PACKET_OUTGOING, lt.PACKET_HOST)
        assert p.data[:12] == bytes(12)  # eth_header() on lo: zero MAC addresses
        assert (p.protocol, p.hatype, p.ifindex, p.mac_len) == (
            lt.ETH_P_IP,
            lt.ARPHRD_LOOPBACK,
            lo,
            14,
        )
        assert p.orig_len == len(p.data) == 14 + 20 + 8 + len(payloads[0])
        assert start - 1_000_000_000 <= p.timestamp_ns <= time.time_ns()
        assert p.data[42:] in payloads
    outgoing = sorted(p.data[42:] for p in seen if p.pkt_type == lt.PACKET_OUTGOING)
    incoming = sorted(p.data[42:] for p in seen if p.pkt_type == lt.PACKET_HOST)
    assert outgoing == incoming == sorted(payloads)


def test_count_snaplen_and_timeout_bounds():
    with LiveSource("lo", snaplen=30) as src:
        src.drain()
        _udp_to_lo([b"x" * 100, b"y" * 100])
        got = list(src.packets(count=2, timeout=3.0))
        assert len(got) == 2
        assert all(len(p.data) == 30 and p.orig_len > 100 for p in got)
        src.drain()
        t0 = time.monotonic()
        quiet = list(src.packets(timeout=0.3, count=10_000))
        assert time.monotonic() - t0 < 2.0
        assert len(quiet) < 10_000


def test_no_such_interface():
    with pytest.raises(CaptureError, match="no such interface"):
        LiveSource("pybpf-nonexistent0")


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


@pytest.fixture
def veth_pair():
    """A private veth pair (deleted afterwards); skipped where it cannot be made."""
    a, b = f"pbv{os.getpid() % 100000}a", f"pbv{os.getpid() % 100000}b"
    made = _ip("link", "add", a, "type", "veth", "peer", "name", b)
    if made.returncode != 0:
        pytest.skip(f"cannot create a veth pair: {made.stderr.strip()}")
    try:
        for dev in (a, b):
            _ip("link", "set", dev, "up")
        yield a, b
    finally:
        _ip("link", "del", a)


def test_veth_rx_vlan_tag_stripped_like_skb_vlan_untag(veth_pair):
    """The receive path moves the outer tag to skb->vlan_tci before packet taps;
    Packet.from_frame(vlan_untag=True) must present a capture the same way."""
    a, b = veth_pair
    marker = os.urandom(8)
    inner = b"\x88\xb5" + marker + bytes(40)  # local experimental EtherType
    tagged = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x81\x00\x20\x07"
    tagged += inner
    with LiveSource(b) as src:
        src.drain()
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as tx:
            tx.bind((a, 0))
            tx.send(tagged)
        got = []
        for p in src.packets(timeout=2.0):
            if marker in p.data:
                got.append(p)
                break
    assert len(got) == 1
    p = got[0]
    model = Packet.from_frame(lt.LINKTYPE_ETHERNET, tagged, vlan_untag=True)
    assert p.pkt_type == lt.PACKET_OTHERHOST  # unicast to an address that is not b's
    assert (p.vlan_present, p.vlan_proto, p.vlan_tci) == (True, lt.ETH_P_8021Q, 0x2007)
    assert p.data == model.data == tagged[:12] + inner
    assert (model.vlan_present, model.vlan_proto, model.vlan_tci) == (True, 0x8100, 0x2007)
    assert p.protocol == model.protocol == 0x88B5


def _ipv4_udp(payload: bytes) -> bytes:
    total = 20 + 8 + len(payload)
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        total,
        1,
        0,
        64,
        17,
        0,
        bytes([10, 99, 0, 1]),
        bytes([10, 99, 0, 2]),
    )
    s = sum(struct.unpack("!10H", hdr))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    hdr = hdr[:10] + struct.pack("!H", ~s & 0xFFFF) + hdr[12:]
    return hdr + struct.pack("!HHHH", 40000, 40001, 8 + len(payload), 0) + payload


@pytest.mark.skipif(not os.path.exists("/dev/net/tun"), reason="no /dev/net/tun")
def test_tun_device_presents_ip_at_offset_0():
    """A header-less device (tun, ARPHRD_NONE): the kernel gives the program the IP
    header at offset 0 — what "device" mode does for raw-IP captures."""
    name = f"pbt{os.getpid() % 100000}"
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", name.encode(), 0x0001 | 0x1000))
        up = _ip("link", "set", name, "up")
        assert up.returncode == 0, up.stderr
        pkt = _ipv4_udp(b"pybpf-tun-" + os.urandom(4).hex().encode())
        seen = {}
        for mode in ("device", "ethernet"):
            with LiveSource(name, mode=mode) as src:
                src.drain()
                os.write(fd, pkt)
                seen[mode] = next(iter(src.packets(timeout=2.0, count=1)), None)
    finally:
        os.close(fd)
    dev, eth = seen["device"], seen["ethernet"]
    assert dev is not None and eth is not None
    assert (dev.data, dev.mac_len, dev.hatype, dev.protocol) == (
        pkt,
        0,
        lt.ARPHRD_NONE,
        lt.ETH_P_IP,
    )
    # The capture reader presents a raw-IP record of the same packet identically.
    for mode, live in seen.items():
        cap = Packet.from_frame(lt.LINKTYPE_RAW, pkt, mode=mode)
        assert (cap.data, cap.mac_len, cap.protocol) == (live.data, live.mac_len, live.protocol)
