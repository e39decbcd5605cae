"""The eBPF interpreter: kernel semantics, every access bounds-checked.

Semantics follow ___bpf_prog_run in kernel/bpf/core.c plus the rewrites the
verifier applies before a program runs there (kernel/bpf/verifier.c,
do_misc_fixups): division by zero gives 0, modulo by zero leaves the
dividend (32-bit forms still zero-extend it), signed division of INT_MIN by
-1 wraps, shift amounts are masked to the operand width, every 32-bit ALU
result is zero-extended into the 64-bit register, LD_ABS/LD_IND become calls
of bpf_skb_load_helper_* that end the program with 0 when the load is out of
bounds (net/core/filter.c, bpf_gen_ld_abs).

Speed: a program is translated once into Python source, one function per
basic block (straight-line code ending at a jump, call or exit), compiled
with ``compile``/``exec`` and cached on the Interpreter; the block functions
are then bound to one Memory (closures over its load/store and the stack).
Registers are a list of 11 unsigned 64-bit ints, kept in local variables
inside a block; pointers are plain ints into a
:class:`~pybpf.vm.memory.Memory`, whose load/store check every access.
R10 is read-only (as the verifier enforces), so an R10-relative access is
checked against the 512-byte frame when translated and needs no run-time
check. The dispatch loop runs block after block and counts executed
instructions against a budget, so a runaway program stops with a clear
error.

Callbacks (bpf_loop, bpf_for_each_map_elem, bpf_find_vma, timers): a helper
calls :meth:`RunEnv.call_subprog`, which runs the subprogram an LDDW
BPF_PSEUDO_FUNC named in a new frame of the running program (the kernel's
verifier counts a callback as a call frame) and shares the run's budget;
:meth:`Interpreter.run_subprog` runs one on its own, as a timer fires.
"""

from __future__ import annotations

import errno as _errno
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import isa
from ..errors import MemoryAccessError, NotSupportedError, VmError
from ..isa import Insn
from .memory import Memory, Region

__all__ = [
    "Interpreter",
    "ProgramExit",
    "RunEnv",
    "SubprogRef",
    "TailCall",
    "run",
    "DEFAULT_BUDGET",
    "MAX_CALL_FRAMES",
    "MAX_TAIL_CALL_CNT",
    "STACK_SIZE",
]

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
S64 = 1 << 63
S32 = 1 << 31

#: MAX_BPF_STACK, one frame (include/linux/filter.h)
STACK_SIZE = isa.MAX_BPF_STACK
#: MAX_CALL_FRAMES (include/linux/bpf_verifier.h): the main program plus 7 nested calls
MAX_CALL_FRAMES = 8
#: MAX_TAIL_CALL_CNT (include/linux/bpf.h)
MAX_TAIL_CALL_CNT = 33
#: executed-instruction budget of one run unless the caller sets another
DEFAULT_BUDGET = 10_000_000
#: the return slot a callback's frame carries: its EXIT ends call_subprog's loop
_CB_RET = -1


class TailCall(Exception):  # noqa: N818 - control flow, not an error
    """Raised by the bpf_tail_call helper: continue in ``prog`` with the same context.

    ``prog`` is a Program (anything with ``.insns``) or a sequence of Insn;
    ``None`` means the prog_array slot is empty, so the call falls through to
    the next instruction as the kernel's does (R0 unchanged).
    """

    def __init__(self, prog: Any) -> None:
        super().__init__(prog)
        self.prog = prog


class ProgramExit(Exception):  # noqa: N818 - control flow, not an error
    """Raised by a helper to end the whole program at once with R0 = ``value``."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value


class _Halt(Exception):  # noqa: N818
    """The outermost EXIT."""


class SubprogRef:
    """What ``BPF_LD_IMM64`` with BPF_PSEUDO_FUNC loads: a callback's start slot."""

    __slots__ = ("pc", "code")

    def __init__(self, pc: int, code: Any) -> None:
        self.pc = pc
        self.code = code

    def __repr__(self) -> str:
        return f"<SubprogRef pc {self.pc}>"


class RunEnv:
    """What a helper sees of the running program (the brief's helper contract).

    ``mem`` the Memory, ``ctx`` the program context object (skb model) or None,
    ``trace`` lines printed by bpf_trace_printk, ``prog`` the running Program
    (changes on a tail call), ``cpu`` the simulated cpu, ``interp`` the
    Interpreter, ``ctx_ptr`` the address passed in R1, ``pc`` the slot of the
    helper call being made (for the helper's own error messages), ``regs``
    the register list (R0..R10, current at the call).
    """

    __slots__ = ("mem", "ctx", "trace", "prog", "cpu", "interp", "ctx_ptr", "regs", "pc")

    def __init__(
        self,
        mem: Memory,
        ctx: Any = None,
        trace: list[str] | None = None,
        prog: Any = None,
        cpu: int = 0,
        interp: Interpreter | None = None,
    ) -> None:
        self.mem = mem
        self.ctx = ctx
        self.trace = trace if trace is not None else []
        self.prog = prog
        self.cpu = cpu
        self.interp = interp
        self.ctx_ptr = 0
        self.regs: list[int] = []
        self.pc = 0

    def call_subprog(self, ref: Any, *args: int) -> int:
        """Call the BPF subprogram ``ref`` (a SubprogRef or the address an LDDW
        BPF_PSEUDO_FUNC loaded) with R1..R5 = ``args`` and return its R0.

        What a helper with a callback argument (bpf_loop, bpf_for_each_map_elem,
        ...) does in the kernel: the callback runs in a new frame of the same
        program, counts against the call depth and the run's instruction budget.
        """
        if self.interp is None:
            raise VmError("a callback needs the interpreter running the program", pc=self.pc)
        return self.interp._call_subprog(self, ref, args)


