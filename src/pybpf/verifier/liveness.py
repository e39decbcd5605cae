"""Which registers may be read before being written, at each instruction.

The kernel tracks liveness along explored paths (REG_LIVE_READ) so that state
pruning ignores registers the rest of the program never reads. pybpf gets the
same effect from a classic backward data-flow pass over the control-flow
graph, computed once before the walk: a register dead at a prune point does
not take part in the comparison of states there.
"""

from __future__ import annotations

from ..isa import BPF_CMPXCHG, BPF_FETCH, BPF_MOV, BPF_PSEUDO_CALL, OPCODES, Insn
from .cfg import Cfg, successors

ALL_ARGS = 0b111110  # R1-R5
CALL_CLOBBER = 0b111111  # R0-R5


def uses_defs(insn: Insn) -> tuple[int, int]:
    """(registers read, registers written) by one instruction, as bit masks."""
    info = OPCODES[insn.code]
    k = info.kind
    d, s = 1 << insn.dst, 1 << insn.src
    if k == "alu":
        if info.op == BPF_MOV:  # MOV reads only its source
            return (s if info.use_src_reg else 0), d
        return d | (s if info.use_src_reg else 0), d
    if k == "end":
        return d, d
    if k in ("ldx", "ldxsx"):
        return s, d
    if k == "st":
        return d, 0
    if k == "stx":
        return d | s, 0
    if k == "atomic":
        used = d | s | (1 if insn.imm == BPF_CMPXCHG else 0)
        written = (1 if insn.imm == BPF_CMPXCHG else s) if insn.imm & BPF_FETCH else 0
        return used, written
    if k == "lddw":
        return 0, d
    if k in ("ldabs", "ldind"):
        return (1 << 6) | (s if k == "ldind" else 0), CALL_CLOBBER
    if k == "jcond":
        return d | (s if info.use_src_reg else 0), 0
    if k == "call":
        if insn.src == BPF_PSEUDO_CALL:
            return ALL_ARGS | 0b1111000000, CALL_CLOBBER  # callee may read R1-R5; R6-R9 kept
        return ALL_ARGS, CALL_CLOBBER
    if k == "callx":
        return ALL_ARGS | d, CALL_CLOBBER
    if k == "exit":
        return 1 | 0b1111000000, 0  # R0, and R6-R9 stay live for the caller after a return
    return 0, 0


def live_registers(cfg: Cfg) -> list[int]:
    """live_in bit mask per slot (0 for the second slot of an LDDW)."""
    n = cfg.len
    live = [0] * n
    ud: list[tuple[int, int]] = [(0, 0)] * n
    succ: list[tuple[int, ...]] = [()] * n
    for pc, insn in enumerate(cfg.insns):
        if insn is None:
            continue
        ud[pc] = uses_defs(insn)
        succ[pc] = tuple(t for t in successors(cfg, pc) if 0 <= t < n)
    changed = True
    while changed:
        changed = False
        for pc in range(n - 1, -1, -1):
            if cfg.insns[pc] is None:
                continue
            out = 0
            for t in succ[pc]:
                out |= live[t]
            use, dfn = ud[pc]
            new = use | (out & ~dfn)
            new |= 1 << 10  # R10 is always live
            if new != live[pc]:
                live[pc] = new
                changed = True
    return live
