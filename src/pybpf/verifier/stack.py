"""The stack: spills and fills, byte kinds, bounds (kernel/bpf/verifier.c, Linux 6.18).

Each frame's stack is a list of 8-byte slots. A slot holds a spilled register
(all eight bytes STACK_SPILL, or the low bytes for a narrow scalar spill) or
bytes that are STACK_MISC (some value), STACK_ZERO (known zero) or
STACK_INVALID (never written). An aligned 8-byte spill keeps the register's
type and bounds; a fill gets them back. Unprivileged loaders may not read
uninitialized bytes, not overwrite part of a spilled pointer, not use
variable offsets.

Reads and writes are also reported to the stack liveness analysis
(liveness.StackLiveness) and, for spills and fills, recorded in the jump
history so that precision backtracking can follow a value through the stack.
"""

from __future__ import annotations

import errno

from ..isa import BPF_MEM, BPF_ST, MAX_BPF_STACK
from . import reg as R
from . import tnum as tn
from .env import Env
from .operands import assign_scalar_id_before_mov
from .precision import mark_chain_precision, push_jmp_history, stack_access_flags
from .reg import Reg
from .state import (
    BPF_REG_SIZE,
    STACK_DYNPTR,
    STACK_INVALID,
    STACK_MISC,
    STACK_SPILL,
    STACK_ZERO,
    FuncState,
)

BPF_MAX_VAR_OFF = 1 << 29


def func(env: Env, reg: Reg) -> FuncState:
    """func(): the frame a stack pointer points into."""
    return env.cur_state.frame[reg.frameno]


def is_spillable_regtype(t: int) -> bool:
    """is_spillable_regtype(): every pointer type a socket filter can hold, and scalars."""
    return (t & R.BASE_MASK) in (
        R.PTR_TO_MAP_VALUE,
        R.PTR_TO_STACK,
        R.PTR_TO_CTX,
        R.PTR_TO_PACKET,
        R.PTR_TO_PACKET_META,
        R.PTR_TO_PACKET_END,
        R.PTR_TO_FLOW_KEYS,
        R.CONST_PTR_TO_MAP,
        R.PTR_TO_SOCKET,
        R.PTR_TO_SOCK_COMMON,
        R.PTR_TO_TCP_SOCK,
        R.PTR_TO_XDP_SOCK,
        R.PTR_TO_BTF_ID,
        R.PTR_TO_BUF,
        R.PTR_TO_MEM,
        R.PTR_TO_FUNC,
        R.PTR_TO_MAP_KEY,
        R.PTR_TO_ARENA,
    )


def _scrub(t: int) -> int:
    """scrub_spilled_slot(): a spilled byte becomes STACK_MISC, zero and invalid stay."""
    return t if t in (STACK_INVALID, STACK_ZERO) else STACK_MISC


def save_register_state(env: Env, state: FuncState, spi: int, reg: Reg, size: int) -> None:
    """save_register_state(): spill ``reg`` into the low ``size`` bytes of slot ``spi``."""
    slot = state.stack[spi]
    slot.spilled.assign(reg)
    for i in range(BPF_REG_SIZE, BPF_REG_SIZE - size, -1):
        slot.types[i - 1] = STACK_SPILL
    for i in range(BPF_REG_SIZE - size, 0, -1):
        slot.types[i - 1] = _scrub(slot.types[i - 1])


def _is_bpf_st_mem(env: Env, insn_idx: int) -> bool:
    insn = env.insns[insn_idx]
    return insn is not None and insn.code & 0x07 == BPF_ST and insn.code & 0xE0 == BPF_MEM


# --- bounds --------------------------------------------------------------------------------
def check_stack_access_within_bounds(
    env: Env, regno: int, off: int, size: int, write: bool
) -> None:
    """check_stack_access_within_bounds(); grows the frame's stack to cover the access."""
    reg = env.regs[regno]
    state = func(env, reg)
    extra = " write to" if write else " read from"
    if reg.var.mask == 0:
        min_off = R.s64(reg.var.value) + off
        max_off = min_off + size
    else:
        if reg.smax >= BPF_MAX_VAR_OFF or reg.smin <= -BPF_MAX_VAR_OFF:
            raise env.fail(f"invalid unbounded variable-offset{extra} stack R{regno}")
        min_off = reg.smin + off
        max_off = reg.smax + off + size
    min_valid = -MAX_BPF_STACK if write or env.allow_uninit_stack else -state.allocated_stack
    err = 0
    if min_off < min_valid or min_off > -1:
        err = errno.EACCES
    elif max_off > 0:
        err = errno.EINVAL
    elif size < 0:
        err = errno.EFAULT
    if err:
        if reg.var.mask == 0:
            raise env.fail(f"invalid{extra} stack R{regno} off={off} size={size}", err)
        raise env.fail(
            f"invalid variable-offset{extra} stack R{regno} var_off={tn.tnum_str(reg.var)} "
            f"off={off} size={size}",
            err,
        )
    state.grow_stack(-min_off)
    sp = env.subprogs[state.subprogno]
    sp.stack_depth = max(sp.stack_depth, state.allocated_stack)


