"""State equivalence: may the walk stop because an explored state covers this one?

regsafe(), stacksafe(), refsafe() and states_equal() of kernel/bpf/verifier.c
(Linux 6.18): an old (checkpointed) state covers the current one when every
live register and stack slot of the old state is at least as general. An
imprecise old scalar covers any scalar; a precise one only values within its
ranges and tnum. Ids must map one to one (check_ids). ``EXACT`` comparisons
detect infinite loops; ``RANGE_WITHIN`` ones are used inside loops whose
precision marks are not final yet. clean_live_states() first forgets, in
states no path will revisit, the registers and slots nothing reads any more.
"""

from __future__ import annotations

from . import reg as R
from . import tnum as tn
from .env import Env
from .liveness import StackLiveness
from .reg import Reg
from .state import (
    BPF_REG_SIZE,
    STACK_INVALID,
    STACK_MISC,
    STACK_SPILL,
    STACK_ZERO,
    FuncState,
    Slot,
    VerifierState,
    frame_insn_idx,
    same_callsites,
)

NOT_EXACT, EXACT, RANGE_WITHIN = 0, 1, 2


class IdMap:
    """struct bpf_idmap: the old-to-current id pairs seen during one comparison."""

    __slots__ = ("old_to_cur", "cur_ids", "tmp_id_gen")

    def __init__(self, tmp_id_gen: int):
        self.old_to_cur: dict[int, int] = {}
        self.cur_ids: set[int] = set()
        self.tmp_id_gen = tmp_id_gen

    def check(self, old_id: int, cur_id: int) -> bool:
        """check_ids()."""
        if bool(old_id) != bool(cur_id):
            return False
        if old_id == 0:
            return True
        mapped = self.old_to_cur.get(old_id)
        if mapped is not None:
            return mapped == cur_id
        if cur_id in self.cur_ids:
            return False
        self.old_to_cur[old_id] = cur_id
        self.cur_ids.add(cur_id)
        return True

    def check_scalar(self, old_id: int, cur_id: int) -> bool:
        """check_scalar_ids(): a zero id stands for a fresh unique one."""
        if not old_id:
            self.tmp_id_gen += 1
            old_id = self.tmp_id_gen
        if not cur_id:
            self.tmp_id_gen += 1
            cur_id = self.tmp_id_gen
        return self.check(old_id, cur_id)


def range_within(old: Reg, cur: Reg) -> bool:
    return (
        old.umin <= cur.umin
        and old.umax >= cur.umax
        and old.smin <= cur.smin
        and old.smax >= cur.smax
        and old.u32min <= cur.u32min
        and old.u32max >= cur.u32max
        and old.s32min <= cur.s32min
        and old.s32max >= cur.s32max
    )


def regs_exact(old: Reg, cur: Reg, idmap: IdMap) -> bool:
    return (
        old.upto_id() == cur.upto_id()
        and idmap.check(old.id, cur.id)
        and idmap.check(old.ref_obj_id, cur.ref_obj_id)
    )


def regsafe(env: Env, old: Reg, cur: Reg, idmap: IdMap, exact: int) -> bool:
    """regsafe(): is ``old`` at least as general as ``cur``."""
    if exact == EXACT:
        return regs_exact(old, cur, idmap)
    if old.type == R.NOT_INIT:
        if exact == NOT_EXACT or cur.type == R.NOT_INIT:
            return True
    if old.type != cur.type:
        return False
    base = old.type & R.BASE_MASK
    if base == R.SCALAR_VALUE:
        if env.explore_alu_limits:
            return old.upto_id() == cur.upto_id() and idmap.check_scalar(old.id, cur.id)
        if not old.precise and exact == NOT_EXACT:
            return True
        if (old.id & R.BPF_ADD_CONST) != (cur.id & R.BPF_ADD_CONST):
            return False
        if old.id & R.BPF_ADD_CONST and old.off != cur.off:
            return False
        return (
            range_within(old, cur)
            and tn.contains(old.var, cur.var)
            and idmap.check_scalar(old.id, cur.id)
        )
    if base in (
        R.PTR_TO_MAP_KEY,
        R.PTR_TO_MAP_VALUE,
        R.PTR_TO_MEM,
        R.PTR_TO_BUF,
        R.PTR_TO_TP_BUFFER,
    ):
        return (
            old.head() == cur.head()
            and range_within(old, cur)
            and tn.contains(old.var, cur.var)
            and idmap.check(old.id, cur.id)
            and idmap.check(old.ref_obj_id, cur.ref_obj_id)
        )
    if base in (R.PTR_TO_PACKET, R.PTR_TO_PACKET_META):
        if old.range > cur.range or old.off != cur.off or not idmap.check(old.id, cur.id):
            return False
        return range_within(old, cur) and tn.contains(old.var, cur.var)
    if base == R.PTR_TO_STACK:
        return regs_exact(old, cur, idmap) and old.frameno == cur.frameno
    if base == R.PTR_TO_ARENA:
        return True
    return regs_exact(old, cur, idmap)


