"""Driving real system calls with an iov_iter.

readv/writev/preadv/pwritev and socket sendmsg/recvmsg_into take the
iterator's remaining segments as the iovec array, advance the iterator by what
the call really moved, and (where that makes sense) call again after a short
transfer until the iterator is used up, EOF, or the descriptor would block.
Only iterators over real memory work here: ITER_KVEC (Python buffers),
ITER_BVEC (pages) and, for reads, ITER_DISCARD.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

from ..errors import IovError, NotSupportedError
from .iter import ITER_BVEC, ITER_DISCARD, ITER_KVEC, IovIter, iov_iter_advance

try:
    IOV_MAX = os.sysconf("SC_IOV_MAX")
except (ValueError, OSError):  # pragma: no cover - every Linux has it
    IOV_MAX = 1024

_DISCARD_CHUNK = 1 << 16


def iter_buffers(i: IovIter, limit: int = IOV_MAX) -> list[memoryview]:
    """The remaining bytes of ``i`` as at most ``limit`` non-empty memoryviews."""
    t = i.iter_type
    out: list[memoryview] = []
    left = i.count
    if t == ITER_DISCARD:
        return [memoryview(bytearray(min(left, _DISCARD_CHUNK)))] if left else []
    if t not in (ITER_KVEC, ITER_BVEC):
        raise NotSupportedError(
            f"{t.name} iterators describe pybpf's model of user memory, not real memory: "
            "use IovIter.from_buffers() or a bvec for system calls"
        )
    skip = i.iov_offset
    for k in range(i.seg_index, i.seg_index + i.nr_segs):
        if not left or len(out) == limit:
            break
        seg = i._segs[k]
        mv = (seg.view() if t == ITER_BVEC else seg.mv)[skip : skip + left]
        skip = 0
        if len(mv):
            out.append(mv)
            left -= len(mv)
    return out


def _need(i: IovIter, source: bool, call: str) -> None:
    if i.data_source != source:
        want = "ITER_SOURCE (WRITE)" if source else "ITER_DEST (READ)"
        raise IovError(f"{call} needs an {want} iterator, got {i!r}", errno=errno.EINVAL)


def _drive(i: IovIter, once: Any, retry: bool) -> int:
    total = 0
    while i.count:
        bufs = iter_buffers(i)
        try:
            n = once(bufs)
        except BlockingIOError:
            if total:
                break
            raise
        if n <= 0:
            break
        iov_iter_advance(i, n)
        total += n
        if not retry:
            break
    return total


def readv(fd: int, i: IovIter, *, retry: bool = True) -> int:
    """os.readv into the iterator; returns bytes read (0 at EOF)."""
    _need(i, False, "readv")
    return _drive(i, lambda b: os.readv(fd, b), retry)


def writev(fd: int, i: IovIter, *, retry: bool = True) -> int:
    """os.writev from the iterator; returns bytes written."""
    _need(i, True, "writev")
    return _drive(i, lambda b: os.writev(fd, b), retry)


def preadv(fd: int, i: IovIter, offset: int, *, retry: bool = True) -> int:
    _need(i, False, "preadv")
    pos = [offset]

    def once(bufs: list[memoryview]) -> int:
        n = os.preadv(fd, bufs, pos[0])
        pos[0] += n
        return n

    return _drive(i, once, retry)


def pwritev(fd: int, i: IovIter, offset: int, *, retry: bool = True) -> int:
    _need(i, True, "pwritev")
    pos = [offset]

    def once(bufs: list[memoryview]) -> int:
        n = os.pwritev(fd, bufs, pos[0])
        pos[0] += n
        return n

    return _drive(i, once, retry)


def sendmsg(
    sock: socket.socket,
    i: IovIter,
    ancdata: Any = (),
    flags: int = 0,
    address: Any = None,
    *,
    retry: bool | None = None,
) -> int:
    """socket.sendmsg from the iterator.

    A datagram is one call (it cannot be split); on a stream socket short
    sends are retried unless ``retry=False``.
    """
    _need(i, True, "sendmsg")
    if retry is None:
        retry = sock.type == socket.SOCK_STREAM
    sent_anc = [False]

    def once(bufs: list[memoryview]) -> int:
        anc = () if sent_anc[0] else ancdata
        sent_anc[0] = True
        if address is None:
            return sock.sendmsg(bufs, anc, flags)
        return sock.sendmsg(bufs, anc, flags, address)

    return _drive(i, once, retry)


def recvmsg_into(
    sock: socket.socket, i: IovIter, ancbufsize: int = 0, flags: int = 0, *, waitall: bool = False
) -> tuple[int, list, int, Any]:
    """socket.recvmsg_into the iterator; returns (nbytes, ancdata, msg_flags, address).

    One datagram per call on datagram sockets (msg_flags has MSG_TRUNC when it
    did not fit).  With ``waitall`` on a stream socket, receives until the
    iterator is full or the peer closes.
    """
    _need(i, False, "recvmsg_into")
    total, anc_all, mflags, addr = 0, [], 0, None
    while i.count:
        bufs = iter_buffers(i)
        n, anc, mflags, addr = sock.recvmsg_into(bufs, ancbufsize if not total else 0, flags)
        anc_all.extend(anc)
        if n > 0:
            iov_iter_advance(i, min(n, i.count))
            total += n
        if n <= 0 or not waitall or sock.type != socket.SOCK_STREAM:
            break
    return total, anc_all, mflags, addr
