"""Verifier states (struct bpf_verifier_state, bpf_func_state, bpf_stack_state).

A state is one point of one path through the program: a call stack of frames
(registers and a stack of 8-byte slots each), the references it holds, and its
place in the tree of states: ``parent`` is the checkpoint it continues from,
``branches`` counts the paths still being explored below it, and the jump
history records the non-linear steps taken since the parent, which precision
backtracking walks.
"""

from __future__ import annotations

from typing import Any

from ..isa import MAX_BPF_REG
from . import reg as R
from .reg import Reg

# --- enum bpf_stack_slot_type -----------------------------------------------------------
STACK_INVALID = 0
STACK_SPILL = 1
STACK_MISC = 2
STACK_ZERO = 3
STACK_DYNPTR = 4
STACK_ITER = 5
STACK_IRQ_FLAG = 6
SLOT_CHARS = "?rm0dif"
BPF_REG_SIZE = 8

#: insn history flags (include/linux/bpf_verifier.h)
INSN_F_FRAMENO_MASK = 0x7
INSN_F_SPI_MASK = 0x3F
INSN_F_SPI_SHIFT = 3
INSN_F_STACK_ACCESS = 1 << 9
INSN_F_DST_REG_STACK = 1 << 10
INSN_F_SRC_REG_STACK = 1 << 11

BPF_MAIN_FUNC = -1


class Slot:
    """struct bpf_stack_state: the spilled register and the kind of each byte.

    ``types[j]`` is the byte at fp-(spi*8)-1-j: types[0] is the slot's highest
    address, types[7] its lowest, where a spill starts.
    """

    __slots__ = ("spilled", "types")

    def __init__(self, spilled: Reg | None = None, types: bytearray | None = None):
        self.spilled = spilled if spilled is not None else Reg()
        self.types = types if types is not None else bytearray(BPF_REG_SIZE)

    def copy(self) -> Slot:
        return Slot(self.spilled.copy(), bytearray(self.types))

    @property
    def is_spilled(self) -> bool:
        """is_spilled_reg(): the slot's first byte holds a spill."""
        return self.types[BPF_REG_SIZE - 1] == STACK_SPILL

    @property
    def is_spilled_scalar(self) -> bool:
        return self.types[BPF_REG_SIZE - 1] == STACK_SPILL and self.spilled.type == R.SCALAR_VALUE

    @property
    def is_spilled_scalar64(self) -> bool:
        return self.types[0] == STACK_SPILL and self.spilled.type == R.SCALAR_VALUE

    @property
    def is_special(self) -> bool:
        """is_stack_slot_special(): a spill, dynptr, iterator or irq flag."""
        return self.types[BPF_REG_SIZE - 1] in (
            STACK_SPILL,
            STACK_DYNPTR,
            STACK_ITER,
            STACK_IRQ_FLAG,
        )


class FuncState:
    """struct bpf_func_state: one frame."""

    __slots__ = (
        "regs",
        "stack",
        "callsite",
        "frameno",
        "subprogno",
        "callback_ret_range",
        "in_callback_fn",
        "callback_depth",
    )

    def __init__(self, callsite: int, frameno: int, subprogno: int, bpf_capable: bool):
        self.regs = [Reg() for _ in range(MAX_BPF_REG)]
        for r in self.regs:
            R.mark_not_init(r, bpf_capable)
        fp = self.regs[10]
        fp.type = R.PTR_TO_STACK
        R.mark_known_zero(fp)
        fp.frameno = frameno
        self.stack: list[Slot] = []
        self.callsite = callsite
        self.frameno = frameno
        self.subprogno = subprogno
        self.callback_ret_range = (0, 0)
        self.in_callback_fn = False
        self.callback_depth = 0

    @property
    def allocated_stack(self) -> int:
        return len(self.stack) * BPF_REG_SIZE

    def grow_stack(self, size: int) -> None:
        """grow_stack_state(): make room for ``size`` bytes (rounded up to slots)."""
        n = (size + BPF_REG_SIZE - 1) // BPF_REG_SIZE
        while len(self.stack) < n:
            self.stack.append(Slot())

    def copy(self) -> FuncState:
        n = FuncState.__new__(FuncState)
        n.regs = [r.copy() for r in self.regs]
        n.stack = [s.copy() for s in self.stack]
        n.callsite = self.callsite
        n.frameno = self.frameno
        n.subprogno = self.subprogno
        n.callback_ret_range = self.callback_ret_range
        n.in_callback_fn = self.in_callback_fn
        n.callback_depth = self.callback_depth
        return n


