"""The helpers that change an skb: store bytes, resize and re-encapsulate, VLAN tags,
hash, type, timestamp, ECN (net/core/filter.c, over pybpf.net.tcskb.TcSkb)."""

from __future__ import annotations

import errno as E
import struct
from typing import Any

from .. import uapi
from ..errors import NotSupportedError
from ..iov.csum import csum_add, csum_sub
from .csum import (
    CHECKSUM_COMPLETE,
    CHECKSUM_NONE,
    _rcsum_pull,
    _rcsum_push,
    _reset_checksum_unnecessary,
)
from .packet import ETH_HLEN, M32, M64, changes, reads
from .util import _neg

__all__ = [
    "flow_hash",
    "get_hash_recalc",
    "get_route_realm",
    "set_hash",
    "set_hash_invalid",
    "skb_adjust_room",
    "skb_change_head",
    "skb_change_proto",
    "skb_change_tail",
    "skb_change_type",
    "skb_ecn_set_ce",
    "skb_pull_data",
    "skb_set_tstamp",
    "skb_store_bytes",
    "skb_vlan_pop",
    "skb_vlan_push",
    "vlan_get_protocol",
]

ENOTSUPP = uapi.ENOTSUPP
INT_MAX = 0x7FFF_FFFF
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
VLAN_HLEN = 4
#: SKB_MAX_ALLOC on x86-64: (PAGE_SIZE << 2) - SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
SKB_MAX_ALLOC = (4096 << 2) - 320
#: BPF_SKB_MAX_LEN: what bpf_skb_adjust_room may grow a packet to
BPF_SKB_MAX_LEN = SKB_MAX_ALLOC
#: enum skb_tstamp_type / BPF_SKB_CLOCK_* (include/uapi/linux/bpf.h)
BPF_SKB_CLOCK_REALTIME, BPF_SKB_CLOCK_MONOTONIC, BPF_SKB_CLOCK_TAI = 0, 1, 2

_ADJ_ROOM_ENCAP_L3 = uapi.BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | uapi.BPF_F_ADJ_ROOM_ENCAP_L3_IPV6
_ADJ_ROOM_DECAP_L3 = uapi.BPF_F_ADJ_ROOM_DECAP_L3_IPV4 | uapi.BPF_F_ADJ_ROOM_DECAP_L3_IPV6
_ADJ_ROOM_MASK = (
    uapi.BPF_F_ADJ_ROOM_FIXED_GSO
    | _ADJ_ROOM_ENCAP_L3
    | uapi.BPF_F_ADJ_ROOM_ENCAP_L4_GRE
    | uapi.BPF_F_ADJ_ROOM_ENCAP_L4_UDP
    | uapi.BPF_F_ADJ_ROOM_ENCAP_L2_ETH
    | (uapi.BPF_ADJ_ROOM_ENCAP_L2_MASK << uapi.BPF_ADJ_ROOM_ENCAP_L2_SHIFT)
    | _ADJ_ROOM_DECAP_L3
)


def _s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


# --- writing and resizing skbs -----------------------------------------------------------------


