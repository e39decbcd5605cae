"""The socket a program attaches to: a user-space AF_PACKET SOCK_RAW socket (and a UDP one).

The seed: "Once the program is loaded, it will be run on every packet that
shows up on the given socket."  :class:`PacketSocket` is that socket, modelled
on ``packet_rcv()`` / ``packet_recvmsg()`` in net/packet/af_packet.c:

* the attached program (``SO_ATTACH_BPF``: attaching again replaces the
  filter, ``SO_DETACH_BPF`` removes it, ENOENT when there is none) runs on
  every packet, its data starting at the MAC header (``skb_push`` back to the
  MAC header for SOCK_RAW), with the Packet's protocol / pkt_type / ifindex in
  the sk_buff;
* ``run_filter()`` returns the program's u32 result (or ``skb->len`` without
  a filter); 0 drops the packet *silently* (no counter in the kernel: pybpf
  counts it as ``dropped_by_filter``), otherwise ``snaplen = min(len, res)``;
* a full receive queue (``sk_rmem_alloc >= sk_rcvbuf``, checked before the
  packet is charged, so the last packet may overshoot) drops the packet and
  counts it in ``tp_drops`` (``queue_drops`` here);
* the queued skb is trimmed to ``snaplen``; the original length is kept for
  ``PACKET_AUXDATA``'s ``tp_len``;
* ``recvmsg`` copies ``min(len, buffer space)`` bytes into the caller's
  iov_iter (``skb_copy_datagram_msg`` -> copy_to_iter, scattered buffers in
  order), sets ``MSG_TRUNC`` in msg_flags when the buffers were too small, and
  returns the packet's (trimmed) length when the caller passed ``MSG_TRUNC``,
  the copied length otherwise.

Packet sockets never look at checksums.  UDP sockets do, when the datagram is
copied to the reader (``udp_recvmsg()`` in net/ipv4/udp.c:
``skb_copy_and_csum_datagram_msg``; a mismatch drops the datagram, counts
``UDP_MIB_CSUMERRORS`` and tries the next one).  :class:`UdpSocket` models that
path on :func:`pybpf.iov.udp_recv_to_iter`; its filter runs where
``udp_queue_rcv_one_skb()`` calls ``sk_filter_trim_cap(sk, skb, 8)``: data at
the UDP header, a result N keeps ``max(8, N)`` bytes.
"""

from __future__ import annotations

import errno as E
import os
import socket as _socket
import struct
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import BpfError, IovError, KernelError
from ..uapi import BPF_PROG_TYPE_SOCKET_FILTER, PACKET_HOST, SOL_PACKET
from .linktype import eth_pkt_type
from .skb import ETH_HLEN, ETH_P_IP, SkBuff, Sock

__all__ = [
    "DEFAULT_RCVBUF",
    "MSG_PEEK",
    "MSG_TRUNC",
    "PacketSocket",
    "QueuedPacket",
    "UdpSocket",
    "skb_truesize",
]

MSG_PEEK = _socket.MSG_PEEK
MSG_TRUNC = _socket.MSG_TRUNC
PACKET_AUXDATA = 8
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
_AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata (include/uapi/linux/if_packet.h)
ARPHRD_ETHER = 1
#: net.core.rmem_default on a stock kernel: the receive buffer a new socket gets
DEFAULT_RCVBUF = 212992
#: roughly SKB_TRUESIZE(0): sizeof(struct sk_buff) + sizeof(struct skb_shared_info), aligned
SKB_TRUESIZE_OVERHEAD = 576
UDP_HLEN = 8


def skb_truesize(length: int) -> int:
    """What one queued packet of ``length`` bytes charges to ``sk_rmem_alloc``.

    An approximation of ``skb->truesize`` for a linear skb (data rounded to a
    cache line plus the sk_buff and shared-info overhead); trimming does not
    reduce it, as in the kernel.
    """
    return SKB_TRUESIZE_OVERHEAD + ((length + 63) & ~63)


