"""Dynamic pointers: ``struct bpf_dynptr`` on the program's stack (kernel/bpf/helpers.c,
kernel/bpf/ringbuf.c).

The 16 bytes are laid out as the kernel's ``struct bpf_dynptr_kern``:
``data`` (u64 address) at 0, ``size`` (u32) at 8, ``offset`` (u32) at 12. The
size word carries the length in its low 24 bits (DYNPTR_SIZE_MASK), the type
in bits 28..30 and the read-only flag in bit 31. ``data`` is an address in the
VM's memory (a stack, map value or ring buffer sample), so the program and
the helpers see the same bytes. A null dynptr is all zeros.
"""

from __future__ import annotations

import errno as E
import struct
from dataclasses import dataclass
from typing import Any

from ..uapi import U64_MAX as M64
from .output import ringbuf_discard, ringbuf_reserve, ringbuf_submit

__all__ = [
    "BPF_DYNPTR_TYPE_INVALID",
    "BPF_DYNPTR_TYPE_LOCAL",
    "BPF_DYNPTR_TYPE_RINGBUF",
    "BPF_DYNPTR_TYPE_SKB",
    "BPF_DYNPTR_TYPE_XDP",
    "DYNPTR_MAX_SIZE",
    "Dynptr",
    "dynptr_data",
    "dynptr_from_mem",
    "dynptr_read",
    "dynptr_write",
    "read_dynptr",
    "ringbuf_discard_dynptr",
    "ringbuf_reserve_dynptr",
    "ringbuf_submit_dynptr",
]

#: enum bpf_dynptr_type (include/linux/bpf.h)
BPF_DYNPTR_TYPE_INVALID = 0
BPF_DYNPTR_TYPE_LOCAL = 1
BPF_DYNPTR_TYPE_RINGBUF = 2
BPF_DYNPTR_TYPE_SKB = 3
BPF_DYNPTR_TYPE_XDP = 4
DYNPTR_MAX_SIZE = (1 << 24) - 1
DYNPTR_TYPE_SHIFT = 28
DYNPTR_SIZE_MASK = 0xFFFFFF
DYNPTR_RDONLY_BIT = 1 << 31
SIZEOF_DYNPTR = 16
_KERN = struct.Struct("<QII")


def _neg(err: int) -> int:
    return (-err) & M64


@dataclass(frozen=True)
class Dynptr:
    """A decoded ``struct bpf_dynptr_kern``."""

    data: int
    size_word: int
    offset: int

    @property
    def size(self) -> int:
        return self.size_word & DYNPTR_SIZE_MASK

    @property
    def type(self) -> int:
        return (self.size_word & ~DYNPTR_RDONLY_BIT) >> DYNPTR_TYPE_SHIFT

    @property
    def rdonly(self) -> bool:
        return bool(self.size_word & DYNPTR_RDONLY_BIT)

    def check_off_len(self, offset: int, length: int) -> bool:
        """bpf_dynptr_check_off_len(): the range lies inside the dynptr."""
        return length <= self.size and offset <= self.size - length


def read_dynptr(mem: Any, addr: int, pc: int | None = None) -> Dynptr:
    """The dynptr stored at ``addr``."""
    return Dynptr(*_KERN.unpack(mem.read(addr, SIZEOF_DYNPTR, pc)))


def _init(mem: Any, addr: int, data: int, kind: int, offset: int, size: int) -> None:
    """bpf_dynptr_init()."""
    mem.write(addr, _KERN.pack(data & M64, size | kind << DYNPTR_TYPE_SHIFT, offset))


def _set_null(mem: Any, addr: int) -> None:
    mem.write(addr, bytes(SIZEOF_DYNPTR))


