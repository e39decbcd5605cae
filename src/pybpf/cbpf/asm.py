"""The kernel's bpf_asm syntax (tools/bpf/bpf_exp.l, bpf_exp.y), assembled to classic BPF.

The syntax is McCanne and Jacobson's, as bpf_asm accepts it::

    ldh [12]                  ; A = the EtherType
    jne #0x800, drop          ; not IPv4
    ldb [23]
    jeq #6, keep, drop        ; TCP?
    keep: ret #-1
    drop: ret #0

* loads: ``ld``/``ldh``/``ldb`` ``[k]``, ``[x + k]`` (also ``[%x + k]``),
  ``ld #k`` / ``ldi #k``, ``ld M[k]``, ``ld #len``, ``ld #proto`` and the other
  extensions (``ldh``/``ldb`` take extensions too); ``ldx #k``/``ldxi``,
  ``ldx M[k]``, ``ldx #len``, ``ldx 4*([k]&0xf)`` (also ``ldxb``);
* ``st M[k]``, ``stx M[k]``; ``tax``, ``txa``; ``add sub mul div mod and or
  xor lsh rsh`` with ``#k`` or ``x`` (``%x``); ``neg``;
* ``jmp``/``ja L``; ``jeq jgt jge jset`` ``#k|x, Ltrue[, Lfalse]`` (no false
  label: fall through); ``jneq``/``jne``, ``jlt``, ``jle`` ``#k|x, L`` (jump
  to L when A != / < / <= the operand);
* ``ret #k``, ``ret a``, ``ret x`` (bpf_asm writes ``ret x``; the kernel refuses it);
* numbers: ``0x1f``, ``0b101``, ``017`` (octal), decimal with a sign; labels
  are two or more of ``[A-Za-z0-9_]`` and must not be keywords; ``label:``
  marks the next instruction; comments are ``;`` to the end of the line,
  ``/* ... */`` and lines starting with ``#``. Keywords are case-insensitive.

Extensions are bpf_asm's: proto, type, poff, ifidx, nla, nlan, mark, queue,
hatype, rxhash, cpu, vlan_tci, vlan_avail (vlan_pr), vlan_tpid, rand — and
``xor_x`` (SKF_AD_ALU_XOR_X, which pybpf's printer writes and bpf_asm has no
name for). Every error names the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import AsmError
from ..isa import (
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_B,
    BPF_DIV,
    BPF_H,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JMP,
    BPF_JSET,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LSH,
    BPF_MEM,
    BPF_MOD,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RSH,
    BPF_ST,
    BPF_STX,
    BPF_SUB,
    BPF_W,
    BPF_X,
    BPF_XOR,
)
from ..uapi import SKF_AD_OFF
from .insn import (
    ANCILLARY_BY_NAME,
    BPF_A,
    BPF_LEN,
    BPF_MAXINSNS,
    BPF_MISC,
    BPF_MSH,
    BPF_RET,
    BPF_TAX,
    BPF_TXA,
    SockFilter,
)

__all__ = ["assemble"]

_KEYWORDS = {
    "ldb": "ldb", "ldh": "ldh", "ld": "ld", "ldi": "ldi", "ldx": "ldx", "ldxi": "ldxi",
    "ldxb": "ldxb", "st": "st", "stx": "stx", "jmp": "jmp", "ja": "jmp", "jeq": "jeq",
    "jneq": "jneq", "jne": "jneq", "jlt": "jlt", "jle": "jle", "jgt": "jgt", "jge": "jge",
    "jset": "jset", "add": "add", "sub": "sub", "mul": "mul", "div": "div", "mod": "mod",
    "neg": "neg", "and": "and", "xor": "xor", "or": "or", "lsh": "lsh", "rsh": "rsh",
    "ret": "ret", "tax": "tax", "txa": "txa",
}  # fmt: skip
_EXTENSIONS = dict(ANCILLARY_BY_NAME)

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r]+)
  | (?P<comment>;[^\n]*|/\*(?:[^*]|\*(?!/))*\*/)
  | (?P<nl>\n)
  | (?P<hashword>\#(?:[A-Za-z_][A-Za-z0-9_]*))
  | (?P<num>0[xX][0-9A-Fa-f]+|0[bB][01]+|0[0-7]+|0|[-+]?[1-9][0-9]*)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[:,\[\]()#%+*&])
    """,
    re.VERBOSE,
)