# --- writes ------------------------------------------------------------------------------
def check_stack_write_fixed_off(
    env: Env, state: FuncState, off: int, size: int, value_regno: int, insn_idx: int
) -> None:
    slot_no = -off - 1
    spi = slot_no // BPF_REG_SIZE
    slot = state.stack[spi]
    insn_flags = stack_access_flags(state.frameno, spi)
    if (
        not env.allow_ptr_leaks
        and slot.is_spilled
        and slot.spilled.type != R.SCALAR_VALUE
        and size != BPF_REG_SIZE
    ):
        raise env.fail("attempt to corrupt spilled pointer on stack")
    cur = env.cur_state.frame[-1]
    reg = cur.regs[value_regno] if value_regno >= 0 else None
    if not env.bypass_spec_v4:
        sanitize = reg is not None and is_spillable_regtype(reg.type)
        if not sanitize:
            sanitize = any(slot.types[i] not in (STACK_MISC, STACK_ZERO) for i in range(size))
        if sanitize:
            env.aux[insn_idx].nospec_result = True
    if off % BPF_REG_SIZE == 0 and size == BPF_REG_SIZE:
        env.live.mark_write(state.frameno, 1 << spi)
    env.slot_scratch(spi)
    if (
        reg is not None
        and off % BPF_REG_SIZE == 0
        and reg.type == R.SCALAR_VALUE
        and env.bpf_capable
    ):
        fits = R.reg_width(reg) <= 8 * size
        if fits:
            assign_scalar_id_before_mov(env, reg)
        save_register_state(env, state, spi, reg, size)
        if not fits:
            slot.spilled.id = 0
    elif (
        reg is None
        and off % BPF_REG_SIZE == 0
        and _is_bpf_st_mem(env, insn_idx)
        and env.bpf_capable
    ):
        insn = env.insns[insn_idx]
        assert insn is not None
        tmp = Reg()
        R.mark_known(tmp, insn.imm)
        tmp.type = R.SCALAR_VALUE
        save_register_state(env, state, spi, tmp, size)
    elif reg is not None and is_spillable_regtype(reg.type):
        if size != BPF_REG_SIZE:
            env.verbose_linfo(insn_idx, "; ")
            raise env.fail("invalid size of register spill")
        if state is not cur and reg.type == R.PTR_TO_STACK:
            raise env.fail(
                "cannot spill pointers to stack into stack frame of the caller", errno.EINVAL
            )
        save_register_state(env, state, spi, reg, size)
    else:
        kind = STACK_MISC
        slot.spilled.type = R.NOT_INIT
        if slot.is_special:
            for i in range(BPF_REG_SIZE):
                slot.types[i] = _scrub(slot.types[i])
        insn = env.insns[insn_idx]
        if (reg is not None and R.register_is_null(reg)) or (
            reg is None and _is_bpf_st_mem(env, insn_idx) and insn is not None and insn.imm == 0
        ):
            mark_chain_precision(env, value_regno)
            kind = STACK_ZERO
        for i in range(size):
            slot.types[(slot_no - i) % BPF_REG_SIZE] = kind
        insn_flags = 0
    if insn_flags:
        push_jmp_history(env, env.cur_state, insn_flags, 0)


