"""ALU instructions: check_alu_op(), pointer arithmetic and its Spectre v1 sanitation.

Scalars go through scalar.adjust_scalar(); a pointer moved by a scalar keeps
its type with a new fixed offset (constant) or variable part, within the
limits check_reg_sane_offset() sets. For unprivileged loaders every pointer
move by a register is sanitized: the offset's sign must be known, the pointer
must be a stack or map-value pointer staying inside its object, and every path
through the instruction must agree on the masking (else "tried to add from
different maps, paths or scalars").
"""

from __future__ import annotations

import errno

from ..asm.printer import ALU_SYMBOLS
from ..isa import (
    BPF_ADD,
    BPF_ALU,
    BPF_ALU64,
    BPF_AND,
    BPF_ARSH,
    BPF_DIV,
    BPF_END,
    BPF_K,
    BPF_LSH,
    BPF_MOD,
    BPF_MOV,
    BPF_NEG,
    BPF_OR,
    BPF_RSH,
    BPF_SUB,
    BPF_TO_LE,
    BPF_X,
    BPF_XOR,
    MAX_BPF_STACK,
    Insn,
)
from . import reg as R
from . import tnum as tn
from .env import Env, Refusal
from .memory import check_map_access
from .operands import (
    DST_OP,
    DST_OP_NO_MARK,
    SRC_OP,
    assign_scalar_id_before_mov,
    check_reg_arg,
    clear_scalar_id,
    is_pointer_value,
)
from .paths import push_stack
from .precision import mark_chain_precision
from .reg import Reg
from .scalar import adjust_scalar, is_safe_to_compute_dst_reg_range
from .tnum import U32

BPF_MAX_VAR_OFF = 1 << 29
REASON_BOUNDS, REASON_TYPE, REASON_PATHS, REASON_LIMIT, REASON_STACK = -1, -2, -3, -4, -5
BPF_ALU_SANITIZE_SRC, BPF_ALU_SANITIZE_DST = 1, 2
BPF_ALU_NEG_VALUE, BPF_ALU_NON_POINTER, BPF_ALU_IMMEDIATE = 1 << 2, 1 << 3, 1 << 4


def _sanity(env: Env, r: Reg, ctx: str) -> None:
    """reg_bounds_sanity_check(): report and reset, as the kernel does without test flags."""
    msg = R.bounds_violation(r)
    if msg is not None:
        env.verbose(R.invariants_message(r, ctx, msg) + "\n")
        R.mark_unbounded(r)