@dataclass
class QueuedPacket:
    """An accepted packet on the receive queue: trimmed data plus sockaddr_ll facts."""

    data: bytes
    orig_len: int
    protocol: int
    pkt_type: int
    ifindex: int
    hatype: int = ARPHRD_ETHER
    mac_len: int = ETH_HLEN
    vlan_tci: int = 0
    vlan_proto: int = 0
    vlan_present: bool = False
    truesize: int = 0
    addr: bytes = b""


def _ifname(ifindex: int) -> str:
    if ifindex <= 0:
        return ""
    try:
        return _socket.if_indextoname(ifindex)
    except OSError:
        return ""


def _would_block() -> BlockingIOError:
    return BlockingIOError(E.EAGAIN, "Resource temporarily unavailable: the receive queue is empty")


def _build_iter(buffers: Iterable[Any]) -> Any:
    from ..iov import IovIter  # keep import of the socket light

    bufs = list(buffers)
    for i, b in enumerate(bufs):
        mv = memoryview(b)
        if mv.readonly:
            raise BpfError(f"recvmsg_into: buffer {i} is read-only", errno=E.EFAULT)
    return IovIter.from_buffers(bufs)


class _FilterMixin:
    """SO_ATTACH_BPF / SO_DETACH_BPF bookkeeping shared by both sockets."""

    filter: Any = None

    def attach(self, prog: Any) -> None:
        """SO_ATTACH_BPF: run ``prog`` on every packet; replaces an attached filter.

        ``prog`` is a loaded program of either backend (:class:`pybpf.api.Program`:
        anything with ``prog_type`` and ``run(skb)``) or a callable
        ``f(skb) -> int``. Only socket-filter programs attach (EINVAL otherwise,
        as ``sk_attach_bpf`` refuses other types).
        """
        prog_type = getattr(prog, "prog_type", None)
        if prog_type is not None and prog_type != BPF_PROG_TYPE_SOCKET_FILTER:
            raise BpfError(
                f"SO_ATTACH_BPF: program type {prog_type} is not a socket filter", errno=E.EINVAL
            )
        if prog_type is not None and callable(getattr(prog, "run", None)):
            run = prog.run
        elif prog_type is None and callable(prog):
            run = prog
        else:
            raise BpfError("SO_ATTACH_BPF: not a program", errno=E.EINVAL)
        self.filter = prog
        self._runner = self._make_runner(run)

    def attach_filter(self, prog: Any, *, engine: str = "interp") -> None:
        """SO_ATTACH_FILTER: a classic program (instructions, raw ``struct sock_filter``
        bytes or a :class:`pybpf.cbpf.ClassicProgram`), checked and converted as the
        kernel does (EINVAL when bpf_check_classic refuses it); replaces any filter."""
        from ..cbpf.program import ClassicProgram

        if not isinstance(prog, ClassicProgram):
            prog = ClassicProgram(prog, engine=engine)
        self.attach(prog)

    def detach(self) -> None:
        """SO_DETACH_BPF: remove the filter (ENOENT when there is none, as sk_detach_filter)."""
        if self.filter is None:
            raise BpfError("SO_DETACH_BPF: no filter attached", errno=E.ENOENT)
        self.filter = None
        self._runner = None

    def _make_runner(self, run: Callable[[SkBuff], int]) -> Callable[[SkBuff], int]:
        """The filter's verdict on one skb; a packet the program cannot be run on (a frame
        the kernel refuses to test-run, say) counts in ``filter_errors`` and is dropped."""

        def runner(skb: SkBuff) -> int:
            try:
                return int(run(skb)) & 0xFFFF_FFFF
            except KernelError:
                self.filter_errors += 1
                return 0

        return runner

    _runner: Callable[[SkBuff], int] | None = None
    #: packets the filter could not be run on (kernel test runs refused): treated as drops
    filter_errors: int = 0


