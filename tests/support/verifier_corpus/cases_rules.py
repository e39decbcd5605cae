"""Cases for the rules pybpf once missed (issue 13), each checked against Linux 6.18.

One or more per rule: map access flags, LD_IMM64 forms, one pointer type per
load, unprivileged pointer leaks through atomics, map-pointer arithmetic, tail
calls through different prog arrays, pointers on the stack passed as keys, the
Spectre v1 path rule, what JSET and JMP32 comparisons teach, what atomic
fetches return, struct bpf_map reads through a map pointer, scalars linked by
a constant (rX = rY +/- K, 64 and 32 bit), BPF_END on constants, AND and OR
of a constant with a value that is -1 or 0 (maybe_fork_scalars).
"""

from __future__ import annotations

from .builders import (
    ALU,
    ALU32,
    ALUR,
    ATOMIC,
    BPF_ADD,
    BPF_AND,
    BPF_ARSH,
    BPF_B,
    BPF_CMPXCHG,
    BPF_DIV,
    BPF_DW,
    BPF_END,
    BPF_FETCH,
    BPF_H,
    BPF_JEQ,
    BPF_JGT,
    BPF_JLT,
    BPF_JNE,
    BPF_JSET,
    BPF_JSGT,
    BPF_JSLT,
    BPF_OR,
    BPF_SUB,
    BPF_W,
    BPF_X,
    CALL,
    EXIT,
    JA,
    JMP,
    JMP32,
    JMPR,
    LDMAP,
    LDX,
    MOV,
    MOVR,
    ST,
    STX,
    Case,
    I,
    Insn,
    lookup,
)

BPF_ALU, BPF_ALU64, BPF_K, BPF_MOV, BPF_TO_BE = 0x04, 0x07, 0x00, 0xB0, 0x08
BPF_LDX, BPF_MEMSX = 0x01, 0x80
XDP, SCHED_CLS = 6, 3


def LDSX(size: int, d: int, s: int, off: int) -> Insn:
    return I(BPF_LDX | BPF_MEMSX | size, d, s, off)


def _null_checked(fd: int, body: list[Insn]) -> list[Insn]:
    """r0 = lookup(map, key 0); if r0 == NULL return 0; body; return 0."""
    return lookup(fd) + [JMP(BPF_JEQ, 0, 0, len(body) + 1)] + body + [MOV(0, 0), EXIT]


def _movsx32(d: int, s: int) -> Insn:
    return I(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 32)


