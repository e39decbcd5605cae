"""struct iov_iter: a cursor over scattered memory (include/linux/uio.h, lib/iov_iter.c).

The iterator types, directions, segment types, constructors, the cursor
operations (advance, revert, truncate, reexpand, save/restore, dup) and
``iterate_and_advance`` (include/linux/iov_iter.h), the walk every copy is
built on.  Constructors return the iterator instead of filling one in.

Direction names the *other* side of the transfer: an ITER_DEST (READ)
iterator is written to (copy_to_iter), an ITER_SOURCE (WRITE) one is read
from (copy_from_iter).
"""

from __future__ import annotations

import errno
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ..errors import IovError
from .page import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, Page
from .usermem import UserMemory, current_mm


class IterType(IntEnum):
    """enum iter_type as numbered in Linux 6.12+ (include/linux/uio.h)."""

    ITER_UBUF = 0
    ITER_IOVEC = 1
    ITER_BVEC = 2
    ITER_KVEC = 3
    ITER_FOLIOQ = 4
    ITER_XARRAY = 5
    ITER_DISCARD = 6


ITER_UBUF = IterType.ITER_UBUF
ITER_IOVEC = IterType.ITER_IOVEC
ITER_BVEC = IterType.ITER_BVEC
ITER_KVEC = IterType.ITER_KVEC
ITER_FOLIOQ = IterType.ITER_FOLIOQ
ITER_XARRAY = IterType.ITER_XARRAY
ITER_DISCARD = IterType.ITER_DISCARD

READ = 0
WRITE = 1
ITER_DEST = READ  # the iterator is the destination: data is written into it
ITER_SOURCE = WRITE  # the iterator is the source: data is read out of it

UIO_FASTIOV = 8
UIO_MAXIOV = 1024
INT_MAX = 0x7FFFFFFF
SIZE_MAX = 0xFFFFFFFFFFFFFFFF
SSIZE_MAX = 0x7FFFFFFFFFFFFFFF
#: Linux caps every read/write at this many bytes (include/linux/fs.h)
MAX_RW_COUNT = INT_MAX & PAGE_MASK


class IovWarning(RuntimeWarning):
    """Raised through warnings.warn where the kernel would WARN_ON()."""


def WARN_ON(cond: bool, what: str) -> bool:  # noqa: N802 - kernel name
    if cond:
        warnings.warn(f"WARN_ON: {what}", IovWarning, stacklevel=3)
    return cond


# -- segments -------------------------------------------------------------------


@dataclass(frozen=True)
class Iovec:
    """struct iovec: a user address and a length (include/uapi/linux/uio.h)."""

    iov_base: int
    iov_len: int


def _byte_view(buf: Any) -> memoryview:
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


class Kvec:
    """struct kvec: a kernel buffer.  ``iov_base`` may be any Python buffer.

    ``Kvec(buf)`` covers the whole buffer; ``Kvec(buf, n)`` its first n bytes.
    ``mv`` is the covered bytes; ``addr`` their real address (for alignment
    queries and virt_to_page).
    """

    __slots__ = ("mv", "iov_len", "_addr")

    def __init__(self, iov_base: Any, iov_len: int | None = None):
        mv = _byte_view(iov_base)
        n = len(mv) if iov_len is None else iov_len
        if n < 0 or n > len(mv):
            raise IovError(f"kvec of {n} bytes over a buffer of {len(mv)}", errno=errno.EFAULT)
        self.mv = mv if n == len(mv) else mv[:n]
        self.iov_len = n
        self._addr: int | None = None

    @property
    def addr(self) -> int:
        if self._addr is None:
            from .page import buffer_address

            self._addr = buffer_address(self.mv) if self.iov_len else 0
        return self._addr

    iov_base = addr

    def __repr__(self) -> str:
        return f"Kvec(len={self.iov_len})"


class BioVec:
    """struct bio_vec: ``bv_len`` bytes at ``bv_offset`` into ``bv_page`` (include/linux/bvec.h).

    A bvec may run past its first page into the pages contiguous with it
    (a multi-page bvec), as the kernel allows for physically contiguous pages.
    """

    __slots__ = ("bv_page", "bv_len", "bv_offset", "_mv")

    def __init__(self, bv_page: Page, bv_len: int, bv_offset: int = 0):
        if bv_len < 0 or bv_offset < 0:
            raise IovError(f"bio_vec with len={bv_len} offset={bv_offset}", errno=errno.EINVAL)
        self.bv_page = bv_page
        self.bv_len = bv_len
        self.bv_offset = bv_offset
        self._mv: memoryview | None = None

    def view(self) -> memoryview:
        if self._mv is None or len(self._mv) != self.bv_len:
            self._mv = self.bv_page.span(self.bv_offset, self.bv_len)
        return self._mv

    def __repr__(self) -> str:
        return f"BioVec({self.bv_page!r}, len={self.bv_len:#x}, offset={self.bv_offset:#x})"


