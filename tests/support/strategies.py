"""Hypothesis strategies shared by several test packages."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from pybpf.isa import (
    ATOMIC_OPS,
    BPF_DIV,
    BPF_MOD,
    BPF_MOV,
    BPF_NEG,
    OPCODES,
    Insn,
    malformed,
)

S16 = st.integers(-(1 << 15), (1 << 15) - 1)
S32 = st.integers(-(1 << 31), (1 << 31) - 1)
REG = st.integers(0, 10)
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def valid_insns(draw, code: int | None = None) -> Insn:
    """Any instruction the kernel would call well formed, drawn from isa.OPCODES."""
    if code is None:
        code = draw(st.sampled_from(sorted(OPCODES)))
    info = OPCODES[code]
    k = info.kind
    dst, src, off, imm, hi = draw(REG), draw(REG), draw(S16), draw(S32), 0
    if k == "alu":
        if info.op == BPF_NEG:
            src = off = imm = 0
        elif info.op == BPF_MOV:
            if info.use_src_reg:
                imm = 0
                off = draw(st.sampled_from((0, 8, 16, 32) if info.is64 else (0, 8, 16)))
            else:
                src = off = 0
        else:
            off = draw(st.sampled_from((0, 1))) if info.op in (BPF_DIV, BPF_MOD) else 0
            if info.use_src_reg:
                imm = 0
            else:
                src = 0
    elif k == "end":
        src = off = 0
        imm = draw(st.sampled_from((16, 32, 64)))
    elif k == "jcond":
        if info.use_src_reg:
            imm = 0
        else:
            src = 0
    elif k == "ja":
        dst = src = 0
        if info.is64:
            imm = 0
        else:
            off = 0
    elif k == "call":
        dst = 0
        src = draw(st.sampled_from((0, 1, 2)))
        if src != 2:
            off = 0
    elif k == "callx":
        src = off = imm = 0
    elif k == "exit":
        dst = src = off = imm = 0
    elif k == "lddw":
        off = 0
        src = draw(st.integers(0, 6))
        hi = draw(S32)
    elif k == "ldabs":
        dst = src = off = 0
    elif k == "ldind":
        dst = off = 0
    elif k in ("ldx", "ldxsx", "stx"):
        imm = 0
    elif k == "st":
        src = 0
    elif k == "atomic":
        imm = draw(st.sampled_from(sorted(ATOMIC_OPS)))
    insn = Insn(code, dst, src, off, imm, hi)
    assert malformed(insn) is None, (insn, malformed(insn))
    return insn
