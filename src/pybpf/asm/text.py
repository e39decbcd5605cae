"""Text assembler: llvm-objdump syntax and bpf_conformance syntax, detected per line.

``assemble(text)`` accepts, line by line, either the syntax llvm-objdump
prints and llvm-mc reads (``r0 = *(u8 *)skb[23]``, ``if r0 == 0 goto +2``,
``lock *(u64 *)(r0 + 0) += r1`` ...; see ``parse_llvm``) or the
bpf_conformance/uBPF syntax (``mov %r0, 1``, ``ldxdw %r0, [%r1+8]``; see
``conformance_syntax``). Labels (``name:``) and jumps to them work in both and
may be mixed. llvm-objdump's own output can be fed back: the address/hex-byte
column, ``<sym>:`` headers and ``<LBB0_2>`` target annotations are skipped.
"""

from __future__ import annotations

import re

from ..errors import AsmError, BpfError
from ..isa import (
    BPF_ABS,
    BPF_ALU,
    BPF_ALU64,
    BPF_ATOMIC,
    BPF_B,
    BPF_CALL,
    BPF_CMPXCHG,
    BPF_DIV,
    BPF_DW,
    BPF_END,
    BPF_EXIT,
    BPF_FETCH,
    BPF_H,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JMP,
    BPF_JMP32,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_MEM,
    BPF_MEMSX,
    BPF_MOD,
    BPF_MOV,
    BPF_NEG,
    BPF_PSEUDO_BTF_ID,
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_FUNC,
    BPF_PSEUDO_KFUNC_CALL,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_IDX,
    BPF_PSEUDO_MAP_IDX_VALUE,
    BPF_PSEUDO_MAP_VALUE,
    BPF_ST,
    BPF_STX,
    BPF_TO_BE,
    BPF_TO_LE,
    BPF_W,
    BPF_X,
    BPF_XCHG,
    Insn,
    decode,
)
from . import conformance_syntax
from .builder import ProgramBuilder
from .printer import ALU_SYMBOLS, ATOMIC_OPS, JMP_SYMBOLS

_LABEL_RE = re.compile(r"^\s*([A-Za-z_.$][\w.$]*)\s*:")
#: llvm-objdump's function header: "0000000000000000 <name>:"
_OBJDUMP_SYM_RE = re.compile(r"^\s*(?:[0-9a-fA-F]+\s+)?<([^>]+)>:\s*$")
#: llvm-objdump's file and section headers
_OBJDUMP_HEADER_RE = re.compile(r"^(?:.*:\s+file format \S+|Disassembly of section .*:)\s*$")
#: llvm-objdump's address and raw-bytes columns: "      3:\t85 00 00 00 01 00 00 00\t"
_OBJDUMP_PREFIX_RE = re.compile(
    r"^\s*[0-9a-fA-F]+:\s+((?:[0-9a-fA-F]{2} ){7}[0-9a-fA-F]{2}(?: (?:[0-9a-fA-F]{2} ){7}"
    r"[0-9a-fA-F]{2})?)\s+"
)


class _TextBuilder(ProgramBuilder):
    """Adds bpf_conformance's implicit ``exit`` label: the first ``exit`` instruction."""

    def __init__(self) -> None:
        super().__init__()
        self.first_exit: int | None = None

    def resolve(self, label: str) -> int | None:
        slot = super().resolve(label)
        if slot is None and label == "exit":
            return self.first_exit
        return slot


def strip_comment(line: str) -> str:
    """Drop ``#``, ``;`` and ``//`` comments."""
    for mark in ("#", ";", "//"):
        i = line.find(mark)
        if i >= 0:
            line = line[:i]
    return line.rstrip()


def is_conformance_syntax(stmt: str) -> bool:
    """True when a statement is in bpf_conformance syntax rather than llvm's."""
    if "%r" in stmt:
        return True
    first = stmt.split(None, 1)[0].lower() if stmt.strip() else ""
    if first == "lock":
        return "*(" not in stmt
    if first == "call":
        words = stmt.split()
        return len(words) == 3  # call local|helper|runtime TARGET
    return first in conformance_syntax.MNEMONICS