# --- arithmetic the kernel defines with care --------------------------------------------


def _sdiv64(a: int, b: int) -> int:
    """BPF_SDIV (off=1), 64-bit: truncates toward zero; /0 gives 0; INT_MIN/-1 wraps."""
    if not b:
        return 0
    a = (a ^ S64) - S64
    b = (b ^ S64) - S64
    q = abs(a) // abs(b)
    return (-q if (a < 0) != (b < 0) else q) & M64


def _smod64(a: int, b: int) -> int:
    """BPF_SMOD, 64-bit: remainder takes the dividend's sign; %0 leaves the dividend."""
    if not b:
        return a
    a = (a ^ S64) - S64
    b = (b ^ S64) - S64
    r = abs(a) % abs(b)
    return (-r if a < 0 else r) & M64


def _sdiv32(a: int, b: int) -> int:
    b &= M32
    if not b:
        return 0
    a = ((a & M32) ^ S32) - S32
    b = (b ^ S32) - S32
    q = abs(a) // abs(b)
    return (-q if (a < 0) != (b < 0) else q) & M32


def _smod32(a: int, b: int) -> int:
    b &= M32
    if not b:
        return a & M32
    a = ((a & M32) ^ S32) - S32
    b = (b ^ S32) - S32
    r = abs(a) % abs(b)
    return (-r if a < 0 else r) & M32


def _bswap(v: int, n: int) -> int:
    return int.from_bytes((v & ((1 << (8 * n)) - 1)).to_bytes(n, "little"), "big")


_BASE_NS: dict[str, Any] = {
    "M64": M64,
    "M32": M32,
    "_sdiv64": _sdiv64,
    "_smod64": _smod64,
    "_sdiv32": _sdiv32,
    "_smod32": _smod32,
    "_bswap": _bswap,
}
for _n, _f in (("1", "<B"), ("2", "<H"), ("4", "<I"), ("8", "<Q")):
    _BASE_NS["_U" + _n] = struct.Struct(_f).unpack_from
    _BASE_NS["_P" + _n] = struct.Struct(_f).pack_into
_MAX_INSTANCES = 8
#: bytes of stack the frames share (frame 0 at the top)
STACK_REGION_SIZE = STACK_SIZE * MAX_CALL_FRAMES
_ZERO_STACK = bytes(STACK_REGION_SIZE)

# --- translation ------------------------------------------------------------------------

_CMP = {
    isa.BPF_JEQ: "==",
    isa.BPF_JNE: "!=",
    isa.BPF_JGT: ">",
    isa.BPF_JGE: ">=",
    isa.BPF_JLT: "<",
    isa.BPF_JLE: "<=",
    isa.BPF_JSGT: ">",
    isa.BPF_JSGE: ">=",
    isa.BPF_JSLT: "<",
    isa.BPF_JSLE: "<=",
}
_SIGNED_JMP = {isa.BPF_JSGT, isa.BPF_JSGE, isa.BPF_JSLT, isa.BPF_JSLE}
_CHUNK = 200
_FACTORY_ARGS = "R, LOAD, STORE, K, SB, SBUF, ENV, CALL, EXIT, CALLX, LDABS, ATOMIC, FAULT, SFAULT"
_WRITES_DST = {"alu", "end", "ldx", "ldxsx", "lddw"}
_ENDS_BLOCK = {"jcond", "ja", "exit", "call", "callx", "ldabs", "ldind"}


