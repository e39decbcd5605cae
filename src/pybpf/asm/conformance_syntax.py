"""The bpf_conformance / uBPF assembly syntax: ``mov %r0, 1``, ``ldxdw %r0, [%r1+8]``.

This is the syntax of the ``-- asm`` sections of the bpf_conformance suite
(Alan-Jowett/bpf_conformance, src/bpf_assembler.cc) and of uBPF's assembler:
a mnemonic from RFC 9669's naming (``add``, ``add32``, ``ldxw``, ``jeq32``,
``lddw`` ...), ``%rN`` registers, ``[%rN+off]`` memory operands, jump targets
``+N``/``-N`` or a label name, ``call N`` (helper), ``call local NAME`` (BPF to
BPF), ``call %rN`` (callx, register in dst as llvm-mc emits ``callx rN``) and
``lock [fetch] OP [%rD+off], %rS`` atomics.

Numbers follow the suite's reader: a value containing ``0x`` is hexadecimal,
anything else decimal; negative values wrap into the field. Registers
``%r11``..``%r15`` are accepted because the suite uses them for negative tests.
"""

from __future__ import annotations

import re

from ..errors import AsmError
from ..isa import (
    ALU_NAMES,
    BPF_ABS,
    BPF_ALU,
    BPF_ALU64,
    BPF_ATOMIC,
    BPF_CALL,
    BPF_CMPXCHG,
    BPF_DIV,
    BPF_DW,
    BPF_END,
    BPF_EXIT,
    BPF_FETCH,
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
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_KFUNC_CALL,
    BPF_ST,
    BPF_STX,
    BPF_TO_BE,
    BPF_TO_LE,
    BPF_X,
    BPF_XCHG,
    JMP_CONDITIONS,
    JMP_NAMES,
    SIZE_SUFFIX,
    Insn,
)
from .printer import ATOMIC_OPS

#: (instruction, label it jumps to or None)
Parsed = tuple[Insn, "str | None"]

_ALU_OPS = {name: op for op, name in ALU_NAMES.items() if op != BPF_END}
_JMP_OPS = {JMP_NAMES[op]: op for op in JMP_CONDITIONS}
_SIZES = {s: sz for sz, s in SIZE_SUFFIX.items()}
_ATOMIC_BASE = {name: op for op, name in ATOMIC_OPS.items()}
_MEM_RE = re.compile(r"^\[\s*(%r\d+)\s*(?:([+-])\s*(\w+)\s*)?\]$")
_REG_RE = re.compile(r"^%r(\d+)$")
_LABEL_RE = re.compile(r"^[A-Za-z_.$][\w.$]*$")

#: mnemonics that exist only in this syntax (used to tell the two syntaxes apart)
MNEMONICS: frozenset[str] = frozenset(
    [n + s for n in _ALU_OPS for s in ("", "32", "64")]
    + ["sdiv", "sdiv32", "sdiv64", "smod", "smod32", "smod64"]
    + [f"movsx{a}{b}" for a in (8, 16, 32) for b in (32, 64)]
    + [f"{p}{w}" for p in ("le", "be", "swap", "bswap") for w in (16, 32, 64)]
    + [n + s for n in _JMP_OPS for s in ("", "32")]
    + ["ja", "ja32", "lddw", "lock"]
    + ["ldx" + s for s in _SIZES]
    + ["ldxs" + s for s in ("b", "h", "w")]
    + ["st" + s for s in _SIZES]
    + ["stx" + s for s in _SIZES]
    + ["ldabs" + s for s in _SIZES]
    + ["ldind" + s for s in _SIZES]
)


