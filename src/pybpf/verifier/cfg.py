"""Structural checks run before any state is tracked (kernel/bpf/verifier.c).

In the kernel's order: program size (bpf_prog_load), opcode and reserved-field
validity and LDDW shape (resolve_pseudo_ldimm64), subprogram discovery
(add_subprog_and_kfunc), jumps staying inside their subprogram and each
subprogram ending in exit or jump (check_subprogs), then a depth-first walk
of the control-flow graph (check_cfg) that rejects unreachable instructions,
jumps out of the program or into the second slot of an LDDW and, for
unprivileged loaders, every back-edge (loops need CAP_BPF).

Indices are slot indices, as in the kernel's messages.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import VerifierError
from ..isa import (
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_FUNC,
    OPCODES,
    Insn,
    jump_target,
    malformed,
)
from ..uapi import BPF_COMPLEXITY_LIMIT_INSNS, BPF_MAXINSNS
from .log import VerifierLog

MAX_SUBPROGS = 256


@dataclass
class Cfg:
    """The program as the later passes see it: slots, subprograms, successors."""

    insns: list[Insn | None]  # per slot; None for the second slot of an LDDW
    subprog_starts: list[int]  # sorted slot indices; [0] is the main program
    succ: dict[int, tuple[int, ...]] = field(default_factory=dict)
    back_edges: list[tuple[int, int]] = field(default_factory=list)
    #: reserved-field complaints the kernel only makes when do_check reaches the insn
    malformed: dict[int, str] = field(default_factory=dict)

    @property
    def len(self) -> int:
        return len(self.insns)

    def subprog_of(self, pc: int) -> int:
        lo = 0
        for i, start in enumerate(self.subprog_starts):
            if start <= pc:
                lo = i
        return lo

    def subprog_range(self, idx: int) -> tuple[int, int]:
        start = self.subprog_starts[idx]
        end = self.subprog_starts[idx + 1] if idx + 1 < len(self.subprog_starts) else self.len
        return start, end


def _fail(log: VerifierLog, msg: str, index: int | None, err: int = errno.EINVAL) -> VerifierError:
    log.verbose(msg)
    return VerifierError(msg, index=index, log=log.text, errno=err)


def build_slots(insns: Sequence[Insn]) -> list[Insn | None]:
    slots: list[Insn | None] = []
    for insn in insns:
        slots.append(insn)
        if insn.is_lddw:
            slots.append(None)
    return slots


def check_structure(insns: Sequence[Insn], log: VerifierLog, *, privileged: bool = True) -> Cfg:
    """Run every structural check; return the Cfg or raise VerifierError."""
    slots = build_slots(insns)
    n = len(slots)
    limit = BPF_COMPLEXITY_LIMIT_INSNS if privileged else BPF_MAXINSNS
    if n == 0 or n > limit:
        what = "empty program" if n == 0 else f"program of {n} insns exceeds the limit of {limit}"
        raise _fail(log, what, None, errno.EINVAL if n == 0 else errno.E2BIG)

    # resolve_pseudo_ldimm64 + opcode checks: malformed encodings first
    late: dict[int, str] = {}
    for pc, insn in enumerate(slots):
        if insn is None:
            continue
        msg = malformed(insn)
        if msg == "BPF_EXIT uses reserved fields" and not (insn.src or insn.dst or insn.imm):
            msg = None  # do_check never looks at an exit's offset
        if msg and _checked_when_reached(msg, insn):
            late[pc] = msg
        elif msg:
            raise _fail(log, msg, pc)

    # add_subprog_and_kfunc: every local call target (and BPF_PSEUDO_FUNC) starts a subprogram
    starts = {0}
    for pc, insn in enumerate(slots):
        if insn is None:
            continue
        is_call = OPCODES[insn.code].kind == "call" and insn.src == BPF_PSEUDO_CALL
        is_func = insn.is_lddw and insn.src == BPF_PSEUDO_FUNC
        if not (is_call or is_func):
            continue
        if not privileged:
            raise _fail(
                log,
                "loading/calling other bpf or kernel functions are allowed for "
                "CAP_BPF and CAP_SYS_ADMIN",
                pc,
                errno.EPERM,
            )
        target = pc + 1 + insn.imm
        if target < 0 or target >= n:
            raise _fail(log, "call to invalid destination", pc)
        starts.add(target)
        if len(starts) > MAX_SUBPROGS:
            raise _fail(log, f"too many subprograms (max {MAX_SUBPROGS})", pc)
    cfg = Cfg(slots, sorted(starts), malformed=late)

    # check_subprogs: jumps stay in their subprogram; each one ends in exit or jump
    for idx in range(len(cfg.subprog_starts)):
        start, end = cfg.subprog_range(idx)
        for pc in range(start, end):
            insn = slots[pc]
            if insn is None:
                continue
            kind = OPCODES[insn.code].kind
            if kind in ("ja", "jcond"):
                target = jump_target(pc, insn)
                if target < start or target >= end:
                    raise _fail(log, f"jump out of range from insn {pc} to {target}", pc)
        last = slots[end - 1]
        if last is None or OPCODES[last.code].kind not in ("exit", "ja"):
            raise _fail(log, "last insn is not an exit or jmp", end - 1)

    _walk(cfg, log, privileged)
    return cfg


def successors(cfg: Cfg, pc: int) -> tuple[int, ...]:
    insn = cfg.insns[pc]
    if insn is None:  # second slot of an LDDW, reached by a bad jump: falls through
        return (pc + 1,)
    kind = OPCODES[insn.code].kind
    nxt = pc + insn.slots
    if kind == "exit":
        return ()
    if kind == "ja":
        return (jump_target(pc, insn),)
    if kind == "jcond":
        t = jump_target(pc, insn)
        return (nxt,) if t == nxt else (nxt, t)
    return (nxt,)


def _walk(cfg: Cfg, log: VerifierLog, privileged: bool) -> None:
    """check_cfg: iterative DFS from every subprogram entry, kernel messages."""
    n = cfg.len
    DISCOVERED, EXPLORED = 1, 2
    state = [0] * n
    for entry in cfg.subprog_starts:
        if state[entry]:
            continue
        state[entry] = DISCOVERED
        stack: list[tuple[int, int]] = [(entry, 0)]  # (pc, next successor index)
        while stack:
            pc, k = stack[-1]
            succ = cfg.succ.get(pc)
            if succ is None:
                succ = successors(cfg, pc)
                cfg.succ[pc] = succ
            if k >= len(succ):
                state[pc] = EXPLORED
                stack.pop()
                continue
            stack[-1] = (pc, k + 1)
            w = succ[k]
            if w < 0 or w >= n:
                raise _fail(log, f"jump out of range from insn {pc} to {w}", pc)
            if state[w] == 0:
                state[w] = DISCOVERED
                stack.append((w, 0))
            elif state[w] == DISCOVERED:
                cfg.back_edges.append((pc, w))
                if not privileged:
                    raise _fail(log, f"back-edge from insn {pc} to {w}", pc)
    for pc in range(n):
        insn = cfg.insns[pc]
        if insn is None:
            continue
        if state[pc] != EXPLORED:
            raise _fail(log, f"unreachable insn {pc}", pc)
        if insn.is_lddw and state[pc + 1] != 0:
            raise _fail(log, f"jump into the middle of ldimm64 insn {pc}", pc)


def _checked_when_reached(msg: str, insn: Insn) -> bool:
    """Reserved fields and register numbers are checked by do_check (check_alu_op,
    check_reg_arg ...), so only on instructions some path reaches; opcodes and
    ld_imm64 encodings are checked for the whole program up front."""
    if msg.startswith(("unknown opcode", "unrecognized bpf_ld_imm64", "BPF_LD_IMM64")):
        return False
    return not insn.is_lddw
