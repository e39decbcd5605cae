"""ALU on two scalars: adjust_scalar_min_max_vals() and its per-operation range rules.

Every operation computes the 32-bit and 64-bit signed and unsigned ranges and
the tnum separately, exactly as kernel/bpf/verifier.c (Linux 6.18) does, then
reg_bounds_sync() lets them refine each other. Operations the kernel does not
model (DIV, MOD, shifts by a non-constant or too far) give an unknown scalar.
"""

from __future__ import annotations

from ..isa import (
    BPF_ADD,
    BPF_AND,
    BPF_ARSH,
    BPF_LSH,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RSH,
    BPF_SUB,
    BPF_XOR,
)
from . import reg as R
from . import tnum as tn
from .reg import S32_MAX, S32_MIN, S64_MAX, S64_MIN, Reg
from .tnum import U32, U64


def _s32_ok(v: int) -> bool:
    return S32_MIN <= v <= S32_MAX


def _s64_ok(v: int) -> bool:
    return S64_MIN <= v <= S64_MAX


# --- ADD / SUB ------------------------------------------------------------------------------
def scalar32_add(d: Reg, s: Reg) -> None:
    lo, hi = d.s32min + s.s32min, d.s32max + s.s32max
    if not (_s32_ok(lo) and _s32_ok(hi)):
        d.s32min, d.s32max = S32_MIN, S32_MAX
    else:
        d.s32min, d.s32max = lo, hi
    umin, umax = d.u32min + s.u32min, d.u32max + s.u32max
    min_over, max_over = umin > U32, umax > U32
    if not min_over and max_over:
        d.u32min, d.u32max = 0, U32
    else:
        d.u32min, d.u32max = umin & U32, umax & U32


def scalar64_add(d: Reg, s: Reg) -> None:
    lo, hi = d.smin + s.smin, d.smax + s.smax
    if not (_s64_ok(lo) and _s64_ok(hi)):
        d.smin, d.smax = S64_MIN, S64_MAX
    else:
        d.smin, d.smax = lo, hi
    umin, umax = d.umin + s.umin, d.umax + s.umax
    if umin <= U64 and umax > U64:
        d.umin, d.umax = 0, U64
    else:
        d.umin, d.umax = umin & U64, umax & U64


def scalar32_sub(d: Reg, s: Reg) -> None:
    lo, hi = d.s32min - s.s32max, d.s32max - s.s32min
    if not (_s32_ok(lo) and _s32_ok(hi)):
        d.s32min, d.s32max = S32_MIN, S32_MAX
    else:
        d.s32min, d.s32max = lo, hi
    umin, umax = d.u32min - s.u32max, d.u32max - s.u32min
    if umin < 0 and umax >= 0:
        d.u32min, d.u32max = 0, U32
    else:
        d.u32min, d.u32max = umin & U32, umax & U32


def scalar64_sub(d: Reg, s: Reg) -> None:
    lo, hi = d.smin - s.smax, d.smax - s.smin
    if not (_s64_ok(lo) and _s64_ok(hi)):
        d.smin, d.smax = S64_MIN, S64_MAX
    else:
        d.smin, d.smax = lo, hi
    umin, umax = d.umin - s.umax, d.umax - s.umin
    if umin < 0 and umax >= 0:
        d.umin, d.umax = 0, U64
    else:
        d.umin, d.umax = umin & U64, umax & U64


# --- MUL -----------------------------------------------------------------------------------
def _mul32(d: Reg, s: Reg) -> None:
    umax, umin = d.u32max * s.u32max, d.u32min * s.u32min
    if umax > U32 or umin > U32:
        d.u32min, d.u32max = 0, U32
    else:
        d.u32min, d.u32max = umin, umax
    prods = (d.s32min * s.s32min, d.s32min * s.s32max, d.s32max * s.s32min, d.s32max * s.s32max)
    if all(_s32_ok(p) for p in prods):
        d.s32min, d.s32max = min(prods), max(prods)
    else:
        d.s32min, d.s32max = S32_MIN, S32_MAX


