"""Tristate numbers: what the verifier knows about each bit of a scalar.

A tnum is (value, mask): bits set in ``mask`` are unknown, the others equal
the bits of ``value``. The operations are the kernel's (kernel/bpf/tnum.c of
Linux 6.18), written over Python ints masked to 64 bits.
"""

from __future__ import annotations

from typing import NamedTuple

U64 = (1 << 64) - 1
U32 = (1 << 32) - 1
_HI32 = U64 ^ U32


class Tnum(NamedTuple):
    value: int
    mask: int

    @property
    def is_const(self) -> bool:
        return self.mask == 0

    def __str__(self) -> str:
        return tnum_str(self)


UNKNOWN = Tnum(0, U64)
ZERO = Tnum(0, 0)


def tnum_str(a: Tnum) -> str:
    """tnum_strn(): a constant in decimal up to 0xffff, else ``(0x..; 0x..)``."""
    if a.mask == 0:
        return str(a.value) if a.value <= 0xFFFF else f"{a.value:#x}"
    return f"({a.value:#x}; {a.mask:#x})"


def const(v: int) -> Tnum:
    return Tnum(v & U64, 0)


def trange(lo: int, hi: int) -> Tnum:
    """tnum_range(): the tnum of every value in [lo, hi] (unsigned)."""
    bits = (lo ^ hi).bit_length()
    if bits > 63:
        return UNKNOWN
    delta = (1 << bits) - 1
    return Tnum(lo & ~delta & U64, delta)


def lshift(a: Tnum, s: int) -> Tnum:
    return Tnum((a.value << s) & U64, (a.mask << s) & U64)


def rshift(a: Tnum, s: int) -> Tnum:
    return Tnum(a.value >> s, a.mask >> s)


def arshift(a: Tnum, s: int, bits: int) -> Tnum:
    """tnum_arshift(): the sign bit of value and mask both spread, at 32 or 64 bits."""
    full = (1 << bits) - 1
    sign = 1 << (bits - 1)

    def sar(x: int) -> int:
        x &= full
        if x & sign:
            x -= 1 << bits
        return (x >> s) & full

    return Tnum(sar(a.value), sar(a.mask))


def add(a: Tnum, b: Tnum) -> Tnum:
    sm = (a.mask + b.mask) & U64
    sv = (a.value + b.value) & U64
    chi = ((sm + sv) & U64) ^ sv
    mu = chi | a.mask | b.mask
    return Tnum(sv & ~mu & U64, mu)


def sub(a: Tnum, b: Tnum) -> Tnum:
    dv = (a.value - b.value) & U64
    chi = ((dv + a.mask) & U64) ^ ((dv - b.mask) & U64)
    mu = chi | a.mask | b.mask
    return Tnum(dv & ~mu & U64, mu)


def neg(a: Tnum) -> Tnum:
    return sub(ZERO, a)


def and_(a: Tnum, b: Tnum) -> Tnum:
    alpha = a.value | a.mask
    beta = b.value | b.mask
    v = a.value & b.value
    return Tnum(v, alpha & beta & ~v & U64)


def or_(a: Tnum, b: Tnum) -> Tnum:
    v = a.value | b.value
    return Tnum(v, (a.mask | b.mask) & ~v & U64)


def xor(a: Tnum, b: Tnum) -> Tnum:
    mu = a.mask | b.mask
    return Tnum((a.value ^ b.value) & ~mu & U64, mu)


def union(a: Tnum, b: Tnum) -> Tnum:
    """tnum_union(): every value of ``a`` or ``b`` (and bits where they disagree unknown)."""
    mu = (a.value ^ b.value) | a.mask | b.mask
    return Tnum(a.value & b.value & ~mu & U64, mu)


def mul(a: Tnum, b: Tnum) -> Tnum:
    """tnum_mul(): long multiplication, a union of both partial sums for an unknown bit."""
    acc = ZERO
    while a.value or a.mask:
        if a.value & 1:
            acc = add(acc, b)
        elif a.mask & 1:
            acc = union(acc, add(acc, b))
        a = Tnum(a.value >> 1, a.mask >> 1)
        b = Tnum((b.value << 1) & U64, (b.mask << 1) & U64)
    return acc


def overlap(a: Tnum, b: Tnum) -> bool:
    """tnum_overlap(): some value may belong to both."""
    mu = ~a.mask & ~b.mask & U64
    return (a.value & mu) == (b.value & mu)


def intersect(a: Tnum, b: Tnum) -> Tnum:
    mu = a.mask & b.mask
    return Tnum((a.value | b.value) & ~mu & U64, mu)


def cast(a: Tnum, size: int) -> Tnum:
    """Keep the low ``size`` bytes (zero-extension)."""
    m = (1 << (size * 8)) - 1
    return Tnum(a.value & m, a.mask & m)


def subreg(a: Tnum) -> Tnum:
    return Tnum(a.value & U32, a.mask & U32)


def clear_subreg(a: Tnum) -> Tnum:
    return Tnum(a.value & _HI32, a.mask & _HI32)


def with_subreg(reg: Tnum, sub: Tnum) -> Tnum:
    """tnum_with_subreg(): the upper half of ``reg`` and the lower half of ``sub``."""
    return or_(clear_subreg(reg), subreg(sub))


def const_subreg(a: Tnum, value: int) -> Tnum:
    return with_subreg(a, const(value & U32))


def is_aligned(a: Tnum, size: int) -> bool:
    if not size:
        return True
    return not ((a.value | a.mask) & (size - 1))


def contains(outer: Tnum, inner: Tnum) -> bool:
    """tnum_in(): every value ``inner`` may take is allowed by ``outer``."""
    if inner.mask & ~outer.mask & U64:
        return False
    return (inner.value & ~outer.mask & U64) == outer.value


def step(t: Tnum, z: int) -> int:
    """tnum_step(): the smallest member of ``t`` larger than ``z`` (tmax if none is)."""
    value, mask = t
    tmax = value | mask
    if z >= tmax:
        return tmax
    if z < value:
        return value
    d = z - value
    carry = (1 << (d & ~mask & U64).bit_length()) - 1
    filled = (d | carry | (~mask & U64)) & U64
    return value | (((filled + 1) & U64) & mask)