@dataclass
class PacketSocket(_FilterMixin):
    """A user-space ``socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL))`` (see module doc).

    ``rcvbuf`` is ``SO_RCVBUF`` in bytes of truesize; ``auxdata`` turns on
    ``PACKET_AUXDATA`` control messages; ``ifindex`` is the device the socket
    is bound to (0: any; Packets from other devices are ignored when bound, as
    a bound packet socket's prot_hook sees only its device).
    """

    rcvbuf: int = DEFAULT_RCVBUF
    auxdata: bool = False
    ifindex: int = 0
    sk: Sock = field(default_factory=Sock)
    queue: deque[QueuedPacket] = field(default_factory=deque)
    rmem_alloc: int = 0
    received: int = 0
    #: packets the filter let through (queued or then dropped for lack of room)
    accepted: int = 0
    dropped_by_filter: int = 0
    #: bytes queued after trimming to the filter's result
    delivered_bytes: int = 0
    queue_drops: int = 0

    def __post_init__(self) -> None:
        self.filter = None
        self._runner = None

    # --- receive path -------------------------------------------------------------------
    def _skb_for(self, pkt: Any) -> tuple[SkBuff, int, dict[str, Any]]:
        if isinstance(pkt, SkBuff):
            return (
                pkt,
                pkt.len,
                {
                    "protocol": pkt.protocol,
                    "pkt_type": pkt.pkt_type,
                    "ifindex": pkt.ifindex,
                    "mac_len": ETH_HLEN,
                },
            )
        if isinstance(pkt, (bytes, bytearray, memoryview)):
            data = bytes(pkt)
            # a bare frame: pkt_type as a replayed capture gets it (unicast = PACKET_HOST)
            meta: dict[str, Any] = {
                "protocol": None,
                "pkt_type": eth_pkt_type(data),
                "ifindex": self.ifindex,
                "mac_len": ETH_HLEN,
                "orig_len": len(data),
            }
        else:
            data = pkt.data
            meta = {
                "protocol": pkt.protocol,
                "pkt_type": pkt.pkt_type,
                "ifindex": pkt.ifindex or self.ifindex,
                "mac_len": pkt.mac_len,
                "orig_len": max(pkt.orig_len, len(data)),
                "hatype": getattr(pkt, "hatype", ARPHRD_ETHER),
                "vlan_tci": pkt.vlan_tci,
                "vlan_proto": pkt.vlan_proto,
                "vlan_present": pkt.vlan_present,
            }
        l2 = meta["mac_len"] != 0
        if l2 and len(data) < ETH_HLEN:
            # a runt (a capture's snaplen can cut below the header): a linear skb
            # whose network header would lie past the end
            skb = SkBuff(
                head=bytearray(data),
                mac_off=0,
                network_off=len(data),
                protocol=meta["protocol"] or 0,
                pkt_type=meta["pkt_type"] or PACKET_HOST,
                ifindex=meta["ifindex"],
                sk=self.sk,
            )
        elif l2 and meta["protocol"] is not None and meta["pkt_type"] is not None:
            # the common case, what from_frame() builds, without re-deriving known fields
            skb = SkBuff(
                head=bytearray(data),
                mac_off=0,
                network_off=ETH_HLEN,
                protocol=meta["protocol"],
                pkt_type=meta["pkt_type"],
                ifindex=meta["ifindex"],
                sk=self.sk,
            )
        else:
            skb = SkBuff.from_frame(
                data,
                l2=l2,
                protocol=meta["protocol"],
                pkt_type=meta["pkt_type"],
                ifindex=meta["ifindex"],
                sk=self.sk,
            )
        if meta.get("vlan_present"):
            skb.vlan_present, skb.vlan_tci = 1, meta["vlan_tci"]
            skb.vlan_proto = meta["vlan_proto"]
        meta["protocol"], meta["pkt_type"] = skb.protocol, skb.pkt_type
        return skb, len(data), meta

    def deliver(self, pkt: Any) -> int:
        """packet_rcv(): run the filter on one frame / Packet / SkBuff and queue it.

        Returns the number of bytes queued (0 when the filter or a full queue
        dropped the packet).
        """
        if (
            not isinstance(pkt, (bytes, bytearray, memoryview, SkBuff))
            and self.ifindex
            and getattr(pkt, "ifindex", 0) not in (0, self.ifindex)
        ):
            return 0  # bound to another device: this socket's hook never sees it
        skb, length, meta = self._skb_for(pkt)
        self.received += 1
        res = self._runner(skb) if self._runner is not None else length
        if res == 0:
            self.dropped_by_filter += 1
            return 0
        snaplen = min(length, res)
        self.accepted += 1
        if self.rmem_alloc >= self.rcvbuf:
            self.queue_drops += 1
            return 0
        truesize = skb_truesize(length)
        self.rmem_alloc += truesize
        full = skb.frame() if meta["mac_len"] else skb.tobytes()
        data = full[:snaplen]
        self.queue.append(
            QueuedPacket(
                data,
                meta.get("orig_len", length),
                meta["protocol"],
                meta["pkt_type"],
                meta["ifindex"],
                meta.get("hatype", ARPHRD_ETHER),
                meta["mac_len"],
                meta.get("vlan_tci", 0),
                meta.get("vlan_proto", 0),
                bool(meta.get("vlan_present", False)),
                truesize,
                full[6:12] if meta["mac_len"] else b"",
            )
        )
        self.delivered_bytes += snaplen
        return snaplen

    def deliver_capture(
        self,
        path: str | os.PathLike[str],
        *,
        progress: Callable[[int, int, int], None] | None = None,
    ) -> tuple[int, dict[int, int], Any] | None:
        """Deliver every packet of a capture file natively, as a reader draining the queue
        as fast as it fills, when the attached program can (the JIT's packet runner,
        :class:`pybpf.vm.batch.PacketRunner`): the counters move exactly as
        :meth:`deliver` would move them. Returns (records read, records per link type,
        the capture's damage or None); None when the program cannot (deliver each
        packet instead). ``progress(bytes_read, file_size, packets)`` after each chunk.
        """
        runner_of = getattr(self.filter, "packet_runner", None)
        runner = runner_of() if callable(runner_of) else None
        if runner is None:
            return None
        got = runner.run_capture(path, ifindex=self.ifindex, progress=progress)
        self.received += got.packets
        self.accepted += got.accepted
        self.dropped_by_filter += got.dropped
        self.delivered_bytes += got.delivered_bytes
        return got.records, got.linktypes, got.damage

    def deliver_all(self, packets: Iterable[Any], *, drain: bool = True) -> int:
        """Deliver every packet; with ``drain`` the queue is emptied as a reader would.

        Returns the number of packets accepted by the filter.
        """
        before = self.accepted
        for p in packets:
            self.deliver(p)
            if drain and self.queue:
                self.queue.clear()
                self.rmem_alloc = 0
        return self.accepted - before

    # --- reader side ----------------------------------------------------------------------
    def pending(self) -> int:
        return len(self.queue)

    def recvmsg_into(
        self, buffers: Iterable[Any], flags: int = 0, *, ancbufsize: int = 0
    ) -> tuple[int, list[tuple[int, int, bytes]], int, tuple]:
        """packet_recvmsg() into ``buffers`` (filled in order through copy_to_iter).

        Returns ``(nbytes, ancdata, msg_flags, address)`` like
        ``socket.recvmsg_into``: nbytes is the packet's length with MSG_TRUNC
        in ``flags``, the bytes copied otherwise; msg_flags has MSG_TRUNC when
        the buffers were too small; address is the AF_PACKET tuple
        ``(ifname, proto, pkttype, hatype, addr)``.  ancdata holds a
        PACKET_AUXDATA message when ``auxdata`` is on and ``ancbufsize``
        leaves room.  MSG_PEEK leaves the packet queued.  An empty queue raises
        BlockingIOError (EAGAIN), as a non-blocking socket does.
        """
        from ..iov import copy_to_iter

        it = _build_iter(buffers)
        if not self.queue:
            raise _would_block()
        qp = self.queue[0]
        msg_flags = 0
        copied = len(qp.data)
        if copied > it.count:
            copied = it.count
            msg_flags |= MSG_TRUNC
        got = copy_to_iter(qp.data, copied, it)
        if got != copied:
            raise BpfError(f"recvmsg: copied {got} of {copied} bytes", errno=E.EFAULT)
        if not flags & MSG_PEEK:
            self.queue.popleft()
            self.rmem_alloc -= qp.truesize
        anc: list[tuple[int, int, bytes]] = []
        if self.auxdata and ancbufsize >= _socket.CMSG_SPACE(_AUXDATA.size):
            status = TP_STATUS_USER
            if qp.vlan_present:
                status |= TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID
            anc.append(
                (
                    SOL_PACKET,
                    PACKET_AUXDATA,
                    _AUXDATA.pack(
                        status,
                        qp.orig_len,
                        len(qp.data),
                        0,
                        qp.mac_len,
                        qp.vlan_tci,
                        qp.vlan_proto if qp.vlan_present else 0,
                    ),
                )
            )
        elif self.auxdata and ancbufsize:
            msg_flags |= _socket.MSG_CTRUNC
        address = (_ifname(qp.ifindex), qp.protocol, qp.pkt_type, qp.hatype, qp.addr)
        nbytes = len(qp.data) if flags & MSG_TRUNC else copied
        return nbytes, anc, msg_flags, address

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """socket.recv(): the first ``bufsize`` bytes of the next packet."""
        buf = bytearray(bufsize)
        n, _, _, _ = self.recvmsg_into([buf], flags & ~MSG_TRUNC)
        return bytes(buf[:n])

    # --- counters ---------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """The counters; ``tp_packets``/``tp_drops`` as PACKET_STATISTICS would report them."""
        return {
            "received": self.received,
            "accepted": self.accepted,
            "dropped_by_filter": self.dropped_by_filter,
            "delivered_bytes": self.delivered_bytes,
            "queue_drops": self.queue_drops,
            "filter_errors": self.filter_errors,
            "tp_packets": self.accepted,
            "tp_drops": self.queue_drops,
        }


