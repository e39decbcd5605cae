"""Helper arguments: check_func_arg() and the memory it lets a helper touch.

Each argument register is checked against the prototype's argument type
(pybpf.helpers.proto, the kernel's enum bpf_arg_type): the register types it
accepts (compatible_reg_types), a pointer's offset, the memory a helper reads
or writes through it (check_helper_mem_access, with the size from the next
argument, check_mem_size_reg), and what the call learns on the way (the map,
a constant key, the callback, the reference being released) in
:class:`CallMeta` (struct bpf_call_arg_meta). kernel/bpf/verifier.c, Linux 6.18.
"""

from __future__ import annotations

import errno
from typing import Any

from ..errors import NotSupportedError
from ..helpers import proto as P
from ..helpers.proto import ArgType as A
from ..helpers.proto import Proto
from ..uapi import (
    BPF_F_RDONLY_PROG,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_BLOOM_FILTER,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_SOCKHASH,
    BPF_MAP_TYPE_SOCKMAP,
    BPF_FUNC_map_peek_elem,
)
from . import reg as R
from .env import Env
from .memory import (
    _rdonly_map_value,
    check_map_access,
    check_map_access_type,
    check_mem_access,
    check_mem_region_access,
    check_packet_access,
    check_ptr_alignment,
    check_ptr_off_reg,
    may_access_direct_pkt_data,
)
from .operands import SRC_OP, check_reg_arg, is_pointer_value
from .precision import Backtrack, mark_chain_precision
from .reg import Reg
from .stack import RawMode, check_stack_range_initialized, func
from .state import BPF_REG_SIZE, STACK_SPILL, STACK_ZERO

BPF_MAX_VAR_SIZ = 1 << 29

_MEM_TYPES = (
    R.PTR_TO_STACK,
    R.PTR_TO_PACKET,
    R.PTR_TO_PACKET_META,
    R.PTR_TO_MAP_KEY,
    R.PTR_TO_MAP_VALUE,
    R.PTR_TO_MEM,
    R.PTR_TO_MEM | R.MEM_RINGBUF,
    R.PTR_TO_BUF,
    R.PTR_TO_BTF_ID | int(P.PTR_TRUSTED),
)
#: compatible_reg_types[]: the register types each argument type accepts
COMPATIBLE: dict[int, tuple[int, ...]] = {
    A.ARG_PTR_TO_MAP_KEY: _MEM_TYPES,
    A.ARG_PTR_TO_MAP_VALUE: _MEM_TYPES,
    A.ARG_CONST_SIZE: (R.SCALAR_VALUE,),
    A.ARG_CONST_SIZE_OR_ZERO: (R.SCALAR_VALUE,),
    A.ARG_CONST_ALLOC_SIZE_OR_ZERO: (R.SCALAR_VALUE,),
    A.ARG_CONST_MAP_PTR: (R.CONST_PTR_TO_MAP,),
    A.ARG_PTR_TO_CTX: (R.PTR_TO_CTX,),
    A.ARG_PTR_TO_SOCK_COMMON: (
        R.PTR_TO_SOCK_COMMON,
        R.PTR_TO_SOCKET,
        R.PTR_TO_TCP_SOCK,
        R.PTR_TO_XDP_SOCK,
    ),
    A.ARG_PTR_TO_SOCKET: (R.PTR_TO_SOCKET,),
    A.ARG_PTR_TO_MEM: _MEM_TYPES,
    A.ARG_PTR_TO_RINGBUF_MEM: (R.PTR_TO_MEM | R.MEM_RINGBUF,),
    A.ARG_PTR_TO_FUNC: (R.PTR_TO_FUNC,),
    A.ARG_PTR_TO_STACK: (R.PTR_TO_STACK,),
    A.ARG_PTR_TO_CONST_STR: (R.PTR_TO_MAP_VALUE,),
}
#: argument types whose checks need kernel objects pybpf does not model
_UNMODELLED = frozenset(
    {
        A.ARG_PTR_TO_SPIN_LOCK,
        A.ARG_PTR_TO_TIMER,
        A.ARG_PTR_TO_DYNPTR,
        A.ARG_PTR_TO_BTF_ID,
        A.ARG_PTR_TO_BTF_ID_SOCK_COMMON,
        A.ARG_PTR_TO_PERCPU_BTF_ID,
        A.ARG_KPTR_XCHG_DEST,
        A.ARG_PTR_TO_ARENA,
    }
)


