"""The corpus's building blocks: the maps, instruction constructors, the Case record.

Each case builds its instructions from a dict of map file descriptors (name ->
fd), so that the same case can be loaded into the kernel (real map fds) and
checked by pybpf (fds from pybpf's table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pybpf.isa import (
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_ALU64,
    BPF_AND,
    BPF_ARSH,
    BPF_ATOMIC,
    BPF_B,
    BPF_CALL,
    BPF_CMPXCHG,
    BPF_DIV,
    BPF_DW,
    BPF_END,
    BPF_EXIT,
    BPF_FETCH,
    BPF_H,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JLT,
    BPF_JMP,
    BPF_JMP32,
    BPF_JNE,
    BPF_JSET,
    BPF_JSGT,
    BPF_JSLT,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LSH,
    BPF_MEM,
    BPF_MOD,
    BPF_MOV,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_MAP_VALUE,
    BPF_RSH,
    BPF_ST,
    BPF_STX,
    BPF_SUB,
    BPF_W,
    BPF_X,
    BPF_XCHG,
    BPF_XOR,
    Insn,
)
from pybpf.uapi import (
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_TYPE_QUEUE,
    BPF_MAP_TYPE_RINGBUF,
)

#: the maps every case may use: name -> (type, key_size, value_size, max_entries, flags)
MAPS = {
    "array": (BPF_MAP_TYPE_ARRAY, 4, 8, 256, 0),
    "hash": (BPF_MAP_TYPE_HASH, 4, 16, 64, 0),
    "ringbuf": (BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0),
    "queue": (BPF_MAP_TYPE_QUEUE, 0, 8, 16, 0),
    "rdonly": (BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0x80),  # BPF_F_RDONLY_PROG
    "progs": (BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, 0),
    "global": (BPF_MAP_TYPE_ARRAY, 4, 16, 1, 0),  # like .data/.bss
    "wronly": (BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0x100),  # BPF_F_WRONLY_PROG
    "progs2": (BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, 0),
}


def I(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> Insn:  # noqa: E743
    return Insn(code, dst, src, off, imm)


def MOV(d: int, i: int) -> Insn:
    return I(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)


def MOVR(d: int, s: int) -> Insn:
    return I(BPF_ALU64 | BPF_MOV | BPF_X, d, s)


def MOV32R(d: int, s: int) -> Insn:
    return I(BPF_ALU | BPF_MOV | BPF_X, d, s)


def ALU(op: int, d: int, i: int) -> Insn:
    return I(BPF_ALU64 | op | BPF_K, d, 0, 0, i)


def ALUR(op: int, d: int, s: int) -> Insn:
    return I(BPF_ALU64 | op | BPF_X, d, s)


def ALU32(op: int, d: int, i: int) -> Insn:
    return I(BPF_ALU | op | BPF_K, d, 0, 0, i)


def LDX(size: int, d: int, s: int, off: int) -> Insn:
    return I(BPF_LDX | BPF_MEM | size, d, s, off)


def STX(size: int, d: int, s: int, off: int) -> Insn:
    return I(BPF_STX | BPF_MEM | size, d, s, off)


def ST(size: int, d: int, off: int, imm: int) -> Insn:
    return I(BPF_ST | BPF_MEM | size, d, 0, off, imm)


def JMP(op: int, d: int, imm: int, off: int) -> Insn:
    return I(BPF_JMP | op | BPF_K, d, 0, off, imm)


def JMPR(op: int, d: int, s: int, off: int) -> Insn:
    return I(BPF_JMP | op | BPF_X, d, s, off)


def JMP32(op: int, d: int, imm: int, off: int) -> Insn:
    return I(BPF_JMP32 | op | BPF_K, d, 0, off, imm)


def JA(off: int) -> Insn:
    return I(BPF_JMP | BPF_JA, 0, 0, off)


def CALL(fid: int) -> Insn:
    return I(BPF_JMP | BPF_CALL, 0, 0, 0, fid)


def LOCAL_CALL(off: int) -> Insn:
    return I(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, off)


def LDMAP(d: int, fd: int) -> Insn:
    return Insn(BPF_LD | BPF_IMM | BPF_DW, d, 1, 0, fd)


def LDIMM64(d: int, v: int) -> Insn:
    return Insn(BPF_LD | BPF_IMM | BPF_DW, d, 0, 0, v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF)


def LDABS(size: int, imm: int) -> Insn:
    return I(BPF_LD | BPF_ABS | size, 0, 0, 0, imm)


def LDIND(size: int, s: int, imm: int) -> Insn:
    return I(BPF_LD | BPF_IND | size, 0, s, 0, imm)


EXIT = I(BPF_JMP | BPF_EXIT)


def lookup(fd: int, key_off: int = -4) -> list[Insn]:
    """key 0 at fp-4 written with ST (STACK_ZERO), r0 = map_lookup_elem(map, fp-4)."""
    return [ST(BPF_W, 10, key_off, 0), MOVR(2, 10), ALU(BPF_ADD, 2, key_off), LDMAP(1, fd), CALL(1)]


def lookup_unknown_key(fd: int) -> list[Insn]:
    """key from get_prandom_u32: the lookup may return NULL even on an array."""
    return [CALL(7), STX(BPF_W, 10, 0, -4), MOVR(2, 10), ALU(BPF_ADD, 2, -4), LDMAP(1, fd), CALL(1)]


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[dict[str, int]], list[Insn]]
    priv: bool  # accepted for root
    unpriv: bool | None = None  # accepted for an unprivileged loader (None: same as priv)
    msg: str = ""  # substring of pybpf's refusal (priv)
    rule: str = ""
    license: str = "GPL"
    prog_type: int = 1  # BPF_PROG_TYPE_SOCKET_FILTER
    #: why the return value cannot be compared across runs or backends ("" if it can):
    #: an address, uninitialised stack, or kernel memory pybpf does not model
    unreproducible: str = ""

    @property
    def unpriv_verdict(self) -> bool:
        return self.priv if self.unpriv is None else self.unpriv


def _chain(frames: int) -> list[Insn]:
    """``frames`` functions, each calling the next; the last returns 0."""
    out: list[Insn] = []
    for _ in range(frames - 1):
        out += [LOCAL_CALL(1), EXIT]
    return out + [MOV(0, 0), EXIT]


def _two_frames(main_depth: int, sub_depth: int) -> list[Insn]:
    return [
        ST(BPF_DW, 10, -main_depth, 0),
        LOCAL_CALL(1),
        EXIT,
        ST(BPF_DW, 10, -sub_depth, 0),
        MOV(0, 0),
        EXIT,
    ]


def _reserve(m: dict[str, int], size: int = 8) -> list[Insn]:
    return [LDMAP(1, m["ringbuf"]), MOV(2, size), MOV(3, 0), CALL(131)]


def _value(m: dict[str, int], name: str = "hash", skip: int = 0) -> list[Insn]:
    """r0 = lookup(map, key 0), and jump ``skip`` + 1 forward to ``r0 = 0; exit`` if NULL."""
    return lookup(m[name]) + [JMP(BPF_JEQ, 0, 0, skip)]


OUT = 999  # jump offset placeholder: "to the final r0 = 0; exit"


def _value_off(m: dict[str, int], setup: list[Insn], size: int = BPF_DW) -> list[Insn]:
    """r7 is computed by ``setup``; read value[r7] of the 16-byte hash value.

    Jumps in ``setup`` with offset OUT go to the final ``r0 = 0; exit``.
    """
    body = [ALUR(BPF_ADD, 0, 7), LDX(size, 0, 0, 0), EXIT]
    prog = setup + _value(m, skip=len(body)) + body + [MOV(0, 0), EXIT]
    slots = []
    pos = 0
    for insn in prog:
        slots.append(pos)
        pos += 2 if insn.code == (BPF_LD | BPF_IMM | BPF_DW) else 1
    out_slot = pos - 2
    return [
        Insn(x.code, x.dst, x.src, out_slot - slots[i] - 1, x.imm) if x.off == OUT else x
        for i, x in enumerate(prog)
    ]


def LDVAL(d: int, fd: int, off: int) -> Insn:
    return Insn(BPF_LD | BPF_IMM | BPF_DW, d, BPF_PSEUDO_MAP_VALUE, 0, fd, off)


def ATOMIC(size: int, d: int, s: int, off: int, op: int) -> Insn:
    return I(BPF_STX | BPF_ATOMIC | size, d, s, off, op)


__all__ = [
    "ALU",
    "ALU32",
    "ALUR",
    "ATOMIC",
    "BPF_ABS",
    "BPF_ADD",
    "BPF_ALU",
    "BPF_ALU64",
    "BPF_AND",
    "BPF_ARSH",
    "BPF_ATOMIC",
    "BPF_B",
    "BPF_CALL",
    "BPF_CMPXCHG",
    "BPF_DIV",
    "BPF_DW",
    "BPF_END",
    "BPF_EXIT",
    "BPF_FETCH",
    "BPF_H",
    "BPF_IMM",
    "BPF_IND",
    "BPF_JA",
    "BPF_JEQ",
    "BPF_JGE",
    "BPF_JGT",
    "BPF_JLT",
    "BPF_JMP",
    "BPF_JMP32",
    "BPF_JNE",
    "BPF_JSET",
    "BPF_JSGT",
    "BPF_JSLT",
    "BPF_K",
    "BPF_LD",
    "BPF_LDX",
    "BPF_LSH",
    "BPF_MAP_TYPE_ARRAY",
    "BPF_MAP_TYPE_HASH",
    "BPF_MAP_TYPE_PROG_ARRAY",
    "BPF_MAP_TYPE_QUEUE",
    "BPF_MAP_TYPE_RINGBUF",
    "BPF_MEM",
    "BPF_MOD",
    "BPF_MOV",
    "BPF_MUL",
    "BPF_NEG",
    "BPF_OR",
    "BPF_PSEUDO_CALL",
    "BPF_PSEUDO_MAP_VALUE",
    "BPF_RSH",
    "BPF_ST",
    "BPF_STX",
    "BPF_SUB",
    "BPF_W",
    "BPF_X",
    "BPF_XCHG",
    "BPF_XOR",
    "CALL",
    "Case",
    "EXIT",
    "I",
    "Insn",
    "JA",
    "JMP",
    "JMP32",
    "JMPR",
    "LDABS",
    "LDIMM64",
    "LDIND",
    "LDMAP",
    "LDVAL",
    "LDX",
    "LOCAL_CALL",
    "MAPS",
    "MOV",
    "MOV32R",
    "MOVR",
    "OUT",
    "ST",
    "STX",
    "_chain",
    "_reserve",
    "_two_frames",
    "_value",
    "_value_off",
    "lookup",
    "lookup_unknown_key",
]
