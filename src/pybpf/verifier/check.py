"""The verifier's walk (kernel/bpf/verifier.c do_check and its checkers).

Every path through the program is followed with an abstract state (register
types and bounds, stack contents). Conditional jumps fork the state: the
fall-through goes first, the target waits on a stack, as in the kernel.
At prune points (jump targets, fall-throughs of conditional jumps, returns
from calls) the state is compared with states already fully explored there;
a state no more general than an explored one is safe and the path ends. A
state equal to one still being explored on the same path is an infinite
loop. Bounded loops are accepted because each trip round the loop has a
different state, up to the kernel's limit of 1,000,000 processed
instructions.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import VerifierError
from ..isa import (
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_IDX,
    BPF_PSEUDO_MAP_IDX_VALUE,
    BPF_PSEUDO_MAP_VALUE,
    MAX_BPF_STACK,
    OPCODES,
    Insn,
    jump_target,
)
from ..uapi import BPF_COMPLEXITY_LIMIT_INSNS, BPF_F_RDONLY_PROG, FUNC_NAMES
from . import rules as R
from . import state as S
from . import tnum as tn
from .cfg import Cfg, check_structure
from .liveness import live_registers
from .log import VerifierLog
from .state import Frame, RegState, StackSlot

MAX_CALL_FRAMES = 8
BPF_MAX_VAR_OFF = 1 << 29
ALU_OPS = {0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and",
           0x60: "lsh", 0x70: "rsh", 0x90: "mod", 0xA0: "xor", 0xC0: "arsh"}
CALLER_SAVED = (1, 2, 3, 4, 5)


@dataclass
class Stats:
    insns_processed: int = 0
    total_states: int = 0
    peak_states: int = 0
    max_states_per_insn: int = 0
    stack_depth: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (f"processed {self.insns_processed} insns (limit {BPF_COMPLEXITY_LIMIT_INSNS}) "
                f"max_states_per_insn {self.max_states_per_insn} total_states "
                f"{self.total_states} peak_states {self.peak_states} mark_read 0")


@dataclass
class VerifyResult:
    """An accepted program's statistics and log."""

    stats: Stats
    log: str
    cfg: Cfg


class _Checkpoint:
    __slots__ = ("frames", "refs", "parent", "branches", "pc")

    def __init__(self, frames: list[Frame], refs: tuple, parent: _Checkpoint | None, pc: int):
        self.frames = [f.copy() for f in frames]
        self.refs = refs
        self.parent = parent
        self.branches = 1
        self.pc = pc


class _Path:
    """One live path: its frames, outstanding references and nearest checkpoint."""

    __slots__ = ("frames", "pc", "parent", "refs")

    def __init__(self, frames: list[Frame], pc: int, parent: _Checkpoint | None,
                 refs: tuple = ()):
        self.frames = frames
        self.pc = pc
        self.parent = parent
        self.refs = refs  # (ref_obj_id, alloc_insn) of ringbuf records not yet released

    def fork(self, pc: int) -> _Path:
        if self.parent is not None:
            self.parent.branches += 1
        return _Path([f.copy() for f in self.frames], pc, self.parent, self.refs)

    @property
    def cur(self) -> Frame:
        return self.frames[-1]


