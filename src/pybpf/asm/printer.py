"""One instruction printer, two dialects: llvm-objdump's and the kernel verifier log's.

The operator symbols are written once here, keyed by the opcode constants of
:mod:`pybpf.isa`; the text assembler and the conformance-syntax parser derive
their tables from them.

``llvm`` is what ``llvm-objdump -d`` (LLVM 14) prints for the same bytes:
decimal immediates, ``goto +N`` offsets in slots, ``r1 = 0 ll`` for LDDW. For
encodings LLVM 14 cannot decode (``<unknown>`` there: MOD, JSET, BPF_ST,
sign-extending loads and moves, SDIV/SMOD, BSWAP, ``gotol``, 32-bit fetch
atomics) the syntax of LLVM 19 is used, still with decimal numbers;
``hex=True`` prints numbers the way LLVM 19 does (``-0x5``, ``goto +0x4``).
llvm-objdump's text loses information in three places; by default they print
losslessly so that ``assemble(disassemble(insns)) == insns``: a local call
prints ``call pc+N`` (llvm: ``call N``), an LDDW with a pseudo source prints
``r1 = map[fd:3] ll``, ``map_value[fd:3]+8``, ``map[idx:0]``, ``btf_id[N]``,
``func[pc+N]`` (llvm: ``ld_pseudo r1, 1, 3``), a kfunc call ``call kfunc[ID]``,
an LD_IND with a non-zero immediate ``skb[r1 + 4]``. ``exact=True`` prints
llvm-objdump's text instead.

``kernel`` is print_bpf_insn() of kernel/bpf/disasm.c, the text of the
verifier log: ``(bf) r6 = r1``, ``if r0 == 0x0 goto pc+2``, ``*(u32 *)(r10 -4) =
r0``, ``call bpf_map_lookup_elem#1``. An LDDW that names a map prints the
address the kernel resolved it to, which only privileged loaders see
(``allow_ptr_leaks``); anybody else, and pybpf which has no kernel address,
sees ``0x0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..isa import (
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_ARSH,
    BPF_ATOMIC,
    BPF_CMPXCHG,
    BPF_DIV,
    BPF_DW,
    BPF_FETCH,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JLE,
    BPF_JLT,
    BPF_JNE,
    BPF_JSET,
    BPF_JSGE,
    BPF_JSGT,
    BPF_JSLE,
    BPF_JSLT,
    BPF_LSH,
    BPF_MOD,
    BPF_MOV,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_PSEUDO_BTF_ID,
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_FUNC,
    BPF_PSEUDO_KFUNC_CALL,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_IDX,
    BPF_PSEUDO_MAP_IDX_VALUE,
    BPF_PSEUDO_MAP_VALUE,
    BPF_RSH,
    BPF_STX,
    BPF_SUB,
    BPF_TO_BE,
    BPF_XCHG,
    BPF_XOR,
    OPCODES,
    SIZE_CTYPE,
    Insn,
)

#: compound assignment of each ALU operation (``r1 += r2``); SDIV/SMOD prefix ``s``
ALU_SYMBOLS: dict[int, str] = {
    BPF_ADD: "+=",
    BPF_SUB: "-=",
    BPF_MUL: "*=",
    BPF_DIV: "/=",
    BPF_OR: "|=",
    BPF_AND: "&=",
    BPF_LSH: "<<=",
    BPF_RSH: ">>=",
    BPF_MOD: "%=",
    BPF_XOR: "^=",
    BPF_MOV: "=",
    BPF_ARSH: "s>>=",
}
#: comparison of each conditional jump (``if r1 s< r2 goto``)
JMP_SYMBOLS: dict[int, str] = {
    BPF_JEQ: "==",
    BPF_JNE: "!=",
    BPF_JGT: ">",
    BPF_JGE: ">=",
    BPF_JLT: "<",
    BPF_JLE: "<=",
    BPF_JSGT: "s>",
    BPF_JSGE: "s>=",
    BPF_JSLT: "s<",
    BPF_JSLE: "s<=",
    BPF_JSET: "&",
}
#: the read-modify-write operations of BPF_ATOMIC (imm without BPF_FETCH), by name
ATOMIC_OPS: dict[int, str] = {BPF_ADD: "add", BPF_OR: "or", BPF_AND: "and", BPF_XOR: "xor"}
#: ``s8``/``s16``/``s32`` of sign-extending loads and moves, by access size in bytes
SIGNED_CTYPE = {1: "s8", 2: "s16", 4: "s32", 8: "s64"}

LLVM = "llvm"
KERNEL = "kernel"
DIALECTS = (LLVM, KERNEL)


def _s64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


@dataclass(frozen=True)
class _Fmt:
    hex: bool = False

    def num(self, v: int) -> str:
        if not self.hex:
            return str(v)
        return f"-{-v:#x}" if v < 0 else f"{v:#x}"

    def rel(self, v: int) -> str:
        """A signed jump offset: +N / -N."""
        return ("-" if v < 0 else "+") + self.num(abs(v))

    def mem(self, reg: int, off: int) -> str:
        return f"r{reg} {'-' if off < 0 else '+'} {self.num(abs(off))}"


def format_insn(
    insn: Insn,
    pc: int = 0,
    *,
    dialect: str = LLVM,
    hex: bool = False,
    exact: bool = False,
    target: str | None = None,
    helper_names: Mapping[int, str] | None = None,
    allow_ptr_leaks: bool = False,
    imm64: int | None = None,
) -> str:
    """One instruction as text (no address, no bytes).

    llvm dialect: ``pc`` is the slot index (offsets print relative, so it only
    matters to the caller's bookkeeping); ``target``, when given, is appended to
    jumps as llvm-objdump's ``<sym+0xNN>`` annotation. Kernel dialect: the text
    after ``N: `` in the verifier log, opcode byte included; ``helper_names`` maps
    helper ids to names (``map_lookup_elem``), ``imm64`` is the value an LDDW with
    a pseudo source was resolved to (printed only with ``allow_ptr_leaks``).
    """
    if dialect == KERNEL:
        return _kernel(insn, helper_names or {}, allow_ptr_leaks, imm64)
    if dialect != LLVM:
        raise ValueError(f"unknown dialect {dialect!r} (choose from {', '.join(DIALECTS)})")
    return _llvm(insn, _Fmt(hex), exact, target)


# --- llvm-objdump -------------------------------------------------------------------------------
def _llvm(insn: Insn, f: _Fmt, exact: bool, target: str | None) -> str:
    info = OPCODES.get(insn.code)
    if info is None:
        return "<unknown>"
    k = info.kind
    R = "r" if info.is64 else "w"
    d, s = insn.dst, insn.src
    if k == "alu":
        op = info.op
        if op == BPF_NEG:
            return f"{R}{d} = -{R}{d}"
        if op == BPF_MOV:
            if not info.use_src_reg:
                return f"{R}{d} = {f.num(insn.imm)}"
            if insn.off in (8, 16, 32):
                return f"{R}{d} = (s{insn.off}){R}{s}"
            return f"{R}{d} = {R}{s}"
        sym = ALU_SYMBOLS[op]
        if insn.off == 1 and op in (BPF_DIV, BPF_MOD):
            sym = "s" + sym
        rhs = f"{R}{s}" if info.use_src_reg else f.num(insn.imm)
        return f"{R}{d} {sym} {rhs}"
    if k == "end":
        if info.is64:
            kind = "bswap"
        else:
            kind = "be" if insn.code & 0x08 == BPF_TO_BE else "le"
        return f"r{d} = {kind}{insn.imm} r{d}"
    if k == "jcond":
        rhs = f"{R}{s}" if info.use_src_reg else f.num(insn.imm)
        text = f"if {R}{d} {JMP_SYMBOLS[info.op]} {rhs} goto {f.rel(insn.off)}"
        return f"{text} <{target}>" if target else text
    if k == "ja":
        text = f"goto {f.rel(insn.off)}" if info.is64 else f"gotol {f.rel(insn.imm)}"
        return f"{text} <{target}>" if target else text
    if k == "call":
        if s == BPF_PSEUDO_CALL and not exact:
            return f"call pc{insn.imm:+d}"
        if s == BPF_PSEUDO_KFUNC_CALL and not exact:
            return f"call kfunc[{insn.imm}]" + (f"[{insn.off}]" if insn.off else "")
        return f"call {f.num(insn.imm)}"
    if k == "callx":
        return f"callx r{d}"
    if k == "exit":
        return "exit"
    if k == "lddw":
        if insn.src:
            if exact:  # llvm's form, which drops the second slot's immediate
                # llvm prints the pseudo immediate unsigned (ld_pseudo r0, 1, 4294967295)
                return f"ld_pseudo\tr{d}, {f.num(insn.src)}, {f.num(insn.uimm)}"
            return f"r{d} = {_pseudo_imm64(insn)} ll"
        return f"r{d} = {f.num(_s64(insn.imm64))} ll"
    if k == "ldabs":
        return f"r0 = *({SIZE_CTYPE[insn.code & 0x18]} *)skb[{f.num(insn.imm)}]"
    if k == "ldind":
        idx = f"r{s}"
        if insn.imm and not exact:
            idx = f"r{s} {'-' if insn.imm < 0 else '+'} {f.num(abs(insn.imm))}"
        return f"r0 = *({SIZE_CTYPE[insn.code & 0x18]} *)skb[{idx}]"
    ctype = SIZE_CTYPE[insn.code & 0x18]
    if k == "ldx":
        return f"r{d} = *({ctype} *)({f.mem(s, insn.off)})"
    if k == "ldxsx":
        return f"r{d} = *({SIGNED_CTYPE[info.size]} *)({f.mem(s, insn.off)})"
    if k == "st":
        return f"*({ctype} *)({f.mem(d, insn.off)}) = {f.num(insn.imm)}"
    if k == "stx":
        return f"*({ctype} *)({f.mem(d, insn.off)}) = r{s}"
    if k == "atomic":
        return _llvm_atomic(f, insn, info.size == 8, ctype)
    return "<unknown>"


def _pseudo_imm64(insn: Insn) -> str:
    """LDDW with a pseudo source, in the spirit of the kernel's verifier log."""
    src, imm, hi = insn.src, insn.imm, insn.imm_hi
    if src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX) and not hi:
        return f"map[{'fd' if src == BPF_PSEUDO_MAP_FD else 'idx'}:{imm}]"
    if src in (BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_MAP_IDX_VALUE):
        kind = "fd" if src == BPF_PSEUDO_MAP_VALUE else "idx"
        return f"map_value[{kind}:{imm}]{hi:+d}"
    if src == BPF_PSEUDO_BTF_ID and not hi:
        return f"btf_id[{imm}]"
    if src == BPF_PSEUDO_FUNC and not hi:
        return f"func[pc{imm:+d}]"
    return f"pseudo[src:{src}][{imm}][{hi}]"