def _mul64(d: Reg, s: Reg) -> None:
    umax, umin = d.umax * s.umax, d.umin * s.umin
    if umax > U64 or umin > U64:
        d.umin, d.umax = 0, U64
    else:
        d.umin, d.umax = umin, umax
    prods = (d.smin * s.smin, d.smin * s.smax, d.smax * s.smin, d.smax * s.smax)
    if all(_s64_ok(p) for p in prods):
        d.smin, d.smax = min(prods), max(prods)
    else:
        d.smin, d.smax = S64_MIN, S64_MAX


# --- AND / OR / XOR ------------------------------------------------------------------------
def _signed32_from_u32(d: Reg) -> None:
    if R.s32(d.u32min) <= R.s32(d.u32max):
        d.s32min, d.s32max = R.s32(d.u32min), R.s32(d.u32max)
    else:
        d.s32min, d.s32max = S32_MIN, S32_MAX


def _signed64_from_u64(d: Reg) -> None:
    if R.s64(d.umin) <= R.s64(d.umax):
        d.smin, d.smax = R.s64(d.umin), R.s64(d.umax)
    else:
        d.smin, d.smax = S64_MIN, S64_MAX


def _and32(d: Reg, s: Reg) -> None:
    v32 = tn.subreg(d.var)
    if R.is_const32(s) and R.is_const32(d):
        R.mark32_known(d, v32.value)
        return
    d.u32min = v32.value
    d.u32max = min(d.u32max, s.u32max)
    _signed32_from_u32(d)


def _and64(d: Reg, s: Reg) -> None:
    if s.is_const and d.is_const:
        R.mark_known(d, d.var.value)
        return
    d.umin = d.var.value
    d.umax = min(d.umax, s.umax)
    _signed64_from_u64(d)
    R.update_reg_bounds(d)


def _or32(d: Reg, s: Reg) -> None:
    v32 = tn.subreg(d.var)
    if R.is_const32(s) and R.is_const32(d):
        R.mark32_known(d, v32.value)
        return
    d.u32min = max(d.u32min, s.u32min)
    d.u32max = v32.value | v32.mask
    _signed32_from_u32(d)


def _or64(d: Reg, s: Reg) -> None:
    if s.is_const and d.is_const:
        R.mark_known(d, d.var.value)
        return
    d.umin = max(d.umin, s.umin)
    d.umax = d.var.value | d.var.mask
    _signed64_from_u64(d)
    R.update_reg_bounds(d)


def _xor32(d: Reg, s: Reg) -> None:
    v32 = tn.subreg(d.var)
    if R.is_const32(s) and R.is_const32(d):
        R.mark32_known(d, v32.value)
        return
    d.u32min = v32.value
    d.u32max = v32.value | v32.mask
    _signed32_from_u32(d)


def _xor64(d: Reg, s: Reg) -> None:
    if s.is_const and d.is_const:
        R.mark_known(d, d.var.value)
        return
    d.umin = d.var.value
    d.umax = d.var.value | d.var.mask
    _signed64_from_u64(d)
    R.update_reg_bounds(d)


# --- shifts ----------------------------------------------------------------------------------
def _lsh32_bounds(d: Reg, umin_val: int, umax_val: int) -> None:
    d.s32min, d.s32max = S32_MIN, S32_MAX
    if umax_val > 31 or d.u32max > 1 << (31 - umax_val):
        d.u32min, d.u32max = 0, U32
    else:
        d.u32min = (d.u32min << umin_val) & U32
        d.u32max = (d.u32max << umax_val) & U32


def _lsh32(d: Reg, s: Reg) -> None:
    umin_val, umax_val = s.u32min, s.u32max
    sub = tn.subreg(d.var)
    _lsh32_bounds(d, umin_val, umax_val)
    d.var = tn.subreg(tn.lshift(sub, umin_val))
    R.mark64_unbounded(d)
    R.update_reg32_bounds(d)


def _lsh64_bounds(d: Reg, umin_val: int, umax_val: int) -> None:
    if umin_val == 32 and umax_val == 32 and d.s32max >= 0:
        d.smax = d.s32max << 32
    else:
        d.smax = S64_MAX
    if umin_val == 32 and umax_val == 32 and d.s32min >= 0:
        d.smin = d.s32min << 32
    else:
        d.smin = S64_MIN
    if d.umax > 1 << (63 - umax_val):
        d.umin, d.umax = 0, U64
    else:
        d.umin = (d.umin << umin_val) & U64
        d.umax = (d.umax << umax_val) & U64


