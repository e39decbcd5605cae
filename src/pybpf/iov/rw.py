"""What read/write system calls do with an iov_iter, modelled (fs/read_write.c, mm/shmem.c).

Enough of preadv/pwritev on a regular (shmem/memfd) file to predict, from
pybpf's user-memory model, the result the real kernel gives for the same
iovec layout: bytes moved up to the first fault, -EFAULT when nothing could
be moved, the import errors of import_iovec().
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import Any

from ..errors import IovError
from .copy import copy_from_iter, copy_to_iter
from .imports import import_iovec
from .iter import READ, WRITE
from .usermem import UserMemory


def do_preadv(
    mm: UserMemory, file: bytes | bytearray, uvec: int | Sequence[Any], vlen: int, pos: int = 0
) -> int:
    """preadv(2) from a file holding ``file``: bytes read or -errno."""
    try:
        it = import_iovec(READ, uvec, vlen, mm=mm)
    except IovError as e:
        return -e.errno
    data = memoryview(bytes(file))[pos : pos + it.count]
    if not len(data):
        return 0
    n = copy_to_iter(data, len(data), it)
    return n if n else -errno.EFAULT


def do_pwritev(
    mm: UserMemory, file: bytearray, uvec: int | Sequence[Any], vlen: int, pos: int = 0
) -> int:
    """pwritev(2) into a file whose contents are ``file`` (grown as needed): bytes or -errno."""
    try:
        it = import_iovec(WRITE, uvec, vlen, mm=mm)
    except IovError as e:
        return -e.errno
    if not it.count:
        return 0
    buf = bytearray(it.count)
    n = copy_from_iter(buf, len(buf), it)
    if not n:
        return -errno.EFAULT
    if len(file) < pos + n:
        file.extend(bytes(pos + n - len(file)))
    file[pos : pos + n] = buf[:n]
    return n