def parse_statement(stmt: str, line: int | None = None) -> tuple[Insn, str | None]:
    """Assemble one statement (no label, no comment) in either syntax."""
    if is_conformance_syntax(stmt):
        return conformance_syntax.parse_line(stmt, line)
    return parse_llvm(stmt, line)


def assemble(text: str) -> list[Insn]:
    """Assemble program text into instructions (LDDW is one Insn of two slots).

    Raises AsmError naming the line (1-based) and its text for anything it
    cannot assemble: unknown mnemonic, bad register or operand, an undefined
    or duplicate label, a jump that does not fit its field.
    """
    b = _TextBuilder()
    for lineno, raw in enumerate(text.splitlines(), 1):
        if _OBJDUMP_HEADER_RE.match(raw):
            continue
        m = _OBJDUMP_SYM_RE.match(raw)
        if m:
            b.label(m.group(1), line=lineno, text=raw)
            continue
        stmt = strip_comment(raw)
        m = _OBJDUMP_PREFIX_RE.match(stmt)
        if m:
            stmt = stmt[m.end() :]
            if stmt.strip() == "<unknown>":  # llvm could not decode it: keep the bytes
                for insn in decode(bytes.fromhex(m.group(1).replace(" ", "")), check=False):
                    b.emit(insn, line=lineno, text=raw)
                continue
        while True:
            m = _LABEL_RE.match(stmt)
            if not m:
                break
            b.label(m.group(1), line=lineno, text=raw)
            stmt = stmt[m.end() :]
        stmt = stmt.strip()
        if not stmt:
            continue
        try:
            insn, label = parse_statement(stmt, lineno)
        except AsmError as e:
            if e.line is None:
                raise AsmError(e.message, line=lineno, text=raw) from None
            raise
        except BpfError as e:  # e.g. Insn refusing a field value
            raise AsmError(e.message, line=lineno, text=raw) from None
        if insn.code == BPF_JMP | BPF_EXIT and b.first_exit is None:
            b.first_exit = b.pc
        b.emit(insn, target=label, line=lineno, text=raw)
    return b.build()


# --- llvm syntax -------------------------------------------------------------------------
# The forms llvm-objdump prints and llvm-mc reads (llvm/lib/Target/BPF/BPFInstrInfo.td).
# Numbers are decimal or 0x-hex, optionally signed; registers rN (64-bit) or wN (32-bit).

_NUM = r"[+-]?\s*(?:0[xX][0-9a-fA-F]+|\d+)"
_REG = r"[rw]\d+"
_SYM = r"[A-Za-z_.$][\w.$]*"
_MEM = rf"\(\s*(?P<base>r\d+)\s*(?:(?P<sign>[+-])\s*(?P<off>{_NUM}))?\s*\)"
_SZ = {"8": BPF_B, "16": BPF_H, "32": BPF_W, "64": BPF_DW}
#: operator -> operation, the inverse of the printer's tables ("s/" and "s%" are SDIV/SMOD)
_ALU_ASSIGN = {sym[:-1]: op for op, sym in ALU_SYMBOLS.items() if op != BPF_MOV}
_ALU_ASSIGN.update({"s/": BPF_DIV, "s%": BPF_MOD})
_JMP_CMP = {sym: op for op, sym in JMP_SYMBOLS.items()}
_ATOMIC_ASSIGN = {ALU_SYMBOLS[op][:-1]: op for op in ATOMIC_OPS}
_ATOMIC_FETCH = {name: op for op, name in ATOMIC_OPS.items()}