class Verifier:
    """Check one program the way Linux does; raise VerifierError or return statistics."""

    def __init__(self, insns: Sequence[Insn], *, prog_type: int = 1,
                 map_resolver: Callable[[Insn], Any] | None = None,
                 privileged: bool = True, log_level: int = 0, license: str = "GPL",
                 line_info: Sequence[Any] = (), rules: Any = None):
        self.insns = list(insns)
        self.prog_type = prog_type
        self.privileged = privileged
        self.log = VerifierLog(level=log_level)
        self.license = license
        self.line_info = {li.insn: li for li in line_info}
        self.rules = rules if rules is not None else R.lookup_rules(prog_type)
        self.resolve_map = map_resolver or _default_map_resolver
        self.stats = Stats()
        self._next_id = 0
        self._explored: dict[int, list[_Checkpoint]] = {}
        self._live: list[int] = []
        self._prune: set[int] = set()
        self._disasm: Callable[[Insn, int], str] | None = None

    # ------------------------------------------------------------------ entry
    def verify(self) -> VerifyResult:
        t0 = time.perf_counter()
        cfg = check_structure(self.insns, self.log, privileged=self.privileged)
        self.cfg = cfg
        self._live = live_registers(cfg)
        self._prune = self._prune_points(cfg)
        self.stats.stack_depth = [0] * len(cfg.subprog_starts)
        try:
            self._do_check()
        except VerifierError:
            self.stats.seconds = time.perf_counter() - t0
            raise
        self._check_max_stack_depth()
        self.stats.seconds = time.perf_counter() - t0
        self.log.verbose(self.stats.line())
        return VerifyResult(self.stats, self.log.text, cfg)

    # ------------------------------------------------------------------ errors
    def _err(self, msg: str, pc: int | None, err: int = errno.EACCES) -> VerifierError:
        self.log.verbose(msg)
        li = self.line_info.get(pc) if pc is not None else None
        if li is None and pc is not None and self.line_info:
            earlier = [k for k in self.line_info if k <= pc]
            li = self.line_info[max(earlier)] if earlier else None
        if li is not None:
            self.log.verbose(f"; {li.text.strip()} @ {li.file}:{li.line}")
        return VerifierError(msg, index=pc, log=self.log.text, errno=err)

    # ------------------------------------------------------------------ setup
    def _prune_points(self, cfg: Cfg) -> set[int]:
        pts: set[int] = set()
        for pc, insn in enumerate(cfg.insns):
            if insn is None:
                continue
            kind = OPCODES[insn.code].kind
            if kind in ("ja", "jcond"):
                pts.add(jump_target(pc, insn))
                if kind == "jcond":
                    pts.add(pc + 1)
            elif kind == "call":
                pts.add(pc + 1)
        return pts

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _initial_frame(self, subprog: int, callsite: int = -1, depth: int = 0) -> Frame:
        regs = [S.NOT_INIT_REG] * 11
        regs[10] = RegState(S.PTR_TO_STACK, tn.const(0), 0, 0, 0, 0, frameno=depth)
        return Frame(regs, {}, callsite, subprog)

    # ------------------------------------------------------------------ the walk
    def _do_check(self) -> None:
        frame = self._initial_frame(0)
        frame.regs[1] = RegState(S.PTR_TO_CTX, tn.const(0), 0, 0, 0, 0)
        pending: list[_Path] = [_Path([frame], 0, None)]
        while pending:
            self.stats.peak_states = max(self.stats.peak_states, self.stats.total_states)
            path = pending.pop()
            self._run_path(path, pending)

    def _run_path(self, path: _Path, pending: list[_Path]) -> None:
        cfg = self.cfg
        level = self.log.level
        while True:
            pc = path.pc
            if pc in self._prune and self._is_state_visited(path):
                self._path_done(path)
                return
            insn = cfg.insns[pc]
            assert insn is not None
            self.stats.insns_processed += 1
            if self.stats.insns_processed > BPF_COMPLEXITY_LIMIT_INSNS:
                raise self._err(
                    f"BPF program is too large. Processed {self.stats.insns_processed} insn",
                    pc, errno.E2BIG)
            if level >= 2:
                self.log.trace(f"{pc}: {self._state_str(path)}", level=2)
            if level >= 1:
                self.log.trace(f"{pc}: ({insn.code:02x}) {self._fmt(insn, pc)}", level=1)
            nxt = self._step(path, insn, pc, pending)
            if nxt is None:
                self._path_done(path)
                return
            path.pc = nxt

    def _path_done(self, path: _Path) -> None:
        st = path.parent
        while st is not None:
            st.branches -= 1
            if st.branches:
                break
            st = st.parent

    # ------------------------------------------------------------------ pruning
    def _is_state_visited(self, path: _Path) -> bool:
        pc = path.pc
        seen = self._explored.setdefault(pc, [])
        live = self._live[pc]
        for cp in seen:
            if cp.branches == 0:
                if len(cp.frames) == len(path.frames) and cp.refs == path.refs and \
                        self._states_safe(cp.frames, path.frames, live):
                    return True
            elif self._states_equal(cp.frames, path.frames):
                raise self._err(f"infinite loop detected at insn {pc}", pc, errno.EINVAL)
        cp = _Checkpoint(path.frames, path.refs, path.parent, pc)
        path.parent = cp
        seen.append(cp)
        self.stats.total_states += 1
        self.stats.max_states_per_insn = max(self.stats.max_states_per_insn, len(seen))
        return False

    def _states_equal(self, old: list[Frame], cur: list[Frame]) -> bool:
        if len(old) != len(cur):
            return False
        for fo, fc in zip(old, cur, strict=True):
            if fo.callsite != fc.callsite or fo.regs != fc.regs:
                return False
            if {k: v for k, v in fo.stack.items() if v != S.EMPTY_SLOT} != \
                    {k: v for k, v in fc.stack.items() if v != S.EMPTY_SLOT}:
                return False
        return True

    def _states_safe(self, old: list[Frame], cur: list[Frame], live: int) -> bool:
        idmap: dict[int, int] = {}
        last = len(old) - 1
        for i, (fo, fc) in enumerate(zip(old, cur, strict=True)):
            if fo.callsite != fc.callsite:
                return False
            for r in range(11):
                if i == last and not (live >> r) & 1:
                    continue
                if i != last and r in (0, 1, 2, 3, 4, 5):
                    continue  # caller's R0-R5 are overwritten when the callee returns
                if not _regsafe(fo.regs[r], fc.regs[r], idmap):
                    return False
            for slot, so in fo.stack.items():
                if not _slotsafe(so, fc.stack.get(slot, S.EMPTY_SLOT), idmap):
                    return False
        return True

    # ------------------------------------------------------------------ one insn
    def _step(self, path: _Path, insn: Insn, pc: int, pending: list[_Path]) -> int | None:
        info = OPCODES[insn.code]
        k = info.kind
        if k in ("alu", "end"):
            self._check_alu(path, insn, info, pc)
            return pc + 1
        if k in ("ldx", "ldxsx"):
            self._read_reg(path, insn.src, pc)
            self._check_dst_writable(insn.dst, pc)
            val = self._check_mem_access(path, insn.src, insn.off, info.size, "read", pc,
                                         signed=k == "ldxsx")
            path.cur.regs[insn.dst] = val
            return pc + 1
        if k in ("st", "stx"):
            self._read_reg(path, insn.dst, pc)
            if k == "stx":
                self._read_reg(path, insn.src, pc)
                val = path.cur.regs[insn.src]
            else:
                val = S.scalar_const(insn.imm)
                if path.cur.regs[insn.dst].type == S.PTR_TO_CTX:
                    raise self._err(f"BPF_ST stores into R{insn.dst} ctx is not allowed", pc)
            self._check_mem_access(path, insn.dst, insn.off, info.size, "write", pc, value=val)
            return pc + 1
        if k == "atomic":
            self._check_atomic(path, insn, info, pc)
            return pc + 1
        if k == "lddw":
            self._check_ld_imm(path, insn, pc)
            return pc + 2
        if k in ("ldabs", "ldind"):
            self._check_ld_abs(path, insn, info, pc)
            return pc + 1
        if k == "ja":
            return jump_target(pc, insn)
        if k == "jcond":
            return self._check_cond_jmp(path, insn, info, pc, pending)
        if k == "call":
            if insn.src == BPF_PSEUDO_CALL:
                return self._check_func_call(path, insn, pc)
            if insn.src != 0:
                raise self._err("kernel function calls are not supported by pybpf's verifier",
                                pc, errno.EINVAL)
            self._check_helper_call(path, insn, pc)
            return pc + 1
        if k == "callx":
            raise self._err(f"unknown opcode {insn.code:02x}", pc, errno.EINVAL)
        if k == "exit":
            return self._check_exit(path, pc)
        raise self._err(f"unknown opcode {insn.code:02x}", pc, errno.EINVAL)

    # ------------------------------------------------------------------ registers
    def _read_reg(self, path: _Path, regno: int, pc: int) -> RegState:
        r = path.cur.regs[regno]
        if r.type == S.NOT_INIT:
            raise self._err(f"R{regno} !read_ok", pc)
        return r

    def _check_dst_writable(self, regno: int, pc: int) -> None:
        if regno == 10:
            raise self._err("frame pointer is read only", pc)

    def _leak_check(self, r: RegState) -> bool:
        return not self.privileged and r.is_pointer

    # ------------------------------------------------------------------ ALU
    def _check_alu(self, path: _Path, insn: Insn, info: Any, pc: int) -> None:
        regs = path.cur.regs
        op = info.op
        bits = 64 if info.is64 else 32
        if info.kind == "end" or op == 0x80:  # END / NEG
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
                regs[insn.dst] = S.UNKNOWN_SCALAR if bits == 64 or info.kind == "end" and \
                    insn.imm == 64 else S.sub32(S.UNKNOWN_SCALAR)
            return
        if info.use_src_reg:
            src = self._read_reg(path, insn.src, pc)
        else:
            src = S.scalar_const(insn.imm if bits == 64 else insn.imm & 0xFFFFFFFF)
        self._check_dst_writable(insn.dst, pc)
        if op == 0xB0:  # MOV
            regs[insn.dst] = self._mov(insn, info, src, bits, pc)
            return
        dst = self._read_reg(path, insn.dst, pc)
        if not info.use_src_reg:
            if op in (0x30, 0x90) and insn.imm == 0:
                raise self._err("div by zero", pc, errno.EINVAL)
            if op in (0x60, 0x70, 0xC0) and not 0 <= insn.imm < bits:
                raise self._err(f"invalid shift {insn.imm}", pc, errno.EINVAL)
        name = ALU_OPS[op]
        if insn.off == 1:  # sdiv / smod: result not modelled unless constant
            if dst.is_pointer or src.is_pointer:
                raise self._err(f"R{insn.dst} pointer arithmetic with {name} operator "
                                "prohibited", pc)
            regs[insn.dst] = self._sdivmod(name, dst, src, bits)
            return
        if dst.is_pointer or src.is_pointer:
            regs[insn.dst] = self._ptr_alu(name, insn, dst, src, bits, pc)
            return
        regs[insn.dst] = S.alu(name, dst, src, bits)

    def _sdivmod(self, name: str, a: RegState, b: RegState, bits: int) -> RegState:
        if a.is_const and b.is_const:
            m = (1 << bits) - 1
            x, y = a.const & m, b.const & m
            sx = x - (1 << bits) if x >> (bits - 1) else x
            sy = y - (1 << bits) if y >> (bits - 1) else y
            if name == "div":
                q = 0 if sy == 0 else (abs(sx) // abs(sy)) * (1 if (sx < 0) == (sy < 0) else -1)
                return S.scalar_const(q & m)
            r = sx if sy == 0 else sx - sy * int(sx / sy)
            return S.scalar_const(r & m)
        return S.UNKNOWN_SCALAR if bits == 64 else S.sub32(S.UNKNOWN_SCALAR)

    def _mov(self, insn: Insn, info: Any, src: RegState, bits: int, pc: int) -> RegState:
        if insn.off:  # MOVSX
            if src.is_pointer:
                raise self._err(f"R{insn.src} sign-extension part of pointer", pc)
            if src.is_const:
                w = insn.off
                v = src.const & ((1 << w) - 1)
                if v >> (w - 1):
                    v -= 1 << w
                return S.scalar_const(v if bits == 64 else v & 0xFFFFFFFF)
            return S.UNKNOWN_SCALAR if bits == 64 else S.sub32(S.UNKNOWN_SCALAR)
        if bits == 64:
            return src
        if src.is_pointer:
            if not self.privileged:
                raise self._err(f"R{insn.src} partial copy of pointer", pc)
            return S.sub32(S.UNKNOWN_SCALAR)
        return S.sub32(src)

    def _ptr_alu(self, name: str, insn: Insn, dst: RegState, src: RegState, bits: int,
                 pc: int) -> RegState:
        d = insn.dst
        if bits == 32:
            raise self._err(f"R{d} 32-bit pointer arithmetic prohibited", pc)
        ptr, off_reg = (dst, src) if dst.is_pointer else (src, dst)
        if dst.is_pointer and src.is_pointer:
            if name == "sub" and dst.type == src.type and self.privileged:
                return S.UNKNOWN_SCALAR
            raise self._err(f"R{d} pointer {'-' if name == 'sub' else '+'}= pointer prohibited",
                            pc)
        if name not in ("add", "sub"):
            kind = "bitwise operator" if name in ("and", "or", "xor") else "pointer arithmetic"
            sym = {"and": "&=", "or": "|=", "xor": "^=", "mul": "*=", "div": "/=",
                   "mod": "%=", "lsh": "<<=", "rsh": ">>=", "arsh": "s>>="}[name]
            if kind == "bitwise operator":
                raise self._err(f"R{d} bitwise operator {sym} on pointer prohibited", pc)
            raise self._err(f"R{d} pointer arithmetic with {sym} operator prohibited", pc)
        if name == "sub" and not dst.is_pointer:
            raise self._err(f"R{d} tried to subtract pointer from scalar", pc)
        if ptr.maybe_null:
            raise self._err(f"R{d} pointer arithmetic on {ptr.type_name()} prohibited, "
                            "null-check it first", pc)
        if ptr.type == S.CONST_PTR_TO_MAP:
            if not (off_reg.is_const and off_reg.const == 0 and name == "add"):
                raise self._err(f"R{d} pointer arithmetic on map_ptr prohibited", pc)
            return ptr
        if ptr.type == S.PTR_TO_CTX and not off_reg.is_const:
            raise self._err(f"R{d} pointer arithmetic on ctx with variable offset prohibited", pc)
        if off_reg.is_const:
            c = S.to_s64(off_reg.const)
            if name == "sub":
                c = -c
            new_off = ptr.off + c
            if not -BPF_MAX_VAR_OFF < new_off < BPF_MAX_VAR_OFF:
                raise self._err(f"value {c} makes {ptr.type} pointer be out of bounds", pc)
            return replace(ptr, off=new_off)
        if ptr.type == S.PTR_TO_STACK and not self.privileged:
            raise self._err(f"R{d} variable stack access prohibited for !root", pc)
        if off_reg.smin <= -BPF_MAX_VAR_OFF or off_reg.smax >= BPF_MAX_VAR_OFF:
            # the kernel lets the pointer exist; any access through it is refused later
            pass
        var = RegState(S.SCALAR, ptr.var, ptr.umin, ptr.umax, ptr.smin, ptr.smax)
        var = S.alu(name, var, off_reg, 64)
        return replace(ptr, var=var.var, umin=var.umin, umax=var.umax, smin=var.smin,
                       smax=var.smax)

    # ------------------------------------------------------------------ memory
    def _check_mem_access(self, path: _Path, regno: int, off: int, size: int, access: str,
                          pc: int, *, value: RegState | None = None,
                          signed: bool = False) -> RegState:
        reg = path.cur.regs[regno]
        t = reg.type
        write = access == "write"
        if t == S.CONST_PTR_TO_MAP and self.privileged and not reg.maybe_null:
            # check_ptr_to_map_access: root may read struct bpf_map's fields (via BTF)
            if write:
                raise self._err("only read from bpf_map is supported", pc)
            if reg.off + off < 0:
                raise self._err(f"R{regno} is ptr_bpf_map invalid negative access: "
                                f"off={reg.off + off}", pc)
            return _loaded_scalar(size, signed)
        if reg.maybe_null or t in (S.SCALAR, S.CONST_PTR_TO_MAP, S.NOT_INIT):
            raise self._err(f"R{regno} invalid mem access '{reg.type_name()}'", pc)
        if write and value is not None and value.is_pointer and not self.privileged and \
                t != S.PTR_TO_STACK:
            raise self._err(f"R{regno} leaks addr into {'map' if t == S.PTR_TO_MAP_VALUE else 'mem'}",
                            pc)
        if t == S.PTR_TO_CTX:
            if reg.off:
                raise self._err(f"dereference of modified ctx ptr R{regno} off={reg.off} "
                                "disallowed", pc)
            if write and value is not None and value.is_pointer:
                raise self._err(f"R{regno} leaks addr into ctx", pc)
            res = self.rules.ctx_access(off, size, write)
            if not res.ok:
                raise self._err(f"invalid bpf_context access off={off} size={size}", pc)
            return _loaded_scalar(size, signed)
        if t == S.PTR_TO_STACK:
            return self._check_stack_access(path, reg, regno, off, size, access, pc, value,
                                            signed)
        if t in (S.PTR_TO_MAP_VALUE, S.PTR_TO_MAP_KEY, S.PTR_TO_MEM):
            if t == S.PTR_TO_MAP_VALUE:
                limit = reg.map.value_size
                if write and getattr(reg.map, "flags", 0) & BPF_F_RDONLY_PROG:
                    raise self._err("write into map forbidden", pc)
                what = f"map value, value_size={limit}"
            elif t == S.PTR_TO_MAP_KEY:
                limit = reg.map.key_size
                what = f"map key, key_size={limit}"
            else:
                limit = reg.mem_size
                what = f"memory, mem_size={limit}"
            self._check_region(reg, regno, off, size, limit, what, pc)
            return _loaded_scalar(size, signed)
        raise self._err(f"R{regno} invalid mem access '{reg.type_name()}'", pc)

    def _check_region(self, reg: RegState, regno: int, off: int, size: int, limit: int,
                      what: str, pc: int) -> None:
        if reg.smin < 0:
            raise self._err(f"R{regno} min value is negative, either use unsigned index or do "
                            "a if (index >=0) check.", pc)
        if reg.umax >= BPF_MAX_VAR_OFF:
            raise self._err(f"R{regno} unbounded memory access, make sure to bounds check any "
                            "such access", pc)
        lo = reg.off + off + reg.smin
        hi = reg.off + off + reg.umax
        if lo < 0 or hi + size > limit:
            bad = lo if lo < 0 else hi
            raise self._err(f"invalid access to {what} off={bad} size={size}", pc)

    def _stack_bounds(self, reg: RegState, regno: int, off: int, size: int, access: str,
                      pc: int) -> tuple[int, int]:
        lo = reg.off + off + (reg.smin if not reg.is_const else S.to_s64(reg.const))
        hi = reg.off + off + (reg.smax if not reg.is_const else S.to_s64(reg.const))
        if lo < -MAX_BPF_STACK or hi + size > 0 or size <= 0:
            bad = lo if lo < -MAX_BPF_STACK else hi
            raise self._err(f"invalid {access} stack R{regno} off={bad} size={size}", pc)
        return lo, hi

    def _check_stack_access(self, path: _Path, reg: RegState, regno: int, off: int,
                            size: int, access: str, pc: int, value: RegState | None,
                            signed: bool) -> RegState:
        frame = path.frames[reg.frameno]
        lo, hi = self._stack_bounds(reg, regno, off, size, access, pc)
        if reg.is_const and lo % size:
            raise self._err(f"misaligned stack access off {reg.var}+{reg.off + off}+0 "
                            f"size {size}", pc)
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
            if size == 8 and lo % 8 == 0:
                frame.stack[_slot(lo)] = StackSlot(S.STACK_SPILL * 8, value)
                return value
            if not self.privileged and _slot_has_pointer(frame, lo, size):
                raise self._err("attempt to corrupt spilled pointer on stack", pc)
            kind = S.STACK_ZERO if value.is_const and value.const == 0 else S.STACK_MISC
            for a in range(lo, lo + size):
                _set_stack_byte(frame, a, kind)
            return value
        # read
        if lo != hi:
            for a in range(lo, hi + size):
                if _stack_byte(frame, a) == S.STACK_INVALID and not self.privileged:
                    raise self._err(f"invalid variable-offset read from stack R{regno} "
                                    f"var_off={reg.var} off={off} size={size}", pc)
            return _loaded_scalar(size, signed)
        slot = frame.stack.get(_slot(lo), S.EMPTY_SLOT)
        if slot.spilled is not None and slot.kinds == S.STACK_SPILL * 8:
            sp = slot.spilled
            if size == 8 and lo % 8 == 0:
                return sp
            if sp.is_pointer:
                raise self._err("invalid size of register fill", pc)
            if sp.is_const and not signed:
                shift = (lo % 8) * 8
                return S.scalar_const((sp.const >> shift) & ((1 << (size * 8)) - 1))
            return _loaded_scalar(size, signed)
        kinds = [_stack_byte(frame, a) for a in range(lo, lo + size)]
        if S.STACK_INVALID in kinds and self.privileged:
            return _loaded_scalar(size, signed)  # allow_uninit_stack (perfmon_capable)
        if S.STACK_INVALID in kinds:
            first = lo + kinds.index(S.STACK_INVALID)
            raise self._err(f"invalid read from stack off {lo}+{first - lo} size {size}", pc)
        if all(k == S.STACK_ZERO for k in kinds):
            return S.scalar_const(0)
        if any(k == S.STACK_SPILL for k in kinds) and _slot_has_pointer(frame, lo, size):
            if not self.privileged:
                raise self._err("invalid size of register fill", pc)
        return _loaded_scalar(size, signed)

    def _check_helper_mem(self, path: _Path, regno: int, size_lo: int, size_hi: int,
                          write: bool, pc: int, zero_ok: bool = False) -> None:
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
                    self.stats.stack_depth[frame.subprog], _round8(depth))
            for a in range(lo, hi + size_hi):
                if write:
                    _set_stack_byte(frame, a, S.STACK_MISC)
                elif _stack_byte(frame, a) == S.STACK_INVALID and not self.privileged:
                    raise self._err(f"invalid indirect read from stack R{regno} off {lo}+"
                                    f"{a - lo} size {size_hi}", pc)
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
            raise self._err(f"R{regno} type=ctx expected=fp, pkt, pkt_meta, map_key, "
                            "map_value, mem", pc)
        raise self._err(f"R{regno} type={reg.type_name() if t != S.NOT_INIT else 'inv'} "
                        "expected=fp, pkt, pkt_meta, map_key, map_value, mem", pc)

    # ------------------------------------------------------------------ atomics, loads
    def _check_atomic(self, path: _Path, insn: Insn, info: Any, pc: int) -> None:
        self._read_reg(path, insn.src, pc)
        self._read_reg(path, insn.dst, pc)
        src = path.cur.regs[insn.src]
        if insn.imm == 0xF1:  # CMPXCHG compares with R0
            self._read_reg(path, 0, pc)
            if path.cur.regs[0].is_pointer and not self.privileged:
                raise self._err("R0 leaks addr into mem", pc)
        if src.is_pointer and not self.privileged:
            raise self._err(f"R{insn.src} leaks addr into mem", pc)
        dst = path.cur.regs[insn.dst]
        if dst.type == S.PTR_TO_CTX:
            raise self._err(f"BPF_ATOMIC stores into R{insn.dst} ctx is not allowed", pc)
        self._check_mem_access(path, insn.dst, insn.off, info.size, "read", pc)
        self._check_mem_access(path, insn.dst, insn.off, info.size, "write", pc,
                               value=S.UNKNOWN_SCALAR)
        if insn.imm & 0x01:  # BPF_FETCH: the old value lands in src (R0 for cmpxchg)
            target = 0 if insn.imm == 0xF1 else insn.src
            self._check_dst_writable(target, pc)
            path.cur.regs[target] = _loaded_scalar(info.size, False)

    def _check_ld_imm(self, path: _Path, insn: Insn, pc: int) -> None:
        self._check_dst_writable(insn.dst, pc)
        regs = path.cur.regs
        if insn.src == 0:
            regs[insn.dst] = S.scalar_const(insn.imm64)
            return
        if insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_VALUE,
                        BPF_PSEUDO_MAP_IDX_VALUE):
            m = self.resolve_map(insn)
            if m is None:
                raise self._err(f"fd {insn.imm} is not pointing to valid bpf_map", pc,
                                errno.EBADF)
            if insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX):
                regs[insn.dst] = RegState(S.CONST_PTR_TO_MAP, tn.const(0), 0, 0, 0, 0, map=m)
            else:
                off = insn.imm_hi & 0xFFFFFFFF
                if off >= m.value_size:
                    raise self._err(f"invalid access to map value pointer, value_size="
                                    f"{m.value_size} off={off}", pc, errno.EINVAL)
                regs[insn.dst] = RegState(S.PTR_TO_MAP_VALUE, tn.const(0), 0, 0, 0, 0, off=off,
                                          map=m)
            return
        raise self._err(f"ld_imm64 with src_reg {insn.src} is not supported by pybpf's "
                        "verifier", pc, errno.EINVAL)

    def _check_ld_abs(self, path: _Path, insn: Insn, info: Any, pc: int) -> None:
        if not self.rules.may_ld_abs:
            raise self._err("BPF_LD_[ABS|IND] instructions not allowed for this program type",
                            pc, errno.EINVAL)
        if len(self.cfg.subprog_starts) > 1:
            raise self._err("BPF_LD_[ABS|IND] cannot be mixed with bpf-to-bpf calls", pc,
                            errno.EINVAL)
        r6 = self._read_reg(path, 6, pc)
        if r6.type != S.PTR_TO_CTX or r6.off:
            raise self._err("at the time of BPF_LD_ABS|IND R6 != pointer to skb", pc,
                            errno.EINVAL)
        if info.kind == "ldind":
            self._read_reg(path, insn.src, pc)
        if path.refs:
            raise self._err("BPF_LD_[ABS|IND] cannot be mixed with socket references", pc,
                            errno.EINVAL)
        regs = path.cur.regs
        for r in CALLER_SAVED:
            regs[r] = S.NOT_INIT_REG
        regs[0] = _loaded_scalar(info.size, False)

    # ------------------------------------------------------------------ jumps
    def _check_cond_jmp(self, path: _Path, insn: Insn, info: Any, pc: int,
                        pending: list[_Path]) -> int | None:
        dst = self._read_reg(path, insn.dst, pc)
        if info.use_src_reg:
            src = self._read_reg(path, insn.src, pc)
        else:
            src = S.scalar_const(insn.imm if info.is64 else insn.imm & 0xFFFFFFFF)
        op = info.op
        target = jump_target(pc, insn)
        bits = 64 if info.is64 else 32
        # null checks of maybe-null pointers against 0
        for ptr_reg, other in ((dst, src), (src, dst)):
            if ptr_reg.maybe_null and other.type == S.SCALAR and other.is_const and \
                    other.const == 0 and op in (0x10, 0x50) and bits == 64:
                is_eq = op == 0x10
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
                    f.stack[k] = StackSlot(slot.kinds, S.scalar_const(0) if null else
                                           replace(sp, maybe_null=False))
        if null and path.refs:
            path.refs = tuple(x for x in path.refs if x[0] != rid)

    # ------------------------------------------------------------------ calls
    def _check_helper_call(self, path: _Path, insn: Insn, pc: int) -> None:
        fid = insn.imm
        name = FUNC_NAMES.get(fid, "unknown")
        proto = self.rules.helper(fid, privileged=self.privileged)
        if proto is None:
            if fid not in FUNC_NAMES:
                raise self._err(f"invalid func unknown#{fid}", pc, errno.EINVAL)
            raise self._err(f"program of this type cannot use helper {name}#{fid}", pc,
                            errno.EINVAL)
        if proto.gpl_only and not _license_is_gpl(self.license):
            raise self._err("cannot call GPL-restricted function from non-GPL compatible "
                            "program", pc, errno.EINVAL)
        regs = path.cur.regs
        meta_map: Any = None
        alloc_size = 0
        released: int | None = None
        key_const: int | None = None
        args = proto.args
        for i, at in enumerate(args):
            regno = i + 1
            if at == R.ARG_DONTCARE:
                continue
            reg = self._read_reg(path, regno, pc)
            if at == R.ARG_ANYTHING:
                if reg.is_pointer and not self.privileged:
                    raise self._err(f"R{regno} leaks addr into helper function", pc)
            elif at == R.ARG_CONST_MAP_PTR:
                if reg.type != S.CONST_PTR_TO_MAP:
                    raise self._err(f"R{regno} type={reg.type_name()} expected=map_ptr", pc)
                meta_map = reg.map
                if proto.map_types and meta_map.type not in proto.map_types:
                    raise self._err(f"cannot pass map_type {meta_map.type} into func "
                                    f"{name}#{fid}", pc, errno.EINVAL)
            elif at in (R.ARG_PTR_TO_MAP_KEY, R.ARG_PTR_TO_MAP_VALUE,
                        R.ARG_PTR_TO_UNINIT_MAP_VALUE):
                if meta_map is None:
                    raise self._err("invalid map_ptr to access map->key", pc)
                size = meta_map.key_size if at == R.ARG_PTR_TO_MAP_KEY else meta_map.value_size
                self._check_helper_mem(path, regno, size, size,
                                       at == R.ARG_PTR_TO_UNINIT_MAP_VALUE, pc)
                if at == R.ARG_PTR_TO_MAP_KEY:
                    key_const = self._const_stack_key(path, reg, size)
            elif at in (R.ARG_PTR_TO_MEM, R.ARG_PTR_TO_UNINIT_MEM, R.ARG_PTR_TO_MEM_OR_NULL):
                nxt = args[i + 1] if i + 1 < len(args) else None
                if at == R.ARG_PTR_TO_MEM_OR_NULL and reg.type == S.SCALAR and reg.is_const \
                        and reg.const == 0:
                    continue
                if nxt not in (R.ARG_CONST_SIZE, R.ARG_CONST_SIZE_OR_ZERO):
                    raise self._err(f"R{regno} helper argument without a size", pc)
                sz = self._read_reg(path, regno + 1, pc)
                if sz.type != S.SCALAR:
                    raise self._err(f"R{regno + 1} type={sz.type_name()} expected=scalar", pc)
                if sz.smin < 0:
                    raise self._err(f"R{regno + 1} min value is negative, either use unsigned "
                                    "or 'var &= const'", pc)
                if sz.umin == 0 and nxt == R.ARG_CONST_SIZE:
                    raise self._err(f"R{regno + 1} invalid zero-sized read", pc)
                if sz.umax >= BPF_MAX_VAR_OFF:
                    raise self._err(f"R{regno + 1} unbounded memory access, use 'var &= const' "
                                    "or 'if (var < const)'", pc)
                self._check_helper_mem(path, regno, sz.umin, sz.umax,
                                       at == R.ARG_PTR_TO_UNINIT_MEM, pc)
            elif at in (R.ARG_CONST_SIZE, R.ARG_CONST_SIZE_OR_ZERO):
                continue  # checked with the pointer before it
            elif at == R.ARG_PTR_TO_CTX:
                if reg.type != S.PTR_TO_CTX:
                    raise self._err(f"R{regno} type={reg.type_name()} expected=ctx", pc)
                if reg.off:
                    raise self._err(f"dereference of modified ctx ptr R{regno} off={reg.off} "
                                    "disallowed", pc)
            elif at == R.ARG_CONST_ALLOC_SIZE_OR_ZERO:
                if not (reg.type == S.SCALAR and reg.is_const):
                    raise self._err(f"R{regno} is not a known constant'", pc)
                alloc_size = reg.const
            elif at == R.ARG_PTR_TO_ALLOC_MEM:
                if reg.type != S.PTR_TO_MEM or not reg.ref_obj_id or reg.maybe_null:
                    raise self._err(f"R{regno} type={reg.type_name()} expected=ringbuf_mem",
                                    pc)
                if reg.off:
                    raise self._err(f"R{regno} must have zero offset when passed to release "
                                    "func", pc)
                released = reg.ref_obj_id
            elif at == R.ARG_PTR_TO_LONG:
                self._check_helper_mem(path, regno, 8, 8, True, pc)
            elif at == R.ARG_PTR_TO_CONST_STR:
                if reg.type != S.PTR_TO_MAP_VALUE:
                    raise self._err(f"R{regno} type={reg.type_name()} expected=map_value", pc)
            else:
                raise self._err(f"helper {name}#{fid} has an argument kind pybpf's verifier "
                                "does not model", pc, errno.EINVAL)
        if released is not None:
            if not any(r == released for r, _ in path.refs):
                raise self._err("R1 must be referenced when passed to release function", pc)
            path.refs = tuple(x for x in path.refs if x[0] != released)
            for f in path.frames:
                for i, r in enumerate(f.regs):
                    if r.ref_obj_id == released:
                        f.regs[i] = S.NOT_INIT_REG
        for r in CALLER_SAVED:
            regs[r] = S.NOT_INIT_REG
        if proto.ret == R.RET_INTEGER:
            regs[0] = S.UNKNOWN_SCALAR
        elif proto.ret == R.RET_VOID:
            regs[0] = S.NOT_INIT_REG
        elif proto.ret == R.RET_PTR_TO_MAP_VALUE_OR_NULL:
            null = not (fid == 1 and key_const is not None and
                        meta_map.type in (2, 6) and key_const < meta_map.max_entries)
            regs[0] = RegState(S.PTR_TO_MAP_VALUE, tn.const(0), 0, 0, 0, 0, map=meta_map,
                               maybe_null=null, id=self._new_id() if null else 0)
        elif proto.ret == R.RET_PTR_TO_MEM_OR_NULL:
            rid = self._new_id()
            regs[0] = RegState(S.PTR_TO_MEM, tn.const(0), 0, 0, 0, 0, maybe_null=True, id=rid,
                               mem_size=alloc_size, ref_obj_id=rid)
            path.refs = path.refs + ((rid, pc),)
        else:
            raise self._err(f"helper {name}#{fid} returns a kind pybpf's verifier does not "
                            "model", pc, errno.EINVAL)

    def _const_stack_key(self, path: _Path, reg: RegState, size: int) -> int | None:
        """A map key known exactly on the stack (get_constant_map_key), else None.

        Linux 6.13+ uses it to elide the null check of ARRAY lookups whose key is
        a constant below max_entries.
        """
        if reg.type != S.PTR_TO_STACK or not reg.is_const or size not in (1, 2, 4, 8):
            return None
        frame = path.frames[reg.frameno]
        lo = reg.off + S.to_s64(reg.const)
        slot = frame.stack.get(_slot(lo))
        if slot is None:
            return None
        if slot.spilled is not None and slot.kinds == S.STACK_SPILL * 8:
            sp = slot.spilled
            if sp.type == S.SCALAR and sp.is_const and lo % 8 == 0:
                return sp.const & ((1 << (size * 8)) - 1)
            return None
        if all(_stack_byte(frame, a) == S.STACK_ZERO for a in range(lo, lo + size)):
            return 0
        return None

    def _check_func_call(self, path: _Path, insn: Insn, pc: int) -> int:
        if len(path.frames) >= MAX_CALL_FRAMES:
            raise self._err(f"the call stack of {len(path.frames) + 1} frames is too deep !",
                            pc, errno.E2BIG)
        target = pc + 1 + insn.imm
        sub = self.cfg.subprog_starts.index(target)
        callee = self._initial_frame(sub, callsite=pc, depth=len(path.frames))
        caller = path.cur
        for r in CALLER_SAVED:
            callee.regs[r] = caller.regs[r]
        path.frames.append(callee)
        return target

    def _check_exit(self, path: _Path, pc: int) -> int | None:
        r0 = self._read_reg(path, 0, pc)
        if len(path.frames) > 1:
            callee = path.frames.pop()
            if r0.type == S.PTR_TO_STACK and r0.frameno == len(path.frames):
                raise self._err("cannot return stack pointer to the caller", pc, errno.EINVAL)
            caller = path.cur
            for r in CALLER_SAVED:
                caller.regs[r] = S.NOT_INIT_REG
            caller.regs[0] = r0
            return callee.callsite + 1
        if path.refs:
            rid, alloc = path.refs[0]
            raise self._err(f"Unreleased reference id={rid} alloc_insn={alloc}", pc, errno.EINVAL)
        if r0.is_pointer and not self.privileged:
            raise self._err("R0 leaks addr as return value", pc)
        return None

    def _check_max_stack_depth(self) -> None:
        # combined stack of the deepest call chain, each frame rounded to 32 bytes as the JIT
        depth = self.stats.stack_depth
        calls: dict[int, set[int]] = {i: set() for i in range(len(depth))}
        for pc, insn in enumerate(self.cfg.insns):
            if insn is not None and OPCODES[insn.code].kind == "call" and \
                    insn.src == BPF_PSEUDO_CALL:
                calls[self.cfg.subprog_of(pc)].add(self.cfg.subprog_starts.index(pc + 1 +
                                                                                insn.imm))

        def worst(sub: int, seen: tuple[int, ...]) -> int:
            own = max(_round32(depth[sub]), 0)
            inner = [worst(c, seen + (c,)) for c in calls[sub] if c not in seen]
            return own + (max(inner) if inner else 0)

        total = worst(0, (0,))
        if total > MAX_BPF_STACK:
            raise self._err(f"combined stack size of {len(depth)} calls is {total}. Too large",
                            None, errno.EACCES)

    # ------------------------------------------------------------------ logging
    def _fmt(self, insn: Insn, pc: int) -> str:
        if self._disasm is None:
            try:
                from ..disasm import format_insn

                self._disasm = format_insn
            except ImportError:
                self._disasm = lambda i, p: repr(i)
        try:
            return self._disasm(insn, pc)
        except Exception:  # the log must never fail the verification
            return repr(insn)

    def _state_str(self, path: _Path) -> str:
        parts = []
        for i, r in enumerate(path.cur.regs):
            if r.type != S.NOT_INIT:
                parts.append(f"R{i}={'fp0' if i == 10 else r}")
        for slot in sorted(path.cur.stack):
            s = path.cur.stack[slot]
            if s != S.EMPTY_SLOT:
                parts.append(f"fp{-(slot + 1) * 8}={s}")
        return " ".join(parts)


