"""Reading classic programs in the forms people have them.

* raw ``struct sock_filter`` bytes (what setsockopt and seccomp(2) take, what
  libseccomp's ``seccomp_export_bpf`` writes): 8 bytes each, host byte order;
* ``tcpdump -dd`` C arrays: ``{ 0x28, 0, 0, 0x0000000c },`` — also with the
  kernel's ``BPF_STMT(...)`` / ``BPF_JUMP(...)`` macros and constant
  expressions of ``BPF_*``/``SKF_*`` names, as C programs write them;
* ``tcpdump -ddd``: the count, then ``code jt jf k`` per line;
* bpf_asm's one-line bytecode ``N,code jt jf k,...`` (iptables ``-m bpf``);
* ``tcpdump -d`` listings (libpcap's ``bpf_image``);
* the kernel's bpf_asm syntax (:mod:`pybpf.cbpf.asm`).

:func:`read_classic` tells them apart; every error names the line (or the
byte offset for raw bytes).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from .. import isa
from ..errors import AsmError, BpfError
from ..uapi import SKF_AD_OFF, SKF_LL_OFF, SKF_NET_OFF
from . import insn as ci
from .asm import assemble
from .insn import SockFilter, decode

__all__ = [
    "FORMS",
    "detect_form",
    "parse_bytecode",
    "parse_c_array",
    "parse_decimal",
    "parse_image",
    "read_classic",
]

#: the names C programs use in BPF_STMT/BPF_JUMP expressions
C_NAMES: dict[str, int] = {
    **{
        n: getattr(isa, n)
        for n in dir(isa)
        if n.startswith("BPF_") and isinstance(getattr(isa, n), int) and not n.startswith("BPF_REG")
    },
    **{n: getattr(ci, n) for n in dir(ci) if n.startswith(("BPF_", "SKF_")) and isinstance(getattr(ci, n), int)},
    "SKF_AD_OFF": SKF_AD_OFF,
    "SKF_NET_OFF": SKF_NET_OFF,
    "SKF_LL_OFF": SKF_LL_OFF,
}  # fmt: skip

_C_INT = re.compile(r"\b(0[xX][0-9A-Fa-f]+|\d+)[uUlL]*\b")


def _c_int(lit: str) -> int:
    """A C integer literal (hex, octal with a leading 0, decimal)."""
    if lit[:2] in ("0x", "0X"):
        return int(lit, 16)
    if len(lit) > 1 and lit[0] == "0":
        return int(lit, 8)
    return int(lit)


def _c_eval(expr: str, names: Mapping[str, int], line: int) -> int:
    """A C integer constant expression over ``names`` (no calls, no side effects)."""
    src = _C_INT.sub(lambda m: str(_c_int(m.group(1))), expr)
    src = src.replace("||", " or ").replace("&&", " and ")
    try:
        tree = ast.parse(src.strip(), mode="eval")
    except SyntaxError:
        raise AsmError(f"cannot read the C expression {expr.strip()!r}", line=line) from None

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise AsmError(f"unknown name {node.id!r} in {expr.strip()!r}", line=line)
            return names[node.id]
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            if isinstance(node.op, ast.USub):
                return -v
            if isinstance(node.op, ast.UAdd):
                return v
            if isinstance(node.op, ast.Invert):
                return ~v & 0xFFFF_FFFF
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            ops: dict[type, Callable[[int, int], int]] = {
                ast.Add: lambda x, y: x + y,
                ast.Sub: lambda x, y: x - y,
                ast.Mult: lambda x, y: x * y,
                ast.BitOr: lambda x, y: x | y,
                ast.BitAnd: lambda x, y: x & y,
                ast.BitXor: lambda x, y: x ^ y,
                ast.LShift: lambda x, y: x << y,
                ast.RShift: lambda x, y: x >> y,
            }
            fn = ops.get(type(node.op))
            if fn is not None:
                return fn(a, b)
        raise AsmError(f"cannot evaluate {expr.strip()!r} (a C constant expression)", line=line)

    return ev(tree)


def _split_args(s: str) -> list[str]:
    """Comma-separated arguments, commas inside parentheses kept."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def _strip_c_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group().count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _fits(line: int, code: int, jt: int, jf: int, k: int) -> SockFilter:
    if not 0 <= code <= 0xFFFF or not 0 <= jt <= 0xFF or not 0 <= jf <= 0xFF:
        raise AsmError(f"{{{code}, {jt}, {jf}, {k}}} does not fit struct sock_filter", line=line)
    if not -0x8000_0000 <= k <= 0xFFFF_FFFF:
        raise AsmError(f"k={k} does not fit in 32 bits", line=line)
    return SockFilter(code, jt, jf, k)


