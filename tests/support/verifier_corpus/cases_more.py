"""Cases found by differential fuzzing, deliberate deviations, big programs, callbacks."""

from __future__ import annotations

from .builders import (
    ALU,
    ALU32,
    ALUR,
    ATOMIC,
    BPF_ADD,
    BPF_ALU,
    BPF_ALU64,
    BPF_AND,
    BPF_B,
    BPF_DW,
    BPF_EXIT,
    BPF_IMM,
    BPF_JEQ,
    BPF_JGT,
    BPF_JLT,
    BPF_JMP,
    BPF_JNE,
    BPF_JSGT,
    BPF_JSLT,
    BPF_LD,
    BPF_LSH,
    BPF_MOD,
    BPF_MOV,
    BPF_OR,
    BPF_RSH,
    BPF_SUB,
    BPF_W,
    BPF_X,
    BPF_XCHG,
    CALL,
    EXIT,
    JA,
    JMP,
    JMP32,
    LDABS,
    LDMAP,
    LDX,
    MOV,
    MOVR,
    OUT,
    ST,
    Case,
    I,
    _value_off,
    lookup,
)

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
CALLBACK_CASES: list[Case] = [
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
