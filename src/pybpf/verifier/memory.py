"""Loads, stores and atomics through pointers: check_mem_access() and its callers.

Every LDX/ST/STX/ATOMIC goes through check_mem_access(), which dispatches on the
pointer's type: map keys and values (bounds under every value of the
variable offset, the map's BPF_F_RDONLY_PROG/WRONLY_PROG), ringbuf and other
memory, the context (the program type's access rules, in pybpf.progtypes),
the stack (stack.py), packets, and CONST_PTR_TO_MAP, whose struct bpf_map
fields privileged programs may read. Also LD_IMM64, LD_ABS/LD_IND and
save_aux_ptr_type(): one instruction must always access the same kind of
pointer (kernel/bpf/verifier.c, Linux 6.18).
"""

from __future__ import annotations

import errno
from typing import Any

from ..errors import NotSupportedError
from ..isa import (
    BPF_ABS,
    BPF_ADD,
    BPF_AND,
    BPF_CMPXCHG,
    BPF_DW,
    BPF_FETCH,
    BPF_IND,
    BPF_OR,
    BPF_PSEUDO_FUNC,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_IDX,
    BPF_PSEUDO_MAP_IDX_VALUE,
    BPF_PSEUDO_MAP_VALUE,
    BPF_W,
    BPF_XCHG,
    BPF_XOR,
    Insn,
)
from ..progtypes import check_ctx_access as ctx_rule
from ..progtypes import ctx_field_at, ctx_pointer
from ..progtypes.bpf_map import BPF_MAP_IMAGE_SIZE, map_struct_name, member_at
from ..uapi import (
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY_PROG,
    BPF_MAP_TYPE_ARRAY,
    BPF_PROG_TYPE_CGROUP_SKB,
    BPF_PROG_TYPE_SCHED_ACT,
    BPF_PROG_TYPE_SCHED_CLS,
    BPF_PROG_TYPE_XDP,
)
from . import reg as R
from . import tnum as tn
from .cfg import find_subprog
from .env import Env
from .operands import DST_OP, DST_OP_NO_MARK, SRC_OP, check_reg_arg, is_pointer_value
from .refs import CALLER_SAVED, check_resource_leak
from .reg import Reg
from .stack import check_stack_access_within_bounds, check_stack_read, check_stack_write

SIZES = {BPF_W: 4, 0x08: 2, 0x10: 1, BPF_DW: 8}
BPF_LOAD_ACQ = 0x100
BPF_STORE_REL = 0x110
RMW_OPS = frozenset(
    {
        BPF_ADD,
        BPF_ADD | BPF_FETCH,
        BPF_AND,
        BPF_AND | BPF_FETCH,
        BPF_OR,
        BPF_OR | BPF_FETCH,
        BPF_XOR,
        BPF_XOR | BPF_FETCH,
        BPF_XCHG,
        BPF_CMPXCHG,
    }
)
#: what a load of a packet pointer member gives (the is_valid_access's info->reg_type)
_CTX_POINTERS = {
    "data": R.PTR_TO_PACKET,
    "data_meta": R.PTR_TO_PACKET_META,
    "data_end": R.PTR_TO_PACKET_END,
}


def is_pkt_pointer(t: int) -> bool:
    return t in (R.PTR_TO_PACKET, R.PTR_TO_PACKET_META)


def _is_sk_pointer(t: int) -> bool:
    return (t & R.BASE_MASK) in (
        R.PTR_TO_SOCKET,
        R.PTR_TO_SOCK_COMMON,
        R.PTR_TO_TCP_SOCK,
        R.PTR_TO_XDP_SOCK,
    )


