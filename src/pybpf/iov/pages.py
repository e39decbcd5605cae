"""Turning an iov_iter into pages (lib/iov_iter.c get_pages2 / extract_pages).

Both advance the iterator past what they return and report the offset of the
first byte in the first page.  They return the kernel's ssize_t: bytes
covered, or a negative errno (-EFAULT) — together with the page list and the
start offset, instead of filling in caller-supplied pointers.

get_pages2 takes references and works on UBUF/IOVEC/BVEC/XARRAY (a KVEC is
-EFAULT, as in the kernel); extract_pages pins user pages and merely lists
kernel ones, and also handles KVEC.
"""

from __future__ import annotations

import errno

from .iter import (
    ITER_BVEC,
    ITER_DEST,
    ITER_KVEC,
    ITER_UBUF,
    ITER_XARRAY,
    MAX_RW_COUNT,
    WARN_ON,
    WRITE,
    IovIter,
    _mm,
    iov_iter_advance,
    iov_iter_rw,
    user_backed_iter,
)
from .page import PAGE_MASK, PAGE_SIZE, Page, virt_to_page

ITER_ALLOW_P2PDMA = 0x01
_UINT_MAX = 0xFFFFFFFF


def want_pages_array(size: int, start: int, maxpages: int) -> int:
    count = -(-(size + start) // PAGE_SIZE)
    count = min(count, maxpages)
    WARN_ON(not count, "want_pages_array: no pages wanted")
    return count


def _first_iovec_segment(i: IovIter, maxsize: int) -> tuple[int, int]:
    """(user address of the next byte, maxsize capped to its segment); skips empty segments."""
    if i.iter_type == ITER_UBUF:
        return i.ubuf + i.iov_offset, maxsize
    skip = i.iov_offset
    for k in range(i.seg_index, i.seg_index + i.nr_segs):
        seg = i._segs[k]
        length = seg.iov_len - skip
        if length:
            return seg.iov_base + skip, min(maxsize, length)
        skip = 0
    raise AssertionError("non-empty iterator without a non-empty segment (kernel BUG())")


def _user_pages(
    i: IovIter, maxsize: int, maxpages: int, write: bool
) -> tuple[int, list[Page], int]:
    addr, maxsize = _first_iovec_segment(i, maxsize)
    start = addr % PAGE_SIZE
    addr &= PAGE_MASK
    n = want_pages_array(maxsize, start, maxpages)
    pages = _mm(i).get_user_pages_fast(addr, n, write, nofault=i.nofault)
    if not pages:
        return -errno.EFAULT, [], start
    maxsize = min(maxsize, len(pages) * PAGE_SIZE - start)
    iov_iter_advance(i, maxsize)
    return maxsize, pages, start


def _xarray_pages(i: IovIter, maxsize: int, maxpages: int) -> tuple[int, list[Page], int]:
    pos = i.xarray_start + i.iov_offset
    index, offset = pos // PAGE_SIZE, pos % PAGE_SIZE
    count = want_pages_array(maxsize, offset, maxpages)
    pages: list[Page] = []
    xa: dict[int, Page] = i.xarray or {}
    while len(pages) < count and (index + len(pages)) in xa:
        pages.append(xa[index + len(pages)])
    if not pages:
        return 0, [], offset
    maxsize = min(len(pages) * PAGE_SIZE - offset, maxsize)
    i.iov_offset += maxsize
    i.count -= maxsize
    return maxsize, pages, offset


def _get_pages(i: IovIter, maxsize: int, maxpages: int) -> tuple[int, list[Page], int]:
    maxsize = min(maxsize, i.count)
    if not maxsize:
        return 0, [], 0
    maxsize = min(maxsize, MAX_RW_COUNT)
    if user_backed_iter(i):
        return _user_pages(i, maxsize, maxpages, write=iov_iter_rw(i) != WRITE)
    if i.iter_type == ITER_BVEC:
        bv = i._segs[i.seg_index]
        skip = i.iov_offset
        maxsize = min(maxsize, bv.bv_len - skip)
        skip += bv.bv_offset
        page = bv.bv_page + skip // PAGE_SIZE
        start = skip % PAGE_SIZE
        n = want_pages_array(maxsize, start, maxpages)
        pages = [page] + [page + k for k in range(1, n)]
        maxsize = min(maxsize, n * PAGE_SIZE - start)
        i.count -= maxsize
        i.iov_offset += maxsize
        if i.iov_offset == bv.bv_len:
            i.iov_offset = 0
            i.seg_index += 1
            i.nr_segs -= 1
        return maxsize, pages, start
    if i.iter_type == ITER_XARRAY:
        return _xarray_pages(i, maxsize, maxpages)
    return -errno.EFAULT, [], 0


def iov_iter_get_pages2(i: IovIter, maxsize: int, maxpages: int) -> tuple[int, list[Page], int]:
    """Up to ``maxpages`` pages covering up to ``maxsize`` bytes; returns (bytes, pages, start)."""
    if not maxpages:
        return 0, [], 0
    return _get_pages(i, maxsize, maxpages)


def iov_iter_get_pages_alloc2(i: IovIter, maxsize: int) -> tuple[int, list[Page], int]:
    """As get_pages2 with the page array sized for the request."""
    res, pages, start = _get_pages(i, maxsize, _UINT_MAX)
    return res, (pages if res > 0 else []), start


def iov_iter_extract_will_pin(i: IovIter) -> bool:
    return user_backed_iter(i)


def _extract_kvec(i: IovIter, maxsize: int, maxpages: int) -> tuple[int, list[Page], int]:
    skip = i.iov_offset
    while True:
        if i.nr_segs == 0:
            return 0, [], 0
        kv = i._segs[i.seg_index]
        size = min(maxsize, kv.iov_len - skip)
        if size:
            break
        i.iov_offset = 0
        i.nr_segs -= 1
        i.seg_index += 1
        skip = 0
    kaddr = kv.addr + skip
    offset = kaddr % PAGE_SIZE
    maxpages = want_pages_array(size, offset, maxpages)
    kaddr -= offset
    pages = [virt_to_page(kaddr + k * PAGE_SIZE, owner=kv.mv) for k in range(maxpages)]
    size = min(size, maxpages * PAGE_SIZE - offset)
    iov_iter_advance(i, size)
    return size, pages, offset


def _extract_bvec(i: IovIter, maxsize: int, maxpages: int) -> tuple[int, list[Page], int]:
    if i.nr_segs == 0:
        return 0, [], 0
    skip = i.iov_offset
    if skip == i._segs[i.seg_index].bv_len:
        i.iov_offset = 0
        i.nr_segs -= 1
        i.seg_index += 1
        skip = 0
    bi_idx, bi_size, done = 0, maxsize, skip
    maxpages = want_pages_array(maxsize, skip, maxpages)
    pages: list[Page] = []
    size = offset0 = 0
    while bi_size and bi_idx < i.nr_segs:
        bv = i._segs[i.seg_index + bi_idx]
        mp_off = bv.bv_offset + done
        off = mp_off % PAGE_SIZE
        length = min(bi_size, bv.bv_len - done, PAGE_SIZE - off)
        if pages:
            if off:
                break
        else:
            offset0 = off
        pages.append(bv.bv_page + mp_off // PAGE_SIZE)
        size += length
        if len(pages) >= maxpages:
            break
        if off + length != PAGE_SIZE:
            break
        done += length
        bi_size -= length
        if done == bv.bv_len:
            bi_idx += 1
            done = 0
    iov_iter_advance(i, size)
    return size, pages, offset0


def iov_iter_extract_pages(
    i: IovIter, maxsize: int, maxpages: int, extraction_flags: int = 0
) -> tuple[int, list[Page], int]:
    """List the pages under the next bytes and advance; returns (bytes, pages, offset0).

    Only the first page may start at an offset: a later segment that does not
    start on a page boundary ends the list (call again for the rest).
    """
    maxsize = min(maxsize, i.count, MAX_RW_COUNT)
    if not maxsize:
        return 0, [], 0
    if user_backed_iter(i):
        return _user_pages(i, maxsize, maxpages, write=(iov_iter_rw(i) == ITER_DEST))
    if i.iter_type == ITER_KVEC:
        return _extract_kvec(i, maxsize, maxpages)
    if i.iter_type == ITER_BVEC:
        return _extract_bvec(i, maxsize, maxpages)
    if i.iter_type == ITER_XARRAY:
        return _xarray_pages(i, maxsize, maxpages)
    return -errno.EFAULT, [], 0
