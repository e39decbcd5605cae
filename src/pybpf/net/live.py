"""A live packet source: an AF_PACKET SOCK_RAW socket bound to one interface.

Needs CAP_NET_RAW (root).  The kernel's packet_rcv() (net/packet/af_packet.c)
queues each frame seen on the device — received (PACKET_HOST, BROADCAST,
MULTICAST, OTHERHOST) and sent (PACKET_OUTGOING, via dev_queue_xmit_nit) — with
the data starting at the MAC header when the device has header_ops, at the
network header otherwise.  recvmsg() gives the frame, a sockaddr_ll
(sll_protocol, sll_pkttype, sll_hatype, sll_ifindex), with PACKET_AUXDATA a
tpacket_auxdata (original length, network offset, VLAN tag the receive path
stripped) and with SO_TIMESTAMPNS the receive time.  Each frame becomes a
pybpf.net.capture.Packet carrying that metadata; header-less devices get an
Ethernet header synthesised in "ethernet" mode exactly as captures do
(pybpf.net.linktype).

On ``lo`` a datagram to 127.0.0.1 is seen twice: once PACKET_OUTGOING as it is
sent and once PACKET_HOST as the loopback device receives it.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

from ..errors import CaptureError
from ..uapi import SOL_PACKET
from . import linktype as lt
from .capture import Packet

ETH_P_ALL = 0x0003
PACKET_AUXDATA = 8
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6

_AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata (include/uapi/linux/if_packet.h)
_TIMESPEC = struct.Struct("=qq")
_ANC_SIZE = socket.CMSG_SPACE(_AUXDATA.size) + socket.CMSG_SPACE(_TIMESPEC.size)

#: Device types without header_ops: their frames start at the network header.
_HEADERLESS_HATYPES = frozenset(
    {
        lt.ARPHRD_NONE,
        lt.ARPHRD_RAWIP,
        lt.ARPHRD_PPP,
        lt.ARPHRD_TUNNEL,
        lt.ARPHRD_TUNNEL6,
        lt.ARPHRD_SIT,
        lt.ARPHRD_IPGRE,
        lt.ARPHRD_IP6GRE,
    }
)


class LiveSource:
    """Packets from a live interface (``LiveSource("lo")``); use as a context manager.

    ``snaplen`` bounds the bytes kept per packet (``orig_len`` stays the full
    length, as MSG_TRUNC reports it); ``mode`` is the link-type presentation
    of pybpf.net.linktype ("ethernet", "device" or "raw"; the latter two both
    give the bytes as the kernel delivered them).
    """

    def __init__(
        self,
        ifname: str,
        *,
        snaplen: int = 65535,
        mode: str = "ethernet",
        protocol: int = ETH_P_ALL,
    ) -> None:
        if mode not in lt.MODES:
            raise ValueError(f"presentation mode must be one of {lt.MODES}, not {mode!r}")
        try:
            self.ifindex = socket.if_nametoindex(ifname)
        except OSError as err:
            raise CaptureError(
                f"no such interface {ifname!r}: {err.strerror}", path=ifname
            ) from err
        self.ifname = ifname
        self.snaplen = snaplen
        self.mode = mode
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(protocol))
        except PermissionError as err:
            raise CaptureError(
                f"AF_PACKET socket on {ifname} needs CAP_NET_RAW (root): {err.strerror}",
                path=ifname,
            ) from err
        try:
            self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.sock.bind((ifname, protocol))
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise
        self._buf = bytearray(snaplen)
        self.received = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def drain(self) -> int:
        """Drop every packet already queued (e.g. traffic from before a test)."""
        n = 0
        while True:
            try:
                self.sock.recv(1, socket.MSG_TRUNC)
            except BlockingIOError:
                return n
            n += 1

    def recv(self, timeout: float | None = None) -> Packet | None:
        """The next packet, or None when ``timeout`` seconds pass without one."""
        if timeout is not None:
            ready, _, _ = select.select([self.sock], [], [], max(timeout, 0.0))
            if not ready:
                return None
        else:
            select.select([self.sock], [], [])
        try:
            nbytes, anc, _flags, addr = self.sock.recvmsg_into(
                [self._buf], _ANC_SIZE, socket.MSG_TRUNC
            )
        except BlockingIOError:
            return None
        self.received += 1
        return self._packet(bytes(self._buf[: min(nbytes, self.snaplen)]), nbytes, anc, addr)

    def _packet(self, data: bytes, nbytes: int, anc: list, addr: tuple) -> Packet:
        _ifname, proto, pkt_type, hatype, _hwaddr = addr[:5]
        ts = time.time_ns()
        vlan_tci = vlan_proto = 0
        vlan_present = False
        orig_len = nbytes
        mac_len = lt.ETH_HLEN if hatype in lt.ETHERNET_HEADER_HATYPES else 0
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                sec, nsec = _TIMESPEC.unpack_from(payload)
                ts = sec * 1_000_000_000 + nsec
            elif level == SOL_PACKET and kind == PACKET_AUXDATA:
                status, tp_len, _snap, _mac, tp_net, tci, tpid = _AUXDATA.unpack_from(payload)
                orig_len = tp_len
                mac_len = tp_net
                if status & TP_STATUS_VLAN_VALID:
                    vlan_present = True
                    vlan_tci = tci
                    vlan_proto = tpid if status & TP_STATUS_VLAN_TPID_VALID else lt.ETH_P_8021Q
        if self.mode == "ethernet" and mac_len == 0 and hatype in _HEADERLESS_HATYPES:
            data = lt.eth_header(proto, len(data)) + data
            orig_len += lt.ETH_HLEN
            mac_len = lt.ETH_HLEN
        return Packet(
            data,
            ts,
            max(orig_len, len(data)),
            lt.LINKTYPE_ETHERNET if mac_len else lt.LINKTYPE_RAW,
            0,
            proto,
            pkt_type,
            self.ifindex,
            hatype,
            mac_len,
            vlan_proto,
            vlan_tci,
            vlan_present,
        )

    def packets(
        self, *, count: int | None = None, timeout: float | None = None
    ) -> Iterator[Packet]:
        """Yield packets until ``count`` have come or ``timeout`` seconds have passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        got = 0
        while count is None or got < count:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            pkt = self.recv(left)
            if pkt is None:
                if left is not None and deadline is not None and time.monotonic() >= deadline:
                    return
                continue
            got += 1
            yield pkt

    def __iter__(self) -> Iterator[Packet]:
        return self.packets()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def can_open_packet_socket() -> str | None:
    """None when AF_PACKET sockets can be opened here, else the reason they cannot."""
    if not hasattr(socket, "AF_PACKET"):
        return "no AF_PACKET on this platform"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "AF_PACKET sockets need root (CAP_NET_RAW)"
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except OSError as err:
        return f"AF_PACKET socket refused: {err.strerror}"
    return None


