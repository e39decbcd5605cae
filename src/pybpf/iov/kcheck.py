"""Run one iovec layout through the real kernel and through pybpf's model, side by side.

A region of real pages (mmap, with PROT_NONE guard pages on both sides) gets
per-page protections; the same region is mirrored in a UserMemory at the same
addresses.  preadv/pwritev on a memfd through ctypes gives the kernel's
answer, rw.do_preadv/do_pwritev pybpf's.  Used by ``pybpf iov fault``.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import IovError
from .page import PAGE_SIZE
from .rw import do_preadv, do_pwritev
from .usermem import PROT_NONE, PROT_READ, PROT_WRITE, UserMemory

UNMAPPED = -1
PROT_NAMES = {
    "none": PROT_NONE,
    "r": PROT_READ,
    "w": PROT_WRITE,
    "rw": PROT_READ | PROT_WRITE,
    "unmapped": UNMAPPED,
}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


class _IOVEC(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


for _fn in (_libc.preadv, _libc.pwritev):
    _fn.argtypes = [ctypes.c_int, ctypes.POINTER(_IOVEC), ctypes.c_int, ctypes.c_long]
    _fn.restype = ctypes.c_ssize_t


@dataclass
class Outcome:
    real: int
    model: int
    memory_agrees: bool

    @property
    def agree(self) -> bool:
        return self.real == self.model and self.memory_agrees


def compare(
    prots: Sequence[int],
    layout: Sequence[tuple[int, int]],
    *,
    write: bool = False,
    pos: int = 0,
    file: bytes | None = None,
) -> Outcome:
    """Segments are (offset into the region, length); offsets may reach into the guards."""
    n = len(prots)
    outer = _libc.mmap(None, (n + 2) * PAGE_SIZE, 3, 0x22, -1, 0)
    if outer in (None, ctypes.c_void_p(-1).value):
        raise IovError("mmap failed", errno=ctypes.get_errno())
    base = outer + PAGE_SIZE
    mm = UserMemory()
    mm.mmap((n + 2) * PAGE_SIZE, addr=outer)
    fill = bytes((k * 13 + 5) & 0xFF for k in range(n * PAGE_SIZE))
    ctypes.memmove(base, fill, len(fill))
    mm.poke(base, fill)
    for k, prot in [(-1, PROT_NONE), (n, PROT_NONE), *enumerate(prots)]:
        at = base + k * PAGE_SIZE
        if prot == UNMAPPED:
            _libc.munmap(at, PAGE_SIZE)
            mm.munmap(at, PAGE_SIZE)
        else:
            _libc.mprotect(at, PAGE_SIZE, prot)
            mm.mprotect(at, PAGE_SIZE, prot)
    data = file if file is not None else bytes((k * 7 + 3) & 0xFF for k in range(n * PAGE_SIZE))
    fd = os.memfd_create("pybpf-iov")
    try:
        os.write(fd, data)
        segs = [(base + off, ln) for off, ln in layout]
        arr = (_IOVEC * max(1, len(segs)))(*[_IOVEC(b, ln) for b, ln in segs])
        call = _libc.pwritev if write else _libc.preadv
        real = call(fd, arr, len(segs), pos)
        real = real if real >= 0 else -ctypes.get_errno()
        if write:
            model_file = bytearray(data)
            model = do_pwritev(mm, model_file, segs, len(segs), pos)
            size = os.fstat(fd).st_size
            same = os.pread(fd, size, 0) == bytes(model_file)
        else:
            model = do_preadv(mm, data, segs, len(segs), pos)
            same = True
            for k, prot in enumerate(prots):
                at = base + k * PAGE_SIZE
                if prot != UNMAPPED:
                    _libc.mprotect(at, PAGE_SIZE, PROT_READ)
                    same &= ctypes.string_at(at, PAGE_SIZE) == mm.peek(at, PAGE_SIZE)
        return Outcome(real, model, same)
    finally:
        os.close(fd)
        _libc.munmap(outer, (n + 2) * PAGE_SIZE)
