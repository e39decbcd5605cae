"""Seccomp policies as readable text: ``pybpf seccomp dump`` and ``pybpf seccomp asm``.

The syntax is seccomp-tools' (one statement per instruction, C-like)::

     line  CODE  JT   JF      K
    =================================
     0000: 0x20 0x00 0x00 0x00000004  A = arch
     0001: 0x15 0x00 0x05 0xc000003e  if (A != ARCH_X86_64) goto 0007
     0002: 0x20 0x00 0x00 0x00000000  A = sys_number
     0003: 0x15 0x02 0x00 0x00000003  if (A == close) goto 0006
     0004: 0x15 0x01 0x00 0x0000003c  if (A == exit) goto 0006
     0005: 0x06 0x00 0x00 0x00050001  return ERRNO(1)
     0006: 0x06 0x00 0x00 0x7fff0000  return ALLOW
     0007: 0x06 0x00 0x00 0x80000000  return KILL_PROCESS

:func:`dump` prints it, with system call names for the policy's architecture
where A holds the system call number and ARCH_* names where it holds the
architecture. :func:`assemble` reads it back — the ``NNNN: 0x.. ..`` columns
are optional, so one can write just the statements — and the same statements
by hand, with named labels (``allow:`` on a line of its own or before a
statement). Statements:

* ``A = sys_number | nr | arch | instruction_pointer [>> 32] | args[i] [>> 32] | data[k]``
  (the 32-bit word at offset k), ``A = len``, ``A = X``, ``A = M[k]``, ``A = VALUE``;
  ``X = A | M[k] | len | VALUE``; ``M[k] = A``, ``M[k] = X``;
* ``A += VALUE`` (also ``-= *= /= &= |= ^= <<= >>=``, and ``%=``, which seccomp
  refuses), ``A = -A``;
* ``if (A OP VALUE) goto L [else goto L2]`` with ``== != > >= < <= &``, and
  ``if !(A & VALUE) goto L``; ``goto L``;
* ``return ACTION`` (``ALLOW``, ``ERRNO(1)``, ``TRAP(5)``, ``TRACE(2)``, ``LOG``,
  ``USER_NOTIF``, ``KILL_THREAD``/``KILL``, ``KILL_PROCESS``, a number) or ``return A``.

A VALUE is a number, ``X``, a system call name of the policy's architecture
(``read``, ``__NR_read``, ``x32:read``) or ``ARCH_X86_64`` / ``AUDIT_ARCH_I386``
and friends. Comments start with ``#``, ``//`` or ``;``. Errors name the line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..cbpf.insn import (
    BPF_A,
    BPF_LEN,
    BPF_MISC,
    BPF_MSH,
    BPF_RET,
    BPF_TAX,
    BPF_TXA,
    SockFilter,
    is_cond_jump,
)
from ..errors import AsmError, BpfError
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
from .actions import Action, parse_action
from .data import AUDIT_ARCH, X32_SYSCALL_BIT, arch_name, field_name
from .syscalls import resolve_syscall, syscall_name

__all__ = ["assemble", "dump", "guess_arch", "looks_like_seccomp_text"]

_OPS = {BPF_ADD: "+", BPF_SUB: "-", BPF_MUL: "*", BPF_DIV: "/", BPF_MOD: "%",
        BPF_AND: "&", BPF_OR: "|", BPF_XOR: "^", BPF_LSH: "<<", BPF_RSH: ">>"}  # fmt: skip
_OP_CODES = {v: k for k, v in _OPS.items()}
_ARCH_CONST = {f"ARCH_{n.upper()}": v for n, v in AUDIT_ARCH.items()} | {
    f"AUDIT_ARCH_{n.upper()}": v for n, v in AUDIT_ARCH.items()
}


def guess_arch(prog: Sequence[SockFilter], default: str = "x86_64") -> str:
    """The architecture the policy checks for first (``A == ARCH_...`` after ``A = arch``)."""
    a_is_arch = False
    for f in prog:
        if f.code == BPF_LD | BPF_W | BPF_ABS:
            a_is_arch = f.k == 4
        elif is_cond_jump(f.code) and a_is_arch and not f.code & BPF_X:
            name = arch_name(f.k)
            if name:
                return name
    return default


# --- dump ----------------------------------------------------------------------------------------
def _a_sources(prog: Sequence[SockFilter]) -> list[str | None]:
    """For each instruction: what A holds when it runs ("nr", "arch" or None)."""
    n = len(prog)
    incoming: list[list[str | None]] = [[] for _ in range(n + 1)]
    incoming[0].append(None)
    state: list[str | None] = []
    for i, f in enumerate(prog):
        ins = incoming[i]
        cur = ins[0] if ins and all(x == ins[0] for x in ins) else None
        state.append(cur)
        code = f.code
        out: str | None = cur
        if code & 0x07 in (BPF_LD, BPF_ALU) or code == BPF_MISC | BPF_TXA:
            out = None
            if code == BPF_LD | BPF_W | BPF_ABS and f.k in (0, 4):
                out = "nr" if f.k == 0 else "arch"
        if code == BPF_JMP | BPF_JA:
            if i + 1 + f.k <= n:
                incoming[i + 1 + f.k].append(out)
        elif is_cond_jump(code):
            for t in (i + 1 + f.jt, i + 1 + f.jf):
                if t <= n:
                    incoming[t].append(out)
        elif code & 0x07 != BPF_RET:
            incoming[i + 1].append(out)
    return state


def _value(k: int, src: str | None, arch: str, eq: bool) -> str:
    """``k`` by name where A holds the arch, or the syscall number and ``eq`` (== / !=)."""
    if src == "arch":
        name = arch_name(k)
        if name:
            return f"ARCH_{name.upper()}"
    if src == "nr" and eq:
        name = syscall_name(k, arch)
        if name:
            return name
    return f"{k:#x}"


def _stmt(f: SockFilter, i: int, src: str | None, arch: str) -> str:
    code, k = f.code, f.k
    cls = code & 0x07
    if cls == BPF_LD and code & 0xE0 == BPF_ABS:
        cast = {BPF_W: "", BPF_H: "(u16)", BPF_B: "(u8)"}[code & 0x18]
        word = field_name(f.sk) if code & 0x18 == BPF_W else f"data[{f.sk}]"
        return f"A = {cast}{word}"
    if cls == BPF_LD and code & 0xE0 == BPF_IND:
        cast = {BPF_W: "", BPF_H: "(u16)", BPF_B: "(u8)"}[code & 0x18]
        return f"A = {cast}data[X + {f.sk}]"
    simple = {
        BPF_LD | BPF_W | BPF_LEN: "A = len",
        BPF_LDX | BPF_W | BPF_LEN: "X = len",
        BPF_LD | BPF_IMM: f"A = {k:#x}",
        BPF_LDX | BPF_IMM: f"X = {k:#x}",
        BPF_LD | BPF_MEM: f"A = M[{k}]",
        BPF_LDX | BPF_MEM: f"X = M[{k}]",
        BPF_ST: f"M[{k}] = A",
        BPF_STX: f"M[{k}] = X",
        BPF_MISC | BPF_TAX: "X = A",
        BPF_MISC | BPF_TXA: "A = X",
        BPF_ALU | BPF_NEG: "A = -A",
        BPF_LDX | BPF_MSH | BPF_B: f"X = 4 * (data[{f.sk}] & 0xf)",
        BPF_JMP | BPF_JA: f"goto {i + 1 + k:04d}",
        BPF_RET | BPF_A: "return A",
        BPF_RET | BPF_X: "return X",
    }
    if code in simple:
        return simple[code]
    if code == BPF_RET | BPF_K:
        act = Action(k)
        return f"return {act}" if act.known else f"return {k:#010x}"
    if cls == BPF_ALU and code & 0xF0 in _OPS:
        return f"A {_OPS[code & 0xF0]}= " + ("X" if code & BPF_X else f"{k:#x}")
    if is_cond_jump(code):
        op = code & 0xF0
        v = "X" if code & BPF_X else _value(k, src, arch, op == BPF_JEQ)
        t, fl = f"{i + 1 + f.jt:04d}", f"{i + 1 + f.jf:04d}"
        pos = {BPF_JEQ: "==", BPF_JGT: ">", BPF_JGE: ">=", BPF_JSET: "&"}[op]
        neg = {BPF_JEQ: "!=", BPF_JGT: "<=", BPF_JGE: "<"}
        if f.jt and f.jf == 0 or f.jt == f.jf == 0:
            return f"if (A {pos} {v}) goto {t}"
        if f.jt == 0:
            if op == BPF_JSET:
                return f"if !(A & {v}) goto {fl}"
            return f"if (A {neg[op]} {v}) goto {fl}"
        return f"if (A {pos} {v}) goto {t} else goto {fl}"
    return f"unknown opcode {code:#06x}"


def dump(prog: Sequence[SockFilter], arch: str | None = None, *, header: bool = True) -> str:
    """The policy in seccomp-tools' syntax (see the module doc)."""
    arch = arch or guess_arch(prog)
    srcs = _a_sources(prog)
    lines = [" line  CODE  JT   JF      K", "================================="] if header else []
    for i, f in enumerate(prog):
        lines.append(
            f" {i:04d}: 0x{f.code:02x} 0x{f.jt:02x} 0x{f.jf:02x} 0x{f.k:08x}  "
            + _stmt(f, i, srcs[i], arch)
        )
    return "\n".join(lines) + "\n"


