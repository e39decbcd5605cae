"""Helpers that read, change, checksum and redirect packets: XDP's and tc's (net/core/filter.c).

The context is a :class:`pybpf.net.xdp.XdpBuff` (XDP) or a
:class:`pybpf.net.tcskb.TcSkb` (tc, cgroup_skb); each helper here is the
kernel's, argument checks and errnos included, over that model's mechanics.
A helper that changes the packet or the skb's fields (``@_changes``) first
takes what the program wrote to its context (mark, cb[] ...) into the model and
afterwards renders the context again, as the kernel's program would see the
live sk_buff: its ``len``, ``protocol``, ``vlan_*`` and packet pointers are
the new ones.

Checksum arithmetic is the kernel's (include/net/checksum.h on x86-64) over
the packet's bytes as little-endian words, as :mod:`pybpf.iov.csum` computes
it; values passed as ``__be16``/``__be32`` are the program's register values,
whose little-endian bytes are the network-order field.
"""

from __future__ import annotations

import errno as E
import struct
from collections.abc import Callable
from typing import Any

from .. import uapi
from ..errors import NotSupportedError, VmError
from ..iov.csum import csum_add, csum_fold, csum_sub, csum_unfold
from .util import _neg

__all__ = [
    "csum_diff",
    "csum_level",
    "csum_update",
    "get_hash_recalc",
    "get_route_realm",
    "l3_csum_replace",
    "l4_csum_replace",
    "redirect",
    "redirect_neigh",
    "redirect_peer",
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
    "clone_redirect",
    "xdp_adjust_head",
    "xdp_adjust_meta",
    "xdp_adjust_tail",
    "xdp_get_buff_len",
    "xdp_load_bytes",
    "xdp_store_bytes",
]

M32 = 0xFFFF_FFFF
M64 = (1 << 64) - 1
ENOTSUPP = uapi.ENOTSUPP
ETH_HLEN = 14
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
VLAN_HLEN = 4
INT_MAX = 0x7FFF_FFFF
#: CHECKSUM_* (include/linux/skbuff.h)
CHECKSUM_NONE, CHECKSUM_UNNECESSARY, CHECKSUM_COMPLETE, CHECKSUM_PARTIAL = 0, 1, 2, 3
SKB_MAX_CSUM_LEVEL = 3
#: SKB_MAX_ALLOC on x86-64: (PAGE_SIZE << 2) - SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
SKB_MAX_ALLOC = (4096 << 2) - 320
#: BPF_SKB_MAX_LEN: what bpf_skb_adjust_room may grow a packet to
BPF_SKB_MAX_LEN = SKB_MAX_ALLOC
#: redirect flags bpf_redirect_info keeps beyond the user's (net/core/filter.c)
BPF_F_NEIGH = 1 << 1
BPF_F_PEER = 1 << 2
BPF_F_NEXTHOP = 1 << 3
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


# --- the context -------------------------------------------------------------------------------


def _pkt(env: Any, what: str, kind: str) -> Any:
    """The packet model of the run: an XdpBuff (``kind`` "xdp") or a TcSkb ("skb")."""
    ctx = env.ctx
    has = hasattr(ctx, "adjust_head") if kind == "xdp" else hasattr(ctx, "insert")
    if not has:
        want = "an XDP frame" if kind == "xdp" else "an skb of a tc or cgroup_skb program"
        raise VmError(f"bpf_{what} needs {want} as its context")
    return ctx


def _ctx_image(env: Any) -> Any:
    """The rendered context the program reads (the region R1 pointed at)."""
    region = env.mem.region_at(env.ctx_ptr)
    return region.buf if region is not None else None


