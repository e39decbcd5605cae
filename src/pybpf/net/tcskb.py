"""A linear sk_buff a program can touch directly: what tc and cgroup_skb programs run on.

The packet sits in one writable buffer (the program's packet region, mapped at
``bpf``): ``head`` is the buffer's start, the packet runs from ``data_off`` to
the tail (``head_len``), the MAC and network headers are at ``mac_off`` and
``network_off`` (buffer offsets, as in :class:`pybpf.net.skb.SkBuff`). The
state lives in :class:`pybpf.vm.native.VmSkb` and :class:`~pybpf.vm.native.VmPkt`
structures, so that a Python helper called from a native run changes the very
packet the native code sees. Reads (``copy_bits``, ``load_abs`` ...) behave as
SkBuff's on a linear skb; the skb-changing operations are the kernel's
mechanics (include/linux/skbuff.h, net/core/skbuff.c): ``push``/``pull`` of
``data``, inserting and removing bytes after the MAC header
(bpf_skb_generic_push/pop in net/core/filter.c), growing and trimming the
tail, the VLAN tag moves of skb_vlan_push/pop, the checksum state
(``ip_summed``, ``csum``, ``csum_level``) and the flow hash. When the buffer
runs out of head- or tailroom the packet moves within it, as
pskb_expand_head() reallocates: packet pointers a program held are then stale,
which is why the verifier forgets them after such a helper.

:meth:`TcSkb.load` builds the skb BPF_PROG_TEST_RUN builds
(net/bpf/test_run.c, bpf_prog_test_run_skb): ``eth_type_trans`` on the
loopback device, ``data`` at the MAC header for tc (``is_l2``) and at the
network header for cgroup_skb, no hash, CHECKSUM_NONE.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from typing import Any

from ..errors import NotSupportedError
from ..vm.native import VmPkt, VmSkb
from .skb import ETH_HLEN, SkbHeaders, SkBuff, Sock, eth_type_trans

__all__ = [
    "CHECKSUM_COMPLETE",
    "CHECKSUM_NONE",
    "CHECKSUM_PARTIAL",
    "CHECKSUM_UNNECESSARY",
    "SKB_HEADROOM",
    "TcSkb",
]

CHECKSUM_NONE = 0
CHECKSUM_UNNECESSARY = 1
CHECKSUM_COMPLETE = 2
CHECKSUM_PARTIAL = 3
#: SKB_MAX_CSUM_LEVEL (include/linux/skbuff.h)
SKB_MAX_CSUM_LEVEL = 3
#: where data starts in a fresh buffer (room for pushed headers without moving)
SKB_HEADROOM = 256
VLAN_HLEN = 4


def _skb_field(name: str, mask: int = 0xFFFF_FFFF) -> property:
    def get(self: TcSkb) -> int:
        return int(getattr(self.skb, name))

    def put(self: TcSkb, value: int) -> None:
        setattr(self.skb, name, int(value) & mask)

    return property(get, put)


def _pkt_field(name: str, mask: int = 0xFFFF_FFFF) -> property:
    def get(self: TcSkb) -> int:
        return int(getattr(self.pkt, name))

    def put(self: TcSkb, value: int) -> None:
        setattr(self.pkt, name, int(value) & mask)

    return property(get, put)


class TcSkb(SkbHeaders):
    """One linear sk_buff in ``buf`` (see module doc)."""

    frags: tuple[()] = ()
    data_len = 0

    def __init__(
        self,
        buf: bytearray,
        skb: VmSkb | None = None,
        pkt: VmPkt | None = None,
        *,
        sk: Sock | None = None,
    ) -> None:
        self.buf = buf
        self._pin: Any = None
        if skb is None or pkt is None:
            skb, pkt = VmSkb(), VmPkt()
            if buf:
                self._pin = ctypes.c_char.from_buffer(buf)
                skb.head = pkt.buf = ctypes.addressof(self._pin)
            pkt.cap = len(buf)
            pkt.trans_off = -1
        self.skb = skb
        self.pkt = pkt
        self.sk = sk
        #: skbs bpf_clone_redirect sent on: (ifindex, flags, frame, timestamp) each
        self.clones: list[tuple[int, int, bytes, int]] = []

    # --- fields --------------------------------------------------------------------------
    pkt_type = _skb_field("pkt_type", 7)
    mark = _skb_field("mark")
    queue_mapping = _skb_field("queue_mapping", 0xFFFF)
    protocol = _skb_field("protocol", 0xFFFF)
    vlan_present = _skb_field("vlan_present", 1)
    vlan_tci = _skb_field("vlan_tci", 0xFFFF)
    vlan_proto = _skb_field("vlan_proto", 0xFFFF)
    priority = _skb_field("priority")
    ingress_ifindex = _skb_field("ingress_ifindex")
    ifindex = _skb_field("ifindex")
    tc_index = _skb_field("tc_index", 0xFFFF)
    hash = _skb_field("hash")
    tc_classid = _skb_field("tc_classid", 0xFFFF)
    napi_id = _skb_field("napi_id")
    wire_len = _skb_field("wire_len")
    gso_segs = _skb_field("gso_segs", 0xFFFF)
    gso_size = _skb_field("gso_size", 0xFFFF)
    tstamp = _skb_field("tstamp", (1 << 64) - 1)
    hwtstamp = _skb_field("hwtstamp", (1 << 64) - 1)
    data_off = _skb_field("data_off", (1 << 64) - 1)
    tail = _skb_field("head_len", (1 << 64) - 1)
    ip_summed = _pkt_field("ip_summed", 3)
    csum = _pkt_field("csum")
    csum_level = _pkt_field("csum_level", 3)
    l4_hash = _pkt_field("l4_hash", 1)
    sw_hash = _pkt_field("sw_hash", 1)
    meta_len = _pkt_field("meta_len")
    encapsulation = _pkt_field("encap", 1)
    tstamp_type = _pkt_field("tstamp_type", 3)

    @property
    def mac_off(self) -> int:
        """The MAC header's buffer offset (-1: none)."""
        return int(self.skb.mac_off)

    @mac_off.setter
    def mac_off(self, v: int) -> None:
        self.skb.mac_off = v

    @property
    def network_off(self) -> int:
        return int(self.skb.net_off)

    @network_off.setter
    def network_off(self, v: int) -> None:
        self.skb.net_off = v

    @property
    def trans_off(self) -> int:
        return int(self.pkt.trans_off)

    @trans_off.setter
    def trans_off(self, v: int) -> None:
        self.pkt.trans_off = v

    @property
    def cb(self) -> memoryview:
        """qdisc_skb_cb.data: what __sk_buff.cb[0..4] maps onto (20 writable bytes)."""
        return memoryview(self.skb.cb).cast("B")

    @property
    def bpf(self) -> int:
        """The program's address of ``head[0]`` (the packet region's base)."""
        return int(self.pkt.bpf)

    @property
    def head(self) -> memoryview:
        """The linear data from the buffer's start to the tail."""
        return memoryview(self.buf)[: self.tail]

    # --- geometry (SkBuff's names) ----------------------------------------------------------
    @property
    def headlen(self) -> int:
        return self.tail - self.data_off

    @property
    def len(self) -> int:
        return self.headlen

    mac_len = _pkt_field("mac_len", 0xFFFF)

    def reset_mac_len(self) -> None:
        """skb_reset_mac_len(): mac_len = network header - MAC header."""
        self.mac_len = self.network_off - self.mac_off

    @property
    def mac_header_len(self) -> int:
        """skb_mac_header_len(): the network header's offset from the MAC header."""
        return self.network_off - self.mac_off

    @property
    def data_end(self) -> int:
        return self.tail

    @property
    def data_meta(self) -> int:
        return self.data_off - self.meta_len

    def segments(self) -> Iterator[memoryview]:
        yield memoryview(self.buf)[self.data_off : self.tail]

    # --- reads (SkBuff's, over a linear skb) -------------------------------------------------
    def copy_bits(self, offset: int, n: int) -> bytes | None:
        """skb_copy_bits(): ``n`` bytes from ``offset`` (relative to ``data``), or None."""
        if n < 0 or offset + n > self.len or offset < -self.data_off:
            return None
        start = self.data_off + offset
        return bytes(self.buf[start : start + n])

    def header_pointer(self, offset: int, n: int) -> bytes | None:
        return self.copy_bits(offset, n)

    def linear_bytes(self, start: int, n: int) -> bytes | None:
        """Head bytes ``[start, start+n)`` (buffer offsets), None past the tail."""
        if start < 0 or n < 0 or start + n > self.tail:
            return None
        return bytes(self.buf[start : start + n])

    load_abs = SkBuff.load_abs

    def tobytes(self) -> bytes:
        """The packet from ``data`` to the tail."""
        return bytes(self.buf[self.data_off : self.tail])

    def frame(self) -> bytes:
        """The packet from the MAC header on (or from ``data`` without one)."""
        start = self.mac_off if self.mac_header_was_set else self.data_off
        return bytes(self.buf[min(start, self.data_off) : self.tail])

    def wire_frame(self) -> bytes:
        """The frame as it goes on the wire: from the MAC header, with an offloaded VLAN
        tag (``vlan_present``) written back after the addresses, as a NIC inserts it."""
        f = self.frame()
        if self.vlan_present and self.mac_header_was_set and len(f) >= 12:
            tag = self.vlan_proto.to_bytes(2, "big") + self.vlan_tci.to_bytes(2, "big")
            f = f[:12] + tag + f[12:]
        return f

    # --- building one -----------------------------------------------------------------------
    def load(
        self,
        frame: bytes | bytearray | memoryview,
        *,
        l2: bool,
        ifindex: int = 1,
        dev_addr: bytes = bytes(6),
        dev_broadcast: bytes = bytes(6),
    ) -> TcSkb:
        """The skb BPF_PROG_TEST_RUN builds from an Ethernet ``frame`` (see module doc):
        ``l2`` leaves ``data`` at the MAC header (tc), else at the network header."""
        n = len(frame)
        if SKB_HEADROOM + n + SKB_HEADROOM > len(self.buf):
            raise NotSupportedError(
                f"a packet of {n} bytes does not fit pybpf's {len(self.buf)}-byte packet buffer"
            )
        start = SKB_HEADROOM
        self._clear(start + n)  # (the headroom: no program or helper can read it)
        self.buf[start : start + n] = frame
        skb, pkt = self.skb, self.pkt
        ctypes.memset(
            ctypes.addressof(skb) + VmSkb.pkt_type.offset,
            0,
            ctypes.sizeof(VmSkb) - VmSkb.pkt_type.offset,
        )
        protocol, pkt_type = eth_type_trans(bytes(frame[:16]), dev_addr, dev_broadcast)
        skb.head_len = start + n
        skb.mac_off = start
        skb.net_off = start + ETH_HLEN
        skb.data_off = start if l2 else start + ETH_HLEN
        skb.protocol = protocol
        skb.pkt_type = pkt_type
        skb.ifindex = ifindex
        pkt.meta_len = pkt.csum = pkt.ip_summed = pkt.csum_level = 0
        pkt.l4_hash = pkt.sw_hash = pkt.encap = pkt.tstamp_type = pkt.mac_len = 0
        pkt.trans_off = -1
        self.clones = []
        return self

    def _clear(self, end: int) -> None:
        hwm = int(self.pkt.hwm)
        if hwm > end:
            self.buf[end:hwm] = bytes(hwm - end)
        self.pkt.hwm = end

    # --- moving data within the buffer (pskb_expand_head's effect) ----------------------------
    def _shift(self, k: int) -> None:
        """Move the whole linear area (headroom included) ``k`` bytes on in the buffer."""
        lo = 0
        hi = self.tail
        if k > 0:
            if hi + k > len(self.buf):
                raise NotSupportedError(
                    f"the packet outgrew pybpf's {len(self.buf)}-byte packet buffer"
                )
            self.buf[lo + k : hi + k] = self.buf[lo:hi]
            self.buf[lo : lo + k] = bytes(k)
        else:
            self.buf[lo : hi + k] = self.buf[lo - k : hi]
        self.data_off += k
        if self.mac_off >= 0:
            self.mac_off += k
        self.network_off += k
        if self.trans_off >= 0:
            self.trans_off += k
        self.tail += k
        self.pkt.hwm = max(int(self.pkt.hwm), self.tail)

    def ensure_headroom(self, n: int) -> None:
        """skb_cow(skb, n): at least ``n`` bytes before ``data`` (may move the packet)."""
        if self.data_off < n:
            self._shift(max(SKB_HEADROOM, n) - self.data_off + 0)

    def ensure_tailroom(self, n: int) -> None:
        """At least ``n`` bytes after the tail (may move the packet towards the start)."""
        room = len(self.buf) - self.tail
        if room < n:
            back = min(self.data_off - min(self.data_off, 64), n - room)
            if back < n - room:
                raise NotSupportedError(
                    f"the packet outgrew pybpf's {len(self.buf)}-byte packet buffer"
                )
            self._shift(-back)

    def push(self, n: int) -> None:
        """__skb_push(): ``data`` moves ``n`` bytes back (headroom must be there)."""
        self.ensure_headroom(n)
        self.data_off -= n

    def pull(self, n: int) -> None:
        """__skb_pull()."""
        self.data_off += n

    def put(self, n: int) -> None:
        """__skb_put() of ``n`` zero bytes at the tail."""
        self.ensure_tailroom(n)
        t = self.tail
        self.buf[t : t + n] = bytes(n)
        self.tail = t + n
        self.pkt.hwm = max(int(self.pkt.hwm), self.tail)

    def trim(self, length: int) -> None:
        """__skb_trim(): keep ``length`` bytes from ``data``."""
        self.tail = self.data_off + length

    def insert(self, off: int, n: int) -> None:
        """bpf_skb_generic_push(): ``n`` zero bytes at ``off`` from ``data``, the bytes
        before them moved back with ``data``."""
        self.push(n)
        d = self.data_off
        self.buf[d : d + off] = self.buf[d + n : d + n + off]
        self.buf[d + off : d + off + n] = bytes(n)

    def remove(self, off: int, n: int) -> None:
        """bpf_skb_generic_pop(): drop ``n`` bytes at ``off``, the bytes before them
        moved on with ``data``."""
        d = self.data_off
        self.buf[d + n : d + n + off] = bytes(self.buf[d : d + off])
        self.pull(n)

    def write(self, off: int, data: bytes) -> None:
        """Bytes at ``off`` from ``data`` (the caller checked the bounds)."""
        s = self.data_off + off
        self.buf[s : s + len(data)] = data

    def record_clone(self, ifindex: int, flags: int) -> None:
        """A copy of the packet as it is now leaves (bpf_clone_redirect)."""
        self.clones.append((ifindex, flags, self.wire_frame(), int(self.pkt.ts_ns)))

    def clear_hash(self) -> None:
        """skb_clear_hash()."""
        self.hash = 0
        self.sw_hash = 0
        self.l4_hash = 0

    def redirect(self, ifindex: int, flags: int) -> None:
        """Record bpf_redirect()'s target (bpf_redirect_info)."""
        self.pkt.ri_ifindex = ifindex & 0xFFFF_FFFF
        self.pkt.ri_flags = flags & 0xFFFF_FFFF

    def __repr__(self) -> str:
        return (
            f"<TcSkb len={self.len} data_off={self.data_off} protocol={self.protocol:#06x} "
            f"vlan={self.vlan_present}>"
        )
