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
from dataclasses import dataclass, field
from typing import Any

from ..errors import VerifierError
from ..isa import (
    BPF_PSEUDO_CALL,
    OPCODES,
    Insn,
    jump_target,
)
from ..progtypes import get_prog_type
from ..uapi import BPF_COMPLEXITY_LIMIT_INSNS, FUNC_NAMES
from . import state as S
from . import tnum as tn
from .alu import AluChecks
from .branches import BranchChecks
from .calls import CALLBACK_HELPERS, CallChecks
from .cfg import Cfg, check_structure
from .explain import explain
from .liveness import live_registers
from .log import VerifierLog, insn_line
from .memory import MemoryChecks
from .prune import _regsafe, _slotsafe
from .state import Frame, RegState, StackSlot

#: exact visits of a callback body before changing scalars are widened to unknown
_WIDEN_AFTER = 4


@dataclass
class Stats:
    insns_processed: int = 0
    total_states: int = 0
    peak_states: int = 0
    max_states_per_insn: int = 0
    stack_depth: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"processed {self.insns_processed} insns (limit {BPF_COMPLEXITY_LIMIT_INSNS}) "
            f"max_states_per_insn {self.max_states_per_insn} total_states "
            f"{self.total_states} peak_states {self.peak_states} mark_read 0"
        )


@dataclass
class VerifyResult:
    """An accepted program's statistics and log."""

    stats: Stats
    log: str
    cfg: Cfg


class _Checkpoint:
    __slots__ = ("frames", "refs", "parent", "branches", "pc", "hit_cnt", "miss_cnt")

    def __init__(self, frames: list[Frame], refs: tuple, parent: _Checkpoint | None, pc: int):
        self.frames = [f.copy() for f in frames]
        self.refs = refs
        self.parent = parent
        self.branches = 1
        self.pc = pc
        self.hit_cnt = 0
        self.miss_cnt = 0


class _Path:
    """One live path: its frames, outstanding references and nearest checkpoint."""

    __slots__ = ("frames", "pc", "parent", "refs", "from_pc")

    def __init__(
        self,
        frames: list[Frame],
        pc: int,
        parent: _Checkpoint | None,
        refs: tuple = (),
        from_pc: int = -1,
    ):
        self.frames = frames
        self.pc = pc
        self.parent = parent
        self.refs = refs  # (ref_obj_id, alloc_insn) of ringbuf records not yet released
        self.from_pc = from_pc  # the branch this path was forked at (for the log)

    def fork(self, pc: int) -> _Path:
        if self.parent is not None:
            self.parent.branches += 1
        return _Path([f.copy() for f in self.frames], pc, self.parent, self.refs, self.pc)

    @property
    def cur(self) -> Frame:
        return self.frames[-1]