class _Compiled:
    """A program translated to Python: a factory making the block functions."""

    __slots__ = (
        "nslots",
        "factories",
        "starts",
        "lengths",
        "nexts",
        "consts",
        "source",
        "insns",
        "at",
    )

    def __init__(self, insns: Sequence[Insn]) -> None:
        self.insns = list(insns)
        at: dict[int, Insn] = dict(isa.iter_slots(self.insns))
        self.at = at
        self.nslots = isa.count_slots(self.insns)
        self.consts: list[tuple[str, int, Insn]] = []  # per-memory constants: (kind, pc, insn)
        leaders = {0}
        for pc, insn in at.items():
            info = isa.OPCODES.get(insn.code)
            if info is None:
                continue
            if info.kind in ("jcond", "ja") or isa.is_local_call(insn):
                t = isa.jump_target(pc, insn)
                if t in at:
                    leaders.add(t)
            if info.kind in _ENDS_BLOCK:
                leaders.add(pc + 1)
            if info.kind == "lddw" and insn.src == isa.BPF_PSEUDO_FUNC:
                t = pc + 1 + insn.imm
                if t in at:
                    leaders.add(t)
        starts = sorted(p for p in leaders if p in at)
        self.starts = starts
        self.lengths: dict[int, int] = {}
        self.nexts: dict[int, int] = {}
        # one factory per chunk of blocks: compile() is quadratic in a function's size
        chunks: list[list[str]] = []
        lines: list[str] = []
        names: list[str] = []
        bounds = starts[1:] + [self.nslots]
        for start, stop in zip(starts, bounds, strict=True):
            body, n, nxt = self._block(start, stop)
            self.lengths[start] = n
            self.nexts[start] = nxt
            lines.append(f"    def b{start}():")
            lines.extend("        " + s for s in body)
            names.append(f"{start}: b{start}")
            if len(names) == _CHUNK or stop == self.nslots:
                head = f"def __factory{len(chunks)}({_FACTORY_ARGS}):"
                chunks.append([head, *lines, "    return {" + ", ".join(names) + "}"])
                lines, names = [], []
        self.source = "\n".join("\n".join(c) for c in chunks) + "\n"
        ns = dict(_BASE_NS)
        exec(compile(self.source, "<bpf program>", "exec"), ns)  # noqa: S102 - our own codegen
        self.factories = [ns[f"__factory{i}"] for i in range(len(chunks))]

    def _const(self, kind: str, pc: int, insn: Insn) -> str:
        self.consts.append((kind, pc, insn))
        return f"K[{len(self.consts) - 1}]"

    def _block(self, start: int, stop: int) -> tuple[list[str], int, int]:
        out: list[str] = []
        pc = start
        n = 0
        while pc < stop:
            insn = self.at[pc]
            n += 1
            term = self._insn(pc, insn, out)
            if term:
                return _localize(out), n, pc + insn.slots
            pc += insn.slots
        out.append(f"return {stop}")
        return _localize(out), n, stop

    def _target(self, pc: int, t: int) -> str:
        """A jump target as an expression (or a raising call for a bad one)."""
        if t in self.at:
            return str(t)
        if t == self.nslots:
            return str(t)  # falling off the end is reported by the dispatch loop
        why = (
            "into the middle of an LDDW"
            if 0 <= t < self.nslots
            else f"outside the program (0..{self.nslots - 1})"
        )
        return f"FAULT({pc}, 'jump to {t} is {why}')"

    def _insn(self, pc: int, insn: Insn, out: list[str]) -> bool:
        """Append the statements of one instruction; True if it ends the block."""
        info = isa.OPCODES.get(insn.code)
        if info is None:
            out.append(f"return FAULT({pc}, 'unknown opcode {insn.code:#04x}')")
            return True
        bad = isa.malformed(insn)
        if bad:
            out.append(f"return FAULT({pc}, {bad!r})")
            return True
        kind = info.kind
        d, s = insn.dst, insn.src
        D = f"R[{d}]"
        if (d == isa.BPF_REG_FP and kind in _WRITES_DST) or (
            s == isa.BPF_REG_FP and kind == "atomic" and insn.uimm & isa.BPF_FETCH
        ):
            # check_reg_arg in kernel/bpf/verifier.c; the stack fast path relies on it
            out.append(f"return FAULT({pc}, 'frame pointer is read only')")
            return True
        if kind == "alu":
            out.extend(_alu(info, insn))
            return False
        if kind == "end":
            if info.cls == isa.BPF_ALU and not info.use_src_reg:  # to little-endian: truncate
                if insn.imm != 64:
                    out.append(f"{D} &= {(1 << insn.imm) - 1:#x}")
            else:
                out.append(f"{D} = _bswap({D}, {insn.imm // 8})")
            return False
        if kind == "jcond":
            op = info.op
            if info.is64:
                a = D
                b = f"R[{s}]" if info.use_src_reg else f"{insn.imm & M64:#x}"
                sb = S64
            else:
                a = f"({D} & M32)"
                b = f"(R[{s}] & M32)" if info.use_src_reg else f"{insn.imm & M32:#x}"
                sb = S32
            if op == isa.BPF_JSET:
                cond = f"{a} & {b}"
            elif op in _SIGNED_JMP:
                if info.use_src_reg:
                    cond = f"({a} ^ {sb:#x}) {_CMP[op]} ({b} ^ {sb:#x})"
                else:
                    k = (insn.imm & (M64 if info.is64 else M32)) ^ sb
                    cond = f"({a} ^ {sb:#x}) {_CMP[op]} {k:#x}"
            else:
                cond = f"{a} {_CMP[op]} {b}"
            t = self._target(pc, isa.jump_target(pc, insn))
            out.append(f"return {t} if {cond} else {pc + 1}")
            return True
        if kind == "ja":
            out.append(f"return {self._target(pc, isa.jump_target(pc, insn))}")
            return True
        if kind == "exit":
            out.append("return EXIT()")
            return True
        if kind == "call":
            if s == isa.BPF_PSEUDO_CALL:
                callee = isa.jump_target(pc, insn)
                if callee not in self.at:
                    out.append(f"return {self._target(pc, callee)}")
                else:
                    out.append(f"return CALL({pc + 1}, {callee}, {pc})")
                return True
            if s == isa.BPF_PSEUDO_KFUNC_CALL:
                out.append(
                    f"return FAULT({pc}, 'kfunc calls (btf id {insn.imm}) are not "
                    "supported by the interpreter')"
                )
                return True
            h = self._const("helper", pc, insn)
            out.append(f"ENV.pc = {pc}")
            out.append(f"R[0] = {h}(ENV, R[1], R[2], R[3], R[4], R[5]) & M64")
            out.append(f"return {pc + 1}")
            return True
        if kind == "callx":
            out.append(f"ENV.pc = {pc}")
            out.append(f"R[0] = CALLX({D}, {pc})")
            out.append(f"return {pc + 1}")
            return True
        if kind == "lddw":
            if s == 0:
                out.append(f"{D} = {insn.imm64:#x}")
            elif s in (
                isa.BPF_PSEUDO_MAP_FD,
                isa.BPF_PSEUDO_MAP_IDX,
                isa.BPF_PSEUDO_MAP_VALUE,
                isa.BPF_PSEUDO_MAP_IDX_VALUE,
                isa.BPF_PSEUDO_FUNC,
            ):
                out.append(f"{D} = {self._const('lddw', pc, insn)}")
            else:
                out.append(
                    f"FAULT({pc}, 'LDDW with pseudo source {s} (BTF id) is not "
                    "supported by the interpreter')"
                )
            return False
        if kind in ("ldabs", "ldind"):
            if kind == "ldabs":
                off = str(insn.imm)
            else:
                off = f"((((R[{s}] + {insn.imm & M32:#x}) & M32) ^ 0x80000000) - 0x80000000)"
            out.append(f"R[0] = LDABS({off}, {info.size}, {pc})")
            out.append(f"return {pc + 1}")
            return True
        size = info.size
        if kind in ("ldx", "ldxsx"):
            if s == isa.BPF_REG_FP:
                fast = _frame_slot(insn.off, size)
                if fast is None:
                    out.append(f"return SFAULT({insn.off}, {size}, {pc}, 'read')")
                    return True
                out.append(f"v = _U{size}(SBUF, R[10] - SB - {fast})[0]")
            else:
                out.append(f"v = LOAD({_addr(s, insn.off)}, {size}, {pc})")
            if kind == "ldx":
                out.append(f"{D} = v")
            else:
                sb = 1 << (8 * size - 1)
                out.append(f"{D} = ((v ^ {sb:#x}) - {sb:#x}) & M64")
            return False
        if kind in ("st", "stx"):
            if kind == "st":
                val = f"{insn.imm & ((1 << (8 * size)) - 1):#x}"
            else:
                val = f"R[{s}]" if size == 8 else f"R[{s}] & {(1 << (8 * size)) - 1:#x}"
            if d == isa.BPF_REG_FP:
                fast = _frame_slot(insn.off, size)
                if fast is None:
                    out.append(f"return SFAULT({insn.off}, {size}, {pc}, 'write')")
                    return True
                out.append(f"_P{size}(SBUF, R[10] - SB - {fast}, {val})")
            else:
                out.append(f"STORE({_addr(d, insn.off)}, {size}, {val}, {pc})")
            return False
        if kind == "atomic":
            out.append(f"ATOMIC({_addr(d, insn.off)}, {size}, {insn.uimm}, {s}, {pc})")
            return False
        out.append(f"return FAULT({pc}, 'instruction kind {kind} not implemented')")
        return True


