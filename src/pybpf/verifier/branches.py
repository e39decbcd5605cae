"""Conditional jumps: which way they go, and what each way learns (check_cond_jmp_op).

is_branch_taken() decides a jump from the bounds and tnums (JSET included,
JMP32 on the 32-bit subregister); a decided jump marks the compared scalars
precise and, for unprivileged loaders, still explores the other way as a
speculative path. An undecided jump forks the state: regs_refine_cond_op()
narrows both registers in each branch, sync_linked_regs() carries the new
bounds to registers holding the same value (same id), a NULL check turns a
``map_value_or_null`` into a ``map_value`` or a zero, and comparing a packet
pointer with ``pkt_end`` gives the packet range (kernel/bpf/verifier.c,
Linux 6.18).
"""

from __future__ import annotations

import errno

from ..isa import (
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JLE,
    BPF_JLT,
    BPF_JMP32,
    BPF_JNE,
    BPF_JSET,
    BPF_JSGE,
    BPF_JSGT,
    BPF_JSLE,
    BPF_JSLT,
    BPF_K,
    BPF_X,
    Insn,
)
from ..uapi import BPF_MAP_TYPE_SOCKHASH, BPF_MAP_TYPE_SOCKMAP, BPF_MAP_TYPE_XSKMAP
from . import reg as R
from . import tnum as tn
from .env import Env
from .operands import SRC_OP, check_reg_arg, is_pointer_value
from .paths import print_insn_state, push_stack, sanitize_speculative_path
from .precision import LINKED_REGS_MAX, linked_regs_pack, mark_chain_precision, push_jmp_history
from .reg import Reg
from .scalar import scalar32_add, scalar64_add
from .state import (
    INSN_F_DST_REG_STACK,
    INSN_F_SRC_REG_STACK,
    VerifierState,
    each_reg,
    frame_insn_idx,
)
from .tnum import U32, U64

MAX_PACKET_OFF = 0xFFFF
AT_PKT_END = -1
BEYOND_PKT_END = -2
_JSET_REV = BPF_JSET | BPF_X
#: Deliberate deviation while pybpf's VM (on main) may give a valid pointer a zero low
#: half (it maps regions at slot << 32): Linux decides ``if w0 != 0`` for a non-NULL
#: pointer, pybpf then explores both ways. Set to False once the VM gives pointers the
#: kernel's non-zero low halves (tests/verifier/test_verifier.py::test_deliberate_deviations).
POINTER_LOW_HALF_MAY_BE_ZERO = True

_FLIP = {
    BPF_JEQ: BPF_JEQ,
    BPF_JNE: BPF_JNE,
    BPF_JSET: BPF_JSET,
    BPF_JGE: BPF_JLE,
    BPF_JGT: BPF_JLT,
    BPF_JLE: BPF_JGE,
    BPF_JLT: BPF_JGT,
    BPF_JSGE: BPF_JSLE,
    BPF_JSGT: BPF_JSLT,
    BPF_JSLE: BPF_JSGE,
    BPF_JSLT: BPF_JSGT,
}
_REV = {
    BPF_JEQ: BPF_JNE,
    BPF_JNE: BPF_JEQ,
    BPF_JSET: _JSET_REV,
    _JSET_REV: BPF_JSET,
    BPF_JGE: BPF_JLT,
    BPF_JGT: BPF_JLE,
    BPF_JLE: BPF_JGT,
    BPF_JLT: BPF_JGE,
    BPF_JSGE: BPF_JSLT,
    BPF_JSGT: BPF_JSLE,
    BPF_JSLE: BPF_JSGT,
    BPF_JSLT: BPF_JSGE,
}


def is_pkt_pointer_any(r: Reg) -> bool:
    return r.type in (R.PTR_TO_PACKET, R.PTR_TO_PACKET_META, R.PTR_TO_PACKET_END)


def _init_pkt_pointer(r: Reg, t: int) -> bool:
    """reg_is_init_pkt_pointer()."""
    return r.type == t and r.id == 0 and r.off == 0 and r.var == (0, 0)


def reg_not_null(r: Reg) -> bool:
    if r.type & R.PTR_MAYBE_NULL:
        return False
    return (r.type & R.BASE_MASK) in (
        R.PTR_TO_SOCKET,
        R.PTR_TO_TCP_SOCK,
        R.PTR_TO_MAP_VALUE,
        R.PTR_TO_MAP_KEY,
        R.PTR_TO_SOCK_COMMON,
        R.PTR_TO_MEM,
        R.CONST_PTR_TO_MAP,
    )