class Verifier(AluChecks, MemoryChecks, BranchChecks, CallChecks):
    """Check one program the way Linux does; raise VerifierError or return statistics."""

    def __init__(
        self,
        insns: Sequence[Insn],
        *,
        prog_type: int = 1,
        map_resolver: Callable[[Insn], Any] | None = None,
        privileged: bool = True,
        log_level: int = 0,
        license: str = "GPL",
        line_info: Sequence[Any] = (),
        func_info: Sequence[Any] = (),
    ):
        self.insns = list(insns)
        self.prog_type = prog_type
        self.privileged = privileged
        self.log = VerifierLog(level=log_level)
        self.license = license
        self.line_info = {li.insn: li for li in line_info}
        self.func_info = list(func_info)
        self.prog = get_prog_type(prog_type)
        self.resolve_map = map_resolver or _default_map_resolver
        self.stats = Stats()
        self._next_id = 0
        self._explored: dict[int, list[_Checkpoint]] = {}
        self._live: list[int] = []
        self._prune: set[int] = set()
        self._jmps_processed = 0
        self._cur_states = 0
        self._extra_prune = True
        self._evict = 3
        self._prev_jmps = 0
        self._prev_insns = 0
        self._cb_calls: set[int] = set()

    # ------------------------------------------------------------------ entry
    def verify(self) -> VerifyResult:
        t0 = time.perf_counter()
        try:
            cfg = check_structure(self.insns, self.log, privileged=self.privileged)
            self.cfg = cfg
            self._live = live_registers(cfg)
            self._prune = self._prune_points(cfg)
            self.stats.stack_depth = [0] * len(cfg.subprog_starts)
            self._do_check()
            self._check_max_stack_depth()
        except VerifierError as e:
            self.stats.seconds = time.perf_counter() - t0
            raise self._finish_error(e) from None
        self.stats.seconds = time.perf_counter() - t0
        self.log.verbose(self.stats.line())
        return VerifyResult(self.stats, self.log.text, cfg)

    def _finish_error(self, e: VerifierError) -> VerifierError:
        """The kernel's tail (statistics), then pybpf's explanation and the C source line."""
        if self.stats.insns_processed:
            self.log.verbose(self.stats.line())
        extra = []
        why = explain(e.message)
        if why:
            extra.append(f"pybpf: {why}")
        li = self._line_for(e.index)
        if li is not None:
            extra.append(f"pybpf: at insn {e.index}, {li.file}:{li.line}: {li.text.strip()}")
        if extra:
            self.log.verbose("")
            for line in extra:
                self.log.verbose(line)
        err = VerifierError(e.message, index=e.index, log=self.log.text, errno=e.errno)
        err.explanation = why  # type: ignore[attr-defined]
        err.source_line = li  # type: ignore[attr-defined]
        return err

    def _line_for(self, pc: int | None) -> Any:
        """The line-info record covering instruction ``pc`` (the closest one at or before)."""
        if pc is None or not self.line_info:
            return None
        earlier = [k for k in self.line_info if k <= pc]
        return self.line_info[max(earlier)] if earlier else None

    # ------------------------------------------------------------------ errors
    def _err(
        self, msg: str, pc: int | None, err: int = errno.EACCES, more: Sequence[str] = ()
    ) -> VerifierError:
        self.log.verbose(msg)
        for line in more:
            self.log.verbose(line)
        return VerifierError(msg, index=pc, log=self.log.text, errno=err)

    # ------------------------------------------------------------------ setup
    def _prune_points(self, cfg: Cfg) -> set[int]:
        """Where states are compared (visit_insn in Linux 6.x): every conditional jump
        itself, the target of an unconditional one, the return point of a call and
        the call instruction of a bpf-to-bpf call."""
        pts: set[int] = set()
        for pc, insn in enumerate(cfg.insns):
            if insn is None:
                continue
            kind = OPCODES[insn.code].kind
            if kind == "ja":
                pts.add(jump_target(pc, insn))
            elif kind == "jcond":
                pts.add(pc)
                if self._extra_prune:
                    pts.update((pc + 1, jump_target(pc, insn)))
            elif kind == "call":
                pts.add(pc + 1)
                if insn.src == BPF_PSEUDO_CALL:
                    pts.add(pc)
                elif insn.src == 0 and insn.imm in CALLBACK_HELPERS:
                    pts.add(pc)  # mark_calls_callback + mark_force_checkpoint
                    self._cb_calls.add(pc)
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
            path = pending.pop()
            self._run_path(path, pending)

    def _run_path(self, path: _Path, pending: list[_Path]) -> None:
        cfg = self.cfg
        level = self.log.level
        if level >= 1:
            head = f"from {path.from_pc} to {path.pc}" if path.from_pc >= 0 else f"{path.pc}"
            self.log.trace(f"{head}: {self._state_str(path)}", level=1)
        first = True
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
                    pc,
                    errno.E2BIG,
                )
            if level >= 1:
                if level >= 2 and not first:
                    self.log.trace(f"{pc}: {self._state_str(path)}", level=2)
                first = False
                before = (list(path.cur.regs), dict(path.cur.stack), len(path.frames))
                self.log.trace(insn_line(pc, insn, FUNC_NAMES), level=1)
                idx = len(self.log.lines) - 1
                nxt = self._step(path, insn, pc, pending)
                diff = self._state_diff(path, before)
                if diff:
                    self.log.lines[idx] = insn_line(pc, insn, FUNC_NAMES, diff)
            else:
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
        """is_state_visited: prune, detect an infinite loop, or record a checkpoint.

        As the kernel does, a new checkpoint is only recorded after at least 2
        jumps and 8 instructions since the last one, and checkpoints that keep
        failing to prune (misses > 3 * hits + 3) are dropped from the list.
        """
        pc = path.pc
        seen = self._explored.setdefault(pc, [])
        live = self._live[pc]
        calls_callback = pc in self._cb_calls
        add_new = calls_callback or (
            self._jmps_processed - self._prev_jmps >= 2
            and self.stats.insns_processed - self._prev_insns >= 8
        )
        if calls_callback:
            # each return from the callback comes back here: a state no more general than
            # one seen here (finished or not) adds nothing new and the iteration has converged
            for cp in seen:
                if (
                    len(cp.frames) == len(path.frames)
                    and cp.refs == path.refs
                    and self._states_safe(cp.frames, path.frames, live)
                ):
                    cp.hit_cnt += 1
                    return True
            if path.cur.callback_depth >= _WIDEN_AFTER:
                self._widen(seen, path)
        drop: list[_Checkpoint] = []
        for cp in seen:
            if calls_callback:
                pass
            elif cp.branches == 0:
                if (
                    len(cp.frames) == len(path.frames)
                    and cp.refs == path.refs
                    and self._states_safe(cp.frames, path.frames, live)
                ):
                    cp.hit_cnt += 1
                    return True
            elif self._states_equal(cp.frames, path.frames):
                raise self._err(f"infinite loop detected at insn {pc}", pc, errno.EINVAL)
            if add_new:
                cp.miss_cnt += 1
            if cp.miss_cnt > cp.hit_cnt * self._evict + self._evict:
                drop.append(cp)
        if drop:
            ids = {id(c) for c in drop}
            seen[:] = [c for c in seen if id(c) not in ids]
            self._cur_states -= len(drop)
        if not add_new:
            return False
        self._prev_jmps = self._jmps_processed
        self._prev_insns = self.stats.insns_processed
        cp = _Checkpoint(path.frames, path.refs, path.parent, pc)
        path.parent = cp
        seen.append(cp)
        self.stats.total_states += 1
        self._cur_states += 1
        self.stats.peak_states = max(self.stats.peak_states, self._cur_states)
        self.stats.max_states_per_insn = max(self.stats.max_states_per_insn, len(seen))
        return False

    def _widen(self, seen: list[_Checkpoint], path: _Path) -> None:
        """Forget scalars that keep changing from one callback visit to the next.

        Linux stops iterating when the state repeats up to the values it has marked
        precise; pybpf does not track precision, so after a few exact visits it
        replaces a scalar (register or stack slot) that differs from the last state
        recorded at this call by an unknown one. That state covers every further
        visit, so the next return from the callback is pruned.
        """
        prev = [
            c for c in seen if [f.callsite for f in c.frames] == [f.callsite for f in path.frames]
        ]
        if not prev:
            return
        old = prev[-1]
        for fo, fc in zip(old.frames, path.frames, strict=True):
            for r in range(10):
                o, c = fo.regs[r], fc.regs[r]
                if o.type == S.SCALAR and c.type == S.SCALAR and not _regsafe(o, c, {}):
                    fc.regs[r] = S.UNKNOWN_SCALAR
            for slot, so in fo.stack.items():
                sc = fc.stack.get(slot, S.EMPTY_SLOT)
                if _slotsafe(so, sc, {}):
                    continue
                if any(x is not None and x.type != S.SCALAR for x in (so.spilled, sc.spilled)):
                    continue
                if sc.kinds == S.STACK_SPILL * 8:
                    fc.stack[slot] = StackSlot(sc.kinds, S.UNKNOWN_SCALAR)
                else:
                    kinds = "".join(
                        S.STACK_MISC if k in (S.STACK_SPILL, S.STACK_ZERO) else k for k in sc.kinds
                    )
                    fc.stack[slot] = StackSlot(kinds, None)

    def _states_equal(self, old: list[Frame], cur: list[Frame]) -> bool:
        if len(old) != len(cur):
            return False
        for fo, fc in zip(old, cur, strict=True):
            if (
                fo.callsite != fc.callsite
                or fo.regs != fc.regs
                or fo.callback_depth != fc.callback_depth  # another visit of a callback
            ):
                return False
            if {k: v for k, v in fo.stack.items() if v != S.EMPTY_SLOT} != {
                k: v for k, v in fc.stack.items() if v != S.EMPTY_SLOT
            }:
                return False
        return True

    def _states_safe(self, old: list[Frame], cur: list[Frame], live: int) -> bool:
        idmap: dict[int, int] = {}
        last = len(old) - 1
        for i, (fo, fc) in enumerate(zip(old, cur, strict=True)):
            if fo.callsite != fc.callsite or fo.callback_depth > fc.callback_depth:
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
        bad = self.cfg.malformed.get(pc)
        if bad is not None:
            raise self._err(bad, pc, errno.EINVAL)
        info = OPCODES[insn.code]
        k = info.kind
        if k in ("alu", "end"):
            self._check_alu(path, insn, info, pc)
            return pc + 1
        if k in ("ldx", "ldxsx"):
            self._read_reg(path, insn.src, pc)
            self._check_dst_writable(insn.dst, pc)
            val = self._check_mem_access(
                path, insn.src, insn.off, info.size, "read", pc, signed=k == "ldxsx"
            )
            path.cur.regs[insn.dst] = val
            return pc + 1
        if k in ("st", "stx"):
            self._read_reg(path, insn.dst, pc)
            if k == "stx":
                self._read_reg(path, insn.src, pc)
                val = path.cur.regs[insn.src]
            else:
                val = S.scalar_const(insn.imm)  # BPF_ST into ctx is allowed since 6.3
            self._check_mem_access(
                path, insn.dst, insn.off, info.size, "write", pc, value=val, st_imm=k == "st"
            )
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
        if k in ("ja", "jcond", "call", "exit"):
            self._jmps_processed += 1
        if k == "ja":
            return jump_target(pc, insn)
        if k == "jcond":
            return self._check_cond_jmp(path, insn, info, pc, pending)
        if k == "call":
            if insn.src == BPF_PSEUDO_CALL:
                return self._check_func_call(path, insn, pc)
            if insn.src != 0:
                raise self._err(
                    "kernel function calls are not supported by pybpf's verifier", pc, errno.EINVAL
                )
            self._check_helper_call(path, insn, pc, pending)
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

    # ------------------------------------------------------------------ logging
    def _state_diff(self, path: _Path, before: tuple[list[RegState], dict, int]) -> str:
        regs, stack, nframes = before
        if nframes != len(path.frames):
            return ""
        parts = [
            _reg_str(i, r)
            for i, r in enumerate(path.cur.regs)
            if r != regs[i] and r.type != S.NOT_INIT
        ]
        for slot in sorted(path.cur.stack):
            v = path.cur.stack[slot]
            if stack.get(slot) != v and v != S.EMPTY_SLOT:
                parts.append(f"fp{-(slot + 1) * 8}={_slot_str(v)}")
        return " ".join(parts)

    def _state_str(self, path: _Path) -> str:
        parts = [_reg_str(i, r) for i, r in enumerate(path.cur.regs) if r.type != S.NOT_INIT]
        for slot in sorted(path.cur.stack):
            v = path.cur.stack[slot]
            if v != S.EMPTY_SLOT:
                parts.append(f"fp{-(slot + 1) * 8}={_slot_str(v)}")
        return " ".join(parts)


# ---------------------------------------------------------------------- helpers
def _reg_str(i: int, r: RegState) -> str:
    return f"R{i}={r}"


def _slot_str(v: StackSlot) -> str:
    """A stack slot as the kernel prints it: the spilled register, or byte kinds fp-1 first."""
    if v.spilled is not None and v.kinds == S.STACK_SPILL * 8:
        return str(v.spilled)
    return v.kinds[::-1].replace(S.STACK_SPILL, "r")


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


def verify(
    insns: Sequence[Insn],
    *,
    prog_type: int = 1,
    privileged: bool = True,
    log_level: int = 0,
    **kw: Any,
) -> VerifyResult:
    """Verify a program; raise VerifierError (with log, index, message) if Linux would refuse it."""
    return Verifier(
        insns, prog_type=prog_type, privileged=privileged, log_level=log_level, **kw
    ).verify()