_REG = re.compile(r"R\[(\d+)\]")
_WRITE = re.compile(r"R\[(\d+)\]\s*(?:[-+*%&|^]|//|<<|>>)?=(?!=)")
#: statements whose callee reads or writes the register list itself
_SYNC = ("ATOMIC(",)
_FLUSH = ("ENV,", "CALL(", "EXIT(", "CALLX(", "LDABS(", "return")


def _localize(stmts: list[str]) -> list[str]:
    """Keep a block's registers in local variables (``r3`` rather than ``R[3]``).

    Locals are loaded once at block entry and the ones written are stored back
    before anything that looks at the register list (helper and local calls,
    exit, atomics) and before the block returns. A fault mid-block leaves the
    list stale, which does not matter: the run is over.
    """
    used = sorted({int(m) for st in stmts for m in _REG.findall(st)})
    if not used:
        return stmts
    # registers first met as the plain target of an assignment need no load
    first: dict[int, str] = {}
    for st in stmts:
        for m in _REG.findall(st):
            first.setdefault(int(m), st)
    load = [
        i
        for i in used
        if not (first[i].startswith(f"R[{i}] = ") and first[i].count(f"R[{i}]") == 1)
    ]
    out = [_unpack(load)] if load else []
    dirty: set[int] = set()
    for st in stmts:
        sync = any(k in st for k in _SYNC)
        if (sync or any(k in st for k in _FLUSH)) and dirty:
            out.extend(f"R[{i}] = r{i}" for i in sorted(dirty))
            dirty.clear()
        dirty.update(int(m) for m in _WRITE.findall(st))
        out.append(_REG.sub(r"r\1", st))
        if sync:
            out.append(_unpack(used))
    return out


def _unpack(regs: list[int]) -> str:
    return ", ".join(f"r{i}" for i in regs) + " = " + ", ".join(f"R[{i}]" for i in regs)


def _frame_slot(off: int, size: int) -> int | None:
    """For an access at R10+off: its distance below the frame's top, or None if it leaves
    the 512-byte frame (the verifier's "invalid stack off"; check_stack_access_within_bounds).

    R10 is read-only and always the top of the current frame, so an access
    inside the frame needs no run-time check.
    """
    if -STACK_SIZE <= off and off + size <= 0:
        return -off
    return None


def _addr(reg: int, off: int) -> str:
    if off == 0:
        return f"R[{reg}]"
    return f"(R[{reg}] + {off & M64:#x}) & M64"


