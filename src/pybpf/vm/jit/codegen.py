"""A BlockProgram to LLVM IR text, for the JIT (:mod:`pybpf.vm.jit`).

One program becomes one LLVM function ``i32 @bpf_prog(ptr %rt)`` (``rt``: the
run-time block of :mod:`pybpf.vm.jit.abi`). Registers are allocas that the O2
pipeline promotes to SSA values; the basic blocks are the BlockProgram's, so
instructions are counted exactly as the interpreter counts them (a block's
length when it is entered, against the budget in ``rt``).

Semantics are the interpreter's (:mod:`pybpf.vm.ops`); the ALU part is in
:mod:`pybpf.vm.jit.emit`. Memory: a pointer is the interpreter's address
(region slot << 32 | bias + offset, see :mod:`pybpf.vm.memory`), so helpers,
maps and results see the same numbers under both engines. Every load or store
through a register other than R10 looks its slot up in the region table and
checks the access, then touches the region's real bytes. R10 is read-only and
always the top of the current 512-byte frame, so ``R10 + off`` with an
in-frame ``off`` is checked at translation and needs nothing at run time.

Local calls keep an explicit frame stack (return point, R6-R10) inside the
one function and zero the callee's frame. Helper calls go through a function
pointer per call site (``rt[RT_CALLS]``), so the same code calls a Python
trampoline or a native helper; LD_ABS misses of the fast path go through
``rt[RT_LDABS]``. Faults and budget exhaustion store what happened in ``rt``
and return an ``EXIT_*`` code: no Python runs for them inside the code. The
function can start at a callback's first instruction and a given depth
(``RT_ENTRY``/``RT_DEPTH0``): how a helper such as bpf_loop runs a callback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ... import isa
from ...isa import Insn
from ..blocks import MAX_CALL_FRAMES, STACK_SIZE, BlockProgram, Fault, Step
from .abi import (
    EXIT_MEMFAULT,
    EXIT_OK,
    EXIT_VMFAULT,
    FAULT_READ,
    FAULT_WRITE,
    FUNC_MAP_LOOKUP_ELEM,
    HELPER_FN,
    RT_ARRAYS,
    RT_BUDGET,
    RT_CALLS,
    RT_CALLX,
    RT_CONSTS,
    RT_DEPTH,
    RT_DEPTH0,
    RT_ENTRY,
    RT_FAULT_ADDR,
    RT_FAULT_KIND,
    RT_FAULT_SIZE,
    RT_LDABS,
    RT_PC,
    RT_PKT,
    RT_PKT_LEN,
    RT_REGS,
    RT_STACK_DELTA,
    RT_STATUS,
    RT_STEPS,
    VMFAULT_BUDGET,
    prelude,
)
from .emit import Emitter, s64

__all__ = ["Translation", "translate"]

M64 = (1 << 64) - 1


@dataclass
class Translation:
    """The IR of one program and what the Python side needs to bind it."""

    ir: str
    nslots: int
    #: fault code -> Fault (code 0 is the budget, whose Fault is a placeholder)
    faults: list[Fault] = field(default_factory=list)
    local_calls: bool = False


class _Gen(Emitter):
    """Builds the function text block by block."""

    def __init__(self, blocks: BlockProgram) -> None:
        super().__init__()
        self.blocks = blocks
        self.faults: list[Fault] = [Fault("budget")]
        self._fault_codes: dict[Fault, int] = {}
        self.ret_points: list[int] = []
        self.sizes_ld: set[int] = set()
        self.sizes_st: set[int] = set()
        self.sizes_rw: set[int] = set()
        self.sizes_raw = False

    # --- faults and bail-out -------------------------------------------------------------
    def code_for(self, fault: Fault) -> int:
        code = self._fault_codes.get(fault)
        if code is None:
            code = self._fault_codes[fault] = len(self.faults)
            self.faults.append(fault)
        return code

    def stop(self, pc: int, status: int | str) -> None:
        """Leave with ``status`` (an EXIT_* code) after the instruction at ``pc``."""
        self.rt_store(RT_STATUS, str(status))
        self.emit(f"store i64 {pc}, ptr %bailpc")
        self.emit("br label %bail")

    def vmfault(self, pc: int, code: int) -> None:
        """Stop with the fault ``code`` (R10 goes with it, for stack faults)."""
        self.rt_store(RT_FAULT_KIND, str(code))
        self.rt_store(RT_FAULT_ADDR, self.rd(10))
        self.stop(pc, EXIT_VMFAULT)

    def fault(self, pc: int, fault: Fault) -> None:
        self.vmfault(pc, self.code_for(fault))

    def memfault(self, pc: int, kind: int, addr: str, size: int) -> None:
        self.rt_store(RT_FAULT_KIND, str(kind))
        self.rt_store(RT_FAULT_ADDR, addr)
        self.rt_store(RT_FAULT_SIZE, str(size))
        self.stop(pc, EXIT_MEMFAULT)

    def check_status(self, pc: int, cont: str) -> None:
        """After a call: leave when the callee set RT_STATUS."""
        st = self.rt(RT_STATUS)
        bad = self.op(f"icmp ne i64 {st}, 0")
        b = self.fresh("S")
        self.emit(f"br i1 {bad}, label %{b}, label %{cont}")
        self.label(b)
        self.emit(f"store i64 {pc}, ptr %bailpc")
        self.emit("br label %bail")

    def goto(self, pc: int, t: int) -> str:
        """The label a jump at ``pc`` to slot ``t`` lands on (a fault block for a bad target)."""
        dest = self.blocks.target(pc, t)
        if isinstance(dest, Fault):
            name = self.fresh("J")
            self._pending.append((name, pc, dest))
            return name
        return f"L{dest}"

    # --- the function ------------------------------------------------------------------
    def build(self) -> str:
        self._pending: list[tuple[str, int, Fault]] = []
        blocks = self.blocks
        body_start = len(self.out)
        for start in blocks.starts:
            block = blocks.blocks[start]
            self.label(f"L{start}")
            s = self.op("load i64, ptr %steps")
            s2 = self.op(f"add i64 {s}, {block.length}")
            self.emit(f"store i64 {s2}, ptr %steps")
            over = self.op(f"icmp ugt i64 {s2}, %budget")
            self.emit(f"br i1 {over}, label %B{start}, label %C{start}")
            self.label(f"B{start}")
            self.vmfault(start, VMFAULT_BUDGET)
            self.label(f"C{start}")
            ended = False
            for step in block.steps:
                if self.step(step):
                    ended = True
                    break
            if not ended:
                self.emit(f"br label %L{block.next}")
        body = self.out[body_start:]
        del self.out[body_start:]

        tail: list[str] = []
        self.out = tail
        n = blocks.nslots
        self.label(f"L{n}")  # past the end: the interpreter's "fell off"
        self.fault(n, blocks.fell_off)
        for name, pc, fault in self._pending:
            self.label(name)
            self.fault(pc, fault)
        self.exit_block()
        self.label("bail")
        for r in range(11):
            self.rt_store(RT_REGS + r, self.rd(r))
        self.rt_store(RT_STEPS, self.op("load i64, ptr %steps"))
        self.rt_store(RT_PC, self.op("load i64, ptr %bailpc"))
        self.rt_store(RT_DEPTH, self.op("load i64, ptr %depth"))
        st = self.rt(RT_STATUS)
        self.emit(f"ret i32 {self.op(f'trunc i64 {st} to i32')}")

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
        if blocks.entries:  # a callback run starts at its subprogram
            entry = self.rt(RT_ENTRY)
            cases = " ".join(f"i64 {t}, label %L{t}" for t in sorted(blocks.entries))
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
        for r in range(11):  # the final registers, as the interpreter's keep them
            self.rt_store(RT_REGS + r, self.rd(r))
        self.rt_store(RT_STEPS, self.op("load i64, ptr %steps"))
        self.emit(f"ret i32 {EXIT_OK}")
        self.label("Lpop")
        if not self.ret_points:
            self.emit("unreachable")
            return
        d = self.op("load i64, ptr %depth")
        d1 = self.op(f"sub i64 {d}, 1")
        self.emit(f"store i64 {d1}, ptr %depth")
        rel = self.op(f"sub i64 {d1}, %depth0")
        rp = self.op(f"getelementptr [{MAX_CALL_FRAMES} x i32], ptr %fret, i64 0, i64 {rel}")
        rid = self.op(f"load i32, ptr {rp}")
        base = self.op(f"mul i64 {rel}, 5")
        for k, r in enumerate(range(6, 11)):
            i = self.op(f"add i64 {base}, {k}")
            sp = self.op(f"getelementptr [{MAX_CALL_FRAMES * 5} x i64], ptr %fsave, i64 0, i64 {i}")
            self.wr(r, self.op(f"load i64, ptr {sp}"))
        cases = " ".join(f"i32 {i}, label %L{t}" for i, t in enumerate(self.ret_points))
        self.emit(f"switch i32 {rid}, label %Lunreach [ {cases} ]")
        self.label("Lunreach")
        self.emit("unreachable")

    # --- one instruction -----------------------------------------------------------------
    def step(self, step: Step) -> bool:
        """Emit one instruction; True when it ends the block (control left it)."""
        pc, insn = step.pc, step.insn
        if step.fault is not None:
            self.fault(pc, step.fault)
            return True
        info = step.info
        assert info is not None
        kind = info.kind
        d, s = insn.dst, insn.src
        if kind == "alu":
            self.wr(d, self.alu(info, insn))
            return False
        if kind == "end":
            self.end(info, insn)
            return False
        if kind == "jcond":
            c = self.condition(info, insn)
            t = self.goto(pc, isa.jump_target(pc, insn))
            self.emit(f"br i1 {c}, label %{t}, label %L{pc + 1}")
            return True
        if kind == "ja":
            self.emit(f"br label %{self.goto(pc, isa.jump_target(pc, insn))}")
            return True
        if kind == "exit":
            self.emit("br label %Lexit")
            return True
        if kind == "call":
            if s == isa.BPF_PSEUDO_CALL:
                self.local_call(pc, isa.jump_target(pc, insn))
                return True
            assert step.const is not None
            if insn.imm == FUNC_MAP_LOOKUP_ELEM:
                self.inline_array_lookup(pc, step.const)
            self.helper_call(pc, step.const)
            return True
        if kind == "callx":
            self.call_out(pc, RT_CALLX, self.rd(d))
            return True
        if kind == "lddw":
            if step.const is None:
                self.wr(d, str(s64(insn.imm64)))
            else:
                cp = self.rt(RT_CONSTS, "ptr")
                p = self.op(f"getelementptr i64, ptr {cp}, i64 {step.const}")
                self.wr(d, self.op(f"load i64, ptr {p}"))
            return False
        if kind in ("ldabs", "ldind"):
            self.ldabs(pc, info, insn)
            return True
        size = info.size
        bits = 8 * size
        if kind in ("ldx", "ldxsx"):
            if s == isa.BPF_REG_FP:
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
            val = str(s64(insn.imm)) if kind == "st" else self.rd(s)
            if d == isa.BPF_REG_FP:
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
        raise ValueError(f"instruction kind {kind} has no translation")

    def guard(self, ok: str, pc: int, kind: int, addr: str, size: int) -> None:
        good, badl = self.fresh("G"), self.fresh("F")
        self.emit(f"br i1 {ok}, label %{good}, label %{badl}")
        self.label(badl)
        self.memfault(pc, kind, addr, size)
        self.label(good)

    def addr(self, reg: int, off: int) -> str:
        v = self.rd(reg)
        return self.op(f"add i64 {v}, {off}") if off else v

    def stack_ptr(self, off: int, r10: str | None = None) -> str:
        r10 = r10 or self.rd(10)
        delta = self.rt(RT_STACK_DELTA)
        h = self.op(f"add i64 {r10}, {delta}")
        if off:
            h = self.op(f"add i64 {h}, {off}")
        return self.op(f"inttoptr i64 {h} to ptr")

    # --- calls -----------------------------------------------------------------------------
    def local_call(self, pc: int, callee: int) -> None:
        if callee not in self.blocks.at:  # a bad target, or past the end
            self.emit(f"br label %{self.goto(pc, callee)}")
            return
        d = self.op("load i64, ptr %depth")
        full = self.op(f"icmp uge i64 {d}, {MAX_CALL_FRAMES - 1}")
        ok, over = self.fresh("P"), self.fresh("Q")
        self.emit(f"br i1 {full}, label %{over}, label %{ok}")
        self.label(over)
        self.fault(pc, BlockProgram.call_depth_fault(callee))
        self.label(ok)
        rid = len(self.ret_points)
        self.ret_points.append(pc + 1)
        rel = self.op(f"sub i64 {d}, %depth0")
        rp = self.op(f"getelementptr [{MAX_CALL_FRAMES} x i32], ptr %fret, i64 0, i64 {rel}")
        self.emit(f"store i32 {rid}, ptr {rp}")
        base = self.op(f"mul i64 {rel}, 5")
        for k, r in enumerate(range(6, 11)):
            i = self.op(f"add i64 {base}, {k}")
            sp = self.op(f"getelementptr [{MAX_CALL_FRAMES * 5} x i64], ptr %fsave, i64 0, i64 {i}")
            self.emit(f"store i64 {self.rd(r)}, ptr {sp}")
        d1 = self.op(f"add i64 {d}, 1")
        self.emit(f"store i64 {d1}, ptr %depth")
        r10 = self.op(f"sub i64 {self.rd(10)}, {STACK_SIZE}")
        self.wr(10, r10)
        frame = self.stack_ptr(-STACK_SIZE, r10)  # the callee's frame, zeroed
        self.emit(f"call void @llvm.memset.p0.i64(ptr {frame}, i8 0, i64 {STACK_SIZE}, i1 false)")
        self.emit(f"br label %L{callee}")

    def inline_array_lookup(self, pc: int, const: int) -> None:
        """bpf_map_lookup_elem on an array map without leaving native code.

        The caller fills a descriptor for each map constant whose map offers the
        kernel's inline array lookup (array_map_gen_lookup): R1 equal to such a
        map's handle and a readable 4-byte key at R2 give R0 = value address (0
        past max_entries). Anything else goes to the call site's function.
        """
        maps = [
            c.pc
            for c in self.blocks.consts
            if c.kind == "lddw" and c.insn.src in (isa.BPF_PSEUDO_MAP_FD, isa.BPF_PSEUDO_MAP_IDX)
        ]
        if not maps:
            return
        idx = {c.pc: i for i, c in enumerate(self.blocks.consts)}
        self.sizes_raw = True
        r1 = self.rd(1)
        table = self.rt(RT_ARRAYS, "ptr")
        for cpc in maps:
            i = idx[cpc]
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

    def _before_call(self) -> None:
        # RunEnv.regs shows helpers the registers as they are at the call, a callback
        # the helper runs starts one frame below this depth and continues the count
        for r in range(11):
            self.rt_store(RT_REGS + r, self.rd(r))
        self.rt_store(RT_DEPTH, self.op("load i64, ptr %depth"))
        self.rt_store(RT_STEPS, self.op("load i64, ptr %steps"))

    def _after_call(self, pc: int, v: str) -> None:
        cont = self.fresh("K")
        self.check_status(pc, cont)
        self.label(cont)
        self.emit(f"store i64 {self.rt(RT_STEPS)}, ptr %steps")
        self.wr(0, v)
        self.emit(f"br label %L{pc + 1}")

    def helper_call(self, pc: int, const: int) -> None:
        self._before_call()
        calls = self.rt(RT_CALLS, "ptr")
        fp = self.op(f"getelementptr ptr, ptr {calls}, i64 {const}")
        fn = self.op(f"load ptr, ptr {fp}")
        args = ", ".join(f"i64 {self.rd(r)}" for r in range(1, 6))
        v = self.op(f"call {HELPER_FN} {fn}(ptr %rt, i64 {const}, {args}, i64 {pc})")
        self._after_call(pc, v)

    def call_out(self, pc: int, slot: int, first: str) -> None:
        self._before_call()
        fn = self.rt(slot, "ptr")
        args = ", ".join(f"i64 {self.rd(r)}" for r in range(1, 6))
        v = self.op(f"call {HELPER_FN} {fn}(ptr %rt, i64 {first}, {args}, i64 {pc})")
        self._after_call(pc, v)

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
        data = self.rt(RT_PKT)
        dlen = self.rt(RT_PKT_LEN)
        has = self.op(f"icmp ne i64 {data}, 0")
        nonneg = self.op(f"icmp sge i64 {off}, 0")
        end = self.op(f"add i64 {off}, {size}")
        fits = self.op(f"icmp ule i64 {end}, {dlen}")
        c = self.op(f"and i1 {has}, {nonneg}")
        c = self.op(f"and i1 {c}, {fits}")
        fast, slow, join = self.fresh("A"), self.fresh("A"), self.fresh("A")
        self.emit(f"br i1 {c}, label %{fast}, label %{slow}")
        self.label(fast)
        h = self.op(f"add i64 {data}, {off}")
        p = self.op(f"inttoptr i64 {h} to ptr")
        raw = self.op(f"load i{bits}, ptr {p}, align 1")
        if size > 1:
            raw = self.op(f"call i{bits} @llvm.bswap.i{bits}(i{bits} {raw})")
        self.wr(0, self.op(f"zext i{bits} {raw} to i64"))
        self.emit(f"br label %{join}")
        self.label(slow)
        self.rt_store(RT_STEPS, self.op("load i64, ptr %steps"))
        fp = self.rt(RT_LDABS, "ptr")
        v = self.op(f"call i64 {fp}(ptr %rt, i64 {off}, i64 {size}, i64 {pc})")
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
        self.memfault(pc, FAULT_READ, addr, size)
        self.label(ok1)
        self.emit(f"br i1 {wrf}, label %{f2}, label %{ok2}")
        self.label(f2)
        self.memfault(pc, FAULT_WRITE, addr, size)
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
        return prelude(self.sizes_ld, self.sizes_st, self.sizes_rw, self.sizes_raw)


def translate(blocks: BlockProgram) -> Translation:
    """The LLVM IR of a program (see module doc)."""
    gen = _Gen(blocks)
    ir = gen.build()
    return Translation(
        ir=ir, nslots=blocks.nslots, faults=gen.faults, local_calls=bool(gen.ret_points)
    )
