"""Hand-written accept/reject programs, one or more per verifier rule.

Each case builds its instructions from a dict of map file descriptors, so the
same case can be loaded into the kernel (real map fds) and checked by pybpf
(fds from pybpf's table). ``priv`` and ``unpriv`` are the verdicts Linux 6.x
gives (checked by tests/test_verifier_kernel.py against the running kernel);
``msg`` is a substring pybpf's log must contain when it refuses.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _seed(m: dict[str, int]) -> list[Insn]:
    return [
        MOVR(6, 1),
        LDABS(BPF_B, 14 + 9),
        STX(BPF_W, 10, 0, -4),
        MOVR(2, 10),
        ALU(BPF_ADD, 2, -4),
        LDMAP(1, m["array"]),
        CALL(1),
        JMP(BPF_JEQ, 0, 0, 2),
        MOV(1, 1),
        I(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 1, 0, BPF_ADD),
        MOV(0, 0),
        EXIT,
    ]


CASES: list[Case] = [
    # --- structure ---------------------------------------------------------------------
    Case("seed_macro_program", _seed, True, rule="the seed's 12 instructions"),
    Case("exit_only_r0_set", lambda m: [MOV(0, 0), EXIT], True),
    Case(
        "unreachable_insn",
        lambda m: [MOV(0, 0), EXIT, EXIT],
        False,
        msg="unreachable insn 2",
        rule="structure",
    ),
    Case(
        "jump_out_of_range",
        lambda m: [MOV(0, 0), JA(5), EXIT],
        False,
        msg="jump out of range",
        rule="structure",
    ),
    Case(
        "jump_backwards_out",
        lambda m: [MOV(0, 0), JA(-3), EXIT],
        False,
        msg="jump out of range",
        rule="structure",
    ),
    Case(
        "jump_into_lddw",
        lambda m: [JMP(BPF_JEQ, 1, 0, 1), LDIMM64(0, 1), MOV(0, 2), EXIT],
        False,
        msg="jump into the middle of ldimm64",
        rule="structure",
    ),
    Case(
        "last_not_exit",
        lambda m: [MOV(0, 0)],
        False,
        msg="last insn is not an exit or jmp",
        rule="structure",
    ),
    Case(
        "fall_off_into_subprog",
        lambda m: [LOCAL_CALL(1), MOV(0, 0), MOV(0, 1), EXIT],
        False,
        msg="last insn is not an exit or jmp",
        rule="subprograms",
    ),
    Case(
        "local_call_ok",
        lambda m: [MOV(1, 3), LOCAL_CALL(1), EXIT, MOVR(0, 1), ALU(BPF_ADD, 0, 1), EXIT],
        True,
        unpriv=False,
        rule="subprograms",
    ),
    Case(
        "local_call_bad_target",
        lambda m: [LOCAL_CALL(5), EXIT],
        False,
        msg="call to invalid destination",
        rule="subprograms",
    ),
    Case(
        "unknown_opcode",
        lambda m: [I(0xFF), MOV(0, 0), EXIT],
        False,
        msg="unknown opcode",
        rule="structure",
    ),
    Case(
        "reserved_field_alu",
        lambda m: [I(BPF_ALU64 | BPF_ADD | BPF_K, 0, 1, 0, 1), EXIT],
        False,
        msg="uses reserved fields",
        rule="structure",
    ),
    Case(
        "bad_register",
        lambda m: [I(BPF_ALU64 | BPF_MOV | BPF_K, 11, 0, 0, 0), EXIT],
        False,
        msg="R11 is invalid",
        rule="structure",
    ),
    # --- loops ------------------------------------------------------------------------------
    Case(
        "bounded_loop",
        lambda m: [MOV(0, 0), ALU(BPF_ADD, 0, 1), JMP(BPF_JEQ, 0, 100, 1), JA(-3), EXIT],
        True,
        unpriv=False,
        rule="loops",
    ),
    Case(
        "bounded_loop_jlt",
        lambda m: [
            MOV(0, 0),
            MOV(1, 0),
            ALU(BPF_ADD, 1, 1),
            ALUR(BPF_ADD, 0, 1),
            JMP(BPF_JLT, 1, 50, -3),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="loops",
    ),
    Case(
        "infinite_loop_self",
        lambda m: [MOV(0, 0), JMP(BPF_JEQ, 0, 0, -1), EXIT],
        False,
        msg="infinite loop detected",
        rule="loops",
    ),
    Case(
        "infinite_loop_unknown",
        lambda m: [CALL(7), JMP(BPF_JGT, 0, 10, 1), JA(-2), EXIT],
        False,
        msg="infinite loop detected",
        rule="loops",
    ),
    Case(
        "loop_never_ends_counter",
        lambda m: [MOV(0, 0), ALU(BPF_ADD, 0, 2), JMP(BPF_JEQ, 0, 101, 1), JA(-3), EXIT],
        False,
        msg="BPF program is too large",
        rule="loops",
    ),
    # --- registers --------------------------------------------------------------------------
    Case("r0_not_set", lambda m: [EXIT], False, msg="R0 !read_ok", rule="registers"),
    Case(
        "read_uninit_r2", lambda m: [MOVR(0, 2), EXIT], False, msg="R2 !read_ok", rule="registers"
    ),
    Case(
        "write_r10",
        lambda m: [MOV(10, 0), MOV(0, 0), EXIT],
        False,
        msg="frame pointer is read only",
        rule="registers",
    ),
    Case(
        "r1_clobbered_by_call",
        lambda m: [MOV(1, 1), CALL(7), MOVR(0, 1), EXIT],
        False,
        msg="R1 !read_ok",
        rule="registers",
    ),
    Case(
        "r6_survives_call", lambda m: [MOV(6, 1), CALL(7), MOVR(0, 6), EXIT], True, rule="registers"
    ),
    Case(
        "div_by_zero_imm",
        lambda m: [MOV(0, 1), ALU(BPF_DIV, 0, 0), EXIT],
        False,
        msg="div by zero",
        rule="registers",
    ),
    Case(
        "div_by_zero_reg_ok",
        lambda m: [MOV(0, 1), MOV(1, 0), ALUR(BPF_DIV, 0, 1), EXIT],
        True,
        rule="registers",
    ),
    Case(
        "invalid_shift",
        lambda m: [MOV(0, 1), ALU(BPF_LSH, 0, 64), EXIT],
        False,
        msg="invalid shift 64",
        rule="registers",
    ),
    Case(
        "invalid_shift32",
        lambda m: [MOV(0, 1), ALU32(BPF_LSH, 0, 32), EXIT],
        False,
        msg="invalid shift 32",
        rule="registers",
    ),
    Case(
        "return_pointer",
        lambda m: [MOVR(0, 10), EXIT],
        True,
        unpriv=False,
        rule="unprivileged pointer leak",
        unreproducible="a stack address",
    ),
    Case(
        "return_ctx",
        lambda m: [MOVR(0, 1), EXIT],
        True,
        unpriv=False,
        rule="unprivileged pointer leak",
        unreproducible="the context's address",
    ),
    # --- pointer arithmetic -----------------------------------------------------------------
    Case(
        "ptr_bitwise_and",
        lambda m: [MOVR(1, 10), ALU(BPF_AND, 1, 7), MOV(0, 0), EXIT],
        False,
        msg="bitwise operator &= on pointer prohibited",
        rule="pointer arithmetic",
    ),
    Case(
        "ptr_mul",
        lambda m: [MOVR(1, 10), ALU(BPF_MUL, 1, 2), MOV(0, 0), EXIT],
        False,
        msg="pointer arithmetic with *= operator prohibited",
        rule="pointer arithmetic",
    ),
    Case(
        "ptr_add_ptr",
        lambda m: [MOVR(1, 10), ALUR(BPF_ADD, 1, 10), MOV(0, 0), EXIT],
        False,
        msg="pointer += pointer prohibited",
        rule="pointer arithmetic",
    ),
    Case(
        "ptr_sub_ptr",
        lambda m: [MOVR(1, 10), ALU(BPF_ADD, 1, -8), ALUR(BPF_SUB, 1, 10), MOVR(0, 1), EXIT],
        True,
        unpriv=False,
        rule="pointer arithmetic",
    ),
    Case(
        "scalar_minus_ptr",
        lambda m: [MOV(1, 0), ALUR(BPF_SUB, 1, 10), MOV(0, 0), EXIT],
        False,
        msg="tried to subtract pointer from scalar",
        rule="pointer arithmetic",
    ),
    Case(
        "ptr32_arith",
        lambda m: [MOVR(1, 10), ALU32(BPF_ADD, 1, 1), MOV(0, 0), EXIT],
        False,
        msg="32-bit pointer arithmetic prohibited",
        rule="pointer arithmetic",
    ),
    Case(
        "map_ptr_arith",
        lambda m: [LDMAP(1, m["array"]), ALU(BPF_ADD, 1, 8), MOV(0, 0), EXIT],
        False,
        msg="pointer arithmetic on map_ptr prohibited",
        rule="pointer arithmetic",
    ),
    Case(
        "or_null_arith",
        lambda m: lookup_unknown_key(m["array"]) + [ALU(BPF_ADD, 0, 8), MOV(0, 0), EXIT],
        False,
        msg="pointer arithmetic on map_value_or_null prohibited",
        rule="pointer arithmetic",
    ),
    Case(
        "ptr_compare_scalar",
        lambda m: [MOVR(1, 10), JMP(BPF_JEQ, 1, 5, 0), MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="unprivileged pointer comparison",
    ),
    Case(
        "ptr_mov32",
        lambda m: [MOV32R(1, 10), MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="unprivileged partial pointer copy",
    ),
    # --- stack --------------------------------------------------------------------------------
    Case(
        "stack_rw_ok",
        lambda m: [MOV(0, 7), STX(BPF_DW, 10, 0, -512), LDX(BPF_DW, 0, 10, -512), EXIT],
        True,
        rule="stack",
    ),
    Case(
        "stack_below_512",
        lambda m: [MOV(0, 0), STX(BPF_DW, 10, 0, -520), EXIT],
        False,
        msg="stack R10 off=-520",
        rule="stack",
    ),
    Case(
        "stack_above_fp",
        lambda m: [MOV(0, 0), STX(BPF_DW, 10, 0, 0), EXIT],
        False,
        msg="stack R10 off=0",
        rule="stack",
    ),
    Case(
        "stack_misaligned",
        lambda m: [MOV(0, 0), STX(BPF_DW, 10, 0, -12), EXIT],
        False,
        msg="misaligned stack access",
        rule="stack",
    ),
    Case(
        "stack_read_uninit",
        lambda m: [LDX(BPF_DW, 0, 10, -8), EXIT],
        True,
        unpriv=False,
        rule="stack (root may read uninitialised stack)",
        unreproducible="uninitialised stack",
    ),
    Case(
        "stack_partial_init",
        lambda m: [ST(BPF_W, 10, -8, 1), LDX(BPF_DW, 0, 10, -8), EXIT],
        True,
        unpriv=False,
        rule="stack",
    ),
    Case(
        "spill_fill_keeps_ptr",
        lambda m: (
            lookup_unknown_key(m["array"])
            + [
                STX(BPF_DW, 10, 0, -16),
                LDX(BPF_DW, 1, 10, -16),
                JMP(BPF_JEQ, 1, 0, 1),
                LDX(BPF_DW, 0, 1, 0),
                MOV(0, 0),
                EXIT,
            ]
        ),
        True,
        rule="spill/fill",
    ),
    Case(
        "spill_partial_fill_ptr",
        lambda m: [STX(BPF_DW, 10, 1, -8), LDX(BPF_W, 0, 10, -8), EXIT],
        False,
        unpriv=False,
        msg="invalid size of register fill",
        rule="spill/fill",
    ),
    Case(
        "spill_ptr_corrupt_unpriv",
        lambda m: [STX(BPF_DW, 10, 1, -8), ST(BPF_W, 10, -8, 0), MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="spill/fill",
    ),
    # --- maps ---------------------------------------------------------------------------------
    Case(
        "null_deref_unknown_key",
        lambda m: lookup_unknown_key(m["array"]) + [LDX(BPF_DW, 0, 0, 0), EXIT],
        False,
        msg="invalid mem access 'map_value_or_null'",
        rule="map_value_or_null",
    ),
    Case(
        "null_deref_hash",
        lambda m: lookup(m["hash"]) + [LDX(BPF_DW, 0, 0, 0), EXIT],
        False,
        msg="invalid mem access 'map_value_or_null'",
        rule="map_value_or_null",
    ),
    Case(
        "array_const_key_not_null",
        lambda m: lookup(m["array"]) + [LDX(BPF_DW, 0, 0, 0), EXIT],
        True,
        unpriv=False,
        rule="array lookups with a constant key are not null (6.13+, root)",
    ),
    Case(
        "null_checked",
        lambda m: (
            lookup_unknown_key(m["array"]) + [JMP(BPF_JEQ, 0, 0, 1), LDX(BPF_DW, 0, 0, 0), EXIT]
        ),
        True,
        rule="null check",
    ),
    Case(
        "null_checked_jne",
        lambda m: (
            lookup_unknown_key(m["array"])
            + [JMP(BPF_JNE, 0, 0, 2), MOV(0, 0), EXIT, LDX(BPF_DW, 0, 0, 0), EXIT]
        ),
        True,
        rule="null check",
    ),
    Case(
        "value_oob_read",
        lambda m: lookup(m["hash"]) + [JMP(BPF_JEQ, 0, 0, 1), LDX(BPF_DW, 0, 0, 16), EXIT],
        False,
        msg="invalid access to map value, value_size=16 off=16 size=8",
        rule="map value bounds",
    ),
    Case(
        "value_last_ok",
        lambda m: lookup(m["hash"]) + [JMP(BPF_JEQ, 0, 0, 1), LDX(BPF_DW, 0, 0, 8), EXIT],
        True,
        rule="map value bounds",
    ),
    Case(
        "value_negative",
        lambda m: lookup(m["hash"]) + [JMP(BPF_JEQ, 0, 0, 1), LDX(BPF_B, 0, 0, -1), EXIT],
        False,
        msg="invalid access to map value",
        rule="map value bounds",
    ),
    Case(
        "value_var_index_ok",
        lambda m: (
            lookup(m["hash"])
            + [
                JMP(BPF_JEQ, 0, 0, 6),
                MOVR(6, 0),
                CALL(7),
                ALU(BPF_AND, 0, 8),
                ALUR(BPF_ADD, 6, 0),
                LDX(BPF_DW, 0, 6, 0),
                EXIT,
                MOV(0, 0),
                EXIT,
            ]
        ),
        True,
        rule="map value bounds (var)",
    ),
    Case(
        "value_var_index_bad",
        lambda m: (
            lookup(m["hash"])
            + [
                JMP(BPF_JEQ, 0, 0, 6),
                MOVR(6, 0),
                CALL(7),
                ALU(BPF_AND, 0, 15),
                ALUR(BPF_ADD, 6, 0),
                LDX(BPF_DW, 0, 6, 0),
                EXIT,
                MOV(0, 0),
                EXIT,
            ]
        ),
        False,
        msg="invalid access to map value",
        rule="map value bounds (var)",
    ),
    Case(
        "value_var_unbounded",
        lambda m: (
            lookup(m["hash"])
            + [
                JMP(BPF_JEQ, 0, 0, 5),
                MOVR(6, 0),
                CALL(7),
                ALUR(BPF_ADD, 6, 0),
                LDX(BPF_B, 0, 6, 0),
                EXIT,
                MOV(0, 0),
                EXIT,
            ]
        ),
        False,
        rule="map value bounds (var)",
    ),
    Case(
        "value_bounded_by_jgt",
        lambda m: (
            [CALL(7), MOVR(7, 0)]
            + lookup(m["hash"])
            + [
                JMP(BPF_JEQ, 0, 0, 4),
                JMP(BPF_JGT, 7, 8, 3),
                ALUR(BPF_ADD, 0, 7),
                LDX(BPF_DW, 0, 0, 0),
                EXIT,
                MOV(0, 0),
                EXIT,
            ]
        ),
        True,
        rule="bounds from a branch",
    ),
    Case(
        "value_bounded_off_by_one",
        lambda m: (
            [CALL(7), MOVR(7, 0)]
            + lookup(m["hash"])
            + [
                JMP(BPF_JEQ, 0, 0, 4),
                JMP(BPF_JGT, 7, 9, 3),
                ALUR(BPF_ADD, 0, 7),
                LDX(BPF_DW, 0, 0, 0),
                EXIT,
                MOV(0, 0),
                EXIT,
            ]
        ),
        False,
        rule="bounds from a branch",
    ),
    Case(
        "value_signed_negative",
        lambda m: (
            [CALL(7), MOVR(7, 0)]
            + lookup(m["hash"])
            + [
                JMP(BPF_JEQ, 0, 0, 4),
                JMP(BPF_JSGT, 7, 8, 3),
                ALUR(BPF_ADD, 0, 7),
                LDX(BPF_B, 0, 0, 0),
                EXIT,
                MOV(0, 0),
                EXIT,
            ]
        ),
        False,
        msg="unbounded min value",
        rule="signed bounds",
    ),
    Case(
        "map_ptr_write",
        lambda m: [LDMAP(1, m["array"]), ST(BPF_DW, 1, 0, 0), MOV(0, 0), EXIT],
        False,
        rule="map_ptr",
    ),
    Case(
        "key_uninit_stack",
        lambda m: [MOVR(2, 10), ALU(BPF_ADD, 2, -4), LDMAP(1, m["hash"]), CALL(1), MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="helper key on uninitialised stack",
    ),
    Case(
        "key_not_stack",
        lambda m: [MOV(2, 0), LDMAP(1, m["hash"]), CALL(1), MOV(0, 0), EXIT],
        False,
        rule="helper key type",
    ),
    Case(
        "map_arg_not_map",
        lambda m: [
            MOVR(1, 10),
            MOVR(2, 10),
            ALU(BPF_ADD, 2, -8),
            ST(BPF_DW, 10, -8, 0),
            CALL(1),
            MOV(0, 0),
            EXIT,
        ],
        False,
        msg="expected=map_ptr",
        rule="helper map argument",
    ),
    Case(
        "update_value_too_big_for_stack",
        lambda m: [
            ST(BPF_W, 10, -4, 0),
            MOVR(2, 10),
            ALU(BPF_ADD, 2, -4),
            MOVR(3, 10),
            ALU(BPF_ADD, 3, -4),
            MOV(4, 0),
            LDMAP(1, m["hash"]),
            CALL(2),
            MOV(0, 0),
            EXIT,
        ],
        False,
        rule="helper value size",
    ),
    Case(
        "update_ok",
        lambda m: [
            ST(BPF_W, 10, -4, 0),
            ST(BPF_DW, 10, -24, 0),
            ST(BPF_DW, 10, -16, 0),
            MOVR(2, 10),
            ALU(BPF_ADD, 2, -4),
            MOVR(3, 10),
            ALU(BPF_ADD, 3, -24),
            MOV(4, 0),
            LDMAP(1, m["hash"]),
            CALL(2),
            MOV(0, 0),
            EXIT,
        ],
        True,
        rule="helper value size",
    ),
    Case(
        "atomic_on_map_value",
        lambda m: (
            lookup_unknown_key(m["array"])
            + [
                JMP(BPF_JEQ, 0, 0, 2),
                MOV(1, 1),
                I(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 1, 0, BPF_ADD),
                MOV(0, 0),
                EXIT,
            ]
        ),
        True,
        rule="atomics",
    ),
    Case(
        "atomic_on_ctx",
        lambda m: [MOV(2, 1), I(BPF_STX | BPF_ATOMIC | BPF_W, 1, 2, 0, BPF_ADD), MOV(0, 0), EXIT],
        False,
        msg="BPF_ATOMIC stores into R1 ctx is not allowed",
        rule="atomics",
    ),
    Case(
        "atomic_fetch_stack",
        lambda m: [
            ST(BPF_DW, 10, -8, 0),
            MOV(1, 5),
            I(BPF_STX | BPF_ATOMIC | BPF_DW, 10, 1, -8, BPF_ADD | 1),
            MOVR(0, 1),
            EXIT,
        ],
        True,
        rule="atomics",
    ),
    Case(
        "leak_ptr_into_map",
        lambda m: (
            lookup_unknown_key(m["array"])
            + [JMP(BPF_JEQ, 0, 0, 1), STX(BPF_DW, 0, 10, 0), MOV(0, 0), EXIT]
        ),
        True,
        unpriv=False,
        rule="unprivileged pointer leak into map",
    ),
    # --- context ------------------------------------------------------------------------------
    Case("ctx_len", lambda m: [LDX(BPF_W, 0, 1, 0), EXIT], True, rule="ctx"),
    Case("ctx_protocol_h", lambda m: [LDX(BPF_W, 0, 1, 16), EXIT], True, rule="ctx"),
    Case(
        "ctx_out_of_range",
        lambda m: [LDX(BPF_W, 0, 1, 190), EXIT],
        False,
        msg="invalid bpf_context access off=190 size=4",
        rule="ctx",
    ),
    Case(
        "ctx_write_len",
        lambda m: [MOV(2, 1), STX(BPF_W, 1, 2, 0), MOV(0, 0), EXIT],
        False,
        msg="invalid bpf_context access",
        rule="ctx",
    ),
    Case(
        "ctx_write_cb0",
        lambda m: [MOV(2, 1), STX(BPF_W, 1, 2, 48), MOV(0, 0), EXIT],
        True,
        rule="ctx cb[] writable",
    ),
    Case(
        "ctx_st_imm",
        lambda m: [ST(BPF_W, 1, 48, 1), MOV(0, 0), EXIT],
        True,
        rule="ctx (BPF_ST into ctx allowed since 6.3)",
    ),
    Case(
        "ctx_modified_ptr",
        lambda m: [ALU(BPF_ADD, 1, 4), LDX(BPF_W, 0, 1, 0), EXIT],
        False,
        msg="dereference of modified ctx ptr",
        rule="ctx",
    ),
    Case("ctx_narrow_load", lambda m: [LDX(BPF_B, 0, 1, 0), EXIT], True, rule="ctx narrow load"),
    Case(
        "ctx_misaligned",
        lambda m: [LDX(BPF_W, 0, 1, 2), EXIT],
        False,
        msg="invalid bpf_context access",
        rule="ctx",
    ),
    # --- LD_ABS / LD_IND ---------------------------------------------------------------------
    Case("ldabs_ok", lambda m: [MOVR(6, 1), LDABS(BPF_H, 12), EXIT], True, rule="LD_ABS"),
    Case(
        "ldabs_r6_not_ctx",
        lambda m: [MOV(6, 0), LDABS(BPF_B, 23), EXIT],
        False,
        msg="R6 != pointer to skb",
        rule="LD_ABS",
    ),
    Case(
        "ldabs_r6_uninit",
        lambda m: [LDABS(BPF_B, 23), EXIT],
        False,
        msg="R6 !read_ok",
        rule="LD_ABS",
    ),
    Case(
        "ldind_ok",
        lambda m: [MOVR(6, 1), MOV(7, 14), LDIND(BPF_B, 7, 9), EXIT],
        True,
        rule="LD_IND",
    ),
    Case(
        "ldind_src_uninit",
        lambda m: [MOVR(6, 1), LDIND(BPF_B, 7, 9), EXIT],
        False,
        msg="R7 !read_ok",
        rule="LD_IND",
    ),
    Case(
        "ldabs_clobbers_r1",
        lambda m: [MOVR(6, 1), LDABS(BPF_B, 23), MOVR(0, 1), EXIT],
        False,
        msg="R1 !read_ok",
        rule="LD_ABS",
    ),
    # --- helpers ------------------------------------------------------------------------------
    Case(
        "unknown_helper",
        lambda m: [CALL(10000), MOV(0, 0), EXIT],
        False,
        msg="invalid func unknown#10000",
        rule="helpers",
    ),
    Case(
        "helper_pid_tgid_allowed",
        lambda m: [CALL(14), MOV(0, 0), EXIT],
        True,
        rule="helpers allowed per program type (get_current_pid_tgid, also unprivileged)",
    ),
    Case(
        "helper_redirect_not_allowed",
        lambda m: [MOV(1, 1), MOV(2, 0), CALL(23), MOV(0, 0), EXIT],
        False,
        msg="program of this type cannot use helper bpf_redirect#23",
        rule="helpers allowed per program type",
    ),
    Case(
        "helper_jiffies_root_only",
        lambda m: [CALL(118), MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="helpers root needs (bpf_jiffies64)",
    ),
    Case("prandom", lambda m: [CALL(7), EXIT], True, rule="helpers"),
    Case(
        "skb_load_bytes_ok",
        lambda m: [
            MOVR(6, 1),
            MOVR(3, 10),
            ALU(BPF_ADD, 3, -8),
            MOV(2, 0),
            MOV(4, 8),
            CALL(26),
            LDX(BPF_DW, 0, 10, -8),
            EXIT,
        ],
        True,
        rule="helper memory arguments",
    ),
    Case(
        "skb_load_bytes_too_big",
        lambda m: [
            MOVR(3, 10),
            ALU(BPF_ADD, 3, -8),
            MOV(2, 0),
            MOV(4, 16),
            CALL(26),
            MOV(0, 0),
            EXIT,
        ],
        False,
        rule="helper memory arguments",
    ),
    Case(
        "skb_load_bytes_zero",
        lambda m: [
            MOVR(3, 10),
            ALU(BPF_ADD, 3, -8),
            MOV(2, 0),
            MOV(4, 0),
            CALL(26),
            MOV(0, 0),
            EXIT,
        ],
        False,
        rule="helper memory arguments (ARG_CONST_SIZE)",
    ),
    Case(
        "skb_load_bytes_ctx_modified",
        lambda m: [
            ALU(BPF_ADD, 1, 8),
            MOVR(3, 10),
            ALU(BPF_ADD, 3, -8),
            MOV(2, 0),
            MOV(4, 8),
            CALL(26),
            MOV(0, 0),
            EXIT,
        ],
        False,
        rule="helper ctx argument",
    ),
    Case(
        "ringbuf_reserve_submit",
        lambda m: [
            LDMAP(1, m["ringbuf"]),
            MOV(2, 8),
            MOV(3, 0),
            CALL(131),
            JMP(BPF_JEQ, 0, 0, 4),
            ST(BPF_DW, 0, 0, 7),
            MOVR(1, 0),
            MOV(2, 0),
            CALL(132),
            MOV(0, 0),
            EXIT,
        ],
        True,
        rule="ringbuf references",
    ),
    Case(
        "ringbuf_leak",
        lambda m: [LDMAP(1, m["ringbuf"]), MOV(2, 8), MOV(3, 0), CALL(131), MOV(0, 0), EXIT],
        False,
        rule="ringbuf references",
    ),
    Case(
        "ringbuf_mem_oob",
        lambda m: [
            LDMAP(1, m["ringbuf"]),
            MOV(2, 8),
            MOV(3, 0),
            CALL(131),
            JMP(BPF_JEQ, 0, 0, 4),
            ST(BPF_DW, 0, 8, 7),
            MOVR(1, 0),
            MOV(2, 0),
            CALL(132),
            MOV(0, 0),
            EXIT,
        ],
        False,
        msg="invalid access to memory, mem_size=8",
        rule="PTR_TO_MEM bounds",
    ),
    Case(
        "ringbuf_size_not_const",
        lambda m: [
            CALL(7),
            MOVR(2, 0),
            LDMAP(1, m["ringbuf"]),
            MOV(3, 0),
            CALL(131),
            MOV(0, 0),
            EXIT,
        ],
        False,
        rule="ringbuf reserve size",
    ),
    Case(
        "wrong_map_type_for_helper",
        lambda m: [
            ST(BPF_DW, 10, -8, 0),
            MOVR(2, 10),
            ALU(BPF_ADD, 2, -8),
            LDMAP(1, m["hash"]),
            MOV(3, 0),
            CALL(87),
            MOV(0, 0),
            EXIT,
        ],
        False,
        rule="map type compatibility",
    ),
    Case(
        "queue_push",
        lambda m: [
            ST(BPF_DW, 10, -8, 0),
            MOVR(2, 10),
            ALU(BPF_ADD, 2, -8),
            LDMAP(1, m["queue"]),
            MOV(3, 0),
            CALL(87),
            MOV(0, 0),
            EXIT,
        ],
        True,
        rule="queue helpers",
    ),
    Case(
        "tail_call_wrong_map",
        lambda m: [MOVR(6, 1), LDMAP(2, m["array"]), MOV(3, 0), CALL(12), MOV(0, 0), EXIT],
        False,
        rule="map type compatibility",
    ),
]


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


EXTRA_CASES: list[Case] = [
    # --- subprograms: depth, stack, shape ---------------------------------------------------
    Case("call_depth_8_ok", lambda m: _chain(8), True, unpriv=False, rule="call depth"),
    Case(
        "call_depth_9",
        lambda m: _chain(9),
        False,
        msg="the call stack of 9 frames is too deep",
        rule="call depth > 8 frames",
    ),
    Case(
        "combined_stack_512_ok",
        lambda m: _two_frames(256, 256),
        True,
        unpriv=False,
        rule="combined stack size",
    ),
    Case(
        "combined_stack_too_large",
        lambda m: _two_frames(256, 264),
        False,
        msg="combined stack size of 2 calls is",
        rule="combined stack > 512",
    ),
    Case(
        "jump_into_other_subprog",
        lambda m: [LOCAL_CALL(2), JA(2), EXIT, MOV(0, 0), EXIT],
        False,
        msg="jump out of range from insn 1 to 4",
        rule="subprogram well-formedness",
    ),
    Case(
        "callee_reads_r6",
        lambda m: [MOV(6, 1), LOCAL_CALL(1), EXIT, MOVR(0, 6), EXIT],
        False,
        unpriv=False,
        msg="R6 !read_ok",
        rule="callee frame starts with R1-R5 only",
    ),
    Case(
        "caller_r1_clobbered",
        lambda m: [MOV(1, 1), LOCAL_CALL(2), MOVR(0, 1), EXIT, MOV(0, 0), EXIT],
        False,
        msg="R1 !read_ok",
        rule="R1-R5 clobbered after a call",
    ),
    Case(
        "callee_returns_stack_ptr",
        lambda m: [LOCAL_CALL(2), MOV(0, 0), EXIT, MOVR(0, 10), EXIT],
        False,
        rule="return of a stack pointer",
    ),
    Case(
        "callee_writes_caller_stack",
        lambda m: [
            MOVR(1, 10),
            ALU(BPF_ADD, 1, -8),
            LOCAL_CALL(2),
            LDX(BPF_DW, 0, 10, -8),
            EXIT,
            ST(BPF_DW, 1, 0, 5),
            MOV(0, 0),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="stack pointers into the caller's frame",
    ),
    Case(
        "callee_r0_unset",
        lambda m: [LOCAL_CALL(2), MOV(0, 0), EXIT, EXIT],
        True,
        unpriv=False,
        rule="a subprogram's R0 is only checked when the caller reads it",
    ),
    Case(
        "callee_r0_unset_used",
        lambda m: [LOCAL_CALL(1), EXIT, EXIT],
        False,
        msg="R0 !read_ok",
        rule="R0 set before exit (subprogram)",
    ),
    Case(
        "recursion",
        lambda m: [LOCAL_CALL(1), EXIT, LOCAL_CALL(-1), EXIT],
        False,
        rule="recursive bpf-to-bpf calls",
    ),
    Case(
        "ldabs_with_local_call",
        lambda m: [MOVR(6, 1), LDABS(BPF_B, 0), LOCAL_CALL(1), EXIT, MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="LD_ABS with bpf-to-bpf calls",
    ),
    Case(
        "ldabs_in_subprog",
        lambda m: [LOCAL_CALL(1), EXIT, MOVR(6, 1), LDABS(BPF_B, 0), EXIT],
        False,
        msg="LD_ABS is not allowed in subprogs without BTF",
        rule="LD_ABS inside a bpf-to-bpf callee",
    ),
    Case(
        "call_into_lddw",
        lambda m: [LOCAL_CALL(1), EXIT, LDIMM64(0, 1), EXIT],
        True,
        unpriv=False,
        rule="a subprogram starting with ldimm64",
    ),
    # --- R10 ------------------------------------------------------------------------------
    Case(
        "r10_add",
        lambda m: [ALU(BPF_ADD, 10, -8), MOV(0, 0), EXIT],
        False,
        msg="frame pointer is read only",
        rule="R10 read-only",
    ),
    Case(
        "r10_ldx",
        lambda m: [ST(BPF_DW, 10, -8, 0), LDX(BPF_DW, 10, 10, -8), MOV(0, 0), EXIT],
        False,
        msg="frame pointer is read only",
        rule="R10 read-only",
    ),
    Case(
        "r10_lddw",
        lambda m: [LDIMM64(10, 5), MOV(0, 0), EXIT],
        False,
        msg="frame pointer is read only",
        rule="R10 read-only",
    ),
    Case(
        "r10_spill_ok",
        lambda m: [STX(BPF_DW, 10, 10, -8), MOV(0, 0), EXIT],
        True,
        rule="R10 may be stored",
    ),
    # --- ringbuf memory -----------------------------------------------------------------------
    Case(
        "ringbuf_use_after_submit",
        lambda m: (
            _reserve(m)
            + [
                JMP(BPF_JEQ, 0, 0, 5),
                MOVR(6, 0),
                MOVR(1, 0),
                MOV(2, 0),
                CALL(132),
                ST(BPF_DW, 6, 0, 1),
                MOV(0, 0),
                EXIT,
            ]
        ),
        False,
        rule="PTR_TO_MEM released by submit",
    ),
    Case(
        "ringbuf_unchecked",
        lambda m: _reserve(m) + [ST(BPF_DW, 0, 0, 1), MOV(0, 0), EXIT],
        False,
        msg="invalid mem access 'ringbuf_mem_or_null'",
        rule="PTR_TO_MEM or NULL",
    ),
    Case(
        "ringbuf_discard",
        lambda m: (
            _reserve(m, 16)
            + [
                JMP(BPF_JEQ, 0, 0, 4),
                ST(BPF_DW, 0, 8, 1),
                MOVR(1, 0),
                MOV(2, 0),
                CALL(133),
                MOV(0, 0),
                EXIT,
            ]
        ),
        True,
        rule="ringbuf discard",
    ),
    Case(
        "ringbuf_submit_stack_ptr",
        lambda m: [MOVR(1, 10), ALU(BPF_ADD, 1, -8), MOV(2, 0), CALL(132), MOV(0, 0), EXIT],
        False,
        rule="release of a non-reference",
    ),
    Case(
        "ringbuf_submit_offset",
        lambda m: (
            _reserve(m)
            + [
                JMP(BPF_JEQ, 0, 0, 4),
                ALU(BPF_ADD, 0, 4),
                MOVR(1, 0),
                MOV(2, 0),
                CALL(132),
                MOV(0, 0),
                EXIT,
            ]
        ),
        False,
        rule="release func needs the original pointer",
    ),
    Case(
        "ringbuf_output",
        lambda m: [
            ST(BPF_DW, 10, -8, 7),
            LDMAP(1, m["ringbuf"]),
            MOVR(2, 10),
            ALU(BPF_ADD, 2, -8),
            MOV(3, 8),
            MOV(4, 0),
            CALL(130),
            MOV(0, 0),
            EXIT,
        ],
        True,
        rule="ringbuf output",
    ),
    Case(
        "ringbuf_mem_read_back",
        lambda m: (
            _reserve(m)
            + [
                JMP(BPF_JEQ, 0, 0, 5),
                ST(BPF_DW, 0, 0, 1),
                LDX(BPF_W, 6, 0, 4),
                MOVR(1, 0),
                MOV(2, 0),
                CALL(132),
                MOV(0, 0),
                EXIT,
            ]
        ),
        True,
        rule="PTR_TO_MEM in bounds",
    ),
    # --- spills of scalars ----------------------------------------------------------------------
    Case(
        "spill_w_const_fill",
        lambda m: _value_off(m, [MOV(1, 4), STX(BPF_W, 10, 1, -8), LDX(BPF_W, 7, 10, -8)]),
        True,
        unpriv=False,
        rule="32-bit spill of a constant keeps it",
    ),
    Case(
        "spill_w_const_fill_misaligned",
        lambda m: _value_off(m, [MOV(1, 4), STX(BPF_W, 10, 1, -4), LDX(BPF_W, 7, 10, -4)]),
        False,
        rule="32-bit spill at fp-4 is not tracked",
    ),
    Case(
        "spill_h_const_fill",
        lambda m: _value_off(m, [MOV(1, 8), STX(BPF_H, 10, 1, -8), LDX(BPF_H, 7, 10, -8)]),
        True,
        unpriv=False,
        rule="16-bit spill of a constant",
    ),
    Case(
        "spill_bounded_fill",
        lambda m: _value_off(
            m, [CALL(7), ALU(BPF_AND, 0, 7), STX(BPF_DW, 10, 0, -8), LDX(BPF_DW, 7, 10, -8)]
        ),
        True,
        unpriv=False,
        rule="64-bit spill of a bounded scalar keeps bounds",
    ),
    Case(
        "spill_dw_fill_w",
        lambda m: _value_off(m, [MOV(1, 4), STX(BPF_DW, 10, 1, -8), LDX(BPF_W, 7, 10, -8)]),
        True,
        unpriv=False,
        rule="narrow fill of a spilled constant",
    ),
    Case(
        "spill_w_bounded_fill",
        lambda m: _value_off(
            m, [CALL(7), ALU(BPF_AND, 0, 7), STX(BPF_W, 10, 0, -8), LDX(BPF_W, 7, 10, -8)]
        ),
        True,
        unpriv=False,
        rule="32-bit spill of a bounded scalar",
    ),
    Case(
        "spill_overwritten_byte",
        lambda m: _value_off(
            m, [MOV(1, 4), STX(BPF_DW, 10, 1, -8), ST(BPF_B, 10, -4, 1), LDX(BPF_DW, 7, 10, -8)]
        ),
        False,
        rule="a partly overwritten spill is unknown",
    ),
    # --- JMP32 and bounds ------------------------------------------------------------------------
    Case(
        "jmp32_upper_bits_unknown",
        lambda m: _value_off(m, [CALL(7), MOVR(7, 0), JMP32(BPF_JGT, 7, 8, OUT)]),
        False,
        rule="JMP32 refines only the low 32 bits",
    ),
    Case(
        "jmp32_after_zext",
        lambda m: _value_off(m, [CALL(7), MOV32R(7, 0), JMP32(BPF_JGT, 7, 8, OUT)]),
        True,
        rule="JMP32 on a zero-extended value bounds all 64 bits",
    ),
    Case(
        "jmp32_signed",
        lambda m: _value_off(
            m, [CALL(7), MOV32R(7, 0), JMP32(BPF_JSGT, 7, 8, OUT), JMP32(BPF_JSLT, 7, 0, OUT)]
        ),
        True,
        rule="JMP32 signed comparisons",
    ),
    Case(
        "jmp32_signed_only_upper",
        lambda m: _value_off(m, [CALL(7), MOV32R(7, 0), JMP32(BPF_JSGT, 7, 8, OUT)]),
        False,
        rule="JMP32 s> alone leaves negative 32-bit values (large u64)",
    ),
    Case(
        "signed_both_bounds",
        lambda m: _value_off(
            m, [CALL(7), MOVR(7, 0), JMP(BPF_JSGT, 7, 8, OUT), JMP(BPF_JSLT, 7, 0, OUT)]
        ),
        True,
        rule="signed bounds",
    ),
    Case(
        "unsigned_then_signed",
        lambda m: _value_off(m, [CALL(7), MOVR(7, 0), JMP(BPF_JGE, 7, 9, OUT)]),
        True,
        rule="unsigned bound implies signed",
    ),
    Case(
        "sub_makes_negative",
        lambda m: _value_off(m, [CALL(7), ALU(BPF_AND, 0, 7), MOVR(7, 0), ALU(BPF_SUB, 7, 2)]),
        False,
        rule="subtraction can make the index negative",
    ),
    Case(
        "arsh_negative",
        lambda m: _value_off(m, [CALL(7), MOVR(7, 0), ALU(BPF_ARSH, 7, 60)]),
        False,
        rule="arithmetic shift keeps the sign",
    ),
    Case(
        "rsh_bounds",
        lambda m: _value_off(m, [CALL(7), MOVR(7, 0), ALU(BPF_RSH, 7, 61)]),
        True,
        rule="logical shift bounds",
    ),
    Case(
        "jset_clears",
        lambda m: _value_off(
            m, [CALL(7), ALU(BPF_AND, 0, 15), MOVR(7, 0), JMP(BPF_JSET, 7, 8, OUT)]
        ),
        True,
        rule="JSET not taken clears bits",
    ),
    Case(
        "mod_bounds",
        lambda m: _value_off(m, [CALL(7), MOVR(7, 0), ALU(BPF_MOD, 7, 9)]),
        False,
        rule="BPF_MOD result bounds",
    ),
    Case(
        "jlt_reg_bound",
        lambda m: _value_off(m, [CALL(7), MOVR(7, 0), MOV(8, 9), JMPR(BPF_JGE, 7, 8, OUT)]),
        True,
        rule="bounds from a register comparison",
    ),
    # --- unprivileged leaks and comparisons ----------------------------------------------------
    Case(
        "leak_ptr_into_ctx",
        lambda m: [STX(BPF_W, 1, 10, 48), MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="unprivileged pointer leak into ctx",
    ),
    Case(
        "leak_ptr_into_helper",
        lambda m: [
            MOVR(2, 10),
            MOVR(3, 10),
            ALU(BPF_ADD, 3, -8),
            MOV(4, 8),
            CALL(26),
            MOV(0, 0),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="unprivileged pointer leak into a helper",
    ),
    Case(
        "ptr_compare_ptr",
        lambda m: [MOVR(1, 10), MOVR(2, 10), JMPR(BPF_JEQ, 1, 2, 0), MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="unprivileged pointer comparison",
    ),
    Case(
        "ptr_neg",
        lambda m: [MOVR(1, 10), I(BPF_ALU64 | BPF_NEG, 1), MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="pointer negation",
    ),
    Case(
        "ptr_end",
        lambda m: [MOVR(1, 10), I(BPF_ALU | BPF_END, 1, 0, 0, 16), MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="byte swap of a pointer",
    ),
    Case(
        "return_map_value",
        lambda m: _value(m, skip=1) + [EXIT, MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="unprivileged pointer leak as return value",
    ),
    Case(
        "map_value_var_arith",
        lambda m: _value_off(m, [CALL(7), ALU(BPF_AND, 0, 7), MOVR(7, 0)]),
        True,
        rule="map value pointer plus bounded scalar (unprivileged too)",
    ),
    Case(
        "stack_var_write",
        lambda m: [
            CALL(7),
            ALU(BPF_AND, 0, 8),
            MOVR(1, 10),
            ALU(BPF_ADD, 1, -16),
            ALUR(BPF_ADD, 1, 0),
            ST(BPF_DW, 1, 0, 0),
            MOV(0, 0),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="variable-offset stack write",
    ),
    Case(
        "stack_var_read",
        lambda m: [
            CALL(7),
            ALU(BPF_AND, 0, 8),
            MOVR(1, 10),
            ALU(BPF_ADD, 1, -16),
            ALUR(BPF_ADD, 1, 0),
            LDX(BPF_DW, 0, 1, 0),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="variable-offset stack read",
    ),
    Case(
        "cmpxchg_ptr_unpriv",
        lambda m: [
            ST(BPF_DW, 10, -8, 0),
            MOVR(0, 10),
            MOV(1, 0),
            ATOMIC(BPF_DW, 10, 1, -8, BPF_CMPXCHG),
            MOV(0, 0),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="cmpxchg with pointer",
    ),
    # --- GPL and licences -------------------------------------------------------------------
    Case(
        "gpl_helper_non_gpl",
        lambda m: [
            ST(BPF_DW, 10, -8, 0),
            MOVR(1, 10),
            ALU(BPF_ADD, 1, -8),
            MOV(2, 8),
            CALL(6),
            MOV(0, 0),
            EXIT,
        ],
        False,
        unpriv=False,
        msg="cannot call GPL-restricted function from non-GPL compatible program",
        rule="GPL-only helpers",
        license="MIT",
    ),
    Case(
        "gpl_helper_dual",
        lambda m: [
            ST(BPF_DW, 10, -8, 0),
            MOVR(1, 10),
            ALU(BPF_ADD, 1, -8),
            MOV(2, 8),
            CALL(6),
            MOV(0, 0),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="GPL-only helpers",
        license="Dual MIT/GPL",
    ),
    Case(
        "non_gpl_plain_helper",
        lambda m: [CALL(7), EXIT],
        True,
        rule="non-GPL licence",
        license="Proprietary",
    ),
    # --- size, maps, global data ---------------------------------------------------------------
    Case("size_4096_ok", lambda m: [MOV(0, 0)] * 4095 + [EXIT], True, rule="program size"),
    Case(
        "size_4097",
        lambda m: [MOV(0, 0)] * 4096 + [EXIT],
        True,
        unpriv=False,
        rule="program size (unprivileged limit 4096)",
    ),
    Case("bad_map_fd", lambda m: [LDMAP(1, 0x7FFF0000), MOV(0, 0), EXIT], False, rule="map fd"),
    Case(
        "direct_value_ok",
        lambda m: [LDVAL(1, m["global"], 4), LDX(BPF_W, 0, 1, 0), EXIT],
        True,
        rule="BPF_PSEUDO_MAP_VALUE",
    ),
    Case(
        "direct_value_oob",
        lambda m: [LDVAL(1, m["global"], 12), LDX(BPF_DW, 0, 1, 0), EXIT],
        False,
        rule="BPF_PSEUDO_MAP_VALUE bounds",
    ),
    Case(
        "direct_value_hash",
        lambda m: [LDVAL(1, m["hash"], 0), LDX(BPF_W, 0, 1, 0), EXIT],
        False,
        rule="BPF_PSEUDO_MAP_VALUE needs an array",
    ),
    Case(
        "rdonly_map_write",
        lambda m: lookup(m["rdonly"]) + [ST(BPF_DW, 0, 0, 1), MOV(0, 0), EXIT],
        False,
        msg="write into map forbidden",
        rule="BPF_F_RDONLY_PROG",
    ),
    Case(
        "rdonly_map_read",
        lambda m: lookup(m["rdonly"]) + [LDX(BPF_DW, 0, 0, 0), EXIT],
        True,
        unpriv=False,
        rule="BPF_F_RDONLY_PROG read",
    ),
    Case(
        "null_check_copy",
        lambda m: (
            lookup_unknown_key(m["array"])
            + [MOVR(6, 0), JMP(BPF_JEQ, 6, 0, 1), LDX(BPF_DW, 0, 0, 0), MOV(0, 0), EXIT]
        ),
        True,
        rule="null check of a copy marks every copy",
    ),
    Case(
        "or_null_compare_one",
        lambda m: (
            lookup_unknown_key(m["array"])
            + [JMP(BPF_JEQ, 0, 1, 1), LDX(BPF_DW, 0, 0, 0), MOV(0, 0), EXIT]
        ),
        False,
        rule="only a test against 0 is a null check",
    ),
    Case(
        "key_too_close_to_fp",
        lambda m: [
            ST(BPF_H, 10, -2, 0),
            MOVR(2, 10),
            ALU(BPF_ADD, 2, -2),
            LDMAP(1, m["hash"]),
            CALL(1),
            MOV(0, 0),
            EXIT,
        ],
        False,
        rule="helper key bounds",
    ),
    Case(
        "direct_value_many_entries",
        lambda m: [LDVAL(1, m["array"], 0), LDX(BPF_W, 0, 1, 0), EXIT],
        False,
        rule="BPF_PSEUDO_MAP_VALUE needs a single-element array",
    ),
    Case(
        "value_as_key",
        lambda m: _value(m, skip=4) + [MOVR(2, 0), LDMAP(1, m["hash"]), CALL(1), MOV(0, 0), EXIT],
        True,
        rule="map value as a key",
    ),
    Case(
        "map_delete",
        lambda m: [
            ST(BPF_W, 10, -4, 0),
            MOVR(2, 10),
            ALU(BPF_ADD, 2, -4),
            LDMAP(1, m["hash"]),
            CALL(3),
            MOV(0, 0),
            EXIT,
        ],
        True,
        rule="map_delete_elem",
    ),
    Case(
        "delete_on_array",
        lambda m: [
            ST(BPF_W, 10, -4, 0),
            MOVR(2, 10),
            ALU(BPF_ADD, 2, -4),
            LDMAP(1, m["array"]),
            CALL(3),
            MOV(0, 0),
            EXIT,
        ],
        True,
        rule="map_delete_elem on an array (runtime -EINVAL)",
    ),
    Case(
        "tail_call_ok",
        lambda m: [LDMAP(2, m["progs"]), MOV(3, 0), CALL(12), MOV(0, 0), EXIT],
        True,
        rule="tail calls",
    ),
    Case(
        "queue_peek_uninit",
        lambda m: [
            MOVR(2, 10),
            ALU(BPF_ADD, 2, -8),
            LDMAP(1, m["queue"]),
            CALL(89),
            LDX(BPF_DW, 0, 10, -8),
            EXIT,
        ],
        True,
        rule="ARG_PTR_TO_UNINIT_MAP_VALUE",
    ),
    # --- atomics, ALU ---------------------------------------------------------------------------
    Case(
        "atomic_byte",
        lambda m: [
            ST(BPF_DW, 10, -8, 0),
            MOV(1, 1),
            ATOMIC(BPF_B, 10, 1, -8, BPF_ADD),
            MOV(0, 0),
            EXIT,
        ],
        False,
        rule="atomic operand size",
    ),
    Case(
        "xchg_map_value",
        lambda m: (
            _value(m, skip=4)
            + [MOV(1, 5), ATOMIC(BPF_DW, 0, 1, 0, BPF_XCHG), MOVR(0, 1), EXIT, MOV(0, 0), EXIT]
        ),
        True,
        rule="atomic xchg",
    ),
    Case(
        "atomic_fetch_or_w",
        lambda m: [
            ST(BPF_W, 10, -4, 0),
            MOV(1, 2),
            ATOMIC(BPF_W, 10, 1, -4, 0x40 | BPF_FETCH),
            MOVR(0, 1),
            EXIT,
        ],
        True,
        rule="atomic fetch or",
    ),
    Case(
        "atomic_uninit_src",
        lambda m: [ST(BPF_DW, 10, -8, 0), ATOMIC(BPF_DW, 10, 3, -8, BPF_ADD), MOV(0, 0), EXIT],
        False,
        msg="R3 !read_ok",
        rule="atomics",
    ),
    Case(
        "sdiv_by_zero_imm",
        lambda m: [MOV(0, 7), I(BPF_ALU64 | BPF_DIV | BPF_K, 0, 0, 1, 0), EXIT],
        False,
        msg="div by zero",
        rule="cpu v4 sdiv",
    ),
    Case(
        "smod_ok",
        lambda m: [MOV(0, -7), I(BPF_ALU64 | BPF_MOD | BPF_K, 0, 0, 1, 3), EXIT],
        True,
        rule="cpu v4 smod",
    ),
    Case(
        "movsx_ok",
        lambda m: [MOV(1, 0xFF), I(BPF_ALU64 | BPF_MOV | BPF_X, 0, 1, 8), EXIT],
        True,
        rule="cpu v4 movsx",
    ),
    Case(
        "bswap64",
        lambda m: [MOV(0, 1), I(BPF_ALU64 | BPF_END, 0, 0, 0, 64), EXIT],
        True,
        rule="cpu v4 bswap",
    ),
    Case(
        "xor_self_uninit",
        lambda m: [ALUR(BPF_XOR, 3, 3), MOV(0, 0), EXIT],
        False,
        msg="R3 !read_ok",
        rule="uninitialised ALU source",
    ),
    Case(
        "ptr_div",
        lambda m: [MOVR(1, 10), I(BPF_ALU64 | BPF_DIV | BPF_K, 1, 0, 0, 2), MOV(0, 0), EXIT],
        False,
        rule="pointer arithmetic",
    ),
    Case(
        "ldsx_stack",
        lambda m: [ST(BPF_B, 10, -1, -1), I(BPF_LDX | 0x80 | BPF_B, 0, 10, -1), EXIT],
        True,
        rule="cpu v4 sign-extending load",
    ),
    # --- context --------------------------------------------------------------------------------
    Case(
        "ctx_data_denied",
        lambda m: [LDX(BPF_W, 0, 1, 76), EXIT],
        False,
        msg="invalid bpf_context access off=76 size=4",
        rule="ctx fields per program type",
    ),
    Case(
        "ctx_len_dw",
        lambda m: [LDX(BPF_DW, 0, 1, 0), EXIT],
        False,
        msg="invalid bpf_context access off=0 size=8",
        rule="ctx access size",
    ),
    Case("ctx_mark_read", lambda m: [LDX(BPF_W, 0, 1, 8), EXIT], True, rule="ctx"),
    Case(
        "ctx_mark_write",
        lambda m: [MOV(2, 1), STX(BPF_W, 1, 2, 8), MOV(0, 0), EXIT],
        False,
        msg="invalid bpf_context access off=8 size=4",
        rule="ctx writes",
    ),
    Case(
        "ctx_cb4_write",
        lambda m: [MOV(2, 1), STX(BPF_W, 1, 2, 64), MOV(0, 0), EXIT],
        True,
        rule="ctx cb[4]",
    ),
    Case(
        "ctx_hash_write",
        lambda m: [MOV(2, 1), STX(BPF_W, 1, 2, 68), MOV(0, 0), EXIT],
        False,
        rule="ctx writes",
    ),
    Case("ctx_negative", lambda m: [LDX(BPF_W, 0, 1, -4), EXIT], False, rule="ctx"),
    Case("ctx_protocol_half", lambda m: [LDX(BPF_H, 0, 1, 16), EXIT], True, rule="ctx narrow"),
    Case("ctx_cb_dw", lambda m: [LDX(BPF_DW, 0, 1, 48), EXIT], True, rule="ctx cb 8-byte"),
    Case(
        "scalar_deref",
        lambda m: [MOV(1, 0), LDX(BPF_DW, 0, 1, 0), EXIT],
        False,
        msg="R1 invalid mem access 'scalar'",
        rule="scalar dereference",
    ),
    # --- helpers -------------------------------------------------------------------------------
    Case(
        "helper_arg_uninit",
        lambda m: [LDMAP(1, m["hash"]), CALL(1), MOV(0, 0), EXIT],
        False,
        msg="R2 !read_ok",
        rule="helper arguments",
    ),
    Case(
        "skb_load_bytes_var_len",
        lambda m: [
            MOVR(6, 1),
            CALL(7),
            ALU(BPF_AND, 0, 7),
            ALU(BPF_ADD, 0, 1),
            MOVR(4, 0),
            MOVR(1, 6),
            MOVR(3, 10),
            ALU(BPF_ADD, 3, -8),
            MOV(2, 0),
            CALL(26),
            MOV(0, 0),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="helper size argument bounded",
    ),
    Case(
        "skb_load_bytes_len_negative",
        lambda m: [
            MOVR(6, 1),
            CALL(7),
            MOVR(4, 0),
            MOVR(1, 6),
            MOVR(3, 10),
            ALU(BPF_ADD, 3, -8),
            MOV(2, 0),
            CALL(26),
            MOV(0, 0),
            EXIT,
        ],
        False,
        rule="helper size argument unbounded",
    ),
    Case("socket_cookie", lambda m: [CALL(46), EXIT], True, rule="ctx-taking helper"),
    Case("ktime_smp", lambda m: [CALL(5), CALL(8), EXIT], True, rule="helpers"),
]

#: rules found by differential fuzzing against Linux 6.18 (each was a disagreement once)
DIFF_CASES: list[Case] = [
    Case(
        "exit_with_offset",
        lambda m: [MOV(0, 0), I(BPF_JMP | BPF_EXIT, 0, 0, 4)],
        True,
        rule="do_check ignores an exit's offset",
    ),
    Case(
        "malformed_on_dead_path",
        lambda m: (
            lookup(m["array"]) + [JMP(BPF_JNE, 0, 0, 1), I(BPF_JMP | BPF_EXIT, 9), MOV(0, 0), EXIT]
        ),
        True,
        unpriv=False,
        rule="reserved fields are checked only on reached instructions",
    ),
    Case(
        "malformed_reached",
        lambda m: [MOV(0, 0), I(BPF_JMP | BPF_EXIT, 9)],
        False,
        msg="BPF_EXIT uses reserved fields",
        rule="reserved fields",
    ),
    Case(
        "stack_ptr_sub_const",
        lambda m: [MOVR(1, 10), ALU(BPF_SUB, 1, 8), MOV(0, 0), EXIT],
        False,
        msg="R1 subtraction from stack pointer prohibited",
        rule="pointer arithmetic",
    ),
    Case(
        "ctx_var_offset_unused",
        lambda m: [
            MOVR(6, 1),
            CALL(7),
            ALU(BPF_AND, 0, 8),
            MOVR(1, 6),
            ALUR(BPF_ADD, 1, 0),
            MOV(0, 0),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="ctx pointer with a variable offset may exist",
    ),
    Case(
        "ctx_var_offset_load",
        lambda m: [
            MOVR(6, 1),
            CALL(7),
            ALU(BPF_AND, 0, 8),
            ALUR(BPF_ADD, 6, 0),
            LDX(BPF_W, 0, 6, 0),
            EXIT,
        ],
        False,
        msg="variable ctx access var_off=(0x0; 0x8) disallowed",
        rule="ctx",
    ),
    Case(
        "ldabs_r6_modified",
        lambda m: [MOVR(6, 1), ALU(BPF_ADD, 6, 4), LDABS(BPF_B, 0), EXIT],
        False,
        msg="dereference of modified ctx ptr R6 off=4 disallowed",
        rule="LD_ABS",
    ),
    Case(
        "movsx_pointer",
        lambda m: [I(BPF_ALU64 | BPF_MOV | BPF_X, 0, 10, 8), EXIT],
        True,
        unpriv=False,
        rule="sign extension of a pointer (root: a scalar)",
        unreproducible="bits of a stack address",
    ),
    Case(
        "sub32_pointer",
        lambda m: [MOV(0, 5), I(BPF_ALU | BPF_SUB | BPF_X, 0, 1), EXIT],
        True,
        unpriv=False,
        rule="32-bit pointer subtraction (root: a scalar)",
        unreproducible="bits of the context's address",
    ),
    Case(
        "ptr_sub_other_ptr",
        lambda m: [MOVR(0, 1), ALUR(BPF_SUB, 0, 10), EXIT],
        True,
        unpriv=False,
        rule="pointer - pointer of different types (root)",
        unreproducible="the distance between two regions",
    ),
    Case(
        "movsx_bounds_jmp32",
        lambda m: _value_off(
            m, [CALL(7), I(BPF_ALU64 | BPF_MOV | BPF_X, 7, 0, 8), JMP32(BPF_JGT, 7, 8, OUT)]
        ),
        True,
        rule="movsx range and JMP32 on a sign-extended value",
    ),
    Case(
        "ldabs_result_unbounded",
        lambda m: _value_off(m, [MOVR(6, 1), LDABS(BPF_B, 0), MOVR(7, 0)]),
        False,
        msg="unbounded min value",
        rule="LD_ABS result is a 64-bit unknown",
    ),
    Case(
        "mod32_result_unknown",
        lambda m: [MOV(2, 100), ALU32(BPF_MOD, 2, 7), JMP(BPF_JEQ, 2, -1, 1), MOV(0, 0), EXIT],
        False,
        rule="32-bit mod result is not zero-extended in the verifier",
    ),
    Case(
        "shift_by_reg_too_far",
        lambda m: [
            MOV(2, 1),
            MOV(3, 64),
            ALUR(BPF_LSH, 2, 3),
            JMP(BPF_JEQ, 2, 1, 1),
            MOV(0, 0),
            EXIT,
        ],
        False,
        rule="shift by a register >= width is unknown",
    ),
    Case(
        "map_value_vs_zero",
        lambda m: (
            lookup(m["hash"])
            + [JMP(BPF_JEQ, 0, 0, 3), JMP(BPF_JNE, 0, 0, 1), JA(-1), MOV(0, 0), EXIT]
        ),
        True,
        unpriv=False,
        rule="a non-NULL map value never equals 0 (is_branch_taken)",
    ),
    Case(
        "stack_ptr_vs_zero",
        lambda m: [MOVR(1, 10), JMP(BPF_JNE, 1, 0, 1), JA(-1), MOV(0, 0), EXIT],
        False,
        rule="stack pointers are not known non-NULL (reg_not_null)",
    ),
    Case(
        "misaligned_var_stack",
        lambda m: [
            CALL(7),
            ALU(BPF_AND, 0, 8),
            MOVR(1, 10),
            ALU(BPF_ADD, 1, -16),
            ALUR(BPF_ADD, 1, 0),
            ST(BPF_DW, 1, -4, 0),
            MOV(0, 0),
            EXIT,
        ],
        False,
        msg="misaligned stack access off (0x0; 0x8)+-16+-4 size 8",
        rule="stack alignment",
    ),
    Case(
        "atomic_fetch_clobbers_dst",
        lambda m: (
            lookup(m["hash"])
            + [JMP(BPF_JEQ, 0, 0, 2), ATOMIC(BPF_DW, 0, 0, 0, BPF_XCHG), MOV(0, 0), EXIT]
        ),
        False,
        rule="atomic fetch into the address register",
    ),
    Case(
        "unpriv_ctx_plus_reg",
        lambda m: [MOV(2, 0), ALUR(BPF_ADD, 1, 2), MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="!root pointer arithmetic only on stack and map values",
    ),
    Case(
        "unpriv_mixed_signed",
        lambda m: _value_off(
            m, [CALL(7), MOVR(7, 0), JMP(BPF_JSGT, 7, 8, OUT), JMP(BPF_JSLT, 7, -8, OUT)]
        ),
        False,
        rule="mixed signed bounds",
    ),
    Case(
        "unpriv_stack_out_of_range",
        lambda m: [MOVR(1, 10), ALU(BPF_ADD, 1, 8), MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="!root stack pointer arithmetic must stay in the frame",
    ),
    Case(
        "unpriv_map_value_out_of_range",
        lambda m: lookup(m["hash"]) + [JMP(BPF_JEQ, 0, 0, 1), ALU(BPF_ADD, 0, 64), MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="!root map value pointer arithmetic must stay in the value",
    ),
    Case(
        "jne_decided_by_s32",
        lambda m: [
            CALL(7),
            JMP32(BPF_JSLT, 0, 16, 3),
            JMP(BPF_JNE, 0, -100, 2),
            MOVR(0, 1),
            EXIT,
            MOV(0, 0),
            EXIT,
        ],
        True,
        rule="equality impossible when the 32-bit signed ranges are disjoint",
    ),
    Case(
        "map_struct_read",
        lambda m: [LDMAP(1, m["array"]), LDX(BPF_W, 0, 1, 24), EXIT],
        True,
        unpriv=False,
        rule="root reads struct bpf_map fields through a map pointer",
        unreproducible="a field of the kernel's struct bpf_map",
    ),
]

CASES += EXTRA_CASES + DIFF_CASES

#: where pybpf deliberately differs from Linux 6.18 (kept out of the kernel comparison;
#: tests/test_verifier.py checks pybpf's own verdict). Linux decides ``if w0 != 0`` for a
#: valid map-value pointer as always true; pybpf's VM places regions at 4 GiB boundaries,
#: so the low half of a valid pointer can be 0 and pybpf explores both branches.
DEVIATIONS: list[Case] = [
    Case(
        "map_value_vs_zero_jmp32",
        lambda m: (
            lookup(m["hash"])
            + [JMP(BPF_JEQ, 0, 0, 3), JMP32(BPF_JNE, 0, 0, 1), JA(-1), MOV(0, 0), EXIT]
        ),
        False,
        msg="infinite loop detected",
        rule="kernel: accepted (JMP32 pointer test decided)",
    ),
]


#: programs that exercise bounded loops and pruning at some size
BIG_CASES: list[Case] = [
    Case(
        "loop_1000",
        lambda m: [
            MOV(0, 0),
            MOV(1, 0),
            ALU(BPF_ADD, 1, 1),
            ALUR(BPF_ADD, 0, 1),
            JMP(BPF_JLT, 1, 1000, -3),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="loops",
    ),
    Case(
        "many_branches_pruned",
        lambda m: (
            [CALL(7), MOVR(6, 0), MOV(0, 0)]
            + [x for k in range(30) for x in (JMP(BPF_JEQ, 6, k, 1), ALU(BPF_OR, 0, 1))]
            + [EXIT]
        ),
        True,
        rule="state pruning",
    ),
    Case(
        "right_shift_bounds",
        lambda m: (
            [CALL(7), ALU(BPF_RSH, 0, 61), MOVR(7, 0)]
            + lookup(m["hash"])
            + [
                JMP(BPF_JEQ, 0, 0, 3),
                ALUR(BPF_ADD, 0, 7),
                LDX(BPF_DW, 0, 0, 0),
                EXIT,
                MOV(0, 0),
                EXIT,
            ]
        ),
        True,
        rule="shift bounds",
    ),
]

#: callbacks passed to helpers (bpf_loop). Raw instructions carry no BTF, and Linux
#: refuses ld_imm64 BPF_PSEUDO_FUNC without func_info; the accepted callback programs
#: are C, in tests/test_verifier_callbacks.py.
CALLBACK_CASES = [
    Case(
        "callback without btf func_info",
        lambda m: [
            MOV(1, 4),
            I(BPF_LD | BPF_IMM | BPF_DW, 2, 4, 0, 5),  # r2 = the subprogram at insn 7
            MOV(3, 0),
            MOV(4, 0),
            CALL(181),  # bpf_loop
            EXIT,
            MOV(0, 0),
            EXIT,
        ],
        False,
        msg="missing btf func_info",
        rule="callback (BPF_PSEUDO_FUNC)",
    ),
    Case(
        "bpf_loop callback is a scalar",
        lambda m: [MOV(1, 4), MOV(2, 0), MOV(3, 0), MOV(4, 0), CALL(181), EXIT],
        False,
        msg="R2 type=scalar expected=func",
        rule="callback (ARG_PTR_TO_FUNC)",
    ),
]

ALL_CASES = CASES + BIG_CASES + CALLBACK_CASES


# ---------------------------------------------------------------------- running the corpus
#: compiled examples and macro modules checked like the cases (examples/ of the repository)
EXAMPLES = ("sockex1_kern.c", "sockex2_kern.c", "sockex3_btf_kern.c", "sockex1_macros.py")
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


def example_objects(outdir: str | os.PathLike[str]) -> dict[str, str]:
    """Compile the C examples into ``outdir`` (readable by any user); name -> object path."""
    from pybpf.spec.cc import compile_c

    out: dict[str, str] = {}
    for name in EXAMPLES:
        src = EXAMPLES_DIR / name
        if name.endswith(".c"):
            obj = Path(outdir) / (Path(name).stem + ".o")
            compile_c(src, out_path=obj)
            os.chmod(obj, 0o644)
            out[name] = str(obj)
        else:
            out[name] = str(src)
    return out


class _Fds(dict):
    """Map fds by name; naming a map that could not be created skips the case."""

    def __init__(self, fds: dict[str, int], missing: dict[str, str]):
        super().__init__(fds)
        self.missing = missing

    def __missing__(self, key: str) -> int:
        raise LookupError(self.missing.get(key, f"no map {key!r}"))


def _error_line(log: str) -> str:
    """The kernel's error: the lines after the last instruction of the trail, joined by ' | '."""
    lines = [ln for ln in log.splitlines() if ln.strip()]
    last = -1
    for i, ln in enumerate(lines):
        head = ln.split(":", 1)[0]
        if head.isdigit() and ln[len(head) :].startswith(": ("):
            last = i
    tail = [
        ln
        for ln in lines[last + 1 :]
        if not ln.startswith(("processed ", "verification time", "cur state", "old state"))
    ]
    return " | ".join(tail) if tail else (lines[-1] if lines else "")