def _alu(info: isa.OpInfo, insn: Insn) -> list[str]:
    op = info.op
    d, s = insn.dst, insn.src
    D = f"R[{d}]"
    if info.is64:
        src = f"R[{s}]" if info.use_src_reg else f"{insn.imm & M64:#x}"
        mask = "M64"
    else:
        src = f"(R[{s}] & M32)" if info.use_src_reg else f"{insn.imm & M32:#x}"
        mask = "M32"
    dv = D if info.is64 else f"({D} & M32)"
    if op == isa.BPF_MOV:
        if not info.use_src_reg:
            return [f"{D} = {src}"]
        if insn.off:  # MOVSX: sign-extend the low 8/16/32 bits of src
            bits = insn.off
            sb = 1 << (bits - 1)
            return [f"{D} = (((R[{s}] & {(1 << bits) - 1:#x}) ^ {sb:#x}) - {sb:#x}) & {mask}"]
        return [f"{D} = {src}"]
    if op == isa.BPF_ADD:
        return [f"{D} = ({dv} + {src}) & {mask}"]
    if op == isa.BPF_SUB:
        return [f"{D} = ({dv} - {src}) & {mask}"]
    if op == isa.BPF_MUL:
        return [f"{D} = ({dv} * {src}) & {mask}"]
    if op in (isa.BPF_OR, isa.BPF_AND, isa.BPF_XOR):
        sym = {isa.BPF_OR: "|", isa.BPF_AND: "&", isa.BPF_XOR: "^"}[op]
        if info.is64:
            return [f"{D} = {D} {sym} {src}"]
        return [f"{D} = ({D} {sym} {src}) & M32"]
    if op == isa.BPF_NEG:
        return [f"{D} = (-{D}) & {mask}"]
    width = 63 if info.is64 else 31
    if info.use_src_reg:
        sh = f"(R[{s}] & {width})"
    else:
        sh = str(insn.imm & width)
    if op == isa.BPF_LSH:
        return [f"{D} = ({dv} << {sh}) & {mask}"]
    if op == isa.BPF_RSH:
        return [f"{D} = {dv} >> {sh}"]
    if op == isa.BPF_ARSH:
        sb = S64 if info.is64 else S32
        return [f"{D} = ((({dv} ^ {sb:#x}) - {sb:#x}) >> {sh}) & {mask}"]
    signed = insn.off == 1
    if op == isa.BPF_DIV:
        if signed:
            fn = "_sdiv64" if info.is64 else "_sdiv32"
            return [f"{D} = {fn}({D}, {src})"]
        if info.use_src_reg:
            return [f"v = {src}", f"{D} = {dv} // v if v else 0"]
        k = insn.imm & (M64 if info.is64 else M32)
        return [f"{D} = {dv} // {k:#x}" if k else f"{D} = 0"]
    if op == isa.BPF_MOD:
        if signed:
            fn = "_smod64" if info.is64 else "_smod32"
            return [f"{D} = {fn}({D}, {src})"]
        if info.use_src_reg:
            if info.is64:
                return [f"v = {src}", f"if v: {D} %= v"]
            return [f"v = {src}", f"{D} = {dv} % v if v else {dv}"]
        k = insn.imm & (M64 if info.is64 else M32)
        if k:
            return [f"{D} = {dv} % {k:#x}"]
        return [] if info.is64 else [f"{D} &= M32"]
    raise NotSupportedError(f"ALU operation {op:#x} has no translation")


# --- running ------------------------------------------------------------------------------

HelperTable = Mapping[int, Any]
MapResolver = Callable[[int], Any] | Mapping[int, Any] | None


class _Instance:
    """A compiled program bound to one Memory: block functions and per-run state."""

    __slots__ = (
        "table",
        "lengths",
        "nexts",
        "regs",
        "frames",
        "stack",
        "env",
        "mem",
        "table_owner",
    )

    def __init__(
        self,
        interp: Interpreter,
        comp: _Compiled,
        mem: Memory,
        env: RunEnv,
        stack: Region,
        regs: list[int],
        frames: list[tuple[int, ...]],
    ) -> None:
        self.mem = mem
        self.env = env
        self.stack = stack
        self.regs = regs
        self.frames = frames
        self.table_owner = comp  # the _Compiled whose blocks ``table`` holds
        consts = [
            interp._resolve_const(kind, pc, insn, mem, comp) for kind, pc, insn in comp.consts
        ]
        R = regs
        args = (
            R,
            mem.load,
            mem.store,
            consts,
            stack.base,
            stack.buf,
            env,
            interp._make_call(R, frames),
            interp._make_exit(R, frames),
            interp._make_callx(env),
            interp._make_ldabs(env),
            interp._make_atomic(R, mem),
            _fault,
            _make_stack_fault(R),
        )
        blocks: dict[int, Callable[[], int]] = {}
        for factory in comp.factories:
            blocks.update(factory(*args))
        n = comp.nslots
        table: list[Any] = [None] * (n + 1)
        for start, fn in blocks.items():
            table[start] = (fn, comp.lengths[start])

        def fell_off() -> int:
            raise VmError(f"execution reached past the last instruction (slot {n})", pc=n)

        table[n] = (fell_off, 0)
        self.table = table
        self.lengths = comp.lengths
        self.nexts = comp.nexts


