"""A classic program run as classic BPF: the reference the converted eBPF is checked against.

Before Linux 3.15 the kernel ran classic filters directly (``sk_run_filter``);
libpcap's ``bpf_filter()`` still does, in user space. :class:`ClassicVM` does
the same for pybpf, with the kernel's rules where they differ from libpcap's:
a load out of bounds, or DIV/MOD by X == 0, ends the program returning 0;
shifts by X use X's low five bits (what the kernel's 32-bit eBPF shift does).
It is independent of the converter (:mod:`pybpf.cbpf.convert`), so that the
two can be run against each other, and fast: the program is translated once
into one Python function. Classic jumps only go forward, so the function is
the basic blocks in program order, each guarded by ``if b == <block>:`` — a
jump sets ``b`` to a later block and execution falls through to it.

Packet loads, the packet length and ancillary loads come from the caller
(:meth:`ClassicVM.run`), so the same code serves a socket filter on an
sk_buff, libpcap-style filtering of captured bytes and (with ``seccomp``) a
seccomp filter over ``struct seccomp_data``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..isa import (
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_B,
    BPF_DIV,
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
from .check import ClassicError
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

__all__ = ["ClassicVM"]

_SIZE = {BPF_W: 4, 0x08: 2, BPF_B: 1}
_ALU_EXPR = {
    BPF_ADD: "(A + {v}) & 0xFFFFFFFF",
    BPF_SUB: "(A - {v}) & 0xFFFFFFFF",
    BPF_MUL: "(A * {v}) & 0xFFFFFFFF",
    BPF_DIV: "A // {v}",
    BPF_MOD: "A % {v}",
    BPF_AND: "A & {v}",
    BPF_OR: "A | {v}",
    BPF_XOR: "A ^ {v}",
    BPF_LSH: "(A << {v}) & 0xFFFFFFFF",
    BPF_RSH: "A >> {v}",
}
_COND = {BPF_JEQ: "A == {v}", BPF_JGT: "A > {v}", BPF_JGE: "A >= {v}", BPF_JSET: "A & {v}"}


def _insn_code(f: SockFilter, i: int, seccomp: bool) -> list[str]:
    """Python statements for one non-jump, non-ret instruction."""
    code, k = f.code, f.k
    cls = code & 0x07
    if cls == BPF_ALU:
        op = code & 0xF0
        if op == BPF_NEG:
            return ["A = -A & 0xFFFFFFFF"]
        if code & BPF_X:
            v = "(X & 31)" if op in (BPF_LSH, BPF_RSH) else "X"
            pre = ["if not X: return 0"] if op in (BPF_DIV, BPF_MOD) else []
            return [*pre, "A = " + _ALU_EXPR[op].format(v=v)]
        return ["A = " + _ALU_EXPR[op].format(v=k)]
    if cls == BPF_LD and code & 0xE0 in (BPF_ABS, BPF_IND):
        size = _SIZE[code & 0x18]
        anc = ancillary_of(code, k)
        if anc is not None:
            if anc.number == SKF_AD_ALU_XOR_X:
                return ["A ^= X"]
            return [f"A = anc({anc.number}, A, X)"]
        off = str(f.sk) if code & 0xE0 == BPF_ABS else f"(X + {k}) & 0xFFFFFFFF"
        return [f"v = load({off}, {size})", "if v is None: return 0", "A = v"]
    if code == BPF_LDX | BPF_MSH | BPF_B:
        return [f"v = load({f.sk}, 1)", "if v is None: return 0", "X = (v & 15) << 2"]
    if code == BPF_LD | BPF_W | BPF_LEN:
        return ["A = length"]
    if code == BPF_LDX | BPF_W | BPF_LEN:
        return ["X = length"]
    if code == BPF_LD | BPF_IMM:
        return [f"A = {k}"]
    if code == BPF_LDX | BPF_IMM:
        return [f"X = {k}"]
    if code == BPF_LD | BPF_MEM:
        return [f"A = m{k}"]
    if code == BPF_LDX | BPF_MEM:
        return [f"X = m{k}"]
    if code == BPF_ST:
        return [f"m{k} = A"]
    if code == BPF_STX:
        return [f"m{k} = X"]
    if code == BPF_MISC | BPF_TAX:
        return ["X = A"]
    if code == BPF_MISC | BPF_TXA:
        return ["A = X"]
    if seccomp and code == BPF_LDX | BPF_W | BPF_ABS:
        return [f"A = words[{k >> 2}]"]
    raise ClassicError(f"opcode {code:#06x} cannot run as classic BPF", index=i)


def _compile(prog: Sequence[SockFilter], seccomp: bool) -> Callable[..., int]:
    n = len(prog)
    leaders = {0}
    for i, f in enumerate(prog):
        if f.code == BPF_JMP | BPF_JA:
            leaders |= {i + 1 + f.k, i + 1}
        elif is_cond_jump(f.code):
            leaders |= {i + 1 + f.jt, i + 1 + f.jf, i + 1}
        elif f.code & 0x07 == BPF_RET:
            leaders.add(i + 1)
    starts = sorted(x for x in leaders if x < n)
    lines = [
        "def _classic(load, length, anc, words):",
        "    A = X = 0",
        "    " + " = ".join(f"m{j}" for j in range(16)) + " = 0",
        "    b = 0",
    ]
    for bi, start in enumerate(starts):
        stop = starts[bi + 1] if bi + 1 < len(starts) else n
        lines.append(f"    if b == {start}:")
        body: list[str] = []
        ended = False
        for i in range(start, stop):
            f = prog[i]
            code = f.code
            if code == BPF_JMP | BPF_JA:
                body.append(f"b = {i + 1 + f.k}")
                ended = True
            elif is_cond_jump(code):
                v = "X" if code & BPF_X else str(f.k)
                cond = _COND[code & 0xF0].format(v=v)
                body.append(f"b = {i + 1 + f.jt} if {cond} else {i + 1 + f.jf}")
                ended = True
            elif code == BPF_RET | BPF_K:
                body.append(f"return {f.k}")
                ended = True
            elif code == BPF_RET | BPF_A:
                body.append("return A")
                ended = True
            else:
                body += _insn_code(f, i, seccomp)
            if ended:
                break
        if not ended:
            if stop >= n:
                raise ClassicError("the program can run past its last instruction", index=n - 1)
            body.append(f"b = {stop}")
        lines += ["        " + s for s in body]
    lines.append("    return 0")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines) + "\n", "<classic bpf>", "exec"), namespace)  # noqa: S102
    return namespace["_classic"]  # type: ignore[no-any-return]


def _reads_no_metadata(f: SockFilter) -> bool:
    anc = ancillary_of(f.code, f.k)
    return anc is None or anc.number == SKF_AD_ALU_XOR_X


class ClassicVM:
    """A checked classic program compiled to Python; :meth:`run` executes it once.

    ``seccomp`` programs must be rewritten by seccomp_check_filter first (their
    loads are ``BPF_LDX | BPF_W | BPF_ABS`` on struct seccomp_data).
    """

    def __init__(self, prog: Sequence[SockFilter], *, seccomp: bool = False):
        self.prog = list(prog)
        self.seccomp = seccomp
        self._fn = _compile(self.prog, seccomp)
        #: the program reads packet bytes and the length only (no ancillary loads)
        self.packet_only = all(_reads_no_metadata(f) for f in self.prog)

    def run(
        self,
        load: Callable[[int, int], int | None] | None = None,
        length: int = 0,
        anc: Callable[[int, int, int], int] | None = None,
        words: Sequence[int] = (),
    ) -> int:
        """Run once; returns the u32 the program returns.

        ``load(offset, size)`` reads ``size`` bytes big-endian at a signed
        ``offset`` (None when out of bounds); ``length`` is what BPF_LEN loads;
        ``anc(skf_ad, A, X)`` gives an ancillary value; ``words`` are the 16
        u32 words of struct seccomp_data (seccomp programs).
        """
        return self._fn(load, length, anc, words) & 0xFFFF_FFFF