# --- bounds of memory regions --------------------------------------------------------------
def _mem_err(env: Env, regno: int, off: int, size: int, mem_size: int, zero_ok: bool) -> bool:
    """__check_mem_access(): True when [off, off+size) lies inside; logs why not."""
    size_ok = size > 0 or (size == 0 and zero_ok)
    if off >= 0 and size_ok and off + size <= mem_size:
        return True
    reg = env.regs[regno]
    t = reg.type
    if t == R.PTR_TO_MAP_KEY:
        env.verbose(f"invalid access to map key, key_size={mem_size} off={off} size={size}\n")
    elif t == R.PTR_TO_MAP_VALUE:
        env.verbose(f"invalid access to map value, value_size={mem_size} off={off} size={size}\n")
    elif t in (R.PTR_TO_PACKET, R.PTR_TO_PACKET_META, R.PTR_TO_PACKET_END):
        env.verbose(
            f"invalid access to packet, off={off} size={size}, "
            f"R{regno}(id={reg.id},off={off},r={mem_size})\n"
        )
    else:
        env.verbose(
            f"invalid access to memory, mem_size={mem_size & 0xFFFFFFFF} off={off} size={size}\n"
        )
    return False


def check_mem_region_access(
    env: Env, regno: int, off: int, size: int, mem_size: int, zero_ok: bool
) -> None:
    """check_mem_region_access(): safe under the smallest and the largest offset."""
    reg = env.regs[regno]
    if reg.smin < 0 and (
        reg.smin == R.S64_MIN or not -(1 << 31) <= off + reg.smin < (1 << 31) or reg.smin + off < 0
    ):
        raise env.fail(
            f"R{regno} min value is negative, either use unsigned index or do a "
            "if (index >=0) check."
        )
    if not _mem_err(env, regno, reg.smin + off, size, mem_size, zero_ok):
        raise env.fail(f"R{regno} min value is outside of the allowed memory range")
    if reg.umax >= 1 << 29:
        raise env.fail(
            f"R{regno} unbounded memory access, make sure to bounds check any such access"
        )
    if not _mem_err(env, regno, reg.umax + off, size, mem_size, zero_ok):
        raise env.fail(f"R{regno} max value is outside of the allowed memory range")


def check_map_access_type(env: Env, regno: int, off: int, size: int, write: bool) -> None:
    """check_map_access_type(): BPF_F_RDONLY_PROG / BPF_F_WRONLY_PROG."""
    m = env.regs[regno].map
    flags = getattr(m, "flags", 0)
    if write and flags & BPF_F_RDONLY_PROG:
        raise env.fail(f"write into map forbidden, value_size={m.value_size} off={off} size={size}")
    if not write and flags & BPF_F_WRONLY_PROG:
        raise env.fail(f"read from map forbidden, value_size={m.value_size} off={off} size={size}")


def check_map_access(
    env: Env, regno: int, off: int, size: int, zero_ok: bool, helper: bool = False
) -> None:
    """check_map_access(): the value's bounds (pybpf's maps carry no BTF special fields)."""
    check_mem_region_access(env, regno, off, size, env.regs[regno].map.value_size, zero_ok)


def may_access_direct_pkt_data(env: Env, write: bool, pkt_access: bool | None = None) -> bool:
    """may_access_direct_pkt_data(); ``pkt_access`` is a helper's flag (None: an insn)."""
    t = env.prog.type
    if t == BPF_PROG_TYPE_CGROUP_SKB:
        if write:
            return False
    elif t not in (BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_SCHED_ACT, BPF_PROG_TYPE_XDP):
        return False
    return bool(pkt_access) if pkt_access is not None else True


def check_packet_access(env: Env, regno: int, off: int, size: int, zero_ok: bool) -> None:
    reg = env.regs[regno]
    if reg.smin < 0:
        raise env.fail(
            f"R{regno} min value is negative, either use unsigned index or do a "
            "if (index >=0) check."
        )
    if reg.range < 0 or not _mem_err(env, regno, off, size, reg.range, zero_ok):
        raise env.fail(f"R{regno} offset is outside of the packet")


