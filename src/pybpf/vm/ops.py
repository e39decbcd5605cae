"""The eBPF instructions' semantics, as Python expressions: the interpreter's reference.

Semantics follow ___bpf_prog_run in kernel/bpf/core.c plus the rewrites the
verifier applies before a program runs there (kernel/bpf/verifier.c,
do_misc_fixups): division by zero gives 0, modulo by zero leaves the
dividend (32-bit forms still zero-extend it), signed division of INT_MIN by
-1 wraps, shift amounts are masked to the operand width, every 32-bit ALU
result is zero-extended into the 64-bit register.

Each table maps an operation to an expression template over named operands;
:mod:`pybpf.vm.interp` builds its generated code from these templates and
nothing else, so this module is where an instruction's meaning is read:

* :data:`ALU` — ``{d}`` the dst value, ``{s}`` the source operand (register or
  immediate, already cut to the operation's width), ``{m}`` the width's mask,
  ``{w}`` the shift mask (63 or 31), ``{sb}`` the sign bit;
* :data:`JMP` — ``{a}``, ``{b}`` the compared values (cut to the width), ``{sb}``;
* :data:`ATOMIC` — the new memory value from ``{old}`` and ``{v}``.

Values are Python ints holding the unsigned 64-bit register contents.
"""

from __future__ import annotations

import struct
from typing import Any

from .. import isa

__all__ = ["ALU", "ALU_SIGNED", "ATOMIC", "JMP", "M32", "M64", "NAMESPACE"]

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
S64 = 1 << 63
S32 = 1 << 31


def sdiv(a: int, b: int, m: int, sb: int) -> int:
    """BPF_SDIV (off=1): truncates toward zero; /0 gives 0; INT_MIN/-1 wraps."""
    if not b:
        return 0
    a = (a ^ sb) - sb
    b = (b ^ sb) - sb
    q = abs(a) // abs(b)
    return (-q if (a < 0) != (b < 0) else q) & m


def smod(a: int, b: int, m: int, sb: int) -> int:
    """BPF_SMOD (off=1): the remainder takes the dividend's sign; %0 leaves the dividend."""
    if not b:
        return a
    a = (a ^ sb) - sb
    b = (b ^ sb) - sb
    r = abs(a) % abs(b)
    return (-r if a < 0 else r) & m


def bswap(v: int, n: int) -> int:
    """The low ``n`` bytes of ``v`` in the opposite byte order."""
    return int.from_bytes((v & ((1 << (8 * n)) - 1)).to_bytes(n, "little"), "big")


#: ALU operations: the new dst value (unsigned, already masked to the width)
ALU: dict[int, str] = {
    isa.BPF_ADD: "({d} + {s}) & {m}",
    isa.BPF_SUB: "({d} - {s}) & {m}",
    isa.BPF_MUL: "({d} * {s}) & {m}",
    isa.BPF_DIV: "({d} // {s} if {s} else 0)",
    isa.BPF_MOD: "({d} % {s} if {s} else {d})",
    isa.BPF_OR: "{d} | {s}",
    isa.BPF_AND: "{d} & {s}",
    isa.BPF_XOR: "{d} ^ {s}",
    isa.BPF_LSH: "({d} << ({s} & {w})) & {m}",
    isa.BPF_RSH: "{d} >> ({s} & {w})",
    isa.BPF_ARSH: "((({d} ^ {sb}) - {sb}) >> ({s} & {w})) & {m}",
    isa.BPF_NEG: "(-{d}) & {m}",
    isa.BPF_MOV: "{s}",
}
#: the signed forms (off = 1) of DIV and MOD
ALU_SIGNED: dict[int, str] = {
    isa.BPF_DIV: "_sdiv({d}, {s}, {m}, {sb})",
    isa.BPF_MOD: "_smod({d}, {s}, {m}, {sb})",
}
#: MOVSX (off = 8, 16, 32): sign-extend the low ``{bits}`` of the source
MOVSX = "((({s} & {low}) ^ {top}) - {top}) & {m}"
#: byte swaps: to little-endian truncates (x86-64 is little-endian), to big-endian swaps
END_LE = "{d} & {low}"
END_SWAP = "_bswap({d}, {n})"
#: a sign-extending load of ``{n}`` bytes
SIGN_EXTEND = "(({v} ^ {top}) - {top}) & 0xffffffffffffffff"

#: conditional jumps: whether the jump is taken
JMP: dict[int, str] = {
    isa.BPF_JEQ: "{a} == {b}",
    isa.BPF_JNE: "{a} != {b}",
    isa.BPF_JGT: "{a} > {b}",
    isa.BPF_JGE: "{a} >= {b}",
    isa.BPF_JLT: "{a} < {b}",
    isa.BPF_JLE: "{a} <= {b}",
    isa.BPF_JSET: "{a} & {b}",
    # signed comparisons: flipping the sign bit maps signed order onto unsigned order
    isa.BPF_JSGT: "({a} ^ {sb}) > ({b} ^ {sb})",
    isa.BPF_JSGE: "({a} ^ {sb}) >= ({b} ^ {sb})",
    isa.BPF_JSLT: "({a} ^ {sb}) < ({b} ^ {sb})",
    isa.BPF_JSLE: "({a} ^ {sb}) <= ({b} ^ {sb})",
}

#: atomic operations: the new memory value from the ``{old}`` one and the source operand
#: ``{v}`` (both cut to the width); ``{r0}`` is R0 cut to the width. With BPF_FETCH the
#: old value goes to the source register; BPF_XCHG always fetches; BPF_CMPXCHG
#: compares with R0 and puts the old value in R0 (a single-threaded run needs no lock).
ATOMIC: dict[int, str] = {
    isa.BPF_ADD: "({old} + {v}) & {m}",
    isa.BPF_OR: "{old} | {v}",
    isa.BPF_AND: "{old} & {v}",
    isa.BPF_XOR: "{old} ^ {v}",
    isa.BPF_XCHG: "{v}",
    isa.BPF_CMPXCHG: "({v} if {old} == {r0} else {old})",
}


#: what generated code may name besides its own locals
NAMESPACE: dict[str, Any] = {
    "M64": M64,
    "M32": M32,
    "_sdiv": sdiv,
    "_smod": smod,
    "_bswap": bswap,
}
for _n, _f in (("1", "<B"), ("2", "<H"), ("4", "<I"), ("8", "<Q")):
    NAMESPACE["_U" + _n] = struct.Struct(_f).unpack_from
    NAMESPACE["_P" + _n] = struct.Struct(_f).pack_into
