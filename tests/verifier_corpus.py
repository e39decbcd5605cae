"""Hand-written accept/reject programs, one or more per verifier rule.

Each case builds its instructions from a dict of map file descriptors, so the
same case can be loaded into the kernel (real map fds) and checked by pybpf
(fds from pybpf's table). ``priv`` and ``unpriv`` are the verdicts Linux 6.x
gives (checked by tests/test_verifier_kernel.py against the running kernel);
``msg`` is a substring pybpf's log must contain when it refuses.
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
    BPF_ATOMIC,
    BPF_B,
    BPF_CALL,
    BPF_DIV,
    BPF_DW,
    BPF_EXIT,
    BPF_H,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JEQ,
    BPF_JGT,
    BPF_JLT,
    BPF_JMP,
    BPF_JNE,
    BPF_JSGT,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LSH,
    BPF_MEM,
    BPF_MOV,
    BPF_MUL,
    BPF_OR,
    BPF_PSEUDO_CALL,
    BPF_RSH,
    BPF_ST,
    BPF_STX,
    BPF_SUB,
    BPF_W,
    BPF_X,
    Insn,
)
from pybpf.uapi import (
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_QUEUE,
    BPF_MAP_TYPE_RINGBUF,
)

#: the maps every case may use: name -> (type, key_size, value_size, max_entries, flags)
MAPS = {
    "array": (BPF_MAP_TYPE_ARRAY, 4, 8, 256, 0),
    "hash": (BPF_MAP_TYPE_HASH, 4, 16, 64, 0),
    "ringbuf": (BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0),
    "queue": (BPF_MAP_TYPE_QUEUE, 0, 8, 16, 0),
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
    return [ST(BPF_W, 10, key_off, 0), MOVR(2, 10), ALU(BPF_ADD, 2, key_off), LDMAP(1, fd),
            CALL(1)]


def lookup_unknown_key(fd: int) -> list[Insn]:
    """key from get_prandom_u32: the lookup may return NULL even on an array."""
    return [CALL(7), STX(BPF_W, 10, 0, -4), MOVR(2, 10), ALU(BPF_ADD, 2, -4), LDMAP(1, fd),
            CALL(1)]


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[dict[str, int]], list[Insn]]
    priv: bool  # accepted for root
    unpriv: bool | None = None  # accepted for an unprivileged loader (None: same as priv)
    msg: str = ""  # substring of pybpf's refusal (priv)
    rule: str = ""

    @property
    def unpriv_verdict(self) -> bool:
        return self.priv if self.unpriv is None else self.unpriv


def _seed(m: dict[str, int]) -> list[Insn]:
    return [
        MOVR(6, 1), LDABS(BPF_B, 14 + 9), STX(BPF_W, 10, 0, -4), MOVR(2, 10),
        ALU(BPF_ADD, 2, -4), LDMAP(1, m["array"]), CALL(1), JMP(BPF_JEQ, 0, 0, 2), MOV(1, 1),
        I(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 1, 0, BPF_ADD), MOV(0, 0), EXIT,
    ]


CASES: list[Case] = [
    # --- structure ---------------------------------------------------------------------
    Case("seed_macro_program", _seed, True, rule="the seed's 12 instructions"),
    Case("exit_only_r0_set", lambda m: [MOV(0, 0), EXIT], True),
    Case("unreachable_insn", lambda m: [MOV(0, 0), EXIT, EXIT], False, msg="unreachable insn 2",
         rule="structure"),
    Case("jump_out_of_range", lambda m: [MOV(0, 0), JA(5), EXIT], False,
         msg="jump out of range", rule="structure"),
    Case("jump_backwards_out", lambda m: [MOV(0, 0), JA(-3), EXIT], False,
         msg="jump out of range", rule="structure"),
    Case("jump_into_lddw", lambda m: [JMP(BPF_JEQ, 1, 0, 1), LDIMM64(0, 1), MOV(0, 2), EXIT],
         False, msg="jump into the middle of ldimm64", rule="structure"),
    Case("last_not_exit", lambda m: [MOV(0, 0)], False, msg="last insn is not an exit or jmp",
         rule="structure"),
    Case("fall_off_into_subprog", lambda m: [LOCAL_CALL(1), MOV(0, 0), MOV(0, 1), EXIT], False,
         msg="last insn is not an exit or jmp", rule="subprograms"),
    Case("local_call_ok", lambda m: [MOV(1, 3), LOCAL_CALL(1), EXIT, MOVR(0, 1),
                                     ALU(BPF_ADD, 0, 1), EXIT], True, unpriv=False,
         rule="subprograms"),
    Case("local_call_bad_target", lambda m: [LOCAL_CALL(5), EXIT], False,
         msg="call to invalid destination", rule="subprograms"),
    Case("unknown_opcode", lambda m: [I(0xFF), MOV(0, 0), EXIT], False, msg="unknown opcode",
         rule="structure"),
    Case("reserved_field_alu", lambda m: [I(BPF_ALU64 | BPF_ADD | BPF_K, 0, 1, 0, 1), EXIT],
         False, msg="uses reserved fields", rule="structure"),
    Case("bad_register", lambda m: [I(BPF_ALU64 | BPF_MOV | BPF_K, 11, 0, 0, 0), EXIT], False,
         msg="R11 is invalid", rule="structure"),
    # --- loops ------------------------------------------------------------------------------
    Case("bounded_loop", lambda m: [MOV(0, 0), ALU(BPF_ADD, 0, 1), JMP(BPF_JEQ, 0, 100, 1),
                                    JA(-3), EXIT], True, unpriv=False, rule="loops"),
    Case("bounded_loop_jlt", lambda m: [MOV(0, 0), MOV(1, 0), ALU(BPF_ADD, 1, 1),
                                        ALUR(BPF_ADD, 0, 1), JMP(BPF_JLT, 1, 50, -3), EXIT],
         True, unpriv=False, rule="loops"),
    Case("infinite_loop_self", lambda m: [MOV(0, 0), JMP(BPF_JEQ, 0, 0, -1), EXIT], False,
         msg="infinite loop detected", rule="loops"),
    Case("infinite_loop_unknown", lambda m: [CALL(7), JMP(BPF_JGT, 0, 10, 1), JA(-2), EXIT],
         False, msg="infinite loop detected", rule="loops"),
    Case("loop_never_ends_counter", lambda m: [MOV(0, 0), ALU(BPF_ADD, 0, 2),
                                               JMP(BPF_JEQ, 0, 101, 1), JA(-3), EXIT],
         False, msg="BPF program is too large", rule="loops"),
    # --- registers --------------------------------------------------------------------------
    Case("r0_not_set", lambda m: [EXIT], False, msg="R0 !read_ok", rule="registers"),
    Case("read_uninit_r2", lambda m: [MOVR(0, 2), EXIT], False, msg="R2 !read_ok",
         rule="registers"),
    Case("write_r10", lambda m: [MOV(10, 0), MOV(0, 0), EXIT], False,
         msg="frame pointer is read only", rule="registers"),
    Case("r1_clobbered_by_call", lambda m: [MOV(1, 1), CALL(7), MOVR(0, 1), EXIT], False,
         msg="R1 !read_ok", rule="registers"),
    Case("r6_survives_call", lambda m: [MOV(6, 1), CALL(7), MOVR(0, 6), EXIT], True,
         rule="registers"),
    Case("div_by_zero_imm", lambda m: [MOV(0, 1), ALU(BPF_DIV, 0, 0), EXIT], False,
         msg="div by zero", rule="registers"),
    Case("div_by_zero_reg_ok", lambda m: [MOV(0, 1), MOV(1, 0), ALUR(BPF_DIV, 0, 1), EXIT],
         True, rule="registers"),
    Case("invalid_shift", lambda m: [MOV(0, 1), ALU(BPF_LSH, 0, 64), EXIT], False,
         msg="invalid shift 64", rule="registers"),
    Case("invalid_shift32", lambda m: [MOV(0, 1), ALU32(BPF_LSH, 0, 32), EXIT], False,
         msg="invalid shift 32", rule="registers"),
    Case("return_pointer", lambda m: [MOVR(0, 10), EXIT], True, unpriv=False,
         rule="unprivileged pointer leak"),
    Case("return_ctx", lambda m: [MOVR(0, 1), EXIT], True, unpriv=False,
         rule="unprivileged pointer leak"),
    # --- pointer arithmetic -----------------------------------------------------------------
    Case("ptr_bitwise_and", lambda m: [MOVR(1, 10), ALU(BPF_AND, 1, 7), MOV(0, 0), EXIT],
         False, msg="bitwise operator &= on pointer prohibited", rule="pointer arithmetic"),
    Case("ptr_mul", lambda m: [MOVR(1, 10), ALU(BPF_MUL, 1, 2), MOV(0, 0), EXIT], False,
         msg="pointer arithmetic with *= operator prohibited", rule="pointer arithmetic"),
    Case("ptr_add_ptr", lambda m: [MOVR(1, 10), ALUR(BPF_ADD, 1, 10), MOV(0, 0), EXIT], False,
         msg="pointer += pointer prohibited", rule="pointer arithmetic"),
    Case("ptr_sub_ptr", lambda m: [MOVR(1, 10), ALU(BPF_ADD, 1, -8), ALUR(BPF_SUB, 1, 10),
                                   MOVR(0, 1), EXIT], True, unpriv=False,
         rule="pointer arithmetic"),
    Case("scalar_minus_ptr", lambda m: [MOV(1, 0), ALUR(BPF_SUB, 1, 10), MOV(0, 0), EXIT],
         False, msg="tried to subtract pointer from scalar", rule="pointer arithmetic"),
    Case("ptr32_arith", lambda m: [MOVR(1, 10), ALU32(BPF_ADD, 1, 1), MOV(0, 0), EXIT], False,
         msg="32-bit pointer arithmetic prohibited", rule="pointer arithmetic"),
    Case("map_ptr_arith", lambda m: [LDMAP(1, m["array"]), ALU(BPF_ADD, 1, 8), MOV(0, 0), EXIT],
         False, msg="pointer arithmetic on map_ptr prohibited", rule="pointer arithmetic"),
    Case("or_null_arith", lambda m: lookup_unknown_key(m["array"]) + [ALU(BPF_ADD, 0, 8),
                                                                     MOV(0, 0), EXIT],
         False, msg="pointer arithmetic on map_value_or_null prohibited",
         rule="pointer arithmetic"),
    Case("ptr_compare_scalar", lambda m: [MOVR(1, 10), JMP(BPF_JEQ, 1, 5, 0), MOV(0, 0), EXIT],
         True, unpriv=False, rule="unprivileged pointer comparison"),
    Case("ptr_mov32", lambda m: [MOV32R(1, 10), MOV(0, 0), EXIT], True, unpriv=False,
         rule="unprivileged partial pointer copy"),
    # --- stack --------------------------------------------------------------------------------
    Case("stack_rw_ok", lambda m: [MOV(0, 7), STX(BPF_DW, 10, 0, -512), LDX(BPF_DW, 0, 10, -512),
                                   EXIT], True, rule="stack"),
    Case("stack_below_512", lambda m: [MOV(0, 0), STX(BPF_DW, 10, 0, -520), EXIT], False,
         msg="stack R10 off=-520", rule="stack"),
    Case("stack_above_fp", lambda m: [MOV(0, 0), STX(BPF_DW, 10, 0, 0), EXIT], False,
         msg="stack R10 off=0", rule="stack"),
    Case("stack_misaligned", lambda m: [MOV(0, 0), STX(BPF_DW, 10, 0, -12), EXIT], False,
         msg="misaligned stack access", rule="stack"),
    Case("stack_read_uninit", lambda m: [LDX(BPF_DW, 0, 10, -8), EXIT], True, unpriv=False,
         rule="stack (root may read uninitialised stack)"),
    Case("stack_partial_init", lambda m: [ST(BPF_W, 10, -8, 1), LDX(BPF_DW, 0, 10, -8), EXIT],
         True, unpriv=False, rule="stack"),
    Case("spill_fill_keeps_ptr", lambda m: lookup_unknown_key(m["array"]) + [
        STX(BPF_DW, 10, 0, -16), LDX(BPF_DW, 1, 10, -16), JMP(BPF_JEQ, 1, 0, 1),
        LDX(BPF_DW, 0, 1, 0), MOV(0, 0), EXIT], True, rule="spill/fill"),
    Case("spill_partial_fill_ptr", lambda m: [STX(BPF_DW, 10, 1, -8), LDX(BPF_W, 0, 10, -8),
                                              EXIT], False, unpriv=False,
         msg="invalid size of register fill", rule="spill/fill"),
    Case("spill_ptr_corrupt_unpriv", lambda m: [STX(BPF_DW, 10, 1, -8), ST(BPF_W, 10, -8, 0),
                                                MOV(0, 0), EXIT], True, unpriv=False,
         rule="spill/fill"),
    # --- maps ---------------------------------------------------------------------------------
    Case("null_deref_unknown_key", lambda m: lookup_unknown_key(m["array"]) +
         [LDX(BPF_DW, 0, 0, 0), EXIT], False, msg="invalid mem access 'map_value_or_null'",
         rule="map_value_or_null"),
    Case("null_deref_hash", lambda m: lookup(m["hash"]) + [LDX(BPF_DW, 0, 0, 0), EXIT], False,
         msg="invalid mem access 'map_value_or_null'", rule="map_value_or_null"),
    Case("array_const_key_not_null", lambda m: lookup(m["array"]) + [LDX(BPF_DW, 0, 0, 0),
                                                                     EXIT],
         True, rule="array lookups with a constant key are not null (6.13+)"),
    Case("null_checked", lambda m: lookup_unknown_key(m["array"]) + [
        JMP(BPF_JEQ, 0, 0, 1), LDX(BPF_DW, 0, 0, 0), EXIT], True, rule="null check"),
    Case("null_checked_jne", lambda m: lookup_unknown_key(m["array"]) + [
        JMP(BPF_JNE, 0, 0, 2), MOV(0, 0), EXIT, LDX(BPF_DW, 0, 0, 0), EXIT], True,
         rule="null check"),
    Case("value_oob_read", lambda m: lookup(m["hash"]) + [JMP(BPF_JEQ, 0, 0, 1),
                                                          LDX(BPF_DW, 0, 0, 16), EXIT],
         False, msg="invalid access to map value, value_size=16 off=16 size=8",
         rule="map value bounds"),
    Case("value_last_ok", lambda m: lookup(m["hash"]) + [JMP(BPF_JEQ, 0, 0, 1),
                                                         LDX(BPF_DW, 0, 0, 8), EXIT],
         True, rule="map value bounds"),
    Case("value_negative", lambda m: lookup(m["hash"]) + [JMP(BPF_JEQ, 0, 0, 1),
                                                          LDX(BPF_B, 0, 0, -1), EXIT],
         False, msg="invalid access to map value", rule="map value bounds"),
    Case("value_var_index_ok", lambda m: lookup(m["hash"]) + [
        JMP(BPF_JEQ, 0, 0, 6), MOVR(6, 0), CALL(7), ALU(BPF_AND, 0, 8), ALUR(BPF_ADD, 6, 0),
        LDX(BPF_DW, 0, 6, 0), EXIT, MOV(0, 0), EXIT], True, rule="map value bounds (var)"),
    Case("value_var_index_bad", lambda m: lookup(m["hash"]) + [
        JMP(BPF_JEQ, 0, 0, 6), MOVR(6, 0), CALL(7), ALU(BPF_AND, 0, 15), ALUR(BPF_ADD, 6, 0),
        LDX(BPF_DW, 0, 6, 0), EXIT, MOV(0, 0), EXIT], False, msg="invalid access to map value",
         rule="map value bounds (var)"),
    Case("value_var_unbounded", lambda m: lookup(m["hash"]) + [
        JMP(BPF_JEQ, 0, 0, 5), MOVR(6, 0), CALL(7), ALUR(BPF_ADD, 6, 0),
        LDX(BPF_B, 0, 6, 0), EXIT, MOV(0, 0), EXIT], False, rule="map value bounds (var)"),
    Case("value_bounded_by_jgt", lambda m: [CALL(7), MOVR(7, 0)] + lookup(m["hash"]) + [
        JMP(BPF_JEQ, 0, 0, 4), JMP(BPF_JGT, 7, 8, 3), ALUR(BPF_ADD, 0, 7),
        LDX(BPF_DW, 0, 0, 0), EXIT, MOV(0, 0), EXIT], True, rule="bounds from a branch"),
    Case("value_bounded_off_by_one", lambda m: [CALL(7), MOVR(7, 0)] + lookup(m["hash"]) + [
        JMP(BPF_JEQ, 0, 0, 4), JMP(BPF_JGT, 7, 9, 3), ALUR(BPF_ADD, 0, 7),
        LDX(BPF_DW, 0, 0, 0), EXIT, MOV(0, 0), EXIT], False, rule="bounds from a branch"),
    Case("value_signed_negative", lambda m: [CALL(7), MOVR(7, 0)] + lookup(m["hash"]) + [
        JMP(BPF_JEQ, 0, 0, 4), JMP(BPF_JSGT, 7, 8, 3), ALUR(BPF_ADD, 0, 7),
        LDX(BPF_B, 0, 0, 0), EXIT, MOV(0, 0), EXIT], False, msg="min value is negative",
         rule="signed bounds"),
    Case("map_ptr_write", lambda m: [LDMAP(1, m["array"]), ST(BPF_DW, 1, 0, 0), MOV(0, 0), EXIT],
         False, rule="map_ptr"),
    Case("key_uninit_stack", lambda m: [MOVR(2, 10), ALU(BPF_ADD, 2, -4), LDMAP(1, m["hash"]),
                                        CALL(1), MOV(0, 0), EXIT], True, unpriv=False,
         rule="helper key on uninitialised stack"),
    Case("key_not_stack", lambda m: [MOV(2, 0), LDMAP(1, m["hash"]), CALL(1), MOV(0, 0), EXIT],
         False, rule="helper key type"),
    Case("map_arg_not_map", lambda m: [MOVR(1, 10), MOVR(2, 10), ALU(BPF_ADD, 2, -8),
                                       ST(BPF_DW, 10, -8, 0), CALL(1), MOV(0, 0), EXIT],
         False, msg="expected=map_ptr", rule="helper map argument"),
    Case("update_value_too_big_for_stack", lambda m: [
        ST(BPF_W, 10, -4, 0), MOVR(2, 10), ALU(BPF_ADD, 2, -4), MOVR(3, 10), ALU(BPF_ADD, 3, -4),
        MOV(4, 0), LDMAP(1, m["hash"]), CALL(2), MOV(0, 0), EXIT], False,
         rule="helper value size"),
    Case("update_ok", lambda m: [
        ST(BPF_W, 10, -4, 0), ST(BPF_DW, 10, -24, 0), ST(BPF_DW, 10, -16, 0), MOVR(2, 10),
        ALU(BPF_ADD, 2, -4), MOVR(3, 10), ALU(BPF_ADD, 3, -24), MOV(4, 0), LDMAP(1, m["hash"]),
        CALL(2), MOV(0, 0), EXIT], True, rule="helper value size"),
    Case("atomic_on_map_value", lambda m: lookup_unknown_key(m["array"]) + [
        JMP(BPF_JEQ, 0, 0, 2), MOV(1, 1), I(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 1, 0, BPF_ADD),
        MOV(0, 0), EXIT], True, rule="atomics"),
    Case("atomic_on_ctx", lambda m: [MOV(2, 1), I(BPF_STX | BPF_ATOMIC | BPF_W, 1, 2, 0,
                                                  BPF_ADD), MOV(0, 0), EXIT], False,
         msg="BPF_ATOMIC stores into R1 ctx is not allowed", rule="atomics"),
    Case("atomic_fetch_stack", lambda m: [ST(BPF_DW, 10, -8, 0), MOV(1, 5),
                                          I(BPF_STX | BPF_ATOMIC | BPF_DW, 10, 1, -8,
                                            BPF_ADD | 1), MOVR(0, 1), EXIT], True,
         rule="atomics"),
    Case("leak_ptr_into_map", lambda m: lookup_unknown_key(m["array"]) + [
        JMP(BPF_JEQ, 0, 0, 1), STX(BPF_DW, 0, 10, 0), MOV(0, 0), EXIT], True, unpriv=False,
         rule="unprivileged pointer leak into map"),
    # --- context ------------------------------------------------------------------------------
    Case("ctx_len", lambda m: [LDX(BPF_W, 0, 1, 0), EXIT], True, rule="ctx"),
    Case("ctx_protocol_h", lambda m: [LDX(BPF_W, 0, 1, 16), EXIT], True, rule="ctx"),
    Case("ctx_out_of_range", lambda m: [LDX(BPF_W, 0, 1, 190), EXIT], False,
         msg="invalid bpf_context access off=190 size=4", rule="ctx"),
    Case("ctx_write_len", lambda m: [MOV(2, 1), STX(BPF_W, 1, 2, 0), MOV(0, 0), EXIT], False,
         msg="invalid bpf_context access", rule="ctx"),
    Case("ctx_write_cb0", lambda m: [MOV(2, 1), STX(BPF_W, 1, 2, 48), MOV(0, 0), EXIT], True,
         rule="ctx cb[] writable"),
    Case("ctx_st_imm", lambda m: [ST(BPF_W, 1, 48, 1), MOV(0, 0), EXIT], False,
         msg="BPF_ST stores into R1 ctx is not allowed", rule="ctx"),
    Case("ctx_modified_ptr", lambda m: [ALU(BPF_ADD, 1, 4), LDX(BPF_W, 0, 1, 0), EXIT], False,
         msg="dereference of modified ctx ptr", rule="ctx"),
    Case("ctx_narrow_load", lambda m: [LDX(BPF_B, 0, 1, 0), EXIT], True, rule="ctx narrow load"),
    Case("ctx_misaligned", lambda m: [LDX(BPF_W, 0, 1, 2), EXIT], False,
         msg="invalid bpf_context access", rule="ctx"),
    # --- LD_ABS / LD_IND ---------------------------------------------------------------------
    Case("ldabs_ok", lambda m: [MOVR(6, 1), LDABS(BPF_H, 12), EXIT], True, rule="LD_ABS"),
    Case("ldabs_r6_not_ctx", lambda m: [MOV(6, 0), LDABS(BPF_B, 23), EXIT], False,
         msg="R6 != pointer to skb", rule="LD_ABS"),
    Case("ldabs_r6_uninit", lambda m: [LDABS(BPF_B, 23), EXIT], False, msg="R6 !read_ok",
         rule="LD_ABS"),
    Case("ldind_ok", lambda m: [MOVR(6, 1), MOV(7, 14), LDIND(BPF_B, 7, 9), EXIT], True,
         rule="LD_IND"),
    Case("ldind_src_uninit", lambda m: [MOVR(6, 1), LDIND(BPF_B, 7, 9), EXIT], False,
         msg="R7 !read_ok", rule="LD_IND"),
    Case("ldabs_clobbers_r1", lambda m: [MOVR(6, 1), LDABS(BPF_B, 23), MOVR(0, 1), EXIT], False,
         msg="R1 !read_ok", rule="LD_ABS"),
    # --- helpers ------------------------------------------------------------------------------
    Case("unknown_helper", lambda m: [CALL(10000), MOV(0, 0), EXIT], False,
         msg="invalid func unknown#10000", rule="helpers"),
    Case("helper_not_allowed", lambda m: [CALL(6 + 8), MOV(0, 0), EXIT], False,
         rule="helpers allowed per program type (get_current_pid_tgid)"),
    Case("prandom", lambda m: [CALL(7), EXIT], True, rule="helpers"),
    Case("skb_load_bytes_ok", lambda m: [MOVR(6, 1), MOVR(3, 10), ALU(BPF_ADD, 3, -8), MOV(2, 0),
                                         MOV(4, 8), CALL(26), LDX(BPF_DW, 0, 10, -8), EXIT],
         True, rule="helper memory arguments"),
    Case("skb_load_bytes_too_big", lambda m: [MOVR(3, 10), ALU(BPF_ADD, 3, -8), MOV(2, 0),
                                              MOV(4, 16), CALL(26), MOV(0, 0), EXIT],
         False, rule="helper memory arguments"),
    Case("skb_load_bytes_zero", lambda m: [MOVR(3, 10), ALU(BPF_ADD, 3, -8), MOV(2, 0),
                                           MOV(4, 0), CALL(26), MOV(0, 0), EXIT],
         False, rule="helper memory arguments (ARG_CONST_SIZE)"),
    Case("skb_load_bytes_ctx_modified", lambda m: [ALU(BPF_ADD, 1, 8), MOVR(3, 10),
                                                   ALU(BPF_ADD, 3, -8), MOV(2, 0), MOV(4, 8),
                                                   CALL(26), MOV(0, 0), EXIT], False,
         rule="helper ctx argument"),
    Case("ringbuf_reserve_submit", lambda m: [
        LDMAP(1, m["ringbuf"]), MOV(2, 8), MOV(3, 0), CALL(131), JMP(BPF_JEQ, 0, 0, 4),
        ST(BPF_DW, 0, 0, 7), MOVR(1, 0), MOV(2, 0), CALL(132), MOV(0, 0), EXIT], True,
         rule="ringbuf references"),
    Case("ringbuf_leak", lambda m: [LDMAP(1, m["ringbuf"]), MOV(2, 8), MOV(3, 0), CALL(131),
                                    MOV(0, 0), EXIT], False, rule="ringbuf references"),
    Case("ringbuf_mem_oob", lambda m: [
        LDMAP(1, m["ringbuf"]), MOV(2, 8), MOV(3, 0), CALL(131), JMP(BPF_JEQ, 0, 0, 4),
        ST(BPF_DW, 0, 8, 7), MOVR(1, 0), MOV(2, 0), CALL(132), MOV(0, 0), EXIT], False,
         msg="invalid access to memory, mem_size=8", rule="PTR_TO_MEM bounds"),
    Case("ringbuf_size_not_const", lambda m: [CALL(7), MOVR(2, 0), LDMAP(1, m["ringbuf"]),
                                              MOV(3, 0), CALL(131), MOV(0, 0), EXIT], False,
         rule="ringbuf reserve size"),
    Case("wrong_map_type_for_helper", lambda m: [
        ST(BPF_DW, 10, -8, 0), MOVR(2, 10), ALU(BPF_ADD, 2, -8), LDMAP(1, m["hash"]), MOV(3, 0),
        CALL(87), MOV(0, 0), EXIT], False, rule="map type compatibility"),
    Case("queue_push", lambda m: [
        ST(BPF_DW, 10, -8, 0), MOVR(2, 10), ALU(BPF_ADD, 2, -8), LDMAP(1, m["queue"]), MOV(3, 0),
        CALL(87), MOV(0, 0), EXIT], True, rule="queue helpers"),
    Case("tail_call_wrong_map", lambda m: [MOVR(6, 1), LDMAP(2, m["array"]), MOV(3, 0),
                                           CALL(12), MOV(0, 0), EXIT], False,
         rule="map type compatibility"),
]

#: programs that exercise bounded loops and pruning at some size
BIG_CASES: list[Case] = [
    Case("loop_1000", lambda m: [MOV(0, 0), MOV(1, 0), ALU(BPF_ADD, 1, 1),
                                 ALUR(BPF_ADD, 0, 1), JMP(BPF_JLT, 1, 1000, -3), EXIT],
         True, unpriv=False, rule="loops"),
    Case("many_branches_pruned", lambda m: [CALL(7), MOVR(6, 0), MOV(0, 0)] + [
        x for k in range(30) for x in (JMP(BPF_JEQ, 6, k, 1), ALU(BPF_OR, 0, 1))] + [EXIT],
         True, rule="state pruning"),
    Case("right_shift_bounds", lambda m: [CALL(7), ALU(BPF_RSH, 0, 61), MOVR(7, 0)] +
         lookup(m["hash"]) + [JMP(BPF_JEQ, 0, 0, 3), ALUR(BPF_ADD, 0, 7), LDX(BPF_DW, 0, 0, 0),
                              EXIT, MOV(0, 0), EXIT], True, rule="shift bounds"),
]

ALL_CASES = CASES + BIG_CASES