def check_alu_op(env: Env, insn: Insn) -> None:
    regs = env.regs
    op = insn.code & 0xF0
    cls = insn.code & 0x07
    src_x = insn.code & 0x08 == BPF_X
    if op in (BPF_END, BPF_NEG):
        if op == BPF_NEG:
            if src_x or insn.src or insn.off or insn.imm:
                raise env.fail("BPF_NEG uses reserved fields", errno.EINVAL)
        elif (
            insn.src
            or insn.off
            or insn.imm not in (16, 32, 64)
            or (cls == BPF_ALU64 and insn.code & 0x08 != BPF_TO_LE)
        ):
            raise env.fail("BPF_END uses reserved fields", errno.EINVAL)
        check_reg_arg(env, insn.dst, SRC_OP)
        if is_pointer_value(env, insn.dst):
            raise env.fail(f"R{insn.dst} pointer arithmetic prohibited")
        if regs[insn.dst].type == R.SCALAR_VALUE:
            check_reg_arg(env, insn.dst, DST_OP_NO_MARK)
            d = regs[insn.dst]
            if op == BPF_NEG:
                adjust_scalar(BPF_NEG, cls != BPF_ALU64, d, d)
            else:
                scalar_byte_swap(d, insn)
        else:
            check_reg_arg(env, insn.dst, DST_OP)
        return
    if op == BPF_MOV:
        if src_x:
            allowed = (0, 8, 16) if cls == BPF_ALU else (0, 8, 16, 32)
            if insn.off not in allowed or insn.imm:
                raise env.fail("BPF_MOV uses reserved fields", errno.EINVAL)
            check_reg_arg(env, insn.src, SRC_OP)
        elif insn.src or insn.off:
            raise env.fail("BPF_MOV uses reserved fields", errno.EINVAL)
        check_reg_arg(env, insn.dst, DST_OP_NO_MARK)
        d = regs[insn.dst]
        if src_x:
            s = regs[insn.src]
            if cls == BPF_ALU64:
                if insn.off == 0:
                    assign_scalar_id_before_mov(env, s)
                    d.assign(s)
                else:
                    if is_pointer_value(env, insn.src):
                        raise env.fail(f"R{insn.src} sign-extension part of pointer")
                    if s.type == R.SCALAR_VALUE:
                        no_sext = s.umax < 1 << (insn.off - 1)
                        if no_sext:
                            assign_scalar_id_before_mov(env, s)
                        d.assign(s)
                        if not no_sext:
                            clear_scalar_id(d)
                        R.coerce_reg_to_size_sx(d, insn.off >> 3)
                    else:
                        R.mark_unknown(d, env.bpf_capable)
            else:
                if is_pointer_value(env, insn.src):
                    raise env.fail(f"R{insn.src} partial copy of pointer")
                if s.type == R.SCALAR_VALUE:
                    if insn.off == 0:
                        u32_src = R.reg_width(s) <= 32
                        if u32_src:
                            assign_scalar_id_before_mov(env, s)
                        d.assign(s)
                        if not u32_src:
                            clear_scalar_id(d)
                    else:
                        no_sext = s.umax < 1 << (insn.off - 1)
                        if no_sext:
                            assign_scalar_id_before_mov(env, s)
                        d.assign(s)
                        if not no_sext:
                            clear_scalar_id(d)
                        R.coerce_subreg_to_size_sx(d, insn.off >> 3)
                else:
                    R.mark_unknown(d, env.bpf_capable)
                R.zext_32_to_64(d)
                R.reg_bounds_sync(d)
        else:
            R.mark_unknown(d, env.bpf_capable)
            d.type = R.SCALAR_VALUE
            R.mark_known(d, insn.imm if cls == BPF_ALU64 else insn.imm & U32)
        return
    if op > BPF_END:
        raise env.fail(f"invalid BPF_ALU opcode {op:x}", errno.EINVAL)
    if src_x:
        if insn.imm or insn.off not in (0, 1) or (insn.off == 1 and op not in (BPF_MOD, BPF_DIV)):
            raise env.fail("BPF_ALU uses reserved fields", errno.EINVAL)
        check_reg_arg(env, insn.src, SRC_OP)
    elif insn.src or insn.off not in (0, 1) or (insn.off == 1 and op not in (BPF_MOD, BPF_DIV)):
        raise env.fail("BPF_ALU uses reserved fields", errno.EINVAL)
    check_reg_arg(env, insn.dst, SRC_OP)
    if op in (BPF_MOD, BPF_DIV) and not src_x and insn.imm == 0:
        raise env.fail("div by zero", errno.EINVAL)
    if op in (BPF_LSH, BPF_RSH, BPF_ARSH) and not src_x:
        size = 64 if cls == BPF_ALU64 else 32
        if insn.imm < 0 or insn.imm >= size:
            raise env.fail(f"invalid shift {insn.imm}", errno.EINVAL)
    check_reg_arg(env, insn.dst, DST_OP_NO_MARK)
    adjust_reg_min_max_vals(env, insn)
    _sanity(env, regs[insn.dst], "alu")


def _swap_bytes(v: int, nbytes: int) -> int:
    return int.from_bytes((v & ((1 << (nbytes * 8)) - 1)).to_bytes(nbytes, "little"), "big")


