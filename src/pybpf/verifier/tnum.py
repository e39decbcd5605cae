"""Tristate numbers: what the verifier knows about each bit of a scalar.

A tnum is (value, mask): bits set in ``mask`` are unknown, the others equal
the bits of ``value``. The operations are the kernel's (kernel/bpf/tnum.c),
written over Python ints masked to 64 bits.
"""

from __future__ import annotations

from typing import NamedTuple

U64 = (1 << 64) - 1
U32 = (1 << 32) - 1


class Tnum(NamedTuple):
    value: int
    mask: int

    @property
    def is_const(self) -> bool:
        return self.mask == 0

    def __str__(self) -> str:
        return f"(0x{self.value:x}; 0x{self.mask:x})"


UNKNOWN = Tnum(0, U64)


def const(v: int) -> Tnum:
    return Tnum(v & U64, 0)


def trange(lo: int, hi: int) -> Tnum:
    """The tnum of every value in [lo, hi] (unsigned)."""
    chi = lo ^ hi
    bits = chi.bit_length()
    if bits > 63:
        return UNKNOWN
    delta = (1 << bits) - 1
    return Tnum(lo & ~delta & U64, delta)


def add(a: Tnum, b: Tnum) -> Tnum:
    sm = (a.mask + b.mask) & U64
    sv = (a.value + b.value) & U64
    sigma = (sm + sv) & U64
    chi = sigma ^ sv
    mu = chi | a.mask | b.mask
    return Tnum(sv & ~mu & U64, mu)


def sub(a: Tnum, b: Tnum) -> Tnum:
    dv = (a.value - b.value) & U64
    alpha = (dv + a.mask) & U64
    beta = (dv - b.mask) & U64
    chi = alpha ^ beta
    mu = chi | a.mask | b.mask
    return Tnum(dv & ~mu & U64, mu)


def and_(a: Tnum, b: Tnum) -> Tnum:
    alpha = a.value | a.mask
    beta = b.value | b.mask
    v = a.value & b.value
    return Tnum(v, alpha & beta & ~v & U64)


def or_(a: Tnum, b: Tnum) -> Tnum:
    v = a.value | b.value
    mu = a.mask | b.mask
    return Tnum(v, mu & ~v & U64)


def xor(a: Tnum, b: Tnum) -> Tnum:
    v = a.value ^ b.value
    mu = a.mask | b.mask
    return Tnum(v & ~mu & U64, mu)


def lshift(a: Tnum, s: int) -> Tnum:
    return Tnum((a.value << s) & U64, (a.mask << s) & U64)


def rshift(a: Tnum, s: int) -> Tnum:
    return Tnum(a.value >> s, a.mask >> s)


def arshift(a: Tnum, s: int, bits: int = 64) -> Tnum:
    """Arithmetic shift of a ``bits``-wide tnum (the sign bit of value and mask both spread)."""
    full = (1 << bits) - 1

    def sar(x: int) -> int:
        if x >> (bits - 1) & 1:
            x -= 1 << bits
        return (x >> s) & full

    return Tnum(sar(a.value), sar(a.mask))


def mul(a: Tnum, b: Tnum) -> Tnum:
    acc_v = (a.value * b.value) & U64
    acc_m = Tnum(0, 0)
    while a.value or a.mask:
        if a.value & 1:
            acc_m = add(acc_m, Tnum(0, b.mask))
        elif a.mask & 1:
            acc_m = add(acc_m, Tnum(0, (b.value | b.mask) & U64))
        a = rshift(a, 1)
        b = lshift(b, 1)
    return add(Tnum(acc_v, 0), acc_m)


def intersect(a: Tnum, b: Tnum) -> Tnum:
    v = a.value | b.value
    mu = a.mask & b.mask
    return Tnum(v & ~mu & U64, mu)


def cast(a: Tnum, size: int) -> Tnum:
    """Keep the low ``size`` bytes (zero-extension)."""
    m = (1 << (size * 8)) - 1
    return Tnum(a.value & m, a.mask & m)


def subreg(a: Tnum) -> Tnum:
    return cast(a, 4)


def is_aligned(a: Tnum, size: int) -> bool:
    if not size:
        return True
    return not ((a.value | a.mask) & (size - 1))


def contains(outer: Tnum, inner: Tnum) -> bool:
    """True if every value ``inner`` may take is allowed by ``outer`` (tnum_in)."""
    if inner.mask & ~outer.mask & U64:
        return False
    return (inner.value & ~outer.mask & U64) == outer.value


def umin(a: Tnum) -> int:
    return a.value


def umax(a: Tnum) -> int:
    return a.value | a.mask


def smin(a: Tnum) -> int:
    """The smallest signed value: set the sign bit when it is unknown."""
    v = a.value | (a.mask & (1 << 63))
    return v - (1 << 64) if v >> 63 else v


def smax(a: Tnum) -> int:
    v = a.value | (a.mask & ~(1 << 63) & U64)
    return v - (1 << 64) if v >> 63 else v