def _llvm_atomic(f: _Fmt, insn: Insn, is64: bool, ctype: str) -> str:
    d, s, imm = insn.dst, insn.src, insn.imm
    R = "r" if is64 else "w"
    addr = f.mem(d, insn.off)
    op = imm & ~BPF_FETCH
    if imm in ATOMIC_OPS:
        # LLVM 14 prints the 32-bit non-fetch add with an r register; the other 32-bit
        # forms exist only in LLVM's alu32 syntax, with w registers.
        reg = "r" if is64 or imm == BPF_ADD else "w"
        return f"lock *({ctype} *)({addr}) {ALU_SYMBOLS[imm]} {reg}{s}"
    if imm & BPF_FETCH and op in ATOMIC_OPS:
        return f"{R}{s} = atomic_fetch_{ATOMIC_OPS[op]}(({ctype} *)({addr}), {R}{s})"
    sfx = "_64" if is64 else "32_32"
    if imm == BPF_XCHG:
        return f"{R}{s} = xchg{sfx}({addr}, {R}{s})"
    if imm == BPF_CMPXCHG:
        return f"{R}0 = cmpxchg{sfx}({addr}, {R}0, {R}{s})"
    return "<unknown>"


# --- the kernel's verifier log (kernel/bpf/disasm.c print_bpf_insn) ----------------------------
def _c_int_hex(v: int) -> str:
    """printf("0x%x", (int)v): the 32-bit two's complement in hex."""
    return f"0x{v & 0xFFFFFFFF:x}"


