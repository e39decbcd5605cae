"""pybpf.net.socket: the user-space packet socket a program attaches to (and the UDP one).

Semantics checked against net/packet/af_packet.c packet_rcv()/packet_recvmsg() and
net/ipv4/udp.c udp_recvmsg(): the filter's u32 result trims (0 drops), a full receive
queue drops and counts, recvmsg copies through copy_to_iter into scattered buffers and
reports MSG_TRUNC as the kernel does. The live comparison with the kernel's own socket
is tests/test_socket_live.py.
"""

from __future__ import annotations

import errno
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.asm.macros import (
    BPF_ALU64_IMM,
    BPF_EXIT_INSN,
    BPF_LD_ABS,
    BPF_LDX_MEM,
    BPF_MOV64_IMM,
)
from pybpf.errors import BpfError
from pybpf.isa import BPF_ADD, BPF_H, BPF_W
from pybpf.kernel.program import twice_mac_header as kernel_test_run_frame
from pybpf.net.capture import Packet
from pybpf.net.socket import (
    MSG_PEEK,
    MSG_TRUNC,
    PACKET_AUXDATA,
    SOL_PACKET,
    PacketSocket,
    UdpSocket,
    skb_truesize,
)
from pybpf.uapi import BPF_PROG_TYPE_SCHED_CLS, PACKET_HOST, PACKET_OUTGOING
from pybpf.user.program import Program
from support.paths import PCAPS

R0, R1 = 0, 1


def ret(n: int) -> Program:
    """A socket filter returning the constant ``n`` (imm is sign-extended, as in the kernel)."""
    imm = n - (1 << 32) if n >= 1 << 31 else n
    return Program([BPF_MOV64_IMM(R0, imm), BPF_EXIT_INSN()])


def ret_pkt_type_plus_one() -> Program:
    """r0 = skb->pkt_type + 1: the metadata the socket put in the skb, as a length."""
    return Program([BPF_LDX_MEM(BPF_W, R0, R1, 4), BPF_ALU64_IMM(BPF_ADD, R0, 1), BPF_EXIT_INSN()])


def frame(n: int, fill: int = 0) -> bytes:
    """An n-byte IPv4 Ethernet frame (dst 02:..:01 unicast) with a recognisable payload."""
    head = bytes.fromhex("0200000000010200000000020800")
    body = bytes((fill + i) & 0xFF for i in range(max(n - len(head), 0)))
    return (head + body)[:n]


# ---- filter results ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "length", "kept"),
    [
        (0, 60, 0),
        (1, 60, 1),
        (14, 60, 14),
        (59, 60, 59),
        (60, 60, 60),
        (61, 60, 60),
        (0xFFFF, 60, 60),
        (0xFFFF_FFFF, 60, 60),
        (0x1_0000_0000 - 1, 1514, 1514),
    ],
)
def test_return_value_trims_or_drops(result, length, kept):
    s = PacketSocket()
    s.attach(ret(result))
    assert s.deliver(frame(length)) == kept
    if kept:
        assert s.recv(4096) == frame(length)[:kept]
        assert (s.accepted, s.dropped_by_filter, s.delivered_bytes) == (1, 0, kept)
    else:
        assert s.pending() == 0
        assert (s.accepted, s.dropped_by_filter, s.delivered_bytes) == (0, 1, 0)
    assert s.received == 1


def test_no_filter_keeps_everything():
    s = PacketSocket()
    assert s.deliver(frame(100)) == 100
    assert s.recv(200) == frame(100)


def test_filter_sees_the_packet_from_the_mac_header():
    # LD_ABS H [12] is the EtherType when offset 0 is the MAC header
    s = PacketSocket()
    s.attach(Program([BPF_LD_ABS(BPF_H, 12), BPF_EXIT_INSN()]))
    s.deliver(frame(3000))
    assert s.recv(4096) == frame(3000)[:0x0800]
    # a frame too short for the load ends the program with 0: dropped
    s.deliver(frame(13))
    assert s.dropped_by_filter == 1