class HistEntry:
    """struct bpf_jmp_history_entry."""

    __slots__ = ("idx", "prev_idx", "flags", "linked_regs")

    def __init__(self, idx: int, prev_idx: int, flags: int, linked_regs: int):
        self.idx = idx
        self.prev_idx = prev_idx
        self.flags = flags
        self.linked_regs = linked_regs


class RefState:
    """struct bpf_reference_state (pointer references: ringbuf records)."""

    __slots__ = ("id", "insn_idx")

    def __init__(self, id: int, insn_idx: int):
        self.id = id
        self.insn_idx = insn_idx


class VerifierState:
    """struct bpf_verifier_state."""

    __slots__ = (
        "frame",
        "parent",
        "branches",
        "insn_idx",
        "first_insn_idx",
        "last_insn_idx",
        "jmp_history",
        "refs",
        "speculative",
        "callback_unroll_depth",
        "dfs_depth",
        "cleaned",
        "equal_state",
        "sl",
    )

    def __init__(self) -> None:
        self.frame: list[FuncState] = []
        self.parent: VerifierState | None = None
        self.branches = 1
        self.insn_idx = 0
        self.first_insn_idx = 0
        self.last_insn_idx = -1
        self.jmp_history: list[HistEntry] = []
        self.refs: list[RefState] = []
        self.speculative = False
        self.callback_unroll_depth = 0
        self.dfs_depth = 0
        self.cleaned = False
        self.equal_state: VerifierState | None = None
        self.sl: Any = None  # the explored-states entry holding this checkpoint

    @property
    def curframe(self) -> int:
        return len(self.frame) - 1

    @property
    def cur(self) -> FuncState:
        return self.frame[-1]

    def copy(self) -> VerifierState:
        """copy_verifier_state(): a deep copy (frames, references, jump history)."""
        n = VerifierState.__new__(VerifierState)
        n.frame = [f.copy() for f in self.frame]
        n.parent = self.parent
        n.branches = self.branches
        n.insn_idx = self.insn_idx
        n.first_insn_idx = self.first_insn_idx
        n.last_insn_idx = self.last_insn_idx
        n.jmp_history = [
            HistEntry(h.idx, h.prev_idx, h.flags, h.linked_regs) for h in self.jmp_history
        ]
        n.refs = [RefState(r.id, r.insn_idx) for r in self.refs]
        n.speculative = self.speculative
        n.callback_unroll_depth = self.callback_unroll_depth
        n.dfs_depth = self.dfs_depth
        n.cleaned = self.cleaned
        n.equal_state = self.equal_state
        n.sl = None
        return n


def frame_insn_idx(st: VerifierState, frame: int) -> int:
    """frame_insn_idx(): where frame ``frame`` stands (the call site for caller frames)."""
    return st.insn_idx if frame == st.curframe else st.frame[frame + 1].callsite


def same_callsites(a: VerifierState, b: VerifierState) -> bool:
    if a.curframe != b.curframe:
        return False
    return all(a.frame[i].callsite == b.frame[i].callsite for i in range(a.curframe, -1, -1))


def each_reg(st: VerifierState) -> Any:
    """bpf_for_each_reg_in_vstate(): (frame, register) for registers and spilled registers."""
    for f in st.frame:
        for r in f.regs:
            yield f, r
        for s in f.stack:
            if s.is_spilled:
                yield f, s.spilled
