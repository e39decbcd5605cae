"""The interpreter: the reference back end, every access bounds-checked, in plain Python.

A program's :class:`~pybpf.vm.blocks.BlockProgram` is translated once into
Python source (:class:`PyCode`), built only from the expression templates of
:mod:`pybpf.vm.ops` — the instructions' semantics, readable in one place — and
compiled with ``compile``/``exec``. Each basic block becomes a function; a
block that jumps back to its own start becomes a ``while`` loop. Binding the
code to a memory (the execution core, :mod:`pybpf.vm.engine`, does that) calls
its factory, whose closures share the machine's state as variables of one
scope: the registers ``r0``..``r10``, the executed-instruction count, the
local-call frames. A dispatch loop runs block after block.

Memory: pointers are plain ints into a :class:`~pybpf.vm.memory.Memory`. Each
load or store through a register other than R10 remembers the region it
touched last (base, last valid offset, buffer): an access inside it is one
subtraction, one comparison and one buffer access; anything else asks the
memory, which finds the region, checks the access (raising MemoryAccessError
naming the pc, the address and the size) and refills the cache. Regions with
a narrow-load table (the context) are never cached for loads, so every load
from them goes through :meth:`Memory.load`. R10 is read-only (as the verifier
enforces), so an R10-relative access is checked against the 512-byte frame
when translated and needs no run-time check.

Atomics are plain read-modify-write sequences: a run is single-threaded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from .. import isa
from ..errors import NotSupportedError
from ..isa import Insn
from . import ops
from .api import ProgramExit, RunEnv, SubprogRef, TailCall
from .blocks import (
    MAX_CALL_FRAMES,
    MAX_TAIL_CALL_CNT,
    STACK_SIZE,
    Block,
    BlockProgram,
    Fault,
    Step,
)
from .engine import DEFAULT_BUDGET, Binding, Engine, HelperTable, MapResolver
from .memory import Memory

__all__ = [
    "DEFAULT_BUDGET",
    "MAX_CALL_FRAMES",
    "MAX_TAIL_CALL_CNT",
    "STACK_SIZE",
    "Interpreter",
    "ProgramExit",
    "PyCode",
    "RunEnv",
    "SubprogRef",
    "TailCall",
    "run",
]

M64 = ops.M64
M32 = ops.M32
_S64 = 1 << 63
_S32 = 1 << 31
#: blocks per nested chunk function: compile() slows down with many functions in one scope
_CHUNK = 200
_REGS = ", ".join(f"r{i}" for i in range(isa.MAX_BPF_REG))
#: what the factory is given (see PyMachine)
_FACTORY_ARGS = "K, ENV, HCALL, CALLX, LDABS, LD, ST, RMW, FAIL, OVER, F, SBUF, SB, Z512, FELL"


def _hex(v: int) -> str:
    return f"{v:#x}"


_M64 = "0xffffffffffffffff"
_M32 = "0xffffffff"


def _used_registers(step: Step) -> tuple[set[int], set[int]]:
    """(registers read, registers written) by a step (what a looping block keeps local)."""
    info, insn = step.info, step.insn
    if info is None or step.fault is not None:
        return set(), set()
    kind, d, s = info.kind, insn.dst, insn.src
    if kind == "alu":
        read = {d} if info.op != isa.BPF_MOV else set()
        return read | ({s} if info.use_src_reg else set()), {d}
    if kind == "end":
        return {d}, {d}
    if kind == "jcond":
        return {d} | ({s} if info.use_src_reg else set()), set()
    if kind == "lddw":
        return set(), {d}
    if kind in ("ldx", "ldxsx"):
        return {s}, {d}
    if kind == "st":
        return {d}, set()
    if kind == "stx":
        return {d, s}, set()
    if kind == "atomic":
        return {d, s, 0}, {s, 0}
    return set(), set()


class _Gen:
    """Python source of one block: its statements, the names it assigns.

    Registers are the factory's variables ``r0``..``r10``. A block that loops back
    to its own start keeps the registers it uses in locals ``x0``.. and counts
    instructions down from what is left of the budget (``left``), writing both
    back whenever control may leave: at its exit, before a call that can fail, and
    before the budget fault — so the machine's state is exact wherever it stops.
    """

    def __init__(self, code: PyCode, block: Block) -> None:
        self.code = code
        self.block = block
        self.out: list[str] = []
        self.assigned: set[str] = {"steps"}
        #: the block's start when it loops back to itself (a jump there is ``continue``)
        self.loop = block.start if _self_loop(block) else None
        self.written: set[int] = set()
        self.used: set[int] = set()
        if self.loop is not None:
            for st in block.steps:
                r, w = _used_registers(st)
                self.used |= r | w
                self.written |= w
            self.assigned.update(f"r{i}" for i in self.written)
        self.sites: list[int] = []

    def emit(self, line: str) -> None:
        self.out.append(line)

    def reg(self, i: int) -> str:
        """The name register ``i`` has in this block's code."""
        return f"x{i}" if self.loop is not None and i in self.used else f"r{i}"

    def assign(self, reg: int) -> None:
        """Note that the block writes register ``reg`` (a factory variable needs nonlocal)."""
        if self.loop is None or reg not in self.used:
            self.assigned.add(f"r{reg}")

    def set(self, reg: int, expr: str) -> None:
        self.assign(reg)
        self.emit(f"{self.reg(reg)} = {expr}")

    def cache(self, k: int, part: str) -> str:
        """The name of part ``b``/``n``/``u`` of memory-access site ``k``'s region cache."""
        return f"{part}{k}" if self.loop is not None else f"c{k}{part}"

    def sync(self) -> str:
        """Statements making the factory's variables exact (a looping block's locals)."""
        if self.loop is None:
            return ""
        regs = sorted(self.written)
        parts = ["steps = budget - left"]
        if regs:
            parts.append(f"{', '.join(f'r{i}' for i in regs)} = {', '.join(f'x{i}' for i in regs)}")
        return "; ".join(parts) + "; "

    def fault(self, fault: Fault, pc: int) -> None:
        self.emit(f"{self.sync()}FAIL(F[{self.code.fault_index(fault)}], {pc}, {self.reg(10)})")

    def jump(self, pc: int, t: int) -> str:
        """A statement transferring control to slot ``t`` from the jump at ``pc``."""
        dest = self.code.blocks.target(pc, t)
        if isinstance(dest, Fault):
            return f"{self.sync()}FAIL(F[{self.code.fault_index(dest)}], {pc}, {self.reg(10)})"
        if dest == self.loop:
            return "continue"
        return f"{self.sync()}return {dest}"

    # --- memory --------------------------------------------------------------------------
    def _site(self) -> int:
        k = self.code.sites
        self.code.sites += 1
        self.assigned.update((f"c{k}b", f"c{k}n", f"c{k}u"))
        self.sites.append(k)
        return k

    def _address(self, reg: int, off: int) -> str:
        """A name holding the address ``reg + off``: the register itself, or ``a``."""
        if off == 0:
            return self.reg(reg)
        self.emit(f"a = {self._addr(reg, off)}")
        return "a"

    def _addr(self, reg: int, off: int) -> str:
        r = self.reg(reg)
        return r if off == 0 else f"({r} + {off & M64:#x}) & {_M64}"

    def load(self, step: Step, dst: int, src: int, off: int, size: int, signed: bool) -> None:
        pc = step.pc
        if src == isa.BPF_REG_FP:
            r10 = self.reg(10)
            where = f"{r10} - SB - {-off}" if off else f"{r10} - SB"
            value = f"SBUF[{where}]" if size == 1 else f"_U{size}(SBUF, {where})[0]"
            self.set(dst, value)
        else:
            k = self._site()
            b, n, u = (self.cache(k, p) for p in "bnu")
            rd = self.reg(dst)
            self.assign(dst)
            a = self._address(src, off)
            self.emit(f"o = {a} - {b}")
            fast = f"{u}[o]" if size == 1 else f"_U{size}({u}, o)[0]"
            self.emit(f"if 0 <= o <= {n}: {rd} = {fast}")
            slow = f"{rd}, {b}, {n}, {u} = LD({a}, {size}, {pc})"
            if self.loop is not None:
                slow += f"; c{k}b, c{k}n, c{k}u = {b}, {n}, {u}"
            self.emit(f"else: {self.sync()}{slow}")
        if signed:
            top = 1 << (8 * size - 1)
            self.set(dst, ops.SIGN_EXTEND.format(v=self.reg(dst), top=_hex(top)))

    def store(self, step: Step, dst: int, value: str, off: int, size: int) -> None:
        pc = step.pc
        if dst == isa.BPF_REG_FP:
            r10 = self.reg(10)
            where = f"{r10} - SB - {-off}" if off else f"{r10} - SB"
            if size == 1:
                self.emit(f"SBUF[{where}] = {value}")
            else:
                self.emit(f"_P{size}(SBUF, {where}, {value})")
            return
        k = self._site()
        b, n, u = (self.cache(k, p) for p in "bnu")
        a = self._address(dst, off)
        self.emit(f"o = {a} - {b}")
        fast = f"{u}[o] = {value}" if size == 1 else f"_P{size}({u}, o, {value})"
        self.emit(f"if 0 <= o <= {n}: {fast}")
        slow = f"{b}, {n}, {u} = ST({a}, {size}, {value}, {pc})"
        if self.loop is not None:
            slow += f"; c{k}b, c{k}n, c{k}u = {b}, {n}, {u}"
        self.emit(f"else: {self.sync()}{slow}")

    # --- instructions --------------------------------------------------------------------
    def step(self, step: Step) -> bool:
        """Emit one instruction; True when it ends the block (control left it)."""
        if step.fault is not None:
            self.fault(step.fault, step.pc)
            return True
        info, insn, pc = step.info, step.insn, step.pc
        assert info is not None
        kind = info.kind
        d, s = insn.dst, insn.src
        R = self.reg
        if kind == "alu":
            self.set(d, _alu(info, insn, R))
            return False
        if kind == "end":
            if info.cls == isa.BPF_ALU and not info.use_src_reg:  # to little-endian
                if insn.imm != 64:
                    self.set(d, ops.END_LE.format(d=R(d), low=_hex((1 << insn.imm) - 1)))
            else:
                self.set(d, ops.END_SWAP.format(d=R(d), n=insn.imm // 8))
            return False
        if kind == "jcond":
            cond = _condition(info, insn, R)
            self.emit(f"if {cond}: {self.jump(pc, isa.jump_target(pc, insn))}")
            self.emit(f"{self.sync()}return {pc + 1}")
            return True
        if kind == "ja":
            self.emit(self.jump(pc, isa.jump_target(pc, insn)))
            return True
        if kind == "exit":
            self.emit("if not frames: return -1")
            self.emit("ret, r6, r7, r8, r9, r10 = frames.pop()")
            self.assigned.update(("r6", "r7", "r8", "r9", "r10"))
            self.emit("return ret")
            return True
        if kind == "call":
            if s == isa.BPF_PSEUDO_CALL:
                self.local_call(pc, isa.jump_target(pc, insn))
                return True
            self.emit(f"ENV.pc = {pc}")
            self.set(0, f"HCALL(K[{step.const}], r0, r1, r2, r3, r4, r5)")
            self.emit(f"return {pc + 1}")
            return True
        if kind == "callx":
            self.emit(f"ENV.pc = {pc}")
            self.set(0, f"CALLX(r{d}, r0, r1, r2, r3, r4, r5)")
            self.emit(f"return {pc + 1}")
            return True
        if kind == "lddw":
            self.set(d, f"K[{step.const}]" if step.const is not None else _hex(insn.imm64))
            return False
        if kind in ("ldabs", "ldind"):
            if kind == "ldabs":
                off = str(insn.imm)
            else:  # the kernel's int: s32(src + imm)
                off = f"((((r{s} + {insn.imm & M32:#x}) & {_M32}) ^ 0x80000000) - 0x80000000)"
            self.set(0, f"LDABS({off}, {info.size}, {pc})")
            self.emit(f"return {pc + 1}")
            return True
        size = info.size
        if kind in ("ldx", "ldxsx"):
            self.load(step, d, s, insn.off, size, kind == "ldxsx")
            return False
        if kind == "st":
            self.store(step, d, _hex(insn.imm & ((1 << (8 * size)) - 1)), insn.off, size)
            return False
        if kind == "stx":
            value = R(s) if size == 8 else f"{R(s)} & {(1 << (8 * size)) - 1:#x}"
            self.store(step, d, value, insn.off, size)
            return False
        if kind == "atomic":
            self.atomic(step)
            return False
        raise NotSupportedError(f"instruction kind {kind} has no translation")

    def local_call(self, pc: int, callee: int) -> None:
        if callee not in self.code.blocks.at:  # a bad target, or past the end
            self.emit(self.jump(pc, callee))
            return
        depth_fault = self.code.fault_index(BlockProgram.call_depth_fault(callee))
        self.emit(
            f"if base + len(frames) >= {MAX_CALL_FRAMES - 1}: FAIL(F[{depth_fault}], {pc}, r10)"
        )
        self.emit(f"frames.append(({pc + 1}, r6, r7, r8, r9, r10))")
        self.set(10, f"r10 - {STACK_SIZE}")
        self.emit(f"SBUF[r10 - SB - {STACK_SIZE} : r10 - SB] = Z512")  # the new frame, zeroed
        self.emit(f"return {callee}")

    def atomic(self, step: Step) -> None:
        insn, info = step.insn, step.info
        assert info is not None
        size = info.size
        op = insn.uimm
        R = self.reg
        m = _M64 if size == 8 else _M32
        self.emit(f"a = {self._addr(insn.dst, insn.off)}")
        self.emit(f"{self.sync()}u, o = RMW(a, {size}, {step.pc})")
        self.emit(f"old = _U{size}(u, o)[0]")
        v = R(insn.src) if size == 8 else f"({R(insn.src)} & {_M32})"
        r0 = R(0) if size == 8 else f"({R(0)} & {_M32})"
        base_op = op if op in (isa.BPF_XCHG, isa.BPF_CMPXCHG) else op & ~isa.BPF_FETCH
        new = ops.ATOMIC[base_op].format(old="old", v=v, r0=r0, m=m)
        self.emit(f"_P{size}(u, o, {new})")
        if op == isa.BPF_CMPXCHG:
            self.set(0, "old")
        elif op & isa.BPF_FETCH:
            self.set(insn.src, "old")


def _alu(info: isa.OpInfo, insn: Insn, R: Callable[[int], str]) -> str:
    """The new dst value of an ALU instruction, from the ops.ALU templates."""
    op = info.op
    d, s = R(insn.dst), R(insn.src)
    if info.is64:
        dv, m, w, sb = d, _M64, "63", _hex(_S64)
        src = s if info.use_src_reg else _hex(insn.imm & M64)
    else:
        dv, m, w, sb = f"({d} & {_M32})", _M32, "31", _hex(_S32)
        src = f"({s} & {_M32})" if info.use_src_reg else _hex(insn.imm & M32)
    if op == isa.BPF_MOV and info.use_src_reg and insn.off:  # MOVSX
        bits = insn.off
        return ops.MOVSX.format(s=s, low=_hex((1 << bits) - 1), top=_hex(1 << (bits - 1)), m=m)
    template = ops.ALU_SIGNED[op] if insn.off == 1 and op in ops.ALU_SIGNED else ops.ALU[op]
    return template.format(d=dv, s=src, m=m, w=w, sb=sb)


def _condition(info: isa.OpInfo, insn: Insn, R: Callable[[int], str]) -> str:
    """Whether a conditional jump is taken, from the ops.JMP templates."""
    if info.is64:
        a, sb = R(insn.dst), _S64
        b = R(insn.src) if info.use_src_reg else _hex(insn.imm & M64)
    else:
        a, sb = f"({R(insn.dst)} & {_M32})", _S32
        b = f"({R(insn.src)} & {_M32})" if info.use_src_reg else _hex(insn.imm & M32)
    return ops.JMP[info.op].format(a=a, b=b, sb=_hex(sb))


class PyCode:
    """A BlockProgram translated to Python: ``factory(...)`` makes one machine's closures."""

    def __init__(self, blocks: BlockProgram) -> None:
        self.blocks = blocks
        self.faults: list[Fault] = []
        self._fault_idx: dict[Fault, int] = {}
        self.sites = 0
        funcs: list[tuple[int, list[str]]] = []
        for start in blocks.starts:
            funcs.append((start, self._function(blocks.blocks[start])))
        self.source = self._factory(funcs)
        ns = dict(ops.NAMESPACE)
        exec(compile(self.source, "<bpf program>", "exec"), ns)  # noqa: S102 - our own codegen
        self.factory: Callable[..., tuple[Any, ...]] = ns["__factory"]

    def fault_index(self, fault: Fault) -> int:
        i = self._fault_idx.get(fault)
        if i is None:
            i = self._fault_idx[fault] = len(self.faults)
            self.faults.append(fault)
        return i

    def _function(self, block: Block) -> list[str]:
        g = _Gen(self, block)
        ended = False
        for step in block.steps:
            if g.step(step):
                ended = True
                break
        if not ended:
            g.emit(f"{g.sync()}return {block.next}")
        body = g.out
        n = block.length
        if g.loop is not None:  # a jump back to the block's own start: stay in this function
            used = sorted(g.used)
            head = ["left = budget - steps"]
            if used:
                xs = ", ".join(f"x{i}" for i in used)
                head.append(f"{xs} = {', '.join(f'r{i}' for i in used)}")
            for k in g.sites:
                head.append(f"b{k}, n{k}, u{k} = c{k}b, c{k}n, c{k}u")
            count = [f"left -= {n}", f"if left < 0: {g.sync()}OVER({block.start})"]
            body = [*head, "while True:", *("    " + ln for ln in count + body)]
        else:
            body = [f"steps += {n}", f"if steps > budget: OVER({block.start})", *body]
        names = sorted(g.assigned)
        return [
            f"def b{block.start}():",
            f"    nonlocal {', '.join(names)}",
            *("    " + ln for ln in body),
        ]

    def _factory(self, funcs: list[tuple[int, list[str]]]) -> str:
        n = self.blocks.nslots
        lines = [f"def __factory({_FACTORY_ARGS}):"]
        ind = "    "
        lines.append(f"{ind}{_REGS.replace(', ', ' = ')} = 0")
        lines.append(f"{ind}steps = budget = base = 0")
        lines.append(f"{ind}frames = []")
        for k in range(self.sites):
            lines.append(f"{ind}c{k}b = 0; c{k}n = -1; c{k}u = b''")
        lines.append(f"{ind}T = [None] * {n + 1}")
        lines.append(f"{ind}T[{n}] = FELL")
        for c in range(0, len(funcs), _CHUNK):
            part = funcs[c : c + _CHUNK]
            lines.append(f"{ind}def __chunk{c}():")
            for _start, fn in part:
                lines.extend(ind * 2 + ln for ln in fn)
            for start, _fn in part:
                lines.append(f"{ind * 2}T[{start}] = b{start}")
            lines.append(f"{ind}__chunk{c}()")
        lines += [
            f"{ind}def RUN(pc, d0):",
            f"{ind}    nonlocal base, frames",
            f"{ind}    saved = base, frames",
            f"{ind}    base, frames = d0, []",
            f"{ind}    try:",
            f"{ind}        while pc >= 0:",
            f"{ind}            pc = T[pc]()",
            f"{ind}    finally:",
            f"{ind}        base, frames = saved",
            f"{ind}def GET():",
            f"{ind}    return [{_REGS}]",
            f"{ind}def SET(v):",
            f"{ind}    nonlocal {_REGS}",
            f"{ind}    {_REGS} = v",
            f"{ind}def COUNT(n=None, b=None):",
            f"{ind}    nonlocal steps, budget",
            f"{ind}    if n is not None: steps = n",
            f"{ind}    if b is not None: budget = b",
            f"{ind}    return steps, budget",
            f"{ind}def DEPTH():",
            f"{ind}    return base + len(frames)",
        ]
        if self.sites:
            caches = ", ".join(f"c{k}n" for k in range(self.sites))
            lines += [
                f"{ind}def RESET():",
                f"{ind}    nonlocal {caches}",
                f"{ind}    {' = '.join(f'c{k}n' for k in range(self.sites))} = -1",
            ]
        else:
            lines += [f"{ind}def RESET():", f"{ind}    pass"]
        lines.append(f"{ind}return RUN, GET, SET, COUNT, DEPTH, RESET")
        return "\n".join(lines) + "\n"


def _self_loop(block: Block) -> bool:
    """Whether the block's last instruction is a jump back to its own start."""
    last = block.last
    if last.fault is not None or last.info is None or last.info.kind not in ("jcond", "ja"):
        return False
    return isa.jump_target(last.pc, last.insn) == block.start


_CODE: OrderedDict[tuple[Any, ...], PyCode] = OrderedDict()
_CODE_MAX = 64


def _key(insns: Sequence[Insn]) -> tuple[Any, ...]:
    return tuple((i.code, i.dst, i.src, i.off, i.imm, i.imm_hi) for i in insns)


class PyMachine:
    """A PyCode bound to one memory: the factory's closures (see module doc)."""

    def __init__(self, code: PyCode, binding: Binding) -> None:
        self.code = code
        mem = binding.mem
        stack = binding.stack
        self._mem = mem
        self._unmapped = mem.unmapped

        def fell() -> int:
            binding.fail(code.blocks.fell_off, code.blocks.nslots, 0)
            return -1

        (self._run, self.get_regs, self._set, self._count, self.depth, self._reset) = code.factory(
            binding.consts,
            binding.env,
            binding.call_helper,
            binding.callx,
            binding.ld_abs,
            _loader(mem),
            _storer(mem),
            _rmw(mem),
            binding.fail,
            binding.over_budget,
            code.faults,
            stack.buf,
            stack.base,
            bytes(STACK_SIZE),
            fell,
        )

    def enter(self, pc: int, depth: int) -> None:
        self._run(pc, depth)

    def set_regs(self, regs: Sequence[int]) -> None:
        self._set(regs)

    @property
    def steps(self) -> int:
        return int(self._count()[0])

    @steps.setter
    def steps(self, n: int) -> None:
        self._count(n)

    @property
    def budget(self) -> int:
        return int(self._count()[1])

    @budget.setter
    def budget(self, b: int) -> None:
        self._count(None, b)

    def sync(self) -> None:
        if self._mem.unmapped != self._unmapped:  # a cached region may be gone
            self._unmapped = self._mem.unmapped
            self._reset()

    def set_ctx(self, ctx: Any) -> None:
        pass


def _loader(mem: Memory) -> Callable[[int, int, int], tuple[int, int, int, Any]]:
    """A load's slow path: (value, region base, last cacheable offset, buffer)."""

    def load(a: int, size: int, pc: int) -> tuple[int, int, int, Any]:
        value = mem.load(a, size, pc)  # checks the access (and applies a narrow rewrite)
        region = mem.region_at(a)
        assert region is not None
        limit = region.size - size if region.narrow is None else -1
        return value, region.base, limit, region.buf

    return load


def _storer(mem: Memory) -> Callable[[int, int, int, int], tuple[int, int, Any]]:
    """A store's slow path: (region base, last cacheable offset, buffer)."""

    def store(a: int, size: int, value: int, pc: int) -> tuple[int, int, Any]:
        mem.store(a, size, value, pc)  # checks the access
        region = mem.region_at(a)
        assert region is not None
        return region.base, region.size - size, region.buf

    return store


def _rmw(mem: Memory) -> Callable[[int, int, int], tuple[Any, int]]:
    """An atomic's access: (buffer, offset) of ``size`` readable and writable bytes."""

    def rmw(a: int, size: int, pc: int) -> tuple[Any, int]:
        mem.view(a, size, pc)  # a read fault first, as the load comes first
        region = mem.region_at(a)
        assert region is not None
        if not region.writable:
            raise mem.fault("write", a, size, pc)
        return region.buf, a - region.base

    return rmw


class PyBackend:
    """The interpreter as a back end of the execution core."""

    def compile(self, blocks: BlockProgram) -> PyCode:
        key = _key(blocks.insns)
        code = _CODE.get(key)
        if code is None:
            code = _CODE[key] = PyCode(blocks)
            if len(_CODE) > _CODE_MAX:
                _CODE.popitem(last=False)
        else:
            _CODE.move_to_end(key)
        return code

    def bind(self, code: PyCode, binding: Binding) -> PyMachine:
        return PyMachine(code, binding)


class Interpreter(Engine):
    """A program run by the interpreter (see :class:`~pybpf.vm.engine.Engine`)."""

    backend = PyBackend()


def run(
    insns: Sequence[Insn] | bytes,
    *,
    mem: Memory | None = None,
    ctx: Any = None,
    r1: int | None = None,
    r2: int = 0,
    helpers: HelperTable | None = None,
    maps: MapResolver = None,
    budget: int = DEFAULT_BUDGET,
    cpu: int = 0,
) -> int:
    """Translate and run ``insns`` once; returns R0. See :class:`Interpreter`."""
    return Interpreter(insns, helpers=helpers, maps=maps, budget=budget).run(
        mem=mem, ctx=ctx, r1=r1, r2=r2, cpu=cpu
    )
