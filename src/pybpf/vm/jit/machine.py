"""The JIT as a back end of the execution core: native code bound to one memory.

:class:`JitEngine` is the execution core (:class:`pybpf.vm.engine.Engine`)
with this back end: the same constructor and ``run`` as the interpreter, the
same results. A program's blocks are translated to LLVM IR
(:mod:`pybpf.vm.jit.codegen`), compiled once per distinct instruction sequence
(:class:`JitCode`, a process-wide cache backed by object files on disk), then
bound to each memory it runs on (:class:`NativeMachine`).

Memory is shared, not copied: register values are the interpreter's addresses;
the native code looks each non-stack access up in the memory's region table
(:class:`pybpf.vm.jit.pins.NativeView`) and touches the region's own bytes —
the buffer a map keeps as ``storage``, the rendered context, the stack —
through pinned buffer exports. Helpers run in Python, called back through a
ctypes trampoline with the core's :meth:`Binding.call_helper` (the same call
the interpreter makes), unless the map behind an array lookup offers the
kernel's inline lookup (:class:`pybpf.vm.api.NativeMap`, whose ``elem_size``
the code reads as array_map_gen_lookup does).

Safety: the DESIGN rule is that the JIT runs only verified programs (the user
Program verifies before building a JitEngine). The region check is kept on
every access through a register other than R10 anyway (a shift, a table load
and three compares); R10-relative accesses are checked when translated. So
even an unverified program — the conformance suite runs that way in the tests
— cannot touch memory outside its regions: it faults with the interpreter's
MemoryAccessError.

Limits: buffers mapped in a Memory the JIT has run on stay exported (pinned)
while the binding lives, so such a bytearray cannot be resized; ``env.regs``
shows helpers the registers at the call but is read-only; an engine is not
re-entrant (callbacks re-enter the code on purpose, one frame down).
"""

from __future__ import annotations

import ctypes
import struct
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ...errors import NotSupportedError, VmError
from ...isa import Insn
from ..api import ProgramExit, native_name
from ..blocks import BlockProgram
from ..engine import Binding, Engine, TailCallOut, map_region, subprog_tail_call
from . import abi
from .codegen import Translation, translate
from .llvm import compile_ir
from .pins import NativeView

__all__ = ["JitBackend", "JitCode", "JitEngine", "NativeMachine", "compile_program"]

M64 = (1 << 64) - 1

_HELPER_T = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, *([ctypes.c_uint64] * 7))
_LDABS_T = ctypes.CFUNCTYPE(
    ctypes.c_uint64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint64
)
_MAIN_T = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)
_U64 = struct.Struct("<Q")


class JitCode:
    """Native code of one instruction sequence (independent of any memory)."""

    def __init__(self, blocks: BlockProgram) -> None:
        self.blocks = blocks
        tr = translate(blocks)
        self.translation: Translation = tr
        self.nslots = tr.nslots
        try:
            self._tracker, addr, self.compile_seconds, self.from_disk = compile_ir(tr.ir)
        except RuntimeError as e:  # LLVM refused our IR: a JIT bug, said plainly
            raise NotSupportedError(
                f"the JIT could not compile this program ({len(blocks.insns)} insns): {e}"
            ) from e
        #: the address of ``i32 bpf_prog(ptr rt)``
        self.addr = addr
        self.fn = _MAIN_T(addr)

    @property
    def ir(self) -> str:
        return self.translation.ir


_CACHE: OrderedDict[tuple[Any, ...], JitCode] = OrderedDict()
_CACHE_MAX = 128  # ~0.1 MB each; the disk cache makes a recompile cheap


def _key(insns: Sequence[Insn]) -> tuple[Any, ...]:
    return tuple((i.code, i.dst, i.src, i.off, i.imm, i.imm_hi) for i in insns)


def compile_program(insns: Sequence[Insn]) -> JitCode:
    """The (cached) native code of ``insns``; compiled on first use.

    What a pseudo instruction refers to is bound per engine: the code is shared by
    equal programs, whatever maps they name.
    """
    key = _key(insns)
    code = _CACHE.get(key)
    if code is None:
        code = JitCode(BlockProgram([i if i.ref is None else i.replace(ref=None) for i in insns]))
        _CACHE[key] = code
        if len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return code


def jit_cache_clear() -> None:
    _CACHE.clear()


def _inline_array(m: Any) -> tuple[int, int] | None:
    """(elem_size, max_entries) when the map offers the kernel's inline array lookup
    (its native struct pybpf_map has a non-zero elem_size), else None."""
    addr = getattr(m, "native", 0)
    if not isinstance(addr, int) or not addr:
        return None
    # struct pybpf_map: ops, 6 x u32 (map_type .. ncpus), storage, storage_size, elem_size
    max_entries = ctypes.c_uint32.from_address(addr + 8 + 12).value
    elem_size = ctypes.c_uint64.from_address(addr + 8 + 24 + 16).value
    return (elem_size, max_entries) if elem_size else None


