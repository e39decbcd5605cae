"""Precision tracking: which scalars must be compared exactly when states are pruned.

Scalars start imprecise: a checkpoint whose scalar is imprecise matches any
value there. When a scalar's exact value decides something (a pointer offset,
a branch the verifier does not take, a helper's size argument),
mark_chain_precision() walks the instructions back through the jump history
and the parent checkpoints (backtrack_insn) and marks every register and
spilled slot that value came from as precise in the checkpoints, so that
later states are only pruned against them if those values are within the old
ranges (kernel/bpf/verifier.c, Linux 6.18).
"""

from __future__ import annotations

from ..isa import (
    BPF_ABS,
    BPF_ALU,
    BPF_ALU64,
    BPF_ATOMIC,
    BPF_CALL,
    BPF_CMPXCHG,
    BPF_END,
    BPF_EXIT,
    BPF_FETCH,
    BPF_IND,
    BPF_JMP,
    BPF_JMP32,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_MOV,
    BPF_NEG,
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_KFUNC_CALL,
    BPF_ST,
    BPF_STX,
    BPF_X,
)
from ..uapi import FUNC_NAMES
from . import reg as R
from .env import Env
from .log import fmt_reg_mask, fmt_stack_mask, insn_text, state_str
from .state import (
    INSN_F_DST_REG_STACK,
    INSN_F_FRAMENO_MASK,
    INSN_F_SPI_MASK,
    INSN_F_SPI_SHIFT,
    INSN_F_SRC_REG_STACK,
    INSN_F_STACK_ACCESS,
    HistEntry,
    VerifierState,
)

ARGS_MASK = 0b111110  # BPF_REGMASK_ARGS: r1-r5
LR_FRAMENO_BITS = 3
LR_SPI_BITS = 6
LR_ENTRY_BITS = LR_SPI_BITS + LR_FRAMENO_BITS + 1
LR_SIZE_BITS = 4
LINKED_REGS_MAX = 6


class _NotSupp(Exception):
    """backtrack_insn() returned -ENOTSUPP: fall back to marking everything precise."""


class Backtrack:
    """struct backtrack_state: registers and stack slots still to be found, per frame."""

    __slots__ = ("frame", "reg_masks", "stack_masks")

    def __init__(self) -> None:
        self.frame = 0
        self.reg_masks = [0] * 8
        self.stack_masks = [0] * 8

    def reset(self) -> None:
        self.frame = 0
        self.reg_masks = [0] * 8
        self.stack_masks = [0] * 8

    def empty(self) -> bool:
        return not any(self.reg_masks[i] | self.stack_masks[i] for i in range(self.frame + 1))

    def set_reg(self, r: int, frame: int | None = None) -> None:
        self.reg_masks[self.frame if frame is None else frame] |= 1 << r

    def clear_reg(self, r: int, frame: int | None = None) -> None:
        self.reg_masks[self.frame if frame is None else frame] &= ~(1 << r)

    def is_reg(self, r: int, frame: int | None = None) -> bool:
        return bool(self.reg_masks[self.frame if frame is None else frame] >> r & 1)

    def set_slot(self, frame: int, spi: int) -> None:
        self.stack_masks[frame] |= 1 << spi

    def clear_slot(self, frame: int, spi: int) -> None:
        self.stack_masks[frame] &= ~(1 << spi)

    def is_slot(self, frame: int, spi: int) -> bool:
        return bool(self.stack_masks[frame] >> spi & 1)

    @property
    def reg_mask(self) -> int:
        return self.reg_masks[self.frame]

    @property
    def stack_mask(self) -> int:
        return self.stack_masks[self.frame]


# --- jump history ---------------------------------------------------------------------------
def push_jmp_history(env: Env, st: VerifierState, flags: int, linked_regs: int) -> None:
    """push_jmp_history(): record this instruction (merging flags if already recorded)."""
    ent = env.cur_hist_ent
    if ent is not None:
        ent.flags |= flags
        ent.linked_regs = linked_regs
        return
    ent = HistEntry(env.insn_idx, env.prev_insn_idx, flags, linked_regs)
    st.jmp_history.append(ent)
    env.cur_hist_ent = ent


def stack_access_flags(frameno: int, spi: int) -> int:
    """insn_stack_access_flags()."""
    return INSN_F_STACK_ACCESS | (spi << INSN_F_SPI_SHIFT) | frameno