def _unbound() -> Reg:
    r = Reg()
    R.mark_unknown_imprecise(r)
    return r


_UNBOUND = _unbound()


def _scalar_reg_for_stack(env: Env, slot: Slot) -> Reg | None:
    if slot.is_spilled_scalar64:
        return slot.spilled
    if all(t == STACK_MISC or (t == STACK_INVALID and env.allow_uninit_stack) for t in slot.types):
        return _UNBOUND
    return None


def stacksafe(env: Env, old: FuncState, cur: FuncState, idmap: IdMap, exact: int) -> bool:
    """stacksafe()."""
    cur_n = len(cur.stack)
    i = 0
    old_bytes = len(old.stack) * BPF_REG_SIZE
    while i < old_bytes:
        spi = i // BPF_REG_SIZE
        j = i % BPF_REG_SIZE
        ot = old.stack[spi].types[j]
        if exact != NOT_EXACT and (spi >= cur_n or ot != cur.stack[spi].types[j]):
            return False
        if ot == STACK_INVALID or (env.allow_uninit_stack and ot == STACK_MISC):
            i += 1
            continue
        if spi >= cur_n:
            return False
        oslot, cslot = old.stack[spi], cur.stack[spi]
        old_reg = _scalar_reg_for_stack(env, oslot)
        cur_reg = _scalar_reg_for_stack(env, cslot)
        if old_reg is not None and cur_reg is not None:
            if not regsafe(env, old_reg, cur_reg, idmap, exact):
                return False
            i += BPF_REG_SIZE - j
            continue
        ct = cslot.types[j]
        if ot == STACK_MISC and ct == STACK_ZERO:
            i += 1
            continue
        if ot != ct:
            return False
        if j != BPF_REG_SIZE - 1:
            i += 1
            continue
        last = oslot.types[BPF_REG_SIZE - 1]
        if last == STACK_SPILL:
            if not regsafe(env, oslot.spilled, cslot.spilled, idmap, exact):
                return False
        elif last not in (STACK_MISC, STACK_ZERO, STACK_INVALID):
            return False
        i += 1
    return True


def refsafe(old: VerifierState, cur: VerifierState, idmap: IdMap) -> bool:
    if len(old.refs) != len(cur.refs):
        return False
    return all(idmap.check(a.id, b.id) for a, b in zip(old.refs, cur.refs, strict=True))


def func_states_equal(
    env: Env, old: FuncState, cur: FuncState, insn_idx: int, exact: int, idmap: IdMap
) -> bool:
    if old.callback_depth > cur.callback_depth:
        return False
    live = env.aux[insn_idx].live_regs_before
    for i in range(11):
        if (live >> i) & 1 and not regsafe(env, old.regs[i], cur.regs[i], idmap, exact):
            return False
    return stacksafe(env, old, cur, idmap, exact)


def states_equal(env: Env, old: VerifierState, cur: VerifierState, exact: int) -> bool:
    if old.curframe != cur.curframe:
        return False
    idmap = IdMap(env.id_gen)
    if old.speculative and not cur.speculative:
        return False
    if not refsafe(old, cur, idmap):
        return False
    for i in range(old.curframe + 1):
        if old.frame[i].callsite != cur.frame[i].callsite:
            return False
        if not func_states_equal(
            env, old.frame[i], cur.frame[i], frame_insn_idx(old, i), exact, idmap
        ):
            return False
    return True


def states_maybe_looping(old: VerifierState, cur: VerifierState) -> bool:
    fr = cur.curframe
    if old.curframe != fr:
        return False
    fo, fc = old.frame[fr], cur.frame[fr]
    return all(fo.regs[i].upto_frameno() == fc.regs[i].upto_frameno() for i in range(11))


def clean_verifier_state(env: Env, live: StackLiveness, st: VerifierState) -> None:
    """clean_verifier_state(): dead registers and stack slots become NOT_INIT/INVALID."""
    live.query_init(st)
    st.cleaned = True
    for i, f in enumerate(st.frame):
        ip = frame_insn_idx(st, i)
        lr = env.aux[ip].live_regs_before
        for r in range(10):
            if not (lr >> r) & 1:
                R.mark_not_init(f.regs[r], env.bpf_capable)
        for spi, slot in enumerate(f.stack):
            if not live.slot_alive(f.frameno, spi):
                R.mark_not_init(slot.spilled, env.bpf_capable)
                for j in range(BPF_REG_SIZE):
                    slot.types[j] = STACK_INVALID


def clean_live_states(
    env: Env, live: StackLiveness, states: list, insn: int, cur: VerifierState, incomplete
) -> None:  # type: ignore[type-arg]
    """clean_live_states(): clean the finished states recorded at ``insn``."""
    for sl in states:
        st = sl.state
        if st.branches:
            continue
        if st.insn_idx != insn or not same_callsites(st, cur):
            continue
        if st.cleaned:
            continue
        if incomplete(st):
            continue
        clean_verifier_state(env, live, st)
