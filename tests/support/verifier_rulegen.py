"""Random socket-filter programs built from the verifier rules pybpf once got wrong.

Each program is a prologue (r6 = ctx, r7..r9 random scalars), a few random
blocks, each exercising one rule with random operands — map values read and
written through maps with access flags, bounds learned from JEQ..JSET and
JMP32 comparisons, pointers spilled and filled, atomics (fetch, xchg,
cmpxchg) on the stack and in map values, scalars linked by constants, pointer
arithmetic on two paths, tail calls through one of two prog arrays, struct
bpf_map reads through map pointers, byte swaps, (x s>> 63) & K — and ``r0 = 0; exit``.

Programs are lists of ``(code, dst, src, off, imm, imm_hi)`` in which the
immediate of a map load is the map's name (:data:`FUZZ_MAPS`), so the same
program can be built with the kernel's map fds and with pybpf's
(:func:`build`). ``python -m support.verifier_rulegen SEED N`` prints the
kernel's verdicts (this process's credentials) for a batch as JSON: the
unprivileged half of tests/verifier/test_verifier_rules_fuzz.py.
"""

from __future__ import annotations

import random
from typing import Any

from pybpf import isa
from pybpf.isa import Insn

#: name -> (type, key_size, value_size, max_entries, flags)
FUZZ_MAPS = {
    "array": (2, 4, 16, 4, 0),
    "hash": (1, 4, 16, 16, 0),
    "wronly": (2, 4, 16, 4, 0x100),
    "rdonly": (2, 4, 16, 4, 0x80),
    "progs": (3, 4, 4, 4, 0),
    "progs2": (3, 4, 4, 4, 0),
}
Raw = tuple[int, int, int, int, Any, int]

# opcode pieces, short names for the templates below
ADD = isa.BPF_ADD
ALU = isa.BPF_ALU
ALU64 = isa.BPF_ALU64
AND = isa.BPF_AND
ARSH = isa.BPF_ARSH
ATOMIC = isa.BPF_ATOMIC
B = isa.BPF_B
CALL = isa.BPF_CALL
DW = isa.BPF_DW
END = isa.BPF_END
EXIT = isa.BPF_EXIT
FETCH = isa.BPF_FETCH
H = isa.BPF_H
JA = isa.BPF_JA
JEQ = isa.BPF_JEQ
JGE = isa.BPF_JGE
JGT = isa.BPF_JGT
JLE = isa.BPF_JLE
JLT = isa.BPF_JLT
JMP = isa.BPF_JMP
JMP32 = isa.BPF_JMP32
JNE = isa.BPF_JNE
JSET = isa.BPF_JSET
JSGE = isa.BPF_JSGE
JSGT = isa.BPF_JSGT
JSLE = isa.BPF_JSLE
JSLT = isa.BPF_JSLT
K = isa.BPF_K
LD = isa.BPF_LD
LDX = isa.BPF_LDX
LSH = isa.BPF_LSH
MEM = isa.BPF_MEM
MOV = isa.BPF_MOV
OR = isa.BPF_OR
RSH = isa.BPF_RSH
ST = isa.BPF_ST
STX = isa.BPF_STX
SUB = isa.BPF_SUB
W = isa.BPF_W
X = isa.BPF_X
XOR = isa.BPF_XOR
CONDS = (JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, JLT, JLE, JSLT, JSLE)
SIZES = {B: 1, H: 2, W: 4, DW: 8}


def _i(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: Any = 0, hi: int = 0) -> Raw:
    return (code, dst, src, off, imm, hi)


def _ldmap(reg: int, name: str) -> list[Raw]:
    return [_i(LD | DW | 0x00, reg, 1, 0, name)]


def _exit0() -> list[Raw]:
    return [_i(ALU64 | MOV | K, 0, 0, 0, 0), _i(JMP | EXIT)]