def _kernel_atomic(insn: Insn) -> str:
    """print_bpf_insn()'s BPF_STX | BPF_ATOMIC forms (every size the kernel's table has)."""
    code, d, s, off, imm = insn.code, insn.dst, insn.src, insn.off, insn.imm
    ctype = SIZE_CTYPE[code & 0x18]
    w = "64" if code & 0x18 == BPF_DW else ""
    addr = f"({ctype} *)(r{d} {off:+d})"
    if imm in ATOMIC_OPS:
        return f"lock *{addr} {ALU_SYMBOLS[imm]} r{s}"
    if imm & BPF_FETCH and imm & ~BPF_FETCH in ATOMIC_OPS:
        return f"r{s} = atomic{w}_fetch_{ATOMIC_OPS[imm & ~BPF_FETCH]}({addr}, r{s})"
    if imm == BPF_CMPXCHG:
        return f"r0 = atomic{w}_cmpxchg({addr}, r0, r{s})"
    if imm == BPF_XCHG:
        return f"r{s} = atomic{w}_xchg({addr}, r{s})"
    if imm == 0x100:  # BPF_LOAD_ACQ
        return f"r{d} = load_acquire(({ctype} *)(r{s} {off:+d}))"
    if imm == 0x110:  # BPF_STORE_REL
        return f"store_release({addr}, r{s})"
    return f"BUG_{code:02x}"