class CallMeta(RawMode):
    """struct bpf_call_arg_meta."""

    __slots__ = (
        "func_id",
        "map",
        "map_uid",
        "const_map_key",
        "subprogno",
        "release_regno",
        "ref_obj_id",
        "mem_size",
        "msize_max_value",
        "pkt_access",
    )

    def __init__(self, func_id: int) -> None:
        super().__init__(False)
        self.func_id = func_id
        self.map: Any = None
        self.map_uid = 0
        self.const_map_key = -1
        self.subprogno = -1
        self.release_regno = 0
        self.ref_obj_id = 0
        self.mem_size = 0
        self.msize_max_value = 0
        self.pkt_access = False


# --- memory a helper accesses ------------------------------------------------------------
def check_helper_mem_access(
    env: Env, regno: int, size: int, write: bool, zero_ok: bool, meta: RawMode | None
) -> None:
    reg = env.regs[regno]
    base = reg.type & R.BASE_MASK
    if base in (R.PTR_TO_PACKET, R.PTR_TO_PACKET_META):
        check_packet_access(env, regno, reg.off, size, zero_ok)
    elif base == R.PTR_TO_MAP_KEY:
        if write:
            raise env.fail(f"R{regno} cannot write into {R.reg_type_str(reg.type)}")
        check_mem_region_access(env, regno, reg.off, size, reg.map.key_size, False)
    elif base == R.PTR_TO_MAP_VALUE:
        check_map_access_type(env, regno, reg.off, size, write)
        check_map_access(env, regno, reg.off, size, zero_ok, helper=True)
    elif base == R.PTR_TO_MEM:
        if reg.type & R.MEM_RDONLY and write:
            raise env.fail(f"R{regno} cannot write into {R.reg_type_str(reg.type)}")
        check_mem_region_access(env, regno, reg.off, size, reg.mem_size, zero_ok)
    elif base == R.PTR_TO_STACK:
        check_stack_range_initialized(env, regno, reg.off, size, zero_ok, write, meta)
    else:
        if zero_ok and size == 0 and R.register_is_null(reg):
            return
        raise env.fail(
            f"R{regno} type={R.reg_type_str(reg.type)} expected={R.reg_type_str(R.PTR_TO_STACK)}"
        )


def check_mem_size_reg(
    env: Env, reg: Reg, regno: int, write: bool, zero_ok: bool, meta: CallMeta
) -> None:
    meta.msize_max_value = reg.umax
    raw: RawMode | None = meta if reg.var.mask == 0 else None
    if reg.smin < 0:
        raise env.fail(f"R{regno} min value is negative, either use unsigned or 'var &= const'")
    if reg.umin == 0 and not zero_ok:
        raise env.fail(
            f"R{regno} invalid zero-sized read: u64=[{R.s64(reg.umin)},{R.s64(reg.umax)}]"
        )
    if reg.umax >= BPF_MAX_VAR_SIZ:
        raise env.fail(
            f"R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'"
        )
    check_helper_mem_access(env, regno - 1, reg.umax, write, zero_ok, raw)
    mark_chain_precision(env, regno)


# --- register types ------------------------------------------------------------------------
def check_reg_type(env: Env, regno: int, arg_type: int) -> None:
    reg = env.regs[regno]
    t = reg.type
    if arg_type & P.MEM_RDONLY:
        t &= ~R.MEM_RDONLY
    if arg_type & P.PTR_MAYBE_NULL:
        t &= ~R.PTR_MAYBE_NULL
    compatible = COMPATIBLE[P.base_type(arg_type)]
    if t in compatible:
        if reg.type & R.BASE_MASK == R.PTR_TO_BTF_ID:
            raise NotSupportedError(
                f"insn {env.insn_idx}: passing a BTF pointer (R{regno}) to a helper is not "
                "modelled by pybpf"
            )
        return
    names = ", ".join(R.reg_type_str(x) for x in compatible)
    raise env.fail(f"R{regno} type={R.reg_type_str(reg.type)} expected={names}")