def _fault(pc: int, message: str) -> int:
    raise VmError(message, pc=pc)


def _make_stack_fault(R: list[int]) -> Callable[[int, int, int, str], int]:
    def stack_fault(off: int, size: int, pc: int, kind: str) -> int:
        addr = (R[10] + off) & M64
        raise MemoryAccessError(
            f"invalid {kind} of {size} byte{'s' if size != 1 else ''} at {addr:#x} "
            f"(R10{off:+d} is outside the {STACK_SIZE}-byte stack frame)",
            pc=pc,
            addr=addr,
            size=size,
        )

    return stack_fault


def resolve_lddw_map(maps: Any, insn: Insn, pc: int) -> Any:
    """The map an LDDW names: its ``ref`` object, or its fd/index looked up in ``maps``
    (a callable or a mapping). Both engines resolve maps through this."""
    if insn.ref is not None:
        return insn.ref
    what = "fd" if insn.src in (isa.BPF_PSEUDO_MAP_FD, isa.BPF_PSEUDO_MAP_VALUE) else "index"
    m = None
    try:
        if callable(maps):
            m = maps(insn.imm)
        elif maps is not None:
            m = maps.get(insn.imm)
    except (KeyError, IndexError, LookupError):
        m = None
    if m is None:
        raise VmError(
            f"LDDW refers to map {what} {insn.imm}, which the program was not given",
            pc=pc,
            errno=_errno.EBADF,
        )
    return m