def check_ptr_off_reg(env: Env, reg: Reg, regno: int, fixed_off_ok: bool = False) -> None:
    """__check_ptr_off_reg(): the pointer must be as it was handed out."""
    t = R.reg_type_str(reg.type)
    if reg.off < 0:
        raise env.fail(f"negative offset {t} ptr R{regno} off={reg.off} disallowed")
    if not fixed_off_ok and reg.off:
        raise env.fail(f"dereference of modified {t} ptr R{regno} off={reg.off} disallowed")
    if reg.var.mask != 0 or reg.var.value:
        raise env.fail(f"variable {t} access var_off={tn.tnum_str(reg.var)} disallowed")


# --- alignment ---------------------------------------------------------------------------
_ALIGN_DESC = {
    R.PTR_TO_FLOW_KEYS: "flow keys ",
    R.PTR_TO_MAP_KEY: "key ",
    R.PTR_TO_MAP_VALUE: "value ",
    R.PTR_TO_CTX: "context ",
    R.PTR_TO_STACK: "stack ",
    R.PTR_TO_SOCKET: "sock ",
    R.PTR_TO_SOCK_COMMON: "sock_common ",
    R.PTR_TO_TCP_SOCK: "tcp_sock ",
    R.PTR_TO_XDP_SOCK: "xdp_sock ",
}


def check_ptr_alignment(env: Env, reg: Reg, off: int, size: int, strict_once: bool) -> None:
    """check_ptr_alignment(): x86-64 is lax except on the stack and for atomics."""
    strict = strict_once
    if is_pkt_pointer(reg.type):
        if not strict or size == 1:
            return
        if not tn.is_aligned(tn.add(reg.var, tn.const(2 + reg.off + off)), size):
            raise env.fail(
                f"misaligned packet access off 2+{tn.tnum_str(reg.var)}+{reg.off}+{off} size {size}"
            )
        return
    if reg.type == R.PTR_TO_ARENA:
        return
    if reg.type == R.PTR_TO_STACK:
        strict = True
    if not strict or size == 1:
        return
    if not tn.is_aligned(tn.add(reg.var, tn.const(reg.off + off)), size):
        desc = _ALIGN_DESC.get(reg.type, "")
        raise env.fail(
            f"misaligned {desc}access off {tn.tnum_str(reg.var)}+{reg.off}+{off} size {size}"
        )


# --- context, struct bpf_map ------------------------------------------------------------
def check_ctx_access(
    env: Env, insn_idx: int, off: int, size: int, write: bool, is_ldsx: bool = False
) -> int:
    """check_ctx_access(): the type of register a load gives (SCALAR_VALUE or a pointer).

    A sign-extending load of a packet pointer (data, data_meta, data_end) is refused,
    as the program types' is_valid_access callbacks refuse it: the rewritten 8-byte
    load followed by a sign extension would corrupt the pointer.
    """
    if env.prog.ctx_fields is None:
        raise NotSupportedError(
            f"insn {insn_idx}: context accesses of {env.prog.name} programs are not modelled "
            "by pybpf's verifier"
        )
    what = ctx_pointer(env.prog.type, off)
    if ctx_rule(env.prog.type, off, size, write, env.attach_type) is not None or (
        is_ldsx and what in _CTX_POINTERS
    ):
        env.verbose_linfo(insn_idx, "; ")
        raise env.fail(f"invalid bpf_context access off={off} size={size}")
    if what is not None:
        return _CTX_POINTERS[what]
    f = ctx_field_at(env.prog.type, off)
    if f is not None and f.name == "sk" and env.prog.ctx_struct == "__sk_buff":
        return R.PTR_TO_SOCK_COMMON | R.PTR_MAYBE_NULL
    return R.SCALAR_VALUE