def check_func_arg_reg_off(env: Env, reg: Reg, regno: int, arg_type: int) -> None:
    if arg_type & P.OBJ_RELEASE:
        if reg.off:
            raise env.fail(
                f"R{regno} must have zero offset when passed to release func or trusted arg "
                "to kfunc",
                errno.EINVAL,
            )
        check_ptr_off_reg(env, reg, regno)
        return
    if reg.type in (
        R.PTR_TO_STACK,
        R.PTR_TO_PACKET,
        R.PTR_TO_PACKET_META,
        R.PTR_TO_MAP_KEY,
        R.PTR_TO_MAP_VALUE,
        R.PTR_TO_MEM,
        R.PTR_TO_MEM | R.MEM_RDONLY,
        R.PTR_TO_MEM | R.MEM_RINGBUF,
        R.PTR_TO_BUF,
        R.PTR_TO_BUF | R.MEM_RDONLY,
        R.PTR_TO_ARENA,
        R.SCALAR_VALUE,
    ):
        return
    check_ptr_off_reg(env, reg, regno)


def get_constant_map_key(env: Env, key: Reg, key_size: int) -> int | None:
    """get_constant_map_key(): the key's value when it sits on the stack as a constant."""
    if not env.bpf_capable or key.type != R.PTR_TO_STACK or key.var.mask != 0:
        return None
    state = func(env, key)
    stack_off = key.off + R.s64(key.var.value)
    slot_no = -stack_off - 1
    spi = slot_no // BPF_REG_SIZE
    off = slot_no % BPF_REG_SIZE
    slot = state.stack[spi]
    zero = 0
    i = off
    while i >= 0 and slot.types[i] == STACK_ZERO:
        zero += 1
        i -= 1
    if zero >= key_size:
        return 0
    if not slot.is_spilled_scalar:
        return None
    spill = 0
    i = off
    while i >= 0 and slot.types[i] == STACK_SPILL:
        spill += 1
        i -= 1
    if spill != key_size or slot.spilled.var.mask != 0:
        return None
    bt = Backtrack()
    bt.frame = env.cur_state.curframe
    bt.set_slot(key.frameno, spi)
    mark_chain_precision(env, -1, None, bt)
    return slot.spilled.var.value


def _check_reg_const_str(env: Env, reg: Reg, regno: int) -> None:
    m = reg.map
    if not (getattr(m, "flags", 0) & BPF_F_RDONLY_PROG and getattr(m, "frozen", False)):
        raise env.fail(f"R{regno} does not point to a readonly map'")
    if reg.var.mask != 0:
        raise env.fail(f"R{regno} is not a constant address'")
    check_map_access(env, regno, reg.off, m.value_size - reg.off, False, helper=True)
    map_off = reg.off + reg.var.value
    for i in range(map_off, m.value_size):
        v = _rdonly_map_value(m, i, 1, False)
        if v is None:
            raise env.fail("no direct value access support for this map type")
        if v == 0:
            return
    raise env.fail("string is not zero-terminated", errno.EINVAL)


def _can_elide_value_nullness(map_type: int) -> bool:
    return map_type in (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY)


