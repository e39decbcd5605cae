"""bpf_strtol, bpf_strtoul and bpf_strncmp (kernel/bpf/helpers.c over lib/kstrtox.c).

The parsing follows __bpf_strtoull(): leading white space, one optional
``-``, at most 63 characters copied to a NUL-terminated buffer, the base
picked as _parse_integer_fixup_radix() does (0 means 8, 10 or 16 from the
prefix), -ERANGE on overflow and -EINVAL when no digit was consumed.
"""

from __future__ import annotations

import errno as E
from typing import Any

from ..uapi import U64_MAX as M64

__all__ = ["BPF_STRTOX_BASE_MASK", "strncmp", "strtol", "strtoul"]


def _neg(err: int) -> int:
    return (-err) & M64


BPF_STRTOX_BASE_MASK = 0x1F


def _parse_ull(buf: bytes, flags: int) -> tuple[int, int, bool]:
    """__bpf_strtoull(): (consumed or -errno, value, negative)."""
    base = flags & BPF_STRTOX_BASE_MASK
    if not buf or base not in (0, 8, 10, 16) or flags & ~BPF_STRTOX_BASE_MASK:
        return -E.EINVAL, 0, False
    i = 0
    while i < len(buf) and buf[i] in b" \t\n\v\f\r":
        i += 1
    neg = i < len(buf) and buf[i] == 0x2D
    if neg:
        i += 1
    consumed = i
    s = buf[i : i + 63].split(b"\0", 1)[0]
    if len(buf) - i == 0:
        return -E.EINVAL, 0, neg
    j = 0
    if base == 0:
        if s[:1] == b"0":
            base = (
                16
                if s[1:2].lower() == b"x" and s[2:3] and s[2:3] in b"0123456789abcdefABCDEF"
                else 8
            )
        else:
            base = 10
    if base == 16 and s[:1] == b"0" and s[1:2].lower() == b"x":
        j = 2
    start = j
    val = 0
    overflow = False
    while j < len(s):
        c = chr(s[j]).lower()
        d = int(c, 16) if c in "0123456789abcdef" else 99
        if d >= base:
            break
        val = val * base + d
        if val > M64:
            overflow = True
        j += 1
    if overflow:
        return -E.ERANGE, 0, neg
    if j == start:
        return -E.EINVAL, 0, neg
    return consumed + j, val & M64, neg


def strtol(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_strtol(buf, buf_len, flags, res): signed long into *res, returns bytes consumed."""
    buf = env.mem.read(r1, r2 & 0xFFFF_FFFF)
    env.mem.write(r4, bytes(8))
    consumed, val, neg = _parse_ull(buf, r3)
    if consumed < 0:
        return _neg(-consumed)
    if neg:
        if val > 1 << 63:
            return _neg(E.ERANGE)
        res = -val
    else:
        if val >= 1 << 63:
            return _neg(E.ERANGE)
        res = val
    env.mem.write(r4, (res & M64).to_bytes(8, "little"))
    return consumed


def strtoul(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_strtoul(buf, buf_len, flags, res): unsigned long; a leading '-' is -EINVAL."""
    buf = env.mem.read(r1, r2 & 0xFFFF_FFFF)
    env.mem.write(r4, bytes(8))
    consumed, val, neg = _parse_ull(buf, r3)
    if consumed < 0:
        return _neg(-consumed)
    if neg:
        return _neg(E.EINVAL)
    env.mem.write(r4, val.to_bytes(8, "little"))
    return consumed


def strncmp(env: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_strncmp(s1, s1_sz, s2): the kernel's strncmp, -1/0/1."""
    n = r2 & 0xFFFF_FFFF
    for i in range(n):
        c1 = env.mem.read(r1 + i, 1)[0]
        c2 = env.mem.read(r3 + i, 1)[0]
        if c1 != c2:
            return _neg(1) if c1 < c2 else 1
        if not c1:
            break
    return 0