def open_live(ifname: str, **kwargs: object) -> LiveSource:
    return LiveSource(ifname, **kwargs)  # type: ignore[arg-type]


class LiveFilter:
    """A program filtering a live interface's packets, whichever backend loaded it.

    A program that can attach to a real socket (the kernel backend's: it has
    ``attach(sock)``, SO_ATTACH_BPF) is attached to an AF_PACKET socket bound to
    the interface and the kernel runs it; the packets it keeps are read off the
    socket. Any other program runs in a user-space
    :class:`~pybpf.net.socket.PacketSocket` that a :class:`LiveSource` feeds.
    Either way :meth:`stats` uses the packet socket's counter names (the
    kernel does not count what its filter dropped, so ``received`` and
    ``dropped_by_filter`` are absent for kernel programs).
    """

    def __init__(self, prog: Any, ifname: str) -> None:
        from .socket import PacketSocket

        self.source = LiveSource(ifname)
        self.kernel = callable(getattr(prog, "attach", None))
        self.socket: PacketSocket | None = None
        self._kept = self._kept_bytes = self._drops = 0
        try:
            if self.kernel:
                prog.attach(self.source.sock)
                self.source.drain()  # what arrived before the filter was on
            else:
                self.socket = PacketSocket(ifindex=self.source.ifindex)
                self.socket.attach(prog)
        except BaseException:
            self.source.close()
            raise

    def pump(self, seconds: float) -> None:
        """Handle every packet that arrives in the next ``seconds``."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            pkt = self.source.recv(left)
            if pkt is None:
                continue
            if self.socket is None:
                self._kept += 1
                self._kept_bytes += len(pkt.data)
                continue
            self.socket.deliver(pkt)
            if self.socket.queue:  # nobody reads the socket here: keep it from filling
                self.socket.queue.clear()
                self.socket.rmem_alloc = 0

    def stats(self) -> dict[str, int]:
        """The counters so far (see the class doc)."""
        if self.socket is not None:
            out = self.socket.stats()
            for k in ("tp_packets", "tp_drops"):
                out.pop(k, None)
            return out
        self._drops += _packet_statistics(self.source.sock)[1]
        return {
            "accepted": self._kept,
            "delivered_bytes": self._kept_bytes,
            "queue_drops": self._drops,
        }

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> LiveFilter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


PACKET_STATISTICS = 6
_TPACKET_STATS = struct.Struct("=II")  # struct tpacket_stats


def _packet_statistics(sock: socket.socket) -> tuple[int, int]:
    """getsockopt(PACKET_STATISTICS): (tp_packets, tp_drops) since the last call."""
    try:
        raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _TPACKET_STATS.size)
    except OSError:
        return 0, 0
    packets, drops = _TPACKET_STATS.unpack(raw)
    return packets, drops
