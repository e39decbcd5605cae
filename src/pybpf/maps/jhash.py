"""Bob Jenkins' lookup3 hash as include/linux/jhash.h defines jhash() and jhash2().

The hash map picks a bucket with it (htab_map_hash() in kernel/bpf/hashtab.c),
which decides the order BPF_MAP_GET_NEXT_KEY walks; with BPF_F_ZERO_SEED the
seed is 0 and that order is the kernel's, key for key.
"""

from __future__ import annotations

import struct

JHASH_INITVAL = 0xDEADBEEF
M = 0xFFFFFFFF


def _rol(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & M


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & M
    a ^= _rol(c, 4)
    c = (c + b) & M  # noqa: E702
    b = (b - a) & M
    b ^= _rol(a, 6)
    a = (a + c) & M  # noqa: E702
    c = (c - b) & M
    c ^= _rol(b, 8)
    b = (b + a) & M  # noqa: E702
    a = (a - c) & M
    a ^= _rol(c, 16)
    c = (c + b) & M  # noqa: E702
    b = (b - a) & M
    b ^= _rol(a, 19)
    a = (a + c) & M  # noqa: E702
    c = (c - b) & M
    c ^= _rol(b, 4)
    b = (b + a) & M  # noqa: E702
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c ^= b
    c = (c - _rol(b, 14)) & M  # noqa: E702
    a ^= c
    a = (a - _rol(c, 11)) & M  # noqa: E702
    b ^= a
    b = (b - _rol(a, 25)) & M  # noqa: E702
    c ^= b
    c = (c - _rol(b, 16)) & M  # noqa: E702
    a ^= c
    a = (a - _rol(c, 4)) & M  # noqa: E702
    b ^= a
    b = (b - _rol(a, 14)) & M  # noqa: E702
    c ^= b
    c = (c - _rol(b, 24)) & M  # noqa: E702
    return c


def jhash(key: bytes, initval: int = 0) -> int:
    """jhash(): bytes of any length, little-endian words (x86)."""
    n = len(key)
    a = b = c = (JHASH_INITVAL + n + initval) & M
    i = 0
    while n > 12:
        x, y, z = struct.unpack_from("<III", key, i)
        a = (a + x) & M
        b = (b + y) & M
        c = (c + z) & M
        a, b, c = _mix(a, b, c)
        n -= 12
        i += 12
    if n == 0:
        return c
    tail = key[i:] + bytes(12 - n)
    x, y, z = struct.unpack("<III", tail)
    a = (a + x) & M
    b = (b + y) & M
    c = (c + z) & M
    return _final(a, b, c)


def jhash2(key: bytes, initval: int = 0) -> int:
    """jhash2(): an array of u32 (len(key) a multiple of 4)."""
    words = struct.unpack(f"<{len(key) // 4}I", key)
    n = len(words)
    a = b = c = (JHASH_INITVAL + (n << 2) + initval) & M
    i = 0
    while n > 3:
        a = (a + words[i]) & M
        b = (b + words[i + 1]) & M
        c = (c + words[i + 2]) & M
        a, b, c = _mix(a, b, c)
        n -= 3
        i += 3
    if n == 0:
        return c
    rest = list(words[i:]) + [0] * (3 - n)
    a = (a + rest[0]) & M
    b = (b + rest[1]) & M
    c = (c + rest[2]) & M
    return _final(a, b, c)


def htab_map_hash(key: bytes, hashrnd: int) -> int:
    """htab_map_hash(): jhash2 for keys that are whole u32 words, jhash otherwise."""
    if len(key) % 4 == 0:
        return jhash2(key, hashrnd)
    return jhash(key, hashrnd)