_MACRO = re.compile(r"BPF_(STMT|JUMP)\s*\(")


def parse_c_array(text: str, names: Mapping[str, int] | None = None) -> list[SockFilter]:
    """``tcpdump -dd`` output, or any C initializer of ``struct sock_filter``.

    Brace groups ``{ code, jt, jf, k }`` and the ``BPF_STMT(code, k)`` /
    ``BPF_JUMP(code, k, jt, jf)`` macros are read in order; their fields may be
    C constant expressions over BPF_*/SKF_* and ``names``.
    """
    env = {**C_NAMES, **(names or {})}
    src = _strip_c_comments(text)
    out: list[SockFilter] = []
    pos = 0
    while True:
        m_macro = _MACRO.search(src, pos)
        m_brace = re.search(r"\{([^{}]*)\}", src[pos:])
        cand = []
        if m_macro:
            cand.append((m_macro.start(), "macro", m_macro))
        if m_brace:
            cand.append((pos + m_brace.start(), "brace", m_brace))
        if not cand:
            break
        start, kind, m = min(cand, key=lambda c: c[0])
        line = src.count("\n", 0, start) + 1
        if kind == "macro":
            depth, j = 1, m.end()  # type: ignore[union-attr]
            while j < len(src) and depth:
                depth += {"(": 1, ")": -1}.get(src[j], 0)
                j += 1
            if depth:
                raise AsmError("unclosed BPF_STMT/BPF_JUMP", line=line)
            args = [a for a in _split_args(src[m.end() : j - 1])]  # type: ignore[union-attr]
            want = 2 if m.group(1) == "STMT" else 4  # type: ignore[union-attr]
            if len(args) != want:
                raise AsmError(
                    f"BPF_{m.group(1)} takes {want} arguments, not {len(args)}", line=line
                )  # type: ignore[union-attr]
            vals = [_c_eval(a, env, line) for a in args]
            if want == 2:
                out.append(_fits(line, vals[0], 0, 0, vals[1]))
            else:
                out.append(_fits(line, vals[0], vals[2], vals[3], vals[1]))
            pos = j
            continue
        body = m.group(1)  # type: ignore[union-attr]
        args = [a for a in _split_args(body) if a.strip()]
        if len(args) == 4:
            vals = [_c_eval(a, env, line) for a in args]
            out.append(_fits(line, *vals))
        elif args:
            # numbers in a group that is not 4 long: a broken sock_filter; anything else
            # (struct sock_fprog = { .len = 4, .filter = code }) is another initializer
            if all(re.fullmatch(r"\s*-?(0[xX][0-9A-Fa-f]+|\d+)[uUlL]*\s*", a) for a in args):
                raise AsmError(
                    f"{{{body.strip()}}} has {len(args)} fields; struct sock_filter has 4",
                    line=line,
                )
        pos = start + len(m.group(0))  # type: ignore[union-attr]
    if not out:
        raise AsmError("no { code, jt, jf, k } entries found", line=1)
    return out


def _ints(line: str, lineno: int) -> list[int]:
    try:
        return [int(t, 0) for t in line.split()]
    except ValueError:
        raise AsmError(f"expected numbers, found {line.strip()!r}", line=lineno) from None


def parse_decimal(text: str) -> list[SockFilter]:
    """``tcpdump -ddd`` output: the instruction count, then ``code jt jf k`` per line."""
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    if not lines:
        raise AsmError("empty program", line=1)
    first_no, first = lines[0]
    head = _ints(first, first_no)
    if len(head) != 1:
        raise AsmError("the first line must be the instruction count", line=first_no)
    out = []
    for no, ln in lines[1:]:
        vals = _ints(ln, no)
        if len(vals) != 4:
            raise AsmError(f"expected 'code jt jf k', found {ln.strip()!r}", line=no)
        out.append(_fits(no, *vals))
    if head[0] != len(out):
        raise AsmError(f"the count says {head[0]} instructions, {len(out)} follow", line=first_no)
    return out