def test_packet_metadata_reaches_the_skb():
    s = PacketSocket()
    s.attach(ret_pkt_type_plus_one())
    for pkt_type in (PACKET_HOST, 1, 2, 3, PACKET_OUTGOING):
        pkt = Packet(frame(80), orig_len=80, protocol=0x0800, pkt_type=pkt_type, ifindex=1)
        assert s.deliver(pkt) == pkt_type + 1
        n, anc, flags, addr = s.recvmsg_into([bytearray(100)])
        assert n == pkt_type + 1 and flags == 0
        assert addr[1] == 0x0800 and addr[2] == pkt_type and addr[3] == 1
        assert addr[4] == frame(80)[6:12]  # sll_addr: the source MAC


def test_replace_and_detach():
    s = PacketSocket()
    with pytest.raises(BpfError) as e:
        s.detach()
    assert e.value.errno == errno.ENOENT
    s.attach(ret(0))
    s.deliver(frame(60))
    s.attach(ret(20))  # attaching again replaces the filter
    s.deliver(frame(60))
    assert s.recv(100) == frame(60)[:20]
    s.detach()
    s.deliver(frame(60))
    assert s.recv(100) == frame(60)
    assert s.filter is None
    assert (s.received, s.dropped_by_filter, s.accepted) == (3, 1, 2)


def test_only_socket_filters_attach():
    s = PacketSocket()
    p = Program([BPF_MOV64_IMM(R0, 0), BPF_EXIT_INSN()], prog_type=BPF_PROG_TYPE_SCHED_CLS)
    with pytest.raises(BpfError) as e:
        s.attach(p)
    assert e.value.errno == errno.EINVAL