RULE_CASES: list[Case] = [
    # --- BPF_F_WRONLY_PROG / BPF_F_RDONLY_PROG (check_map_access_type)
    Case(
        "wronly_map_read",
        lambda m: _null_checked(m["wronly"], [LDX(BPF_DW, 1, 0, 0)]),
        False,
        msg="read from map forbidden, value_size=8 off=0 size=8",
        rule="map access flags: BPF_F_WRONLY_PROG",
    ),
    Case(
        "wronly_map_write",
        lambda m: _null_checked(m["wronly"], [ST(BPF_DW, 0, 0, 1)]),
        True,
        rule="map access flags: BPF_F_WRONLY_PROG allows stores",
    ),
    Case(
        "wronly_value_as_helper_key",
        lambda m: _null_checked(m["wronly"], [MOVR(2, 0), LDMAP(1, m["array"]), CALL(1)]),
        False,
        msg="read from map forbidden, value_size=8 off=0 size=4",
        rule="map access flags: a helper reads through the pointer",
    ),
    Case(
        "rdonly_map_atomic",
        lambda m: _null_checked(m["rdonly"], [MOV(1, 1), ATOMIC(BPF_DW, 0, 1, 0, BPF_ADD)]),
        False,
        msg="write into map forbidden, value_size=8 off=0 size=8",
        rule="map access flags: BPF_F_RDONLY_PROG and atomics",
    ),
    # --- LD_IMM64 (resolve_pseudo_ldimm64)
    Case(
        "ldimm64_map_fd_second_imm",
        lambda m: [Insn(0x18, 1, 1, 0, m["array"], 1), MOV(0, 0), EXIT],
        False,
        msg="unrecognized bpf_ld_imm64 insn",
        rule="LD_IMM64: BPF_PSEUDO_MAP_FD needs a zero second immediate",
    ),
    # --- one pointer type per load (save_aux_ptr_type)
    Case(
        "same_load_ctx_and_stack",
        lambda m: [
            ST(BPF_DW, 10, -8, 0),
            MOVR(6, 1),
            CALL(7),
            MOVR(1, 6),
            JMP(BPF_JEQ, 0, 0, 2),
            MOVR(1, 10),
            ALU(BPF_ADD, 1, -8),
            LDX(BPF_W, 0, 1, 0),
            EXIT,
        ],
        False,
        msg="same insn cannot be used with different pointers",
        rule="one pointer type per load instruction (ctx and stack)",
    ),
    Case(
        "same_load_stack_and_map_value",
        lambda m: [
            ST(BPF_DW, 10, -8, 0),
            *lookup(m["array"]),
            JMP(BPF_JNE, 0, 0, 2),
            MOVR(0, 10),
            ALU(BPF_ADD, 0, -8),
            LDX(BPF_W, 0, 0, 0),
            EXIT,
        ],
        True,
        rule="stack and map value pointers may share a load",
    ),
    # --- unprivileged pointer leaks
    Case(
        "atomic_fetch_of_spilled_pointer",
        lambda m: [
            STX(BPF_DW, 10, 10, -8),
            MOV(1, 1),
            ATOMIC(BPF_DW, 10, 1, -8, BPF_ADD | BPF_FETCH),
            MOV(0, 0),
            EXIT,
        ],
        True,
        unpriv=False,
        msg="",
        rule="unprivileged: an atomic fetch may not read a spilled pointer",
    ),
    Case(
        "map_ptr_plus_zero_register",
        lambda m: [MOV(0, 0), LDMAP(1, m["array"]), ALUR(BPF_ADD, 1, 0), EXIT],
        True,
        unpriv=False,
        rule="unprivileged: no arithmetic on a map pointer",
    ),
    Case(
        "tail_call_two_prog_arrays",
        lambda m: [
            MOVR(6, 1),
            CALL(7),
            LDMAP(2, m["progs"]),
            JMP(BPF_JEQ, 0, 0, 2),
            LDMAP(2, m["progs2"]),
            MOVR(1, 6),
            MOV(3, 0),
            CALL(12),
            MOV(0, 0),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="unprivileged: one prog array per tail call (tail_call abusing map_ptr)",
    ),
    Case(
        "spilled_pointer_as_helper_key",
        lambda m: [
            STX(BPF_DW, 10, 10, -8),
            MOVR(2, 10),
            ALU(BPF_ADD, 2, -8),
            LDMAP(1, m["hash"]),
            CALL(1),
            MOV(0, 0),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="unprivileged: a helper may not read a spilled pointer",
    ),
    Case(
        "ptr_add_const_and_unknown_on_two_paths",
        lambda m: [
            CALL(7),
            MOVR(7, 0),
            *lookup(m["array"]),
            JMP(BPF_JEQ, 0, 0, 7),
            MOV(1, 0),
            JMP(BPF_JEQ, 7, 0, 2),
            MOVR(1, 7),
            ALU(BPF_AND, 1, 3),
            ALUR(BPF_ADD, 0, 1),
            LDX(BPF_B, 0, 0, 0),
            MOV(0, 0),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="unprivileged: Spectre v1 masking must agree on every path",
    ),
    # --- what branches teach
    Case(
        "jset_taken_learns_the_bit",
        lambda m: [
            CALL(7),
            MOVR(1, 0),
            ALU(BPF_AND, 1, 3),
            JMP(BPF_JSET, 1, 2, 2),
            MOV(0, 0),
            EXIT,
            JMP(BPF_JLT, 1, 2, 2),
            MOV(0, 0),
            EXIT,
            LDX(BPF_DW, 0, 1, 0),
            EXIT,
        ],
        True,
        rule="JSET: the taken branch knows the tested bit is set",
    ),
    Case(
        "jset_fallthrough_clears_the_bits",
        lambda m: [
            CALL(7),
            MOVR(6, 0),
            ALU(BPF_AND, 6, 0xC),
            *_null_checked(
                m["array"],
                [JMP(BPF_JSET, 6, 8, 2), ALUR(BPF_ADD, 0, 6), LDX(BPF_W, 1, 0, 0)],
            ),
        ],
        True,
        rule="JSET: the fall-through knows the tested bits are clear",
    ),
    Case(
        "jmp32_signed_bounds_sign_extended",
        lambda m: [
            CALL(7),
            _movsx32(6, 0),
            JMP32(BPF_JSLT, 6, 0, 10),
            JMP32(BPF_JSGT, 6, 7, 9),
            *_null_checked(m["array"], [ALUR(BPF_ADD, 0, 6), LDX(BPF_B, 1, 0, 0)]),
        ],
        True,
        rule="JMP32 signed bounds carry into a sign-extended register",
    ),
    Case(
        "jmp32_unsigned_narrows_u32",
        lambda m: [
            CALL(7),
            I(BPF_ALU | BPF_MOV | BPF_X, 6, 0),
            JMP32(BPF_JGT, 6, 7, 9),
            *_null_checked(m["array"], [ALUR(BPF_ADD, 0, 6), LDX(BPF_B, 1, 0, 0)]),
        ],
        True,
        rule="JMP32 unsigned bounds narrow a zero-extended register",
    ),
    # --- what atomic fetches return
    Case(
        "cmpxchg_returns_the_spilled_pointer",
        lambda m: [
            STX(BPF_DW, 10, 10, -8),
            MOV(0, 0),
            MOV(1, 0),
            ATOMIC(BPF_DW, 10, 1, -8, BPF_CMPXCHG),
            ST(BPF_DW, 0, -16, 0),
            MOV(0, 0),
            EXIT,
        ],
        True,
        unpriv=False,
        rule="cmpxchg gives the old value: the spilled stack pointer",
    ),
    Case(
        "fetch_add_of_zero_slot_is_zero",
        lambda m: [
            ST(BPF_DW, 10, -8, 0),
            MOV(1, 0),
            ATOMIC(BPF_DW, 10, 1, -8, BPF_ADD | BPF_FETCH),
            JMP(BPF_JNE, 1, 0, 2),
            MOV(0, 0),
            EXIT,
            JA(-1),
        ],
        True,
        unpriv=False,
        msg="",
        rule="fetch_add from a zero slot gives exactly 0 (unprivileged: no back-edges)",
    ),
    # --- struct bpf_map through a map pointer (check_ptr_to_map_access)
    Case(
        "map_ptr_reads_value_size",
        lambda m: [LDMAP(1, m["array"]), LDX(BPF_W, 0, 1, 72), EXIT],
        True,
        unpriv=False,
        rule="root reads struct bpf_map's value_size through a map pointer",
        unreproducible="a field of the kernel's struct bpf_map",
    ),
    Case(
        "map_ptr_negative_read",
        lambda m: [LDMAP(1, m["array"]), LDX(BPF_W, 0, 1, -8), EXIT],
        False,
        msg="R1 is bpf_array invalid negative access: off=-8",
        rule="struct bpf_map reads: negative offsets",
    ),
    Case(
        "map_ptr_write_htab",
        lambda m: [LDMAP(1, m["hash"]), ST(BPF_W, 1, 72, 0), MOV(0, 0), EXIT],
        False,
        msg="only read from bpf_htab is supported",
        rule="struct bpf_map reads: no writes",
    ),
    # --- scalars linked by a constant (rX = rY +/- K)
    Case(
        "linked_minus_constant",
        lambda m: [
            CALL(7),
            MOVR(7, 0),
            ALU(BPF_AND, 7, 0xFF),
            MOVR(6, 7),
            ALU(BPF_SUB, 6, 1),
            JMP(BPF_JEQ, 7, 0, 10),
            JMP(BPF_JGT, 7, 8, 9),
            *_null_checked(m["array"], [ALUR(BPF_ADD, 0, 6), LDX(BPF_B, 1, 0, 0)]),
        ],
        True,
        unpriv=False,
        rule="linked scalars: rX = rY - K",
    ),
    Case(
        "linked_plus_negative_constant",
        lambda m: [
            CALL(7),
            MOVR(7, 0),
            ALU(BPF_AND, 7, 0xFF),
            MOVR(6, 7),
            ALU(BPF_ADD, 6, -2),
            JMP(BPF_JLT, 7, 2, 10),
            JMP(BPF_JGT, 7, 9, 9),
            *_null_checked(m["array"], [ALUR(BPF_ADD, 0, 6), LDX(BPF_B, 1, 0, 0)]),
        ],
        True,
        unpriv=False,
        rule="linked scalars: rX = rY + negative K",
    ),
    Case(
        "linked_alu32_plus_constant",
        lambda m: [
            CALL(7),
            MOVR(7, 0),
            ALU(BPF_AND, 7, 0xFF),
            MOVR(6, 7),
            ALU32(BPF_ADD, 6, 3),
            JMP(BPF_JGT, 7, 4, 9),
            *_null_checked(m["array"], [ALUR(BPF_ADD, 0, 6), LDX(BPF_B, 1, 0, 0)]),
        ],
        True,
        unpriv=False,
        rule="linked scalars: wX = wY + K",
    ),
    Case(
        "linked_self_add_forgets_the_link",
        lambda m: [
            CALL(7),
            MOVR(6, 0),
            MOVR(7, 6),
            CALL(7),
            MOVR(8, 0),
            MOVR(9, 8),
            JMP(BPF_JNE, 7, 1, 4),
            ALUR(BPF_ADD, 6, 6),
            JMPR(BPF_JEQ, 7, 9, 2),
            JMP(BPF_JEQ, 6, 3, 1),
            I(BPF_ALU64 | BPF_DIV | BPF_K, 0, 0, 0, 0),
            MOV(0, 0),
            EXIT,
        ],
        False,
        msg="div by zero",
        rule="linked scalars: r6 += r6 forgets r6's link",
    ),
    # --- BPF_END on a known value
    Case(
        "be16_of_a_constant_is_known",
        lambda m: [
            MOV(1, 0x0800),
            I(BPF_ALU | BPF_END | BPF_TO_BE, 1, 0, 0, 16),
            JMP(BPF_JNE, 1, 8, 2),
            MOV(0, 0),
            EXIT,
            LDX(BPF_DW, 0, 1, 0),
            EXIT,
        ],
        True,
        rule="BPF_END: the byte-swapped constant is known",
    ),
    Case(
        "bswap64_of_unknown_bits",
        lambda m: [
            CALL(7),
            MOVR(1, 0),
            ALU(BPF_AND, 1, 0xFF00),
            I(BPF_ALU64 | BPF_END, 1, 0, 0, 64),
            MOV(0, 0),
            EXIT,
        ],
        True,
        rule="BPF_END: bswap64 of partly known bits",
    ),
    # --- maybe_fork_scalars: (x s>> 63) & K and | K are split into the 0 and -1 cases
    Case(
        "arsh63_and_constant_is_zero_or_the_constant",
        lambda m: [
            CALL(7),
            MOVR(7, 0),
            ALU(BPF_ARSH, 7, 63),
            ALU(BPF_AND, 7, 6),
            JMP(BPF_JEQ, 7, 2, 2),
            MOV(0, 0),
            EXIT,
            MOVR(0, 5),
            EXIT,
        ],
        True,
        rule="maybe_fork_scalars: (x s>> 63) & 6 is 0 or 6, never 2",
    ),
    Case(
        "arsh31_alu32_or_constant_is_minus_one_or_the_constant",
        lambda m: [
            CALL(7),
            MOVR(7, 0),
            ALU32(BPF_ARSH, 7, 31),
            ALU32(BPF_OR, 7, 2),
            JMP32(BPF_JEQ, 7, 3, 2),
            MOV(0, 0),
            EXIT,
            MOVR(0, 5),
            EXIT,
        ],
        True,
        rule="maybe_fork_scalars: (w s>> 31) | 2 is -1 or 2, never 3",
    ),
    Case(
        "arsh63_or_constant_keeps_the_constant",
        lambda m: [
            CALL(7),
            MOVR(7, 0),
            ALU(BPF_ARSH, 7, 63),
            ALU(BPF_OR, 7, 8),
            *_null_checked(
                m["array"], [JMP(BPF_JSLT, 7, 0, 2), ALUR(BPF_ADD, 0, 7), LDX(BPF_DW, 1, 0, 0)]
            ),
        ],
        False,
        msg="invalid access to map value, value_size=8 off=8 size=8",
        rule="maybe_fork_scalars: the 0 path re-executes the OR (0 | 8 is 8)",
    ),
    Case(
        "le32_keeps_what_the_ranges_knew",
        lambda m: [
            CALL(7),
            MOVR(7, 0),
            *_null_checked(
                m["array"],
                [
                    JMP(BPF_JGT, 7, 5, 3),
                    I(BPF_ALU | BPF_END, 7, 0, 0, 32),
                    ALUR(BPF_ADD, 0, 7),
                    LDX(BPF_H, 1, 0, 0),
                ],
            ),
        ],
        True,
        rule="BPF_END: le32 truncates like coerce_reg_to_size (umax 5 stays 5)",
    ),
    # --- check_reg_sane_offset: offsets a pointer may never reach (2^29)
    Case(
        "pointer_fixed_offset_reaches_2_29",
        lambda m: [
            MOVR(1, 10),
            ALU(BPF_ADD, 1, 0x1FFFFFFF),
            ALU(BPF_ADD, 1, 0x1FFFFFFF),
            MOV(0, 0),
            EXIT,
        ],
        False,
        msg="fp pointer offset 1073741822 is not allowed",
        rule="check_reg_sane_offset_ptr: the fixed offset",
    ),
    Case(
        "pointer_variable_offset_reaches_2_29",
        lambda m: [
            CALL(7),
            ALU(BPF_AND, 0, 0xFFFFFFF),
            ALU(BPF_ADD, 0, 0x10000000),
            MOVR(6, 0),
            *lookup(m["array"]),
            JMP(BPF_JEQ, 0, 0, 2),
            ALUR(BPF_ADD, 0, 6),
            ALUR(BPF_ADD, 0, 6),
            MOV(0, 0),
            EXIT,
        ],
        False,
        msg="map_value pointer offset 536870912 is not allowed",
        rule="check_reg_sane_offset_ptr: the variable offset's minimum",
    ),
    Case(
        "scalar_minimum_reaches_2_29",
        lambda m: [
            CALL(7),
            ALU(BPF_AND, 0, 0xFF),
            MOVR(2, 0),
            ALU(BPF_ADD, 2, 0x20000000),
            MOVR(1, 10),
            ALUR(BPF_ADD, 1, 2),
            MOV(0, 0),
            EXIT,
        ],
        False,
        unpriv=False,
        msg="value 536870912 makes fp pointer be out of bounds",
        rule="check_reg_sane_offset_scalar: the scalar's minimum",
    ),
    # --- a nospec left by a refused speculative path makes the instruction need no masking
    Case(
        "nospec_from_a_speculative_path_skips_sanitation",
        lambda m: [
            MOVR(6, 1),
            CALL(7),
            MOV(7, 0),
            JMP(BPF_JGT, 0, 5, 4),
            JMP(BPF_JEQ, 7, 0, 4),
            MOVR(2, 6),
            ALUR(BPF_ADD, 2, 7),
            JA(1),
            JA(-4),
            MOV(0, 0),
            EXIT,
        ],
        True,
        rule="can_skip_alu_sanitation: ctx += r7 (known 0) after the speculative r7 was refused",
    ),
    # --- a sign-extending load of a packet pointer from the context (is_valid_access)
    Case(
        "ldsx_of_xdp_data_refused",
        lambda m: [LDSX(BPF_W, 2, 1, 0), MOV(0, 2), EXIT],
        False,
        msg="invalid bpf_context access off=0 size=4",
        rule="xdp_is_valid_access: no LDSX of data, data_meta, data_end",
        prog_type=XDP,
    ),
    Case(
        "ldsx_of_xdp_data_meta_refused",
        lambda m: [LDSX(BPF_W, 2, 1, 8), MOV(0, 2), EXIT],
        False,
        msg="invalid bpf_context access off=8 size=4",
        rule="xdp_is_valid_access: no LDSX of data, data_meta, data_end",
        prog_type=XDP,
    ),
    Case(
        "ldsx_of_tc_data_end_refused",
        lambda m: [LDSX(BPF_W, 2, 1, 80), MOV(0, 0), EXIT],
        False,
        msg="invalid bpf_context access off=80 size=4",
        rule="bpf_skb_is_valid_access: no LDSX of data, data_meta, data_end",
        prog_type=SCHED_CLS,
    ),
    Case(
        "ldsx_of_xdp_scalar_field_ok",
        lambda m: [LDSX(BPF_W, 2, 1, 12), MOV(0, 2), EXIT],
        True,
        unpriv=False,
        rule="a sign-extending load of a scalar context field is allowed",
        prog_type=XDP,
    ),
    Case(
        "ctx_plus_known_zero_register_needs_sanitation",
        lambda m: [MOVR(6, 1), MOV(7, 0), MOVR(2, 6), ALUR(BPF_ADD, 2, 7), MOV(0, 0), EXIT],
        True,
        unpriv=False,
        rule="sanitize_ptr_alu: ctx += register has no limit to mask with",
    ),
]
