"""Live sockets on a private veth pair: pybpf's PacketSocket (fed by LiveSource) vs the kernel's
own AF_PACKET socket with SO_ATTACH_BPF, on the same known frames.

The test creates a network namespace and a veth pair (one end in the namespace, one
here), sends frames from inside the namespace with an AF_PACKET socket, and receives
them on the other end. No addresses are configured (IPv6 is turned off on both ends so
the kernel sends nothing of its own); everything is deleted at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

import pybpf
from conftest import require_bpf
from pybpf.asm.macros import BPF_EXIT_INSN, BPF_MOV64_IMM
from pybpf.kernel.program import KernelProgram
from pybpf.net.live import LiveSource, can_open_packet_socket
from pybpf.net.socket import MSG_TRUNC, PacketSocket
from pybpf.user.program import Program

pytestmark = pytest.mark.kernel

ETH_P_ALL = 0x0003
SNAP = 42  # the trimming filter's result
TAG = os.getpid() % 100000
NS = f"pybpf-t{TAG}"
VA, VB = f"pbA{TAG}", f"pbB{TAG}"

SENDER = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for h in sys.argv[2:]:
    s.send(bytes.fromhex(h))
"""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def _sysctl(path: str) -> None:
    try:
        with open(path, "w") as fh:
            fh.write("1")
    except OSError:
        pass


@pytest.fixture
def veth():
    require_bpf()
    why = can_open_packet_socket()
    if why:
        pytest.skip(why)
    if shutil.which("ip") is None:
        pytest.skip("the ip command (iproute2) is not installed")
    made_ns = False
    try:
        r = _ip("netns", "add", NS, check=False)
        if r.returncode:
            pytest.skip(f"cannot create a network namespace: {r.stderr.strip()}")
        made_ns = True
        _ip("link", "add", VA, "type", "veth", "peer", "name", VB)
        _ip("link", "set", VB, "netns", NS)
        _sysctl(f"/proc/sys/net/ipv6/conf/{VA}/disable_ipv6")
        _ip(
            "netns",
            "exec",
            NS,
            "sysctl",
            "-q",
            "-w",
            f"net.ipv6.conf.{VB}.disable_ipv6=1",
            check=False,
        )
        _ip("link", "set", VA, "up")
        _ip("netns", "exec", NS, "ip", "link", "set", VB, "up")
        with open(f"/sys/class/net/{VA}/address") as fh:
            mac = bytes.fromhex(fh.read().strip().replace(":", ""))
        time.sleep(0.2)
        yield mac
    finally:
        _ip("link", "del", VA, check=False)
        if made_ns:
            _ip("netns", "del", NS, check=False)


def send_from_namespace(frames: list[bytes]) -> None:
    subprocess.run(
        ["ip", "netns", "exec", NS, sys.executable, "-c", SENDER, VB, *[f.hex() for f in frames]],
        check=True,
        timeout=60,
    )


def make_frames(dst_mac: bytes) -> tuple[list[bytes], dict[int, int]]:
    """IPv4-looking frames to ``dst_mac`` with known protocol bytes and lengths."""
    src = bytes.fromhex("02aabbccdd01")
    plan = [(17, 100)] * 5 + [(6, 80)] * 3 + [(1, 60)] * 2 + [(17, 30)]
    frames = []
    for i, (proto, length) in enumerate(plan):
        ip = bytes([0x45, 0, 0, length - 14, 0, i, 0, 0, 64, proto, 0, 0]) + bytes(
            [10, 9, 9, 1, 10, 9, 9, 2]
        )
        body = ip + bytes((i * 7 + j) & 0xFF for j in range(length - 14 - len(ip)))
        frames.append(dst_mac + src + b"\x08\x00" + body)
    counts: dict[int, int] = {}
    for p, _ in plan:
        counts[p] = counts.get(p, 0) + 1
    return frames, counts


def read_counts(m) -> dict[int, int]:
    out = {}
    for k, v in m.items():
        n = int.from_bytes(bytes(v)[:8], "little")
        if n:
            out[int.from_bytes(bytes(k), "little")] = n
    return out


def test_live_counts_and_delivery_match_the_kernel(veth):
    frames, want = make_frames(veth)
    sockex1 = pybpf.load(
        os.path.join(os.path.dirname(__file__), "..", "..", "examples", "sockex1_kern.c")
    )
    ksockex1 = pybpf.load(sockex1.spec, backend="kernel")
    trim_insns = [BPF_MOV64_IMM(0, SNAP), BPF_EXIT_INSN()]
    ktrim = KernelProgram(trim_insns, name="trim42")
    raws = []
    try:
        # the kernel's sockets: one counting (sockex1), one trimming to SNAP bytes
        for prog in (ksockex1.program(), ktrim):
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind((VA, ETH_P_ALL))
            prog.attach(s)
            s.setblocking(False)
            raws.append(s)
        # pybpf's sockets, fed by a live AF_PACKET source on the same device
        count_sock, trim_sock = PacketSocket(), PacketSocket()
        count_sock.attach(sockex1.program())
        trim_sock.attach(Program(trim_insns))
        with LiveSource(VA) as src:
            src.drain()
            send_from_namespace(frames)
            got = list(src.packets(count=len(frames), timeout=5))
        assert [p.data for p in got] == frames
        for p in got:
            count_sock.deliver(p)
            trim_sock.deliver(p)
        time.sleep(0.1)

        assert read_counts(sockex1.maps["proto_count"]) == want
        assert read_counts(ksockex1.maps["proto_count"]) == want
        assert count_sock.received == len(frames) and count_sock.accepted == 0
        assert count_sock.dropped_by_filter == len(frames)
        with pytest.raises(BlockingIOError):
            raws[0].recv(100)  # sockex1 returns 0: the kernel socket got nothing either

        # what recvmsg_into delivers: scattered buffers, with and without MSG_TRUNC
        layouts = [([10, 20, 30], 0), ([5, 7], MSG_TRUNC), ([3, 0, 4], 0), ([64], MSG_TRUNC)]
        assert trim_sock.accepted == len(frames)
        assert trim_sock.delivered_bytes == sum(min(SNAP, len(f)) for f in frames)
        for i, f in enumerate(frames):
            sizes, flags = layouts[i % len(layouts)]
            kb = [bytearray(n) for n in sizes]
            ub = [bytearray(n) for n in sizes]
            kn, _, kflags, kaddr = raws[1].recvmsg_into(kb, 0, flags)
            un, _, uflags, uaddr = trim_sock.recvmsg_into(ub, flags)
            assert (un, uflags & MSG_TRUNC, ub) == (kn, kflags & MSG_TRUNC, kb), i
            assert uaddr[:4] == kaddr[:4] and uaddr[4] == kaddr[4]
            copied = min(SNAP, len(f), sum(sizes))
            assert b"".join(ub)[:copied] == f[:copied]
            assert un == (min(SNAP, len(f)) if flags else copied)
        with pytest.raises(BlockingIOError):
            raws[1].recv(100)
        with pytest.raises(BlockingIOError):
            trim_sock.recv(100)
    finally:
        for s in raws:
            s.close()
        ktrim.close()
        ksockex1.close()
