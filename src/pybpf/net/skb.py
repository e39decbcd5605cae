"""A model ``struct sk_buff``: a linear head plus page fragments, and its metadata.

The bytes of a packet live where the kernel keeps them (include/linux/skbuff.h):
a linear *head* buffer (``head``; ``data`` starts ``data_off`` bytes into it,
the link-layer header at ``mac_off`` and the network header at
``network_off``) followed by page fragments, each a bio_vec
(``bv_page``/``bv_offset``/``bv_len``) over :mod:`pybpf.iov` pages.
``len`` counts every byte from ``data`` to the end, ``data_len`` the bytes in
fragments, so ``headlen = len - data_len`` bytes sit in the head after
``data``.

Reads follow the kernel's helpers:

* :meth:`SkBuff.copy_bits` / :meth:`SkBuff.header_pointer` —
  ``skb_copy_bits()`` / ``skb_header_pointer()``: any range of the packet,
  across the head and any number of fragments (offsets relative to ``data``;
  negative offsets reach back into the head, e.g. the MAC header once ``data``
  has moved past it).
* :meth:`SkBuff.load_abs` — LD_ABS/LD_IND as ``bpf_skb_load_helper_{8,16,32}``
  in net/core/filter.c: big-endian, ``None`` when out of bounds (the program
  then ends returning 0), negative offsets resolved against the ``SKF_NET_OFF``
  and ``SKF_LL_OFF`` bases by ``bpf_skb_load_helper_convert_offset`` and then
  read like any other offset, so they too may reach into fragments (the older
  ``bpf_internal_load_pointer_neg_helper`` stopped at the linear head; the
  2025 rework, in 6.18, does not). ``SKF_AD_OFF`` ancillary loads are
  classic-BPF only: they always fail.

``protocol`` is the EtherType as a number (0x0800 for IPv4); the context a
program reads shows it in network byte order, as ``skb->protocol`` is a
``__be16`` (see :mod:`pybpf.progtypes`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import BpfError
from ..iov.iter import BioVec
from ..iov.page import alloc_page
from ..uapi import (
    PACKET_BROADCAST,
    PACKET_HOST,
    PACKET_MULTICAST,
    PACKET_OTHERHOST,
    SKF_LL_OFF,
    SKF_NET_OFF,
)

__all__ = [
    "ETH_HLEN",
    "ETH_P_802_2",
    "ETH_P_802_3",
    "ETH_P_8021AD",
    "ETH_P_8021Q",
    "ETH_P_IP",
    "ETH_P_IPV6",
    "Frag",
    "SkBuff",
    "Sock",
    "eth_type_trans",
]

ETH_HLEN = 14
ETH_ALEN = 6
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ETH_P_802_3 = 0x0001
ETH_P_802_2 = 0x0004
ETH_P_802_3_MIN = 0x0600
VLAN_HLEN = 4
#: the kernel's cap on one skb's fragments (include/linux/skbuff.h, CONFIG_MAX_SKB_FRAGS)
MAX_SKB_FRAGS = 17
#: sizeof(qdisc_skb_cb.data): what __sk_buff.cb[0..4] maps onto
QDISC_CB_PRIV_LEN = 20
#: overflowuid (kernel/sys.c): what bpf_get_socket_uid returns without a full socket
OVERFLOWUID = 65534

_PAGE_SIZE = 4096


@dataclass
class Sock:
    """The few ``struct sock`` facts a socket filter can ask about."""

    cookie: int = 1
    uid: int = 0
    family: int = 0
    full: bool = True
    netns_cookie: int = 1


@dataclass
class Frag:
    """A fragment over any buffer (``bv_page``), shaped like a bio_vec: what trimming and
    copying an skb leave (skb_trim, skb_copy)."""

    bv_page: Any
    bv_offset: int
    bv_len: int


def _frag_view(frag: Any) -> memoryview:
    """The bytes a fragment (a bio_vec over a Page, or a plain buffer) describes."""
    view = getattr(frag, "view", None)
    if view is not None:
        return view()
    page = getattr(frag, "bv_page", None)
    if page is None:
        return memoryview(frag).cast("B")
    off, n = frag.bv_offset, frag.bv_len
    span = getattr(page, "span", None)
    if span is not None:
        return span(off, n)
    return memoryview(page).cast("B")[off : off + n]


def _new_bvec(chunk: bytes) -> BioVec:
    """A fragment holding ``chunk``: a bio_vec over a fresh page, as skb frags are."""
    page = alloc_page()
    page.data[: len(chunk)] = chunk
    return BioVec(page, len(chunk), 0)


def eth_type_trans(
    frame: bytes | memoryview, dev_addr: bytes = bytes(6), dev_broadcast: bytes = b"\xff" * 6
) -> tuple[int, int]:
    """(protocol, pkt_type) as net/ethernet/eth.c ``eth_type_trans`` derives them.

    ``dev_addr`` and ``dev_broadcast`` are the receiving device's addresses. The
    loopback device, which BPF_PROG_TEST_RUN uses, has both all zeros, so there
    an all-ones destination counts as PACKET_MULTICAST, not PACKET_BROADCAST.
    """
    dst = bytes(frame[0:ETH_ALEN])
    if dst == bytes(dev_addr):
        pkt_type = PACKET_HOST
    elif dst[0] & 1:
        pkt_type = PACKET_BROADCAST if dst == bytes(dev_broadcast) else PACKET_MULTICAST
    else:
        pkt_type = PACKET_OTHERHOST
    proto = int.from_bytes(frame[12:14], "big") if len(frame) >= ETH_HLEN else 0
    if proto >= ETH_P_802_3_MIN:
        return proto, pkt_type
    # 802.3 frame: raw IPX ("Novell") starts with 0xFFFF, otherwise 802.2 LLC
    if bytes(frame[ETH_HLEN : ETH_HLEN + 2]) == b"\xff\xff":
        return ETH_P_802_3, pkt_type
    return ETH_P_802_2, pkt_type


class SkbHeaders:
    """The header offsets both sk_buff models share (skbuff.h's skb_*_offset helpers).

    A subclass has ``len``, ``data_off``, ``mac_off`` (-1: unset) and ``network_off``.
    """

    len: Any
    data_off: Any
    mac_off: Any
    network_off: Any

    def __len__(self) -> int:
        return self.len

    @property
    def mac_header_was_set(self) -> bool:
        return self.mac_off >= 0

    @property
    def mac_offset(self) -> int:
        """skb_mac_offset(): the MAC header relative to ``data`` (negative when pulled)."""
        return self.mac_off - self.data_off

    @property
    def network_offset(self) -> int:
        """skb_network_offset(): the network header relative to ``data``."""
        return self.network_off - self.data_off


@dataclass(eq=False)
class SkBuff(SkbHeaders):
    """The model sk_buff (see module doc). Build one with :meth:`from_frame`."""

    head: bytearray = field(default_factory=bytearray)
    data_off: int = 0
    mac_off: int = -1
    network_off: int = 0
    frags: list[Any] = field(default_factory=list)
    protocol: int = 0
    pkt_type: int = PACKET_HOST
    ifindex: int = 0
    ingress_ifindex: int = 0
    vlan_present: int = 0
    vlan_tci: int = 0
    vlan_proto: int = 0
    mark: int = 0
    hash: int = 0
    priority: int = 0
    queue_mapping: int = 0
    tc_index: int = 0
    tc_classid: int = 0
    napi_id: int = 0
    tstamp: int = 0
    hwtstamp: int = 0
    gso_segs: int = 0
    gso_size: int = 0
    wire_len: int = 0
    cb: bytearray = field(default_factory=lambda: bytearray(QDISC_CB_PRIV_LEN))
    sk: Sock | None = None

    # --- geometry ------------------------------------------------------------------------
    @property
    def headlen(self) -> int:
        """skb_headlen(): bytes of the head from ``data`` to the tail."""
        return len(self.head) - self.data_off

    @property
    def data_len(self) -> int:
        """Bytes held in fragments."""
        return sum(getattr(f, "bv_len", None) or len(_frag_view(f)) for f in self.frags)

    @property
    def len(self) -> int:
        """skb->len: every byte from ``data`` on, head and fragments."""
        return self.headlen + self.data_len

    def segments(self) -> Iterator[memoryview]:
        """The packet from ``data`` on as a sequence of buffers: head, then each fragment."""
        yield memoryview(self.head)[self.data_off :]
        for f in self.frags:
            yield _frag_view(f)

    # --- reads ---------------------------------------------------------------------------
    def copy_bits(self, offset: int, n: int) -> bytes | None:
        """skb_copy_bits(): ``n`` bytes from ``offset`` (relative to ``data``), or None.

        A negative ``offset`` reads head bytes before ``data`` (down to the head's
        start); the range must end at or before ``len``.
        """
        if n < 0 or offset + n > self.len or offset < -self.data_off:
            return None
        head = self.head
        start = self.data_off + offset
        if start + n <= len(head):
            return bytes(head[start : start + n])
        out = bytearray(head[start:]) if start < len(head) else bytearray()
        pos = len(head) - self.data_off  # packet offset where the fragments begin
        want_from = max(offset, pos)
        end = offset + n
        for f in self.frags:
            view = _frag_view(f)
            fend = pos + len(view)
            if fend > want_from and pos < end:
                a = max(want_from, pos) - pos
                b = min(end, fend) - pos
                out += view[a:b]
            pos = fend
            if pos >= end:
                break
        return bytes(out) if len(out) == n else None

    def header_pointer(self, offset: int, n: int) -> memoryview | bytes | None:
        """skb_header_pointer(): a view into the head when linear there, else a copy."""
        start = self.data_off + offset
        if offset >= -self.data_off and n >= 0 and start + n <= len(self.head):
            return memoryview(self.head)[start : start + n]
        return self.copy_bits(offset, n)

    def linear_bytes(self, start: int, n: int) -> bytes | None:
        """Head bytes ``[start, start+n)`` (head offsets), None past the tail.

        What bpf_skb_load_bytes_relative reads: it never looks into fragments.
        """
        if start < 0 or n < 0 or start + n > len(self.head):
            return None
        return bytes(self.head[start : start + n])

    def packet_head(self) -> tuple[bytearray, int]:
        """``(head, data_off)``: the linear data from ``skb->data`` is ``head[data_off:]``
        (pybpf.vm.api.LinearHead: the JIT reads LD_ABS there natively)."""
        return self.head, self.data_off

    def load_abs(self, off: int, size: int) -> int | None:
        """LD_ABS / LD_IND of ``size`` (1, 2, 4) bytes at ``off``: big-endian or None.

        ``off`` is taken as the kernel's ``int``: offsets at or above
        ``SKF_NET_OFF`` (-0x100000) and below 0 count from the network header,
        those in ``[SKF_LL_OFF, SKF_NET_OFF)`` from the MAC header; anything
        lower fails. (``SKF_AD_OFF + k`` lands in the network range and reads
        megabytes past the header: always out of bounds, as in the kernel.)
        """
        off &= 0xFFFF_FFFF
        if off >= 0x8000_0000:
            off -= 1 << 32
        if off < 0:
            if off >= SKF_NET_OFF:
                off = off - SKF_NET_OFF + self.network_offset
            elif off >= SKF_LL_OFF:
                if not self.mac_header_was_set:
                    return None
                off = off - SKF_LL_OFF + self.mac_offset
            else:
                return None
        raw = self.header_pointer(off, size)
        if raw is None:
            return None
        return int.from_bytes(raw, "big")

    # --- whole-packet views --------------------------------------------------------------
    def tobytes(self) -> bytes:
        """The packet from ``data`` to the end, head and fragments joined."""
        return b"".join(bytes(s) for s in self.segments())

    def frame(self) -> bytes:
        """The packet from the MAC header on (what a SOCK_RAW packet socket delivers)."""
        start = self.mac_off if self.mac_header_was_set else self.data_off
        return bytes(self.head[start : self.data_off]) + self.tobytes()

    # --- changes -------------------------------------------------------------------------
    def pull(self, n: int) -> None:
        """skb_pull(): move ``data`` ``n`` bytes forward within the head."""
        if n < 0 or n > self.headlen:
            raise BpfError(f"cannot pull {n} bytes from a {self.headlen}-byte head")
        self.data_off += n

    def push(self, n: int) -> None:
        """skb_push(): move ``data`` ``n`` bytes back (into headroom)."""
        if n < 0 or n > self.data_off:
            raise BpfError(f"cannot push {n} bytes: only {self.data_off} bytes of headroom")
        self.data_off -= n

    def trim(self, n: int) -> None:
        """pskb_trim(): keep the first ``n`` bytes from ``data`` (no-op when longer)."""
        if n >= self.len:
            return
        if n <= self.headlen:
            del self.head[self.data_off + n :]
            self.frags = []
            return
        keep = n - self.headlen
        frags: list[Any] = []
        for f in self.frags:
            if keep <= 0:
                break
            view = _frag_view(f)
            if len(view) <= keep:
                frags.append(f)
                keep -= len(view)
            else:
                frags.append(Frag(bytes(view[:keep]), 0, keep))
                keep = 0
        self.frags = frags

    def copy(self) -> SkBuff:
        """A deep copy (skb_copy): same bytes and metadata, independent buffers."""
        other = SkBuff(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        other.head = bytearray(self.head)
        other.frags = [Frag(bytes(_frag_view(f)), 0, len(_frag_view(f))) for f in self.frags]
        other.cb = bytearray(self.cb)
        return other

    # --- construction --------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls,
        frame: bytes | bytearray | memoryview,
        *,
        linear: int | None = None,
        frag_size: int = _PAGE_SIZE,
        frag_sizes: Sequence[int] | None = None,
        headroom: int = 0,
        pull_mac: bool = False,
        untag_vlan: bool = False,
        dev_addr: bytes = bytes(6),
        dev_broadcast: bytes = b"\xff" * 6,
        ifindex: int = 1,
        ingress_ifindex: int = 0,
        pkt_type: int | None = None,
        protocol: int | None = None,
        mark: int = 0,
        hash: int = 0,
        priority: int = 0,  # noqa: A002
        tstamp: int = 0,
        sk: Sock | None = None,
        l2: bool = True,
    ) -> SkBuff:
        """An sk_buff holding an Ethernet ``frame`` as a receiving device would build it.

        ``linear`` bytes (default: all) go into the head and the rest into page
        fragments of ``frag_size`` bytes (or the sizes in ``frag_sizes``, last one
        repeated) — set it small to exercise reads across fragments. The MAC header
        is at the start; ``protocol`` and ``pkt_type`` come from ``eth_type_trans``
        unless given. By default ``data`` stays at the MAC header, as a SOCK_RAW
        packet socket sees it; ``pull_mac=True`` leaves ``data`` at the network
        header (what BPF_PROG_TEST_RUN gives a socket filter). ``untag_vlan=True``
        strips one outer 802.1Q/802.1ad tag into ``vlan_*`` as ``skb_vlan_untag``
        does on receive (off by default: BPF_PROG_TEST_RUN does not untag).
        ``l2=False`` takes ``frame`` as a bare network packet (raw IP link types):
        no MAC header is set and ``protocol`` defaults from the IP version.
        """
        raw = bytes(frame)
        vlan_present = vlan_tci = vlan_proto = 0
        if l2 and len(raw) < ETH_HLEN:
            # a runt (a capture's snaplen can cut below the header): the MAC header is
            # there, the network header would lie past the end, nothing is known of it
            proto, ptype = protocol or 0, PACKET_HOST if pkt_type is None else pkt_type
            mac_off, net_rel = 0, len(raw)
        elif l2:
            proto, ptype = eth_type_trans(raw, dev_addr, dev_broadcast)
            if (
                untag_vlan
                and proto in (ETH_P_8021Q, ETH_P_8021AD)
                and len(raw) >= ETH_HLEN + VLAN_HLEN
            ):
                vlan_present, vlan_proto = 1, proto
                vlan_tci = int.from_bytes(raw[14:16], "big")
                raw = raw[:12] + raw[16:]
                proto, _ = eth_type_trans(raw, dev_addr)
            mac_off, net_rel = 0, ETH_HLEN
        else:
            version = raw[0] >> 4 if raw else 0
            proto = ETH_P_IPV6 if version == 6 else ETH_P_IP
            ptype = PACKET_HOST
            mac_off, net_rel = -1, 0
        if linear is None:
            linear = len(raw)
        if not 0 <= linear <= len(raw):
            raise BpfError(f"linear={linear} is outside the {len(raw)}-byte frame")
        head = bytearray(headroom) + bytearray(raw[:linear])
        frags: list[Any] = []
        rest = raw[linear:]
        sizes = list(frag_sizes) if frag_sizes else [frag_size]
        i = 0
        while rest:
            n = sizes[min(i, len(sizes) - 1)]
            if n <= 0:
                raise BpfError(f"fragment size {n} must be positive")
            frags.append(_new_bvec(rest[:n]))
            rest = rest[n:]
            i += 1
        skb = cls(
            head=head,
            data_off=headroom,
            mac_off=headroom + mac_off if mac_off >= 0 else -1,
            network_off=headroom + net_rel,
            frags=frags,
            protocol=proto if protocol is None else protocol,
            pkt_type=ptype if pkt_type is None else pkt_type,
            ifindex=ifindex,
            ingress_ifindex=ingress_ifindex,
            vlan_present=vlan_present,
            vlan_tci=vlan_tci,
            vlan_proto=vlan_proto,
            mark=mark,
            hash=hash,
            priority=priority,
            tstamp=tstamp,
            sk=sk,
        )
        if pull_mac and l2:
            if linear < ETH_HLEN:
                raise BpfError("pull_mac needs the Ethernet header in the linear head")
            skb.pull(ETH_HLEN)
        return skb

    @classmethod
    def for_test_run(cls, frame: bytes | bytearray | memoryview, **kw: Any) -> SkBuff:
        """The sk_buff BPF_PROG_TEST_RUN builds for a socket filter (net/bpf/test_run.c).

        The frame goes into a linear buffer on the loopback device (ifindex 1,
        MAC and broadcast address 00:00:00:00:00:00), ``eth_type_trans`` sets protocol and pkt_type and
        pulls the Ethernet header, so ``data`` (and offset 0 of LD_ABS) is the
        network header; the MAC header stays reachable through ``SKF_LL_OFF``.
        ``skb->sk`` is a dummy socket owned by uid 0.
        """
        kw.setdefault("sk", Sock(cookie=1, uid=0))
        return cls.from_frame(
            frame, pull_mac=True, ifindex=1, headroom=64, dev_broadcast=bytes(6), **kw
        )

    def __repr__(self) -> str:
        return (
            f"<SkBuff len={self.len} headlen={self.headlen} frags={len(self.frags)} "
            f"protocol={self.protocol:#06x} pkt_type={self.pkt_type}>"
        )