def check_ptr_to_map_access(
    env: Env, regno: int, off: int, size: int, write: bool, value_regno: int
) -> None:
    """check_ptr_to_map_access(): privileged reads of struct bpf_map's scalar members."""
    reg = env.regs[regno]
    tname = map_struct_name(getattr(reg.map, "type", 0))
    if tname is None:
        raise env.fail(
            f"map_ptr access not supported for map type {getattr(reg.map, 'type', 0)}", 524
        )
    if not env.allow_ptr_leaks:
        raise env.fail(
            f"'struct {tname}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN",
            errno.EPERM,
        )
    if off < 0:
        raise env.fail(f"R{regno} is {tname} invalid negative access: off={off}")
    if write:
        raise env.fail(f"only read from {tname} is supported")
    if off >= BPF_MAP_IMAGE_SIZE:
        raise NotSupportedError(
            f"insn {env.insn_idx}: a {size}-byte read at offset {off} of struct {tname} is "
            f"not modelled by pybpf (only struct bpf_map's members before offset "
            f"{BPF_MAP_IMAGE_SIZE} are)"
        )
    member = member_at(off)
    # btf_struct_walk() on struct bpf_map, the first member of the map type's struct
    if member is None:
        raise env.fail(f"struct bpf_map doesn't have field at offset {off}")
    mend = member.offset + member.size
    if member.pointer and (off != member.offset or size != 8):
        raise env.fail(
            f"cannot access ptr member {member.name} with moff {member.offset} in struct "
            f"bpf_map with off {off} size {size}"
        )
    if off + size > mend:
        raise env.fail(
            f"access beyond the end of member {member.name} (mend:{mend}) in struct bpf_map "
            f"with off {off} size {size}"
        )
    if value_regno < 0:
        return
    d = env.regs[value_regno]
    if member.target:
        R.mark_known_zero(d)
        d.type = R.PTR_TO_BTF_ID | R.PTR_UNTRUSTED
        d.map = member.target  # the union's btf side: the struct named in the log
    elif member.pointer:  # void *: read-only memory of unknown size
        R.mark_known_zero(d)
        d.type = R.PTR_TO_MEM | R.MEM_RDONLY | R.PTR_UNTRUSTED
        d.mem_size = 0
    else:
        R.mark_unknown(d, env.bpf_capable)


# --- check_mem_access --------------------------------------------------------------------
def _rdonly_map_value(m: Any, off: int, size: int, is_ldsx: bool) -> int | None:
    """bpf_map_direct_read() of a frozen BPF_F_RDONLY_PROG array (None: not such a map)."""
    if not (
        getattr(m, "flags", 0) & BPF_F_RDONLY_PROG
        and getattr(m, "frozen", False)
        and getattr(m, "type", None) == BPF_MAP_TYPE_ARRAY
        and m.max_entries == 1
    ):
        return None
    try:
        data = m.lookup(bytes(4))
    except Exception:
        return None
    if data is None or off < 0 or off + size > len(data):
        return None
    return int.from_bytes(bytes(data[off : off + size]), "little", signed=is_ldsx) & tn.U64