def linked_regs_pack(entries: list[tuple[int, int, bool]]) -> int:
    """linked_regs_pack(): (frameno, spi_or_regno, is_reg) entries in one u64."""
    val = 0
    for frameno, spi, is_reg in entries:
        tmp = (
            frameno
            | (spi << LR_FRAMENO_BITS)
            | ((1 if is_reg else 0) << (LR_SPI_BITS + LR_FRAMENO_BITS))
        )
        val = (val << LR_ENTRY_BITS) | tmp
    return (val << LR_SIZE_BITS) | len(entries)


def linked_regs_unpack(val: int) -> list[tuple[int, int, bool]]:
    cnt = val & ((1 << LR_SIZE_BITS) - 1)
    val >>= LR_SIZE_BITS
    out = []
    for _ in range(cnt):
        out.append(
            (
                val & ((1 << LR_FRAMENO_BITS) - 1),
                (val >> LR_FRAMENO_BITS) & ((1 << LR_SPI_BITS) - 1),
                bool((val >> (LR_SPI_BITS + LR_FRAMENO_BITS)) & 1),
            )
        )
        val >>= LR_ENTRY_BITS
    return out


def _hist_entry(st: VerifierState, hist_end: int, idx: int) -> HistEntry | None:
    if hist_end > 0 and st.jmp_history[hist_end - 1].idx == idx:
        return st.jmp_history[hist_end - 1]
    return None


def _prev_insn_idx(st: VerifierState, i: int, hist: list[int]) -> int:
    """get_prev_insn_idx(); ``hist`` holds the remaining history length (updated)."""
    cnt = hist[0]
    if i == st.first_insn_idx:
        if cnt == 0:
            return -1
        if cnt == 1 and st.jmp_history[0].idx == i:
            return -1
    if cnt and st.jmp_history[cnt - 1].idx == i:
        hist[0] = cnt - 1
        return st.jmp_history[cnt - 1].prev_idx
    return i - 1


# --- backtracking -----------------------------------------------------------------------------
def _sync_linked(bt: Backtrack, hist: HistEntry | None) -> None:
    """bt_sync_linked_regs()."""
    if hist is None or not hist.linked_regs:
        return
    entries = linked_regs_unpack(hist.linked_regs)
    if not any((bt.is_reg(r, fr) if is_reg else bt.is_slot(fr, r)) for fr, r, is_reg in entries):
        return
    for fr, r, is_reg in entries:
        if is_reg:
            bt.set_reg(r, fr)
        else:
            bt.set_slot(fr, r)


