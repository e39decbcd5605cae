"""Moving data through an iov_iter (lib/iov_iter.c, include/linux/uio.h).

copy_to_iter() writes into an ITER_DEST iterator, copy_from_iter() reads out
of an ITER_SOURCE one; both return the bytes moved and leave the cursor after
them.  Copies to and from user memory stop at the first byte that faults,
exactly like copy_to_user(); kernel memory never faults.  Using an iterator in
the wrong direction copies nothing and warns, as the kernel's WARN_ON_ONCE.
"""

from __future__ import annotations

from typing import Any

from ..errors import IovError
from .iter import (
    ITER_UBUF,
    WARN_ON,
    IovIter,
    _byte_view,
    _mm,
    iov_iter_revert,
    iterate_and_advance,
)
from .page import PAGE_SHIFT, PAGE_SIZE, Page, page_size
from .usermem import UserMemory, access_ok


def _check_copy_size(buf: memoryview, nbytes: int, what: str) -> bool:
    """check_copy_size(): refuse a copy larger than the object it names (WARN)."""
    return not WARN_ON(
        nbytes < 0 or nbytes > len(buf), f"{what}: {nbytes} bytes from a {len(buf)}-byte buffer"
    )


def _copy_to_iter(src: memoryview, nbytes: int, i: IovIter, *, nofault: bool = False) -> int:
    if WARN_ON(i.data_source, "copy_to_iter on an ITER_SOURCE iterator"):
        return 0
    nofault = nofault or i.nofault

    def ustep(mm: UserMemory, uaddr: int, progress: int, n: int) -> int:
        if not access_ok(uaddr, n):
            return n
        return mm.raw_copy_to_user(uaddr, src[progress : progress + n], n, nofault=nofault)

    def step(view: memoryview, progress: int) -> int:
        view[:] = src[progress : progress + len(view)]
        return 0

    return iterate_and_advance(i, nbytes, ustep, step)


def _copy_from_iter(dst: memoryview, nbytes: int, i: IovIter, *, nofault: bool = False) -> int:
    nofault = nofault or i.nofault

    def ustep(mm: UserMemory, uaddr: int, progress: int, n: int) -> int:
        if not access_ok(uaddr, n):
            return n
        return mm.raw_copy_from_user(dst[progress : progress + n], uaddr, n, nofault=nofault)

    def step(view: memoryview, progress: int) -> int:
        dst[progress : progress + len(view)] = view
        return 0

    return iterate_and_advance(i, nbytes, ustep, step)


def copy_to_iter(addr: Any, nbytes: int | None, i: IovIter) -> int:
    """Copy ``nbytes`` of ``addr`` into the iterator; returns bytes copied."""
    src = _byte_view(addr)
    if nbytes is None:
        nbytes = len(src)
    if not _check_copy_size(src, nbytes, "copy_to_iter"):
        return 0
    return _copy_to_iter(src, nbytes, i)


def _writable(addr: Any, what: str) -> memoryview:
    dst = _byte_view(addr)
    if dst.readonly:
        raise IovError(f"{what}: destination buffer is read-only")
    return dst


def copy_from_iter(addr: Any, nbytes: int | None, i: IovIter) -> int:
    """Copy up to ``nbytes`` out of the iterator into ``addr``; returns bytes copied."""
    dst = _writable(addr, "copy_from_iter")
    if nbytes is None:
        nbytes = len(dst)
    if not _check_copy_size(dst, nbytes, "copy_from_iter"):
        return 0
    if WARN_ON(not i.data_source, "copy_from_iter on an ITER_DEST iterator"):
        return 0
    return _copy_from_iter(dst, nbytes, i)


def copy_to_iter_full(addr: Any, nbytes: int | None, i: IovIter) -> bool:
    """All or nothing: on a short copy the iterator is reverted and False returned."""
    copied = copy_to_iter(addr, nbytes, i)
    want = len(_byte_view(addr)) if nbytes is None else nbytes
    if copied == want:
        return True
    iov_iter_revert(i, copied)
    return False


def copy_from_iter_full(addr: Any, nbytes: int | None, i: IovIter) -> bool:
    """All or nothing: on a short copy the iterator is reverted and False returned."""
    copied = copy_from_iter(addr, nbytes, i)
    want = len(_byte_view(addr)) if nbytes is None else nbytes
    if copied == want:
        return True
    iov_iter_revert(i, copied)
    return False


