"""Memory accesses: stack spill/fill, context, map values, ringbuf memory, helper
memory arguments, atomics, ld_imm64 and LD_ABS (check_mem_access and friends in
kernel/bpf/verifier.c).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from ..isa import (
    BPF_CMPXCHG,
    BPF_FETCH,
    BPF_PSEUDO_FUNC,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_IDX,
    BPF_PSEUDO_MAP_IDX_VALUE,
    BPF_PSEUDO_MAP_VALUE,
    MAX_BPF_STACK,
    Insn,
)
from ..progtypes import check_ctx_access
from ..uapi import BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY
from . import state as S
from . import tnum as tn
from .env import VerifierEnv
from .limits import BPF_MAX_VAR_OFF, CALLER_SAVED
from .state import Frame, RegState, StackSlot

if TYPE_CHECKING:
    from .check import _Path


class MemoryChecks(VerifierEnv):
    """Mixed into pybpf.verifier.check.Verifier."""

    # ------------------------------------------------------------------ memory
    def _check_mem_access(
        self,
        path: _Path,
        regno: int,
        off: int,
        size: int,
        access: str,
        pc: int,
        *,
        value: RegState | None = None,
        signed: bool = False,
        st_imm: bool = False,
    ) -> RegState:
        reg = path.cur.regs[regno]
        t = reg.type
        write = access == "write"
        if t == S.CONST_PTR_TO_MAP and self.privileged and not reg.maybe_null:
            # check_ptr_to_map_access: root may read struct bpf_map's fields (via BTF)
            if write:
                raise self._err("only read from bpf_map is supported", pc)
            if reg.off + off < 0:
                raise self._err(
                    f"R{regno} is ptr_bpf_map invalid negative access: off={reg.off + off}", pc
                )
            return _loaded_scalar(size, signed)
        if reg.maybe_null or t in (S.SCALAR, S.CONST_PTR_TO_MAP, S.NOT_INIT):
            raise self._err(f"R{regno} invalid mem access '{reg.type_name()}'", pc)
        if (
            write
            and value is not None
            and value.is_pointer
            and not self.privileged
            and t != S.PTR_TO_STACK
        ):
            raise self._err(
                f"R{regno} leaks addr into {'map' if t == S.PTR_TO_MAP_VALUE else 'mem'}", pc
            )
        if t == S.PTR_TO_CTX:
            self._check_ptr_off_reg(reg, regno, pc)
            if write and value is not None and value.is_pointer and not self.privileged:
                raise self._err(f"R{regno} leaks addr into ctx", pc)
            if check_ctx_access(self.prog.type, off, size, write) is not None:
                raise self._err(f"invalid bpf_context access off={off} size={size}", pc)
            return _loaded_scalar(size, signed)
        if t == S.PTR_TO_STACK:
            return self._check_stack_access(
                path, reg, regno, off, size, access, pc, value, signed, st_imm
            )
        if t in (S.PTR_TO_MAP_VALUE, S.PTR_TO_MAP_KEY, S.PTR_TO_MEM):
            if t == S.PTR_TO_MAP_VALUE:
                limit = reg.map.value_size
                if write and getattr(reg.map, "flags", 0) & BPF_F_RDONLY_PROG:
                    raise self._err("write into map forbidden", pc)
                what = f"map value, value_size={limit}"
            elif t == S.PTR_TO_MAP_KEY:
                if write:  # check_mem_access: a callback may not change the key
                    raise self._err(f"write to change key R{regno} not allowed", pc)
                limit = reg.map.key_size
                what = f"map key, key_size={limit}"
            else:
                limit = reg.mem_size
                what = f"memory, mem_size={limit}"
            self._check_region(reg, regno, off, size, limit, what, pc)
            return _loaded_scalar(size, signed)
        raise self._err(f"R{regno} invalid mem access '{reg.type_name()}'", pc)

    def _check_region(
        self, reg: RegState, regno: int, off: int, size: int, limit: int, what: str, pc: int
    ) -> None:
        """check_mem_region_access: [off, off+size) under every value of the pointer."""
        off = reg.off + off
        if reg.smin < 0 and (
            reg.smin == S.S64_MIN
            or reg.smin + off < 0
            or not -(1 << 31) <= off + reg.smin < (1 << 31)
        ):
            raise self._err(
                f"R{regno} min value is negative, either use unsigned index or do "
                "a if (index >=0) check.",
                pc,
            )
        lo = reg.smin + off
        if lo < 0 or size < 0 or lo > limit - size:
            raise self._err(
                f"invalid access to {what} off={lo} size={size}",
                pc,
                more=[f"R{regno} min value is outside of the allowed memory range"],
            )
        if reg.umax >= BPF_MAX_VAR_OFF:
            raise self._err(
                f"R{regno} unbounded memory access, make sure to bounds check any such access", pc
            )
        hi = reg.umax + off
        if hi > limit - size:
            raise self._err(
                f"invalid access to {what} off={hi} size={size}",
                pc,
                more=[f"R{regno} max value is outside of the allowed memory range"],
            )

    def _stack_bounds(
        self, reg: RegState, regno: int, off: int, size: int, access: str, pc: int
    ) -> tuple[int, int]:
        lo = reg.off + off + (reg.smin if not reg.is_const else S.to_s64(reg.const))
        hi = reg.off + off + (reg.smax if not reg.is_const else S.to_s64(reg.const))
        if lo < -MAX_BPF_STACK or hi + size > 0 or size <= 0:
            if not reg.is_const and size > 0:  # check_stack_access_within_bounds
                how = "read from" if access == "read" else "write to"
                raise self._err(
                    f"invalid variable-offset {how} stack R{regno} var_off={reg.var} "
                    f"off={reg.off + off} size={size}",
                    pc,
                )
            bad = lo if lo < -MAX_BPF_STACK else hi
            raise self._err(f"invalid {access} stack R{regno} off={bad} size={size}", pc)
        return lo, hi

    def _check_stack_access(
        self,
        path: _Path,
        reg: RegState,
        regno: int,
        off: int,
        size: int,
        access: str,
        pc: int,
        value: RegState | None,
        signed: bool,
        st_imm: bool = False,
    ) -> RegState:
        frame = path.frames[reg.frameno]
        lo, hi = self._stack_bounds(reg, regno, off, size, access, pc)
        # check_generic_ptr_alignment: stack accesses are always strictly aligned
        align = tn.add(reg.var, tn.const((reg.off + off) & tn.U64))
        if (align.value | align.mask) & (size - 1):
            raise self._err(
                f"misaligned stack access off {reg.var}+{reg.off}+{off} size {size}", pc
            )
        depth = -lo
        if depth > frame.depth:
            frame.depth = depth
            sub = frame.subprog
            self.stats.stack_depth[sub] = max(self.stats.stack_depth[sub], _round8(depth))
        if access == "write":
            assert value is not None
            if lo != hi:
                if not self.privileged:
                    raise self._err(f"R{regno} variable stack access prohibited for !root", pc)
                for a in range(lo, hi + size):
                    _set_stack_byte(frame, a, S.STACK_MISC)
                return value
            self._stack_write_fixed(path, frame, lo, size, value, st_imm, pc)
            return value
        # read
        if lo != hi:
            for a in range(lo, hi + size):
                if _stack_byte(frame, a) == S.STACK_INVALID and not self.privileged:
                    raise self._err(
                        f"invalid variable-offset read from stack R{regno} "
                        f"var_off={reg.var} off={off} size={size}",
                        pc,
                    )
            return _loaded_scalar(size, signed)
        return self._stack_read_fixed(frame, regno, lo, size, signed, pc)

    def _stack_write_fixed(
        self, path: _Path, frame: Frame, lo: int, size: int, value: RegState, st_imm: bool, pc: int
    ) -> None:
        """check_stack_write_fixed_off: spill a register or mark the bytes written."""
        idx = _slot(lo)
        old = frame.stack.get(idx, S.EMPTY_SLOT)
        aligned = lo % 8 == 0
        if (
            not self.privileged
            and old.spilled is not None
            and not old.spilled.type == S.SCALAR
            and size != 8
        ):
            raise self._err("attempt to corrupt spilled pointer on stack", pc)
        if aligned and self.privileged and value.type == S.SCALAR:
            # bpf_capable: scalars (registers or BPF_ST immediates) keep their value
            frame.stack[idx] = _spill(old, value, size)
            return
        if value.is_pointer and not st_imm:
            if size != 8:
                raise self._err("invalid size of register spill", pc)
            if value.type == S.PTR_TO_STACK and frame is not path.cur:
                raise self._err(
                    "cannot spill pointers to stack into stack frame of the caller",
                    pc,
                    errno.EINVAL,
                )
            frame.stack[idx] = _spill(old, value, 8)
            return
        kind = S.STACK_ZERO if value.is_const and value.const == 0 else S.STACK_MISC
        for a in range(lo, lo + size):
            _set_stack_byte(frame, a, kind)

    def _stack_read_fixed(
        self, frame: Frame, regno: int, lo: int, size: int, signed: bool, pc: int
    ) -> RegState:
        """check_stack_read_fixed_off: fill a spilled register or read plain bytes."""
        slot = frame.stack.get(_slot(lo), S.EMPTY_SLOT)
        kinds = [_stack_byte(frame, a) for a in range(lo, lo + size)]
        sp = slot.spilled
        if sp is not None:
            spill_size = _spill_size(slot)
            if size == 8 and spill_size == 8:
                return sp
            if sp.type != S.SCALAR:
                raise self._err("invalid size of register fill", pc)
            if size <= spill_size and lo % 8 == 0:
                return _coerce(sp, size, signed)
            for i, k in enumerate(kinds):
                if k == S.STACK_INVALID and not self.privileged:
                    raise self._err(f"invalid read from stack off {lo}+{i} size {size}", pc)
            if all(k == S.STACK_SPILL for k in kinds) and sp.is_const and sp.const == 0:
                return S.scalar_const(0)
            if all(k == S.STACK_ZERO for k in kinds):
                return S.scalar_const(0)
            return _loaded_scalar(size, signed)
        for k in kinds:
            if k == S.STACK_INVALID and not self.privileged:
                raise self._err(f"invalid read from stack R{regno} off={lo} size={size}", pc)
        if all(k == S.STACK_ZERO for k in kinds):
            return S.scalar_const(0)
        return _loaded_scalar(size, signed)

    def _check_helper_mem(
        self,
        path: _Path,
        regno: int,
        size_lo: int,
        size_hi: int,
        write: bool,
        pc: int,
        zero_ok: bool = False,
        mem_arg: bool = False,
    ) -> None:
        """check_helper_mem_access: a helper reads (or writes) [0, size) at R<regno>."""
        reg = path.cur.regs[regno]
        if size_hi == 0:
            return
        t = reg.type
        if t == S.PTR_TO_STACK and not reg.maybe_null:
            frame = path.frames[reg.frameno]
            lo, hi = self._stack_bounds(reg, regno, 0, size_hi, "indirect access to", pc)
            depth = -lo
            if depth > frame.depth:
                frame.depth = depth
                self.stats.stack_depth[frame.subprog] = max(
                    self.stats.stack_depth[frame.subprog], _round8(depth)
                )
            for a in range(lo, hi + size_hi):
                if write:
                    _set_stack_byte(frame, a, S.STACK_MISC)
                elif _stack_byte(frame, a) == S.STACK_INVALID and not self.privileged:
                    if mem_arg:
                        raise self._err(
                            f"invalid read from stack R{regno} off {lo}+{a - lo} size {size_hi}", pc
                        )
                    raise self._err(f"invalid read from stack R{regno} off={lo} size={size_hi}", pc)
            return
        if t in (S.PTR_TO_MAP_VALUE, S.PTR_TO_MAP_KEY, S.PTR_TO_MEM) and not reg.maybe_null:
            if t == S.PTR_TO_MAP_VALUE:
                limit, what = reg.map.value_size, f"map value, value_size={reg.map.value_size}"
            elif t == S.PTR_TO_MAP_KEY:
                limit, what = reg.map.key_size, f"map key, key_size={reg.map.key_size}"
            else:
                limit, what = reg.mem_size, f"memory, mem_size={reg.mem_size}"
            self._check_region(reg, regno, 0, size_hi, limit, what, pc)
            return
        if t == S.PTR_TO_CTX and not write:
            raise self._err(
                f"R{regno} type=ctx expected=fp, pkt, pkt_meta, map_key, map_value, mem", pc
            )
        raise self._err(
            f"R{regno} type={reg.type_name() if t != S.NOT_INIT else 'inv'} "
            "expected=fp, pkt, pkt_meta, map_key, map_value, mem",
            pc,
        )

    # ------------------------------------------------------------------ atomics, loads
    def _check_atomic(self, path: _Path, insn: Insn, info: Any, pc: int) -> None:
        self._read_reg(path, insn.src, pc)
        self._read_reg(path, insn.dst, pc)
        src = path.cur.regs[insn.src]
        if insn.imm == BPF_CMPXCHG:  # compares with R0
            self._read_reg(path, 0, pc)
            if path.cur.regs[0].is_pointer and not self.privileged:
                raise self._err("R0 leaks addr into mem", pc)
        if src.is_pointer and not self.privileged:
            raise self._err(f"R{insn.src} leaks addr into mem", pc)
        dst = path.cur.regs[insn.dst]
        if dst.type == S.PTR_TO_CTX:
            raise self._err(f"BPF_ATOMIC stores into R{insn.dst} ctx is not allowed", pc)
        # check_atomic_rmw: the read (whose value a FETCH puts in its register at once),
        # then the write, each with strict alignment, through the register *as it is then*
        self._check_atomic_align(dst, insn.off, info.size, pc)
        self._check_mem_access(path, insn.dst, insn.off, info.size, "read", pc)
        if insn.imm & BPF_FETCH:  # the old value lands in src (R0 for cmpxchg)
            target = 0 if insn.imm == BPF_CMPXCHG else insn.src
            self._check_dst_writable(target, pc)
            path.cur.regs[target] = _loaded_scalar(info.size, False)
        dst = path.cur.regs[insn.dst]
        self._check_atomic_align(dst, insn.off, info.size, pc)
        self._check_mem_access(
            path, insn.dst, insn.off, info.size, "write", pc, value=S.UNKNOWN_SCALAR
        )

    def _check_atomic_align(self, reg: RegState, off: int, size: int, pc: int) -> None:
        """check_ptr_alignment with strict_alignment_once: atomics need aligned addresses."""
        desc = {
            S.PTR_TO_MAP_VALUE: "value ",
            S.PTR_TO_MAP_KEY: "key ",
            S.PTR_TO_CTX: "context ",
            S.PTR_TO_STACK: "stack ",
        }.get(reg.type, "")
        if reg.type == S.PTR_TO_STACK:
            return  # checked with the stack access itself
        a = tn.add(reg.var, tn.const((reg.off + off) & tn.U64))
        if size > 1 and (a.value | a.mask) & (size - 1):
            raise self._err(
                f"misaligned {desc}access off {reg.var}+{reg.off}+{off} size {size}", pc
            )

    def _check_ld_imm(self, path: _Path, insn: Insn, pc: int) -> None:
        self._check_dst_writable(insn.dst, pc)
        regs = path.cur.regs
        if insn.src == 0:
            regs[insn.dst] = S.scalar_const(insn.imm64)
            return
        if insn.src in (
            BPF_PSEUDO_MAP_FD,
            BPF_PSEUDO_MAP_IDX,
            BPF_PSEUDO_MAP_VALUE,
            BPF_PSEUDO_MAP_IDX_VALUE,
        ):
            m = self.resolve_map(insn)
            if m is None:
                raise self._err(f"fd {insn.imm} is not pointing to valid bpf_map", pc, errno.EBADF)
            if insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX):
                regs[insn.dst] = RegState(S.CONST_PTR_TO_MAP, tn.const(0), 0, 0, 0, 0, map=m)
            else:
                off = insn.imm_hi & 0xFFFFFFFF
                if m.type != BPF_MAP_TYPE_ARRAY:  # map_direct_value_addr: arrays only
                    raise self._err(
                        "no direct value access support for this map type", pc, errno.EINVAL
                    )
                if m.max_entries != 1 or off >= m.value_size:
                    raise self._err(
                        f"invalid access to map value pointer, value_size={m.value_size} off={off}",
                        pc,
                        errno.EINVAL,
                    )
                regs[insn.dst] = RegState(
                    S.PTR_TO_MAP_VALUE, tn.const(0), 0, 0, 0, 0, off=off, map=m
                )
            return
        if insn.src == BPF_PSEUDO_FUNC:
            # check_ld_imm: a callback needs BTF func_info (the kernel checks it is static)
            if not self.func_info:
                raise self._err("missing btf func_info", pc, errno.EINVAL)
            sub = self.cfg.subprog_of(pc + 1 + insn.imm)
            regs[insn.dst] = RegState(S.PTR_TO_FUNC, tn.const(0), 0, 0, 0, 0, subprogno=sub)
            return
        raise self._err(
            f"ld_imm64 with src_reg {insn.src} is not supported by pybpf's verifier",
            pc,
            errno.EINVAL,
        )

    def _check_ld_abs(self, path: _Path, insn: Insn, info: Any, pc: int) -> None:
        if not self.prog.ld_abs:
            raise self._err(
                "BPF_LD_[ABS|IND] instructions not allowed for this program type", pc, errno.EINVAL
            )
        if self.cfg.subprog_of(pc) != 0 and not self.func_info:
            raise self._err("LD_ABS is not allowed in subprogs without BTF", pc, errno.EINVAL)
        r6 = self._read_reg(path, 6, pc)
        if r6.type != S.PTR_TO_CTX:
            raise self._err("at the time of BPF_LD_ABS|IND R6 != pointer to skb", pc, errno.EINVAL)
        self._check_ptr_off_reg(r6, 6, pc)
        if info.kind == "ldind":
            self._read_reg(path, insn.src, pc)
        if path.refs:
            raise self._err(
                "BPF_LD_[ABS|IND] cannot be mixed with socket references", pc, errno.EINVAL
            )
        regs = path.cur.regs
        for r in CALLER_SAVED:
            regs[r] = S.NOT_INIT_REG
        regs[0] = S.UNKNOWN_SCALAR  # check_ld_abs: mark_reg_unknown, not size-bounded


def _round8(n: int) -> int:
    return (n + 7) // 8 * 8


def _slot(addr: int) -> int:
    return (-addr - 1) // 8


def _stack_byte(frame: Frame, addr: int) -> str:
    slot = frame.stack.get(_slot(addr))
    if slot is None:
        return S.STACK_INVALID
    return slot.kinds[7 - ((-addr - 1) % 8)]


def _set_stack_byte(frame: Frame, addr: int, kind: str) -> None:
    idx = _slot(addr)
    slot = frame.stack.get(idx, S.EMPTY_SLOT)
    kinds = slot.kinds
    if slot.spilled is not None:
        # partial overwrite of a spill: the spilled register is gone; scalar bytes stay MISC
        kinds = "".join(S.STACK_MISC if k == S.STACK_SPILL else k for k in kinds)
    pos = 7 - ((-addr - 1) % 8)
    kinds = kinds[:pos] + kind + kinds[pos + 1 :]
    frame.stack[idx] = StackSlot(kinds, None)


def _spill_size(slot: StackSlot) -> int:
    """Bytes of the spilled register, from the slot's lowest address up."""
    n = 0
    for k in slot.kinds:
        if k != S.STACK_SPILL:
            break
        n += 1
    return n


