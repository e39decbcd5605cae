"""The JIT: verified eBPF programs compiled to native code with LLVM (llvmlite).

:class:`JitEngine` is a drop-in for :class:`pybpf.vm.interp.Interpreter` (same
constructor arguments, same ``run(mem=, ctx=, r1=, ...)``, ``.steps``,
``.trace``), and gives the same results: the instructions are translated to
LLVM IR (:mod:`pybpf.vm.jit_codegen`), optimised at O2 and compiled once per
distinct instruction sequence (a process-wide cache, backed by object files
on disk, see :func:`pybpf.vm.jit_native.cache_dir`), then bound to each
:class:`~pybpf.vm.memory.Memory` it runs on.

Memory is shared, not copied. Register values are the interpreter's addresses
(region slot << 32 | offset); the native code looks each non-stack access up
in a table of the memory's regions and touches the region's own bytes — the
bytearray a map keeps as ``storage``, the rendered ``__sk_buff``, the stack —
through pinned buffer exports (:mod:`pybpf.vm.jit_native`). So a map updated
by native code is the very bytes the Python Map API reads, and helpers (run
in Python, called back through ctypes trampolines with the interpreter's
:class:`RunEnv`) see the same pointers the interpreter would pass them.

Safety: the DESIGN rule is that the JIT runs only verified programs, and
:class:`JitProgram` verifies before compiling. The region check is kept on
every access through a register other than R10 anyway (a shift, a table
load and two compares); R10-relative accesses are checked when translated.
So even an unverified program — the conformance suite runs that way in the
tests — cannot touch memory outside its regions: it faults with the
interpreter's MemoryAccessError.

LD_ABS/LD_IND read the linear head of a :class:`pybpf.net.skb.SkBuff`
natively; offsets outside it (fragments, SKF_NET_OFF/SKF_LL_OFF bases, misses)
ask ``ctx.load_abs`` as the interpreter does. Tail calls work: the helper's
TailCall leaves the native code, which is re-entered in the target program
(JIT-compiled too) with the interpreter's register hand-over. Atomics are
plain read-modify-write sequences: a run is single-threaded. bpf_map_lookup_elem
on a plain array map is inlined (as the kernel's array_map_gen_lookup); every
other helper is a call back into Python. Helpers that call back into the program
(bpf_loop, bpf_for_each_map_elem, timers) get ``env.call_subprog`` and
``run_subprog`` as from the interpreter: the native code is entered again at the
callback, one frame down, sharing the run's budget.

Limits: buffers mapped in a Memory the JIT has run on stay exported (pinned)
while the binding lives, so such a bytearray cannot be resized; a Memory
subclass's own load/store overrides are not seen, except the context rewrite
that ``mem.ctx_region`` names (what Program's memory sets); ``env.regs`` shows
helpers the registers at the call but is read-only; an engine is not re-entrant.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import struct
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import isa
from ..errors import MemoryAccessError, NotSupportedError, VmError
from ..isa import Insn
from . import jit_abi as abi
from . import jit_codegen as cg
from .interp import (
    DEFAULT_BUDGET,
    MAX_CALL_FRAMES,
    MAX_TAIL_CALL_CNT,
    STACK_REGION_SIZE,
    STACK_SIZE,
    ProgramExit,
    RunEnv,
    SubprogRef,
    TailCall,
    resolve_lddw_map,
)
from .jit_native import NativeView, compile_ir
from .memory import Memory, Region

__all__ = ["JitCode", "JitEngine", "JitProgram", "compile_program", "jit_cache_clear"]

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
_ZERO_STACK = bytes(STACK_REGION_SIZE)

_HELPER_T = ctypes.CFUNCTYPE(ctypes.c_uint64, *([ctypes.c_uint64] * 8))
_LDABS_T = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64)
_FAULT_T = ctypes.CFUNCTYPE(ctypes.c_uint64, *([ctypes.c_uint64] * 4))
_VMFAULT_T = ctypes.CFUNCTYPE(ctypes.c_uint64, *([ctypes.c_uint64] * 3))
_MAIN_T = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)


def _narrow_table() -> list[int]:
    """The kernel's load size of each narrow-loadable __sk_buff word (pybpf.progtypes)."""
    try:
        from ..progtypes import _NARROW, SIZEOF_SK_BUFF  # noqa: PLC0415
    except ImportError:  # pragma: no cover - progtypes absent: plain context memory
        return [0]
    out = [0] * (SIZEOF_SK_BUFF // 4)
    for off, (src, tsize) in _NARROW.items():
        if off % 4 == 0 and src == off and off // 4 < len(out):
            out[off // 4] = tsize
    return out


_NARROW = _narrow_table()


class JitCode:
    """Native code of one instruction sequence (independent of any Memory)."""

    def __init__(self, insns: Sequence[Insn]) -> None:
        # what a pseudo instruction refers to is bound per engine (the code is shared by
        # equal programs): keep no references to maps here
        self.insns = [i if i.ref is None else i.replace(ref=None) for i in insns]
        tr = cg.translate(self.insns, _NARROW)
        self.translation = tr
        self.nslots = tr.nslots
        try:
            self._tracker, addr, self.compile_seconds, self.from_disk = compile_ir(tr.ir)
        except RuntimeError as e:  # LLVM refused our IR: a JIT bug, said plainly
            raise NotSupportedError(
                f"the JIT could not compile this program ({len(self.insns)} insns): {e}"
            ) from e
        self.fn = _MAIN_T(addr)

    @property
    def ir(self) -> str:
        return self.translation.ir


_CACHE: OrderedDict[tuple[Any, ...], JitCode] = OrderedDict()
_CACHE_MAX = 128  # ~0.1 MB each; the disk cache makes a recompile cheap


def _key(insns: Sequence[Insn]) -> tuple[Any, ...]:
    return tuple((i.code, i.dst, i.src, i.off, i.imm, i.imm_hi) for i in insns)


def compile_program(insns: Sequence[Insn]) -> JitCode:
    """The (cached) native code of ``insns``; compiled on first use."""
    key = _key(insns)
    code = _CACHE.get(key)
    if code is None:
        code = JitCode(insns)
        _CACHE[key] = code
        if len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return code


def jit_cache_clear() -> None:
    _CACHE.clear()


_views: weakref.WeakKeyDictionary[Memory, NativeView] = weakref.WeakKeyDictionary()


def _view(mem: Memory) -> NativeView:
    v = _views.get(mem)
    if v is None:
        v = _views[mem] = NativeView(mem)
    return v


class _RegsView(Sequence[int]):
    """``RunEnv.regs`` under the JIT: R0..R10 as the native code left them at the current
    helper call (the code stores them to ``rt`` first). Read-only."""

    __slots__ = ("_rt",)

    def __init__(self, rt: Any) -> None:
        self._rt = rt

    def __len__(self) -> int:
        return 11

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._rt[j] for j in range(11)[i]]
        return self._rt[range(11)[i]]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return repr(list(self))


class _RunState:
    __slots__ = ("pending", "tail_calls", "callbacks", "timer")

    def __init__(self) -> None:
        self.pending: BaseException | None = None
        self.tail_calls = 0
        self.callbacks = 0  # callbacks under way (env.call_subprog nesting)
        self.timer = 0  # run_subprog under way


def _signed(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


class _Binding:
    """One JitCode bound to one Memory: constants, trampolines and the run-time block."""

    def __init__(
        self, engine: JitEngine, code: JitCode, mem: Memory, insns: Sequence[Insn]
    ) -> None:
        self.code = code
        self.mem = mem
        self.insns = insns
        self.view = view = _view(mem)
        self.generation = -1  # the view generation rt's table fields come from
        stack = mem.stack
        if stack is None or mem.region_at(stack.base) is not stack:
            stack = mem.stack = mem.add_region(bytearray(STACK_REGION_SIZE), name="stack")
        self.stack: Region = stack
        env = RunEnv(mem, trace=engine.trace, prog=engine.prog, interp=engine)  # type: ignore[arg-type]
        self.env = env
        tr = code.translation
        nconst = max(len(tr.consts), 1)
        self.consts = (ctypes.c_uint64 * nconst)()
        self.arrays = (ctypes.c_uint64 * (4 * nconst))()
        #: (const index, map) of the array maps whose lookups the code may inline
        self.pending_arrays: list[tuple[int, Any]] = []
        fns: list[Any] = [None] * nconst
        inline_ok = _inline_lookup_ok(engine.helpers)
        # the cached code may come from an equal program with other maps: take the
        # pseudo instructions' targets (``ref``) from this program's own instructions
        own = dict(isa.iter_slots(insns))
        for i, (kind, pc, _insn) in enumerate(tr.consts):
            insn = own[pc]
            if kind == "helper":
                fns[i] = engine._helper_fn(insn, pc)
            else:
                self.consts[i] = engine._lddw_value(insn, pc, mem, code) & M64
                if inline_ok and insn.src in (isa.BPF_PSEUDO_MAP_FD, isa.BPF_PSEUDO_MAP_IDX):
                    m = engine._resolve_map(insn, pc)
                    if _inlinable_array(m):
                        self.pending_arrays.append((i, m))
        self.rt = rt = (ctypes.c_uint64 * abi.RT_SIZE)()
        self.rt_addr = ctypes.addressof(rt)
        self.rt_bytes = memoryview(rt).cast("B")
        env.regs = _RegsView(rt)  # type: ignore[assignment]
        state = engine._state
        helpers = engine.helpers
        faults = tr.faults

        def refresh() -> None:
            view.sync()
            if self.generation != view.generation:  # rebuilt: the old table is freed
                self.generation = view.generation
                rt[abi.RT_TABLE] = view.addr
                rt[abi.RT_TABLE_LEN] = view.len
                if self.pending_arrays:
                    self.fill_arrays()

        def leave(exc: BaseException) -> int:
            state.pending = exc
            rt[abi.RT_STATUS] = 1
            return 0

        def call(fn: Any, r0: int, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
            """Run a helper; never let an exception unwind through the native frames."""
            try:
                v = fn(env, r1, r2, r3, r4, r5) & M64
            except TailCall as e:
                if e.prog is not None and state.tail_calls < MAX_TAIL_CALL_CNT:
                    return leave(e)
                v = r0  # an empty slot or the limit: the kernel falls through, R0 unchanged
            except BaseException as e:  # noqa: BLE001
                return leave(e)
            try:
                refresh()  # the helper may have mapped a region (a map's storage, say)
            except BaseException as e:  # noqa: BLE001
                return leave(e)
            return v

        def helper(idx: int, r0: int, r1: int, r2: int, r3: int, r4: int, r5: int, pc: int) -> int:
            env.pc = pc
            return call(fns[idx], r0, r1, r2, r3, r4, r5)

        def callx(hid: int, r0: int, r1: int, r2: int, r3: int, r4: int, r5: int, pc: int) -> int:
            env.pc = pc
            h = helpers.get(hid) if hid <= M32 else None
            if h is None:
                return leave(VmError(f"callx to unknown helper {hid}", pc=pc, errno=_errno.EINVAL))
            return call(h.fn, r0, r1, r2, r3, r4, r5)

        def ldabs(off: int, size: int, pc: int) -> int:
            try:
                load = getattr(env.ctx, "load_abs", None)
                if load is None:
                    raise VmError(
                        "LD_ABS/LD_IND needs a socket buffer context (ctx.load_abs)", pc=pc
                    )
                v = load(_signed(off), size)
                if v is None:
                    raise ProgramExit(0)
                return v & M64
            except BaseException as e:  # noqa: BLE001
                return leave(e)

        def fault(kind: int, addr: int, size: int, pc: int) -> int:
            try:
                exc: BaseException = mem.fault(
                    "write" if kind == abi.FAULT_WRITE else "read", addr, size, pc
                )
            except BaseException as e:  # noqa: BLE001
                exc = e
            return leave(exc)

        def vmfault(code_: int, pc: int, value: int) -> int:
            if code_ == abi.VMFAULT_BUDGET:  # worded as the interpreter words each case
                if state.callbacks:
                    msg = (
                        f"instruction budget exhausted in a callback ({engine._run_budget} "
                        "instructions executed; raise budget= for longer runs)"
                    )
                elif state.timer:
                    msg = (
                        f"instruction budget exhausted ({engine._run_budget} instructions executed)"
                    )
                else:
                    msg = (
                        f"instruction budget exhausted ({rt[abi.RT_BUDGET]} instructions "
                        "executed; raise budget= for longer runs)"
                    )
                return leave(VmError(msg, pc=pc, errno=_errno.E2BIG))
            f = faults[code_]
            if f.kind.startswith("stack-"):
                what = f.kind[6:]
                addr = (value + f.off) & M64
                n = f.size
                return leave(
                    MemoryAccessError(
                        f"invalid {what} of {n} byte{'s' if n != 1 else ''} at {addr:#x} "
                        f"(R10{f.off:+d} is outside the {STACK_SIZE}-byte stack frame)",
                        pc=pc,
                        addr=addr,
                        size=n,
                    )
                )
            return leave(VmError(f.message, pc=pc, errno=f.errno or None))

        self._callbacks = (
            _HELPER_T(helper),
            _HELPER_T(callx),
            _LDABS_T(ldabs),
            _FAULT_T(fault),
            _VMFAULT_T(vmfault),
        )
        for slot, cb in zip(
            (abi.RT_HELPER, abi.RT_CALLX, abi.RT_LDABS, abi.RT_FAULT, abi.RT_VMFAULT),
            self._callbacks,
            strict=True,
        ):
            rt[slot] = ctypes.cast(cb, ctypes.c_void_p).value or 0
        rt[abi.RT_CONSTS] = ctypes.addressof(self.consts)
        rt[abi.RT_ARRAYS] = ctypes.addressof(self.arrays)
        self.refresh = refresh

    def fill_arrays(self) -> None:
        """Describe each inlinable array map whose storage the memory already maps.

        The interpreter maps a map's storage on its first lookup (via the helper);
        waiting for that keeps region addresses identical under both engines.
        """
        mem, arrays = self.mem, self.arrays
        for i, m in self.pending_arrays:
            region = mem._by_buf.get(id(m.storage))
            if (
                region is None
                or region.buf is not m.storage
                or mem.region_at(region.base) is not region
            ):
                arrays[4 * i + 2] = 0
                continue
            arrays[4 * i] = self.consts[i]
            arrays[4 * i + 1] = region.base
            arrays[4 * i + 2] = m.elem_size
            arrays[4 * i + 3] = m.max_entries

    def prepare(self) -> None:
        """Region table and stack address for a run (regions may have changed since)."""
        view = self.view
        rt = self.rt
        view.sync()
        if self.generation != view.generation:
            mem = self.mem
            if mem.region_at(self.stack.base) is not self.stack:  # someone unmapped it
                stack = mem.stack
                if stack is None or mem.region_at(stack.base) is not stack:
                    stack = mem.stack = mem.add_region(bytearray(STACK_REGION_SIZE), name="stack")
                self.stack = stack
                view.sync()
            self.generation = view.generation
            rt[abi.RT_TABLE] = view.addr
            rt[abi.RT_TABLE_LEN] = view.len
            rt[abi.RT_STACK_DELTA] = (view.host(self.stack) - self.stack.base) & M64
            if self.pending_arrays:
                self.fill_arrays()


class JitEngine:
    """A program compiled to native code, run like :class:`~pybpf.vm.interp.Interpreter`.

    ``helpers`` maps helper ids to Helper objects (``.fn(env, r1..r5)``), ``maps``
    resolves BPF_LD_MAP_FD / BPF_PSEUDO_MAP_IDX numbers (callable or mapping; an
    instruction's ``ref`` wins), ``budget`` caps the instructions of one run,
    ``prog`` is what helpers see as ``env.prog``. The engine does not verify:
    :class:`JitProgram` (or the caller) does.
    """

    def __init__(
        self,
        insns: Sequence[Insn] | bytes | bytearray,
        *,
        helpers: Mapping[int, Any] | None = None,
        maps: Callable[[int], Any] | Mapping[int, Any] | None = None,
        budget: int = DEFAULT_BUDGET,
        prog: Any = None,
    ) -> None:
        if isinstance(insns, bytes | bytearray | memoryview):
            insns = isa.decode(insns)
        self.helpers: Mapping[int, Any] = helpers if helpers is not None else {}
        self.maps = maps
        self.budget = budget
        self.prog = prog
        self.trace: list[str] = []
        self.steps = 0
        self._state = _RunState()
        self._run_budget = budget  # the budget of the run under way (callbacks share it)
        self._cb_steps = 0  # instructions callbacks executed in the run under way
        self._insns = list(insns)
        self.code = compile_program(self._insns)
        self._tail: dict[int, tuple[Any, JitCode, list[Insn]]] = {}
        self._bindings: OrderedDict[tuple[int, int, int], _Binding] = OrderedDict()
        self._last: _Binding | None = None

    @property
    def insns(self) -> list[Insn]:
        return self._insns

    @property
    def compile_seconds(self) -> float:
        """Time LLVM took to compile this program (0 when it came from the cache)."""
        return self.code.compile_seconds

    # --- constants, as Interpreter._resolve_const -------------------------------------
    def _helper_fn(self, insn: Insn, pc: int) -> Callable[..., int]:
        h = self.helpers.get(insn.imm)
        if h is not None:
            return h.fn  # type: ignore[no-any-return]
        hid = insn.imm

        def unknown(*_a: Any) -> int:
            raise VmError(f"call to unknown helper {hid}", pc=pc, errno=_errno.EINVAL)

        return unknown

    def _resolve_map(self, insn: Insn, pc: int) -> Any:
        return resolve_lddw_map(self.maps, insn, pc)

    def _lddw_value(self, insn: Insn, pc: int, mem: Memory, code: JitCode) -> int:
        src = insn.src
        if src == isa.BPF_PSEUDO_FUNC:
            return mem.handle(SubprogRef(pc + 1 + insn.imm, code))
        m = self._resolve_map(insn, pc)
        if src in (isa.BPF_PSEUDO_MAP_FD, isa.BPF_PSEUDO_MAP_IDX):
            return mem.handle(m)
        storage = getattr(m, "storage", None)
        if storage is None:
            raise VmError(
                f"map {getattr(m, 'name', m)!r} has no storage for a direct value address", pc=pc
            )
        region = mem.region_for(storage, name=f"map {getattr(m, 'name', '')}".strip())
        return region.base + (insn.imm_hi & M32)

    def _binding(self, code: JitCode, insns: Sequence[Insn], mem: Memory) -> _Binding:
        key = (id(code), id(mem), id(insns))
        b = self._bindings.get(key)
        if b is not None and b.mem is mem and b.code is code and b.insns is insns:
            return b
        b = _Binding(self, code, mem, insns)
        self._bindings[key] = b
        if len(self._bindings) > 8:
            self._bindings.popitem(last=False)
        return b

    def _tail_code(self, prog: Any) -> tuple[JitCode, list[Insn]]:
        hit = self._tail.get(id(prog))
        if hit is not None and hit[0] is prog:
            return hit[1], hit[2]
        insns = list(getattr(prog, "insns", prog))
        code = compile_program(insns)
        self._tail[id(prog)] = (prog, code, insns)
        return code, insns

    # --- the run -----------------------------------------------------------------------
    def run(
        self,
        *,
        mem: Memory | None = None,
        ctx: Any = None,
        r1: int | None = None,
        r2: int = 0,
        r3: int = 0,
        r4: int = 0,
        r5: int = 0,
        cpu: int = 0,
        budget: int | None = None,
    ) -> int:
        """Run once; returns R0 (u64). Errors as the interpreter's (VmError, MemoryAccessError)."""
        if mem is None:
            mem = Memory()
        budget = self.budget if budget is None else budget
        self._run_budget, self._cb_steps = budget, 0
        b = self._last
        if b is None or b.mem is not mem or b.code is not self.code:
            b = self._last = self._binding(self.code, self._insns, mem)
        env = b.env
        env.ctx, env.cpu, env.prog = ctx, cpu, self.prog
        ctx_ptr = env.ctx_ptr = (r1 or 0) & M64
        b.prepare()
        b.stack.buf[:] = _ZERO_STACK
        top = b.stack.base + STACK_REGION_SIZE
        rt = b.rt
        head = _packet_head(ctx)
        pkt = (ctypes.addressof(head), ctx.data_off, len(ctx.head)) if head is not None else _NO_PKT
        _PER_RUN.pack_into(
            b.rt_bytes, 0, 0, ctx_ptr, r2 & M64, r3 & M64, r4 & M64, r5 & M64, 0, 0, 0, 0, top,
            0, budget & M64, 0, *pkt, 0, 0,
        )  # fmt: skip
        state = self._state
        state.pending = None
        state.tail_calls = 0
        try:
            while True:
                if b.code.fn(b.rt_addr) == 0:
                    r0 = rt[0]
                    break
                exc, state.pending = state.pending, None
                if isinstance(exc, ProgramExit):
                    r0 = exc.value & M64
                    break
                if not isinstance(exc, TailCall):
                    raise (
                        exc if exc is not None else VmError("native code failed", pc=rt[abi.RT_PC])
                    )
                pc = rt[abi.RT_PC]
                if rt[abi.RT_DEPTH]:
                    raise VmError(
                        "tail call from a BPF-to-BPF subprogram is not supported by "
                        "the interpreter (as in the kernel's)",
                        pc=pc,
                    )
                state.tail_calls += 1
                nb = self._binding(*self._tail_code(exc.prog), mem=mem)
                nb.env.ctx, nb.env.cpu, nb.env.prog = ctx, cpu, exc.prog
                nb.env.ctx_ptr = ctx_ptr
                nb.env.trace = env.trace
                env = nb.env
                nb.prepare()
                nrt = nb.rt
                nrt[0:11] = rt[0:11]
                nrt[1] = ctx_ptr
                nrt[10] = top
                nrt[abi.RT_STEPS] = rt[abi.RT_STEPS]
                nrt[abi.RT_BUDGET] = rt[abi.RT_BUDGET]
                nrt[abi.RT_STATUS] = 0
                nrt[abi.RT_PKT : abi.RT_PER_RUN] = [*pkt, 0, 0]
                b.stack.buf[:] = _ZERO_STACK
                b, rt = nb, nrt
        finally:
            del head  # ends the export of skb->head
        steps = rt[abi.RT_STEPS] + self._cb_steps
        self.steps = steps
        if steps > budget:  # each part stayed within it, callbacks included, but not the sum
            raise VmError(
                f"instruction budget exhausted ({budget} instructions executed, "
                f"{self._cb_steps} of them in callbacks; raise budget= for longer runs)",
                pc=rt[abi.RT_PC],
                errno=_errno.E2BIG,
            )
        return r0

    # --- callbacks (bpf_loop, for_each_map_elem, timers), as the interpreter runs them ---
    def _subprog_ref(self, mem: Memory, ref: Any, pc: int) -> SubprogRef:
        if isinstance(ref, int):
            ref = mem.object_at(ref, pc)
        if not isinstance(ref, SubprogRef):
            raise VmError(f"callback argument {ref!r} is not a BPF subprogram", pc=pc)
        return ref

    def _call_subprog(self, env: RunEnv, ref: Any, args: Sequence[int]) -> int:
        """RunEnv.call_subprog: run a callback in a new frame of the running program.

        The native code is entered again, at the callback's first instruction and one
        frame below the helper's caller (whose registers it stored in ``rt`` before
        calling the helper); its EXIT at that depth returns here.
        """
        pc0 = env.pc
        b = next((x for x in self._bindings.values() if x.env is env), None)
        if b is None:
            raise VmError("call_subprog: no program is running in this environment", pc=pc0)
        ref = self._subprog_ref(env.mem, ref, pc0)
        if ref.code is not b.code:
            raise VmError(f"callback at slot {ref.pc} belongs to another program", pc=pc0)
        b.refresh()  # the helper may have mapped regions (a key scratch, say) before calling
        rt = b.rt
        depth = rt[abi.RT_DEPTH]
        if depth >= MAX_CALL_FRAMES - 1:
            raise VmError(
                f"callback at slot {ref.pc} exceeds the {MAX_CALL_FRAMES}-frame call depth "
                "limit (MAX_CALL_FRAMES)",
                pc=pc0,
                errno=_errno.E2BIG,
            )
        saved: Any = rt[0 : abi.RT_PER_RUN]
        rt[10] = (saved[10] - STACK_SIZE) & M64
        for i in range(5):
            rt[1 + i] = (args[i] if i < len(args) else 0) & M64
        rt[abi.RT_STEPS] = 0
        rt[abi.RT_BUDGET] = max(self._run_budget - self._cb_steps, 0)
        rt[abi.RT_STATUS] = 0
        rt[abi.RT_ENTRY] = ref.pc
        rt[abi.RT_DEPTH0] = depth + 1
        state = self._state
        state.callbacks += 1
        try:
            if b.code.fn(b.rt_addr) != 0:
                exc, state.pending = state.pending, None
                if isinstance(exc, TailCall):
                    raise VmError(
                        "tail call from a callback is not supported (the kernel's verifier "
                        "refuses it)",
                        pc=rt[abi.RT_PC],
                    )
                raise exc if exc is not None else VmError("native code failed", pc=pc0)
            r0: int = rt[0]
        finally:
            self._cb_steps += rt[abi.RT_STEPS]
            state.callbacks -= 1
            rt[0 : abi.RT_PER_RUN] = saved
            rt[abi.RT_DEPTH] = depth  # the caller's, for its helper's next callback
        return r0

    def run_subprog(
        self,
        ref: Any,
        args: Sequence[int] = (),
        *,
        mem: Memory,
        ctx: Any = None,
        cpu: int = 0,
        budget: int | None = None,
    ) -> int:
        """Run the subprogram ``ref`` on its own, as the kernel runs a timer callback
        (:meth:`pybpf.vm.interp.Interpreter.run_subprog`). Returns R0."""
        ref = self._subprog_ref(mem, ref, 0)
        code = ref.code
        if code is self.code:
            insns: list[Insn] = self._insns
        else:
            hit = next((t for t in self._tail.values() if t[1] is code), None)
            if hit is None:
                raise VmError(f"callback at slot {ref.pc} belongs to another program", pc=0)
            insns = hit[2]
        b = self._binding(code, insns, mem)
        env = b.env
        env.ctx, env.cpu, env.ctx_ptr = ctx, cpu, 0
        budget = self.budget if budget is None else budget
        saved_budget, saved_cb = self._run_budget, self._cb_steps
        self._run_budget, self._cb_steps = budget, 0
        b.prepare()
        b.stack.buf[:] = _ZERO_STACK
        top = b.stack.base + STACK_REGION_SIZE
        a = [(v & M64) for v in (list(args) + [0] * 5)[:5]]
        rt = b.rt
        _PER_RUN.pack_into(
            b.rt_bytes, 0, 0, *a, 0, 0, 0, 0, top, 0, budget & M64, 0, *_NO_PKT, ref.pc, 0
        )
        state = self._state
        state.pending = None
        state.timer += 1
        r0 = 0
        try:
            if b.code.fn(b.rt_addr) == 0:
                r0 = rt[0]
            else:
                exc, state.pending = state.pending, None
                if isinstance(exc, ProgramExit):
                    r0 = exc.value & M64
                elif isinstance(exc, TailCall):
                    raise VmError("tail call from a callback is not supported", pc=rt[abi.RT_PC])
                else:
                    raise exc if exc is not None else VmError("native code failed", pc=ref.pc)
        finally:
            state.timer -= 1
            self.steps = rt[abi.RT_STEPS] + self._cb_steps
            self._run_budget, self._cb_steps = saved_budget, saved_cb
        return r0


def _inline_lookup_ok(helpers: Mapping[int, Any]) -> bool:
    """Whether helper 1 is pybpf's own bpf_map_lookup_elem (whose array case we inline)."""
    h = helpers.get(abi.FUNC_MAP_LOOKUP_ELEM)
    if h is None:
        return False
    from ..helpers import maps as _helpers  # noqa: PLC0415 - helpers sit above vm

    return getattr(h, "fn", None) is _helpers.map_lookup_elem


def _inlinable_array(m: Any) -> bool:
    """A plain BPF_MAP_TYPE_ARRAY whose lookup is value_offset (no per-cpu, no overrides)."""
    try:
        from ..maps.array import ArrayMap  # noqa: PLC0415
        from ..maps.base import Map  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        return False
    cls = type(m)
    return (
        cls is ArrayMap
        and not getattr(m, "percpu", False)
        and cls.prog_lookup is Map.prog_lookup
        and cls.value_offset is ArrayMap.value_offset
        and m.key_size == 4
        and isinstance(getattr(m, "storage", None), bytearray)
    )


#: per context class: may LD_ABS read skb->head natively (a plain SkBuff)?
_HEAD_OK: dict[type, bool] = {}
_NO_PKT = (0, 0, 0)
_PER_RUN = struct.Struct(f"<{abi.RT_PER_RUN}Q")


def _packet_head(ctx: Any) -> Any:
    """A ctypes view (an export, so the head cannot move) of the skb's linear head when
    LD_ABS may read it natively, else None."""
    cls = type(ctx)
    ok = _HEAD_OK.get(cls)
    if ok is None:
        from ..net.skb import SkBuff  # noqa: PLC0415 - above vm in the layering

        ok = _HEAD_OK[cls] = (
            issubclass(cls, SkBuff)
            and cls.load_abs is SkBuff.load_abs
            and cls.header_pointer is SkBuff.header_pointer
        )
    if not ok:
        return None
    head = ctx.head
    if type(head) is not bytearray or not head:
        return None
    return ctypes.c_char.from_buffer(head)


from .jit_program import JitProgram  # noqa: E402 - JitProgram builds on JitEngine