def kernel_verdicts(examples: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Load every case and example into the running kernel with this process's credentials.

    Returns name -> {"ok": bool, "errno": int, "line": kernel error line} or
    {"skip": reason} when a map the case needs cannot be created by this user.
    """
    import errno as E

    from pybpf.errors import BpfError, KernelError
    from pybpf.kernel import syscall as sc

    fds: dict[str, int] = {}
    missing: dict[str, str] = {}
    for name, (t, ks, vs, n, fl) in MAPS.items():
        try:
            fds[name] = sc.map_create(t, ks, vs, n, fl, name=name)
        except KernelError as e:
            missing[name] = f"map {name!r} cannot be created here: {E.errorcode.get(e.errno)}"
    m = _Fds(fds, missing)
    out: dict[str, dict[str, Any]] = {}
    for case in ALL_CASES:
        try:
            insns = case.build(m)
        except LookupError as e:
            out[case.name] = {"skip": str(e.args[0])}
            continue
        try:
            res = sc.prog_load_result(
                case.prog_type, insns, license=case.license, log_level=1, log_size=1 << 24
            )
            sc.close(res.fd)
            out[case.name] = {"ok": True, "errno": 0, "line": ""}
        except KernelError as e:
            out[case.name] = {"ok": False, "errno": e.errno, "line": _error_line(e.log)}
    import pybpf

    for name, path in examples.items():
        try:
            coll = pybpf.load(path, backend="kernel")
            coll.close()
            out[name] = {"ok": True, "errno": 0, "line": ""}
        except KernelError as e:
            if getattr(e, "cmd", "") == "BPF_PROG_LOAD" or "BPF_PROG_LOAD" in str(e):
                out[name] = {"ok": False, "errno": e.errno, "line": _error_line(e.log) or str(e)}
            else:
                out[name] = {"skip": f"a map cannot be created here: {e}"}
        except BpfError as e:
            out[name] = {"skip": f"{type(e).__name__}: {e}"}
    for fd in fds.values():
        sc.close(fd)
    return out


def pybpf_case_result(case: Case, privileged: bool, log_level: int = 0) -> dict[str, Any]:
    """pybpf's verdict on one case: {"ok", "errno", "line", "log", "index"}."""
    from pybpf.errors import VerifierError
    from pybpf.maps import Map
    from pybpf.verifier.check import Verifier

    maps = {name: Map(t, ks, vs, n, fl, name=name) for name, (t, ks, vs, n, fl) in MAPS.items()}
    insns = case.build({k: v.fd for k, v in maps.items()})
    try:
        res = Verifier(
            insns,
            prog_type=case.prog_type,
            privileged=privileged,
            license=case.license,
            log_level=log_level,
        ).verify()
        return {"ok": True, "errno": 0, "line": "", "log": res.log, "stats": res.stats}
    except VerifierError as e:
        return {"ok": False, "errno": e.errno, "line": e.message, "log": e.log, "index": e.index}


def pybpf_example_result(path: str, privileged: bool, log_level: int = 0) -> dict[str, Any]:
    """pybpf's verdict on every program of one example object (refused if any is)."""
    import pybpf
    from pybpf.errors import VerifierError

    coll = pybpf.load(path, backend="user", verify=False)
    stats = {}
    for name, prog in coll.programs.items():
        ps = coll.spec.programs[name]
        try:
            stats[name] = prog.verify(
                log_level=log_level, line_info=ps.line_info, privileged=privileged
            ).stats
        except VerifierError as e:
            return {
                "ok": False,
                "errno": e.errno,
                "line": e.message,
                "log": e.log,
                "index": e.index,
                "prog": name,
            }
    return {"ok": True, "errno": 0, "line": "", "stats": stats}


if __name__ == "__main__":  # run by tests/test_verifier_kernel.py as an unprivileged user
    import json
    import sys

    json.dump(kernel_verdicts(json.loads(sys.argv[1])), sys.stdout)
