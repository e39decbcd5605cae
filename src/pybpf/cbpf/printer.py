"""Classic programs as text: ``tcpdump -d``, ``-dd``, ``-ddd``, bpf_asm syntax, xt_bpf bytecode.

* :func:`image` — libpcap's ``bpf_dump``/``bpf_image`` (what ``tcpdump -d``
  prints), character for character, including its column padding;
* :func:`c_array` / :func:`decimal` — ``tcpdump -dd`` and ``tcpdump -ddd``;
* :func:`bytecode` — the one-line ``N,code jt jf k,...`` form bpf_asm prints by
  default and iptables' ``-m bpf --bytecode`` takes;
* :func:`bpf_asm` — text the kernel's tools/bpf/bpf_asm assembles back to the
  same instructions, with ``L<n>`` labels on jump targets.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import BpfError
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
from .insn import (
    BPF_A,
    BPF_LEN,
    BPF_MISC,
    BPF_MSH,
    BPF_RET,
    BPF_TAX,
    BPF_TXA,
    SKF_AD_ALU_XOR_X,
    SockFilter,
    ancillary_of,
    is_cond_jump,
)

__all__ = ["bpf_asm", "bytecode", "c_array", "decimal", "image", "image_line"]

_ALU_NAMES = {
    BPF_ADD: "add", BPF_SUB: "sub", BPF_MUL: "mul", BPF_DIV: "div", BPF_MOD: "mod",
    BPF_AND: "and", BPF_OR: "or", BPF_XOR: "xor", BPF_LSH: "lsh", BPF_RSH: "rsh",
}  # fmt: skip
#: ALU ops whose immediate libpcap prints in hex (the rest print as signed decimal)
_HEX_ALU = (BPF_AND, BPF_OR, BPF_XOR)
_JMP_NAMES = {BPF_JEQ: "jeq", BPF_JGT: "jgt", BPF_JGE: "jge", BPF_JSET: "jset"}
_LD_NAMES = {BPF_W: "ld", BPF_H: "ldh", BPF_B: "ldb"}


def _s32(k: int) -> int:
    return k - (1 << 32) if k & 0x8000_0000 else k


def _image_parts(f: SockFilter, n: int) -> tuple[str, str]:
    """(op, operand) as libpcap 1.10's bpf_image() names them."""
    code, k = f.code, f.k
    cls = code & 0x07
    if code == BPF_RET | BPF_K:
        return "ret", f"#{_s32(k)}"
    if code == BPF_RET | BPF_A:
        return "ret", ""
    if cls == BPF_LD and code & 0xE0 == BPF_ABS and code & 0x18 in _LD_NAMES:
        anc = ancillary_of(code, k)
        return _LD_NAMES[code & 0x18], f"[{anc.image}]" if anc else f"[{_s32(k)}]"
    if code == BPF_LD | BPF_W | BPF_LEN:
        return "ld", "#pktlen"
    if code == BPF_LDX | BPF_W | BPF_LEN:
        return "ldx", "#pktlen"
    if cls == BPF_LD and code & 0xE0 == BPF_IND and code & 0x18 in _LD_NAMES:
        return _LD_NAMES[code & 0x18], f"[x + {_s32(k)}]"
    if code == BPF_LD | BPF_IMM:
        return "ld", f"#0x{k:x}"
    if code == BPF_LDX | BPF_IMM:
        return "ldx", f"#0x{k:x}"
    if code == BPF_LDX | BPF_MSH | BPF_B:
        return "ldxb", f"4*([{_s32(k)}]&0xf)"
    if code == BPF_LD | BPF_MEM:
        return "ld", f"M[{_s32(k)}]"
    if code == BPF_LDX | BPF_MEM:
        return "ldx", f"M[{_s32(k)}]"
    if code == BPF_ST:
        return "st", f"M[{_s32(k)}]"
    if code == BPF_STX:
        return "stx", f"M[{_s32(k)}]"
    if code == BPF_JMP | BPF_JA:
        return "ja", f"{_s32(n + 1 + k)}"
    if is_cond_jump(code):
        return _JMP_NAMES[code & 0xF0], "x" if code & BPF_X else f"#0x{k:x}"
    if cls == BPF_ALU and code & 0xF0 in _ALU_NAMES:
        alu = code & 0xF0
        if code & BPF_X:
            return _ALU_NAMES[alu], "x"
        return _ALU_NAMES[alu], f"#0x{k:x}" if alu in _HEX_ALU else f"#{_s32(k)}"
    if code == BPF_ALU | BPF_NEG:
        return "neg", ""
    if code == BPF_MISC | BPF_TAX:
        return "tax", ""
    if code == BPF_MISC | BPF_TXA:
        return "txa", ""
    return "unimp", f"0x{code:x}"


def image_line(f: SockFilter, n: int) -> str:
    """One line of ``tcpdump -d`` (libpcap's bpf_image)."""
    op, operand = _image_parts(f, n)
    if is_cond_jump(f.code):
        return f"({n:03d}) {op:<8s} {operand:<16s} jt {n + 1 + f.jt}\tjf {n + 1 + f.jf}"
    return f"({n:03d}) {op:<8s} {operand}"


def image(prog: Sequence[SockFilter]) -> str:
    """The program as ``tcpdump -d`` prints it."""
    return "".join(image_line(f, n) + "\n" for n, f in enumerate(prog))