def _kernel(
    insn: Insn, helper_names: Mapping[int, str], allow_ptr_leaks: bool, imm64: int | None
) -> str:
    code, d, s, off, imm = insn.code, insn.dst, insn.src, insn.off, insn.imm
    head = f"({code:02x}) "
    info = OPCODES.get(code)
    cls = code & 0x07
    if cls == BPF_STX and code & 0xE0 == BPF_ATOMIC:
        return head + _kernel_atomic(insn)
    if info is None:
        return head + ("ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64")[cls]
    k = info.kind
    R = "w" if cls == BPF_ALU else "r"
    if k == "end":
        if info.is64:
            return f"{head}r{d} = bswap{imm} r{d}"
        return f"{head}r{d} = {'be' if code & 0x08 == BPF_TO_BE else 'le'}{imm} r{d}"
    if k == "alu":
        op = info.op
        if op == BPF_NEG:
            return f"{head}{R}{d} = -{R}{d}"
        sym = ALU_SYMBOLS[op]
        if op in (BPF_DIV, BPF_MOD) and off == 1:
            sym = "s" + sym
        if info.use_src_reg:
            sx = f"(s{off})" if op == BPF_MOV and off in (8, 16, 32) else ""
            return f"{head}{R}{d} {sym} {sx}{R}{s}"
        return f"{head}{R}{d} {sym} {imm}"
    ctype = SIZE_CTYPE[code & 0x18]
    if k == "stx":
        return f"{head}*({ctype} *)(r{d} {off:+d}) = r{s}"
    if k == "st":
        return f"{head}*({ctype} *)(r{d} {off:+d}) = {imm}"
    if k in ("ldx", "ldxsx"):
        ty = SIGNED_CTYPE[info.size] if k == "ldxsx" else ctype
        return f"{head}r{d} = *({ty} *)(r{s} {off:+d})"
    if k == "ldabs":
        return f"{head}r0 = *({ctype} *)skb[{imm}]"
    if k == "ldind":
        return f"{head}r0 = *({ctype} *)skb[r{s} + {imm}]"
    if k == "lddw":
        value = insn.imm64
        if s in (
            BPF_PSEUDO_MAP_FD,
            BPF_PSEUDO_MAP_VALUE,
            BPF_PSEUDO_MAP_IDX,
            BPF_PSEUDO_MAP_IDX_VALUE,
            BPF_PSEUDO_BTF_ID,
        ):
            value = (imm64 or 0) if allow_ptr_leaks else 0
        return f"{head}r{d} = 0x{value:x}"
    if k == "call":
        if s == BPF_PSEUDO_CALL:
            return f"{head}call pc{imm:+d}"
        name = helper_names.get(imm) if s == 0 else None
        if name is not None:
            return f"{head}call bpf_{name}#{imm}"
        return f"{head}call {'kernel-function' if s == BPF_PSEUDO_KFUNC_CALL else 'unknown'}#{imm}"
    if k == "ja":
        return f"{head}goto pc{off:+d}" if info.is64 else f"{head}gotol pc{imm:+d}"
    if k == "exit":
        return f"{head}exit"
    if k == "jcond":
        sym = JMP_SYMBOLS[info.op]
        J = "r" if info.is64 else "w"
        rhs = f"{J}{s}" if info.use_src_reg else _c_int_hex(imm)
        return f"{head}if {J}{d} {sym} {rhs} goto pc{off:+d}"
    return head + ("ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64")[cls]