def bvec_set_page(bv_page: Page, bv_len: int, bv_offset: int = 0) -> BioVec:
    return BioVec(bv_page, bv_len, bv_offset)


class XArray(dict):
    """The page cache's xarray, reduced to what ITER_XARRAY needs: index -> Page."""


def xa_store(xa: XArray, index: int, page: Page) -> None:
    xa[index] = page


# -- the iterator ---------------------------------------------------------------


@dataclass
class IovIterState:
    """struct iov_iter_state (iov_iter_save_state / iov_iter_restore)."""

    iov_offset: int
    count: int
    nr_segs: int


class IovIter:
    """struct iov_iter.

    ``iter_type``, ``data_source``, ``iov_offset``, ``count`` and ``nr_segs``
    mean what they mean in the kernel; ``seg_index`` is the segment cursor
    (the kernel's advancing ``__iov``/``kvec``/``bvec`` pointer) into the
    segment array, ``nr_segs`` the segments left from it.  ``mm`` is the user
    address space UBUF/IOVEC addresses resolve against.
    """

    __slots__ = (
        "iter_type",
        "data_source",
        "nofault",
        "iov_offset",
        "count",
        "nr_segs",
        "_segs",
        "seg_index",
        "ubuf",
        "xarray",
        "xarray_start",
        "mm",
    )

    def __init__(
        self,
        iter_type: IterType,
        direction: int,
        count: int,
        *,
        segs: Sequence[Any] = (),
        nr_segs: int = 0,
        ubuf: int = 0,
        xarray: XArray | None = None,
        xarray_start: int = 0,
        mm: UserMemory | None = None,
    ):
        self.iter_type = iter_type
        self.data_source = bool(direction)
        self.nofault = False
        self.iov_offset = 0
        self.count = count
        self.nr_segs = nr_segs
        self._segs = segs
        self.seg_index = 0
        self.ubuf = ubuf
        self.xarray = xarray
        self.xarray_start = xarray_start
        self.mm = mm

    # kernel-style accessors
    @property
    def type(self) -> IterType:
        return self.iter_type

    @property
    def segments(self) -> tuple[Any, ...]:
        """The segments from the cursor on (what ``i->kvec[0..nr_segs)`` points at)."""
        return tuple(self._segs[self.seg_index : self.seg_index + self.nr_segs])

    @property
    def all_segments(self) -> Sequence[Any]:
        return self._segs

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        d = "ITER_SOURCE" if self.data_source else "ITER_DEST"
        return (
            f"<IovIter {self.iter_type.name} {d} count={self.count} "
            f"iov_offset={self.iov_offset} nr_segs={self.nr_segs}>"
        )

    # Python conveniences ---------------------------------------------------
    @classmethod
    def from_buffers(cls, buffers: Iterable[Any], direction: int = ITER_DEST) -> IovIter:
        """An ITER_KVEC iterator over bytearrays / memoryviews / mmaps / bytes."""
        kv = [b if isinstance(b, Kvec) else Kvec(b) for b in buffers]
        return iov_iter_kvec(direction, kv, len(kv), sum(k.iov_len for k in kv))

    def is_user_backed(self) -> bool:
        return self.iter_type in (ITER_UBUF, ITER_IOVEC)


# -- predicates (include/linux/uio.h) ------------------------------------------------


def iov_iter_type(i: IovIter) -> IterType:
    return i.iter_type


def iter_is_ubuf(i: IovIter) -> bool:
    return i.iter_type == ITER_UBUF


def iter_is_iovec(i: IovIter) -> bool:
    return i.iter_type == ITER_IOVEC


def iov_iter_is_kvec(i: IovIter) -> bool:
    return i.iter_type == ITER_KVEC


def iov_iter_is_bvec(i: IovIter) -> bool:
    return i.iter_type == ITER_BVEC


