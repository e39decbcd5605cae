"""A program cut into basic blocks: what every back end translates.

Both back ends (the Python interpreter, :mod:`pybpf.vm.interp`, and the LLVM
JIT, :mod:`pybpf.vm.jit`) translate the same :class:`BlockProgram`, so they
agree on everything that is not an instruction's own semantics:

* the basic blocks: a block starts at slot 0, at a jump or call target, at a
  callback's first instruction (an LDDW BPF_PSEUDO_FUNC target) and after any
  instruction that ends one (a jump, call, exit or LD_ABS/LD_IND); it also ends
  at an instruction that faults whenever it runs (an unknown opcode, a malformed
  encoding, a write of R10, an R10-relative access outside the frame);
* instruction counting: a block's instructions are counted against the run's
  budget when the block is entered, so both engines report the same ``steps``
  and stop at the same block when the budget runs out;
* which instructions fault at run time, with which message (:class:`Fault`);
* the per-program constants (:class:`Const`): helper call sites and pseudo
  LDDWs, bound per memory by the execution core (:mod:`pybpf.vm.engine`).

The kernel's limits live here once: MAX_CALL_FRAMES, MAX_TAIL_CALL_CNT and the
512-byte frame.
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import isa
from ..isa import Insn, OpInfo

__all__ = [
    "BlockProgram",
    "Block",
    "Const",
    "Fault",
    "Step",
    "MAX_CALL_FRAMES",
    "MAX_TAIL_CALL_CNT",
    "STACK_SIZE",
    "frame_slot",
]

#: MAX_BPF_STACK, one frame (include/linux/filter.h)
STACK_SIZE = isa.MAX_BPF_STACK
#: MAX_CALL_FRAMES (include/linux/bpf_verifier.h): the main program plus 7 nested calls
MAX_CALL_FRAMES = 8
#: MAX_TAIL_CALL_CNT (include/linux/bpf.h)
MAX_TAIL_CALL_CNT = 33
#: bytes of stack the frames share (frame 0 at the top)
STACK_REGION_SIZE = STACK_SIZE * MAX_CALL_FRAMES

#: instruction kinds that write their dst register
WRITES_DST = frozenset({"alu", "end", "ldx", "ldxsx", "lddw"})
#: instruction kinds after which a new block starts
ENDS_BLOCK = frozenset({"jcond", "ja", "exit", "call", "callx", "ldabs", "ldind"})
#: the LDDW sources that the core binds per memory (maps, map values, callbacks)
PSEUDO_LDDW = frozenset(
    {
        isa.BPF_PSEUDO_MAP_FD,
        isa.BPF_PSEUDO_MAP_IDX,
        isa.BPF_PSEUDO_MAP_VALUE,
        isa.BPF_PSEUDO_MAP_IDX_VALUE,
        isa.BPF_PSEUDO_FUNC,
    }
)
MAP_HANDLE_LDDW = frozenset({isa.BPF_PSEUDO_MAP_FD, isa.BPF_PSEUDO_MAP_IDX})


@dataclass(frozen=True)
class Fault:
    """A run-time fault of one instruction.

    ``kind`` "vm" is a VmError with ``message``; "stack-read"/"stack-write" is a
    MemoryAccessError for an R10-relative access of ``size`` bytes at ``off``
    outside the frame (its address is known only at run time).
    """

    message: str
    errno: int = 0
    kind: str = "vm"
    off: int = 0
    size: int = 0

    def stack_message(self, r10: int) -> tuple[str, int]:
        """(message, address) of a stack fault when R10 is ``r10``."""
        addr = (r10 + self.off) & ((1 << 64) - 1)
        what = self.kind[len("stack-") :]
        n = self.size
        return (
            f"invalid {what} of {n} byte{'s' if n != 1 else ''} at {addr:#x} "
            f"(R10{self.off:+d} is outside the {STACK_SIZE}-byte stack frame)",
            addr,
        )


@dataclass(frozen=True)
class Const:
    """Something bound per memory: a helper call site or a pseudo LDDW."""

    kind: str  # "helper" or "lddw"
    pc: int
    insn: Insn


@dataclass(frozen=True)
class Step:
    """One instruction of a block: ``fault`` set when it always faults (ends the block);
    ``const`` indexes :attr:`BlockProgram.consts` for helper calls and pseudo LDDWs."""

    pc: int
    insn: Insn
    info: OpInfo | None
    fault: Fault | None = None
    const: int | None = None


@dataclass
class Block:
    """Straight-line code: ``steps`` run in order; ``next`` is the slot after the last."""

    start: int
    steps: list[Step] = field(default_factory=list)
    next: int = 0

    @property
    def length(self) -> int:
        """Instructions counted when the block is entered."""
        return len(self.steps)

    @property
    def last(self) -> Step:
        return self.steps[-1]

    @property
    def falls_through(self) -> bool:
        """Whether control can reach ``next`` without a jump (the last step does not end it)."""
        last = self.last
        return last.fault is None and (last.info is None or last.info.kind not in ENDS_BLOCK)


def frame_slot(off: int, size: int) -> bool:
    """Whether an access at R10+off of ``size`` bytes lies inside the 512-byte frame
    (the verifier's "invalid stack off" otherwise; check_stack_access_within_bounds).

    R10 is read-only and always the top of the current frame, so such an access
    needs no run-time check.
    """
    return -STACK_SIZE <= off and off + size <= 0


def _fp_write(info: OpInfo, insn: Insn) -> bool:
    """check_reg_arg: R10 is read only (the stack fast path relies on it)."""
    return (insn.dst == isa.BPF_REG_FP and info.kind in WRITES_DST) or (
        insn.src == isa.BPF_REG_FP and info.kind == "atomic" and bool(insn.uimm & isa.BPF_FETCH)
    )


def _fault_of(insn: Insn, info: OpInfo | None) -> Fault | None:
    """The fault an instruction raises whenever it runs, or None."""
    if info is None:
        return Fault(f"unknown opcode {insn.code:#04x}")
    bad = isa.malformed(insn)
    if bad:
        return Fault(bad)
    if _fp_write(info, insn):
        return Fault("frame pointer is read only")
    kind = info.kind
    if kind in ("ldx", "ldxsx") and insn.src == isa.BPF_REG_FP:
        if not frame_slot(insn.off, info.size):
            return Fault("", kind="stack-read", off=insn.off, size=info.size)
    if kind in ("st", "stx") and insn.dst == isa.BPF_REG_FP:
        if not frame_slot(insn.off, info.size):
            return Fault("", kind="stack-write", off=insn.off, size=info.size)
    if kind == "call" and insn.src == isa.BPF_PSEUDO_KFUNC_CALL:
        return Fault(f"kfunc calls (btf id {insn.imm}) are not supported by the interpreter")
    if kind == "lddw" and insn.src not in PSEUDO_LDDW and insn.src != 0:
        return Fault(
            f"LDDW with pseudo source {insn.src} (BTF id) is not supported by the interpreter"
        )
    return None


class BlockProgram:
    """An instruction sequence as the back ends translate it (see module doc)."""

    def __init__(self, insns: Sequence[Insn]) -> None:
        self.insns = list(insns)
        self.at: dict[int, Insn] = dict(isa.iter_slots(self.insns))
        self.nslots = isa.count_slots(self.insns)
        #: where a callback may start (targets of LDDW BPF_PSEUDO_FUNC)
        self.entries: set[int] = set()
        leaders = {0}
        for pc, insn in self.at.items():
            info = isa.OPCODES.get(insn.code)
            if info is None:
                continue
            if info.kind in ("jcond", "ja") or isa.is_local_call(insn):
                t = isa.jump_target(pc, insn)
                if t in self.at:
                    leaders.add(t)
            if info.kind in ENDS_BLOCK:
                leaders.add(pc + 1)
            if info.kind == "lddw" and insn.src == isa.BPF_PSEUDO_FUNC:
                t = pc + 1 + insn.imm
                if t in self.at:
                    leaders.add(t)
                    self.entries.add(t)
        #: block start slots in order
        self.starts: list[int] = sorted(p for p in leaders if p in self.at)
        self.consts: list[Const] = []
        self.blocks: dict[int, Block] = {}
        bounds = self.starts[1:] + [self.nslots]
        for start, stop in zip(self.starts, bounds, strict=True):
            self.blocks[start] = self._block(start, stop)

    def _block(self, start: int, stop: int) -> Block:
        block = Block(start)
        pc = start
        while pc < stop:
            insn = self.at[pc]
            info = isa.OPCODES.get(insn.code)
            fault = _fault_of(insn, info)
            const = None
            if fault is None and info is not None:
                if info.kind == "call" and insn.src == 0:
                    const = self._const("helper", pc, insn)
                elif info.kind == "lddw" and insn.src in PSEUDO_LDDW:
                    const = self._const("lddw", pc, insn)
            block.steps.append(Step(pc, insn, info, fault, const))
            pc += insn.slots
            if fault is not None or (info is not None and info.kind in ENDS_BLOCK):
                break
        block.next = pc
        return block

    def _const(self, kind: str, pc: int, insn: Insn) -> int:
        self.consts.append(Const(kind, pc, insn))
        return len(self.consts) - 1

    def target(self, pc: int, t: int) -> int | Fault:
        """Where a jump at ``pc`` to slot ``t`` goes: the slot, or the fault it raises.

        Slot ``nslots`` (just past the end) is a valid target: reaching it is the
        "fell off" fault, reported when it happens.
        """
        if t in self.at or t == self.nslots:
            return t
        why = (
            "into the middle of an LDDW"
            if 0 <= t < self.nslots
            else f"outside the program (0..{self.nslots - 1})"
        )
        return Fault(f"jump to {t} is {why}")

    @property
    def fell_off(self) -> Fault:
        """What running past the last instruction raises."""
        return Fault(f"execution reached past the last instruction (slot {self.nslots})")

    @staticmethod
    def call_depth_fault(callee: int) -> Fault:
        return Fault(
            f"local call to {callee} exceeds the {MAX_CALL_FRAMES}-frame "
            "call depth limit (MAX_CALL_FRAMES)",
            _errno.E2BIG,
        )
