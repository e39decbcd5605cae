"""The IR text builder of the JIT and its ALU and conditional-jump translations.

:class:`Emitter` keeps the function text, names SSA values and blocks, and reads
and writes the register allocas and the run-time block; the ALU methods give
the interpreter's (and kernel/bpf/core.c's) semantics: division by zero gives
0, modulo by zero keeps the dividend, signed INT_MIN / -1 wraps — LLVM calls
those undefined, so divisors are made safe first and the result selected after
— shift amounts are masked, 32-bit results zero-extended.
"""

from __future__ import annotations

from ... import isa
from ...isa import Insn

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1

_PRED = {
    isa.BPF_JEQ: "eq",
    isa.BPF_JNE: "ne",
    isa.BPF_JGT: "ugt",
    isa.BPF_JGE: "uge",
    isa.BPF_JLT: "ult",
    isa.BPF_JLE: "ule",
    isa.BPF_JSGT: "sgt",
    isa.BPF_JSGE: "sge",
    isa.BPF_JSLT: "slt",
    isa.BPF_JSLE: "sle",
}
_BINOP = {
    isa.BPF_ADD: "add",
    isa.BPF_SUB: "sub",
    isa.BPF_MUL: "mul",
    isa.BPF_OR: "or",
    isa.BPF_AND: "and",
    isa.BPF_XOR: "xor",
    isa.BPF_LSH: "shl",
    isa.BPF_RSH: "lshr",
    isa.BPF_ARSH: "ashr",
}
_SHIFTS = {isa.BPF_LSH, isa.BPF_RSH, isa.BPF_ARSH}


def s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


class Emitter:
    """Function text under construction (see module doc)."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.n = 0

    # --- text helpers ------------------------------------------------------------------
    def tmp(self) -> str:
        self.n += 1
        return f"%t{self.n}"

    def op(self, text: str) -> str:
        t = self.tmp()
        self.out.append(f"  {t} = {text}")
        return t

    def emit(self, text: str) -> None:
        self.out.append("  " + text)

    def label(self, name: str) -> None:
        self.out.append(f"{name}:")

    def fresh(self, prefix: str = "X") -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def rd(self, r: int) -> str:
        return self.op(f"load i64, ptr %R{r}")

    def wr(self, r: int, v: str) -> None:
        self.emit(f"store i64 {v}, ptr %R{r}")

    def rt(self, idx: int, ty: str = "i64") -> str:
        p = self.op(f"getelementptr i64, ptr %rt, i64 {idx}")
        return self.op(f"load {ty}, ptr {p}")

    def rt_store(self, idx: int, v: str) -> None:
        p = self.op(f"getelementptr i64, ptr %rt, i64 {idx}")
        self.emit(f"store i64 {v}, ptr {p}")

    # --- ALU -------------------------------------------------------------------------------
    def alu(self, info: isa.OpInfo, insn: Insn) -> str:
        op = info.op
        d, s = insn.dst, insn.src
        is64 = info.is64
        ty = "i64" if is64 else "i32"
        if op == isa.BPF_MOV:
            if not info.use_src_reg:
                return str(s64(insn.imm) if is64 else insn.imm & M32)
            v = self.rd(s)
            if insn.off:  # MOVSX
                t = self.op(f"trunc i64 {v} to i{insn.off}")
                if is64:
                    return self.op(f"sext i{insn.off} {t} to i64")
                t32 = self.op(f"sext i{insn.off} {t} to i32")
                return self.op(f"zext i32 {t32} to i64")
            if is64:
                return v
            return self.op(f"and i64 {v}, {M32}")
        a = self.rd(d)
        if not is64:
            a = self.op(f"trunc i64 {a} to i32")
        if info.use_src_reg:
            b = self.rd(s)
            if not is64:
                b = self.op(f"trunc i64 {b} to i32")
        else:
            b = str(s64(insn.imm)) if is64 else str(insn.imm)
        width = 63 if is64 else 31
        if op == isa.BPF_NEG:
            r = self.op(f"sub {ty} 0, {a}")
        elif op in _SHIFTS:
            if info.use_src_reg:
                b = self.op(f"and {ty} {b}, {width}")
            else:
                b = str(insn.imm & width)
            r = self.op(f"{_BINOP[op]} {ty} {a}, {b}")
        elif op in _BINOP:
            r = self.op(f"{_BINOP[op]} {ty} {a}, {b}")
        elif op in (isa.BPF_DIV, isa.BPF_MOD):
            r = self.divmod(op, insn.off == 1, ty, a, b)
        else:
            raise ValueError(f"ALU operation {op:#x} has no translation")
        if is64:
            return r
        return self.op(f"zext i32 {r} to i64")

    def divmod(self, op: int, signed: bool, ty: str, a: str, b: str) -> str:
        z = self.op(f"icmp eq {ty} {b}, 0")
        if not signed:
            safe = self.op(f"select i1 {z}, {ty} 1, {ty} {b}")
            if op == isa.BPF_DIV:
                q = self.op(f"udiv {ty} {a}, {safe}")
                return self.op(f"select i1 {z}, {ty} 0, {ty} {q}")
            r = self.op(f"urem {ty} {a}, {safe}")
            return self.op(f"select i1 {z}, {ty} {a}, {ty} {r}")
        m1 = self.op(f"icmp eq {ty} {b}, -1")
        zz = self.op(f"or i1 {z}, {m1}")
        safe = self.op(f"select i1 {zz}, {ty} 1, {ty} {b}")
        if op == isa.BPF_DIV:
            q = self.op(f"sdiv {ty} {a}, {safe}")
            neg = self.op(f"sub {ty} 0, {a}")
            q = self.op(f"select i1 {m1}, {ty} {neg}, {ty} {q}")
            return self.op(f"select i1 {z}, {ty} 0, {ty} {q}")
        r = self.op(f"srem {ty} {a}, {safe}")
        r = self.op(f"select i1 {m1}, {ty} 0, {ty} {r}")
        return self.op(f"select i1 {z}, {ty} {a}, {ty} {r}")

    def end(self, info: isa.OpInfo, insn: Insn) -> None:
        d = insn.dst
        v = self.rd(d)
        bits = insn.imm
        if info.cls == isa.BPF_ALU and not info.use_src_reg:  # to little-endian: truncate
            if bits != 64:
                self.wr(d, self.op(f"and i64 {v}, {(1 << bits) - 1}"))
            return
        t = self.op(f"trunc i64 {v} to i{bits}") if bits < 64 else v
        sw = self.op(f"call i{bits} @llvm.bswap.i{bits}(i{bits} {t})")
        self.wr(d, self.op(f"zext i{bits} {sw} to i64") if bits < 64 else sw)

    # --- conditional jumps (the branch targets are the subclass's) -------------------------
    def condition(self, info: isa.OpInfo, insn: Insn) -> str:
        """The i1 value that decides a JMP/JMP32 conditional jump."""
        a = self.rd(insn.dst)
        if info.use_src_reg:
            b = self.rd(insn.src)
        else:
            b = str(s64(insn.imm))
        ty = "i64"
        if not info.is64:
            ty = "i32"
            a = self.op(f"trunc i64 {a} to i32")
            b = self.op(f"trunc i64 {b} to i32") if info.use_src_reg else str(insn.imm)
        if info.op == isa.BPF_JSET:
            m = self.op(f"and {ty} {a}, {b}")
            return self.op(f"icmp ne {ty} {m}, 0")
        return self.op(f"icmp {_PRED[info.op]} {ty} {a}, {b}")
