"""ALU instructions on scalars and pointers (check_alu_op, adjust_ptr_min_max_vals,
sanitize_ptr_alu in kernel/bpf/verifier.c).
"""

from __future__ import annotations

import errno
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import VerifierError
from ..isa import (
    ALU_NAMES,
    BPF_ARSH,
    BPF_DIV,
    BPF_LSH,
    BPF_MOD,
    BPF_MOV,
    BPF_NEG,
    BPF_RSH,
    BPF_X,
    MAX_BPF_STACK,
    Insn,
)
from . import state as S
from . import tnum as tn
from .env import VerifierEnv
from .limits import BPF_MAX_VAR_OFF
from .state import RegState

if TYPE_CHECKING:
    from .check import _Path


class AluChecks(VerifierEnv):
    """Mixed into pybpf.verifier.check.Verifier."""

    # ------------------------------------------------------------------ ALU
    def _check_alu(self, path: _Path, insn: Insn, info: Any, pc: int) -> None:
        regs = path.cur.regs
        op = info.op
        bits = 64 if info.is64 else 32
        if info.kind == "end" or op == BPF_NEG:
            d = self._read_reg(path, insn.dst, pc)
            self._check_dst_writable(insn.dst, pc)
            if d.is_pointer:
                if not self.privileged:
                    raise self._err(f"R{insn.dst} pointer arithmetic prohibited", pc)
                regs[insn.dst] = S.UNKNOWN_SCALAR
                return
            if d.is_const:
                regs[insn.dst] = S.scalar_const(_end_or_neg(insn, info, d.const))
            else:
                regs[insn.dst] = (
                    S.UNKNOWN_SCALAR
                    if bits == 64 or info.kind == "end" and insn.imm == 64
                    else S.sub32(S.UNKNOWN_SCALAR)
                )
            return
        if info.use_src_reg:
            src = self._read_reg(path, insn.src, pc)
        else:
            src = S.scalar_const(insn.imm if bits == 64 else insn.imm & 0xFFFFFFFF)
        self._check_dst_writable(insn.dst, pc)
        if op == BPF_MOV:
            regs[insn.dst] = self._mov(insn, info, src, bits, pc)
            return
        dst = self._read_reg(path, insn.dst, pc)
        if not info.use_src_reg:
            if op in (BPF_DIV, BPF_MOD) and insn.imm == 0:
                raise self._err("div by zero", pc, errno.EINVAL)
            if op in (BPF_LSH, BPF_RSH, BPF_ARSH) and not 0 <= insn.imm < bits:
                raise self._err(f"invalid shift {insn.imm}", pc, errno.EINVAL)
        name = ALU_NAMES[op]
        if insn.off == 1:  # sdiv / smod: result not modelled unless constant
            if dst.is_pointer or src.is_pointer:
                raise self._err(
                    f"R{insn.dst} pointer arithmetic with {name} operator prohibited", pc
                )
            regs[insn.dst] = self._sdivmod(name, dst, src, bits)
            return
        if dst.is_pointer or src.is_pointer:
            regs[insn.dst] = self._ptr_alu(name, insn, dst, src, bits, pc)
            return
        regs[insn.dst] = S.alu(name, dst, src, bits)

    def _sdivmod(self, name: str, a: RegState, b: RegState, bits: int) -> RegState:
        """Signed div/mod: like unsigned ones, the kernel computes no range (any 64-bit value)."""
        return S.UNKNOWN_SCALAR

    def _mov(self, insn: Insn, info: Any, src: RegState, bits: int, pc: int) -> RegState:
        if insn.off:  # MOVSX
            if src.is_pointer:
                if not self.privileged:
                    raise self._err(f"R{insn.src} sign-extension part of pointer", pc)
                return S.UNKNOWN_SCALAR if bits == 64 else S.sub32(S.UNKNOWN_SCALAR)
            if src.is_const:
                w = insn.off
                v = src.const & ((1 << w) - 1)
                if v >> (w - 1):
                    v -= 1 << w
                return S.scalar_const(v if bits == 64 else v & 0xFFFFFFFF)
            w = insn.off
            lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
            if bits == 64:
                if lo <= src.smin and src.smax <= hi:
                    return src
                return S.sync(RegState(S.SCALAR, smin=lo, smax=hi))
            return S.sync(
                RegState(S.SCALAR, tn.cast(tn.UNKNOWN, 4), 0, 0xFFFFFFFF, s32min=lo, s32max=hi)
            )
        if bits == 64:
            return src
        if src.is_pointer:
            if not self.privileged:
                raise self._err(f"R{insn.src} partial copy of pointer", pc)
            return S.sub32(S.UNKNOWN_SCALAR)
        return S.sub32(src)

    def _ptr_alu(
        self, name: str, insn: Insn, dst: RegState, src: RegState, bits: int, pc: int
    ) -> RegState:
        d = insn.dst
        if bits == 32:
            # 32-bit ALU on pointers: a meaningless scalar for root's SUB, refused otherwise
            if name == "sub" and self.privileged:
                return S.sub32(S.UNKNOWN_SCALAR)
            raise self._err(f"R{d} 32-bit pointer arithmetic prohibited", pc)
        ptr, off_reg = (dst, src) if dst.is_pointer else (src, dst)
        if dst.is_pointer and src.is_pointer:
            if name == "sub" and self.privileged:
                return S.UNKNOWN_SCALAR
            raise self._err(f"R{d} pointer {'-' if name == 'sub' else '+'}= pointer prohibited", pc)
        if name not in ("add", "sub"):
            kind = "bitwise operator" if name in ("and", "or", "xor") else "pointer arithmetic"
            sym = {
                "and": "&=",
                "or": "|=",
                "xor": "^=",
                "mul": "*=",
                "div": "/=",
                "mod": "%=",
                "lsh": "<<=",
                "rsh": ">>=",
                "arsh": "s>>=",
            }[name]
            if kind == "bitwise operator":
                raise self._err(f"R{d} bitwise operator {sym} on pointer prohibited", pc)
            raise self._err(f"R{d} pointer arithmetic with {sym} operator prohibited", pc)
        if name == "sub" and not dst.is_pointer:
            raise self._err(f"R{d} tried to subtract pointer from scalar", pc)
        if ptr.maybe_null:
            raise self._err(
                f"R{d} pointer arithmetic on {ptr.type_name()} prohibited, null-check it first", pc
            )
        if ptr.type == S.CONST_PTR_TO_MAP:
            if not (off_reg.is_const and off_reg.const == 0 and name == "add"):
                raise self._err(f"R{d} pointer arithmetic on map_ptr prohibited", pc)
            return ptr
        if name == "sub" and ptr.type == S.PTR_TO_STACK:
            # JITs may not cope with subtraction from the frame pointer (adjust_ptr_min_max_vals)
            raise self._err(f"R{d} subtraction from stack pointer prohibited", pc)
        for r in (off_reg, ptr):
            self._check_reg_sane_offset(r, ptr, pc)
        if not self.privileged and insn.code & BPF_X:
            # sanitize_ptr_alu (register operands only): Spectre v1 masking needs a
            # sign-consistent offset and a pointer type with a known limit
            if not off_reg.is_const and (off_reg.smin < 0) != (off_reg.smax < 0):
                raise self._err(
                    f"R{d} has unknown scalar with mixed signed bounds, pointer "
                    "arithmetic with it prohibited for !root",
                    pc,
                )
            if ptr.type not in (S.PTR_TO_STACK, S.PTR_TO_MAP_VALUE):
                raise self._err(
                    f"R{d} has pointer with unsupported alu operation, pointer "
                    "arithmetic with it prohibited for !root",
                    pc,
                )
        if off_reg.is_const:
            c = S.to_s64(off_reg.const)
            if name == "sub":
                c = -c
            new_off = ptr.off + c
            if not -BPF_MAX_VAR_OFF < new_off < BPF_MAX_VAR_OFF:
                raise self._err(f"value {c} makes {ptr.type} pointer be out of bounds", pc)
            res = replace(ptr, off=new_off)
        else:
            var = RegState(S.SCALAR, ptr.var, ptr.umin, ptr.umax, ptr.smin, ptr.smax)
            var = S.alu(name, var, off_reg, 64)
            res = replace(
                ptr, var=var.var, umin=var.umin, umax=var.umax, smin=var.smin, smax=var.smax
            )
        if not self.privileged:
            self._sanitize_check_bounds(res, d, pc)
        return res

    def _sanitize_check_bounds(self, res: RegState, d: int, pc: int) -> None:
        """sanitize_check_bounds: for !root the moved pointer must stay inside its object."""
        if res.type == S.PTR_TO_STACK:
            off = res.off + S.to_s64(res.var.value)
            if not res.is_const:
                raise self._err(
                    f"R{d} variable stack access prohibited for !root, var_off={res.var} off={off}",
                    pc,
                )
            if off >= 0 or off < -MAX_BPF_STACK:
                raise self._err(
                    f"R{d} stack pointer arithmetic goes out of range, prohibited "
                    f"for !root; off={off}",
                    pc,
                )
        elif res.type == S.PTR_TO_MAP_VALUE:
            try:
                self._check_region(
                    res,
                    d,
                    0,
                    1,
                    res.map.value_size,
                    f"map value, value_size={res.map.value_size}",
                    pc,
                )
            except VerifierError as e:
                raise self._err(
                    f"R{d} pointer arithmetic of map value goes out of range, prohibited for !root",
                    pc,
                ) from e

    def _check_ptr_off_reg(self, reg: RegState, regno: int, pc: int) -> None:
        """__check_ptr_off_reg: the context pointer must be used unmodified."""
        if reg.off:
            raise self._err(
                f"dereference of modified {reg.type_name()} ptr R{regno} off={reg.off} disallowed",
                pc,
            )
        if not reg.is_const or reg.var.value:
            raise self._err(f"variable {reg.type_name()} access var_off={reg.var} disallowed", pc)

    def _check_reg_sane_offset(self, reg: RegState, ptr: RegState, pc: int) -> None:
        """check_reg_sane_offset: offsets a pointer may be moved by at all."""
        t = ptr.type_name()
        if reg.is_const and reg.type == S.SCALAR:
            val = S.to_s64(reg.const)
            if not -BPF_MAX_VAR_OFF < val < BPF_MAX_VAR_OFF:
                raise self._err(
                    f"math between {t} pointer and {val} is not allowed", pc, errno.EINVAL
                )
        if not -BPF_MAX_VAR_OFF < reg.off < BPF_MAX_VAR_OFF:
            raise self._err(f"{t} pointer offset {reg.off} is not allowed", pc, errno.EINVAL)
        if reg.smin == S.S64_MIN:
            raise self._err(
                f"math between {t} pointer and register with unbounded min value is not allowed",
                pc,
                errno.EINVAL,
            )
        if not -BPF_MAX_VAR_OFF < reg.smin < BPF_MAX_VAR_OFF:
            raise self._err(
                f"value {reg.smin} makes {t} pointer be out of bounds", pc, errno.EINVAL
            )


def _end_or_neg(insn: Insn, info: Any, v: int) -> int:
    if info.kind == "alu":  # NEG
        return (-v) & (0xFFFFFFFFFFFFFFFF if info.is64 else 0xFFFFFFFF)
    width = insn.imm
    m = (1 << width) - 1
    x = v & m
    if info.name == "le":
        return x
    return int.from_bytes(x.to_bytes(width // 8, "little"), "big")