class _Line:
    """Operand decoding for one source line; errors name the line."""

    def __init__(self, text: str, line: int | None) -> None:
        self.text = text
        self.line = line

    def error(self, msg: str) -> AsmError:
        return AsmError(msg, line=self.line, text=self.text)

    def number(self, s: str, lo: int, hi: int, what: str) -> int:
        s = s.strip()
        try:
            v = int(s, 16) if "0x" in s.lower() else int(s, 10)
        except ValueError:
            raise self.error(f"invalid {what} {s!r}") from None
        if not lo <= v <= hi:
            raise self.error(f"{what} {s} does not fit")
        return v

    def imm32(self, s: str) -> int:
        return self.number(s, -(1 << 31), (1 << 32) - 1, "immediate")

    def imm64(self, s: str) -> int:
        return self.number(s, -(1 << 63), (1 << 64) - 1, "immediate") & ((1 << 64) - 1)

    def offset(self, s: str) -> int:
        return self.number(s, -(1 << 15), (1 << 16) - 1, "offset")

    def reg(self, s: str) -> int:
        m = _REG_RE.match(s.strip())
        if not m or int(m.group(1)) > 15:
            raise self.error(f"invalid register {s.strip()!r}")
        return int(m.group(1))

    def is_reg(self, s: str) -> bool:
        return s.strip().startswith("%")

    def mem(self, s: str) -> tuple[int, int]:
        m = _MEM_RE.match(s.strip())
        if not m:
            raise self.error(f"invalid memory operand {s.strip()!r} (want [%rN+off])")
        reg = self.reg(m.group(1))
        off = 0
        if m.group(2):
            off = self.offset(m.group(2) + m.group(3))
        return reg, off

    def target(self, s: str) -> tuple[int, str | None]:
        """A jump target: ``+N``/``-N`` (slots) or a label name."""
        s = s.strip()
        if s[:1] in "+-":
            return self.number(s, -(1 << 31), (1 << 31) - 1, "jump offset"), None
        if not _LABEL_RE.match(s):
            raise self.error(f"invalid jump target {s!r}")
        return 0, s


def _split(rest: str) -> list[str]:
    return [p.strip() for p in rest.split(",")] if rest.strip() else []


def parse_line(text: str, line: int | None = None) -> Parsed:
    """Assemble one comment-free, label-free line of conformance syntax."""
    p = _Line(text, line)
    parts = text.strip().split(None, 1)
    mn = parts[0].lower()
    rest = parts[1] if len(parts) > 1 else ""
    ops = _split(rest)

    def want(n: int) -> None:
        if len(ops) != n:
            raise p.error(f"{mn} takes {n} operand{'s' if n != 1 else ''}, got {len(ops)}")

    if mn == "exit":
        want(0)
        return Insn(BPF_JMP | BPF_EXIT), None
    if mn == "call":
        return _parse_call(p, rest)
    if mn in ("ja", "ja32"):
        want(1)
        v, label = p.target(ops[0])
        if mn == "ja":
            return Insn(BPF_JMP | BPF_JA, off=_fit16(p, v)), label
        return Insn(BPF_JMP32 | BPF_JA, imm=v), label
    if mn == "lock":
        return _parse_lock(p, rest)
    if mn == "lddw":
        want(2)
        v = p.imm64(ops[1])
        return Insn(BPF_LD | BPF_IMM | BPF_DW, p.reg(ops[0]), 0, 0, v & 0xFFFFFFFF, v >> 32), None
    m = re.fullmatch(r"(ldxs?|stx?)(b|h|w|dw)", mn)
    if m:
        want(2)
        kind, size = m.group(1), _SIZES[m.group(2)]
        if kind == "ldx":
            src, off = p.mem(ops[1])
            return Insn(BPF_LDX | BPF_MEM | size, p.reg(ops[0]), src, off), None
        if kind == "ldxs":
            if size == BPF_DW:
                raise p.error("ldxsdw does not exist (use ldxdw)")
            src, off = p.mem(ops[1])
            return Insn(BPF_LDX | BPF_MEMSX | size, p.reg(ops[0]), src, off), None
        dst, off = p.mem(ops[0])
        if kind == "st":
            return Insn(BPF_ST | BPF_MEM | size, dst, 0, off, p.imm32(ops[1])), None
        return Insn(BPF_STX | BPF_MEM | size, dst, p.reg(ops[1]), off), None
    m = re.fullmatch(r"ld(abs|ind)(b|h|w|dw)", mn)
    if m:
        size = _SIZES[m.group(2)]
        if m.group(1) == "abs":
            want(1)
            return Insn(BPF_LD | BPF_ABS | size, imm=p.imm32(ops[0])), None
        want(2)
        return Insn(BPF_LD | BPF_IND | size, 0, p.reg(ops[0]), 0, p.imm32(ops[1])), None
    m = re.fullmatch(r"(le|be|swap|bswap)(16|32|64)", mn)
    if m:
        want(1)
        kind, width = m.group(1), int(m.group(2))
        if kind == "le":
            code = BPF_ALU | BPF_END | BPF_TO_LE
        elif kind == "be":
            code = BPF_ALU | BPF_END | BPF_TO_BE
        else:
            code = BPF_ALU64 | BPF_END | BPF_TO_LE
        return Insn(code, p.reg(ops[0]), 0, 0, width), None
    m = re.fullmatch(r"movsx(8|16|32)(32|64)", mn)
    if m:
        want(2)
        cls = BPF_ALU if m.group(2) == "32" else BPF_ALU64
        return Insn(cls | BPF_MOV | BPF_X, p.reg(ops[0]), p.reg(ops[1]), int(m.group(1))), None
    m = re.fullmatch(r"([a-z]+?)(32|64)?", mn)
    if m and m.group(1) in _JMP_OPS:
        want(3)
        cls = BPF_JMP32 if m.group(2) == "32" else BPF_JMP
        if m.group(2) == "64":
            raise p.error(f"unknown mnemonic {mn!r}")
        op = _JMP_OPS[m.group(1)]
        dst = p.reg(ops[0])
        off, label = p.target(ops[2])
        off = _fit16(p, off)
        if p.is_reg(ops[1]):
            return Insn(cls | op | BPF_X, dst, p.reg(ops[1]), off), label
        return Insn(cls | op | BPF_K, dst, 0, off, p.imm32(ops[1])), label
    if m and (m.group(1) in _ALU_OPS or m.group(1) in ("sdiv", "smod")):
        name = m.group(1)
        cls = BPF_ALU if m.group(2) == "32" else BPF_ALU64
        signed = name in ("sdiv", "smod")
        op = BPF_DIV if name == "sdiv" else BPF_MOD if name == "smod" else _ALU_OPS[name]
        off = 1 if signed else 0
        if op == BPF_NEG:
            want(1)
            return Insn(cls | BPF_NEG | BPF_K, p.reg(ops[0])), None
        want(2)
        dst = p.reg(ops[0])
        if p.is_reg(ops[1]):
            return Insn(cls | op | BPF_X, dst, p.reg(ops[1]), off), None
        return Insn(cls | op | BPF_K, dst, 0, off, p.imm32(ops[1])), None
    raise p.error(f"unknown mnemonic {mn!r}")