def _spill(old: StackSlot, value: RegState, size: int) -> StackSlot:
    """save_register_state: the low ``size`` bytes hold the spill, the rest become misc."""
    rest = "".join(
        k if k in (S.STACK_ZERO, S.STACK_INVALID) else S.STACK_MISC for k in old.kinds[size:]
    )
    return StackSlot(S.STACK_SPILL * size + rest, value)


def _coerce(r: RegState, size: int, signed: bool) -> RegState:
    """coerce_reg_to_size(_sx): the value a ``size``-byte load of a spilled scalar yields."""
    if size >= 8:
        return r
    bits = size * 8
    m = (1 << bits) - 1
    if r.is_const:
        v = r.const & m
        if signed and v >> (bits - 1):
            v -= 1 << bits
        return S.scalar_const(v)
    if not signed and r.umax <= m:
        return r
    if signed and -(1 << (bits - 1)) <= r.smin and r.smax < (1 << (bits - 1)):
        return r
    return _loaded_scalar(size, signed)


def _slot_has_pointer(frame: Frame, lo: int, size: int) -> bool:
    for a in range(lo, lo + size):
        s = frame.stack.get(_slot(a))
        if s is not None and s.spilled is not None and s.spilled.is_pointer:
            return True
    return False


def _loaded_scalar(size: int, signed: bool) -> RegState:
    if size >= 8:
        return S.UNKNOWN_SCALAR
    bits = size * 8
    if signed:
        return S.sync(
            RegState(S.SCALAR, tn.UNKNOWN, smin=-(1 << (bits - 1)), smax=(1 << (bits - 1)) - 1)
        )
    return S.scalar_range(0, (1 << bits) - 1)