_RE = {
    name: re.compile(rx)
    for name, rx in {
        "exit": r"exit",
        "ld_pseudo": rf"ld_pseudo\s+(?P<dst>r\d+)\s*,\s*(?P<src>{_NUM})\s*,\s*(?P<imm>{_NUM})",
        "call": rf"call\s+(?P<num>{_NUM})",
        "call_pc": r"call\s+pc\s*(?P<num>[+-]\s*\d+)",
        "call_kfunc": rf"call\s+kfunc\[(?P<num>{_NUM})\](?:\[(?P<off>{_NUM})\])?",
        "call_sym": rf"call\s+(?P<sym>{_SYM})",
        "callx": rf"callx\s+(?P<reg>{_REG})",
        "goto": rf"(?P<op>gotol|goto|ja)\s+(?:(?P<num>{_NUM})|(?P<sym>{_SYM}))",
        "if": rf"if\s+(?P<dst>{_REG})\s*(?P<cmp>==|!=|s>=|s<=|s>|s<|>=|<=|>|<|&)\s*"
        rf"(?:(?P<src>{_REG})|(?P<imm>{_NUM}))\s+goto\s+(?:(?P<num>{_NUM})|(?P<sym>{_SYM}))",
        "lock": rf"lock\s+\*\(u(?P<sz>32|64)\s*\*\)\s*{_MEM}\s*(?P<op>[+|&^])=\s*(?P<src>{_REG})",
        "store": rf"\*\(u(?P<sz>8|16|32|64)\s*\*\)\s*{_MEM}\s*=\s*(?:(?P<src>{_REG})|(?P<imm>{_NUM}))",
        "alu": rf"(?P<dst>{_REG})\s*(?P<op>s>>|s/|s%|<<|>>|[-+*/|&%^])=\s*"
        rf"(?:(?P<src>{_REG})|(?P<imm>{_NUM}))",
        "assign": rf"(?P<dst>{_REG})\s*=\s*(?P<rhs>.+)",
    }.items()
}

_RHS = {
    name: re.compile(rx)
    for name, rx in {
        "lddw": rf"(?:(?P<num>{_NUM})|(?P<sym>{_SYM}))\s+ll",
        "map": rf"(?P<kind>map|map_value)\[(?P<by>fd|idx):\s*(?P<n>{_NUM})\]"
        rf"(?:\s*(?P<off>[+-]\s*\d+))?\s+ll",
        "btf_id": rf"btf_id\[(?P<n>{_NUM})\]\s+ll",
        "func": r"func\[pc\s*(?P<n>[+-]\s*\d+)\]\s+ll",
        "pseudo": rf"pseudo\[src:(?P<src>\d+)\]\[(?P<n>{_NUM})\]\[(?P<hi>{_NUM})\]\s+ll",
        "ldabs": rf"\*\(u(?P<sz>8|16|32)\s*\*\)\s*skb\[\s*(?P<imm>{_NUM})\s*\]",
        "ldind": rf"\*\(u(?P<sz>8|16|32)\s*\*\)\s*skb\[\s*(?P<src>r\d+)\s*"
        rf"(?:(?P<sign>[+-])\s*(?P<imm>{_NUM}))?\s*\]",
        "ldx": rf"\*\((?P<s>[us])(?P<sz>8|16|32|64)\s*\*\)\s*{_MEM}",
        "fetch": rf"atomic_fetch_(?P<op>add|or|and|xor)\(\s*\(u(?P<sz>32|64)\s*\*\)\s*{_MEM}\s*,"
        rf"\s*(?P<src>{_REG})\s*\)",
        "xchg": rf"xchg(?P<sz>_64|32_32)\(\s*(?P<base>r\d+)\s*(?:(?P<sign>[+-])\s*(?P<off>{_NUM}))?"
        rf"\s*,\s*(?P<src>{_REG})\s*\)",
        "cmpxchg": rf"cmpxchg(?P<sz>_64|32_32)\(\s*(?P<base>r\d+)\s*(?:(?P<sign>[+-])\s*"
        rf"(?P<off>{_NUM}))?\s*,\s*(?P<r0>{_REG})\s*,\s*(?P<src>{_REG})\s*\)",
        "neg": rf"-\s*(?P<src>{_REG})",
        "movsx": rf"\(s(?P<sz>8|16|32)\)\s*(?P<src>{_REG})",
        "end": rf"(?P<kind>be|le|bswap)(?P<width>16|32|64)\s+(?P<src>{_REG})",
        "mov_reg": rf"(?P<src>{_REG})",
        "mov_imm": rf"(?P<imm>{_NUM})",
    }.items()
}

_ANNOTATION_RE = re.compile(r"\s*<[^<>]*>\s*$")
_BARE_TARGET_RE = re.compile(rf"\b(goto|gotol|call)\s+<({_SYM})>$")