# --- check_func_arg ------------------------------------------------------------------------
def check_func_arg(env: Env, arg: int, meta: CallMeta, fn: Proto) -> None:
    regno = arg + 1
    regs = env.regs
    reg = regs[regno]
    arg_type = fn.arg(arg)
    if arg_type == A.ARG_DONTCARE:
        return
    check_reg_arg(env, regno, SRC_OP)
    if arg_type == A.ARG_ANYTHING:
        if is_pointer_value(env, regno):
            raise env.fail(f"R{regno} leaks addr into helper function")
        return
    base = P.base_type(arg_type)
    if base in _UNMODELLED:
        raise NotSupportedError(
            f"insn {env.insn_idx}: helper argument {P.arg_type_name(arg_type)} (R{regno}) is "
            "not modelled by pybpf's verifier"
        )
    if reg.type in (R.PTR_TO_PACKET, R.PTR_TO_PACKET_META) and not may_access_direct_pkt_data(
        env, False, meta.pkt_access
    ):
        raise env.fail("helper access to the packet is not allowed")
    if base == A.ARG_PTR_TO_MAP_VALUE:
        if meta.map is None:
            raise env.fail("invalid map_ptr to access map->type")
        mt = getattr(meta.map, "type", 0)
        if mt in (BPF_MAP_TYPE_SOCKMAP, BPF_MAP_TYPE_SOCKHASH):
            raise NotSupportedError(
                f"insn {env.insn_idx}: socket values of sockmap/sockhash maps are not modelled "
                "by pybpf's verifier"
            )
        if mt == BPF_MAP_TYPE_BLOOM_FILTER and meta.func_id == BPF_FUNC_map_peek_elem:
            arg_type = A.ARG_PTR_TO_MAP_VALUE
    if not (R.register_is_null(reg) and arg_type & P.PTR_MAYBE_NULL):
        check_reg_type(env, regno, arg_type)
        check_func_arg_reg_off(env, reg, regno, arg_type)
    if arg_type & P.OBJ_RELEASE:
        if not reg.ref_obj_id and not R.register_is_null(reg):
            raise env.fail(
                f"R{regno} must be referenced when passed to release function", errno.EINVAL
            )
        meta.release_regno = regno
    if reg.ref_obj_id:
        if meta.ref_obj_id:
            raise env.fail(
                f"more than one arg with ref_obj_id R{regno} {reg.ref_obj_id} {meta.ref_obj_id}"
            )
        meta.ref_obj_id = reg.ref_obj_id
    if base == A.ARG_CONST_MAP_PTR:
        if meta.map is not None and (meta.map is not reg.map or meta.map_uid != reg.map_uid):
            raise env.fail(
                f"timer pointer in R1 map_uid={meta.map_uid} doesn't match map pointer in R2 "
                f"map_uid={reg.map_uid}",
                errno.EINVAL,
            )
        meta.map = reg.map
        meta.map_uid = reg.map_uid
    elif base == A.ARG_PTR_TO_MAP_KEY:
        if meta.map is None:
            raise env.fail("verifier bug: invalid map_ptr to access map->key", errno.EFAULT)
        key_size = meta.map.key_size
        check_helper_mem_access(env, regno, key_size, False, False, None)
        if _can_elide_value_nullness(getattr(meta.map, "type", 0)):
            k = get_constant_map_key(env, reg, key_size)
            meta.const_map_key = -1 if k is None else k
    elif base == A.ARG_PTR_TO_MAP_VALUE:
        if arg_type & P.PTR_MAYBE_NULL and R.register_is_null(reg):
            return
        meta.raw_mode = bool(arg_type & P.MEM_UNINIT)
        check_helper_mem_access(
            env, regno, meta.map.value_size, bool(arg_type & P.MEM_WRITE), False, meta
        )
    elif base == A.ARG_PTR_TO_FUNC:
        meta.subprogno = reg.subprogno
    elif base == A.ARG_PTR_TO_MEM:
        meta.raw_mode = bool(arg_type & P.MEM_UNINIT)
        if arg_type & P.MEM_FIXED_SIZE:
            size = dict(fn.arg_size).get(arg, 0)
            check_helper_mem_access(env, regno, size, bool(arg_type & P.MEM_WRITE), False, meta)
            if arg_type & P.MEM_ALIGNED:
                check_ptr_alignment(env, reg, 0, size, True)
    elif base in (A.ARG_CONST_SIZE, A.ARG_CONST_SIZE_OR_ZERO):
        write = bool(fn.arg(arg - 1) & P.MEM_WRITE)
        check_mem_size_reg(env, reg, regno, write, base == A.ARG_CONST_SIZE_OR_ZERO, meta)
    elif base == A.ARG_CONST_ALLOC_SIZE_OR_ZERO:
        if reg.var.mask != 0:
            raise env.fail(f"R{regno} is not a known constant'")
        meta.mem_size = reg.var.value
        mark_chain_precision(env, regno)
    elif base == A.ARG_PTR_TO_CONST_STR:
        _check_reg_const_str(env, reg, regno)


def write_raw_mode_bytes(env: Env, meta: CallMeta) -> None:
    """check_helper_call(): a helper writing uninitialized memory makes it STACK_MISC."""
    for i in range(meta.access_size):
        check_mem_access(env, env.insn_idx, meta.regno, i, 1, True, -1, False, False)