class NativeMachine:
    """A JitCode bound to one memory: the run-time block, trampolines, the region view."""

    def __init__(self, code: JitCode, binding: Binding) -> None:
        self.code = code
        self.binding = binding
        mem = binding.mem
        self.view = NativeView(mem)
        self._pending: BaseException | None = None
        self._head: Any = None  # the pinned packet head of the run under way
        consts = binding.consts
        n = max(len(consts), 1)
        self.consts = (ctypes.c_uint64 * n)()
        self.calls = (ctypes.c_void_p * n)()
        self.arrays = (ctypes.c_uint64 * (4 * n))()
        self.rt = rt = (ctypes.c_uint64 * abi.RT_SIZE)()
        self.rt_addr = ctypes.addressof(rt)
        self._fn = code.fn
        env = binding.env
        call_helper = binding.call_helper
        callx = binding.callx
        ld_abs = binding.ld_abs

        def leave(exc: BaseException) -> int:
            self._pending = exc
            rt[abi.RT_STATUS] = abi.EXIT_PENDING
            return 0

        def helper(_rt: int, idx: int, r1: int, r2: int, r3: int, r4: int, r5: int, pc: int) -> int:
            env.pc = pc
            try:
                return call_helper(consts[idx], rt[0], r1, r2, r3, r4, r5)
            except BaseException as e:  # noqa: BLE001 - never unwind through native frames
                return leave(e)

        def callx_(_rt: int, hid: int, r1: int, r2: int, r3: int, r4: int, r5: int, pc: int) -> int:
            env.pc = pc
            try:
                return callx(hid, rt[0], r1, r2, r3, r4, r5)
            except BaseException as e:  # noqa: BLE001
                return leave(e)

        def ldabs(_rt: int, off: int, size: int, pc: int) -> int:
            try:
                return ld_abs(off, size, pc)
            except BaseException as e:  # noqa: BLE001
                return leave(e)

        self._trampolines = (_HELPER_T(helper), _HELPER_T(callx_), _LDABS_T(ldabs))
        #: the Python trampolines' addresses: every helper call site, LD_ABS misses
        self.py_helper = helper_addr = ctypes.cast(self._trampolines[0], ctypes.c_void_p).value or 0
        self.py_ldabs = ctypes.cast(self._trampolines[2], ctypes.c_void_p).value or 0
        rt[abi.RT_CALLX] = ctypes.cast(self._trampolines[1], ctypes.c_void_p).value or 0
        rt[abi.RT_LDABS] = self.py_ldabs
        rt[abi.RT_PYCALL] = helper_addr
        engine = binding.engine
        lookup_inline = native_name(engine.helpers.get(abi.FUNC_MAP_LOOKUP_ELEM)) == (
            "map_lookup_elem"
        )
        #: (const index, map) of the maps whose array lookups the code may inline
        self._arrays: list[tuple[int, Any]] = []
        image = binding.image
        for i, c in enumerate(image.blocks.consts):
            if c.kind == "helper":
                self.calls[i] = helper_addr
                continue
            self.consts[i] = consts[i] & M64
            insn = image.own[c.pc]
            if lookup_inline and insn.src in (1, 5):  # BPF_PSEUDO_MAP_FD / _IDX
                from ..engine import resolve_lddw_map

                m = resolve_lddw_map(engine.maps, insn, c.pc)
                if _inline_array(m) is not None:
                    self._arrays.append((i, m))
        rt[abi.RT_CONSTS] = ctypes.addressof(self.consts)
        rt[abi.RT_CALLS] = ctypes.addressof(self.calls)
        rt[abi.RT_ARRAYS] = ctypes.addressof(self.arrays)
        self.stack_region = binding.stack
        self.sync()

    # --- who runs it: Python (Engine.run) or a native driver (pybpf.vm.batch) -------------
    def native_mode(self, env_addr: int, calls: Any, ldabs: int) -> None:
        """Let a native driver run the code: its env, helper functions and LD_ABS path."""
        rt = self.rt
        rt[abi.RT_ENV] = env_addr
        rt[abi.RT_CALLS] = ctypes.addressof(calls)
        rt[abi.RT_LDABS] = ldabs

    def python_mode(self) -> None:
        """Back to Python's trampolines (what Engine.run expects)."""
        rt = self.rt
        rt[abi.RT_ENV] = 0
        rt[abi.RT_CALLS] = ctypes.addressof(self.calls)
        rt[abi.RT_LDABS] = self.py_ldabs

    # --- the memory view ---------------------------------------------------------------
    def sync(self) -> None:
        """Bring the region table (and what depends on it) up to date."""
        view = self.view
        if not view.sync() and self.rt[abi.RT_TABLE]:
            return
        rt = self.rt
        rt[abi.RT_TABLE] = view.addr
        rt[abi.RT_TABLE_LEN] = view.len
        rt[abi.RT_NARROW] = view.narrow_addr
        rt[abi.RT_NARROW_LEN] = view.narrow_len
        stack = self.stack_region
        rt[abi.RT_STACK_DELTA] = (view.host(stack) - stack.base) & M64
        mem = self.binding.mem
        for i, m in self._arrays:
            desc = _inline_array(m)
            region = map_region(mem, m)
            if desc is None or region is None:
                continue
            elem_size, max_entries = desc
            self.arrays[4 * i] = self.binding.consts[i] & M64
            self.arrays[4 * i + 1] = region.base
            self.arrays[4 * i + 2] = elem_size
            self.arrays[4 * i + 3] = max_entries

    def set_ctx(self, ctx: Any) -> None:
        """The run's context: LD_ABS reads a linear packet head natively when it offers one."""
        head = getattr(ctx, "packet_head", None)
        got = head() if head is not None else None
        rt = self.rt
        if got is None:
            self._head = None
            rt[abi.RT_PKT] = rt[abi.RT_PKT_LEN] = 0
            return
        buf, data_off = got
        n = len(buf) - data_off
        if type(buf) is not bytearray or n <= 0:
            self._head = None
            rt[abi.RT_PKT] = rt[abi.RT_PKT_LEN] = 0
            return
        pin = ctypes.c_char.from_buffer(buf)  # an export: the head cannot move during the run
        self._head = pin
        rt[abi.RT_PKT] = ctypes.addressof(pin) + data_off
        rt[abi.RT_PKT_LEN] = n

    # --- running ---------------------------------------------------------------------------
    def enter(self, pc: int, depth: int) -> None:
        rt = self.rt
        outer = rt[abi.RT_DEPTH]
        rt[abi.RT_ENTRY] = pc
        rt[abi.RT_DEPTH0] = depth
        rt[abi.RT_STATUS] = 0
        try:
            rc = self._fn(self.rt_addr)
            if rc == abi.EXIT_OK:
                return
            if rc == abi.EXIT_TAILCALL:  # a native driver's tail call helper, in a callback
                raise TailCallOut(None)
            self.raise_exit(rc)
        finally:
            if depth:  # a callback: its caller's helper call is still under way
                rt[abi.RT_DEPTH] = outer

    def raise_exit(self, rc: int) -> None:
        """Raise what the code's exit code ``rc`` (an EXIT_* other than OK) stands for."""
        rt = self.rt
        pc = rt[abi.RT_PC]
        if rc == abi.EXIT_PENDING:
            exc, self._pending = self._pending, None
            raise exc if exc is not None else VmError("native code failed", pc=pc)
        if rc == abi.EXIT_MEMFAULT:
            kind = "write" if rt[abi.RT_FAULT_KIND] == abi.FAULT_WRITE else "read"
            raise self.binding.mem.fault(kind, rt[abi.RT_FAULT_ADDR], rt[abi.RT_FAULT_SIZE], pc)
        if rc == abi.EXIT_VMFAULT:
            code = rt[abi.RT_FAULT_KIND]
            if code == abi.VMFAULT_BUDGET:
                self.binding.over_budget(pc)
            self.binding.fail(self.code.translation.faults[code], pc, rt[abi.RT_FAULT_ADDR])
        if rc == abi.EXIT_PROGRAM:
            raise ProgramExit(rt[abi.RT_EXIT_VALUE])
        if rc == abi.EXIT_TAILCALL:  # a native driver's tail call from inside a local call
            raise subprog_tail_call(pc, int(rt[abi.RT_DEPTH]))
        raise VmError(f"native code stopped with unknown status {rc}", pc=pc)

    def get_regs(self) -> list[int]:
        return list(self.rt[0:11])

    def set_regs(self, regs: Sequence[int]) -> None:
        self.rt[0:11] = list(regs)

    @property
    def steps(self) -> int:
        return int(self.rt[abi.RT_STEPS])

    @steps.setter
    def steps(self, n: int) -> None:
        self.rt[abi.RT_STEPS] = n

    @property
    def budget(self) -> int:
        return int(self.rt[abi.RT_BUDGET])

    @budget.setter
    def budget(self, b: int) -> None:
        self.rt[abi.RT_BUDGET] = b & M64

    def depth(self) -> int:
        return int(self.rt[abi.RT_DEPTH])


class JitBackend:
    """The JIT as a back end of the execution core."""

    def compile(self, blocks: BlockProgram) -> JitCode:
        return compile_program(blocks.insns)

    def bind(self, code: JitCode, binding: Binding) -> NativeMachine:
        return NativeMachine(code, binding)


class JitEngine(Engine):
    """A program compiled to native code, run like :class:`~pybpf.vm.interp.Interpreter`.

    The engine does not verify: the user Program (or the caller) does.
    """

    backend = JitBackend()

    def translate(self, insns: list[Insn]) -> tuple[BlockProgram, Any]:
        code = compile_program(insns)
        return code.blocks, code

    @property
    def compile_seconds(self) -> float:
        """Time LLVM took to compile this program (0 when it came from the cache)."""
        return float(self.code.compile_seconds)