_ALU = {
    "add": BPF_ADD, "sub": BPF_SUB, "mul": BPF_MUL, "div": BPF_DIV, "mod": BPF_MOD,
    "and": BPF_AND, "or": BPF_OR, "xor": BPF_XOR, "lsh": BPF_LSH, "rsh": BPF_RSH,
}  # fmt: skip
_SIZE = {"ld": BPF_W, "ldh": BPF_H, "ldb": BPF_B}


@dataclass
class _Tok:
    kind: str  # op, ext, len, num, label, punct, x, a, M
    value: object
    line: int
    text: str


def _number(text: str) -> int:
    t = text.lower()
    if t.startswith("0x"):
        v = int(t[2:], 16)
    elif t.startswith("0b"):
        v = int(t[2:], 2)
    elif len(t) > 1 and t.startswith("0"):
        v = int(t[1:], 8)
    else:
        v = int(t, 10)
    return v & 0xFFFF_FFFF


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    line = 1
    pos = 0
    bol = True  # at the beginning of a line: '#' starts a comment there
    while pos < len(text):
        if bol and text[pos] == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
            continue
        m = _TOKEN.match(text, pos)
        if m is None:
            raise AsmError(f"unknown character {text[pos]!r}", line=line)
        kind = m.lastgroup
        tok = m.group()
        pos = m.end()
        if kind == "nl":
            line += 1
            bol = True
            continue
        if kind == "comment":
            line += tok.count("\n")
            continue
        if kind == "ws":
            continue
        bol = False
        if kind == "hashword":
            name = tok[1:].lower()
            if name == "len":
                out.append(_Tok("len", None, line, tok))
            elif name in _EXTENSIONS:
                out.append(_Tok("ext", _EXTENSIONS[name], line, tok))
            else:
                raise AsmError(f"unknown extension {tok!r}", line=line)
        elif kind == "num":
            out.append(_Tok("num", _number(tok), line, tok))
        elif kind == "word":
            low = tok.lower()
            if low in _KEYWORDS:
                out.append(_Tok("op", _KEYWORDS[low], line, tok))
            elif low == "len":
                out.append(_Tok("len", None, line, tok))
            elif low in _EXTENSIONS:
                out.append(_Tok("ext", _EXTENSIONS[low], line, tok))
            elif low in ("x", "a") or tok == "M" or tok == "m":
                out.append(_Tok(low if low != "m" else "M", None, line, tok))
            elif len(tok) >= 2:
                out.append(_Tok("label", tok, line, tok))
            else:
                raise AsmError(f"unknown character {tok!r}", line=line)
        else:
            out.append(_Tok("punct", tok, line, tok))
    return out