def _backtrack_insn(
    env: Env, idx: int, subseq_idx: int, hist: HistEntry | None, bt: Backtrack
) -> None:
    insn = env.insns[idx]
    if insn is None or insn.code == 0:
        return
    if env.log.level >= 2:
        env.verbose(
            f"mark_precise: frame{bt.frame}: regs={fmt_reg_mask(bt.reg_mask)} "
            f"stack={fmt_stack_mask(bt.stack_mask)} before {idx}: "
            + insn_text(insn, FUNC_NAMES, env.allow_ptr_leaks)
            + "\n"
        )
    _sync_linked(bt, hist)
    cls, op, mode = insn.code & 0x07, insn.code & 0xF0, insn.code & 0xE0
    dreg, sreg = insn.dst, insn.src
    if cls in (BPF_ALU, BPF_ALU64):
        if not bt.is_reg(dreg):
            return
        if op in (BPF_END, BPF_NEG):
            return
        if op == BPF_MOV:
            bt.clear_reg(dreg)
            if insn.code & 0x08 == BPF_X and sreg != 10:
                bt.set_reg(sreg)
        elif insn.code & 0x08 == BPF_X and sreg != 10:
            bt.set_reg(sreg)
    elif cls == BPF_LDX:
        if not bt.is_reg(dreg):
            return
        bt.clear_reg(dreg)
        if hist is None or not hist.flags & INSN_F_STACK_ACCESS:
            return
        spi = (hist.flags >> INSN_F_SPI_SHIFT) & INSN_F_SPI_MASK
        bt.set_slot(hist.flags & INSN_F_FRAMENO_MASK, spi)
    elif cls in (BPF_STX, BPF_ST):
        if cls == BPF_STX and mode == BPF_ATOMIC and insn.imm & BPF_FETCH:
            # the fetched old value is a load into sreg (r0 for cmpxchg)
            load_reg = 0 if insn.imm == BPF_CMPXCHG else sreg
            if bt.is_reg(load_reg):
                bt.clear_reg(load_reg)
                if hist is not None and hist.flags & INSN_F_STACK_ACCESS:
                    spi = (hist.flags >> INSN_F_SPI_SHIFT) & INSN_F_SPI_MASK
                    bt.set_slot(hist.flags & INSN_F_FRAMENO_MASK, spi)
                return
        if bt.is_reg(dreg):
            raise _NotSupp()
        if hist is None or not hist.flags & INSN_F_STACK_ACCESS:
            return
        spi = (hist.flags >> INSN_F_SPI_SHIFT) & INSN_F_SPI_MASK
        fr = hist.flags & INSN_F_FRAMENO_MASK
        if not bt.is_slot(fr, spi):
            return
        bt.clear_slot(fr, spi)
        if cls == BPF_STX:
            bt.set_reg(sreg)
    elif cls in (BPF_JMP, BPF_JMP32):
        if op == BPF_CALL and insn.src == BPF_PSEUDO_CALL:
            # a static subprogram's call: we are leaving the callee's frame
            if bt.reg_mask & ~ARGS_MASK or bt.stack_mask:
                raise _NotSupp()
            for i in range(1, 6):
                if bt.is_reg(i):
                    bt.clear_reg(i)
                    bt.set_reg(i, bt.frame - 1)
            bt.frame -= 1
            return
        if (
            op == BPF_CALL
            and insn.src == 0
            and env.aux[idx].calls_callback
            and idx != subseq_idx - 1
        ):
            # back from a callback to the helper that called it
            if bt.reg_mask & ~ARGS_MASK or bt.stack_mask:
                raise _NotSupp()
            for i in range(1, 6):
                bt.clear_reg(i)
            bt.frame -= 1
            return
        if op == BPF_CALL:
            if insn.src == BPF_PSEUDO_KFUNC_CALL and insn.imm == 0:
                raise _NotSupp()
            bt.clear_reg(0)
            if bt.reg_mask & ARGS_MASK:
                raise _NotSupp()
            return
        if op == BPF_EXIT:
            if subseq_idx >= 0 and env.aux[subseq_idx].calls_callback:
                for i in range(1, 6):
                    bt.clear_reg(i)
            if bt.reg_mask & ARGS_MASK:
                raise _NotSupp()
            prev = env.insns[subseq_idx - 1] if subseq_idx - 1 >= 0 else None
            r0_precise = (
                prev is not None
                and prev.code == BPF_JMP | BPF_CALL
                and prev.src == BPF_PSEUDO_CALL
                and bt.is_reg(0)
            )
            bt.clear_reg(0)
            bt.frame += 1
            if r0_precise:
                bt.set_reg(0)
            return
        if insn.code & 0x08 == BPF_X:
            if not bt.is_reg(dreg) and not bt.is_reg(sreg):
                return
            if hist is None or not hist.flags & INSN_F_SRC_REG_STACK:
                bt.set_reg(sreg)
            if hist is None or not hist.flags & INSN_F_DST_REG_STACK:
                bt.set_reg(dreg)
        elif insn.code & 0x08 == BPF_K:
            pass
    elif cls == BPF_LD:
        if not bt.is_reg(dreg):
            return
        bt.clear_reg(dreg)
        if mode in (BPF_IND, BPF_ABS):
            raise _NotSupp()
    _sync_linked(bt, hist)


def mark_all_scalars_precise(env: Env, st: VerifierState) -> None:
    """The fallback: every scalar of every parent state becomes precise."""
    if env.log.level >= 2:
        env.verbose(
            f"mark_precise: frame{st.curframe}: falling back to forcing all scalars precise\n"
        )
    p = st.parent
    while p is not None:
        for i, f in enumerate(p.frame):
            for j, r in enumerate(f.regs[:10]):
                if r.type != R.SCALAR_VALUE or r.precise:
                    continue
                r.precise = True
                if env.log.level >= 2:
                    env.verbose(f"force_precise: frame{i}: forcing r{j} to be precise\n")
            for j, s in enumerate(f.stack):
                if not s.is_spilled:
                    continue
                r = s.spilled
                if r.type != R.SCALAR_VALUE or r.precise:
                    continue
                r.precise = True
                if env.log.level >= 2:
                    env.verbose(
                        f"force_precise: frame{i}: forcing fp{-(j + 1) * 8} to be precise\n"
                    )
        p = p.parent


def mark_all_scalars_imprecise(st: VerifierState) -> None:
    for f in st.frame:
        for r in f.regs[:10]:
            if r.type == R.SCALAR_VALUE:
                r.precise = False
        for s in f.stack:
            if s.is_spilled and s.spilled.type == R.SCALAR_VALUE:
                s.spilled.precise = False