def iov_iter_is_discard(i: IovIter) -> bool:
    return i.iter_type == ITER_DISCARD


def iov_iter_is_xarray(i: IovIter) -> bool:
    return i.iter_type == ITER_XARRAY


def user_backed_iter(i: IovIter) -> bool:
    return i.iter_type in (ITER_UBUF, ITER_IOVEC)


def iov_iter_rw(i: IovIter) -> int:
    return WRITE if i.data_source else READ


# -- constructors -------------------------------------------------------------------


def _check_dir(direction: int) -> None:
    WARN_ON(bool(direction & ~(READ | WRITE)), f"iov_iter direction {direction:#x}")


def _segments(
    seq: Sequence[Any],
    nr_segs: int | None,
    conv: Callable[[Any], Any],
    lens: Callable[[Any], int],
    count: int | None,
    what: str,
) -> tuple[list, int, int]:
    nr = len(seq) if nr_segs is None else nr_segs
    if nr < 0 or nr > len(seq):
        raise IovError(f"{what}: nr_segs={nr} but {len(seq)} segments given", errno=errno.EINVAL)
    segs = [conv(s) for s in seq[:nr]]
    total = sum(lens(s) for s in segs)
    if count is None:
        count = total
    if count < 0 or count > total:
        raise IovError(
            f"{what}: count={count} exceeds the {total} bytes the segments hold", errno=errno.EINVAL
        )
    return segs, nr, count


def _as_iovec(s: Any) -> Iovec:
    if isinstance(s, Iovec):
        return s
    base, length = s
    return Iovec(int(base), int(length))


def _as_kvec(s: Any) -> Kvec:
    if isinstance(s, Kvec):
        return s
    if isinstance(s, tuple) and len(s) == 2 and isinstance(s[1], int):
        return Kvec(s[0], s[1])
    return Kvec(s)


def _as_bvec(s: Any) -> BioVec:
    if isinstance(s, BioVec):
        return s
    return BioVec(*s)


def iov_iter_init(
    direction: int,
    iov: Sequence[Any],
    nr_segs: int | None = None,
    count: int | None = None,
    *,
    mm: UserMemory | None = None,
) -> IovIter:
    """An ITER_IOVEC iterator over user memory (lib/iov_iter.c)."""
    _check_dir(direction)
    segs, nr, count = _segments(
        iov, nr_segs, _as_iovec, lambda s: s.iov_len, count, "iov_iter_init"
    )
    return IovIter(ITER_IOVEC, direction, count, segs=segs, nr_segs=nr, mm=mm or current_mm())


def iov_iter_kvec(
    direction: int, kvec: Sequence[Any], nr_segs: int | None = None, count: int | None = None
) -> IovIter:
    """An ITER_KVEC iterator over kernel buffers (any Python buffers)."""
    _check_dir(direction)
    segs, nr, count = _segments(
        kvec, nr_segs, _as_kvec, lambda s: s.iov_len, count, "iov_iter_kvec"
    )
    if not direction:
        for k, seg in enumerate(segs):
            if seg.mv.readonly and seg.iov_len:
                raise IovError(
                    f"kvec {k} is read-only but the iterator is ITER_DEST (written to)",
                    errno=errno.EFAULT,
                )
    return IovIter(ITER_KVEC, direction, count, segs=segs, nr_segs=nr)


def iov_iter_bvec(
    direction: int, bvec: Sequence[Any], nr_segs: int | None = None, count: int | None = None
) -> IovIter:
    """An ITER_BVEC iterator over (page, len, offset) bio_vecs."""
    _check_dir(direction)
    segs, nr, count = _segments(bvec, nr_segs, _as_bvec, lambda s: s.bv_len, count, "iov_iter_bvec")
    for seg in segs:
        seg.view()  # the pages under a multi-page bvec must be contiguous
    return IovIter(ITER_BVEC, direction, count, segs=segs, nr_segs=nr)


def iov_iter_ubuf(direction: int, buf: int, count: int, *, mm: UserMemory | None = None) -> IovIter:
    """An ITER_UBUF iterator: one user buffer, no segment array (include/linux/uio.h)."""
    _check_dir(direction)
    if count < 0:
        raise IovError(f"iov_iter_ubuf: count={count}", errno=errno.EINVAL)
    return IovIter(ITER_UBUF, direction, count, ubuf=buf, nr_segs=1, mm=mm or current_mm())