def parse_bytecode(text: str) -> list[SockFilter]:
    """bpf_asm's ``N,code jt jf k,...`` (commas between instructions, also newlines)."""
    parts = [p for p in re.split(r"[,\n]", text.strip()) if p.strip()]
    if not parts:
        raise AsmError("empty program", line=1)
    head = _ints(parts[0], 1)
    if len(head) != 1:
        raise AsmError("bytecode must start with the instruction count", line=1)
    out = []
    for p in parts[1:]:
        vals = _ints(p, 1)
        if len(vals) != 4:
            raise AsmError(f"expected 'code jt jf k', found {p.strip()!r}", line=1)
        out.append(_fits(1, *vals))
    if head[0] != len(out):
        raise AsmError(f"the count says {head[0]} instructions, {len(out)} follow", line=1)
    return out


_IMAGE = re.compile(r"^\((\d+)\)\s+(\w+)\s*(.*?)\s*(?:jt\s+(\d+)\s+jf\s+(\d+))?\s*$")
#: libpcap's names of the ancillary loads (``[proto]`` ...) and their k
_IMAGE_ANC = {a.image: a.k for a in ci.ANCILLARY.values()}


_IMG_SIZES = {"ld": isa.BPF_W, "ldh": isa.BPF_H, "ldb": isa.BPF_B}
_IMG_ALU = {
    "add": isa.BPF_ADD, "sub": isa.BPF_SUB, "mul": isa.BPF_MUL, "div": isa.BPF_DIV,
    "mod": isa.BPF_MOD, "and": isa.BPF_AND, "or": isa.BPF_OR, "xor": isa.BPF_XOR,
    "lsh": isa.BPF_LSH, "rsh": isa.BPF_RSH,
}  # fmt: skip
_IMG_JMP = {"jeq": isa.BPF_JEQ, "jgt": isa.BPF_JGT, "jge": isa.BPF_JGE, "jset": isa.BPF_JSET}
_IMG_MEM = {
    "ld": isa.BPF_LD | isa.BPF_MEM, "ldx": isa.BPF_LDX | isa.BPF_MEM,
    "st": isa.BPF_ST, "stx": isa.BPF_STX,
}  # fmt: skip
_SIMPLE_IMG = {
    ("neg", ""): isa.BPF_ALU | isa.BPF_NEG,
    ("tax", ""): ci.BPF_MISC | ci.BPF_TAX,
    ("txa", ""): ci.BPF_MISC | ci.BPF_TXA,
    ("ret", ""): ci.BPF_RET | ci.BPF_A,
    ("ld", "#pktlen"): isa.BPF_LD | isa.BPF_W | ci.BPF_LEN,
    ("ldx", "#pktlen"): isa.BPF_LDX | isa.BPF_W | ci.BPF_LEN,
}


def _image_insn(n: int, op: str, operand: str, jt: str | None, jf: str | None) -> SockFilter:
    """One ``tcpdump -d`` instruction (``n`` is its index: jump targets are absolute)."""

    def num(s: str) -> int:
        try:
            return int(s.strip().lstrip("#"), 0) & 0xFFFF_FFFF
        except ValueError:
            raise BpfError(f"bad operand {operand!r} for {op}") from None

    if (op, operand) in _SIMPLE_IMG:
        return SockFilter(_SIMPLE_IMG[op, operand])
    if op in _IMG_JMP:
        if jt is None or jf is None:
            raise BpfError(f"{op} needs 'jt N jf M'")
        src = isa.BPF_X if operand == "x" else isa.BPF_K
        djt, djf = int(jt) - n - 1, int(jf) - n - 1
        if not (0 <= djt <= 255 and 0 <= djf <= 255):
            raise BpfError("jump targets must be 1..256 instructions ahead")
        return SockFilter(isa.BPF_JMP | _IMG_JMP[op] | src, djt, djf, 0 if src else num(operand))
    if op == "ja":
        return SockFilter(isa.BPF_JMP | isa.BPF_JA, 0, 0, num(operand) - n - 1)
    if op == "ret":
        return SockFilter(ci.BPF_RET | isa.BPF_K, 0, 0, num(operand))
    if op in ("ld", "ldx") and operand.startswith("#"):
        return SockFilter(
            (isa.BPF_LD if op == "ld" else isa.BPF_LDX) | isa.BPF_IMM, 0, 0, num(operand)
        )
    if op in _IMG_MEM and operand.startswith("M[") and operand.endswith("]"):
        return SockFilter(_IMG_MEM[op], 0, 0, num(operand[2:-1]))
    if op in _IMG_SIZES and operand.startswith("[") and operand.endswith("]"):
        inner = operand[1:-1].strip()
        ind = re.fullmatch(r"x\s*\+\s*(-?\d+)", inner)
        if ind:
            return SockFilter(isa.BPF_LD | _IMG_SIZES[op] | isa.BPF_IND, 0, 0, num(ind.group(1)))
        k = _IMAGE_ANC[inner] if inner in _IMAGE_ANC else num(inner)
        return SockFilter(isa.BPF_LD | _IMG_SIZES[op] | isa.BPF_ABS, 0, 0, k)
    if op == "ldxb":
        mm = re.fullmatch(r"4\*\(\[(-?\d+)\]&0xf\)", operand)
        if mm is None:
            raise BpfError(f"bad ldxb operand {operand!r}")
        return SockFilter(isa.BPF_LDX | ci.BPF_MSH | isa.BPF_B, 0, 0, num(mm.group(1)))
    if op in _IMG_ALU:
        if operand == "x":
            return SockFilter(isa.BPF_ALU | _IMG_ALU[op] | isa.BPF_X)
        return SockFilter(isa.BPF_ALU | _IMG_ALU[op] | isa.BPF_K, 0, 0, num(operand))
    if op == "unimp":
        return SockFilter(num(operand) & 0xFFFF)
    raise BpfError(f"unknown tcpdump -d instruction {op!r} {operand!r}")


