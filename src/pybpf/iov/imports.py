"""Importing user iovecs into an iov_iter with the kernel's checks (lib/iov_iter.c).

import_iovec() is how readv/writev/sendmsg/recvmsg turn a user's iovec array
into an iterator: at most UIO_MAXIOV segments (EINVAL), no length that is
negative as an ssize_t (EINVAL), every segment inside the user address space
(access_ok, EFAULT), the total clamped to MAX_RW_COUNT, and a single segment
imported as ITER_UBUF.  Errors raise IovError carrying that errno.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Sequence
from typing import Any

from ..errors import IovError
from .iter import (
    MAX_RW_COUNT,
    SSIZE_MAX,
    UIO_FASTIOV,
    UIO_MAXIOV,
    Iovec,
    IovIter,
    iov_iter_init,
    iov_iter_ubuf,
)
from .usermem import UserMemory, access_ok, current_mm

IOVEC_SIZE = 16  # struct iovec on 64-bit: void *iov_base; size_t iov_len


def import_ubuf(rw: int, buf: int, length: int, *, mm: UserMemory | None = None) -> IovIter:
    """A single user buffer as ITER_UBUF, clamped to MAX_RW_COUNT; EFAULT outside user space."""
    if length > MAX_RW_COUNT:
        length = MAX_RW_COUNT
    if not access_ok(buf, length):
        raise IovError(
            f"user buffer {buf:#x}+{length:#x} is outside the address space", errno=errno.EFAULT
        )
    return iov_iter_ubuf(rw, buf, length, mm=mm)


def iovec_from_user(uvec: Any, nr_segs: int, mm: UserMemory) -> list[Iovec]:
    """Read ``nr_segs`` struct iovec from user address ``uvec`` (or take a given list)."""
    if isinstance(uvec, int):
        raw = bytearray(nr_segs * IOVEC_SIZE)
        if not access_ok(uvec, len(raw)) or mm.raw_copy_from_user(raw, uvec, len(raw)):
            raise IovError(f"iovec array at {uvec:#x} is not readable", errno=errno.EFAULT)
        pairs = list(struct.iter_unpack("<QQ", raw))
    else:
        if len(uvec) < nr_segs:
            raise IovError(f"{nr_segs} segments announced, {len(uvec)} given", errno=errno.EFAULT)
        pairs = [
            (s.iov_base, s.iov_len) if isinstance(s, Iovec) else tuple(s) for s in uvec[:nr_segs]
        ]
    out = []
    for k, (base, length) in enumerate(pairs):
        length &= 0xFFFFFFFFFFFFFFFF
        if length > SSIZE_MAX:
            raise IovError(
                f"iovec {k}: length {length:#x} is negative as ssize_t", errno=errno.EINVAL
            )
        out.append(Iovec(base & 0xFFFFFFFFFFFFFFFF, length))
    return out


def import_iovec(
    type: int,
    uvec: int | Sequence[Any],
    nr_segs: int,
    fast_segs: int = UIO_FASTIOV,
    *,
    mm: UserMemory | None = None,
) -> IovIter:
    """Validate a user iovec array and return an iterator over it.

    ``uvec`` is the user address of the array in ``mm`` (default: current),
    or the array itself as Iovec / (base, len) pairs.  The imported total is
    ``iov_iter_count()`` of the result.
    """
    mm = mm or current_mm()
    if nr_segs < 0:
        raise IovError(f"nr_segs {nr_segs}", errno=errno.EINVAL)
    if nr_segs == 1:
        (seg,) = iovec_from_user(uvec, 1, mm)
        return import_ubuf(type, seg.iov_base, seg.iov_len, mm=mm)
    if nr_segs > UIO_MAXIOV:
        raise IovError(f"{nr_segs} segments exceed UIO_MAXIOV ({UIO_MAXIOV})", errno=errno.EINVAL)
    iov = iovec_from_user(uvec, nr_segs, mm) if nr_segs else []
    total = 0
    for k, seg in enumerate(iov):
        length = seg.iov_len
        if not access_ok(seg.iov_base, length):
            raise IovError(
                f"iovec {k} ({seg.iov_base:#x}+{length:#x}) is outside the user address space",
                errno=errno.EFAULT,
            )
        if length > MAX_RW_COUNT - total:
            length = MAX_RW_COUNT - total
            iov[k] = Iovec(seg.iov_base, length)
        total += length
    return iov_iter_init(type, iov, nr_segs, total, mm=mm)