def dynptr_from_mem(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_dynptr_from_mem(data, size, flags, ptr): a LOCAL dynptr over ``size`` bytes."""
    size = r2 & 0xFFFF_FFFF
    if size > DYNPTR_MAX_SIZE:
        _set_null(env.mem, r4)
        return _neg(E.E2BIG)
    if r3:
        _set_null(env.mem, r4)
        return _neg(E.EINVAL)
    _init(env.mem, r4, r1, BPF_DYNPTR_TYPE_LOCAL, 0, size)
    return 0


def dynptr_read(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_dynptr_read(dst, len, src, offset, flags): copy out of the dynptr."""
    n, offset = r2 & 0xFFFF_FFFF, r4 & 0xFFFF_FFFF
    src = read_dynptr(env.mem, r3, env.pc)
    if not src.data or r5:
        return _neg(E.EINVAL)
    if not src.check_off_len(offset, n):
        return _neg(E.E2BIG)
    if src.type in (BPF_DYNPTR_TYPE_LOCAL, BPF_DYNPTR_TYPE_RINGBUF):
        if n:
            env.mem.write(r1, env.mem.read(src.data + src.offset + offset, n, env.pc), env.pc)
        return 0
    return _neg(E.EFAULT)  # skb/xdp dynptrs come from kfuncs pybpf does not run


def dynptr_write(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_dynptr_write(dst, offset, src, len, flags): copy into the dynptr."""
    offset, n = r2 & 0xFFFF_FFFF, r4 & 0xFFFF_FFFF
    dst = read_dynptr(env.mem, r1, env.pc)
    if not dst.data or dst.rdonly:
        return _neg(E.EINVAL)
    if not dst.check_off_len(offset, n):
        return _neg(E.E2BIG)
    if dst.type in (BPF_DYNPTR_TYPE_LOCAL, BPF_DYNPTR_TYPE_RINGBUF):
        if r5:
            return _neg(E.EINVAL)
        if n:
            env.mem.write(dst.data + dst.offset + offset, env.mem.read(r3, n, env.pc), env.pc)
        return 0
    return _neg(E.EFAULT)


def dynptr_data(env: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_dynptr_data(ptr, offset, len): a direct pointer to the bytes, or NULL."""
    offset, n = r2 & 0xFFFF_FFFF, r3 & 0xFFFF_FFFF
    p = read_dynptr(env.mem, r1, env.pc)
    if not p.data or not p.check_off_len(offset, n) or p.rdonly:
        return 0
    if p.type in (BPF_DYNPTR_TYPE_LOCAL, BPF_DYNPTR_TYPE_RINGBUF):
        return (p.data + p.offset + offset) & M64
    return 0


def ringbuf_reserve_dynptr(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_ringbuf_reserve_dynptr(map, size, flags, ptr): a RINGBUF dynptr over a new
    sample; -EINVAL for flags or no room, -E2BIG past DYNPTR_MAX_SIZE (ringbuf.c)."""
    size = r2 & 0xFFFF_FFFF
    if r3:
        _set_null(env.mem, r4)
        return _neg(E.EINVAL)
    if size > DYNPTR_MAX_SIZE:
        _set_null(env.mem, r4)
        return _neg(E.E2BIG)
    sample = ringbuf_reserve(env, r1, size, 0)
    if not sample:
        _set_null(env.mem, r4)
        return _neg(E.EINVAL)
    _init(env.mem, r4, sample, BPF_DYNPTR_TYPE_RINGBUF, 0, size)
    return 0


def _ringbuf_commit_dynptr(op: str) -> Any:
    def fn(env: Any, r1: int, r2: int, *_: int) -> int:
        p = read_dynptr(env.mem, r1, env.pc)
        if not p.data:
            return 0
        commit = ringbuf_submit if op == "submit" else ringbuf_discard
        commit(env, p.data, r2)
        _set_null(env.mem, r1)
        return 0

    fn.__name__ = f"ringbuf_{op}_dynptr"
    fn.__doc__ = f"bpf_ringbuf_{op}_dynptr(ptr, flags): {op} the sample; a null dynptr is a no-op."
    return fn


ringbuf_submit_dynptr = _ringbuf_commit_dynptr("submit")
ringbuf_discard_dynptr = _ringbuf_commit_dynptr("discard")