def scalar_byte_swap(d: Reg, insn: Insn) -> None:
    """scalar_byte_swap(): BPF_END on a scalar (x86-64 is little endian).

    ``bswap*`` and ``be*`` swap the tnum's bytes and forget the ranges; ``le64``
    changes nothing; 16- and 32-bit forms then truncate as coerce_reg_to_size()
    does, which keeps what the ranges knew of the low bits.
    """
    nbytes = insn.imm // 8
    swap = insn.code & 0x07 == BPF_ALU64 or insn.code & 0x08 != BPF_TO_LE
    if not swap and nbytes == 8:
        return
    clear_scalar_id(d)
    if swap:
        v, m = d.var
        d.var = tn.Tnum(_swap_bytes(v, nbytes), _swap_bytes(m, nbytes))
        R.mark_unbounded(d)
    if nbytes < 8:
        R.coerce_reg_to_size(d, nbytes)
    R.reg_bounds_sync(d)


def adjust_reg_min_max_vals(env: Env, insn: Insn) -> None:
    regs = env.regs
    d = regs[insn.dst]
    op = insn.code & 0xF0
    alu32 = insn.code & 0x07 != BPF_ALU64
    ptr = d if d.type != R.SCALAR_VALUE else None
    if insn.code & 0x08 == BPF_X:
        s = regs[insn.src]
        if s.type != R.SCALAR_VALUE:
            if d.type != R.SCALAR_VALUE:
                if op == BPF_SUB and env.allow_ptr_leaks:
                    R.mark_unknown(d, env.bpf_capable)
                    return
                raise env.fail(f"R{insn.dst} pointer {ALU_SYMBOLS[op]} pointer prohibited")
            mark_chain_precision(env, insn.dst)
            adjust_ptr_min_max_vals(env, insn, s, d)
            return
        if ptr is not None:
            mark_chain_precision(env, insn.src)
            adjust_ptr_min_max_vals(env, insn, d, s)
            return
        if d.precise:
            mark_chain_precision(env, insn.src)
        src = s
    else:
        src = Reg()
        src.type = R.SCALAR_VALUE
        R.mark_known(src, insn.imm)
        if ptr is not None:
            adjust_ptr_min_max_vals(env, insn, ptr, src)
            return
    # two scalars
    was_u32 = R.reg_width(d) <= 32
    if not is_safe_to_compute_dst_reg_range(op, alu32, src):
        R.mark_unknown(d, env.bpf_capable)
    else:
        if op in (BPF_ADD, BPF_SUB):
            sanitize_val_alu(env, insn)
        if op in (BPF_AND, BPF_OR) and src.var.is_const:
            maybe_fork_scalars(env, insn, d)
        adjust_scalar(op, alu32, d, src.copy() if src is d else src)
    link_const(env, insn, d, src, op, alu32, was_u32)


def maybe_fork_scalars(env: Env, insn: Insn, d: Reg) -> None:
    """maybe_fork_scalars(): a destination that is -1 or 0 (``x s>>= 63``) is split in two.

    The pushed path re-executes the instruction with the destination 0, the current
    one goes on with -1, so ``(x s>> 63) & K`` is exactly 0 or K on each path.
    Whether the 64- or the 32-bit range decides follows the register, not the
    instruction class (as the kernel does).
    """
    if d.smin == -1 and d.smax == 0:
        mark = R.mark_known
    elif d.s32min == -1 and d.s32max == 0:
        mark = R.mark32_known
    else:
        return
    branch = push_stack(env, env.insn_idx, env.insn_idx, False)
    mark(branch.frame[branch.curframe].regs[insn.dst], 0)
    mark(d, -1)