def iov_iter_discard(direction: int, count: int) -> IovIter:
    """An ITER_DISCARD iterator: swallows what is written to it; READ only."""
    if direction != READ:
        raise IovError(
            "iov_iter_discard: only a READ (ITER_DEST) iterator can discard (kernel BUG_ON)",
            errno=errno.EINVAL,
        )
    return IovIter(ITER_DISCARD, READ, count)


def iov_iter_xarray(direction: int, xarray: XArray, start: int, count: int) -> IovIter:
    """An ITER_XARRAY iterator over file positions [start, start+count) of an xarray."""
    if direction & ~1:
        raise IovError(
            f"iov_iter_xarray: direction {direction:#x} (kernel BUG_ON)", errno=errno.EINVAL
        )
    return IovIter(ITER_XARRAY, direction, count, xarray=xarray, xarray_start=start)


# -- the walk ---------------------------------------------------------------------

#: ustep(mm, user_address, progress, length) -> bytes not processed
UStep = Callable[[UserMemory, int, int, int], int]
#: step(view, progress) -> bytes not processed
KStep = Callable[[memoryview, int], int]


def _mm(i: IovIter) -> UserMemory:
    if i.mm is None:
        raise IovError(f"{i.iter_type.name} iterator without an address space")
    return i.mm


def iterate_and_advance(i: IovIter, length: int, ustep: UStep, step: KStep) -> int:
    """Walk the next ``length`` bytes, handing each piece to a step function, and advance.

    Mirrors iterate_and_advance2() (include/linux/iov_iter.h): a step returns
    what it could not process; a short step ends the walk, and the cursor is
    left exactly after the bytes processed.  Returns the bytes processed.
    """
    if i.count < length:
        length = i.count
    if length <= 0:
        return 0
    t = i.iter_type
    if t == ITER_UBUF:
        progress = length - ustep(_mm(i), i.ubuf + i.iov_offset, 0, length)
        i.iov_offset += progress
        i.count -= progress
        return progress
    if t == ITER_IOVEC or t == ITER_KVEC:
        segs = i._segs
        idx = start = i.seg_index
        end = start + i.nr_segs
        skip = i.iov_offset
        progress = 0
        user = t == ITER_IOVEC
        while idx < end:
            seg = segs[idx]
            part = seg.iov_len - skip
            if part > length:
                part = length
            if part:
                if user:
                    remain = ustep(_mm(i), seg.iov_base + skip, progress, part)
                else:
                    mv = seg.mv
                    remain = step(mv if part == len(mv) else mv[skip : skip + part], progress)
                consumed = part - remain
                progress += consumed
                skip += consumed
                length -= consumed
                if skip < seg.iov_len:
                    break
            idx += 1
            skip = 0
            if not length:
                break
        i.nr_segs -= idx - start
        i.seg_index = idx
        i.iov_offset = skip
        i.count -= progress
        return progress
    if t == ITER_BVEC:
        segs = i._segs
        idx = start = i.seg_index
        end = start + i.nr_segs
        skip = i.iov_offset
        progress = 0
        while idx < end:
            bv = segs[idx]
            part = bv.bv_len - skip
            if part > length:
                part = length
            if part:
                mv = bv.view()
                remain = step(mv if part == len(mv) else mv[skip : skip + part], progress)
            else:
                remain = 0
            consumed = part - remain
            length -= consumed
            progress += consumed
            skip += consumed
            if skip >= bv.bv_len:
                skip = 0
                idx += 1
            if remain or not length:
                break
        i.nr_segs -= idx - start
        i.seg_index = idx
        i.iov_offset = skip
        i.count -= progress
        return progress
    if t == ITER_XARRAY:
        pos = i.xarray_start + i.iov_offset
        progress = 0
        xa = i.xarray
        while length:
            page = xa.get((pos + progress) >> PAGE_SHIFT) if xa is not None else None
            if page is None:
                break
            off = (pos + progress) & (PAGE_SIZE - 1)
            part = min(length, PAGE_SIZE - off)
            remain = step(page.data[off : off + part], progress)
            consumed = part - remain
            progress += consumed
            length -= consumed
            if remain:
                break
        i.iov_offset += progress
        i.count -= progress
        return progress
    # ITER_DISCARD
    i.count -= length
    return length


# -- cursor operations (lib/iov_iter.c) ------------------------------------------------


def _seg_len(seg: Any) -> int:
    return seg.bv_len if isinstance(seg, BioVec) else seg.iov_len