# --- is_branch_taken ---------------------------------------------------------------------
def _is_scalar_branch_taken(r1: Reg, r2: Reg, op: int, j32: bool) -> int:
    if j32:
        t1, t2 = tn.subreg(r1.var), tn.subreg(r2.var)
        umin1, umax1, smin1, smax1 = r1.u32min, r1.u32max, r1.s32min, r1.s32max
        umin2, umax2, smin2, smax2 = r2.u32min, r2.u32max, r2.s32min, r2.s32max
    else:
        t1, t2 = r1.var, r2.var
        umin1, umax1, smin1, smax1 = r1.umin, r1.umax, r1.smin, r1.smax
        umin2, umax2, smin2, smax2 = r2.umin, r2.umax, r2.smin, r2.smax
    if op in (BPF_JEQ, BPF_JNE):
        eq = op == BPF_JEQ
        if t1.mask == 0 and t2.mask == 0:
            return int((t1.value == t2.value) == eq)
        differ = (
            not tn.overlap(t1, t2)
            or umin1 > umax2
            or umax1 < umin2
            or smin1 > smax2
            or smax1 < smin2
            or (
                not j32
                and (
                    r1.u32min > r2.u32max
                    or r1.u32max < r2.u32min
                    or r1.s32min > r2.s32max
                    or r1.s32max < r2.s32min
                )
            )
        )
        if differ:
            return 0 if eq else 1
        return -1
    if op == BPF_JSET:
        if not R.reg_is_const(r2, j32):
            r1, r2 = r2, r1
            t1, t2 = t2, t1
        if not R.reg_is_const(r2, j32):
            return -1
        if (~t1.mask & t1.value) & t2.value:
            return 1
        if not ((t1.mask | t1.value) & t2.value):
            return 0
        return -1
    if op == BPF_JGT:
        return 1 if umin1 > umax2 else 0 if umax1 <= umin2 else -1
    if op == BPF_JSGT:
        return 1 if smin1 > smax2 else 0 if smax1 <= smin2 else -1
    if op == BPF_JLT:
        return 1 if umax1 < umin2 else 0 if umin1 >= umax2 else -1
    if op == BPF_JSLT:
        return 1 if smax1 < smin2 else 0 if smin1 >= smax2 else -1
    if op == BPF_JGE:
        return 1 if umin1 >= umax2 else 0 if umax1 < umin2 else -1
    if op == BPF_JSGE:
        return 1 if smin1 >= smax2 else 0 if smax1 < smin2 else -1
    if op == BPF_JLE:
        return 1 if umax1 <= umin2 else 0 if umin1 > umax2 else -1
    if op == BPF_JSLE:
        return 1 if smax1 <= smin2 else 0 if smin1 > smax2 else -1
    return -1


def _is_pkt_ptr_branch_taken(d: Reg, s: Reg, op: int) -> int:
    if s.type == R.PTR_TO_PACKET_END:
        pkt = d
    elif d.type == R.PTR_TO_PACKET_END:
        pkt = s
        op = _FLIP[op]
    else:
        return -1
    if pkt.range >= 0:
        return -1
    if op in (BPF_JLE, BPF_JGT):
        if pkt.range == BEYOND_PKT_END:
            return int(op == BPF_JGT)
    elif op in (BPF_JLT, BPF_JGE):
        if pkt.range in (BEYOND_PKT_END, AT_PKT_END):
            return int(op == BPF_JGE)
    return -1


def is_branch_taken(r1: Reg, r2: Reg, op: int, j32: bool) -> int:
    """1: always taken, 0: never, -1: unknown."""
    if is_pkt_pointer_any(r1) and is_pkt_pointer_any(r2) and not j32:
        return _is_pkt_ptr_branch_taken(r1, r2, op)
    if r1.type != R.SCALAR_VALUE or r2.type != R.SCALAR_VALUE:
        if j32 and POINTER_LOW_HALF_MAY_BE_ZERO:
            return -1
        if not R.reg_is_const(r2, j32):
            op = _FLIP[op]
            r1, r2 = r2, r1
        if not R.reg_is_const(r2, j32):
            return -1
        if not reg_not_null(r1):
            return -1
        if R.reg_const_value(r2, j32) != 0:
            return -1
        return 0 if op == BPF_JEQ else 1 if op == BPF_JNE else -1
    return _is_scalar_branch_taken(r1, r2, op, j32)