def check_stack_write_var_off(
    env: Env, state: FuncState, ptr_regno: int, off: int, size: int, value_regno: int, insn_idx: int
) -> None:
    ptr = env.regs[ptr_regno]
    min_off = ptr.smin + off
    max_off = ptr.smax + off + size
    value = env.regs[value_regno] if value_regno >= 0 else None
    insn = env.insns[insn_idx]
    writing_zero = (value is not None and R.register_is_null(value)) or (
        value is None and _is_bpf_st_mem(env, insn_idx) and insn is not None and insn.imm == 0
    )
    zero_used = False
    for i in range(min_off, max_off):
        slot_no = -i - 1
        spi = slot_no // BPF_REG_SIZE
        slot = state.stack[spi]
        j = slot_no % BPF_REG_SIZE
        env.slot_scratch(spi)
        t = slot.types[j]
        if not env.allow_ptr_leaks and t not in (STACK_MISC, STACK_ZERO):
            raise env.fail(
                f"spilled ptr in range of var-offset stack write; insn {insn_idx}, ptr off: {i}",
                errno.EINVAL,
            )
        if writing_zero and t == STACK_SPILL and slot.is_spilled_scalar:
            sp = slot.spilled
            if sp.var.mask == 0 and sp.var.value == 0:
                zero_used = True
                continue
        slot.spilled.type = R.NOT_INIT
        new = STACK_MISC
        if writing_zero and t == STACK_ZERO:
            new = STACK_ZERO
            zero_used = True
        if t == STACK_INVALID and not env.allow_uninit_stack:
            raise env.fail(
                "uninit stack in range of var-offset write prohibited for !root; "
                f"insn {insn_idx}, off: {i}",
                errno.EINVAL,
            )
        slot.types[j] = new
    if zero_used:
        mark_chain_precision(env, value_regno)


def check_stack_write(
    env: Env, ptr_regno: int, off: int, size: int, value_regno: int, insn_idx: int
) -> None:
    reg = env.regs[ptr_regno]
    state = func(env, reg)
    if reg.var.mask == 0:
        check_stack_write_fixed_off(
            env, state, off + R.s64(reg.var.value), size, value_regno, insn_idx
        )
    else:
        check_stack_write_var_off(env, state, ptr_regno, off, size, value_regno, insn_idx)


# --- reads -------------------------------------------------------------------------------
def mark_reg_stack_read(
    env: Env, ptr_state: FuncState, min_off: int, max_off: int, dst_regno: int
) -> None:
    """mark_reg_stack_read(): all zero bytes give 0, anything else an unknown scalar."""
    regs = env.regs
    zeros = 0
    for i in range(min_off, max_off):
        slot_no = -i - 1
        spi = slot_no // BPF_REG_SIZE
        env.slot_scratch(spi)
        if ptr_state.stack[spi].types[slot_no % BPF_REG_SIZE] != STACK_ZERO:
            break
        zeros += 1
    if zeros == max_off - min_off:
        R.mark_const_zero(regs[dst_regno], env.bpf_capable)
    else:
        R.mark_unknown(regs[dst_regno], env.bpf_capable)


def check_stack_read_fixed_off(
    env: Env, reg_state: FuncState, off: int, size: int, dst_regno: int
) -> None:
    state = env.cur_state.frame[-1]
    slot_no = -off - 1
    spi = slot_no // BPF_REG_SIZE
    slot = reg_state.stack[spi]
    stype = slot.types
    reg = slot.spilled
    insn_flags = stack_access_flags(reg_state.frameno, spi)
    env.slot_scratch(spi)
    env.live.mark_read(reg_state.frameno, env.insn_idx, 1 << spi)
    if slot.is_spilled:
        spill_size = 1
        i = BPF_REG_SIZE - 1
        while i > 0 and stype[i - 1] == STACK_SPILL:
            spill_size += 1
            i -= 1
        if size != BPF_REG_SIZE or spill_size != BPF_REG_SIZE:
            if reg.type != R.SCALAR_VALUE:
                env.verbose_linfo(env.insn_idx, "; ")
                raise env.fail("invalid size of register fill")
            if dst_regno < 0:
                return
            if size <= spill_size and off % BPF_REG_SIZE == 0:
                d = state.regs[dst_regno]
                subreg_def = d.subreg_def
                d.assign(reg)
                d.subreg_def = subreg_def
                if R.reg_width(reg) > size * 8:
                    d.id = 0
            else:
                spill_cnt = zero_cnt = 0
                for i in range(size):
                    t = stype[(slot_no - i) % BPF_REG_SIZE]
                    if t == STACK_SPILL:
                        spill_cnt += 1
                        continue
                    if t == STACK_MISC:
                        continue
                    if t == STACK_ZERO:
                        zero_cnt += 1
                        continue
                    if t == STACK_INVALID and env.allow_uninit_stack:
                        continue
                    raise env.fail(f"invalid read from stack off {off}+{i} size {size}")
                if spill_cnt == size and reg.var.mask == 0 and reg.var.value == 0:
                    R.mark_const_zero(state.regs[dst_regno], env.bpf_capable)
                elif zero_cnt == size:
                    R.mark_const_zero(state.regs[dst_regno], env.bpf_capable)
                    insn_flags = 0
                else:
                    R.mark_unknown(state.regs[dst_regno], env.bpf_capable)
                    insn_flags = 0
        elif dst_regno >= 0:
            state.regs[dst_regno].assign(reg)
        elif reg.type != R.SCALAR_VALUE and not env.allow_ptr_leaks:
            raise env.fail(f"leaking pointer from stack off {off}")
    else:
        for i in range(size):
            t = stype[(slot_no - i) % BPF_REG_SIZE]
            if t in (STACK_MISC, STACK_ZERO):
                continue
            if t == STACK_INVALID and env.allow_uninit_stack:
                continue
            raise env.fail(f"invalid read from stack off {off}+{i} size {size}")
        if dst_regno >= 0:
            mark_reg_stack_read(env, reg_state, off, off + size, dst_regno)
        insn_flags = 0
    if insn_flags:
        push_jmp_history(env, env.cur_state, insn_flags, 0)