def link_const(env: Env, insn: Insn, d: Reg, src: Reg, op: int, alu32: bool, was_u32: bool) -> None:
    """Remember ``dst = linked + K`` so that a later comparison of either bounds both.

    Linux 6.18.44 keeps the link for BPF_ADD and BPF_SUB of a constant, 64- and
    32-bit (when the register fitted in 32 bits), negative constants included; any
    other operation forgets it.
    """
    self_add = insn.code & 0x08 == BPF_X and insn.src == insn.dst
    if not (env.bpf_capable and op in (BPF_ADD, BPF_SUB) and d.id and not self_add):
        clear_scalar_id(d)
        return
    if not R.reg_is_const(src, alu32):
        clear_scalar_id(d)
        return
    val = R.reg_const_value(src, alu32)
    if not alu32 and not R.S32_MIN <= R.s64(val) <= R.S32_MAX:
        clear_scalar_id(d)
        return
    if alu32 and (d.id & R.BPF_ADD_CONST64 or not was_u32):
        # wX = wY + K says nothing of rY's upper half unless rY fit in 32 bits
        clear_scalar_id(d)
        return
    off = R.s32(val)
    if op == BPF_SUB:
        if off == R.S32_MIN:
            clear_scalar_id(d)
            return
        off = -off
    if d.id & R.BPF_ADD_CONST:
        clear_scalar_id(d)
        return
    d.id |= R.BPF_ADD_CONST32 if alu32 else R.BPF_ADD_CONST64
    d.off = off


def can_skip_alu_sanitation(env: Env, insn: Insn) -> bool:
    """can_skip_alu_sanitation(): root, an immediate operand, or a nospec already placed here.

    A speculative path refused at this instruction leaves a nospec barrier on it
    (check.py); the instruction then needs no masking on any path.
    """
    return env.bypass_spec_v1 or insn.code & 0x08 == BPF_K or env.aux[env.insn_idx].nospec


def sanitize_val_alu(env: Env, insn: Insn) -> None:
    if can_skip_alu_sanitation(env, insn):
        return
    err = update_alu_sanitation_state(env, BPF_ALU_NON_POINTER, 0)
    if err < 0:
        raise sanitize_err(env, insn, err)


def update_alu_sanitation_state(env: Env, alu_state: int, alu_limit: int) -> int:
    aux = env.aux[env.insn_idx]
    if aux.alu_state and (aux.alu_state != alu_state or aux.alu_limit != alu_limit):
        return REASON_PATHS
    aux.alu_state = alu_state
    aux.alu_limit = alu_limit
    return 0


def sanitize_err(env: Env, insn: Insn, reason: int) -> Refusal:
    err = "pointer arithmetic with it prohibited for !root"
    op = "add" if insn.code & 0xF0 == BPF_ADD else "sub"
    d, s = insn.dst, insn.src
    # Linux 6.18.44 hands adjust_ptr_min_max_vals() a copy of the offset register, so
    # sanitize_err()'s "off_reg == dst_reg" never holds: these name src and dst as below
    if reason == REASON_BOUNDS:
        return env.fail(f"R{s} has unknown scalar with mixed signed bounds, {err}")
    if reason == REASON_TYPE:
        return env.fail(f"R{d} has pointer with unsupported alu operation, {err}")
    if reason == REASON_PATHS:
        return env.fail(f"R{d} tried to {op} from different maps, paths or scalars, {err}")
    if reason == REASON_LIMIT:
        return env.fail(f"R{d} tried to {op} beyond pointer bounds, {err}")
    return env.fail(f"R{d} could not be pushed for speculative verification, {err}")


def _retrieve_ptr_limit(ptr: Reg, mask_to_left: bool) -> tuple[int, int]:
    """retrieve_ptr_limit(): (error, limit)."""
    base = ptr.type & R.BASE_MASK
    if ptr.type == R.PTR_TO_STACK:
        mx = MAX_BPF_STACK + (1 if mask_to_left else 0)
        limit = (-(R.s64(ptr.var.value) + ptr.off)) & U32
    elif ptr.type == R.PTR_TO_MAP_VALUE:
        mx = ptr.map.value_size
        limit = ((ptr.smin if mask_to_left else ptr.umax) + ptr.off) & U32
    else:
        del base
        return REASON_TYPE, 0
    if limit >= mx:
        return REASON_LIMIT, 0
    return 0, limit