# --- asm -----------------------------------------------------------------------------------------
_PREFIX = re.compile(
    r"^\s*(\d+)\s*:\s*(?:0x[0-9a-fA-F]+\s+0x[0-9a-fA-F]+\s+0x[0-9a-fA-F]+\s+0x[0-9a-fA-F]+\s+)?"
)
_LABEL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:(?!\S*\s*=)\s*")
_COND = re.compile(
    r"^if\s*(?P<not>!)?\s*\(\s*A\s*(?P<op>==|!=|>=|<=|>|<|&)\s*(?P<v>[^)]+?)\s*\)\s*goto\s+(?P<t>\w+)"
    r"(?:\s+else\s+goto\s+(?P<f>\w+))?$"
)
_WORD = re.compile(
    r"^(?:\((?P<cast>u8|u16|u32)\))?\s*(?P<what>sys_number|nr|arch|instruction_pointer"
    r"|args\[\s*(?P<arg>[0-5])\s*\]|data\[\s*(?P<ind>X\s*\+\s*)?(?P<k>-?(?:0x)?[0-9a-fA-F]+)\s*\])"
    r"(?:\s*>>\s*32)?$"
)


class _Asm:
    def __init__(self, text: str, arch: str):
        self.arch = arch
        self.lines = text.splitlines()
        self.out: list[SockFilter] = []
        self.labels: dict[str, int] = {}
        #: (insn index, kind "k"/"jt"/"jf", label text, line number)
        self.refs: list[tuple[int, str, str, int]] = []

    def err(self, msg: str, no: int) -> AsmError:
        return AsmError(
            msg, line=no, text=self.lines[no - 1] if 0 < no <= len(self.lines) else None
        )

    def value(self, text: str, no: int) -> int:
        t = text.strip()
        if t in _ARCH_CONST:
            return _ARCH_CONST[t]
        try:
            return int(t, 0) & 0xFFFF_FFFF
        except ValueError:
            pass
        if t.startswith("x32:"):
            try:
                return resolve_syscall(t[4:], "x86_64") | X32_SYSCALL_BIT
            except BpfError as e:
                raise self.err(e.message, no) from None
        try:
            return resolve_syscall(t, self.arch) & 0xFFFF_FFFF
        except BpfError:
            raise self.err(
                f"{t!r} is not a number, ARCH_* name or {self.arch} system call", no
            ) from None

    def emit(self, code: int, k: int = 0, jt: int = 0, jf: int = 0) -> int:
        self.out.append(SockFilter(code, jt, jf, k & 0xFFFF_FFFF))
        return len(self.out) - 1

    def load(self, dst: str, rhs: str, no: int) -> None:
        cls = BPF_LD if dst == "A" else BPF_LDX
        r = rhs.strip()
        if r == "len":
            self.emit(cls | BPF_W | BPF_LEN)
            return
        m = re.fullmatch(r"M\[\s*(\d+)\s*\]", r)
        if m:
            self.emit(cls | BPF_MEM, int(m.group(1)))
            return
        if dst == "X" and r == "A":
            self.emit(BPF_MISC | BPF_TAX)
            return
        if dst == "A" and r == "X":
            self.emit(BPF_MISC | BPF_TXA)
            return
        if dst == "A" and r == "-A":
            self.emit(BPF_ALU | BPF_NEG)
            return
        m = re.fullmatch(r"4\s*\*\s*\(\s*data\[\s*(-?(?:0x)?[0-9a-fA-F]+)\s*\]\s*&\s*0xf\s*\)", r)
        if m and dst == "X":
            self.emit(BPF_LDX | BPF_MSH | BPF_B, int(m.group(1), 0))
            return
        m = _WORD.match(r)
        if m and dst == "A":
            hi = r.rstrip().endswith("32") and ">>" in r
            size = {None: BPF_W, "u32": BPF_W, "u16": BPF_H, "u8": BPF_B}[m.group("cast")]
            what = m.group("what")
            if what in ("sys_number", "nr"):
                k = 0
            elif what == "arch":
                k = 4
            elif what == "instruction_pointer":
                k = 8 + (4 if hi else 0)
            elif m.group("arg") is not None:
                k = 16 + 8 * int(m.group("arg")) + (4 if hi else 0)
            else:
                k = int(m.group("k"), 0)
                if hi:
                    raise self.err("'>> 32' applies to args[i] and instruction_pointer", no)
            mode = BPF_IND if m.group("ind") else BPF_ABS
            self.emit(BPF_LD | size | mode, k)
            return
        self.emit(cls | BPF_IMM, self.value(r, no))

    def ref(self, idx: int, kind: str, label: str, no: int) -> None:
        self.refs.append((idx, kind, label, no))

    def statement(self, s: str, no: int) -> None:
        if s.startswith("return"):
            arg = s[len("return") :].strip()
            if arg == "A":
                self.emit(BPF_RET | BPF_A)
            elif arg == "X":
                self.emit(BPF_RET | BPF_X)
            else:
                try:
                    self.emit(BPF_RET | BPF_K, parse_action(arg))
                except BpfError as e:
                    raise self.err(e.message, no) from None
            return
        m = re.fullmatch(r"goto\s+(\w+)", s)
        if m:
            self.ref(self.emit(BPF_JMP | BPF_JA), "k", m.group(1), no)
            return
        m = _COND.match(s)
        if m:
            op, neg = m.group("op"), bool(m.group("not"))
            if neg and op != "&":
                raise self.err("'if !(...)' takes A & VALUE only", no)
            base, swap = {"==": (BPF_JEQ, False), "!=": (BPF_JEQ, True), ">": (BPF_JGT, False),
                          "<=": (BPF_JGT, True), ">=": (BPF_JGE, False), "<": (BPF_JGE, True),
                          "&": (BPF_JSET, neg)}[op]  # fmt: skip
            v = m.group("v").strip()
            if v == "X":
                idx = self.emit(BPF_JMP | base | BPF_X)
            else:
                idx = self.emit(BPF_JMP | base | BPF_K, self.value(v, no))
            true_kind, false_kind = ("jf", "jt") if swap else ("jt", "jf")
            self.ref(idx, true_kind, m.group("t"), no)
            if m.group("f"):
                self.ref(idx, false_kind, m.group("f"), no)
            return
        m = re.fullmatch(r"M\[\s*(\d+)\s*\]\s*=\s*([AX])", s)
        if m:
            self.emit(BPF_ST if m.group(2) == "A" else BPF_STX, int(m.group(1)))
            return
        m = re.fullmatch(r"A\s*(\+|-|\*|/|%|&|\||\^|<<|>>)=\s*(.+)", s)
        if m:
            op = _OP_CODES[m.group(1)]
            v = m.group(2).strip()
            if v == "X":
                self.emit(BPF_ALU | op | BPF_X)
            else:
                self.emit(BPF_ALU | op | BPF_K, self.value(v, no))
            return
        m = re.fullmatch(r"([AX])\s*=\s*(.+)", s)
        if m:
            self.load(m.group(1), m.group(2), no)
            return
        raise self.err(f"cannot read the statement {s!r}", no)

    def run(self) -> list[SockFilter]:
        for no, raw in enumerate(self.lines, 1):
            line = re.split(r"#|//|;", raw, maxsplit=1)[0].rstrip()
            if not line.strip() or set(line.strip()) <= {"="}:
                continue
            if re.fullmatch(r"\s*line\s+CODE\s+JT\s+JF\s+K\s*", line):
                continue
            m = _PREFIX.match(line)
            if m:
                if int(m.group(1)) != len(self.out):
                    raise self.err(
                        f"line number {m.group(1)} is out of order (expected {len(self.out):04d})",
                        no,
                    )
                line = line[m.end() :]
            while True:
                m = _LABEL.match(line)
                if m is None or m.group(1) in ("A", "X", "M", "if", "goto", "return"):
                    break
                if m.group(1) in self.labels:
                    raise self.err(f"label {m.group(1)!r} is defined twice", no)
                self.labels[m.group(1)] = len(self.out)
                line = line[m.end() :]
            if line.strip():
                self.statement(line.strip(), no)
        if not self.out:
            raise AsmError("no instructions", line=1)
        return self.resolve()

    def resolve(self) -> list[SockFilter]:
        out = self.out
        for idx, kind, label, no in self.refs:
            if label in self.labels:
                target = self.labels[label]
            elif label.isdigit():
                target = int(label)
            else:
                raise self.err(f"no such label {label!r}", no)
            delta = target - idx - 1
            f = out[idx]
            if kind == "k":
                if delta < 0:
                    raise self.err(f"goto {label}: classic jumps go forward only", no)
                out[idx] = SockFilter(f.code, f.jt, f.jf, delta)
            elif not 0 <= delta <= 255:
                raise self.err(
                    f"goto {label}: a conditional jump skips 0..255 instructions forward "
                    f"(this one would skip {delta})",
                    no,
                )
            elif kind == "jt":
                out[idx] = SockFilter(f.code, delta, f.jf, f.k)
            else:
                out[idx] = SockFilter(f.code, f.jt, delta, f.k)
        return out


def assemble(text: str, arch: str = "x86_64") -> list[SockFilter]:
    """Seccomp-tools syntax (module doc) to instructions; system call names for ``arch``."""
    return _Asm(text, arch).run()


def looks_like_seccomp_text(text: str) -> bool:
    """Whether ``text`` is in this syntax (statements with '=' or 'return')."""
    for raw in text.splitlines():
        line = re.split(r"#|//|;", raw, maxsplit=1)[0].strip()
        if not line or set(line) <= {"="} or line.startswith("line"):
            continue
        line = _PREFIX.sub("", line)
        return bool(re.match(r"^(\w+:\s*)?(A\b|X\b|M\[|if\b|goto\b|return\b)", line))
    return False