def check_mem_access(
    env: Env,
    insn_idx: int,
    regno: int,
    off: int,
    size: int,
    write: bool,
    value_regno: int,
    strict_once: bool,
    is_ldsx: bool,
) -> None:
    """check_mem_access(): may ``size`` bytes at ``regno + off`` be read (written)."""
    regs = env.regs
    reg = regs[regno]
    check_ptr_alignment(env, reg, off, size, strict_once)
    off += reg.off
    t = reg.type
    base = t & R.BASE_MASK
    if t == R.PTR_TO_MAP_KEY:
        if write:
            raise env.fail(f"write to change key R{regno} not allowed")
        check_mem_region_access(env, regno, off, size, reg.map.key_size, False)
        if value_regno >= 0:
            R.mark_unknown(regs[value_regno], env.bpf_capable)
    elif t == R.PTR_TO_MAP_VALUE:
        if write and value_regno >= 0 and is_pointer_value(env, value_regno):
            raise env.fail(f"R{value_regno} leaks addr into map")
        check_map_access_type(env, regno, off, size, write)
        check_map_access(env, regno, off, size, False)
        if not write and value_regno >= 0:
            val = None
            if reg.var.mask == 0:
                val = _rdonly_map_value(reg.map, off + reg.var.value, size, is_ldsx)
            if val is not None:
                regs[value_regno].type = R.SCALAR_VALUE
                R.mark_known(regs[value_regno], val)
            else:
                R.mark_unknown(regs[value_regno], env.bpf_capable)
    elif base == R.PTR_TO_MEM:
        rdonly = bool(t & R.MEM_RDONLY)
        if t & R.PTR_MAYBE_NULL:
            raise env.fail(f"R{regno} invalid mem access '{R.reg_type_str(t)}'")
        if write and rdonly:
            raise env.fail(f"R{regno} cannot write into {R.reg_type_str(t)}")
        if t & R.PTR_UNTRUSTED:
            raise NotSupportedError(
                f"insn {insn_idx}: reads of kernel memory through an untrusted pointer are "
                "not modelled by pybpf"
            )
        if write and value_regno >= 0 and is_pointer_value(env, value_regno):
            raise env.fail(f"R{value_regno} leaks addr into mem")
        check_mem_region_access(env, regno, off, size, reg.mem_size, False)
        if value_regno >= 0 and (not write or rdonly):
            R.mark_unknown(regs[value_regno], env.bpf_capable)
    elif t == R.PTR_TO_CTX:
        if write and value_regno >= 0 and is_pointer_value(env, value_regno):
            raise env.fail(f"R{value_regno} leaks addr into ctx")
        check_ptr_off_reg(env, reg, regno)
        rtype = check_ctx_access(env, insn_idx, off, size, write, is_ldsx)
        if not write and value_regno >= 0:
            d = regs[value_regno]
            if rtype == R.SCALAR_VALUE:
                R.mark_unknown(d, env.bpf_capable)
            else:
                R.mark_known_zero(d)
                if rtype & R.PTR_MAYBE_NULL:
                    d.id = env.new_id()
                d.subreg_def = 0
            d.type = rtype
    elif t == R.PTR_TO_STACK:
        check_stack_access_within_bounds(env, regno, off, size, write)
        if write:
            check_stack_write(env, regno, off, size, value_regno, insn_idx)
        else:
            check_stack_read(env, regno, off, size, value_regno)
    elif is_pkt_pointer(t):
        if write and not may_access_direct_pkt_data(env, True):
            raise env.fail("cannot write into packet")
        if write and value_regno >= 0 and is_pointer_value(env, value_regno):
            raise env.fail(f"R{value_regno} leaks addr into packet")
        check_packet_access(env, regno, off, size, False)
        if not write and value_regno >= 0:
            R.mark_unknown(regs[value_regno], env.bpf_capable)
    elif _is_sk_pointer(t) and not t & R.PTR_MAYBE_NULL:
        if write:
            raise env.fail(f"R{regno} cannot write into {R.reg_type_str(t)}")
        raise NotSupportedError(
            f"insn {insn_idx}: reads through a {R.reg_type_str(t)} pointer (struct bpf_sock) "
            "are not modelled by pybpf"
        )
    elif t == R.CONST_PTR_TO_MAP:
        check_ptr_to_map_access(env, regno, off, size, write, value_regno)
    elif base == R.PTR_TO_BTF_ID and not t & R.PTR_MAYBE_NULL:
        raise NotSupportedError(
            f"insn {insn_idx}: accesses through a BTF pointer ({R.reg_type_str(t)}"
            f"{reg.map}) are not modelled by pybpf"
        )
    else:
        raise env.fail(f"R{regno} invalid mem access '{R.reg_type_str(t)}'")
    if size < 8 and value_regno >= 0 and not write and regs[value_regno].type == R.SCALAR_VALUE:
        if is_ldsx:
            R.coerce_reg_to_size_sx(regs[value_regno], size)
        else:
            R.coerce_reg_to_size(regs[value_regno], size)