@dataclass
class _Datagram:
    saddr: bytes
    daddr: bytes
    sport: int
    segment: bytes
    truesize: int


@dataclass
class UdpSocket(_FilterMixin):
    """A user-space IPv4 UDP socket bound to ``port`` (0: any): filter, queue, checksum.

    ``deliver(frame)`` takes an Ethernet frame carrying IPv4/UDP (no VLAN tag,
    no fragments: what ``udp_rcv`` would see after reassembly); other frames are
    ignored.  The filter runs on the skb with ``data`` at the UDP header
    (``sk_filter_trim_cap(sk, skb, sizeof(struct udphdr))``); the checksum is
    verified only when the reader copies the datagram (``recvmsg_into``).
    """

    port: int = 0
    rcvbuf: int = DEFAULT_RCVBUF
    sk: Sock = field(default_factory=Sock)
    queue: deque[_Datagram] = field(default_factory=deque)
    rmem_alloc: int = 0
    received: int = 0
    dropped_by_filter: int = 0
    queue_drops: int = 0
    csum_errors: int = 0
    delivered_bytes: int = 0

    def __post_init__(self) -> None:
        self.filter = None
        self._runner = None

    def deliver(self, frame: Any) -> int:
        """udp_rcv -> udp_queue_rcv_one_skb: filter and queue a datagram; bytes queued."""
        data = bytes(getattr(frame, "data", frame))
        if len(data) < ETH_HLEN + 20 or int.from_bytes(data[12:14], "big") != ETH_P_IP:
            return 0
        ihl = (data[ETH_HLEN] & 0xF) * 4
        if data[ETH_HLEN] >> 4 != 4 or ihl < 20 or data[ETH_HLEN + 9] != 17:
            return 0
        tot_len = int.from_bytes(data[ETH_HLEN + 2 : ETH_HLEN + 4], "big")
        frag = int.from_bytes(data[ETH_HLEN + 6 : ETH_HLEN + 8], "big")
        if frag & 0x3FFF or tot_len < ihl + UDP_HLEN or ETH_HLEN + tot_len > len(data):
            return 0
        ip = data[ETH_HLEN : ETH_HLEN + tot_len]  # ip_rcv trims link-layer padding
        udp = ip[ihl:]
        ulen = int.from_bytes(udp[4:6], "big")
        if ulen < UDP_HLEN or ulen > len(udp):
            return 0  # udp_rcv: short packet
        udp = udp[:ulen]
        dport = int.from_bytes(udp[2:4], "big")
        if self.port and dport != self.port:
            return 0
        self.received += 1
        if self._runner is not None:
            skb = SkBuff.from_frame(data[:ETH_HLEN] + ip[:ihl] + udp, sk=self.sk)
            skb.pull(ETH_HLEN + ihl)  # ip_local_deliver: data at the transport header
            res = self._runner(skb)
            if res == 0:
                self.dropped_by_filter += 1
                return 0
            udp = udp[: max(UDP_HLEN, res)]
        if self.rmem_alloc >= self.rcvbuf:
            self.queue_drops += 1
            return 0
        ts = skb_truesize(len(udp))
        self.rmem_alloc += ts
        self.queue.append(_Datagram(ip[12:16], ip[16:20], int.from_bytes(udp[0:2], "big"), udp, ts))
        return len(udp)

    def recvmsg_into(
        self, buffers: Iterable[Any], flags: int = 0, *, ancbufsize: int = 0
    ) -> tuple[int, list, int, tuple[str, int]]:
        """udp_recvmsg(): copy the payload while verifying the checksum.

        A datagram whose checksum does not match is dropped (``csum_errors``),
        the iterator is left where it was, and the next datagram is tried
        (``csum_copy_err: goto try_again``); BlockingIOError when none is left.
        nbytes is the UDP payload length with MSG_TRUNC in ``flags``, else the
        bytes copied; msg_flags has MSG_TRUNC when the buffers were too small.
        """
        from ..iov import udp_recv_to_iter

        it = _build_iter(buffers)
        while self.queue:
            dg = self.queue[0]
            ulen = len(dg.segment) - UDP_HLEN
            if not flags & MSG_PEEK:
                self.queue.popleft()
                self.rmem_alloc -= dg.truesize
            try:
                copied = udp_recv_to_iter(dg.saddr, dg.daddr, dg.segment, it)
            except IovError as err:
                if err.errno != E.EINVAL:
                    raise
                self.csum_errors += 1
                if flags & MSG_PEEK:
                    self.queue.popleft()
                    self.rmem_alloc -= dg.truesize
                continue
            msg_flags = MSG_TRUNC if copied < ulen else 0
            self.delivered_bytes += copied
            nbytes = ulen if flags & MSG_TRUNC else copied
            return nbytes, [], msg_flags, (_socket.inet_ntoa(dg.saddr), dg.sport)
        raise _would_block()

    def stats(self) -> dict[str, int]:
        return {
            "received": self.received,
            "dropped_by_filter": self.dropped_by_filter,
            "queue_drops": self.queue_drops,
            "csum_errors": self.csum_errors,
            "delivered_bytes": self.delivered_bytes,
        }