def test_a_python_callable_is_a_filter():
    s = PacketSocket()
    s.attach(lambda skb: skb.len // 2)
    s.deliver(frame(100))
    assert len(s.recv(1000)) == 50


# ---- the receive queue ----------------------------------------------------------------------


def test_queue_overflow_counts_drops_like_rmem():
    s = PacketSocket(rcvbuf=2000)
    ts = skb_truesize(100)
    fits = -(-2000 // ts)  # the room check is before charging: the last one overshoots
    for i in range(fits + 3):
        s.deliver(frame(100, fill=i))
    assert s.pending() == fits and s.queue_drops == 3
    assert s.accepted == fits + 3 and s.stats()["tp_drops"] == 3
    assert s.stats()["tp_packets"] == fits + 3  # PACKET_STATISTICS counts drops in tp_packets
    assert s.rmem_alloc == fits * ts
    assert s.recv(200) == frame(100, fill=0)  # FIFO
    assert s.deliver(frame(100, fill=99)) == 100  # room again
    assert s.delivered_bytes == (fits + 1) * 100


def test_empty_queue_would_block_and_peek_keeps():
    s = PacketSocket()
    with pytest.raises(BlockingIOError):
        s.recvmsg_into([bytearray(10)])
    s.deliver(frame(40))
    buf = bytearray(40)
    assert s.recvmsg_into([buf], MSG_PEEK)[0] == 40
    assert s.pending() == 1
    assert s.recvmsg_into([buf])[0] == 40 and s.pending() == 0


def test_auxdata_reports_original_and_snap_lengths():
    s = PacketSocket(auxdata=True)
    s.attach(ret(30))
    s.deliver(Packet(frame(60), orig_len=1500, protocol=0x0800))
    n, anc, flags, _ = s.recvmsg_into([bytearray(100)], ancbufsize=socket.CMSG_SPACE(20))
    assert n == 30 and flags == 0
    [(level, kind, data)] = anc
    assert (level, kind) == (SOL_PACKET, PACKET_AUXDATA)
    status, tp_len, tp_snaplen, tp_mac, tp_net, tci, tpid = struct.unpack("=IIIHHHH", data)
    assert (tp_len, tp_snaplen, tp_mac, tp_net) == (1500, 30, 0, 14)


def test_bound_socket_ignores_other_devices():
    s = PacketSocket(ifindex=3)
    assert s.deliver(Packet(frame(60), ifindex=4)) == 0
    assert s.received == 0
    assert s.deliver(Packet(frame(60), ifindex=3)) == 60


def test_read_only_buffer_is_refused():
    s = PacketSocket()
    s.deliver(frame(20))
    with pytest.raises(BpfError) as e:
        s.recvmsg_into([b"\0" * 20])
    assert e.value.errno == errno.EFAULT


# ---- recvmsg_into: scattered buffers vs a flat reference -----------------------------------


@settings(max_examples=300, deadline=None)
@given(
    length=st.integers(14, 300),
    result=st.one_of(st.integers(1, 400), st.just(0xFFFF_FFFF)),
    sizes=st.lists(st.integers(0, 64), min_size=0, max_size=7),
    trunc=st.booleans(),
    fill=st.integers(0, 255),
)
def test_recvmsg_into_scattered_matches_flat_reference(length, result, sizes, trunc, fill):
    s = PacketSocket()
    s.attach(ret(result))
    data = frame(length, fill)
    s.deliver(data)
    bufs = [bytearray(b"\xee" * n) for n in sizes]
    nbytes, anc, msg_flags, _addr = s.recvmsg_into(bufs, MSG_TRUNC if trunc else 0)
    # the flat reference: what packet_recvmsg would do with one buffer of the same size
    queued = data[: min(length, result)]
    space = sum(sizes)
    copied = min(len(queued), space)
    flat = queued[:copied] + b"\xee" * (space - copied)
    assert b"".join(bufs) == flat
    assert nbytes == (len(queued) if trunc else copied)
    assert bool(msg_flags & MSG_TRUNC) == (len(queued) > space)
    assert anc == []
    assert s.pending() == 0


# ---- the kernel presentation --------------------------------------------------------------


def test_kernel_test_run_frame_duplicates_the_mac_header():
    f = frame(60)
    data = kernel_test_run_frame(f)
    assert data[:14] == f[:14] and data[14:] == f
    assert kernel_test_run_frame(b"\x01\x02") == b"\x01\x02" + bytes(12) + b"\x01\x02"


# ---- UDP: checksums are verified on delivery to the reader ---------------------------------


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(
    payload: bytes, *, sport=5000, dport=53, good=True, zero=False, src="10.0.0.1", dst="10.0.0.2"
) -> bytes:
    saddr, daddr = socket.inet_aton(src), socket.inet_aton(dst)
    ulen = 8 + len(payload)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = _csum(saddr + daddr + struct.pack("!BBH", 0, 17, ulen) + udp) or 0xFFFF
    if zero:
        c = 0
    elif not good:
        c ^= 0x5A5A
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 1, 0, 64, 17, 0, saddr, daddr)
    iph = iph[:10] + struct.pack("!H", _csum(iph)) + iph[12:]
    return bytes(6) + bytes.fromhex("020000000002") + b"\x08\x00" + iph + udp


def test_udp_good_checksum_is_delivered():
    u = UdpSocket(port=53)
    assert u.deliver(udp_frame(b"hello world")) == 19
    assert u.deliver(udp_frame(b"x", dport=54)) == 0  # another port
    buf = bytearray(64)
    n, anc, flags, addr = u.recvmsg_into([buf])
    assert (n, flags, addr) == (11, 0, ("10.0.0.1", 5000))
    assert bytes(buf[:11]) == b"hello world"


def test_udp_bad_checksum_is_dropped_and_the_next_datagram_read():
    u = UdpSocket()
    u.deliver(udp_frame(b"corrupt", good=False))
    u.deliver(udp_frame(b"fine"))
    a, b = bytearray(3), bytearray(10)
    n, _, flags, _ = u.recvmsg_into([a, b])
    assert n == 4 and bytes(a) + bytes(b[:1]) == b"fine" and flags == 0
    assert u.csum_errors == 1
    u.deliver(udp_frame(b"bad again", good=False))
    with pytest.raises(BlockingIOError):
        u.recvmsg_into([bytearray(20)])
    assert u.csum_errors == 2 and not u.queue


def test_udp_truncation_still_checks_the_whole_datagram():
    u = UdpSocket()
    u.deliver(udp_frame(b"0123456789"))
    u.deliver(udp_frame(b"0123456789", good=False))
    buf = bytearray(4)
    n, _, flags, _ = u.recvmsg_into([buf], MSG_TRUNC)
    assert (n, bytes(buf), flags) == (10, b"0123", MSG_TRUNC)
    with pytest.raises(BlockingIOError):  # the bad one is caught even when truncated
        u.recvmsg_into([bytearray(4)])
    assert u.csum_errors == 1


def test_udp_zero_checksum_means_not_computed():
    u = UdpSocket()
    u.deliver(udp_frame(b"nocsum", zero=True))
    buf = bytearray(10)
    assert u.recvmsg_into([buf])[0] == 6 and bytes(buf[:6]) == b"nocsum"


def test_udp_filter_runs_at_the_udp_header():
    # LD_ABS H [4] reads the UDP length field when offset 0 is the UDP header: the whole
    # datagram is kept. (At the MAC header it would read 0 and drop.)
    u = UdpSocket()
    u.attach(Program([BPF_LD_ABS(BPF_H, 4), BPF_EXIT_INSN()]))
    u.deliver(udp_frame(b"payload!"))
    assert u.dropped_by_filter == 0
    assert u.recvmsg_into([bytearray(20)])[0] == 8
    u.attach(ret(0))
    u.deliver(udp_frame(b"payload!"))
    assert u.dropped_by_filter == 1 and not u.queue


# ---- a KernelProgram attached to the user-space socket: presented as on AF_PACKET ----------


def _frames_for_kernel() -> list[bytes]:

    from pybpf.net.capture import read_packets

    shared = PCAPS
    out = []
    for name in ("dns_udp.pcap", "dns_tcp.pcap", "tftp.pcap", "icmpv6.pcap"):
        out += [p.data for p in read_packets(shared / name)]
    return out


_SKF_NET_OFF, _SKF_LL_OFF = -0x100000, -0x200000


def _programs() -> dict[str, list]:
    from pybpf.asm.macros import BPF_ALU64_REG, BPF_MOV64_REG
    from pybpf.isa import BPF_B

    r6, r7 = 6, 7
    return {
        # relative to skb->data: offset 23 is the IPv4 protocol from the MAC header
        "data": [BPF_MOV64_REG(r6, R1), BPF_LD_ABS(BPF_B, 23), BPF_EXIT_INSN()],
        # relative to the header bases only: the same byte, and the EtherType
        "headers": [BPF_MOV64_REG(r6, R1), BPF_LD_ABS(BPF_B, _SKF_NET_OFF + 9), BPF_EXIT_INSN()],
        "ll": [BPF_MOV64_REG(r6, R1), BPF_LD_ABS(BPF_H, _SKF_LL_OFF + 12), BPF_EXIT_INSN()],
        # both: only a real socket presents this faithfully
        "mixed": [
            BPF_MOV64_REG(r6, R1),
            BPF_LD_ABS(BPF_B, _SKF_NET_OFF + 9),
            BPF_MOV64_REG(r7, R0),
            BPF_LD_ABS(BPF_B, 23),
            BPF_ALU64_REG(BPF_ADD, R0, r7),
            BPF_EXIT_INSN(),
        ],
    }


@pytest.mark.kernel
@pytest.mark.parametrize("kind", ["data", "headers", "ll", "mixed"])
def test_kernel_program_on_the_socket_agrees_with_user_space(kind):
    from conftest import require_bpf
    from pybpf.kernel.program import KernelProgram

    require_bpf()
    insns = _programs()[kind]
    kp = KernelProgram(insns, name=f"sock_{kind}")
    if kind == "mixed" and not hasattr(kp, "run_frame"):
        pytest.skip("KernelProgram.run_frame (a real socket in a netns) is not available")
    user, kern = PacketSocket(), PacketSocket()
    user.attach(Program(insns))
    kern.attach(kp)
    frames = _frames_for_kernel()
    if kind == "mixed":
        frames = frames[:6]  # each one goes through a real veth pair
    try:
        for i, f in enumerate(frames):
            assert kern.deliver(f) == user.deliver(f), (kind, i)
    finally:
        kp.close()
    assert kern.filter_errors == 0
    assert [q.data for q in kern.queue] == [q.data for q in user.queue]
    assert user.accepted > 0