# --- refinement ---------------------------------------------------------------------------
def _s32(v: int) -> int:
    return R.s32(v)


def regs_refine_cond_op(r1: Reg, r2: Reg, op: int, j32: bool) -> None:
    """regs_refine_cond_op(): what ``r1 op r2`` being true says about both."""
    if op in (BPF_JGE, BPF_JGT, BPF_JSGE, BPF_JSGT):
        op = _FLIP[op]
        r1, r2 = r2, r1
    if op == BPF_JEQ:
        if j32:
            r1.u32min = max(r1.u32min, r2.u32min)
            r1.u32max = min(r1.u32max, r2.u32max)
            r1.s32min = max(r1.s32min, r2.s32min)
            r1.s32max = min(r1.s32max, r2.s32max)
            r2.u32min, r2.u32max, r2.s32min, r2.s32max = r1.u32min, r1.u32max, r1.s32min, r1.s32max
            t = tn.intersect(tn.subreg(r1.var), tn.subreg(r2.var))
            r1.var = tn.with_subreg(r1.var, t)
            r2.var = tn.with_subreg(r2.var, t)
        else:
            r1.umin = max(r1.umin, r2.umin)
            r1.umax = min(r1.umax, r2.umax)
            r1.smin = max(r1.smin, r2.smin)
            r1.smax = min(r1.smax, r2.smax)
            r2.umin, r2.umax, r2.smin, r2.smax = r1.umin, r1.umax, r1.smin, r1.smax
            r1.var = tn.intersect(r1.var, r2.var)
            r2.var = r1.var
    elif op == BPF_JNE:
        if not R.reg_is_const(r2, j32):
            r1, r2 = r2, r1
        if not R.reg_is_const(r2, j32):
            return
        val = R.reg_const_value(r2, j32)
        if j32:
            if r1.u32min == val & U32:
                r1.u32min = (r1.u32min + 1) & U32
            if r1.u32max == val & U32:
                r1.u32max = (r1.u32max - 1) & U32
            if r1.s32min == _s32(val):
                r1.s32min = _s32(r1.s32min + 1)
            if r1.s32max == _s32(val):
                r1.s32max = _s32(r1.s32max - 1)
        else:
            if r1.umin == val:
                r1.umin = (r1.umin + 1) & U64
            if r1.umax == val:
                r1.umax = (r1.umax - 1) & U64
            if r1.smin == R.s64(val):
                r1.smin = R.s64(r1.smin + 1)
            if r1.smax == R.s64(val):
                r1.smax = R.s64(r1.smax - 1)
    elif op == BPF_JSET:
        if not R.reg_is_const(r2, j32):
            r1, r2 = r2, r1
        if not R.reg_is_const(r2, j32):
            return
        val = R.reg_const_value(r2, j32)
        if val == 0 or val & (val - 1):
            return
        if j32:
            t = tn.or_(tn.subreg(r1.var), tn.const(val))
            r1.var = tn.with_subreg(r1.var, t)
        else:
            r1.var = tn.or_(r1.var, tn.const(val))
    elif op == _JSET_REV:
        if not R.reg_is_const(r2, j32):
            r1, r2 = r2, r1
        if not R.reg_is_const(r2, j32):
            return
        val = R.reg_const_value(r2, j32)
        R.mark_unbounded(r1)
        if j32:
            t = tn.and_(tn.subreg(r1.var), tn.const(~val & U64))
            r1.var = tn.with_subreg(r1.var, t)
        else:
            r1.var = tn.and_(r1.var, tn.const(~val & U64))
    elif op == BPF_JLE:
        if j32:
            r1.u32max = min(r1.u32max, r2.u32max)
            r2.u32min = max(r1.u32min, r2.u32min)
        else:
            r1.umax = min(r1.umax, r2.umax)
            r2.umin = max(r1.umin, r2.umin)
    elif op == BPF_JLT:
        if j32:
            r1.u32max = min(r1.u32max, (r2.u32max - 1) & U32)
            r2.u32min = max((r1.u32min + 1) & U32, r2.u32min)
        else:
            r1.umax = min(r1.umax, (r2.umax - 1) & U64)
            r2.umin = max((r1.umin + 1) & U64, r2.umin)
    elif op == BPF_JSLE:
        if j32:
            r1.s32max = min(r1.s32max, r2.s32max)
            r2.s32min = max(r1.s32min, r2.s32min)
        else:
            r1.smax = min(r1.smax, r2.smax)
            r2.smin = max(r1.smin, r2.smin)
    elif op == BPF_JSLT:
        if j32:
            r1.s32max = min(r1.s32max, _s32(r2.s32max - 1))
            r2.s32min = max(_s32(r1.s32min + 1), r2.s32min)
        else:
            r1.smax = min(r1.smax, R.s64(r2.smax - 1))
            r2.smin = max(R.s64(r1.smin + 1), r2.smin)