# --- aux pointer type ---------------------------------------------------------------------
def _mismatch_ok(t: int) -> bool:
    return (t & R.BASE_MASK) not in (
        R.PTR_TO_CTX,
        R.PTR_TO_SOCKET,
        R.PTR_TO_SOCK_COMMON,
        R.PTR_TO_TCP_SOCK,
        R.PTR_TO_XDP_SOCK,
        R.PTR_TO_BTF_ID,
        R.PTR_TO_ARENA,
    )


def save_aux_ptr_type(env: Env, t: int) -> None:
    """save_aux_ptr_type(): the kernel rewrites ctx/socket accesses per instruction."""
    aux = env.aux[env.insn_idx]
    prev = aux.ptr_type
    if prev == R.NOT_INIT:
        aux.ptr_type = t
    elif t != prev and (not _mismatch_ok(t) or not _mismatch_ok(prev)):
        raise env.fail("same insn cannot be used with different pointers", errno.EINVAL)


def _sanity(env: Env, r: Reg, ctx: str) -> None:
    msg = R.bounds_violation(r)
    if msg is not None:
        env.verbose(R.invariants_message(r, ctx, msg) + "\n")
        R.mark_unbounded(r)


def check_load_mem(env: Env, insn: Insn, strict_once: bool, is_ldsx: bool, ctx: str) -> None:
    check_reg_arg(env, insn.src, SRC_OP)
    check_reg_arg(env, insn.dst, DST_OP_NO_MARK)
    src_type = env.regs[insn.src].type
    check_mem_access(
        env,
        env.insn_idx,
        insn.src,
        insn.off,
        SIZES[insn.code & 0x18],
        False,
        insn.dst,
        strict_once,
        is_ldsx,
    )
    save_aux_ptr_type(env, src_type)
    _sanity(env, env.regs[insn.dst], ctx)


def check_store_reg(env: Env, insn: Insn, strict_once: bool) -> None:
    check_reg_arg(env, insn.src, SRC_OP)
    check_reg_arg(env, insn.dst, SRC_OP)
    dst_type = env.regs[insn.dst].type
    check_mem_access(
        env,
        env.insn_idx,
        insn.dst,
        insn.off,
        SIZES[insn.code & 0x18],
        True,
        insn.src,
        strict_once,
        False,
    )
    save_aux_ptr_type(env, dst_type)


def check_store_imm(env: Env, insn: Insn) -> None:
    """BPF_ST: the immediate is an unknown value written (value_regno -1)."""
    check_reg_arg(env, insn.dst, SRC_OP)
    dst_type = env.regs[insn.dst].type
    check_mem_access(
        env, env.insn_idx, insn.dst, insn.off, SIZES[insn.code & 0x18], True, -1, False, False
    )
    save_aux_ptr_type(env, dst_type)


def _atomic_ptr_type_ok(t: int) -> bool:
    return not (
        t == R.PTR_TO_CTX or is_pkt_pointer(t) or t == R.PTR_TO_FLOW_KEYS or _is_sk_pointer(t)
    )