def _changes(kind: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """A helper that changes the packet or skb fields: the program's writes to its context
    go into the model first, and the context is rendered again afterwards."""

    def wrap(fn: Callable[..., int]) -> Callable[..., int]:
        name = fn.__name__

        def helper(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
            from ..progtypes import render_ctx, writeback_ctx

            pkt = _pkt(env, name, kind)
            image = _ctx_image(env)
            prog_type = getattr(env.prog, "prog_type", 0)
            if image is not None:
                writeback_ctx(pkt, image, prog_type)
            try:
                return fn(env, pkt, r1, r2, r3, r4, r5) & M64
            finally:
                if image is not None:
                    render_ctx(image, prog_type, pkt)

        helper.__name__ = name
        helper.__doc__ = fn.__doc__
        return helper

    return wrap


def _reads(kind: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """A helper that only reads the packet model."""

    def wrap(fn: Callable[..., int]) -> Callable[..., int]:
        name = fn.__name__

        def helper(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
            return fn(env, _pkt(env, name, kind), r1, r2, r3, r4, r5) & M64

        helper.__name__ = name
        helper.__doc__ = fn.__doc__
        return helper

    return wrap


def _s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


def _s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


# --- XDP ----------------------------------------------------------------------------------------


@_changes("xdp")
def xdp_adjust_head(env: Any, xdp: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_xdp_adjust_head(xdp, delta)."""
    return int(xdp.adjust_head(_s32(r2)))


@_changes("xdp")
def xdp_adjust_meta(env: Any, xdp: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_xdp_adjust_meta(xdp, delta)."""
    return int(xdp.adjust_meta(_s32(r2)))


@_changes("xdp")
def xdp_adjust_tail(env: Any, xdp: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_xdp_adjust_tail(xdp, delta)."""
    return int(xdp.adjust_tail(_s32(r2)))


@_reads("xdp")
def xdp_get_buff_len(env: Any, xdp: Any, *_: int) -> int:
    """bpf_xdp_get_buff_len(xdp): the frame's bytes (a linear frame: data_end - data)."""
    return int(xdp.len)


@_reads("xdp")
def xdp_load_bytes(env: Any, xdp: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_xdp_load_bytes(xdp, offset, buf, len)."""
    n = r4 & M32
    to = env.mem.view(r3, n, write=True)
    data = xdp.load_bytes(r2 & M32, n)
    if data is None:
        return _neg(E.EINVAL)
    to[:] = data
    return 0


@_reads("xdp")
def xdp_store_bytes(env: Any, xdp: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_xdp_store_bytes(xdp, offset, buf, len)."""
    n = r4 & M32
    data = env.mem.read(r3, n)
    return 0 if xdp.store_bytes(r2 & M32, data) else _neg(E.EINVAL)


# --- redirects ----------------------------------------------------------------------------------


def redirect(env: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_redirect(ifindex, flags): XDP's (bpf_xdp_redirect) or tc's, by the context."""
    ctx = env.ctx
    ifindex, flags = r1 & M32, r2 & M64
    if hasattr(ctx, "adjust_head"):  # XDP: no flags at all
        if flags:
            return uapi.XDP_ABORTED
        ctx.redirect(ifindex, 0)
        return uapi.XDP_REDIRECT
    if flags & ~uapi.BPF_F_INGRESS & M64:
        return uapi.TC_ACT_SHOT
    _pkt(env, "redirect", "skb").redirect(ifindex, flags)
    return uapi.TC_ACT_REDIRECT


def redirect_peer(env: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_redirect_peer(ifindex, flags): to the peer of a veth (recorded)."""
    if r2 & M64:
        return uapi.TC_ACT_SHOT
    _pkt(env, "redirect_peer", "skb").redirect(r1 & M32, BPF_F_PEER)
    return uapi.TC_ACT_REDIRECT


def redirect_neigh(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_redirect_neigh(ifindex, params, plen, flags): out of a device through the
    neighbour subsystem (recorded)."""
    plen = r3 & M32
    if (plen and plen < 20) or r4 & M64:  # sizeof(struct bpf_redir_neigh)
        return uapi.TC_ACT_SHOT
    flags = BPF_F_NEIGH | (BPF_F_NEXTHOP if plen else 0)
    _pkt(env, "redirect_neigh", "skb").redirect(r1 & M32, flags)
    return uapi.TC_ACT_REDIRECT


def clone_redirect(env: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_clone_redirect(skb, ifindex, flags): a copy of the packet, as it is now, leaves
    through (or into) device ``ifindex``; the program goes on with the original."""
    skb = _pkt(env, "clone_redirect", "skb")
    ifindex, flags = r2 & M32, r3 & M64
    if flags & ~uapi.BPF_F_INGRESS & M64:
        return _neg(E.EINVAL)
    if skb.gso_size and not getattr(skb, "gso_type", 0):
        return _neg(E.EBADMSG)
    exists = getattr(env.prog, "device_exists", None)
    if ifindex == 0 or (exists is not None and not exists(ifindex)):
        return _neg(E.EINVAL)
    image = _ctx_image(env)
    if image is not None:
        from ..progtypes import writeback_ctx

        writeback_ctx(skb, image, getattr(env.prog, "prog_type", 0))
    skb.record_clone(ifindex, flags)
    return 0


# --- checksums ----------------------------------------------------------------------------------


def _csum_replace2(old_sum: int, old: int, new: int) -> int:
    """csum_replace2(): RFC 1624 on 16-bit values."""

    def add16(a: int, b: int) -> int:
        r = (a + b) & 0xFFFF
        return (r + (r < (b & 0xFFFF))) & 0xFFFF

    return ~add16(add16(~old_sum & 0xFFFF, ~old & 0xFFFF), new) & 0xFFFF


def _csum_replace4(old_sum: int, old: int, new: int) -> int:
    """csum_replace4()."""
    tmp = csum_sub(~csum_unfold(old_sum) & M32, old & M32)
    return csum_fold(csum_add(tmp, new & M32))


def _csum_replace_by_diff(old_sum: int, diff: int) -> int:
    """csum_replace_by_diff()."""
    return csum_fold(csum_add(diff & M32, ~csum_unfold(old_sum) & M32))


def _sum16_at(skb: Any, off: int) -> int:
    return int.from_bytes(skb.buf[skb.data_off + off : skb.data_off + off + 2], "little")


def _put16_at(skb: Any, off: int, v: int) -> None:
    skb.write(off, (v & 0xFFFF).to_bytes(2, "little"))


@_changes("skb")
def l3_csum_replace(env: Any, skb: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_l3_csum_replace(skb, offset, from, to, flags): fix an IP header checksum."""
    offset, frm, to, flags = r2 & M32, r3 & M64, r4 & M64, r5 & M64
    if flags & ~uapi.BPF_F_HDR_FIELD_MASK & M64:
        return _neg(E.EINVAL)
    if offset > 0xFFFF or offset & 1:
        return _neg(E.EFAULT)
    if offset + 2 > skb.len:
        return _neg(E.EFAULT)
    old = _sum16_at(skb, offset)
    size = flags & uapi.BPF_F_HDR_FIELD_MASK
    if size == 0:
        if frm:
            return _neg(E.EINVAL)
        new = _csum_replace_by_diff(old, to)
    elif size == 2:
        new = _csum_replace2(old, frm & 0xFFFF, to & 0xFFFF)
    elif size == 4:
        new = _csum_replace4(old, frm & M32, to & M32)
    else:
        return _neg(E.EINVAL)
    _put16_at(skb, offset, new)
    return 0


def _proto_replace4(skb: Any, old_sum: int, frm: int, to: int, pseudo: bool) -> int:
    """inet_proto_csum_replace4(): the new field value (skb->csum updated as needed)."""
    if skb.ip_summed != CHECKSUM_PARTIAL:
        new = _csum_replace4(old_sum, frm, to)
        if skb.ip_summed == CHECKSUM_COMPLETE and pseudo:
            skb.csum = ~csum_add(csum_sub(~skb.csum & M32, frm), to) & M32
        return new
    if pseudo:
        return ~csum_fold(csum_add(csum_sub(csum_unfold(old_sum), frm), to)) & 0xFFFF
    return old_sum


def _proto_replace_by_diff(skb: Any, old_sum: int, diff: int, pseudo: bool, ipv6: bool) -> int:
    """inet_proto_csum_replace_by_diff()."""
    if skb.ip_summed != CHECKSUM_PARTIAL:
        new = _csum_replace_by_diff(old_sum, diff)
        if skb.ip_summed == CHECKSUM_COMPLETE and pseudo and not ipv6:
            skb.csum = ~csum_sub(diff & M32, skb.csum) & M32
        return new
    if pseudo:
        return ~csum_fold(csum_add(diff & M32, csum_unfold(old_sum))) & 0xFFFF
    return old_sum


@_changes("skb")
def l4_csum_replace(env: Any, skb: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_l4_csum_replace(skb, offset, from, to, flags): fix a TCP/UDP/ICMP checksum."""
    offset, frm, to, flags = r2 & M32, r3 & M64, r4 & M64, r5 & M64
    pseudo = bool(flags & uapi.BPF_F_PSEUDO_HDR)
    mmzero = bool(flags & uapi.BPF_F_MARK_MANGLED_0)
    mforce = bool(flags & uapi.BPF_F_MARK_ENFORCE)
    ipv6 = bool(flags & uapi.BPF_F_IPV6)
    allowed = (
        uapi.BPF_F_MARK_MANGLED_0
        | uapi.BPF_F_MARK_ENFORCE
        | uapi.BPF_F_PSEUDO_HDR
        | uapi.BPF_F_HDR_FIELD_MASK
        | uapi.BPF_F_IPV6
    )
    if flags & ~allowed & M64:
        return _neg(E.EINVAL)
    if offset > 0xFFFF or offset & 1:
        return _neg(E.EFAULT)
    if offset + 2 > skb.len:
        return _neg(E.EFAULT)
    old = _sum16_at(skb, offset)
    if mmzero and not mforce and not old:
        return 0
    size = flags & uapi.BPF_F_HDR_FIELD_MASK
    if size == 0:
        if frm:
            return _neg(E.EINVAL)
        new = _proto_replace_by_diff(skb, old, to, pseudo, ipv6)
    elif size in (2, 4):
        mask = 0xFFFF if size == 2 else M32
        new = _proto_replace4(skb, old, frm & mask, to & mask, pseudo)
    else:
        return _neg(E.EINVAL)
    if mmzero and not new:
        new = 0xFFFF  # CSUM_MANGLED_0
    _put16_at(skb, offset, new)
    return 0


def csum_partial(data: Any, _len: None = None, seed: int = 0) -> int:
    """csum_partial() exactly as x86-64 computes it (arch/x86/lib/csum-partial_64.c): the
    data's 64-bit little-endian words added with end-around carry onto ``seed``, folded to
    32 bits. The sum is 0 only when ``seed`` and every byte are 0 (an add with carry never
    gives +0 otherwise), which the 32-bit representation keeps and a later
    complement shows."""
    n = int.from_bytes(bytes(data), "little") + (seed & M32)
    return 0 if n == 0 else (n - 1) % M32 + 1


def _csum_from32to16(s: int) -> int:
    """csum_from32to16(): fold a 32-bit sum to 16 bits, not complemented."""
    s &= M32
    s = (s + (((s >> 16) | (s << 16)) & M32)) & M32
    return s >> 16


def csum_diff(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_csum_diff(from, from_size, to, to_size, seed): the checksum difference of two
    buffers (4-byte multiples), folded to 16 bits."""
    from_size, to_size, seed = r2 & M32, r4 & M32, r5 & M32
    if (from_size | to_size) & 3:
        return _neg(E.EINVAL)
    frm = env.mem.read(r1, from_size) if from_size else b""
    to = env.mem.read(r3, to_size) if to_size else b""
    if from_size and to_size:
        return _csum_from32to16(csum_sub(csum_partial(to, None, seed), csum_partial(frm)))
    if to_size:
        return _csum_from32to16(csum_partial(to, None, seed))
    if from_size:
        return _csum_from32to16(~csum_partial(frm, None, ~seed & M32) & M32)
    return seed


@_changes("skb")
def csum_update(env: Any, skb: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_csum_update(skb, csum): add to skb->csum under CHECKSUM_COMPLETE."""
    if skb.ip_summed == CHECKSUM_COMPLETE:
        skb.csum = csum_add(skb.csum, r2 & M32)
        return int(skb.csum)
    return _neg(ENOTSUPP)


@_changes("skb")
def csum_level(env: Any, skb: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_csum_level(skb, level): query or change the CHECKSUM_UNNECESSARY level."""
    level = r2 & M64
    if level == uapi.BPF_CSUM_LEVEL_INC:
        if skb.ip_summed == CHECKSUM_UNNECESSARY:
            if skb.csum_level < SKB_MAX_CSUM_LEVEL:
                skb.csum_level += 1
        elif skb.ip_summed == CHECKSUM_NONE:
            skb.ip_summed = CHECKSUM_UNNECESSARY
            skb.csum_level = 0
    elif level == uapi.BPF_CSUM_LEVEL_DEC:
        if skb.ip_summed == CHECKSUM_UNNECESSARY:
            if skb.csum_level == 0:
                skb.ip_summed = CHECKSUM_NONE
            else:
                skb.csum_level -= 1
    elif level == uapi.BPF_CSUM_LEVEL_RESET:
        if skb.ip_summed == CHECKSUM_UNNECESSARY:
            skb.csum_level = 0
    elif level == uapi.BPF_CSUM_LEVEL_QUERY:
        return int(skb.csum_level) if skb.ip_summed == CHECKSUM_UNNECESSARY else _neg(E.EACCES)
    else:
        return _neg(E.EINVAL)
    return 0


def _reset_checksum_unnecessary(skb: Any) -> None:
    """__skb_reset_checksum_unnecessary()."""
    if skb.ip_summed == CHECKSUM_UNNECESSARY:
        skb.ip_summed = CHECKSUM_NONE
        skb.csum_level = 0


# --- writing and resizing skbs -----------------------------------------------------------------


def _rcsum_pull(skb: Any, off: int, n: int) -> None:
    """skb_postpull_rcsum(): bytes at ``off`` (from data) leave a CHECKSUM_COMPLETE sum."""
    if skb.ip_summed == CHECKSUM_COMPLETE:
        part = csum_partial(skb.buf[skb.data_off + off : skb.data_off + off + n])
        skb.csum = _csum_block_sub(skb.csum, part, off)


def _rcsum_push(skb: Any, off: int, n: int) -> None:
    """skb_postpush_rcsum(): bytes at ``off`` join a CHECKSUM_COMPLETE sum."""
    if skb.ip_summed == CHECKSUM_COMPLETE:
        part = csum_partial(skb.buf[skb.data_off + off : skb.data_off + off + n])
        skb.csum = _csum_block_add(skb.csum, part, off)


def _csum_block_add(csum: int, part: int, off: int) -> int:
    if off & 1:
        part = ((part >> 8) | (part << 24)) & M32
    return csum_add(csum, part)


def _csum_block_sub(csum: int, part: int, off: int) -> int:
    return _csum_block_add(csum, ~part & M32, off)


@_changes("skb")
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


@_changes("skb")
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


@_changes("skb")
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


@_changes("skb")
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


@_changes("skb")
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


@_changes("skb")
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


@_changes("skb")
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
    allowed = (
        uapi.BPF_F_ADJ_ROOM_FIXED_GSO | _ADJ_ROOM_DECAP_L3 | uapi.BPF_F_ADJ_ROOM_NO_CSUM_RESET
    )
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
    elif len(skb.buf) >= skb.data_off + 16 and bytes(
        skb.buf[skb.data_off + 14 : skb.data_off + 16]
    ) == b"\xff\xff":
        skb.protocol = 0x0001  # ETH_P_802_3
    else:
        skb.protocol = 0x0004  # ETH_P_802_2
    return tci


@_changes("skb")
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


@_changes("skb")
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


@_changes("skb")
def set_hash(env: Any, skb: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_set_hash(skb, hash): a software L4 hash."""
    skb.hash, skb.sw_hash, skb.l4_hash = r2 & M32, 1, 1
    return 0


@_changes("skb")
def set_hash_invalid(env: Any, skb: Any, *_: int) -> int:
    """bpf_set_hash_invalid(skb)."""
    skb.clear_hash()
    return 0


@_changes("skb")
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


@_reads("skb")
def get_route_realm(env: Any, skb: Any, *_: int) -> int:
    """bpf_get_route_realm(skb): the route's realm; an skb without a route has 0."""
    return 0


@_changes("skb")
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


@_changes("skb")
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
        add = (struct.unpack("<H", struct.pack(">H", 0xFFFB))[0]
               + struct.unpack("<H", struct.pack(">H", ecn))[0]) & 0xFFFF
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
    xdp_adjust_head,
    xdp_adjust_meta,
    xdp_adjust_tail,
    xdp_get_buff_len,
    xdp_load_bytes,
    xdp_store_bytes,
    redirect,
    csum_diff,
    skb_store_bytes,
    l3_csum_replace,
    l4_csum_replace,
    skb_vlan_push,
    skb_vlan_pop,
):
    setattr(_fn, "native", _fn.__name__)  # noqa: B010 - an attribute of a function