def _fit16(p: _Line, v: int) -> int:
    if not -(1 << 15) <= v <= (1 << 16) - 1:
        raise p.error(f"jump offset {v} does not fit in 16 bits")
    return v


def _parse_call(p: _Line, rest: str) -> Parsed:
    words = rest.split()
    if len(words) == 1:
        mode, target = "helper", words[0]
    elif len(words) == 2:
        mode, target = words[0].lower(), words[1]
    else:
        raise p.error("call takes a target: call N | call %rN | call local NAME")
    if mode == "helper":
        if p.is_reg(target):
            # callx: the register holding the helper id goes in dst, as llvm-mc-19 encodes
            # `callx r2` (8d 02 ...) and as uBPF and bpf_conformance do.
            return Insn(BPF_JMP | BPF_CALL | BPF_X, p.reg(target)), None
        return Insn(BPF_JMP | BPF_CALL | BPF_K, imm=p.imm32(target)), None
    if mode == "local":
        v, label = p.target(target)
        return Insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, v), label
    if mode == "runtime":
        return Insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, p.imm32(target)), None
    raise p.error(f"invalid call mode {mode!r} (helper, local or runtime)")


def _parse_lock(p: _Line, rest: str) -> Parsed:
    words = rest.replace(",", " ").split()
    fetch = bool(words) and words[0].lower() == "fetch"
    if fetch:
        words = words[1:]
    if len(words) != 3:
        raise p.error("lock takes: lock [fetch] OP [%rD+off], %rS")
    m = re.fullmatch(r"(add|or|and|xor|xchg|cmpxchg)(32)?", words[0].lower())
    if not m:
        raise p.error(f"unknown atomic operation {words[0]!r}")
    size = 0x00 if m.group(2) else BPF_DW  # BPF_W == 0
    name = m.group(1)
    if name == "xchg":
        imm = BPF_XCHG
    elif name == "cmpxchg":
        imm = BPF_CMPXCHG
    else:
        imm = _ATOMIC_BASE[name] | (BPF_FETCH if fetch else 0)
    dst, off = p.mem(words[1])
    return Insn(BPF_STX | BPF_ATOMIC | size, dst, p.reg(words[2]), off, imm), None
