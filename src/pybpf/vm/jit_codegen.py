"""eBPF instructions to LLVM IR text, for the JIT (:mod:`pybpf.vm.jit`).

One program becomes one LLVM function ``i32 @bpf_prog(ptr %rt)``. ``rt`` is
the run-time block the Python side fills (layout: the ``RT_*`` indices, u64
each): the registers on entry and exit, the region table, the stack's host
address, the step budget, the trampolines' function pointers. Registers are
allocas that the O2 pipeline promotes to SSA values; basic blocks start at the
same leaders as the interpreter's (jump and call targets, the instruction after
a jump, call, exit or LD_ABS), so both count executed instructions alike.

Semantics are the interpreter's (kernel/bpf/core.c ``___bpf_prog_run`` plus the
verifier's do_misc_fixups); the ALU part is in :mod:`pybpf.vm.jit_emit`.

Memory: a pointer is the interpreter's address (region slot << 32 | offset,
see :mod:`pybpf.vm.memory`), so helpers, maps and results see the same
numbers under both engines. Every load or store through a register other
than R10 looks its slot up in the region table and checks offset + size
against the region's size (and writability for stores), then touches the
region's real bytes. R10 is read-only and always the top of the current
512-byte frame, so ``R10 + off`` with an in-frame ``off`` is checked here, at
translation, and needs nothing at run time. Loads from the context region
apply the kernel's narrow-load rewrite of __sk_buff fields (as
:func:`pybpf.progtypes.ctx_load`).

Local calls keep an explicit frame stack (return point, R6-R10) inside the
one function; helper calls, LD_ABS misses and faults call back into Python
through function pointers in ``rt``. The function can start at a callback's
first instruction and a given depth (``RT_ENTRY``/``RT_DEPTH0``): how a helper
such as bpf_loop runs a callback, by entering the code again.
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import isa
from ..isa import Insn
from .jit_abi import (
    FAULT_READ,
    FAULT_WRITE,
    FUNC_MAP_LOOKUP_ELEM,
    RT_ARRAYS,
    RT_BUDGET,
    RT_CALLX,
    RT_CONSTS,
    RT_DEPTH,
    RT_DEPTH0,
    RT_ENTRY,
    RT_FAULT,
    RT_HELPER,
    RT_LDABS,
    RT_PC,
    RT_PKT,
    RT_PKT_DATA,
    RT_PKT_LEN,
    RT_REGS,
    RT_SIZE,
    RT_STACK_DELTA,
    RT_STATUS,
    RT_STEPS,
    RT_VMFAULT,
    VMFAULT_BUDGET,
    prelude,
)
from .jit_emit import Emitter, s64

__all__ = ["Translation", "translate", "RT_SIZE"]

M64 = (1 << 64) - 1
STACK_SIZE = isa.MAX_BPF_STACK
MAX_CALL_FRAMES = 8

_WRITES_DST = {"alu", "end", "ldx", "ldxsx", "lddw"}
_ENDS_BLOCK = {"jcond", "ja", "exit", "call", "callx", "ldabs", "ldind"}
_MAP_PSEUDO = (
    isa.BPF_PSEUDO_MAP_FD,
    isa.BPF_PSEUDO_MAP_IDX,
    isa.BPF_PSEUDO_MAP_VALUE,
    isa.BPF_PSEUDO_MAP_IDX_VALUE,
    isa.BPF_PSEUDO_FUNC,
)


@dataclass
class Fault:
    """A VmError the code may raise: ``message`` is a format with ``{value}`` for run-time data."""

    message: str
    errno: int = 0
    kind: str = "vm"  # "vm" (VmError) or "stack-read"/"stack-write" (MemoryAccessError)
    off: int = 0
    size: int = 0


@dataclass
class Translation:
    """The IR of one program and what the Python side needs to bind it."""

    ir: str
    nslots: int
    #: per-memory constants: ("helper", pc, insn) or ("lddw", pc, insn), by index
    consts: list[tuple[str, int, Insn]] = field(default_factory=list)
    #: fault code -> Fault (code 0 is the budget)
    faults: list[Fault] = field(default_factory=list)
    local_calls: bool = False


def _fp_write(info: isa.OpInfo, insn: Insn) -> bool:
    """check_reg_arg: R10 is read only (the stack fast path relies on it)."""
    return (insn.dst == isa.BPF_REG_FP and info.kind in _WRITES_DST) or (
        insn.src == isa.BPF_REG_FP and info.kind == "atomic" and bool(insn.uimm & isa.BPF_FETCH)
    )


def _frame_ok(off: int, size: int) -> bool:
    return -STACK_SIZE <= off and off + size <= 0


def _ends(insn: Insn) -> bool:
    """Whether the interpreter ends its block at ``insn`` (so both engines count steps alike)."""
    info = isa.OPCODES.get(insn.code)
    if info is None or isa.malformed(insn) or _fp_write(info, insn):
        return True
    kind = info.kind
    if kind in _ENDS_BLOCK:
        return True
    if kind in ("ldx", "ldxsx") and insn.src == isa.BPF_REG_FP:
        return not _frame_ok(insn.off, info.size)
    if kind in ("st", "stx") and insn.dst == isa.BPF_REG_FP:
        return not _frame_ok(insn.off, info.size)
    return kind not in ("alu", "end", "lddw", "ldx", "ldxsx", "st", "stx", "atomic")


class _Gen(Emitter):
    """Builds the function text instruction by instruction."""

    def __init__(self, insns: Sequence[Insn], narrow: Sequence[int]) -> None:
        self.insns = list(insns)
        self.at: dict[int, Insn] = dict(isa.iter_slots(self.insns))
        self.nslots = isa.count_slots(self.insns)
        self.narrow = list(narrow)
        super().__init__()
        self.dead = False
        self.consts: list[tuple[str, int, Insn]] = []
        self.faults: list[Fault] = [Fault("budget")]
        self.fault_codes: dict[tuple[str, int, int], int] = {}
        self.ret_points: list[int] = []
        self.sizes_ld: set[int] = set()
        self.sizes_st: set[int] = set()
        self.sizes_rw: set[int] = set()
        self.sizes_raw = False
        #: where a callback may start (targets of LDDW BPF_PSEUDO_FUNC)
        self.entries: set[int] = set()
        self.block = 0  # the slot the block being emitted starts at

    # --- faults and bail-out -------------------------------------------------------------
    def code_for(self, fault: Fault) -> int:
        key = (fault.kind + ":" + fault.message, fault.errno, fault.off * 16 + fault.size)
        code = self.fault_codes.get(key)
        if code is None:
            code = self.fault_codes[key] = len(self.faults)
            self.faults.append(fault)
        return code

    def vmfault(self, pc: int, fault: Fault, value: str = "0") -> None:
        """Call the vmfault trampoline and leave (ends the current block)."""
        code = self.code_for(fault)
        fp = self.rt(RT_VMFAULT, "ptr")
        self.op(f"call i64 {fp}(i64 {code}, i64 {pc}, i64 {value})")
        self.bail(pc)

    def bail(self, pc: int) -> None:
        self.emit(f"store i64 {pc}, ptr %bailpc")
        self.emit("br label %bail")

    def check_status(self, pc: int, cont: str) -> None:
        st = self.rt(RT_STATUS)
        bad = self.op(f"icmp ne i64 {st}, 0")
        b = self.fresh("S")
        self.emit(f"br i1 {bad}, label %{b}, label %{cont}")
        self.label(b)
        self.bail(pc)

    def target(self, pc: int, t: int) -> str:
        """The label a jump to slot ``t`` lands on (a fault block for a bad target)."""
        if t in self.at or t == self.nslots:
            return f"L{t}"
        why = (
            "into the middle of an LDDW"
            if 0 <= t < self.nslots
            else f"outside the program (0..{self.nslots - 1})"
        )
        name = self.fresh("J")
        self._pending_blocks.append((name, pc, Fault(f"jump to {t} is {why}")))
        return name

    # --- the function ------------------------------------------------------------------
    def build(self) -> str:
        self._pending_blocks: list[tuple[str, int, Fault]] = []
        at = self.at
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
                    self.entries.add(t)
        starts = sorted(p for p in leaders if p in at)
        lengths: dict[int, int] = {}
        bounds = starts[1:] + [self.nslots]
        for start, stop in zip(starts, bounds, strict=True):
            n, pc = 0, start
            while pc < stop:
                insn = at[pc]
                n += 1
                if _ends(insn):
                    break
                pc += insn.slots
            lengths[start] = n

        body_start = len(self.out)
        self.dead = True
        for pc, insn in isa.iter_slots(self.insns):
            if pc in lengths:
                if not self.dead:
                    self.emit(f"br label %L{pc}")
                self.label(f"L{pc}")
                s = self.op("load i64, ptr %steps")
                s2 = self.op(f"add i64 {s}, {lengths[pc]}")
                self.emit(f"store i64 {s2}, ptr %steps")
                over = self.op(f"icmp ugt i64 {s2}, %budget")
                self.emit(f"br i1 {over}, label %B{pc}, label %C{pc}")
                self.label(f"B{pc}")
                fp = self.rt(RT_VMFAULT, "ptr")
                self.op(f"call i64 {fp}(i64 {VMFAULT_BUDGET}, i64 {pc}, i64 0)")
                self.bail(pc)
                self.label(f"C{pc}")
                self.dead = False
                self.block = pc
            if self.dead:
                continue
            if self.insn(pc, insn):
                self.dead = True
        if not self.dead:
            self.emit(f"br label %L{self.nslots}")
        body = self.out[body_start:]
        del self.out[body_start:]

        tail: list[str] = []
        self.out = tail
        # past the end: the interpreter's "fell off"
        self.label(f"L{self.nslots}")
        self.vmfault(
            self.nslots,
            Fault(f"execution reached past the last instruction (slot {self.nslots})"),
        )
        for name, pc, fault in self._pending_blocks:
            self.label(name)
            self.vmfault(pc, fault)
        self.exit_block()
        self.label("bail")
        for r in range(11):
            v = self.rd(r)
            self.rt_store(RT_REGS + r, v)
        self.rt_store(RT_STEPS, self.op("load i64, ptr %steps"))
        self.rt_store(RT_PC, self.op("load i64, ptr %bailpc"))
        self.rt_store(RT_DEPTH, self.op("load i64, ptr %depth"))
        self.emit("ret i32 1")

        head: list[str] = []
        self.out = head
        self.out.append("define i32 @bpf_prog(ptr %rt) {")
        self.label("entry")
        for r in range(11):
            self.emit(f"%R{r} = alloca i64")
        self.emit("%steps = alloca i64")
        self.emit("%depth = alloca i64")
        self.emit("%bailpc = alloca i64")
        self.emit(f"%fret = alloca [{MAX_CALL_FRAMES} x i32]")
        self.emit(f"%fsave = alloca [{MAX_CALL_FRAMES * 5} x i64]")
        for r in range(11):
            self.wr(r, self.rt(RT_REGS + r))
        self.emit(f"store i64 {self.rt(RT_STEPS)}, ptr %steps")
        p = self.op(f"getelementptr i64, ptr %rt, i64 {RT_DEPTH0}")
        self.emit(f"%depth0 = load i64, ptr {p}")
        self.emit("store i64 %depth0, ptr %depth")
        self.emit("store i64 0, ptr %bailpc")
        p = self.op(f"getelementptr i64, ptr %rt, i64 {RT_BUDGET}")
        self.emit(f"%budget = load i64, ptr {p}")
        if self.entries:  # a callback run starts at its subprogram
            entry = self.rt(RT_ENTRY)
            cases = " ".join(f"i64 {t}, label %L{t}" for t in sorted(self.entries))
            self.emit(f"switch i64 {entry}, label %L0 [ {cases} ]")
        else:
            self.emit("br label %L0")
        fn = "\n".join(head + body + tail) + "\n}\n"
        return self.prelude() + fn

    def exit_block(self) -> None:
        self.label("Lexit")
        d = self.op("load i64, ptr %depth")
        z = self.op(f"icmp eq i64 {d}, %depth0")
        self.emit(f"br i1 {z}, label %Lret, label %Lpop")
        self.label("Lret")
        for r in range(11):  # the final registers, as the interpreter's list keeps them
            self.rt_store(RT_REGS + r, self.rd(r))
        self.rt_store(RT_PC, self.op("load i64, ptr %bailpc"))
        self.rt_store(RT_STEPS, self.op("load i64, ptr %steps"))
        self.emit("ret i32 0")
        self.label("Lpop")
        if not self.ret_points:
            self.emit("unreachable")
            return
        d = self.op("load i64, ptr %depth")
        d1 = self.op(f"sub i64 {d}, 1")
        self.emit(f"store i64 {d1}, ptr %depth")
        rp = self.op(f"getelementptr [{MAX_CALL_FRAMES} x i32], ptr %fret, i64 0, i64 {d1}")
        rid = self.op(f"load i32, ptr {rp}")
        base = self.op(f"mul i64 {d1}, 5")
        for k, r in enumerate(range(6, 11)):
            i = self.op(f"add i64 {base}, {k}")
            sp = self.op(f"getelementptr [{MAX_CALL_FRAMES * 5} x i64], ptr %fsave, i64 0, i64 {i}")
            self.wr(r, self.op(f"load i64, ptr {sp}"))
        cases = " ".join(f"i32 {i}, label %L{t}" for i, t in enumerate(self.ret_points))
        self.emit(f"switch i32 {rid}, label %Lunreach [ {cases} ]")
        self.label("Lunreach")
        self.emit("unreachable")

    # --- one instruction -----------------------------------------------------------------
    def insn(self, pc: int, insn: Insn) -> bool:
        """Emit one instruction; True when it ends the block (control left it)."""
        info = isa.OPCODES.get(insn.code)
        if info is None:
            self.vmfault(pc, Fault(f"unknown opcode {insn.code:#04x}"))
            return True
        bad = isa.malformed(insn)
        if bad:
            self.vmfault(pc, Fault(bad))
            return True
        if _fp_write(info, insn):
            self.vmfault(pc, Fault("frame pointer is read only"))
            return True
        kind = info.kind
        d, s = insn.dst, insn.src
        if kind == "alu":
            self.wr(d, self.alu(info, insn))
            return False
        if kind == "end":
            self.end(info, insn)
            return False
        if kind == "jcond":
            self.jcond(pc, info, insn)
            return True
        if kind == "ja":
            self.emit(f"br label %{self.target(pc, isa.jump_target(pc, insn))}")
            return True
        if kind == "exit":
            self.emit(f"store i64 {self.block}, ptr %bailpc")
            self.emit("br label %Lexit")
            return True
        if kind == "call":
            return self.call(pc, insn)
        if kind == "callx":
            self.helper_call(pc, RT_CALLX, self.rd(d))
            return True
        if kind == "lddw":
            if s == 0:
                self.wr(d, str(s64(insn.imm64)))
                return False
            if s in _MAP_PSEUDO:
                self.consts.append(("lddw", pc, insn))
                idx = len(self.consts) - 1
                cp = self.rt(RT_CONSTS, "ptr")
                p = self.op(f"getelementptr i64, ptr {cp}, i64 {idx}")
                self.wr(d, self.op(f"load i64, ptr {p}"))
                return False
            self.vmfault(
                pc,
                Fault(f"LDDW with pseudo source {s} (BTF id) is not supported by the interpreter"),
            )
            return True
        if kind in ("ldabs", "ldind"):
            self.ldabs(pc, info, insn)
            return True
        size = info.size
        bits = 8 * size
        if kind in ("ldx", "ldxsx"):
            if s == isa.BPF_REG_FP:
                if not _frame_ok(insn.off, size):
                    self.stack_fault(pc, insn.off, size, "read")
                    return True
                p = self.stack_ptr(insn.off)
                v = self.op(f"load i{bits}, ptr {p}, align 1")
            else:
                addr = self.addr(s, insn.off)
                self.sizes_ld.add(size)
                res = self.op(f"call {{i64, i1}} @ld{size}(ptr %rt, i64 {addr})")
                ok = self.op(f"extractvalue {{i64, i1}} {res}, 1")
                self.guard(ok, pc, FAULT_READ, addr, size)
                v64 = self.op(f"extractvalue {{i64, i1}} {res}, 0")
                if kind == "ldx":
                    self.wr(d, v64)
                    return False
                v = self.op(f"trunc i64 {v64} to i{bits}") if size < 8 else v64
            if kind == "ldx":
                self.wr(d, self.op(f"zext i{bits} {v} to i64") if size < 8 else v)
            else:
                self.wr(d, self.op(f"sext i{bits} {v} to i64") if size < 8 else v)
            return False
        if kind in ("st", "stx"):
            if kind == "st":
                val = str(s64(insn.imm))
            else:
                val = self.rd(s)
            if d == isa.BPF_REG_FP:
                if not _frame_ok(insn.off, size):
                    self.stack_fault(pc, insn.off, size, "write")
                    return True
                p = self.stack_ptr(insn.off)
                v = self.op(f"trunc i64 {val} to i{bits}") if size < 8 else val
                self.emit(f"store i{bits} {v}, ptr {p}, align 1")
            else:
                addr = self.addr(d, insn.off)
                self.sizes_st.add(size)
                ok = self.op(f"call i1 @st{size}(ptr %rt, i64 {addr}, i64 {val})")
                self.guard(ok, pc, FAULT_WRITE, addr, size)
            return False
        if kind == "atomic":
            self.atomic(pc, info, insn)
            return False
        self.vmfault(pc, Fault(f"instruction kind {kind} not implemented"))
        return True

    def guard(self, ok: str, pc: int, kind: int, addr: str, size: int) -> None:
        good, badl = self.fresh("G"), self.fresh("F")
        self.emit(f"br i1 {ok}, label %{good}, label %{badl}")
        self.label(badl)
        fp = self.rt(RT_FAULT, "ptr")
        self.op(f"call i64 {fp}(i64 {kind}, i64 {addr}, i64 {size}, i64 {pc})")
        self.bail(pc)
        self.label(good)

    def addr(self, reg: int, off: int) -> str:
        v = self.rd(reg)
        return self.op(f"add i64 {v}, {off}") if off else v

    def stack_ptr(self, off: int) -> str:
        r10 = self.rd(10)
        delta = self.rt(RT_STACK_DELTA)
        h = self.op(f"add i64 {r10}, {delta}")
        if off:
            h = self.op(f"add i64 {h}, {off}")
        return self.op(f"inttoptr i64 {h} to ptr")

    def stack_fault(self, pc: int, off: int, size: int, kind: str) -> None:
        self.vmfault(pc, Fault("", kind="stack-" + kind, off=off, size=size), self.rd(10))

    # --- control ---------------------------------------------------------------------------
    def jcond(self, pc: int, info: isa.OpInfo, insn: Insn) -> None:
        c = self.condition(info, insn)
        t = self.target(pc, isa.jump_target(pc, insn))
        self.emit(f"br i1 {c}, label %{t}, label %L{pc + 1}")

    def call(self, pc: int, insn: Insn) -> bool:
        s = insn.src
        if s == isa.BPF_PSEUDO_CALL:
            callee = isa.jump_target(pc, insn)
            if callee not in self.at:
                self.emit(f"br label %{self.target(pc, callee)}")
                return True
            d = self.op("load i64, ptr %depth")
            full = self.op(f"icmp uge i64 {d}, {MAX_CALL_FRAMES - 1}")
            ok, over = self.fresh("P"), self.fresh("Q")
            self.emit(f"br i1 {full}, label %{over}, label %{ok}")
            self.label(over)
            self.vmfault(
                pc,
                Fault(
                    f"local call to {callee} exceeds the {MAX_CALL_FRAMES}-frame "
                    "call depth limit (MAX_CALL_FRAMES)",
                    _errno.E2BIG,
                ),
            )
            self.label(ok)
            rid = len(self.ret_points)
            self.ret_points.append(pc + 1)
            rp = self.op(f"getelementptr [{MAX_CALL_FRAMES} x i32], ptr %fret, i64 0, i64 {d}")
            self.emit(f"store i32 {rid}, ptr {rp}")
            base = self.op(f"mul i64 {d}, 5")
            for k, r in enumerate(range(6, 11)):
                i = self.op(f"add i64 {base}, {k}")
                sp = self.op(
                    f"getelementptr [{MAX_CALL_FRAMES * 5} x i64], ptr %fsave, i64 0, i64 {i}"
                )
                self.emit(f"store i64 {self.rd(r)}, ptr {sp}")
            d1 = self.op(f"add i64 {d}, 1")
            self.emit(f"store i64 {d1}, ptr %depth")
            r10 = self.rd(10)
            self.wr(10, self.op(f"sub i64 {r10}, {STACK_SIZE}"))
            self.emit(f"br label %L{callee}")
            return True
        if s == isa.BPF_PSEUDO_KFUNC_CALL:
            self.vmfault(
                pc,
                Fault(f"kfunc calls (btf id {insn.imm}) are not supported by the interpreter"),
            )
            return True
        self.consts.append(("helper", pc, insn))
        if insn.imm == FUNC_MAP_LOOKUP_ELEM:
            self.inline_array_lookup(pc)
        self.helper_call(pc, RT_HELPER, str(len(self.consts) - 1))
        return True

    def inline_array_lookup(self, pc: int) -> None:
        """bpf_map_lookup_elem on an array map without leaving native code.

        The Python side fills a descriptor for each map constant that is a plain
        array whose storage is already mapped; R1 equal to such a map's handle and
        a readable 4-byte key at R2 give R0 = value address (0 past max_entries),
        as array_map_gen_lookup does. Anything else falls through to the helper.
        """
        maps = [
            i
            for i, (kind, _pc, insn) in enumerate(self.consts)
            if kind == "lddw" and insn.src in (isa.BPF_PSEUDO_MAP_FD, isa.BPF_PSEUDO_MAP_IDX)
        ]
        if not maps:
            return
        self.sizes_raw = True
        r1 = self.rd(1)
        table = self.rt(RT_ARRAYS, "ptr")
        for i in maps:
            hp = self.op(f"getelementptr i64, ptr {table}, i64 {4 * i}")
            h = self.op(f"load i64, ptr {hp}")
            ep = self.op(f"getelementptr i64, ptr {table}, i64 {4 * i + 2}")
            es = self.op(f"load i64, ptr {ep}")
            same = self.op(f"icmp eq i64 {r1}, {h}")
            valid = self.op(f"icmp ne i64 {es}, 0")
            hit = self.op(f"and i1 {same}, {valid}")
            yes, no = self.fresh("M"), self.fresh("M")
            self.emit(f"br i1 {hit}, label %{yes}, label %{no}")
            self.label(yes)
            res = self.op(f"call {{i64, i1}} @raw4(ptr %rt, i64 {self.rd(2)})")
            ok = self.op(f"extractvalue {{i64, i1}} {res}, 1")
            got = self.fresh("M")
            self.emit(f"br i1 {ok}, label %{got}, label %{no}")
            self.label(got)
            key = self.op(f"extractvalue {{i64, i1}} {res}, 0")
            bp = self.op(f"getelementptr i64, ptr {table}, i64 {4 * i + 1}")
            base = self.op(f"load i64, ptr {bp}")
            mp = self.op(f"getelementptr i64, ptr {table}, i64 {4 * i + 3}")
            mx = self.op(f"load i64, ptr {mp}")
            inb = self.op(f"icmp ult i64 {key}, {mx}")
            off = self.op(f"mul i64 {key}, {es}")
            va = self.op(f"add i64 {base}, {off}")
            self.wr(0, self.op(f"select i1 {inb}, i64 {va}, i64 0"))
            self.emit(f"br label %L{pc + 1}")
            self.label(no)

    def helper_call(self, pc: int, slot: int, first: str) -> None:
        # RunEnv.regs shows helpers the registers as they are at the call; a callback
        # the helper runs starts one frame below this depth
        for r in range(11):
            self.rt_store(RT_REGS + r, self.rd(r))
        self.rt_store(RT_DEPTH, self.op("load i64, ptr %depth"))
        args = [self.rd(r) for r in range(6)]
        fp = self.rt(slot, "ptr")
        argl = ", ".join(f"i64 {x}" for x in [first, *args, str(pc)])
        v = self.op(f"call i64 {fp}({argl})")
        cont = self.fresh("K")
        self.check_status(pc, cont)
        self.label(cont)
        self.wr(0, v)
        self.emit(f"br label %L{pc + 1}")

    def ldabs(self, pc: int, info: isa.OpInfo, insn: Insn) -> None:
        size = info.size
        bits = 8 * size
        if info.kind == "ldabs":
            off = str(insn.imm)
        else:
            v = self.rd(insn.src)
            v = self.op(f"add i64 {v}, {insn.imm}")
            t = self.op(f"trunc i64 {v} to i32")
            off = self.op(f"sext i32 {t} to i64")
        head = self.rt(RT_PKT)
        doff = self.rt(RT_PKT_DATA)
        hlen = self.rt(RT_PKT_LEN)
        has = self.op(f"icmp ne i64 {head}, 0")
        nonneg = self.op(f"icmp sge i64 {off}, 0")
        start = self.op(f"add i64 {doff}, {off}")
        end = self.op(f"add i64 {start}, {size}")
        fits = self.op(f"icmp ule i64 {end}, {hlen}")
        c = self.op(f"and i1 {has}, {nonneg}")
        c = self.op(f"and i1 {c}, {fits}")
        fast, slow, join = self.fresh("A"), self.fresh("A"), self.fresh("A")
        self.emit(f"br i1 {c}, label %{fast}, label %{slow}")
        self.label(fast)
        h = self.op(f"add i64 {head}, {start}")
        p = self.op(f"inttoptr i64 {h} to ptr")
        raw = self.op(f"load i{bits}, ptr {p}, align 1")
        if size > 1:
            raw = self.op(f"call i{bits} @llvm.bswap.i{bits}(i{bits} {raw})")
        self.wr(0, self.op(f"zext i{bits} {raw} to i64"))
        self.emit(f"br label %{join}")
        self.label(slow)
        fp = self.rt(RT_LDABS, "ptr")
        v = self.op(f"call i64 {fp}(i64 {off}, i64 {size}, i64 {pc})")
        cont = self.fresh("K")
        self.check_status(pc, cont)
        self.label(cont)
        self.wr(0, v)
        self.emit(f"br label %{join}")
        self.label(join)
        self.emit(f"br label %L{pc + 1}")

    def atomic(self, pc: int, info: isa.OpInfo, insn: Insn) -> None:
        size = info.size
        bits = 8 * size
        op = insn.uimm
        addr = self.addr(insn.dst, insn.off)
        self.sizes_rw.add(size)
        h = self.op(f"call i64 @rw{size}(ptr %rt, i64 {addr})")
        rdf = self.op(f"icmp eq i64 {h}, 0")
        wrf = self.op(f"icmp eq i64 {h}, 1")
        ok1, ok2 = self.fresh("G"), self.fresh("G")
        f1, f2 = self.fresh("F"), self.fresh("F")
        self.emit(f"br i1 {rdf}, label %{f1}, label %{ok1}")
        self.label(f1)
        fp = self.rt(RT_FAULT, "ptr")
        self.op(f"call i64 {fp}(i64 {FAULT_READ}, i64 {addr}, i64 {size}, i64 {pc})")
        self.bail(pc)
        self.label(ok1)
        self.emit(f"br i1 {wrf}, label %{f2}, label %{ok2}")
        self.label(f2)
        fp = self.rt(RT_FAULT, "ptr")
        self.op(f"call i64 {fp}(i64 {FAULT_WRITE}, i64 {addr}, i64 {size}, i64 {pc})")
        self.bail(pc)
        self.label(ok2)
        p = self.op(f"inttoptr i64 {h} to ptr")
        old = self.op(f"load i{bits}, ptr {p}, align 1")
        old64 = self.op(f"zext i{bits} {old} to i64") if size < 8 else old
        src = self.rd(insn.src)
        sv = self.op(f"trunc i64 {src} to i{bits}") if size < 8 else src
        if op == isa.BPF_CMPXCHG:
            r0 = self.rd(0)
            r0t = self.op(f"trunc i64 {r0} to i{bits}") if size < 8 else r0
            eq = self.op(f"icmp eq i{bits} {old}, {r0t}")
            new = self.op(f"select i1 {eq}, i{bits} {sv}, i{bits} {old}")
            self.emit(f"store i{bits} {new}, ptr {p}, align 1")
            self.wr(0, old64)
            return
        if op == isa.BPF_XCHG:
            self.emit(f"store i{bits} {sv}, ptr {p}, align 1")
            self.wr(insn.src, old64)
            return
        base = op & ~isa.BPF_FETCH
        name = {isa.BPF_ADD: "add", isa.BPF_OR: "or", isa.BPF_AND: "and", isa.BPF_XOR: "xor"}[base]
        new = self.op(f"{name} i{bits} {old}, {sv}")
        self.emit(f"store i{bits} {new}, ptr {p}, align 1")
        if op & isa.BPF_FETCH:
            self.wr(insn.src, old64)

    def prelude(self) -> str:
        return prelude(self.narrow, self.sizes_ld, self.sizes_st, self.sizes_rw, self.sizes_raw)


def translate(insns: Sequence[Insn], narrow: Sequence[int] = ()) -> Translation:
    """The LLVM IR of ``insns`` (see module doc). ``narrow[i]`` is the kernel's load size of
    the context field in 4-byte word ``i`` (0: plain memory)."""
    gen = _Gen(insns, list(narrow) or [0])
    ir = gen.build()
    return Translation(
        ir=ir,
        nslots=gen.nslots,
        consts=gen.consts,
        faults=gen.faults,
        local_calls=bool(gen.ret_points),
    )
