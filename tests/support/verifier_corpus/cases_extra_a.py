"""More cases, part 1: one or more per rule found missing by reviews."""

from __future__ import annotations

from .builders import (
    ALU,
    BPF_ADD,
    BPF_ALU64,
    BPF_AND,
    BPF_ARSH,
    BPF_B,
    BPF_DW,
    BPF_H,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JSET,
    BPF_JSGT,
    BPF_JSLT,
    BPF_MOD,
    BPF_NEG,
    BPF_RSH,
    BPF_SUB,
    BPF_W,
    CALL,
    EXIT,
    JA,
    JMP,
    JMP32,
    JMPR,
    LDABS,
    LDIMM64,
    LDMAP,
    LDX,
    LOCAL_CALL,
    MOV,
    MOV32R,
    MOVR,
    OUT,
    ST,
    STX,
    Case,
    I,
    _chain,
    _reserve,
    _two_frames,
    _value_off,
)

EXTRA_CASES_A: list[Case] = [
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
]