def _sanity(env: Env, r: Reg, ctx: str) -> None:
    msg = R.bounds_violation(r)
    if msg is not None:
        env.verbose(R.invariants_message(r, ctx, msg) + "\n")
        R.mark_unbounded(r)


def reg_set_min_max(env: Env, t1: Reg, t2: Reg, f1: Reg, f2: Reg, op: int, j32: bool) -> None:
    if f1.type != R.SCALAR_VALUE or f2.type != R.SCALAR_VALUE:
        return
    regs_refine_cond_op(f1, f2, _REV[op], j32)
    R.reg_bounds_sync(f1)
    R.reg_bounds_sync(f2)
    regs_refine_cond_op(t1, t2, op, j32)
    R.reg_bounds_sync(t1)
    R.reg_bounds_sync(t2)
    _sanity(env, t1, "true_reg1")
    _sanity(env, t2, "true_reg2")
    _sanity(env, f1, "false_reg1")
    _sanity(env, f2, "false_reg2")


# --- NULL checks, packet ranges, linked registers ------------------------------------------
def mark_ptr_not_null_reg(r: Reg) -> None:
    if r.type & R.BASE_MASK == R.PTR_TO_MAP_VALUE:
        mt = getattr(r.map, "type", None)
        if mt == BPF_MAP_TYPE_XSKMAP:
            r.type = R.PTR_TO_XDP_SOCK
        elif mt in (BPF_MAP_TYPE_SOCKMAP, BPF_MAP_TYPE_SOCKHASH):
            r.type = R.PTR_TO_SOCKET
        else:
            r.type = R.PTR_TO_MAP_VALUE
        return
    r.type &= ~R.PTR_MAYBE_NULL


def mark_ptr_or_null_regs(env: Env, st: VerifierState, regno: int, is_null: bool) -> None:
    regs = st.frame[-1].regs
    ref_obj_id = regs[regno].ref_obj_id
    rid = regs[regno].id
    if ref_obj_id and ref_obj_id == rid and is_null:
        st.refs = [r for r in st.refs if r.id != rid]
    for _f, r in each_reg(st):
        if not (r.type & R.PTR_MAYBE_NULL and r.id == rid and r.id):
            continue
        if r.smin or r.smax or r.var != (0, 0) or r.off:
            continue
        if is_null:
            r.type = R.SCALAR_VALUE
            r.id = 0
            r.ref_obj_id = 0
            continue
        mark_ptr_not_null_reg(r)
        r.id = 0


def find_good_pkt_pointers(st: VerifierState, d: Reg, t: int, right_open: bool) -> None:
    if d.off < 0 or (d.off == 0 and right_open):
        return
    if d.umax > MAX_PACKET_OFF or d.umax + d.off > MAX_PACKET_OFF:
        return
    new_range = d.off + (1 if right_open else 0)
    for _f, r in each_reg(st):
        if r.type == t and r.id == d.id:
            r.range = max(r.range, new_range)


def _mark_pkt_end(st: VerifierState, regno: int, range_open: bool) -> None:
    r = st.frame[-1].regs[regno]
    if r.type != R.PTR_TO_PACKET:
        return
    r.range = BEYOND_PKT_END if range_open else AT_PKT_END