def mark_chain_precision(
    env: Env, regno: int = -1, starting: VerifierState | None = None, bt: Backtrack | None = None
) -> bool:
    """__mark_chain_precision(): returns whether some parent state changed."""
    if not env.bpf_capable:
        return False
    st = starting if starting is not None else env.cur_state
    start = st
    if bt is None:
        bt = Backtrack()
        bt.frame = st.curframe
    first_idx = st.first_insn_idx
    last_idx = st.insn_idx
    subseq_idx = -1
    changed = False
    if regno >= 0:
        reg = st.frame[bt.frame].regs[regno]
        if reg.type != R.SCALAR_VALUE:
            raise AssertionError("backtracking misuse")
        bt.set_reg(regno)
    if bt.empty():
        return False
    skip_first = True
    log2 = env.log.level >= 2
    while True:
        hist = [len(st.jmp_history)]
        if log2:
            env.verbose(
                f"mark_precise: frame{bt.frame}: last_idx {last_idx} first_idx {first_idx} "
                f"subseq_idx {subseq_idx} \n"
            )
        if last_idx < 0:
            # the entry of a global subprogram: r1-r5 are its arguments
            if st.curframe == 0 and st.frame[0].subprogno > 0 and st.frame[0].callsite == -1:
                for i in range(1, 6):
                    if bt.is_reg(i):
                        bt.clear_reg(i)
                        r = st.frame[0].regs[i]
                        if r.type == R.SCALAR_VALUE:
                            r.precise = True
                            changed = True
                return changed
            raise AssertionError("backtracking func entry")
        i = last_idx
        try:
            while True:
                if skip_first:
                    skip_first = False
                else:
                    _backtrack_insn(env, i, subseq_idx, _hist_entry(st, hist[0], i), bt)
                if bt.empty():
                    return changed
                subseq_idx = i
                i = _prev_insn_idx(st, i, hist)
                if i == -1:
                    break
        except _NotSupp:
            mark_all_scalars_precise(env, start)
            bt.reset()
            return changed
        parent = st.parent
        if parent is None:
            break
        st = parent
        for fr in range(bt.frame, -1, -1):
            func = st.frame[fr]
            for r_i in range(32):
                if not bt.reg_masks[fr] >> r_i & 1:
                    continue
                r = func.regs[r_i]
                if r.type != R.SCALAR_VALUE:
                    bt.clear_reg(r_i, fr)
                    continue
                if r.precise:
                    bt.clear_reg(r_i, fr)
                else:
                    r.precise = True
                    changed = True
            for spi in range(64):
                if not bt.stack_masks[fr] >> spi & 1:
                    continue
                if spi >= len(func.stack):
                    raise AssertionError("stack slot out of range in backtracking")
                slot = func.stack[spi]
                if not slot.is_spilled_scalar:
                    bt.clear_slot(fr, spi)
                    continue
                if slot.spilled.precise:
                    bt.clear_slot(fr, spi)
                else:
                    slot.spilled.precise = True
                    changed = True
            if log2:
                env.verbose(
                    f"mark_precise: frame{fr}: parent state regs={fmt_reg_mask(bt.reg_masks[fr])} "
                    f"stack={fmt_stack_mask(bt.stack_masks[fr])}: " + state_str(st, fr, True)
                )
        if bt.empty():
            return changed
        subseq_idx = first_idx
        last_idx = st.last_insn_idx
        first_idx = st.first_insn_idx
    if not bt.empty():
        mark_all_scalars_precise(env, start)
        bt.reset()
    return changed


def propagate_precision(env: Env, old: VerifierState, cur: VerifierState) -> bool:
    """propagate_precision(): what was precise in the equivalent state becomes precise here."""
    bt = Backtrack()
    bt.frame = cur.curframe
    for fr in range(old.curframe, -1, -1):
        f = old.frame[fr]
        first = True
        text = ""
        for i, r in enumerate(f.regs[:10]):
            if r.type != R.SCALAR_VALUE or not r.precise:
                continue
            text += (f"frame {fr}: propagating r{i}") if first else f",r{i}"
            bt.set_reg(i, fr)
            first = False
        for i, s in enumerate(f.stack):
            if not s.is_spilled:
                continue
            r = s.spilled
            if r.type != R.SCALAR_VALUE or not r.precise:
                continue
            fp = (-i - 1) * 8
            text += (f"frame {fr}: propagating fp{fp}") if first else f",fp{fp}"
            bt.set_slot(fr, i)
            first = False
        if not first:  # the newline is logged at level 1 too, as the kernel does
            env.verbose((text if env.log.level >= 2 else "") + "\n")
    return mark_chain_precision(env, -1, cur, bt)