def c_array(prog: Sequence[SockFilter]) -> str:
    """The program as ``tcpdump -dd`` prints it (a C initializer of struct sock_filter)."""
    return "".join(f"{{ 0x{f.code:x}, {f.jt}, {f.jf}, 0x{f.k:08x} }},\n" for f in prog)


def decimal(prog: Sequence[SockFilter]) -> str:
    """The program as ``tcpdump -ddd`` prints it: the count, then ``code jt jf k`` lines."""
    return f"{len(prog)}\n" + "".join(f"{f.code} {f.jt} {f.jf} {f.k}\n" for f in prog)


def bytecode(prog: Sequence[SockFilter]) -> str:
    """bpf_asm's default output: ``N,code jt jf k,code jt jf k,...`` on one line."""
    return f"{len(prog)}," + ",".join(f"{f.code} {f.jt} {f.jf} {f.k}" for f in prog) + "\n"


# --- bpf_asm syntax ------------------------------------------------------------------------------
def _targets(prog: Sequence[SockFilter]) -> set[int]:
    out: set[int] = set()
    for i, f in enumerate(prog):
        if f.code == BPF_JMP | BPF_JA:
            out.add(i + 1 + f.k)
        elif is_cond_jump(f.code):  # the labels _asm_insn() writes
            if f.jf == 0:
                out.add(i + 1 + f.jt)
            elif f.jt == 0 and f.code & 0xF0 != BPF_JSET:
                out.add(i + 1 + f.jf)
            else:  # both ("jset #k, L<next>, L<false>": bpf_asm has no negated jset)
                out |= {i + 1 + f.jt, i + 1 + f.jf}
    return out


def _asm_insn(f: SockFilter, i: int) -> tuple[str, str]:
    """(instruction text, comment) in bpf_asm syntax."""
    code, k = f.code, f.k
    cls = code & 0x07

    def lab(j: int) -> str:
        return f"L{j}"

    if cls == BPF_LD and code & 0xE0 == BPF_ABS and code & 0x18 in _LD_NAMES:
        op = _LD_NAMES[code & 0x18]
        anc = ancillary_of(code, k)
        if anc is None:
            return f"{op} [{_s32(k)}]", ""
        if anc.number == SKF_AD_ALU_XOR_X:  # bpf_asm has no name for it
            return f"{op} [{_s32(k)}]", "SKF_AD_ALU_XOR_X: A ^= X"
        return f"{op} #{anc.asm}", ""
    if cls == BPF_LD and code & 0xE0 == BPF_IND and code & 0x18 in _LD_NAMES:
        return f"{_LD_NAMES[code & 0x18]} [x + {_s32(k)}]", ""
    simple = {
        BPF_LD | BPF_W | BPF_LEN: "ld #len",
        BPF_LDX | BPF_W | BPF_LEN: "ldx #len",
        BPF_LD | BPF_IMM: f"ld #{k:#x}",
        BPF_LDX | BPF_IMM: f"ldx #{k:#x}",
        BPF_LDX | BPF_MSH | BPF_B: f"ldx 4*([{_s32(k)}]&0xf)",
        BPF_LD | BPF_MEM: f"ld M[{k}]",
        BPF_LDX | BPF_MEM: f"ldx M[{k}]",
        BPF_ST: f"st M[{k}]",
        BPF_STX: f"stx M[{k}]",
        BPF_JMP | BPF_JA: f"ja {lab(i + 1 + k)}",
        BPF_RET | BPF_K: f"ret #{k}",
        BPF_RET | BPF_A: "ret a",
        BPF_RET | BPF_X: "ret x",
        BPF_ALU | BPF_NEG: "neg",
        BPF_MISC | BPF_TAX: "tax",
        BPF_MISC | BPF_TXA: "txa",
    }
    if code in simple:
        return simple[code], ""
    if is_cond_jump(code):
        jop = code & 0xF0
        operand = "x" if code & BPF_X else f"#{k:#x}"
        t, fl = lab(i + 1 + f.jt), lab(i + 1 + f.jf)
        if f.jf == 0:
            return f"{_JMP_NAMES[jop]} {operand}, {t}", ""
        if f.jt == 0 and jop != BPF_JSET:
            neg = {BPF_JEQ: "jneq", BPF_JGT: "jle", BPF_JGE: "jlt"}[jop]
            return f"{neg} {operand}, {fl}", ""
        return f"{_JMP_NAMES[jop]} {operand}, {t}, {fl}", ""
    if cls == BPF_ALU and code & 0xF0 in _ALU_NAMES:
        alu = code & 0xF0
        if code & BPF_X:
            return f"{_ALU_NAMES[alu]} x", ""
        name = _ALU_NAMES[alu]
        return (f"{name} #{k:#x}" if alu in _HEX_ALU else f"{name} #{k}"), ""
    raise BpfError(f"insn {i}: opcode {code:#06x} has no bpf_asm spelling (it is not classic BPF)")


def bpf_asm(prog: Sequence[SockFilter]) -> str:
    """The program in bpf_asm syntax; ``bpf_asm`` assembles it back to the same instructions."""
    targets = _targets(prog)
    lines = []
    for i, f in enumerate(prog):
        text, comment = _asm_insn(f, i)
        label = f"L{i}:" if i in targets else ""
        line = f"{label}\t{text}"
        if comment:
            line += f"\t; {comment}"
        lines.append(line)
    return "\n".join(lines) + "\n"