def _lsh64(d: Reg, s: Reg) -> None:
    umin_val, umax_val = s.umin, s.umax
    _lsh64_bounds(d, umin_val, umax_val)
    _lsh32_bounds(d, umin_val, umax_val)
    d.var = tn.lshift(d.var, umin_val)
    R.update_reg_bounds(d)


def _rsh32(d: Reg, s: Reg) -> None:
    sub = tn.subreg(d.var)
    umin_val, umax_val = s.u32min, s.u32max
    d.s32min, d.s32max = S32_MIN, S32_MAX
    d.var = tn.rshift(sub, umin_val)
    d.u32min >>= umax_val
    d.u32max >>= umin_val
    R.mark64_unbounded(d)
    R.update_reg32_bounds(d)


def _rsh64(d: Reg, s: Reg) -> None:
    umin_val, umax_val = s.umin, s.umax
    d.smin, d.smax = S64_MIN, S64_MAX
    d.var = tn.rshift(d.var, umin_val)
    d.umin >>= umax_val
    d.umax >>= umin_val
    R.mark32_unbounded(d)
    R.update_reg_bounds(d)


def _arsh32(d: Reg, s: Reg) -> None:
    sh = s.u32min
    d.s32min >>= sh
    d.s32max >>= sh
    d.var = tn.arshift(tn.subreg(d.var), sh, 32)
    d.u32min, d.u32max = 0, U32
    R.mark64_unbounded(d)
    R.update_reg32_bounds(d)


def _arsh64(d: Reg, s: Reg) -> None:
    sh = s.umin
    d.smin >>= sh
    d.smax >>= sh
    d.var = tn.arshift(d.var, sh, 64)
    d.umin, d.umax = 0, U64
    R.mark32_unbounded(d)
    R.update_reg_bounds(d)


def is_safe_to_compute_dst_reg_range(op: int, alu32: bool, s: Reg) -> bool:
    """is_safe_to_compute_dst_reg_range(): which operations the kernel models."""
    if op in (BPF_ADD, BPF_SUB, BPF_NEG, BPF_AND, BPF_XOR, BPF_OR, BPF_MUL):
        return True
    if op in (BPF_LSH, BPF_RSH, BPF_ARSH):
        bits = 32 if alu32 else 64
        if alu32:
            const = R.is_const32(s) and s.s32min == s.s32max and s.u32min == s.u32max
        else:
            const = s.is_const and s.smin == s.smax and s.umin == s.umax
        return const and s.umax < bits
    return False


def adjust_scalar(op: int, alu32: bool, d: Reg, s: Reg) -> None:
    """The range and tnum arithmetic of adjust_scalar_min_max_vals() (safe ops only)."""
    if op == BPF_ADD:
        scalar32_add(d, s)
        scalar64_add(d, s)
        d.var = tn.add(d.var, s.var)
    elif op == BPF_SUB:
        scalar32_sub(d, s)
        scalar64_sub(d, s)
        d.var = tn.sub(d.var, s.var)
    elif op == BPF_NEG:
        fake = d.copy()
        R.mark_known(d, 0)
        scalar32_sub(d, fake)
        scalar64_sub(d, fake)
        d.var = tn.neg(fake.var)
    elif op == BPF_MUL:
        d.var = tn.mul(d.var, s.var)
        _mul32(d, s)
        _mul64(d, s)
    elif op == BPF_AND:
        d.var = tn.and_(d.var, s.var)
        _and32(d, s)
        _and64(d, s)
    elif op == BPF_OR:
        d.var = tn.or_(d.var, s.var)
        _or32(d, s)
        _or64(d, s)
    elif op == BPF_XOR:
        d.var = tn.xor(d.var, s.var)
        _xor32(d, s)
        _xor64(d, s)
    elif op == BPF_LSH:
        (_lsh32 if alu32 else _lsh64)(d, s)
    elif op == BPF_RSH:
        (_rsh32 if alu32 else _rsh64)(d, s)
    elif op == BPF_ARSH:
        (_arsh32 if alu32 else _arsh64)(d, s)
    if alu32:
        R.zext_32_to_64(d)
    R.reg_bounds_sync(d)
