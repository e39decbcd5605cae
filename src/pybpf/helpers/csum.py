"""The checksum helpers of tc and XDP programs: csum_diff, l3/l4_csum_replace, csum_update,
csum_level (net/core/filter.c), and the checksum arithmetic they share.

The arithmetic is the kernel's (include/net/checksum.h on x86-64) over the
packet's bytes as little-endian words; values passed as ``__be16``/``__be32``
are the program's register values, whose little-endian bytes are the
network-order field. :func:`csum_partial` keeps x86-64's exact 32-bit sum, which
matters where a sum is complemented before it is folded (bpf_csum_diff).
"""

from __future__ import annotations

import errno as E
from typing import Any

from .. import uapi
from ..iov.csum import csum_add, csum_fold, csum_sub, csum_unfold
from .packet import M32, M64, changes
from .util import _neg

__all__ = [
    "CHECKSUM_COMPLETE",
    "CHECKSUM_NONE",
    "CHECKSUM_PARTIAL",
    "CHECKSUM_UNNECESSARY",
    "csum_diff",
    "csum_level",
    "csum_partial",
    "csum_update",
    "l3_csum_replace",
    "l4_csum_replace",
]

#: CHECKSUM_* (include/linux/skbuff.h)
CHECKSUM_NONE, CHECKSUM_UNNECESSARY, CHECKSUM_COMPLETE, CHECKSUM_PARTIAL = 0, 1, 2, 3
SKB_MAX_CSUM_LEVEL = 3
ENOTSUPP = uapi.ENOTSUPP


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


@changes("skb")
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


@changes("skb")
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


@changes("skb")
def csum_update(env: Any, skb: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_csum_update(skb, csum): add to skb->csum under CHECKSUM_COMPLETE."""
    if skb.ip_summed == CHECKSUM_COMPLETE:
        skb.csum = csum_add(skb.csum, r2 & M32)
        return int(skb.csum)
    return _neg(ENOTSUPP)


@changes("skb")
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


#: the helpers whose implementation here is exactly the kernel's and that a native back end
#: runs in C (pybpf.vm.api.native_name; src/pybpf/vm/native/packet.c)
for _fn in (
    csum_diff,
    l3_csum_replace,
    l4_csum_replace,
):
    setattr(_fn, "native", _fn.__name__)  # noqa: B010 - an attribute of a function