def iov_iter_advance(i: IovIter, size: int) -> None:
    """Move the cursor ``size`` bytes on without touching data (clamped to count)."""
    if size < 0:
        raise IovError(f"iov_iter_advance by {size}", errno=errno.EINVAL)
    if i.count < size:
        size = i.count
    t = i.iter_type
    if t == ITER_UBUF or t == ITER_XARRAY:
        i.iov_offset += size
        i.count -= size
    elif t in (ITER_IOVEC, ITER_KVEC, ITER_BVEC):
        if not i.count:
            return
        i.count -= size
        size += i.iov_offset
        idx = start = i.seg_index
        end = start + i.nr_segs
        segs = i._segs
        while idx < end:
            n = _seg_len(segs[idx])
            if size < n:
                break
            size -= n
            idx += 1
        i.iov_offset = size
        i.nr_segs -= idx - start
        i.seg_index = idx
    elif t == ITER_DISCARD:
        i.count -= size


def iov_iter_revert(i: IovIter, unroll: int) -> None:
    """Move the cursor back ``unroll`` bytes (lib/iov_iter.c iov_iter_revert)."""
    if not unroll:
        return
    if WARN_ON(unroll > MAX_RW_COUNT or unroll < 0, f"iov_iter_revert by {unroll}"):
        return
    if i.iter_type == ITER_DISCARD:
        i.count += unroll
        return
    if unroll <= i.iov_offset:
        i.count += unroll
        i.iov_offset -= unroll
        return
    if i.iter_type in (ITER_UBUF, ITER_XARRAY):
        unroll -= i.iov_offset
        raise IovError(
            f"iov_iter_revert: {unroll} bytes before the start of the "
            f"{i.iter_type.name} range (kernel BUG())",
            errno=errno.EINVAL,
        )
    total = unroll
    unroll -= i.iov_offset
    idx = i.seg_index
    nr = i.nr_segs
    while True:
        if idx == 0:
            raise IovError(
                f"iov_iter_revert: {unroll} bytes before the first segment", errno=errno.EINVAL
            )
        idx -= 1
        n = _seg_len(i._segs[idx])
        nr += 1
        if unroll <= n:
            i.count += total
            i.seg_index = idx
            i.nr_segs = nr
            i.iov_offset = n - unroll
            return
        unroll -= n


def iov_iter_truncate(i: IovIter, count: int) -> None:
    """Cap count at ``count`` (an upper limit, not a new size)."""
    if i.count > count:
        i.count = count


def iov_iter_reexpand(i: IovIter, count: int) -> None:
    """Undo a truncate: set count back (no more than was cut off)."""
    i.count = count


def iov_iter_save_state(i: IovIter) -> IovIterState:
    return IovIterState(i.iov_offset, i.count, i.nr_segs)


def iov_iter_restore(i: IovIter, state: IovIterState) -> None:
    """Put the cursor back where iov_iter_save_state() found it.

    The kernel's guard reads ``WARN_ON_ONCE(!bvec && !iovec && !ubuf) && !kvec``,
    so a KVEC iterator is restored but trips the warning; that is reproduced.
    """
    t = i.iter_type
    if (
        WARN_ON(t not in (ITER_BVEC, ITER_IOVEC, ITER_UBUF), f"iov_iter_restore on {t.name}")
        and t != ITER_KVEC
    ):
        return
    i.iov_offset = state.iov_offset
    i.count = state.count
    if t == ITER_UBUF:
        return
    i.seg_index -= state.nr_segs - i.nr_segs
    i.nr_segs = state.nr_segs


def dup_iter(old: IovIter) -> IovIter:
    """A copy of ``old`` with its own copy of the remaining segment array (lib/iov_iter.c)."""
    new = IovIter(
        old.iter_type,
        iov_iter_rw(old),
        old.count,
        ubuf=old.ubuf,
        xarray=old.xarray,
        xarray_start=old.xarray_start,
        mm=old.mm,
    )
    new.data_source = old.data_source
    new.nofault = old.nofault
    new.iov_offset = old.iov_offset
    new.nr_segs = old.nr_segs
    if old.iter_type in (ITER_IOVEC, ITER_KVEC, ITER_BVEC):
        new._segs = list(old._segs[old.seg_index : old.seg_index + old.nr_segs])
    return new


def iov_iter_count(i: IovIter) -> int:
    return i.count