@changes("skb")
def skb_store_bytes(env: Any, skb: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_store_bytes(skb, offset, from, len, flags)."""
    offset, n, flags = r2 & M32, r4 & M32, r5 & M64
    if flags & ~(uapi.BPF_F_RECOMPUTE_CSUM | uapi.BPF_F_INVALIDATE_HASH) & M64:
        return _neg(E.EINVAL)
    if offset > INT_MAX:
        return _neg(E.EFAULT)
    if offset + n > skb.len:  # bpf_try_make_writable(skb, offset + len)
        return _neg(E.EFAULT)
    data = env.mem.read(r3, n)
    if flags & uapi.BPF_F_RECOMPUTE_CSUM:
        _rcsum_pull(skb, offset, n)
    skb.write(offset, data)
    if flags & uapi.BPF_F_RECOMPUTE_CSUM:
        _rcsum_push(skb, offset, n)
    if flags & uapi.BPF_F_INVALIDATE_HASH:
        skb.clear_hash()
    return 0


@changes("skb")
def skb_pull_data(env: Any, skb: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_skb_pull_data(skb, len): make the first ``len`` bytes linear (they are)."""
    if (r2 & M32) > skb.len:
        return _neg(E.ENOMEM)
    return 0


def _min_len(skb: Any) -> int:
    """__bpf_skb_min_len(): the packet may not lose its network (or transport) header."""
    min_len = 0
    off = skb.network_off - skb.data_off
    if off > 0:
        min_len = off
    if skb.trans_off >= 0:
        off = skb.trans_off - skb.data_off
        if off > 0:
            min_len = off
    return min_len


def _max_len(env: Any, skb: Any) -> int:
    """__bpf_skb_max_len(): what bpf_skb_change_tail/head may grow a packet to; on Linux
    6.18 a test run's skb gets SKB_MAX_ALLOC (checked on the kernel)."""
    return SKB_MAX_ALLOC


@changes("skb")
def skb_change_tail(env: Any, skb: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_skb_change_tail(skb, len, flags): grow (with zeros) or trim the packet."""
    new_len, flags = r2 & M32, r3 & M64
    if flags or new_len > _max_len(env, skb) or new_len < _min_len(skb):
        return _neg(E.EINVAL)
    if skb.encapsulation:
        return _neg(ENOTSUPP)
    old = skb.len
    if new_len > old:
        skb.put(new_len - old)
    elif new_len < old:
        skb.trim(new_len)
        if skb.ip_summed == CHECKSUM_COMPLETE:
            skb.ip_summed = CHECKSUM_NONE
    return 0


@changes("skb")
def skb_change_head(env: Any, skb: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_skb_change_head(skb, len, flags): ``len`` zero bytes before the packet, which
    become its MAC header (an L3 packet made ready for an L2 device)."""
    room, flags = r2 & M32, r3 & M64
    new_len = skb.len + room
    if flags or (not skb.gso_size and new_len > _max_len(env, skb)) or new_len > M32:
        return _neg(E.EINVAL)
    skb.push(room)
    skb.write(0, bytes(room))
    skb.mac_off = skb.data_off
    skb.reset_mac_len()
    return 0


@changes("skb")
def skb_change_type(env: Any, skb: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_skb_change_type(skb, type): set pkt_type (host .. otherhost only)."""
    t = r2 & M32
    if skb.pkt_type > uapi.PACKET_OTHERHOST or t > uapi.PACKET_OTHERHOST:
        return _neg(E.EINVAL)
    skb.pkt_type = t
    return 0


def _net_hdr_push(skb: Any, off: int, n: int) -> None:
    """bpf_skb_net_hdr_push(): ``n`` zero bytes at ``off`` (from the MAC header)."""
    trans_same = skb.trans_off == skb.network_off
    skb.insert(off, n)
    skb.mac_off -= n
    skb.network_off -= n
    if trans_same:
        skb.trans_off = skb.network_off


def _net_hdr_pop(skb: Any, off: int, n: int) -> int:
    """bpf_skb_net_hdr_pop(): ``n`` bytes at ``off`` go."""
    if off + n > skb.len:
        return _neg(E.ENOMEM)
    trans_same = skb.trans_off == skb.network_off
    _rcsum_pull(skb, off, n)
    skb.remove(off, n)
    skb.mac_off += n
    skb.network_off += n
    if trans_same:
        skb.trans_off = skb.network_off
    return 0


def _no_gso(skb: Any, what: str) -> None:
    if skb.gso_size:
        raise NotSupportedError(
            f"bpf_{what} on a GSO skb (gso_size {skb.gso_size}) is not modelled by pybpf"
        )


@changes("skb")
def skb_change_proto(env: Any, skb: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_skb_change_proto(skb, proto, flags): room for an IPv6 header in place of an
    IPv4 one or the reverse (bpf_skb_proto_xlat); the program writes the header."""
    to = int.from_bytes((r2 & 0xFFFF).to_bytes(2, "little"), "big")
    if r3 & M64:
        return _neg(E.EINVAL)
    off = skb.mac_header_len
    if skb.protocol == ETH_P_IP and to == ETH_P_IPV6:
        _no_gso(skb, "skb_change_proto")
        _net_hdr_push(skb, off, 20)
        skb.protocol = ETH_P_IPV6
        skb.clear_hash()
        return 0
    if skb.protocol == ETH_P_IPV6 and to == ETH_P_IP:
        _no_gso(skb, "skb_change_proto")
        ret = _net_hdr_pop(skb, off, 20)
        if ret:
            return ret
        skb.protocol = ETH_P_IP
        skb.clear_hash()
        return 0
    return _neg(ENOTSUPP)


@changes("skb")
def skb_adjust_room(env: Any, skb: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_skb_adjust_room(skb, len_diff, mode, flags): make or take room after the MAC
    header (BPF_ADJ_ROOM_MAC) or after the network header (BPF_ADJ_ROOM_NET)."""
    len_diff, mode, flags = _s32(r2), r3 & M32, r4 & M64
    shrink = len_diff < 0
    n = abs(len_diff)
    proto = skb.protocol
    if flags & ~(_ADJ_ROOM_MASK | uapi.BPF_F_ADJ_ROOM_NO_CSUM_RESET) & M64:
        return _neg(E.EINVAL)
    if n > 0xFFF:
        return _neg(E.EFAULT)
    if proto not in (ETH_P_IP, ETH_P_IPV6):
        return _neg(ENOTSUPP)
    base = 20 if proto == ETH_P_IP else 40
    len_min = base
    off = skb.mac_header_len
    if mode == uapi.BPF_ADJ_ROOM_NET:
        off += base
    elif mode != uapi.BPF_ADJ_ROOM_MAC:
        return _neg(ENOTSUPP)
    decap = flags & _ADJ_ROOM_DECAP_L3
    if decap:
        if not shrink:
            return _neg(E.EINVAL)
        if decap == uapi.BPF_F_ADJ_ROOM_DECAP_L3_IPV4:
            len_min = 20
        elif decap == uapi.BPF_F_ADJ_ROOM_DECAP_L3_IPV6:
            len_min = 40
        else:
            return _neg(E.EINVAL)
    len_cur = skb.len - (skb.network_off - skb.data_off)
    if (shrink and (n >= len_cur or len_cur - n < len_min)) or (
        not shrink and skb.len + n > BPF_SKB_MAX_LEN and not skb.gso_size
    ):
        return _neg(ENOTSUPP)
    _no_gso(skb, "skb_adjust_room")
    ret = _net_shrink(skb, off, n, flags) if shrink else _net_grow(skb, off, n, flags)
    if not ret and not flags & uapi.BPF_F_ADJ_ROOM_NO_CSUM_RESET:
        _reset_checksum_unnecessary(skb)
    return ret


def _net_grow(skb: Any, off: int, n: int, flags: int) -> int:
    """bpf_skb_net_grow()."""
    encap = flags & _ADJ_ROOM_ENCAP_L3
    inner_mac_len = (flags >> uapi.BPF_ADJ_ROOM_ENCAP_L2_SHIFT) & uapi.BPF_ADJ_ROOM_ENCAP_L2_MASK
    mac_len = 0
    if encap:
        if flags & _ADJ_ROOM_ENCAP_L3 == _ADJ_ROOM_ENCAP_L3:
            return _neg(E.EINVAL)
        l4 = uapi.BPF_F_ADJ_ROOM_ENCAP_L4_GRE | uapi.BPF_F_ADJ_ROOM_ENCAP_L4_UDP
        if flags & l4 == l4:
            return _neg(E.EINVAL)
        if flags & uapi.BPF_F_ADJ_ROOM_ENCAP_L2_ETH and inner_mac_len != ETH_HLEN:
            return _neg(E.EINVAL)
        if skb.encapsulation:
            return _neg(E.EALREADY)
        mac_len = skb.network_off - skb.mac_off
        if inner_mac_len > n:
            return _neg(E.EINVAL)
    _net_hdr_push(skb, off, n)
    if encap:
        skb.encapsulation = 1
        skb.network_off = skb.mac_off + mac_len
        if flags & (uapi.BPF_F_ADJ_ROOM_ENCAP_L4_GRE | uapi.BPF_F_ADJ_ROOM_ENCAP_L4_UDP):
            nh = 40 if flags & uapi.BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 else 20
            skb.trans_off = skb.mac_off + mac_len + nh
        if skb.protocol == ETH_P_IP and flags & uapi.BPF_F_ADJ_ROOM_ENCAP_L3_IPV6:
            skb.protocol = ETH_P_IPV6
        elif skb.protocol == ETH_P_IPV6 and flags & uapi.BPF_F_ADJ_ROOM_ENCAP_L3_IPV4:
            skb.protocol = ETH_P_IP
    return 0


def _net_shrink(skb: Any, off: int, n: int, flags: int) -> int:
    """bpf_skb_net_shrink()."""
    allowed = uapi.BPF_F_ADJ_ROOM_FIXED_GSO | _ADJ_ROOM_DECAP_L3 | uapi.BPF_F_ADJ_ROOM_NO_CSUM_RESET
    if flags & ~allowed & M64:
        return _neg(E.EINVAL)
    ret = _net_hdr_pop(skb, off, n)
    if ret:
        return ret
    if skb.protocol == ETH_P_IP and flags & uapi.BPF_F_ADJ_ROOM_DECAP_L3_IPV6:
        skb.protocol = ETH_P_IPV6
    elif skb.protocol == ETH_P_IPV6 and flags & uapi.BPF_F_ADJ_ROOM_DECAP_L3_IPV4:
        skb.protocol = ETH_P_IP
    return 0


# --- VLAN tags -----------------------------------------------------------------------------------


def _is_vlan(proto: int) -> bool:
    return proto in (ETH_P_8021Q, ETH_P_8021AD)


def _vlan_pop_data(skb: Any) -> int:
    """__skb_vlan_pop(): the tag after the MAC addresses leaves the data; its TCI."""
    if skb.data_off != skb.mac_off:
        return _neg(E.EINVAL)
    if skb.len < ETH_HLEN + VLAN_HLEN:  # skb_ensure_writable(skb, VLAN_ETH_HLEN)
        return _neg(E.ENOMEM)
    d = skb.data_off
    tci = int.from_bytes(skb.buf[d + 14 : d + 16], "big")
    encap = int.from_bytes(skb.buf[d + 16 : d + 18], "big")
    _rcsum_pull(skb, 12, VLAN_HLEN)
    skb.buf[d + VLAN_HLEN : d + VLAN_HLEN + 12] = bytes(skb.buf[d : d + 12])
    skb.pull(VLAN_HLEN)
    skb.mac_off += VLAN_HLEN
    if skb.network_off - skb.data_off < ETH_HLEN:
        skb.network_off = skb.data_off + ETH_HLEN
    skb.reset_mac_len()
    if encap >= 0x0600:  # vlan_set_encap_proto()
        skb.protocol = encap
    elif (
        len(skb.buf) >= skb.data_off + 16
        and bytes(skb.buf[skb.data_off + 14 : skb.data_off + 16]) == b"\xff\xff"
    ):
        skb.protocol = 0x0001  # ETH_P_802_3
    else:
        skb.protocol = 0x0004  # ETH_P_802_2
    return tci


@changes("skb")
def skb_vlan_push(env: Any, skb: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_skb_vlan_push(skb, proto, tci): the tag goes to the skb (offloaded); a tag it
    already had goes into the packet first (skb_vlan_push)."""
    proto = int.from_bytes((r2 & 0xFFFF).to_bytes(2, "little"), "big")
    if not _is_vlan(proto):
        proto = ETH_P_8021Q
    if skb.vlan_present:
        if skb.data_off != skb.mac_off:
            return _neg(E.EINVAL)
        skb.insert(12, VLAN_HLEN)  # __vlan_insert_tag: after the MAC addresses
        tag = skb.vlan_proto.to_bytes(2, "big") + skb.vlan_tci.to_bytes(2, "big")
        skb.write(12, tag)
        skb.mac_off = skb.data_off
        skb.network_off -= VLAN_HLEN  # it now points at the tag, mac_len stays 14
        skb.protocol = skb.vlan_proto
        _rcsum_push(skb, 12, VLAN_HLEN)
    skb.vlan_present, skb.vlan_proto, skb.vlan_tci = 1, proto, r3 & 0xFFFF
    skb.reset_mac_len()
    return 0


@changes("skb")
def skb_vlan_pop(env: Any, skb: Any, *_: int) -> int:
    """bpf_skb_vlan_pop(skb): drop the offloaded tag (or the packet's outer one); a tag
    behind it becomes the offloaded one (skb_vlan_pop)."""
    if skb.vlan_present:
        skb.vlan_present = skb.vlan_tci = skb.vlan_proto = 0
    else:
        if not _is_vlan(skb.protocol):
            return 0
        got = _vlan_pop_data(skb)
        if got > 0xFFFF:
            return got
    if not _is_vlan(skb.protocol):
        return 0
    proto = skb.protocol
    got = _vlan_pop_data(skb)
    if got > 0xFFFF:
        return got
    skb.vlan_present, skb.vlan_proto, skb.vlan_tci = 1, proto, got
    return 0


# --- hash, type, time, ECN ------------------------------------------------------------------------


@changes("skb")
def set_hash(env: Any, skb: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_set_hash(skb, hash): a software L4 hash."""
    skb.hash, skb.sw_hash, skb.l4_hash = r2 & M32, 1, 1
    return 0


@changes("skb")
def set_hash_invalid(env: Any, skb: Any, *_: int) -> int:
    """bpf_set_hash_invalid(skb)."""
    skb.clear_hash()
    return 0


@changes("skb")
def get_hash_recalc(env: Any, skb: Any, *_: int) -> int:
    """bpf_get_hash_recalc(skb): skb->hash, computed when there is none.

    The kernel computes a missing hash with the flow dissector keyed by a secret
    drawn at boot (hashrnd in net/core/flow_dissector.c), which user space cannot
    know: pybpf's is its own flow hash (:func:`flow_hash`), with the same inputs.
    """
    if not skb.l4_hash and not skb.sw_hash:
        skb.hash = flow_hash(skb)
        skb.l4_hash = 1
    return int(skb.hash)


def flow_hash(skb: Any) -> int:
    """A hash of the packet's flow (addresses, protocol, ports), never 0."""
    from ..maps.jhash import jhash

    data = skb.tobytes()
    off = skb.network_off - skb.data_off
    key = b""
    if skb.protocol == ETH_P_IP and len(data) >= off + 20:
        ihl = (data[off] & 0xF) * 4
        proto = data[off + 9]
        key = data[off + 12 : off + 20] + bytes([proto])
        if proto in (6, 17, 132) and len(data) >= off + ihl + 4:
            key += data[off + ihl : off + ihl + 4]
    elif skb.protocol == ETH_P_IPV6 and len(data) >= off + 40:
        proto = data[off + 6]
        key = data[off + 8 : off + 40] + bytes([proto])
        if proto in (6, 17, 132) and len(data) >= off + 44:
            key += data[off + 40 : off + 44]
    h = jhash(key, 0x9E3779B9) if key else 0
    return h or 1


@reads("skb")
def get_route_realm(env: Any, skb: Any, *_: int) -> int:
    """bpf_get_route_realm(skb): the route's realm; an skb without a route has 0."""
    return 0


@changes("skb")
def skb_set_tstamp(env: Any, skb: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_skb_set_tstamp(skb, tstamp, type)."""
    if skb.protocol not in (ETH_P_IP, ETH_P_IPV6):
        return _neg(E.EOPNOTSUPP)
    tstamp, kind = r2 & M64, r3 & M32
    if kind == BPF_SKB_CLOCK_REALTIME:
        pass
    elif kind in (BPF_SKB_CLOCK_MONOTONIC, BPF_SKB_CLOCK_TAI):
        if not tstamp:
            return _neg(E.EINVAL)
    else:
        return _neg(E.EINVAL)
    skb.tstamp, skb.tstamp_type = tstamp, kind
    return 0


def vlan_get_protocol(skb: Any) -> int:
    """vlan_get_protocol(): the protocol behind any VLAN tags, the tags read from
    ``skb->mac_len`` (less one tag; the MAC header's length when 0) past ``data``."""
    proto = skb.protocol
    if not _is_vlan(proto):
        return int(proto)
    depth = skb.mac_len - VLAN_HLEN if skb.mac_len else ETH_HLEN
    for _ in range(8):  # VLAN_MAX_DEPTH
        hdr = skb.copy_bits(depth, 4)
        if hdr is None:
            return 0
        proto = int.from_bytes(hdr[2:4], "big")
        depth += VLAN_HLEN
        if not _is_vlan(proto):
            return proto
    return 0


def _skb_protocol(skb: Any) -> int:
    """skb_protocol(skb, true): the protocol, VLAN tags skipped."""
    return vlan_get_protocol(skb)


@changes("skb")
def skb_ecn_set_ce(env: Any, skb: Any, *_: int) -> int:
    """bpf_skb_ecn_set_ce(skb): mark an ECN-capable IPv4/IPv6 packet Congestion
    Experienced (INET_ECN_set_ce at the network header); 1 when marked."""
    proto = _skb_protocol(skb)
    need = {ETH_P_IP: 20, ETH_P_IPV6: 40}.get(proto)
    if need is None or skb.headlen < need:
        return 0
    nh = skb.network_off
    if proto == ETH_P_IP:
        if nh + 20 > skb.tail:
            return 0
        tos = skb.buf[nh + 1]
        ecn = (tos + 1) & 3
        if not ecn & 2:
            return int(not ecn)
        check = int.from_bytes(skb.buf[nh + 10 : nh + 12], "little")
        add = (
            struct.unpack("<H", struct.pack(">H", 0xFFFB))[0]
            + struct.unpack("<H", struct.pack(">H", ecn))[0]
        ) & 0xFFFF
        r = (check + add) & 0xFFFF
        r = (r + (r < add)) & 0xFFFF
        skb.buf[nh + 10 : nh + 12] = r.to_bytes(2, "little")
        skb.buf[nh + 1] = tos | 3
        return 1
    if proto == ETH_P_IPV6:
        if nh + 40 > skb.tail:
            return 0
        word = int.from_bytes(skb.buf[nh : nh + 4], "big")
        if not (word >> 20) & 3:
            return 0
        frm = int.from_bytes(skb.buf[nh : nh + 4], "little")
        word |= 3 << 20
        skb.buf[nh : nh + 4] = word.to_bytes(4, "big")
        if skb.ip_summed == CHECKSUM_COMPLETE:
            to = int.from_bytes(skb.buf[nh : nh + 4], "little")
            skb.csum = csum_add(csum_sub(skb.csum, frm), to)
        return 1
    return 0


#: the helpers whose implementation here is exactly the kernel's and that a native back end
#: runs in C (pybpf.vm.api.native_name; src/pybpf/vm/native/packet.c)
for _fn in (
    skb_store_bytes,
    skb_vlan_push,
    skb_vlan_pop,
):
    setattr(_fn, "native", _fn.__name__)  # noqa: B010 - an attribute of a function