class Interpreter:
    """A program ready to run many times (compiled once, bound per Memory).

    ``helpers`` maps helper ids to Helper objects (``.fn(env, r1..r5) -> int``);
    ``maps`` resolves the fd/index of BPF_LD_MAP_FD / BPF_PSEUDO_MAP_IDX (a
    callable or a mapping; an instruction's ``ref`` wins); ``budget`` caps the
    executed instructions of one run.
    """

    def __init__(
        self,
        insns: Sequence[Insn] | bytes | bytearray,
        *,
        helpers: HelperTable | None = None,
        maps: MapResolver = None,
        budget: int = DEFAULT_BUDGET,
        prog: Any = None,
    ) -> None:
        if isinstance(insns, bytes | bytearray | memoryview):
            insns = isa.decode(insns)
        self.helpers: HelperTable = helpers if helpers is not None else {}
        self.maps = maps
        self.budget = budget
        self.prog = prog
        self._comp = _Compiled(insns)
        self._tail_cache: dict[int, tuple[Any, _Compiled]] = {}
        self._instances: dict[tuple[int, int], _Instance] = {}
        self._last: _Instance | None = None  # the main program's binding used last
        self.steps = 0  # instructions executed by the last run
        self.trace: list[str] = []
        self._run_budget = budget  # the budget of the run under way (callbacks share it)
        self._cb_steps = 0  # instructions callbacks executed in the run under way

    @property
    def insns(self) -> list[Insn]:
        return self._comp.insns

    # --- per-memory constants and closures ------------------------------------------------
    def _resolve_map(self, insn: Insn, pc: int) -> Any:
        return resolve_lddw_map(self.maps, insn, pc)

    def _resolve_const(self, kind: str, pc: int, insn: Insn, mem: Memory, comp: _Compiled) -> Any:
        if kind == "helper":
            h = self.helpers.get(insn.imm)
            if h is None:
                hid = insn.imm

                def unknown(*_a: Any) -> int:
                    raise VmError(f"call to unknown helper {hid}", pc=pc, errno=_errno.EINVAL)

                return unknown
            return h.fn
        src = insn.src
        if src == isa.BPF_PSEUDO_FUNC:
            return mem.handle(SubprogRef(pc + 1 + insn.imm, comp))
        m = self._resolve_map(insn, pc)
        if src in (isa.BPF_PSEUDO_MAP_FD, isa.BPF_PSEUDO_MAP_IDX):
            return mem.handle(m)
        storage = getattr(m, "storage", None)
        if storage is None:
            raise VmError(
                f"map {getattr(m, 'name', m)!r} has no storage for a direct value address", pc=pc
            )
        return mem.region_for(storage, name=f"map {getattr(m, 'name', '')}".strip()).base + (
            insn.imm_hi & M32
        )

    def _make_call(self, R: list[int], frames: list[tuple[int, ...]]) -> Callable[..., int]:
        limit = MAX_CALL_FRAMES - 1

        def call(ret: int, target: int, pc: int) -> int:
            if len(frames) >= limit:
                raise VmError(
                    f"local call to {target} exceeds the {MAX_CALL_FRAMES}-frame "
                    "call depth limit (MAX_CALL_FRAMES)",
                    pc=pc,
                    errno=_errno.E2BIG,
                )
            frames.append((ret, R[6], R[7], R[8], R[9], R[10]))
            R[10] = (R[10] - STACK_SIZE) & M64
            return target

        return call

    def _make_exit(self, R: list[int], frames: list[tuple[int, ...]]) -> Callable[[], int]:
        def exit_() -> int:
            if not frames:
                raise _Halt()
            ret, R[6], R[7], R[8], R[9], R[10] = frames.pop()
            return ret

        return exit_

    def _make_callx(self, env: RunEnv) -> Callable[[int, int], int]:
        helpers = self.helpers
        R = env.regs

        def callx(hid: int, pc: int) -> int:
            h = helpers.get(hid) if hid <= M32 else None
            if h is None:
                raise VmError(f"callx to unknown helper {hid}", pc=pc, errno=_errno.EINVAL)
            return h.fn(env, R[1], R[2], R[3], R[4], R[5]) & M64

        return callx

    def _make_ldabs(self, env: RunEnv) -> Callable[[int, int, int], int]:
        def ldabs(off: int, size: int, pc: int) -> int:
            load = getattr(env.ctx, "load_abs", None)
            if load is None:
                raise VmError("LD_ABS/LD_IND needs a socket buffer context (ctx.load_abs)", pc=pc)
            v = load(off, size)
            if v is None:
                raise ProgramExit(0)
            return v & M64

        return ldabs

    def _make_atomic(self, R: list[int], mem: Memory) -> Callable[..., None]:
        load, store = mem.load, mem.store

        def atomic(addr: int, size: int, op: int, s: int, pc: int) -> None:
            mask = M64 if size == 8 else M32
            old = load(addr, size, pc)
            if op == isa.BPF_CMPXCHG:
                if old == R[0] & mask:
                    store(addr, size, R[s], pc)
                else:
                    store(addr, size, old, pc)  # the kernel's cmpxchg needs a writable word
                R[0] = old
                return
            if op == isa.BPF_XCHG:
                store(addr, size, R[s], pc)
                R[s] = old
                return
            base = op & ~isa.BPF_FETCH
            v = R[s]
            if base == isa.BPF_ADD:
                new = old + v
            elif base == isa.BPF_OR:
                new = old | v
            elif base == isa.BPF_AND:
                new = old & v
            elif base == isa.BPF_XOR:
                new = old ^ v
            else:
                raise VmError(f"invalid atomic operation {op:#x}", pc=pc)
            store(addr, size, new & mask, pc)
            if op & isa.BPF_FETCH:
                R[s] = old

        return atomic

    def _instance(self, comp: _Compiled, mem: Memory) -> _Instance:
        key = (id(comp), id(mem))
        inst = self._instances.get(key)
        if inst is not None and inst.mem is mem:
            return inst
        regs = [0] * isa.MAX_BPF_REG
        frames: list[tuple[int, ...]] = []
        stack = mem.stack
        if stack is None or mem.region_at(stack.base) is not stack:
            stack = mem.stack = mem.add_region(bytearray(STACK_REGION_SIZE), name="stack")
        if len(self._instances) >= _MAX_INSTANCES:  # forget the oldest binding
            del self._instances[next(iter(self._instances))]
        env = RunEnv(mem, trace=self.trace, prog=self.prog, interp=self)
        env.regs = regs
        inst = _Instance(self, comp, mem, env, stack, regs, frames)
        self._instances[key] = inst
        return inst

    def _tail_target(self, prog: Any) -> _Compiled:
        hit = self._tail_cache.get(id(prog))
        if hit is not None and hit[0] is prog:
            return hit[1]
        insns = getattr(prog, "insns", prog)
        comp = _Compiled(insns)
        self._tail_cache[id(prog)] = (prog, comp)
        return comp

    # --- the run ---------------------------------------------------------------------------
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
        """Run the program once; returns R0 (u64).

        R1 is ``r1`` if given, else 0; R10 points to the top of a fresh zeroed
        512-byte frame. Errors: VmError (budget, bad jump, unknown helper, call
        depth), MemoryAccessError (bad load/store), with the pc.
        """
        if mem is None:
            mem = Memory()
        budget = self.budget if budget is None else budget
        self._run_budget = budget
        self._cb_steps = 0
        comp = self._comp
        inst = self._last
        if inst is None or inst.mem is not mem:
            inst = self._last = self._instance(comp, mem)
        env = inst.env
        env.ctx = ctx
        env.cpu = cpu
        env.prog = self.prog
        stack = inst.stack
        stack.buf[:] = _ZERO_STACK
        top = stack.base + STACK_REGION_SIZE
        R = inst.regs
        R[:] = [0, (r1 or 0) & M64, r2 & M64, r3 & M64, r4 & M64, r5 & M64, 0, 0, 0, 0, top]
        env.ctx_ptr = R[1]
        inst.frames.clear()
        table, nexts = inst.table, inst.nexts
        steps = 0
        tail_calls = 0
        pc = 0
        while True:
            try:
                while True:
                    fn, n = table[pc]
                    steps += n
                    if steps > budget:
                        raise VmError(
                            f"instruction budget exhausted ({budget} instructions "
                            "executed; raise budget= for longer runs)",
                            pc=pc,
                            errno=_errno.E2BIG,
                        )
                    pc = fn()
            except _Halt:
                break
            except ProgramExit as e:
                R[0] = e.value & M64
                break
            except TailCall as e:
                nxt = nexts[pc]
                if e.prog is None or tail_calls >= MAX_TAIL_CALL_CNT:
                    pc = nxt  # the kernel falls through to the next instruction
                    continue
                if inst.frames:
                    raise VmError(
                        "tail call from a BPF-to-BPF subprogram is not supported by "
                        "the interpreter (as in the kernel's)",
                        pc=pc,
                    ) from None
                tail_calls += 1
                comp = self._tail_target(e.prog)
                ctx_ptr = env.ctx_ptr
                inst = self._instance(comp, mem)
                inst.env.ctx, inst.env.cpu, inst.env.prog = ctx, cpu, e.prog
                inst.env.ctx_ptr = ctx_ptr
                inst.env.trace = env.trace
                env = inst.env
                inst.frames.clear()
                R2 = inst.regs
                R2[:] = R
                R2[1] = ctx_ptr
                R2[10] = top
                stack.buf[:] = _ZERO_STACK
                R = R2
                table, nexts = inst.table, inst.nexts
                pc = 0
            except TypeError:
                if table[pc] is None:  # cannot happen: every jump target is checked
                    raise VmError(f"no instruction starts at slot {pc}", pc=pc) from None
                raise
        steps += self._cb_steps
        self.steps = steps
        if steps > budget:
            raise VmError(
                f"instruction budget exhausted ({budget} instructions executed, "
                f"{self._cb_steps} of them in callbacks; raise budget= for longer runs)",
                pc=pc,
                errno=_errno.E2BIG,
            )
        return R[0]

    # --- callbacks (bpf_loop, for_each_map_elem, timers) ------------------------------------
    def _subprog_ref(self, mem: Memory, ref: Any, pc: int) -> SubprogRef:
        if isinstance(ref, int):
            ref = mem.object_at(ref, pc)
        if not isinstance(ref, SubprogRef):
            raise VmError(f"callback argument {ref!r} is not a BPF subprogram", pc=pc)
        return ref

    def _call_subprog(self, env: RunEnv, ref: Any, args: Sequence[int]) -> int:
        """RunEnv.call_subprog: run a callback in a new frame of the running program."""
        pc0 = env.pc
        inst = next((i for i in self._instances.values() if i.env is env), None)
        if inst is None:
            raise VmError("call_subprog: no program is running in this environment", pc=pc0)
        ref = self._subprog_ref(env.mem, ref, pc0)
        if ref.code is not inst.table_owner:
            raise VmError(f"callback at slot {ref.pc} belongs to another program", pc=pc0)
        frames, R = inst.frames, inst.regs
        if len(frames) >= MAX_CALL_FRAMES - 1:
            raise VmError(
                f"callback at slot {ref.pc} exceeds the {MAX_CALL_FRAMES}-frame call depth "
                "limit (MAX_CALL_FRAMES)",
                pc=pc0,
                errno=_errno.E2BIG,
            )
        saved = R[:]
        depth = len(frames)
        frames.append((_CB_RET, R[6], R[7], R[8], R[9], R[10]))
        R[10] = (R[10] - STACK_SIZE) & M64
        for i in range(5):
            R[1 + i] = (args[i] if i < len(args) else 0) & M64
        table = inst.table
        left = self._run_budget - self._cb_steps
        steps = 0
        pc = ref.pc
        try:
            while pc != _CB_RET:
                fn, n = table[pc]
                steps += n
                if steps > left:
                    raise VmError(
                        f"instruction budget exhausted in a callback ({self._run_budget} "
                        "instructions executed; raise budget= for longer runs)",
                        pc=pc,
                        errno=_errno.E2BIG,
                    )
                pc = fn()
        except TailCall:
            raise VmError(
                "tail call from a callback is not supported (the kernel's verifier refuses it)",
                pc=pc,
            ) from None
        finally:
            self._cb_steps += steps
            del frames[depth:]
        r0 = R[0]
        R[:] = saved
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
        (bpf_timer_cb in kernel/bpf/helpers.c): R1..R5 = ``args``, a fresh frame,
        no program around it. ``mem`` must be the Memory the program ran in (its
        map and stack regions). Returns R0.
        """
        ref = self._subprog_ref(mem, ref, 0)
        inst = self._instance(ref.code, mem)
        env = inst.env
        env.ctx, env.cpu, env.ctx_ptr = ctx, cpu, 0
        budget = self.budget if budget is None else budget
        saved_budget, saved_cb = self._run_budget, self._cb_steps
        self._run_budget, self._cb_steps = budget, 0
        stack = inst.stack
        stack.buf[:] = _ZERO_STACK
        top = stack.base + STACK_REGION_SIZE
        R = inst.regs
        R[:] = [0, *((list(args) + [0] * 5)[:5]), 0, 0, 0, 0, top]
        R[1:6] = [v & M64 for v in R[1:6]]
        inst.frames.clear()
        table = inst.table
        steps = 0
        pc = ref.pc
        try:
            while True:
                fn, n = table[pc]
                steps += n
                if steps + self._cb_steps > budget:
                    raise VmError(
                        f"instruction budget exhausted ({budget} instructions executed)",
                        pc=pc,
                        errno=_errno.E2BIG,
                    )
                pc = fn()
        except _Halt:
            pass
        except ProgramExit as e:
            R[0] = e.value & M64
        except TailCall:
            raise VmError("tail call from a callback is not supported", pc=pc) from None
        finally:
            self.steps = steps + self._cb_steps
            self._run_budget, self._cb_steps = saved_budget, saved_cb
        return R[0]


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
    """Compile and run ``insns`` once; returns R0. See :class:`Interpreter`."""
    return Interpreter(insns, helpers=helpers, maps=maps, budget=budget).run(
        mem=mem, ctx=ctx, r1=r1, r2=r2, cpu=cpu
    )