class _LlvmLine:
    def __init__(self, text: str, line: int | None) -> None:
        self.text = text
        self.line = line

    def error(self, msg: str) -> AsmError:
        return AsmError(msg, line=self.line, text=self.text)

    def num(self, s: str, lo: int, hi: int, what: str) -> int:
        try:
            v = int(s.replace(" ", ""), 0)
        except ValueError:
            raise self.error(f"invalid {what} {s!r}") from None
        if not lo <= v <= hi:
            raise self.error(f"{what} {s} does not fit")
        return v

    def imm32(self, s: str) -> int:
        return self.num(s, -(1 << 31), (1 << 32) - 1, "immediate")

    def off16(self, sign: str | None, s: str | None) -> int:
        if s is None:
            return 0
        v = self.num(s, -(1 << 16), 1 << 16, "offset")
        v = -v if sign == "-" else v
        if not -(1 << 15) <= v < (1 << 15):
            raise self.error(f"offset {v} does not fit in 16 bits")
        return v

    def reg(self, s: str, want: str | None = None) -> int:
        n = int(s[1:])
        if n > 10:
            raise self.error(f"invalid register {s!r}")
        if want is not None and s[0] != want:
            raise self.error(
                f"register {s} must be a {'64' if want == 'r' else '32'}-bit register ({want}{n})"
            )
        return n

    def target(self, m: re.Match[str], field_bits: int) -> tuple[int, str | None]:
        if m.group("sym"):
            return 0, m.group("sym")
        lim = 1 << (field_bits - 1)
        return self.num(m.group("num"), -lim, lim - 1, "jump offset"), None


def parse_llvm(stmt: str, line: int | None = None) -> tuple[Insn, str | None]:
    """Assemble one statement in llvm-objdump/llvm-mc syntax."""
    p = _LlvmLine(stmt, line)
    # a target written as llvm-objdump's annotation alone: "goto <LBB0_2>", "call <func>"
    s = _BARE_TARGET_RE.sub(r"\1 \2", stmt.strip())
    s = _ANNOTATION_RE.sub("", s).strip()
    m = _RE["exit"].fullmatch(s)
    if m:
        return Insn(BPF_JMP | BPF_EXIT), None
    m = _RE["ld_pseudo"].fullmatch(s)
    if m:
        return Insn(
            BPF_LD | BPF_IMM | BPF_DW,
            p.reg(m.group("dst")),
            p.num(m.group("src"), 0, 15, "pseudo source"),
            0,
            p.imm32(m.group("imm")),
        ), None
    m = _RE["call"].fullmatch(s)
    if m:
        return Insn(BPF_JMP | BPF_CALL, imm=p.imm32(m.group("num"))), None
    m = _RE["call_pc"].fullmatch(s)
    if m:
        v = p.num(m.group("num"), -(1 << 31), (1 << 31) - 1, "call offset")
        return Insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, v), None
    m = _RE["call_kfunc"].fullmatch(s)
    if m:
        off = p.off16("+", m.group("off")) if m.group("off") else 0
        return Insn(
            BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, off, p.imm32(m.group("num"))
        ), None
    m = _RE["callx"].fullmatch(s)
    if m:
        return Insn(BPF_JMP | BPF_CALL | BPF_X, p.reg(m.group("reg"), "r")), None
    m = _RE["call_sym"].fullmatch(s)
    if m:
        return Insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, -1), m.group("sym")
    m = _RE["goto"].fullmatch(s)
    if m:
        if m.group("op") == "gotol":
            v, label = p.target(m, 32)
            return Insn(BPF_JMP32 | BPF_JA, imm=v), label
        v, label = p.target(m, 16)
        return Insn(BPF_JMP | BPF_JA, off=v), label
    m = _RE["if"].fullmatch(s)
    if m:
        dst = m.group("dst")
        width = dst[0]
        cls = BPF_JMP if width == "r" else BPF_JMP32
        off, label = p.target(m, 16)
        op = _JMP_CMP[m.group("cmp")]
        if m.group("src"):
            return Insn(cls | op | BPF_X, p.reg(dst), p.reg(m.group("src"), width), off), label
        return Insn(cls | op | BPF_K, p.reg(dst), 0, off, p.imm32(m.group("imm"))), label
    m = _RE["lock"].fullmatch(s)
    if m:
        size = _SZ[m.group("sz")]
        imm = _ATOMIC_ASSIGN[m.group("op")]
        return Insn(
            BPF_STX | BPF_ATOMIC | size,
            p.reg(m.group("base"), "r"),
            p.reg(m.group("src")),
            p.off16(m.group("sign"), m.group("off")),
            imm,
        ), None
    m = _RE["store"].fullmatch(s)
    if m:
        size = _SZ[m.group("sz")]
        dst = p.reg(m.group("base"), "r")
        off = p.off16(m.group("sign"), m.group("off"))
        if m.group("src"):
            return Insn(BPF_STX | BPF_MEM | size, dst, p.reg(m.group("src")), off), None
        return Insn(BPF_ST | BPF_MEM | size, dst, 0, off, p.imm32(m.group("imm"))), None
    m = _RE["alu"].fullmatch(s)
    if m:
        dst = m.group("dst")
        width = dst[0]
        cls = BPF_ALU64 if width == "r" else BPF_ALU
        opname = m.group("op")
        off = 1 if opname in ("s/", "s%") else 0
        op = _ALU_ASSIGN[opname]
        if m.group("src"):
            return Insn(cls | op | BPF_X, p.reg(dst), p.reg(m.group("src"), width), off), None
        return Insn(cls | op | BPF_K, p.reg(dst), 0, off, p.imm32(m.group("imm"))), None
    m = _RE["assign"].fullmatch(s)
    if m:
        return _parse_assign(p, m.group("dst"), m.group("rhs").strip())
    raise p.error("unrecognised instruction")