class _SanitizeInfo:
    __slots__ = ("alu_state", "alu_limit", "mask_to_left")

    def __init__(self) -> None:
        self.alu_state = 0
        self.alu_limit = 0
        self.mask_to_left = False


def sanitize_ptr_alu(
    env: Env,
    insn: Insn,
    ptr: Reg,
    off: Reg,
    dst: Reg,
    info: _SanitizeInfo,
    commit: bool,
    off_snapshot: tuple[bool, bool],
) -> int:
    if can_skip_alu_sanitation(env, insn):
        return 0
    off_is_imm, off_is_neg = off_snapshot
    ptr_is_dst = ptr is dst
    op = insn.code & 0xF0
    if not env.cur_state.speculative:
        if not commit:
            if off.var.mask != 0 and (off.smin < 0) != (off.smax < 0):
                return REASON_BOUNDS
            info.mask_to_left = (op == BPF_ADD and off_is_neg) or (op == BPF_SUB and not off_is_neg)
        err, limit = _retrieve_ptr_limit(ptr, info.mask_to_left)
        if err < 0:
            return err
        if commit:
            alu_state = info.alu_state
            limit = abs(info.alu_limit - limit)
        else:
            alu_state = BPF_ALU_NEG_VALUE if off_is_neg else 0
            alu_state |= BPF_ALU_IMMEDIATE if off_is_imm else 0
            alu_state |= BPF_ALU_SANITIZE_SRC if ptr_is_dst else BPF_ALU_SANITIZE_DST
            if not off_is_imm:
                env.explore_alu_limits = True
            info.alu_state = alu_state
            info.alu_limit = limit
        if commit:
            err = update_alu_sanitation_state(env, alu_state, limit)
            if err < 0:
                return err
    if commit or off_is_imm:
        return 0
    # simulate the truncated pointer on a speculative path
    saved = None
    if not ptr_is_dst:
        saved = dst.copy()
        dst.assign(ptr)
    push_stack(env, env.insn_idx + 1, env.insn_idx, True)
    if saved is not None:
        dst.assign(saved)
    return 0


def _check_reg_sane_offset_scalar(env: Env, r: Reg, ptr_type: int) -> None:
    """check_reg_sane_offset_scalar(): the scalar moving a pointer is bounded and sane."""
    t = R.reg_type_str(ptr_type)
    val = R.s64(r.var.value)
    if r.var.mask == 0 and (val >= BPF_MAX_VAR_OFF or val <= -BPF_MAX_VAR_OFF):
        raise env.fail(f"math between {t} pointer and {val} is not allowed", errno.EINVAL)
    if r.smin == R.S64_MIN:
        raise env.fail(
            f"math between {t} pointer and register with unbounded min value is not allowed",
            errno.EINVAL,
        )
    if r.smin >= BPF_MAX_VAR_OFF or r.smin <= -BPF_MAX_VAR_OFF:
        raise env.fail(f"value {r.smin} makes {t} pointer be out of bounds", errno.EINVAL)


def _check_reg_sane_offset_ptr(env: Env, r: Reg, ptr_type: int) -> None:
    """check_reg_sane_offset_ptr(): a pointer's fixed and variable offsets stay within 2^29."""
    t = R.reg_type_str(ptr_type)
    val = R.s64(r.var.value)
    if r.var.mask == 0 and (val >= BPF_MAX_VAR_OFF or val <= -BPF_MAX_VAR_OFF):
        raise env.fail(f"{t} pointer offset {val} is not allowed", errno.EINVAL)
    if r.off >= BPF_MAX_VAR_OFF or r.off <= -BPF_MAX_VAR_OFF:
        raise env.fail(f"{t} pointer offset {r.off} is not allowed", errno.EINVAL)
    if r.smin >= BPF_MAX_VAR_OFF or r.smin <= -BPF_MAX_VAR_OFF:
        raise env.fail(f"{t} pointer offset {r.smin} is not allowed", errno.EINVAL)