def try_match_pkt_pointers(
    insn: Insn, d: Reg, s: Reg, this: VerifierState, other: VerifierState
) -> bool:
    if insn.code & 0x08 != BPF_X or insn.code & 0x07 == BPF_JMP32:
        return False
    op = insn.code & 0xF0
    if op not in (BPF_JGT, BPF_JLT, BPF_JGE, BPF_JLE):
        return False
    dst_first = (d.type == R.PTR_TO_PACKET and s.type == R.PTR_TO_PACKET_END) or (
        d.type == R.PTR_TO_PACKET_META and _init_pkt_pointer(s, R.PTR_TO_PACKET)
    )
    src_first = (d.type == R.PTR_TO_PACKET_END and s.type == R.PTR_TO_PACKET) or (
        _init_pkt_pointer(d, R.PTR_TO_PACKET) and s.type == R.PTR_TO_PACKET_META
    )
    if dst_first:
        # (good branch, right-open range, pkt_end marking branch, range_open)
        if op == BPF_JGT:
            find_good_pkt_pointers(this, d, d.type, False)
            _mark_pkt_end(other, insn.dst, True)
        elif op == BPF_JLT:
            find_good_pkt_pointers(other, d, d.type, True)
            _mark_pkt_end(this, insn.dst, False)
        elif op == BPF_JGE:
            find_good_pkt_pointers(this, d, d.type, True)
            _mark_pkt_end(other, insn.dst, False)
        else:
            find_good_pkt_pointers(other, d, d.type, False)
            _mark_pkt_end(this, insn.dst, True)
        return True
    if src_first:
        if op == BPF_JGT:
            find_good_pkt_pointers(other, s, s.type, True)
            _mark_pkt_end(this, insn.src, False)
        elif op == BPF_JLT:
            find_good_pkt_pointers(this, s, s.type, False)
            _mark_pkt_end(other, insn.src, True)
        elif op == BPF_JGE:
            find_good_pkt_pointers(other, s, s.type, False)
            _mark_pkt_end(this, insn.src, True)
        else:
            find_good_pkt_pointers(this, s, s.type, True)
            _mark_pkt_end(other, insn.src, False)
        return True
    return False


def collect_linked_regs(
    env: Env, st: VerifierState, rid: int, out: list[tuple[int, int, bool]]
) -> None:
    """collect_linked_regs(): (frame, regno or spi, is_reg) of the live scalars sharing ``rid``.

    Registers dead at the frame's instruction are left alone (Linux 6.18 filters them
    with the live_regs_before of compute_live_registers); spilled ones all count.
    """
    rid &= ~R.BPF_ADD_CONST
    for i in range(st.curframe, -1, -1):
        f = st.frame[i]
        live = env.aux[frame_insn_idx(st, i)].live_regs_before
        for j in range(10):
            if not (live >> j) & 1:
                continue
            r = f.regs[j]
            if r.type == R.SCALAR_VALUE and (r.id & ~R.BPF_ADD_CONST) == rid:
                if len(out) < LINKED_REGS_MAX:
                    out.append((i, j, True))
                else:
                    r.id = 0
        for j, slot in enumerate(f.stack):
            if not slot.is_spilled:
                continue
            r = slot.spilled
            if r.type == R.SCALAR_VALUE and (r.id & ~R.BPF_ADD_CONST) == rid:
                if len(out) < LINKED_REGS_MAX:
                    out.append((i, j, False))
                else:
                    r.id = 0


def sync_linked_regs(st: VerifierState, known: Reg, linked: list[tuple[int, int, bool]]) -> None:
    for fr, k, is_reg in linked:
        f = st.frame[fr]
        r = f.regs[k] if is_reg else f.stack[k].spilled
        if r.type != R.SCALAR_VALUE or r is known:
            continue
        if (r.id & ~R.BPF_ADD_CONST) != (known.id & ~R.BPF_ADD_CONST):
            continue
        saved_subreg = r.subreg_def
        if (not r.id & R.BPF_ADD_CONST and not known.id & R.BPF_ADD_CONST) or r.off == known.off:
            r.assign(known)
            r.subreg_def = saved_subreg
        else:
            saved_off, saved_id = r.off, r.id
            fake = R.const_scalar(_s32(saved_off) - _s32(known.off))
            r.assign(known)
            r.off = saved_off
            r.id = saved_id
            r.subreg_def = saved_subreg
            scalar32_add(r, fake)
            scalar64_add(r, fake)
            r.var = tn.add(r.var, fake.var)
            if saved_id & R.BPF_ADD_CONST32:
                R.zext_32_to_64(r)
            R.reg_bounds_sync(r)