def _parse_pseudo_imm64(p: _LlvmLine, rhs: str) -> tuple[int, int, int] | None:
    """The disassembler's LDDW pseudo-source forms: map[fd:3], map_value[idx:0]+8 ..."""
    s32 = (-(1 << 31), (1 << 32) - 1)
    m = _RHS["map"].fullmatch(rhs)
    if m:
        n = p.num(m.group("n"), *s32, "map reference")
        value = m.group("kind") == "map_value"
        if m.group("off") and not value:
            raise p.error("only map_value[...] takes an offset")
        off = p.num(m.group("off"), *s32, "value offset") if m.group("off") else 0
        if m.group("by") == "fd":
            src = BPF_PSEUDO_MAP_VALUE if value else BPF_PSEUDO_MAP_FD
        else:
            src = BPF_PSEUDO_MAP_IDX_VALUE if value else BPF_PSEUDO_MAP_IDX
        return src, n, off
    m = _RHS["btf_id"].fullmatch(rhs)
    if m:
        return BPF_PSEUDO_BTF_ID, p.num(m.group("n"), *s32, "BTF id"), 0
    m = _RHS["func"].fullmatch(rhs)
    if m:
        return BPF_PSEUDO_FUNC, p.num(m.group("n"), *s32, "function offset"), 0
    m = _RHS["pseudo"].fullmatch(rhs)
    if m:
        src = p.num(m.group("src"), 0, 15, "pseudo source")
        return src, p.num(m.group("n"), *s32, "immediate"), p.num(m.group("hi"), *s32, "immediate")
    return None