def _sanitize_check_bounds(env: Env, insn: Insn, d: Reg) -> int:
    """sanitize_check_bounds(): for !root the moved pointer must stay inside its object."""
    if env.bypass_spec_v1:
        return 0
    if d.type == R.PTR_TO_STACK:
        off = d.off + R.s64(d.var.value)
        if d.var.mask != 0:
            raise env.fail(
                f"R{insn.dst} variable stack access prohibited for !root, "
                f"var_off={tn.tnum_str(d.var)} off={off}"
            )
        if off >= 0 or off < -MAX_BPF_STACK:
            raise env.fail(
                f"R{insn.dst} stack pointer arithmetic goes out of range, "
                f"prohibited for !root; off={off}"
            )
        return 0
    if d.type == R.PTR_TO_MAP_VALUE:
        try:
            check_map_access(env, insn.dst, d.off, 1, False, helper=True)
        except Refusal:
            raise env.fail(
                f"R{insn.dst} pointer arithmetic of map value goes out of range, "
                "prohibited for !root"
            ) from None
        return 0
    return -errno.EOPNOTSUPP


def adjust_ptr_min_max_vals(env: Env, insn: Insn, ptr: Reg, off: Reg) -> None:
    d = env.regs[insn.dst]
    op = insn.code & 0xF0
    known = off.var.mask == 0
    smin_val, smax_val, umin_val, umax_val = off.smin, off.smax, off.umin, off.umax
    smin_ptr, smax_ptr, umin_ptr, umax_ptr = ptr.smin, ptr.smax, ptr.umin, ptr.umax
    off_var, ptr_var = off.var, ptr.var
    off_snapshot = (known, smin_val < 0)
    if (
        (known and (smin_val != smax_val or umin_val != umax_val))
        or smin_val > smax_val
        or umin_val > umax_val
    ):
        R.mark_unknown(d, env.bpf_capable)
        return
    if insn.code & 0x07 != BPF_ALU64:
        if op == BPF_SUB and env.allow_ptr_leaks:
            R.mark_unknown(d, env.bpf_capable)
            return
        raise env.fail(f"R{insn.dst} 32-bit pointer arithmetic prohibited")
    if ptr.type & R.PTR_MAYBE_NULL:
        raise env.fail(
            f"R{insn.dst} pointer arithmetic on {R.reg_type_str(ptr.type)} prohibited, "
            "null-check it first"
        )
    base = ptr.type & R.BASE_MASK
    if base in (
        R.PTR_TO_CTX,
        R.PTR_TO_MAP_VALUE,
        R.PTR_TO_MAP_KEY,
        R.PTR_TO_STACK,
        R.PTR_TO_PACKET_META,
        R.PTR_TO_PACKET,
        R.PTR_TO_TP_BUFFER,
        R.PTR_TO_BTF_ID,
        R.PTR_TO_MEM,
        R.PTR_TO_BUF,
        R.PTR_TO_FUNC,
        R.CONST_PTR_TO_DYNPTR,
    ):
        pass
    elif base == R.PTR_TO_FLOW_KEYS and known:
        pass
    elif (
        base in (R.PTR_TO_FLOW_KEYS, R.CONST_PTR_TO_MAP)
        and known
        and smin_val == 0
        and op == BPF_ADD
    ):
        pass
    else:
        raise env.fail(f"R{insn.dst} pointer arithmetic on {R.reg_type_str(ptr.type)} prohibited")
    ptr_type, ptr_off = ptr.type, ptr.off
    ptr_head = (ptr.map, ptr.map_uid, ptr.range, ptr.mem_size, ptr.subprogno)
    d.type = ptr.type
    d.id = ptr.id
    _check_reg_sane_offset_scalar(env, off, ptr_type)
    _check_reg_sane_offset_ptr(env, ptr, ptr_type)
    R.mark32_unbounded(d)
    info = _SanitizeInfo()
    if op in (BPF_ADD, BPF_SUB):
        ret = sanitize_ptr_alu(env, insn, ptr, off, d, info, False, off_snapshot)
        if ret < 0:
            raise sanitize_err(env, insn, ret)

    def raw() -> None:
        d.map, d.map_uid, d.range, d.mem_size, d.subprogno = ptr_head

    if op == BPF_ADD:
        if known and -(1 << 31) <= ptr_off + smin_val <= (1 << 31) - 1:
            d.smin, d.smax, d.umin, d.umax = smin_ptr, smax_ptr, umin_ptr, umax_ptr
            d.var = ptr_var
            d.off = ptr_off + smin_val
            raw()
        else:
            lo, hi = smin_ptr + smin_val, smax_ptr + smax_val
            if not (R.S64_MIN <= lo <= R.S64_MAX and R.S64_MIN <= hi <= R.S64_MAX):
                d.smin, d.smax = R.S64_MIN, R.S64_MAX
            else:
                d.smin, d.smax = lo, hi
            ulo, uhi = umin_ptr + umin_val, umax_ptr + umax_val
            if ulo > tn.U64 or uhi > tn.U64:
                d.umin, d.umax = 0, tn.U64
            else:
                d.umin, d.umax = ulo, uhi
            d.var = tn.add(ptr_var, off_var)
            d.off = ptr_off
            raw()
            if base in (R.PTR_TO_PACKET, R.PTR_TO_PACKET_META):
                d.id = env.new_id()
                d.range = 0
    elif op == BPF_SUB:
        if d is off:
            raise env.fail(f"R{insn.dst} tried to subtract pointer from scalar")
        if ptr_type == R.PTR_TO_STACK:
            raise env.fail(f"R{insn.dst} subtraction from stack pointer prohibited")
        if known and -(1 << 31) <= ptr_off - smin_val <= (1 << 31) - 1:
            d.smin, d.smax, d.umin, d.umax = smin_ptr, smax_ptr, umin_ptr, umax_ptr
            d.var = ptr_var
            d.id = ptr.id
            d.off = ptr_off - smin_val
            raw()
        else:
            lo, hi = smin_ptr - smax_val, smax_ptr - smin_val
            if not (R.S64_MIN <= lo <= R.S64_MAX and R.S64_MIN <= hi <= R.S64_MAX):
                d.smin, d.smax = R.S64_MIN, R.S64_MAX
            else:
                d.smin, d.smax = lo, hi
            if umin_ptr < umax_val:
                d.umin, d.umax = 0, tn.U64
            else:
                d.umin, d.umax = umin_ptr - umax_val, umax_ptr - umin_val
            d.var = tn.sub(ptr_var, off_var)
            d.off = ptr_off
            raw()
            if base in (R.PTR_TO_PACKET, R.PTR_TO_PACKET_META):
                d.id = env.new_id()
                if smin_val < 0:
                    d.range = 0
    elif op in (BPF_AND, BPF_OR, BPF_XOR):
        raise env.fail(f"R{insn.dst} bitwise operator {ALU_SYMBOLS[op]} on pointer prohibited")
    else:
        raise env.fail(f"R{insn.dst} pointer arithmetic with {ALU_SYMBOLS[op]} operator prohibited")
    _check_reg_sane_offset_ptr(env, d, ptr_type)
    R.reg_bounds_sync(d)
    bounds_ret = _sanitize_check_bounds(env, insn, d)
    if op in (BPF_ADD, BPF_SUB):
        ret = sanitize_ptr_alu(env, insn, d, off, d, info, True, off_snapshot)
        if (
            ret == 0
            and bounds_ret
            and not can_skip_alu_sanitation(env, insn)
            and not env.cur_state.speculative
        ):
            raise env.fail(
                "verifier internal error: pointer type unsupported by sanitation", errno.EFAULT
            )
        if ret < 0:
            raise sanitize_err(env, insn, ret)