# --- check_cond_jmp_op ---------------------------------------------------------------------
def check_cond_jmp_op(env: Env, insn: Insn) -> int:
    """Check a conditional jump; returns the next instruction of the current path."""
    this = env.cur_state
    regs = this.frame[-1].regs
    op = insn.code & 0xF0
    idx = env.insn_idx
    if op == BPF_JA or op > BPF_JSLE:
        raise env.fail(f"invalid BPF_JMP/JMP32 opcode {op:x}", errno.EINVAL)
    check_reg_arg(env, insn.dst, SRC_OP)
    d = regs[insn.dst]
    flags = 0
    if insn.code & 0x08 == BPF_X:
        if insn.imm != 0:
            raise env.fail("BPF_JMP/JMP32 uses reserved fields", errno.EINVAL)
        check_reg_arg(env, insn.src, SRC_OP)
        s = regs[insn.src]
        if not (is_pkt_pointer_any(d) and is_pkt_pointer_any(s)) and is_pointer_value(
            env, insn.src
        ):
            raise env.fail(f"R{insn.src} pointer comparison prohibited")
        if s.type == R.PTR_TO_STACK:
            flags |= INSN_F_SRC_REG_STACK
    else:
        if insn.src != 0:
            raise env.fail("BPF_JMP/JMP32 uses reserved fields", errno.EINVAL)
        s = R.const_scalar(insn.imm)
    if d.type == R.PTR_TO_STACK:
        flags |= INSN_F_DST_REG_STACK
    if flags:
        push_jmp_history(env, this, flags, 0)
    j32 = insn.code & 0x07 == BPF_JMP32
    pred = is_branch_taken(d, s, op, j32)
    if pred >= 0:
        if d.type == R.SCALAR_VALUE:
            mark_chain_precision(env, insn.dst)
        if insn.code & 0x08 == BPF_X and s.type == R.SCALAR_VALUE:
            mark_chain_precision(env, insn.src)
    if pred == 1:
        if not env.bypass_spec_v1:
            sanitize_speculative_path(env, insn, idx + 1, idx)
        if env.log.level:
            print_insn_state(env, this, this.curframe)
        return idx + insn.off + 1
    if pred == 0:
        if not env.bypass_spec_v1:
            sanitize_speculative_path(env, insn, idx + insn.off + 1, idx)
        if env.log.level:
            print_insn_state(env, this, this.curframe)
        return idx + 1
    linked: list[tuple[int, int, bool]] = []
    if insn.code & 0x08 == BPF_X and s.type == R.SCALAR_VALUE and s.id:
        collect_linked_regs(env, this, s.id, linked)
    if d.type == R.SCALAR_VALUE and d.id:
        collect_linked_regs(env, this, d.id, linked)
    if len(linked) > 1:
        push_jmp_history(env, this, 0, linked_regs_pack(linked))
    other = push_stack(env, idx + insn.off + 1, idx, False)
    oregs = other.frame[-1].regs
    if insn.code & 0x08 == BPF_X:
        reg_set_min_max(env, oregs[insn.dst], oregs[insn.src], d, s, op, j32)
    else:
        reg_set_min_max(env, oregs[insn.dst], s.copy(), d, s, op, j32)
    if insn.code & 0x08 == BPF_X and s.type == R.SCALAR_VALUE and s.id:
        sync_linked_regs(this, s, linked)
        sync_linked_regs(other, oregs[insn.src], linked)
    if d.type == R.SCALAR_VALUE and d.id:
        sync_linked_regs(this, d, linked)
        sync_linked_regs(other, oregs[insn.dst], linked)
    if (
        not j32
        and insn.code & 0x08 == BPF_X
        and s.type != R.SCALAR_VALUE
        and d.type != R.SCALAR_VALUE
        and bool(s.type & R.PTR_MAYBE_NULL) != bool(d.type & R.PTR_MAYBE_NULL)
        and s.type & R.BASE_MASK != R.PTR_TO_BTF_ID
        and d.type & R.BASE_MASK != R.PTR_TO_BTF_ID
    ):
        eq_regs = oregs if op == BPF_JEQ else regs if op == BPF_JNE else None
        if eq_regs is not None:
            mark_ptr_not_null_reg(
                eq_regs[insn.src] if s.type & R.PTR_MAYBE_NULL else eq_regs[insn.dst]
            )
    if (
        not j32
        and insn.code & 0x08 == BPF_K
        and insn.imm == 0
        and op in (BPF_JEQ, BPF_JNE)
        and d.type & R.PTR_MAYBE_NULL
    ):
        mark_ptr_or_null_regs(env, this, insn.dst, op == BPF_JNE)
        mark_ptr_or_null_regs(env, other, insn.dst, op == BPF_JEQ)
    elif not try_match_pkt_pointers(insn, d, regs[insn.src], this, other) and is_pointer_value(
        env, insn.dst
    ):
        raise env.fail(f"R{insn.dst} pointer comparison prohibited")
    if env.log.level:
        print_insn_state(env, this, this.curframe)
    return idx + 1
