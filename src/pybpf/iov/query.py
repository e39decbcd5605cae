"""Questions about an iov_iter: sizes, page counts, alignment (lib/iov_iter.c, uio.h).

Addresses are what the kernel would look at: user addresses for UBUF/IOVEC,
the buffers' real addresses for KVEC, and ``bv_offset`` (not the page
address) for BVEC.  The kernel's quirks are kept and noted.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import Any

from ..errors import IovError
from .iter import (
    ITER_BVEC,
    ITER_IOVEC,
    ITER_KVEC,
    ITER_UBUF,
    ITER_XARRAY,
    SIZE_MAX,
    WARN_ON,
    Iovec,
    IovIter,
)
from .page import PAGE_SIZE


def _base(seg: Any) -> int:
    return seg.iov_base if isinstance(seg, Iovec) else seg.addr


def iov_iter_single_seg_count(i: IovIter) -> int:
    """Bytes left in the current segment.

    Quirk kept from 6.x: only when more than one segment remains does it look at
    the segment; with ``nr_segs <= 1`` (and for UBUF, DISCARD, XARRAY) it
    returns the whole count.
    """
    if i.nr_segs > 1:
        seg = i._segs[i.seg_index]
        if i.iter_type in (ITER_IOVEC, ITER_KVEC):
            return min(i.count, seg.iov_len - i.iov_offset)
        if i.iter_type == ITER_BVEC:
            return min(i.count, seg.bv_len - i.iov_offset)
    return i.count


def iov_length(iov: Sequence[Any], nr_segs: int | None = None, *, saturate: bool = False) -> int:
    """Total length of an iovec array.

    The kernel's version trusts the lengths and wraps at 2**64; here a total
    that does not fit a size_t raises IovError(EINVAL) naming the segment, or
    with ``saturate=True`` returns SIZE_MAX.
    """
    n = len(iov) if nr_segs is None else nr_segs
    total = 0
    for k in range(n):
        seg = iov[k]
        length = seg.iov_len if hasattr(seg, "iov_len") else seg[1]
        if length < 0:
            raise IovError(f"iovec {k} has negative length {length}", errno=errno.EINVAL)
        total += length
        if total > SIZE_MAX:
            if saturate:
                return SIZE_MAX
            raise IovError(f"iov_length overflows size_t at segment {k}", errno=errno.EINVAL)
    return total


def _segs_from(i: IovIter) -> range:
    return range(i.seg_index, i.seg_index + i.nr_segs)


def iov_iter_npages(i: IovIter, maxpages: int) -> int:
    """How many pages the remaining bytes touch, capped at ``maxpages``."""
    if not i.count:
        return 0
    t = i.iter_type
    if t == ITER_UBUF:
        offs = (i.ubuf + i.iov_offset) % PAGE_SIZE
        return min(-(-(offs + i.count) // PAGE_SIZE), maxpages)
    if t in (ITER_IOVEC, ITER_KVEC, ITER_BVEC):
        skip, size, npages = i.iov_offset, i.count, 0
        for k in _segs_from(i):
            if not size:
                break
            seg = i._segs[k]
            if t == ITER_BVEC:
                offs = (seg.bv_offset + skip) % PAGE_SIZE
                length = min(seg.bv_len - skip, size)
            else:
                offs = (_base(seg) + skip) % PAGE_SIZE
                length = min(seg.iov_len - skip, size)
            if length or t == ITER_BVEC:
                size -= length
                npages += -(-(offs + length) // PAGE_SIZE)
                if npages > maxpages:
                    return maxpages
            skip = 0
        return npages
    if t == ITER_XARRAY:
        offs = (i.xarray_start + i.iov_offset) % PAGE_SIZE
        return min(-(-(offs + i.count) // PAGE_SIZE), maxpages)
    return 0


def iov_iter_alignment(i: IovIter) -> int:
    """OR of every segment's start address and length: low bits show misalignment."""
    t = i.iter_type
    if t == ITER_UBUF:
        return ((i.ubuf + i.iov_offset) | i.count) if i.count else 0
    if t in (ITER_IOVEC, ITER_KVEC, ITER_BVEC):
        res, size, skip = 0, i.count, i.iov_offset
        for k in _segs_from(i):
            seg = i._segs[k]
            if t == ITER_BVEC:
                length = seg.bv_len - skip
                res |= seg.bv_offset + skip
                length = min(length, size)
                res |= length
                size -= length
            else:
                length = seg.iov_len - skip
                if length:
                    res |= _base(seg) + skip
                    length = min(length, size)
                    res |= length
                    size -= length
            skip = 0
            if not size:
                break
        return res
    if t == ITER_XARRAY:
        return (i.xarray_start + i.iov_offset) | i.count
    return 0


def iov_iter_gap_alignment(i: IovIter) -> int:
    """OR of each segment start and the previous segment's end (IOVEC only).

    Kept quirk: it starts from the segment cursor but ignores iov_offset.
    Anything but UBUF/IOVEC warns and returns ~0U.
    """
    if i.iter_type == ITER_UBUF:
        return 0
    if WARN_ON(i.iter_type != ITER_IOVEC, f"iov_iter_gap_alignment on {i.iter_type.name}"):
        return 0xFFFFFFFF
    res = v = 0
    size = i.count
    for k in _segs_from(i):
        seg = i._segs[k]
        if seg.iov_len:
            base = seg.iov_base
            if v:
                res |= base | v
            v = base + seg.iov_len
            if size <= seg.iov_len:
                break
            size -= seg.iov_len
    return res


def iov_iter_is_aligned(i: IovIter, addr_mask: int, len_mask: int) -> bool:
    """False if any segment's address or length hits the masks.

    Kept quirk: for BVEC each segment's full bv_len is tested, not what is left.
    """
    t = i.iter_type
    if t == ITER_UBUF:
        return not (i.count & len_mask) and not ((i.ubuf + i.iov_offset) & addr_mask)
    if t in (ITER_IOVEC, ITER_KVEC, ITER_BVEC):
        size, skip = i.count, i.iov_offset
        for k in _segs_from(i):
            seg = i._segs[k]
            if t == ITER_BVEC:
                length = min(seg.bv_len, size)
                addr = seg.bv_offset + skip
            else:
                length = min(seg.iov_len - skip, size)
                addr = _base(seg) + skip
            if length & len_mask or addr & addr_mask:
                return False
            size -= length
            skip = 0
            if not size:
                break
        return True
    if t == ITER_XARRAY:
        return not (i.count & len_mask) and not ((i.xarray_start + i.iov_offset) & addr_mask)
    return True
