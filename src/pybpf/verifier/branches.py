"""Conditional jumps: which way a comparison goes and what each side learns
(check_cond_jmp_op, is_branch_taken, reg_set_min_max in kernel/bpf/verifier.c).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..isa import (
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JLE,
    BPF_JLT,
    BPF_JNE,
    BPF_JSET,
    BPF_JSGE,
    BPF_JSGT,
    BPF_JSLE,
    BPF_JSLT,
    Insn,
    jump_target,
)
from . import state as S
from . import tnum as tn
from .env import VerifierEnv
from .state import RegState, StackSlot

if TYPE_CHECKING:
    from .check import _Path


class BranchChecks(VerifierEnv):
    """Mixed into pybpf.verifier.check.Verifier."""

    # ------------------------------------------------------------------ jumps
    def _check_cond_jmp(
        self, path: _Path, insn: Insn, info: Any, pc: int, pending: list[_Path]
    ) -> int | None:
        dst = self._read_reg(path, insn.dst, pc)
        if info.use_src_reg:
            src = self._read_reg(path, insn.src, pc)
        else:
            src = S.scalar_const(insn.imm if info.is64 else insn.imm & 0xFFFFFFFF)
        op = info.op
        target = jump_target(pc, insn)
        bits = 64 if info.is64 else 32
        if info.use_src_reg and src.is_pointer and not self.privileged:
            raise self._err(f"R{insn.src} pointer comparison prohibited", pc)
        if dst.is_pointer or src.is_pointer:
            # is_branch_taken: a pointer known not to be NULL never equals 0
            a, b = (dst, src) if _const_at(src, bits) is not None else (src, dst)
            # reg_not_null: only these types count (not stack or ctx pointers)
            # Deliberate deviation: Linux applies this to JMP32 too (the low half of a
            # valid pointer "is never 0"), but pybpf's VM maps regions at slot << 32, so
            # a valid pointer's low 32 bits can be 0; only 64-bit comparisons decide.
            if (
                bits == 64
                and a.type
                in (S.PTR_TO_MAP_VALUE, S.PTR_TO_MAP_KEY, S.PTR_TO_MEM, S.CONST_PTR_TO_MAP)
                and not a.maybe_null
                and b.type == S.SCALAR
                and _const_at(b, bits) == 0
                and op in (BPF_JEQ, BPF_JNE)
            ):
                return target if op == BPF_JNE else pc + 1
        # null checks of maybe-null pointers against 0
        for ptr_reg, other in ((dst, src), (src, dst)):
            if (
                ptr_reg.maybe_null
                and other.type == S.SCALAR
                and other.is_const
                and other.const == 0
                and op in (BPF_JEQ, BPF_JNE)
                and bits == 64
            ):
                is_eq = op == BPF_JEQ
                other_path = path.fork(target)
                # on the "== 0" side the pointer is NULL, elsewhere it is valid
                self._mark_null(path if is_eq else other_path, ptr_reg.id, null=False)
                self._mark_null(other_path if is_eq else path, ptr_reg.id, null=True)
                pending.append(other_path)
                return pc + 1
        if dst.is_pointer or src.is_pointer:
            if not self.privileged and not (dst.is_pointer and src.is_pointer):
                bad = insn.dst if dst.is_pointer else insn.src
                raise self._err(f"R{bad} pointer comparison prohibited", pc)
            if not self.privileged:
                raise self._err(f"R{insn.dst} pointer comparison prohibited", pc)
            other_path = path.fork(target)
            pending.append(other_path)
            return pc + 1
        taken = _branch_taken(op, dst, src, bits)
        if taken is True:
            return target
        if taken is False:
            return pc + 1
        t_dst, t_src, f_dst, f_src = _refine(op, dst, src, bits)
        other_path = path.fork(target)
        for p, d, s in ((other_path, t_dst, t_src), (path, f_dst, f_src)):
            p.cur.regs[insn.dst] = d
            if info.use_src_reg:
                p.cur.regs[insn.src] = s
        pending.append(other_path)
        return pc + 1

    def _mark_null(self, path: _Path, rid: int, *, null: bool) -> None:
        for f in path.frames:
            for i, r in enumerate(f.regs):
                if r.maybe_null and r.id == rid:
                    f.regs[i] = S.scalar_const(0) if null else replace(r, maybe_null=False)
            for k, slot in f.stack.items():
                sp = slot.spilled
                if sp is not None and sp.maybe_null and sp.id == rid:
                    f.stack[k] = StackSlot(
                        slot.kinds, S.scalar_const(0) if null else replace(sp, maybe_null=False)
                    )
        if null and path.refs:
            path.refs = tuple(x for x in path.refs if x[0] != rid)


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _view(r: RegState, bits: int) -> RegState:
    return r if bits == 64 else S.sub32(r)


def _branch_taken(op: int, dst: RegState, src: RegState, bits: int) -> bool | None:
    """is_branch_taken: True/False when the comparison is decided by the bounds."""
    a, b = _view(dst, bits), _view(src, bits)
    smin_a, smax_a, smin_b, smax_b = a.smin, a.smax, b.smin, b.smax
    if bits == 32:
        smin_a, smax_a = _s32range(a)
        smin_b, smax_b = _s32range(b)
    if op == BPF_JEQ:
        if a.is_const and b.is_const:
            return a.const == b.const
        if a.umin > b.umax or a.umax < b.umin:
            return False
        if smin_a > smax_b or smax_a < smin_b:
            return False
        if (a.var.value ^ b.var.value) & ~(a.var.mask | b.var.mask):
            return False  # a bit known in both differs
        lo_a, hi_a = _s32range(dst)
        lo_b, hi_b = _s32range(src)
        if lo_a > hi_b or hi_a < lo_b:
            return False  # the low 32 bits can never match
        return None
    if op == BPF_JNE:
        r = _branch_taken(BPF_JEQ, dst, src, bits)
        return None if r is None else not r
    if op == BPF_JSET:
        if not (a.var.value | a.var.mask) & (b.var.value | b.var.mask):
            return False
        if a.var.value & b.var.value:
            return True
        return None
    table = {
        BPF_JGT: (a.umin > b.umax, a.umax <= b.umin),
        BPF_JGE: (a.umin >= b.umax, a.umax < b.umin),
        BPF_JLT: (a.umax < b.umin, a.umin >= b.umax),
        BPF_JLE: (a.umax <= b.umin, a.umin > b.umax),
        BPF_JSGT: (smin_a > smax_b, smax_a <= smin_b),
        BPF_JSGE: (smin_a >= smax_b, smax_a < smin_b),
        BPF_JSLT: (smax_a < smin_b, smin_a >= smax_b),
        BPF_JSLE: (smax_a <= smin_b, smin_a > smax_b),
    }
    yes, no = table[op]
    if yes:
        return True
    if no:
        return False
    return None


def _s32range(r: RegState) -> tuple[int, int]:
    """Signed bounds of the low 32 bits (the kernel's s32_min/max_value)."""
    lo, hi = r.s32min, r.s32max
    if r.is_const:
        v = _signed(r.const, 32)
        return v, v
    if r.umax <= 0x7FFFFFFF:
        return max(lo, r.umin), min(hi, r.umax)
    if r.umin >= 0x80000000 and r.umax <= 0xFFFFFFFF:
        return max(lo, r.umin - (1 << 32)), min(hi, r.umax - (1 << 32))
    return lo, hi


def _refine(
    op: int, dst: RegState, src: RegState, bits: int
) -> tuple[RegState, RegState, RegState, RegState]:
    """reg_set_min_max: the bounds each side of a scalar comparison implies.

    Returns (dst if taken, src if taken, dst if not taken, src if not taken).
    Only 64-bit comparisons, and 32-bit ones on values known to fit in 32 bits,
    refine; anything else is left as it was (sound, less precise).
    """
    if bits == 32 and op in (BPF_JSGT, BPF_JSGE, BPF_JSLT, BPF_JSLE):
        return _refine_s32(op, dst, src)
    if bits == 32 and (dst.umax > 0xFFFFFFFF or src.umax > 0xFFFFFFFF):
        c = _const_at(src, 32)
        if (
            c is None
            or op not in _U32_SPLIT
            or not (-(1 << 31) <= dst.smin and dst.smax < (1 << 31))
        ):
            return dst, src, dst, src
        (tlo, thi), (flo, fhi) = _U32_SPLIT[op](c)
        return _u32_narrow(dst, tlo, thi), src, _u32_narrow(dst, flo, fhi), src

    def clamp(
        r: RegState,
        umin: int | None = None,
        umax: int | None = None,
        smin: int | None = None,
        smax: int | None = None,
    ) -> RegState:
        n = replace(
            r,
            umin=max(r.umin, umin) if umin is not None else r.umin,
            umax=min(r.umax, umax) if umax is not None else r.umax,
            smin=max(r.smin, smin) if smin is not None else r.smin,
            smax=min(r.smax, smax) if smax is not None else r.smax,
        )
        if n.umin > n.umax or n.smin > n.smax:
            return r  # impossible branch; the kernel would prune it, keeping it is sound
        return S.sync(n)

    def cmp(o: int, x: RegState, y: RegState) -> tuple[RegState, RegState]:
        """Refine x, y assuming ``x o y`` holds."""
        if o == BPF_JEQ:  # ==
            if y.is_const:
                return S.scalar_const(y.const), y
            if x.is_const:
                return x, S.scalar_const(x.const)
            return x, y
        if o == BPF_JNE:  # !=
            if y.is_const and x.umin == y.const and x.umin < x.umax:
                return clamp(x, umin=x.umin + 1), y
            if y.is_const and x.umax == y.const and x.umin < x.umax:
                return clamp(x, umax=x.umax - 1), y
            return x, y
        if o == BPF_JGT:  # x > y
            return clamp(x, umin=y.umin + 1), clamp(y, umax=max(x.umax - 1, 0))
        if o == BPF_JGE:  # x >= y
            return clamp(x, umin=y.umin), clamp(y, umax=x.umax)
        if o == BPF_JLT:  # x < y
            return clamp(x, umax=max(y.umax - 1, 0)) if y.umax else x, clamp(y, umin=x.umin + 1)
        if o == BPF_JLE:  # x <= y
            return clamp(x, umax=y.umax), clamp(y, umin=x.umin)
        if o == BPF_JSGT:  # s>
            return clamp(x, smin=y.smin + 1), clamp(y, smax=x.smax - 1)
        if o == BPF_JSGE:
            return clamp(x, smin=y.smin), clamp(y, smax=x.smax)
        if o == BPF_JSLT:  # s<
            return clamp(x, smax=y.smax - 1), clamp(y, smin=x.smin + 1)
        if o == BPF_JSLE:
            return clamp(x, smax=y.smax), clamp(y, smin=x.smin)
        if o == BPF_JSET:  # taken: nothing simple to learn
            return x, y
        return x, y

    negate = {
        BPF_JEQ: BPF_JNE,
        BPF_JNE: BPF_JEQ,
        BPF_JGT: BPF_JLE,
        BPF_JGE: BPF_JLT,
        BPF_JLT: BPF_JGE,
        BPF_JLE: BPF_JGT,
        BPF_JSGT: BPF_JSLE,
        BPF_JSGE: BPF_JSLT,
        BPF_JSLT: BPF_JSGE,
        BPF_JSLE: BPF_JSGT,
    }
    td, ts = cmp(op, dst, src)
    if op == BPF_JSET:  # not taken: the tested bits are zero
        fd = dst
        if src.is_const:
            fd = S.sync(replace(dst, var=tn.and_(dst.var, tn.const(~src.const))))
        return td, ts, fd, src
    fd, fs = cmp(negate[op], dst, src)
    return td, ts, fd, fs


_U32_MAX = 0xFFFFFFFF


#: u32 intervals of the left operand when a JMP32 unsigned comparison with c is taken / not
_U32_SPLIT = {
    BPF_JGT: lambda c: ((c + 1, _U32_MAX), (0, c)),  # >
    BPF_JGE: lambda c: ((c, _U32_MAX), (0, c - 1)),  # >=
    BPF_JLT: lambda c: ((0, c - 1), (c, _U32_MAX)),  # <
    BPF_JLE: lambda c: ((0, c), (c + 1, _U32_MAX)),  # <=
}


def _u32_narrow(r: RegState, lo: int, hi: int) -> RegState:
    """A 64-bit value within s32 range whose low 32 bits (as u32) lie in [lo, hi]."""
    parts = []
    if lo > hi:
        return r
    pos = (max(r.smin, 0, lo), min(r.smax, hi, (1 << 31) - 1))
    neg = (max(r.smin, lo - (1 << 32)), min(r.smax, -1, hi - (1 << 32)))
    for a, b in (pos, neg):
        if a <= b:
            parts.append((a, b))
    if not parts:
        return r  # impossible branch; keeping it is sound
    n = S.sync(replace(r, smin=min(a for a, _ in parts), smax=max(b for _, b in parts)))
    return r if S.bounds_empty(n) else n


def _const_at(r: RegState, bits: int) -> int | None:
    """The value of a scalar known at width ``bits`` (is_reg_const), else None."""
    if r.type != S.SCALAR:
        return None
    if bits == 64:
        return r.const if r.is_const else None
    low = tn.subreg(r.var)
    return low.value if low.mask == 0 else None


def _s32_within(old: RegState, cur: RegState) -> bool:
    if old.s32min == -(1 << 31) and old.s32max == (1 << 31) - 1:
        return True
    olo, ohi = _s32range(old)
    clo, chi = _s32range(cur)
    return clo >= olo and chi <= ohi


def _refine_s32(
    op: int, dst: RegState, src: RegState
) -> tuple[RegState, RegState, RegState, RegState]:
    """Signed JMP32 comparisons narrow the s32 bounds (reg_set_min_max, 32-bit half)."""
    negate = {BPF_JSGT: BPF_JSLE, BPF_JSGE: BPF_JSLT, BPF_JSLT: BPF_JSGE, BPF_JSLE: BPF_JSGT}

    def with32(r: RegState, lo: int, hi: int) -> RegState:
        if r.type != S.SCALAR:
            return r
        olo, ohi = _s32range(r)
        lo, hi = max(lo, olo), min(hi, ohi)
        if lo > hi:
            return r  # impossible branch; keeping it is sound
        n = S.sync(replace(r, s32min=lo, s32max=hi))
        return r if S.bounds_empty(n) else n

    def cmp(o: int, x: RegState, y: RegState) -> tuple[RegState, RegState]:
        xl, xh = _s32range(x)
        yl, yh = _s32range(y)
        if o == BPF_JSGT:  # x s> y
            return with32(x, yl + 1, xh), with32(y, yl, xh - 1)
        if o == BPF_JSGE:
            return with32(x, yl, xh), with32(y, yl, xh)
        if o == BPF_JSLT:  # x s< y
            return with32(x, xl, yh - 1), with32(y, xl + 1, yh)
        return with32(x, xl, yh), with32(y, xl, yh)  # s<=

    td, ts = cmp(op, dst, src)
    fd, fs = cmp(negate[op], dst, src)
    return td, ts, fd, fs