# ---------------------------------------------------------------------- helpers
def _license_is_gpl(lic: str) -> bool:
    return lic in ("GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL",
                   "Dual MPL/GPL")


def _round8(n: int) -> int:
    return (n + 7) // 8 * 8


def _round32(n: int) -> int:
    return (n + 31) // 32 * 32


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
    kinds = kinds[:pos] + kind + kinds[pos + 1:]
    frame.stack[idx] = StackSlot(kinds, None)


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
        return S.sync(RegState(S.SCALAR, tn.UNKNOWN, smin=-(1 << (bits - 1)),
                               smax=(1 << (bits - 1)) - 1))
    return S.scalar_range(0, (1 << bits) - 1)


def _end_or_neg(insn: Insn, info: Any, v: int) -> int:
    if info.kind == "alu":  # NEG
        return (-v) & (0xFFFFFFFFFFFFFFFF if info.is64 else 0xFFFFFFFF)
    width = insn.imm
    m = (1 << width) - 1
    x = v & m
    if info.name == "le":
        return x
    return int.from_bytes(x.to_bytes(width // 8, "little"), "big")


def _regsafe(old: RegState, cur: RegState, idmap: dict[int, int]) -> bool:
    if old.type == S.NOT_INIT:
        return True
    if old.type != cur.type or old.maybe_null != cur.maybe_null:
        return False
    if old.type == S.SCALAR:
        return (cur.umin >= old.umin and cur.umax <= old.umax and cur.smin >= old.smin and
                cur.smax <= old.smax and tn.contains(old.var, cur.var))
    if old.off != cur.off or old.map is not cur.map or old.mem_size != cur.mem_size or \
            old.frameno != cur.frameno:
        return False
    if old.id or cur.id:
        if idmap.setdefault(old.id, cur.id) != cur.id:
            return False
    if old.ref_obj_id != cur.ref_obj_id:
        return False
    return (cur.umin >= old.umin and cur.umax <= old.umax and cur.smin >= old.smin and
            cur.smax <= old.smax and tn.contains(old.var, cur.var))


def _slotsafe(old: StackSlot, cur: StackSlot, idmap: dict[int, int]) -> bool:
    if old == S.EMPTY_SLOT or old.kinds == S.STACK_INVALID * 8:
        return True
    if old.spilled is not None:
        if cur.spilled is None:
            # an explored spilled scalar accepts plain initialised bytes only if unbounded
            return (old.spilled.type == S.SCALAR and old.spilled == S.UNKNOWN_SCALAR and
                    S.STACK_INVALID not in cur.kinds)
        return _regsafe(old.spilled, cur.spilled, idmap)
    for ko, kc in zip(old.kinds, cur.kinds, strict=True):
        if ko == S.STACK_INVALID:
            continue
        if kc == S.STACK_INVALID:
            return False
        if ko == S.STACK_ZERO and kc != S.STACK_ZERO and not (
                cur.spilled is not None and cur.spilled.is_const and cur.spilled.const == 0):
            return False
        if ko == S.STACK_MISC and cur.spilled is not None and cur.spilled.is_pointer:
            return False
    return True


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
    if op == 0x10:  # JEQ
        if a.is_const and b.is_const:
            return a.const == b.const
        if a.umin > b.umax or a.umax < b.umin:
            return False
        return None
    if op == 0x50:  # JNE
        r = _branch_taken(0x10, dst, src, bits)
        return None if r is None else not r
    if op == 0x40:  # JSET
        if not (a.var.value | a.var.mask) & (b.var.value | b.var.mask):
            return False
        if a.var.value & b.var.value:
            return True
        return None
    table = {
        0x20: (a.umin > b.umax, a.umax <= b.umin),  # JGT
        0x30: (a.umin >= b.umax, a.umax < b.umin),  # JGE
        0xA0: (a.umax < b.umin, a.umin >= b.umax),  # JLT
        0xB0: (a.umax <= b.umin, a.umin > b.umax),  # JLE
        0x60: (smin_a > smax_b, smax_a <= smin_b),  # JSGT
        0x70: (smin_a >= smax_b, smax_a < smin_b),  # JSGE
        0xC0: (smax_a < smin_b, smin_a >= smax_b),  # JSLT
        0xD0: (smax_a <= smin_b, smin_a > smax_b),  # JSLE
    }
    yes, no = table[op]
    if yes:
        return True
    if no:
        return False
    return None


def _s32range(r: RegState) -> tuple[int, int]:
    if r.umax <= 0x7FFFFFFF:
        return r.umin, r.umax
    if r.umin >= 0x80000000 and r.umax <= 0xFFFFFFFF:
        return r.umin - (1 << 32), r.umax - (1 << 32)
    return -(1 << 31), (1 << 31) - 1


def _refine(op: int, dst: RegState, src: RegState,
            bits: int) -> tuple[RegState, RegState, RegState, RegState]:
    """reg_set_min_max: the bounds each side of a scalar comparison implies.

    Returns (dst if taken, src if taken, dst if not taken, src if not taken).
    Only 64-bit comparisons, and 32-bit ones on values known to fit in 32 bits,
    refine; anything else is left as it was (sound, less precise).
    """
    if bits == 32 and (dst.umax > 0xFFFFFFFF or src.umax > 0xFFFFFFFF):
        return dst, src, dst, src
    if bits == 32 and op in (0x60, 0x70, 0xC0, 0xD0):
        return dst, src, dst, src

    def clamp(r: RegState, umin: int | None = None, umax: int | None = None,
              smin: int | None = None, smax: int | None = None) -> RegState:
        n = replace(r, umin=max(r.umin, umin) if umin is not None else r.umin,
                    umax=min(r.umax, umax) if umax is not None else r.umax,
                    smin=max(r.smin, smin) if smin is not None else r.smin,
                    smax=min(r.smax, smax) if smax is not None else r.smax)
        if n.umin > n.umax or n.smin > n.smax:
            return r  # impossible branch; the kernel would prune it, keeping it is sound
        return S.sync(n)

    def cmp(o: int, x: RegState, y: RegState) -> tuple[RegState, RegState]:
        """Refine x, y assuming ``x o y`` holds."""
        if o == 0x10:  # ==
            if y.is_const:
                return S.scalar_const(y.const), y
            if x.is_const:
                return x, S.scalar_const(x.const)
            return x, y
        if o == 0x50:  # !=
            if y.is_const and x.umin == y.const and x.umin < x.umax:
                return clamp(x, umin=x.umin + 1), y
            if y.is_const and x.umax == y.const and x.umin < x.umax:
                return clamp(x, umax=x.umax - 1), y
            return x, y
        if o == 0x20:  # x > y
            return clamp(x, umin=y.umin + 1), clamp(y, umax=max(x.umax - 1, 0))
        if o == 0x30:  # x >= y
            return clamp(x, umin=y.umin), clamp(y, umax=x.umax)
        if o == 0xA0:  # x < y
            return clamp(x, umax=max(y.umax - 1, 0)) if y.umax else x, clamp(y, umin=x.umin + 1)
        if o == 0xB0:  # x <= y
            return clamp(x, umax=y.umax), clamp(y, umin=x.umin)
        if o == 0x60:  # s>
            return clamp(x, smin=y.smin + 1), clamp(y, smax=x.smax - 1)
        if o == 0x70:
            return clamp(x, smin=y.smin), clamp(y, smax=x.smax)
        if o == 0xC0:  # s<
            return clamp(x, smax=y.smax - 1), clamp(y, smin=x.smin + 1)
        if o == 0xD0:
            return clamp(x, smax=y.smax), clamp(y, smin=x.smin)
        if o == 0x40:  # JSET taken: nothing simple to learn
            return x, y
        return x, y

    negate = {0x10: 0x50, 0x50: 0x10, 0x20: 0xB0, 0x30: 0xA0, 0xA0: 0x30, 0xB0: 0x20,
              0x60: 0xD0, 0x70: 0xC0, 0xC0: 0x70, 0xD0: 0x60}
    td, ts = cmp(op, dst, src)
    if op == 0x40:
        # JSET not taken: the tested bits are zero
        fd = dst
        if src.is_const:
            fd = S.sync(replace(dst, var=tn.and_(dst.var, tn.const(~src.const))))
        return td, ts, fd, src
    fd, fs = cmp(negate[op], dst, src)
    return td, ts, fd, fs


def _default_map_resolver(insn: Insn) -> Any:
    if insn.ref is not None and hasattr(insn.ref, "value_size"):
        return insn.ref
    try:
        from ..maps import map_by_fd
    except ImportError:
        return None
    try:
        return map_by_fd(insn.imm)
    except Exception:
        return None


def verify(insns: Sequence[Insn], *, prog_type: int = 1, privileged: bool = True,
           log_level: int = 0, **kw: Any) -> VerifyResult:
    """Verify a program; raise VerifierError (with log, index, message) if Linux would refuse it."""
    return Verifier(insns, prog_type=prog_type, privileged=privileged, log_level=log_level,
                    **kw).verify()