def page_copy_sane(page: Page, offset: int, n: int) -> bool:
    """The range must lie inside the (compound) page: a copy may not leave it."""
    v = n + offset
    if 0 <= n <= v <= PAGE_SIZE and offset >= 0:
        return True
    head = page.head
    v += (page.pfn - head.pfn) << PAGE_SHIFT
    return not WARN_ON(
        offset < 0 or n < 0 or n > v or v > page_size(head),
        f"page copy of {n} bytes at offset {offset:#x} leaves {page!r}",
    )


def copy_page_to_iter(page: Page, offset: int, nbytes: int, i: IovIter) -> int:
    """Copy from ``page`` (and the tail pages of its compound page) into the iterator."""
    if not page_copy_sane(page, offset, nbytes):
        return 0
    if WARN_ON(i.data_source, "copy_page_to_iter on an ITER_SOURCE iterator"):
        return 0
    return _copy_to_iter(page.span(offset, nbytes), nbytes, i)


def copy_page_from_iter(page: Page, offset: int, nbytes: int, i: IovIter) -> int:
    """Copy from the iterator into ``page`` at ``offset``; refuses a range leaving the page."""
    if not page_copy_sane(page, offset, nbytes):
        return 0
    if WARN_ON(not i.data_source, "copy_page_from_iter on an ITER_DEST iterator"):
        return 0
    return _copy_from_iter(page.span(offset, nbytes), nbytes, i)


def copy_page_from_iter_atomic(page: Page, offset: int, nbytes: int, i: IovIter) -> int:
    """As copy_page_from_iter, with page faults disabled.

    A user page that is mapped but not resident ends the copy (it would need a
    fault to bring it in); the caller faults it in and retries, as
    generic_perform_write() does.
    """
    if not page_copy_sane(page, offset, nbytes):
        return 0
    if WARN_ON(not i.data_source, "copy_page_from_iter_atomic on an ITER_DEST iterator"):
        return 0
    return _copy_from_iter(page.span(offset, nbytes), nbytes, i, nofault=True)


def iov_iter_copy_from_user_atomic(page: Page, i: IovIter, offset: int, nbytes: int) -> int:
    """The pre-5.14 name and contract: copy atomically but do NOT advance the iterator."""
    copied = copy_page_from_iter_atomic(page, offset, nbytes, i)
    iov_iter_revert(i, copied)
    return copied


_ZEROS = bytes(PAGE_SIZE * 16)


def iov_iter_zero(nbytes: int, i: IovIter) -> int:
    """Write ``nbytes`` zeroes into the iterator (clear_user() for user memory)."""

    def ustep(mm: UserMemory, uaddr: int, progress: int, n: int) -> int:
        return mm.clear_user(uaddr, n)

    def step(view: memoryview, progress: int) -> int:
        n = len(view)
        if n <= len(_ZEROS):
            view[:] = _ZEROS[:n]
        else:
            view[:] = bytes(n)
        return 0

    return iterate_and_advance(i, nbytes, ustep, step)


def fault_in_iov_iter_readable(i: IovIter, size: int) -> int:
    """Fault in the user pages under the next ``size`` bytes for reading.

    Returns the bytes NOT faulted in (0 for kernel-backed iterators), as
    generic_perform_write() uses it before an atomic copy.
    """
    return _fault_in(i, size, write=False)


def fault_in_iov_iter_writeable(i: IovIter, size: int) -> int:
    return _fault_in(i, size, write=True)


def _fault_in(i: IovIter, size: int, *, write: bool) -> int:
    if not i.is_user_backed():
        return 0
    mm = _mm(i)
    fault = mm.fault_in_writeable if write else mm.fault_in_readable
    count = min(size, i.count)
    if i.iter_type == ITER_UBUF:
        return size - (count - fault(i.ubuf + i.iov_offset, count))
    size -= count
    skip = i.iov_offset
    for k in range(i.seg_index, i.seg_index + i.nr_segs):
        if not count:
            break
        seg = i.all_segments[k]
        length = min(count, seg.iov_len - skip)
        skip = 0
        if not length:
            continue
        left = fault(seg.iov_base + (i.iov_offset if k == i.seg_index else 0), length)
        count -= length - left
        if left:
            break
    return count + size


def iter_write(i: IovIter, data: Any) -> int:
    """Python convenience: copy_to_iter of all of ``data``; bytes copied."""
    mv = _byte_view(data)
    return copy_to_iter(mv, len(mv), i)


def iter_read(i: IovIter, n: int | None = None) -> bytes:
    """Python convenience: copy_from_iter into a new buffer, up to ``n`` (default all) bytes."""
    n = i.count if n is None else min(n, i.count)
    buf = bytearray(n)
    got = copy_from_iter(buf, n, i)
    return bytes(buf[:got])