def check_stack_read(env: Env, ptr_regno: int, off: int, size: int, dst_regno: int) -> None:
    reg = env.regs[ptr_regno]
    state = func(env, reg)
    if reg.var.mask != 0 and dst_regno < 0:
        raise env.fail(
            "variable offset stack pointer cannot be passed into helper function; "
            f"var_off={tn.tnum_str(reg.var)} off={off} size={size}"
        )
    if reg.var.mask == 0:
        check_stack_read_fixed_off(env, state, off + R.s64(reg.var.value), size, dst_regno)
        return
    check_stack_range_initialized(env, ptr_regno, off, size, False, False, None)
    mark_reg_stack_read(env, state, reg.smin + off, reg.smax + off + size, dst_regno)


class RawMode:
    """The part of struct bpf_call_arg_meta a raw (uninitialized-memory) argument fills."""

    __slots__ = ("raw_mode", "access_size", "regno")

    def __init__(self, raw_mode: bool) -> None:
        self.raw_mode = raw_mode
        self.access_size = 0
        self.regno = -1


def check_stack_range_initialized(
    env: Env,
    regno: int,
    off: int,
    access_size: int,
    zero_size_allowed: bool,
    write: bool,
    meta: RawMode | None,
) -> None:
    """check_stack_range_initialized(): a helper (or a variable-offset read) may read it."""
    reg = env.regs[regno]
    state = func(env, reg)
    if access_size == 0 and not zero_size_allowed:
        raise env.fail("invalid zero-sized read")
    check_stack_access_within_bounds(env, regno, off, access_size, write)
    if reg.var.mask == 0:
        min_off = max_off = R.s64(reg.var.value) + off
    else:
        if not env.bypass_spec_v1:
            raise env.fail(
                f"R{regno} variable offset stack access prohibited for !root, "
                f"var_off={tn.tnum_str(reg.var)}"
            )
        if meta is not None and meta.raw_mode:
            meta = None
        min_off = reg.smin + off
        max_off = reg.smax + off
    if meta is not None and meta.raw_mode:
        for i in range(min_off, max_off + access_size):
            stack_off = -i - 1
            if state.allocated_stack <= stack_off:
                continue
            if (
                state.stack[stack_off // BPF_REG_SIZE].types[stack_off % BPF_REG_SIZE]
                == STACK_DYNPTR
            ):
                raise env.fail(f"potential write to dynptr at off={i} disallowed")
        meta.access_size = access_size
        meta.regno = regno
        return
    for i in range(min_off, max_off + access_size):
        slot_no = -i - 1
        spi = slot_no // BPF_REG_SIZE
        if state.allocated_stack <= slot_no:
            raise env.fail("allocated_stack too small", errno.EFAULT)
        slot = state.stack[spi]
        j = slot_no % BPF_REG_SIZE
        t = slot.types[j]
        ok = False
        if t == STACK_MISC:
            ok = True
        elif t == STACK_ZERO or (t == STACK_INVALID and env.allow_uninit_stack):
            if write:
                slot.types[j] = STACK_MISC
            ok = True
        elif slot.is_spilled and (slot.spilled.type == R.SCALAR_VALUE or env.allow_ptr_leaks):
            if write:
                R.mark_unknown(slot.spilled, env.bpf_capable)
                for k in range(BPF_REG_SIZE):
                    slot.types[k] = _scrub(slot.types[k])
            ok = True
        if not ok:
            if reg.var.mask == 0:
                raise env.fail(
                    f"invalid read from stack R{regno} off {min_off}+{i - min_off} "
                    f"size {access_size}"
                )
            raise env.fail(
                f"invalid read from stack R{regno} var_off {tn.tnum_str(reg.var)}+"
                f"{i - min_off} size {access_size}"
            )
        env.live.mark_read(reg.frameno, env.insn_idx, 1 << spi)