def _parse_assign(p: _LlvmLine, dst_s: str, rhs: str) -> tuple[Insn, str | None]:
    width = dst_s[0]
    dst = p.reg(dst_s)
    m = _RHS["lddw"].fullmatch(rhs)
    if m:
        if width != "r":
            raise p.error("a 64-bit load (ll) needs a 64-bit register")
        if m.group("sym"):
            return Insn(BPF_LD | BPF_IMM | BPF_DW, dst, ref=m.group("sym")), None
        v = p.num(m.group("num"), -(1 << 63), (1 << 64) - 1, "immediate") & ((1 << 64) - 1)
        return Insn(BPF_LD | BPF_IMM | BPF_DW, dst, 0, 0, v & 0xFFFFFFFF, v >> 32), None
    pseudo = _parse_pseudo_imm64(p, rhs)
    if pseudo is not None:
        if width != "r":
            raise p.error("a 64-bit load (ll) needs a 64-bit register")
        src, imm, hi = pseudo
        return Insn(BPF_LD | BPF_IMM | BPF_DW, dst, src, 0, imm, hi), None
    m = _RHS["ldabs"].fullmatch(rhs)
    if m:
        if dst != 0:
            raise p.error("packet loads (skb[...]) always load into r0")
        return Insn(BPF_LD | BPF_ABS | _SZ[m.group("sz")], imm=p.imm32(m.group("imm"))), None
    m = _RHS["ldind"].fullmatch(rhs)
    if m:
        if dst != 0:
            raise p.error("packet loads (skb[...]) always load into r0")
        imm = p.imm32(m.group("imm")) if m.group("imm") else 0
        imm = -imm if m.group("sign") == "-" else imm
        return Insn(
            BPF_LD | BPF_IND | _SZ[m.group("sz")], 0, p.reg(m.group("src"), "r"), 0, imm
        ), None
    m = _RHS["ldx"].fullmatch(rhs)
    if m:
        size = _SZ[m.group("sz")]
        mode = BPF_MEMSX if m.group("s") == "s" else BPF_MEM
        if mode == BPF_MEMSX and size == BPF_DW:
            raise p.error("there is no sign-extending 64-bit load; use *(u64 *)")
        return Insn(
            BPF_LDX | mode | size,
            dst,
            p.reg(m.group("base"), "r"),
            p.off16(m.group("sign"), m.group("off")),
        ), None
    m = _RHS["fetch"].fullmatch(rhs)
    if m:
        src = p.reg(m.group("src"))
        if src != dst:
            raise p.error("atomic_fetch_* returns into its source register")
        imm = _ATOMIC_FETCH[m.group("op")] | BPF_FETCH
        return Insn(
            BPF_STX | BPF_ATOMIC | _SZ[m.group("sz")],
            p.reg(m.group("base"), "r"),
            src,
            p.off16(m.group("sign"), m.group("off")),
            imm,
        ), None
    m = _RHS["xchg"].fullmatch(rhs)
    if m:
        src = p.reg(m.group("src"))
        if src != dst:
            raise p.error("xchg returns into its source register")
        size = BPF_DW if m.group("sz") == "_64" else BPF_W
        return Insn(
            BPF_STX | BPF_ATOMIC | size,
            p.reg(m.group("base"), "r"),
            src,
            p.off16(m.group("sign"), m.group("off")),
            BPF_XCHG,
        ), None
    m = _RHS["cmpxchg"].fullmatch(rhs)
    if m:
        if dst != 0 or p.reg(m.group("r0")) != 0:
            raise p.error("cmpxchg compares with and returns into r0")
        size = BPF_DW if m.group("sz") == "_64" else BPF_W
        return Insn(
            BPF_STX | BPF_ATOMIC | size,
            p.reg(m.group("base"), "r"),
            p.reg(m.group("src")),
            p.off16(m.group("sign"), m.group("off")),
            BPF_CMPXCHG,
        ), None
    cls = BPF_ALU64 if width == "r" else BPF_ALU
    m = _RHS["neg"].fullmatch(rhs)
    if m:
        if p.reg(m.group("src"), width) != dst:
            raise p.error("negation works in place (rN = -rN)")
        return Insn(cls | BPF_NEG | BPF_K, dst), None
    m = _RHS["movsx"].fullmatch(rhs)
    if m:
        return Insn(
            cls | BPF_MOV | BPF_X, dst, p.reg(m.group("src"), width), int(m.group("sz"))
        ), None
    m = _RHS["end"].fullmatch(rhs)
    if m:
        if p.reg(m.group("src")) != dst:
            raise p.error("byte swaps work in place (rN = be16 rN)")
        kind = m.group("kind")
        code = {
            "le": BPF_ALU | BPF_END | BPF_TO_LE,
            "be": BPF_ALU | BPF_END | BPF_TO_BE,
            "bswap": BPF_ALU64 | BPF_END | BPF_TO_LE,
        }[kind]
        return Insn(code, dst, 0, 0, int(m.group("width"))), None
    m = _RHS["mov_reg"].fullmatch(rhs)
    if m:
        return Insn(cls | BPF_MOV | BPF_X, dst, p.reg(m.group("src"), width)), None
    m = _RHS["mov_imm"].fullmatch(rhs)
    if m:
        return Insn(cls | BPF_MOV | BPF_K, dst, 0, 0, p.imm32(m.group("imm"))), None
    raise p.error("unrecognised instruction")