def check_atomic(env: Env, insn: Insn) -> None:
    """check_atomic() / check_atomic_rmw(): a fetch is a second read into the register."""
    if insn.imm in (BPF_LOAD_ACQ, BPF_STORE_REL):
        raise NotSupportedError(
            f"insn {env.insn_idx}: load-acquire/store-release atomics are not modelled by pybpf"
        )
    if insn.imm not in RMW_OPS:
        raise env.fail(
            f"BPF_ATOMIC uses invalid atomic opcode {insn.imm & 0xFFFFFFFF:02x}", errno.EINVAL
        )
    size = insn.code & 0x18
    if size not in (BPF_W, BPF_DW):
        raise env.fail("invalid atomic operand size", errno.EINVAL)
    check_reg_arg(env, insn.src, SRC_OP)
    check_reg_arg(env, insn.dst, SRC_OP)
    if insn.imm == BPF_CMPXCHG:
        check_reg_arg(env, 0, SRC_OP)
        if is_pointer_value(env, 0):
            raise env.fail("R0 leaks addr into mem")
    if is_pointer_value(env, insn.src):
        raise env.fail(f"R{insn.src} leaks addr into mem")
    dtype = env.regs[insn.dst].type
    if not _atomic_ptr_type_ok(dtype):
        raise env.fail(f"BPF_ATOMIC stores into R{insn.dst} {R.reg_type_str(dtype)} is not allowed")
    load_reg = -1
    if insn.imm & BPF_FETCH:
        load_reg = 0 if insn.imm == BPF_CMPXCHG else insn.src
        check_reg_arg(env, load_reg, DST_OP)
    nbytes = SIZES[size]
    check_mem_access(env, env.insn_idx, insn.dst, insn.off, nbytes, False, -1, True, False)
    if load_reg >= 0:
        check_mem_access(
            env, env.insn_idx, insn.dst, insn.off, nbytes, False, load_reg, True, False
        )
    check_mem_access(env, env.insn_idx, insn.dst, insn.off, nbytes, True, -1, True, False)


# --- LD_IMM64, LD_ABS/IND -----------------------------------------------------------------
def check_ld_imm(env: Env, insn: Insn) -> None:
    if insn.off != 0:
        raise env.fail("BPF_LD_IMM64 uses reserved fields", errno.EINVAL)
    check_reg_arg(env, insn.dst, DST_OP)
    d = env.regs[insn.dst]
    if insn.src == 0:
        d.type = R.SCALAR_VALUE
        R.mark_known(d, insn.imm64)
        return
    R.mark_known_zero(d)
    d.type = R.SCALAR_VALUE
    if insn.src == BPF_PSEUDO_FUNC:
        sub = find_subprog(env, env.insn_idx + insn.imm + 1)
        if not env.func_info:
            raise env.fail("missing btf func_info", errno.EINVAL)
        if env.subprogs[sub].is_global:
            raise env.fail("callback function not static", errno.EINVAL)
        d.type = R.PTR_TO_FUNC
        d.subprogno = sub
        return
    m = env.aux[env.insn_idx].map_ptr
    d.map = m
    if insn.src in (BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_MAP_IDX_VALUE):
        d.type = R.PTR_TO_MAP_VALUE
        d.off = insn.imm_hi & 0xFFFFFFFF
    elif insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX):
        d.type = R.CONST_PTR_TO_MAP
    else:
        raise env.fail("verifier bug: unexpected src reg value for ldimm64", errno.EFAULT)


def check_ld_abs(env: Env, insn: Insn) -> None:
    mode = insn.code & 0xE0
    if not env.prog.ld_abs:
        raise env.fail(
            "BPF_LD_[ABS|IND] instructions not allowed for this program type", errno.EINVAL
        )
    if (
        insn.dst != 0
        or insn.off != 0
        or insn.code & 0x18 == BPF_DW
        or (mode == BPF_ABS and insn.src != 0)
    ):
        raise env.fail("BPF_LD_[ABS|IND] uses reserved fields", errno.EINVAL)
    check_reg_arg(env, 6, SRC_OP)
    check_resource_leak(env, False, True, "BPF_LD_[ABS|IND]")
    regs = env.regs
    if regs[6].type != R.PTR_TO_CTX:
        raise env.fail("at the time of BPF_LD_ABS|IND R6 != pointer to skb", errno.EINVAL)
    if mode == BPF_IND:
        check_reg_arg(env, insn.src, SRC_OP)
    check_ptr_off_reg(env, regs[6], 6)
    for r in CALLER_SAVED:
        R.mark_not_init(regs[r], env.bpf_capable)
        check_reg_arg(env, r, DST_OP_NO_MARK)
    R.mark_unknown(regs[0], env.bpf_capable)
    regs[0].subreg_def = env.insn_idx + 1