class _Parser:
    def __init__(self, toks: list[_Tok], lines: list[str]):
        self.toks = toks
        self.i = 0
        self.lines = lines
        self.out: list[SockFilter] = []
        self.labels: dict[str, int] = {}
        #: (insn index, field, label, line)
        self.refs: list[tuple[int, str, str, int]] = []

    # --- token helpers -----------------------------------------------------------------------
    def _err(self, msg: str, tok: _Tok | None = None) -> AsmError:
        line = tok.line if tok is not None else (self.toks[-1].line if self.toks else 1)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else None
        return AsmError(msg, line=line, text=text)

    def peek(self, k: int = 0) -> _Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self, what: str) -> _Tok:
        t = self.peek()
        if t is None:
            raise self._err(f"unexpected end of input: expected {what}")
        self.i += 1
        return t

    def expect(self, kind: str, value: object = None, what: str = "") -> _Tok:
        t = self.next(what or repr(value or kind))
        if t.kind != kind or (value is not None and t.value != value):
            raise self._err(f"expected {what or value or kind}, found {t.text!r}", t)
        return t

    def accept(self, kind: str, value: object = None) -> _Tok | None:
        t = self.peek()
        if t is not None and t.kind == kind and (value is None or t.value == value):
            self.i += 1
            return t
        return None

    def number(self) -> int:
        return int(self.expect("num", what="a number").value)  # type: ignore[call-overload]

    def imm(self) -> int:
        self.expect("punct", "#", "'#'")
        return self.number()

    def reg(self, name: str) -> bool:
        """Register ``name`` (``x`` or ``a``), also spelt ``%x`` / ``%a``: consume it if there."""
        if self.accept(name):
            return True
        t, nxt = self.peek(), self.peek(1)
        if t is not None and t.kind == "punct" and t.value == "%" and nxt is not None:
            if nxt.kind == name:
                self.i += 2
                return True
        return False

    def reg_x(self) -> bool:
        return self.reg("x")

    # --- the grammar -------------------------------------------------------------------------
    def emit(self, code: int, k: int = 0) -> int:
        if len(self.out) >= BPF_MAXINSNS:
            raise self._err(f"only {BPF_MAXINSNS} instructions are allowed", self.peek(-1))
        self.out.append(SockFilter(code, 0, 0, k))
        return len(self.out) - 1

    def ref(self, idx: int, field: str) -> None:
        t = self.expect("label", what="a label")
        self.refs.append((idx, field, str(t.value), t.line))

    def parse(self) -> None:
        while self.peek() is not None:
            t = self.peek()
            assert t is not None
            if t.kind == "label":
                nxt = self.peek(1)
                if nxt is None or nxt.kind != "punct" or nxt.value != ":":
                    raise self._err(f"{t.text!r} is not an instruction (a label needs ':')", t)
                if t.value in self.labels:
                    raise self._err(f"label {t.text!r} is defined twice", t)
                self.labels[str(t.value)] = len(self.out)
                self.i += 2
                if self.peek() is None:
                    raise self._err(f"label {t.text!r} marks no instruction", t)
                continue
            if t.kind != "op":
                raise self._err(f"expected an instruction, found {t.text!r}", t)
            self.i += 1
            self.instr(str(t.value), t)

    def _mem(self) -> int:
        self.expect("M", what="'M'")
        self.expect("punct", "[", "'['")
        k = self.number()
        self.expect("punct", "]", "']'")
        return k

    def _bracket_load(self, size: int, op: _Tok) -> None:
        """``[k]`` or ``[x + k]`` after ld/ldh/ldb."""
        self.expect("punct", "[", "'['")
        if self.reg_x():
            self.expect("punct", "+", "'+'")
            k = self.number()
            self.expect("punct", "]", "']'")
            self.emit(BPF_LD | size | BPF_IND, k)
            return
        k = self.number()
        self.expect("punct", "]", "']'")
        self.emit(BPF_LD | size | BPF_ABS, k)

    def instr(self, op: str, tok: _Tok) -> None:
        t = self.peek()
        if op in _SIZE:
            size = _SIZE[op]
            if t is not None and t.kind == "ext":
                self.i += 1
                self.emit(BPF_LD | size | BPF_ABS, (SKF_AD_OFF + int(t.value)) & 0xFFFF_FFFF)  # type: ignore[call-overload]
            elif op == "ld" and t is not None and t.kind == "len":
                self.i += 1
                self.emit(BPF_LD | BPF_W | BPF_LEN)
            elif op == "ld" and t is not None and t.kind == "M":
                self.emit(BPF_LD | BPF_MEM, self._mem())
            elif op == "ld" and t is not None and t.kind == "punct" and t.value == "#":
                self.emit(BPF_LD | BPF_IMM, self.imm())
            else:
                self._bracket_load(size, tok)
        elif op in ("ldi", "ldxi"):
            cls = BPF_LD if op == "ldi" else BPF_LDX
            self.accept("punct", "#")
            self.emit(cls | BPF_IMM, self.number())
        elif op in ("ldx", "ldxb"):
            if op == "ldx" and t is not None and t.kind == "len":
                self.i += 1
                self.emit(BPF_LDX | BPF_W | BPF_LEN)
            elif op == "ldx" and t is not None and t.kind == "M":
                self.emit(BPF_LDX | BPF_MEM, self._mem())
            elif op == "ldx" and t is not None and t.kind == "punct" and t.value == "#":
                self.emit(BPF_LDX | BPF_IMM, self.imm())
            else:  # 4*([k]&0xf)
                four = self.next("4*([k]&0xf)")
                if four.kind != "num":
                    raise self._err(f"expected 4*([k]&0xf), found {four.text!r}", four)
                self.expect("punct", "*", "'*'")
                self.expect("punct", "(", "'('")
                self.expect("punct", "[", "'['")
                k = self.number()
                self.expect("punct", "]", "']'")
                self.expect("punct", "&", "'&'")
                mask = self.next("0xf")
                self.expect("punct", ")", "')'")
                if four.value != 4 or mask.kind != "num" or mask.value != 0xF:
                    raise self._err("ldxb offset not supported (only 4*([k]&0xf))", four)
                self.emit(BPF_LDX | BPF_MSH | BPF_B, k)
        elif op in ("st", "stx"):
            self.emit(BPF_ST if op == "st" else BPF_STX, self._mem())
        elif op == "jmp":
            idx = self.emit(BPF_JMP | BPF_JA)
            self.ref(idx, "k")
        elif op in ("jeq", "jgt", "jge", "jset", "jneq", "jlt", "jle"):
            base = {"jeq": BPF_JEQ, "jneq": BPF_JEQ, "jgt": BPF_JGT, "jle": BPF_JGT,
                    "jge": BPF_JGE, "jlt": BPF_JGE, "jset": BPF_JSET}[op]  # fmt: skip
            if self.reg_x():
                idx = self.emit(BPF_JMP | base | BPF_X)
            else:
                idx = self.emit(BPF_JMP | base | BPF_K, self.imm())
            self.expect("punct", ",", "','")
            if op in ("jneq", "jlt", "jle"):
                self.ref(idx, "jf")
            else:
                self.ref(idx, "jt")
                if self.accept("punct", ","):
                    self.ref(idx, "jf")
        elif op in _ALU:
            if self.reg_x():
                self.emit(BPF_ALU | _ALU[op] | BPF_X)
            else:
                self.emit(BPF_ALU | _ALU[op] | BPF_K, self.imm())
        elif op == "neg":
            self.emit(BPF_ALU | BPF_NEG)
        elif op == "ret":
            if self.reg("a"):
                self.emit(BPF_RET | BPF_A)
            elif self.reg("x"):
                self.emit(BPF_RET | BPF_X)
            else:
                self.emit(BPF_RET | BPF_K, self.imm())
        elif op == "tax":
            self.emit(BPF_MISC | BPF_TAX)
        elif op == "txa":
            self.emit(BPF_MISC | BPF_TXA)
        else:  # pragma: no cover - every keyword is handled above
            raise self._err(f"unknown instruction {op!r}", tok)

    def resolve(self) -> list[SockFilter]:
        out = self.out
        for idx, field, label, line in self.refs:
            if label not in self.labels:
                raise AsmError(f"no such label {label!r}", line=line)
            target = self.labels[label]
            delta = target - idx - 1
            f = out[idx]
            if field == "k":
                if delta < 0:
                    raise AsmError(
                        f"insn #{idx} jumps back to insn #{target}: classic jumps go forward",
                        line=line,
                    )
                out[idx] = SockFilter(f.code, f.jt, f.jf, delta)
                continue
            if not 0 <= delta <= 255:
                raise AsmError(
                    f"insn #{idx} jumps to insn #{target}, which is out of range "
                    "(a conditional jump skips 0..255 instructions forward)",
                    line=line,
                )
            if field == "jt":
                out[idx] = SockFilter(f.code, delta, f.jf, f.k)
            else:
                out[idx] = SockFilter(f.code, f.jt, delta, f.k)
        return out


def assemble(text: str) -> list[SockFilter]:
    """Assemble bpf_asm text (see the module doc) into classic instructions.

    Raises AsmError naming the line for anything bpf_asm would refuse.
    """
    p = _Parser(_tokens(text), text.splitlines())
    p.parse()
    if not p.out:
        raise AsmError("no instructions", line=1)
    return p.resolve()