class RuleGen:
    """Random programs from rule templates (deterministic for a seed)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    # --- pieces
    def scalar(self) -> int:
        return self.rng.choice((7, 8, 9))

    def const(self) -> int:
        r = self.rng.random()
        if r < 0.3:
            return self.rng.randint(-4, 20)
        if r < 0.6:
            return self.rng.choice((0x7F, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, -1))
        return self.rng.getrandbits(32) - (1 << 31)

    def size(self) -> int:
        return self.rng.choice((B, H, W, DW))

    def refine(self) -> list[Raw]:
        """if rX <op> K (JMP or JMP32) goto exit: what the fall-through learns."""
        cls = self.rng.choice((JMP, JMP32))
        op = self.rng.choice(CONDS)
        imm = self.const() if op != JSET else self.rng.choice((1, 2, 4, 8, 0xC, 0x80, 0xFF))
        return [_i(cls | op | K, self.scalar(), 0, 2, imm), *_exit0()]

    def mask(self) -> list[Raw]:
        cls = self.rng.choice((ALU64, ALU))
        op = self.rng.choice((AND, AND, RSH, LSH, ARSH, OR, ADD, SUB, XOR))
        imm = self.rng.randint(0, 31) if op in (LSH, RSH, ARSH) else self.const()
        return [_i(cls | op | K, self.scalar(), 0, 0, imm)]

    def lookup(self, name: str, key: int | None) -> list[Raw]:
        """r0 = lookup(map, key at fp-4) and a NULL check that exits."""
        out = [_i(ST | MEM | W, 10, 0, -4, 0)] if key is None else [_i(STX | MEM | W, 10, key, -4)]
        out += [_i(ALU64 | MOV | X, 2, 10), _i(ALU64 | ADD | K, 2, 0, 0, -4)]
        out += _ldmap(1, name) + [_i(JMP | CALL, 0, 0, 0, 1)]
        return out + [_i(JMP | JNE | K, 0, 0, 2, 0), *_exit0()]

    # --- rule templates
    def map_access(self) -> list[Raw]:
        rng = self.rng
        name = rng.choice(("array", "hash", "wronly", "rdonly"))
        out = self.lookup(name, None if rng.random() < 0.7 else self.scalar())
        if rng.random() < 0.5:
            out.append(_i(ALU64 | ADD | X, 0, self.scalar()))
        sz = self.size()
        off = rng.randint(-2, 18)
        kind = rng.random()
        if kind < 0.35:
            out.append(_i(LDX | MEM | sz, 1, 0, off))
        elif kind < 0.6:
            out.append(_i(STX | MEM | sz, 0, self.scalar(), off))
        elif kind < 0.75:
            out.append(_i(ST | MEM | sz, 0, 0, off, self.const()))
        else:
            op = rng.choice((ADD, OR, AND, XOR, ADD | FETCH, 0xE1, 0xF1))
            out.append(_i(STX | ATOMIC | rng.choice((W, DW)), 0, 1, off, op))
        return out

    def spill_fill(self) -> list[Raw]:
        rng = self.rng
        src = rng.choice((1, 6, 7, 8, 9, 10))
        off = -8 * rng.randint(2, 5)
        out = [_i(STX | MEM | rng.choice((DW, DW, W, B)), 10, src, off)]
        if rng.random() < 0.5:
            op = rng.choice((ADD, ADD | FETCH, OR | FETCH, 0xE1, 0xF1))
            out += [
                _i(ALU64 | MOV | K, 0, 0, 0, 0),
                _i(ALU64 | MOV | K, 1, 0, 0, rng.randint(0, 3)),
            ]
            out.append(_i(STX | ATOMIC | rng.choice((W, DW)), 10, 1, off, op))
        else:
            out.append(
                _i(LDX | MEM | self.size(), rng.choice((1, 2)), 10, off + rng.choice((0, 0, 4)))
            )
        if rng.random() < 0.4:
            # use what came back: a helper key, or a dereference
            out += [_i(ALU64 | MOV | X, 2, 10), _i(ALU64 | ADD | K, 2, 0, 0, off)]
            out += _ldmap(1, "hash") + [_i(JMP | CALL, 0, 0, 0, 1)]
        return out

    def linked(self) -> list[Raw]:
        rng = self.rng
        a, b = rng.sample((7, 8, 9), 2)
        cls = rng.choice((ALU64, ALU64, ALU))
        op = rng.choice((ADD, SUB))
        out = [
            _i(ALU64 | AND | K, a, 0, 0, rng.choice((0xF, 0xFF, 0x1F))),
            _i(ALU64 | MOV | X, b, a),
        ]
        out.append(_i(cls | op | K, b, 0, 0, rng.randint(-4, 8)))
        out += [
            _i(JMP | rng.choice((JGT, JLT, JEQ, JNE)) | K, a, 0, 2, rng.randint(0, 12)),
            *_exit0(),
        ]
        out += self.lookup("array", None) + [
            _i(ALU64 | ADD | X, 0, b),
            _i(LDX | MEM | B, 1, 0, 0),
        ]
        return out

    def two_paths(self) -> list[Raw]:
        """ptr += (const on one path, unknown on the other): the Spectre v1 path rule."""
        rng = self.rng
        out = self.lookup("array", None)
        v = self.scalar()
        out += [
            _i(ALU64 | MOV | K, 1, 0, 0, rng.randint(0, 7)),
            _i(JMP | JEQ | K, v, 0, 2, 0),
            _i(ALU64 | MOV | X, 1, v),
            _i(ALU64 | AND | K, 1, 0, 0, rng.choice((3, 7, 15))),
            _i(ALU64 | ADD | X, 0, 1),
            _i(LDX | MEM | B, 1, 0, 0),
        ]
        return out

    def tail_call(self) -> list[Raw]:
        rng = self.rng
        out = _ldmap(2, "progs")
        if rng.random() < 0.5:
            out = (
                [_i(JMP | JEQ | K, self.scalar(), 0, 3, 0)]
                + _ldmap(2, "progs2")
                + [_i(JMP | JA, 0, 0, 2)]
                + _ldmap(2, "progs")
            )
        out += [_i(ALU64 | MOV | X, 1, 6)]
        out.append(
            _i(ALU64 | MOV | K, 3, 0, 0, rng.randint(0, 5))
            if rng.random() < 0.6
            else _i(ALU64 | MOV | X, 3, self.scalar())
        )
        return out + [_i(JMP | CALL, 0, 0, 0, 12)]

    def map_struct(self) -> list[Raw]:
        rng = self.rng
        off = rng.choice((-8, 0, 1, 40, 64, 68, 72, 76, 80, 88, 92, 136, 150, 152, 296))
        out = _ldmap(1, rng.choice(("array", "hash")))
        if rng.random() < 0.2:
            return out + [_i(ST | MEM | W, 1, 0, off, 0)]
        return out + [_i(LDX | MEM | self.size(), 2, 1, off)]

    def pointer_ops(self) -> list[Raw]:
        rng = self.rng
        p = rng.choice((1, 6, 10))
        out = [_i(ALU64 | MOV | X, 2, p)]
        op = rng.choice((ADD, SUB, AND, OR))
        out.append(_i(ALU64 | op | rng.choice((K, X)), 2, self.scalar(), 0, 0))
        if rng.random() < 0.5:
            out.append(_i(JMP | JEQ | X, 2, rng.choice((1, 6, 7)), 1))
            out.append(_i(ALU64 | MOV | K, 3, 0, 0, 1))
        return out

    def byte_swap(self) -> list[Raw]:
        rng = self.rng
        r = self.scalar()
        cls, imm = rng.choice(((ALU, 16), (ALU, 32), (ALU, 64), (ALU64, 16), (ALU64, 64)))
        src = 0 if cls == ALU64 else rng.choice((0, 8))
        return [_i(cls | END | src, r, 0, 0, imm)]

    def sign_split(self) -> list[Raw]:
        """(x s>> 63) & K, | K: the verifier splits the -1 and 0 cases (maybe_fork_scalars)."""
        rng = self.rng
        r = self.scalar()
        cls = rng.choice((ALU64, ALU))
        out = [_i(cls | ARSH | K, r, 0, 0, 63 if cls == ALU64 else 31)]
        imm = rng.randint(0, 16) if rng.random() < 0.7 else self.const()
        out.append(_i(rng.choice((ALU64, ALU)) | rng.choice((AND, OR)) | K, r, 0, 0, imm))
        if rng.random() < 0.6:
            out += self.lookup("array", None)
            out += [_i(ALU64 | ADD | X, 0, r), _i(LDX | MEM | self.size(), 1, 0, 0)]
        return out

    def exit_with(self) -> list[Raw]:
        return [_i(ALU64 | MOV | X, 0, self.rng.choice((6, 7, 10))), _i(JMP | EXIT)]

    TEMPLATES = (
        "refine",
        "refine",
        "mask",
        "map_access",
        "map_access",
        "spill_fill",
        "linked",
        "two_paths",
        "tail_call",
        "map_struct",
        "pointer_ops",
        "byte_swap",
        "sign_split",
    )

    def program(self) -> list[Raw]:
        rng = self.rng
        out: list[Raw] = [_i(ALU64 | MOV | X, 6, 1)]
        for r in (7, 8, 9):
            out += [_i(JMP | CALL, 0, 0, 0, 7), _i(ALU64 | MOV | X, r, 0)]
        for _ in range(rng.randint(2, 6)):
            out += getattr(self, rng.choice(self.TEMPLATES))()
        if rng.random() < 0.1:
            return out + self.exit_with()
        return out + _exit0()


def build(prog: list[Raw], fds: dict[str, int]) -> list[Insn]:
    """The instructions, with map names replaced by ``fds``."""
    out = []
    for code, d, s, off, imm, hi in prog:
        out.append(Insn(code, d, s, off, fds[imm] if isinstance(imm, str) else imm, hi))
    return out


def kernel_verdicts(seed: int, count: int) -> list[dict[str, Any]]:
    """The kernel's verdicts on ``count`` programs of RuleGen(seed) (this process's creds)."""
    from pybpf.errors import KernelError
    from pybpf.kernel import syscall as sc

    from .verifier_corpus import error_line

    fds = {
        n: sc.map_create(t, ks, vs, me, fl, name=n) for n, (t, ks, vs, me, fl) in FUZZ_MAPS.items()
    }
    gen = RuleGen(seed)
    out: list[dict[str, Any]] = []
    try:
        for _ in range(count):
            insns = build(gen.program(), fds)
            try:
                res = sc.prog_load_result(1, insns, log_level=1, log_size=1 << 22)
                sc.close(res.fd)
                out.append({"ok": True, "line": ""})
            except KernelError as e:
                out.append({"ok": False, "line": error_line(e.log or "") or str(e)})
    finally:
        for fd in fds.values():
            sc.close(fd)
    return out


if __name__ == "__main__":
    import json
    import sys

    json.dump(kernel_verdicts(int(sys.argv[1]), int(sys.argv[2])), sys.stdout)