def parse_image(text: str) -> list[SockFilter]:
    """A ``tcpdump -d`` listing back to instructions (jump targets are absolute there)."""
    out: list[SockFilter] = []
    for no, ln in enumerate(text.splitlines(), 1):
        if not ln.strip():
            continue
        m = _IMAGE.match(ln.strip())
        if m is None:
            raise AsmError(f"not a tcpdump -d line: {ln.strip()!r}", line=no)
        n = int(m.group(1))
        if n != len(out):
            raise AsmError(f"instruction ({n:03d}) is out of order (expected {len(out)})", line=no)
        try:
            out.append(_image_insn(n, m.group(2), m.group(3).strip(), m.group(4), m.group(5)))
        except BpfError as e:
            raise AsmError(e.message, line=no, text=ln) from None
    if not out:
        raise AsmError("empty listing", line=1)
    return out


#: the forms :func:`read_classic` knows
FORMS = ("raw", "c", "ddd", "bytecode", "image", "asm")


def detect_form(data: bytes) -> str:
    """Which form ``data`` is in (see :data:`FORMS`)."""
    if b"\0" in data:
        return "raw"
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return "raw"
    body = _strip_c_comments(text)
    lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
    if not lines:
        raise BpfError("the program is empty")
    if "{" in body and re.search(r"\{[^{}]*,[^{}]*,[^{}]*,[^{}]*\}", body) or _MACRO.search(body):
        return "c"
    if re.match(r"^\(\d+\)\s", lines[0]):
        return "image"
    if re.fullmatch(r"\d+\s*,.*", lines[0]) and len(lines) == 1:
        return "bytecode"
    if re.fullmatch(r"\d+", lines[0]) and all(
        re.fullmatch(r"\d+\s+\d+\s+\d+\s+\d+", ln) for ln in lines[1:]
    ):
        return "ddd"
    return "asm"


def read_classic(
    source: str | os.PathLike[str] | bytes | bytearray,
    *,
    form: str | None = None,
    names: Mapping[str, int] | None = None,
) -> list[SockFilter]:
    """A classic program from a file path or its contents, in any form of :data:`FORMS`.

    ``form`` forces one form; ``names`` adds constants for C expressions. The
    program is only read, not checked (see :func:`pybpf.cbpf.check.check_classic`).
    Errors name the file and the line or offset.
    """
    label = ""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        label = str(path)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise BpfError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        kind = form or detect_form(data)
        if kind == "raw":
            return decode(data)
        text = data.decode(errors="replace")
        if kind == "c":
            return parse_c_array(text, names)
        if kind == "ddd":
            return parse_decimal(text)
        if kind == "bytecode":
            return parse_bytecode(text)
        if kind == "image":
            return parse_image(text)
        if kind == "asm":
            return assemble(text)
        raise BpfError(f"unknown classic program form {kind!r} (choose from {', '.join(FORMS)})")
    except BpfError as e:
        if label:
            raise BpfError(f"{label}: {e}", errno=e.errno) from None
        raise
