"""The instruction printer's kernel dialect against the running kernel's verifier log.

The llvm dialect is checked against llvm-objdump in test_disasm.py. Here every
instruction line the kernel's verifier prints at log level 2 (``N: (bf) r6 =
r1``) for the verifier corpus and the examples must be exactly what
``format_insn(insn, dialect="kernel")`` prints; the only normalisation is the
address an LDDW of a map resolves to, which only the kernel knows.
"""

from __future__ import annotations

import re

import pytest

from conftest import require_bpf
from pybpf import uapi
from pybpf.asm.printer import ALU_SYMBOLS, JMP_SYMBOLS, KERNEL, format_insn
from pybpf.errors import KernelError
from pybpf.isa import BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, OPCODES, Insn, iter_slots
from support import verifier_corpus as vc


@pytest.mark.parametrize(
    "insn,text",
    [
        (vc.MOVR(6, 1), "(bf) r6 = r1"),
        (vc.MOV32R(0, 1), "(bc) w0 = w1"),
        (vc.ALU(vc.BPF_ADD, 2, -4), "(07) r2 += -4"),
        (vc.ALU32(vc.BPF_ARSH, 2, 3), "(c4) w2 s>>= 3"),
        (Insn(0x3F, 1, 2, 1), "(3f) r1 s/= r2"),
        (Insn(0xBF, 1, 2, 16), "(bf) r1 = (s16)r2"),
        (Insn(0x87, 3), "(87) r3 = -r3"),
        (Insn(0xDC, 1, 0, 0, 16), "(dc) r1 = be16 r1"),
        (Insn(0xD7, 1, 0, 0, 64), "(d7) r1 = bswap64 r1"),
        (vc.ST(vc.BPF_W, 10, -4, 0), "(62) *(u32 *)(r10 -4) = 0"),
        (vc.STX(vc.BPF_H, 10, 1, 6), "(6b) *(u16 *)(r10 +6) = r1"),
        (vc.LDX(vc.BPF_DW, 0, 0, 0), "(79) r0 = *(u64 *)(r0 +0)"),
        (Insn(0x91, 0, 1, 2), "(91) r0 = *(s8 *)(r1 +2)"),
        (vc.JMP(vc.BPF_JEQ, 0, 0, 4), "(15) if r0 == 0x0 goto pc+4"),
        (vc.JMP(vc.BPF_JSGT, 0, -1, -4), "(65) if r0 s> 0xffffffff goto pc-4"),
        (vc.JMP32(vc.BPF_JGT, 7, 8, 2), "(26) if w7 > 0x8 goto pc+2"),
        (vc.JMPR(vc.BPF_JSET, 1, 2, 0), "(4d) if r1 & r2 goto pc+0"),
        (vc.JA(-3), "(05) goto pc-3"),
        (Insn(0x06, 0, 0, 0, 70000), "(06) gotol pc+70000"),
        (vc.LDABS(vc.BPF_B, 23), "(30) r0 = *(u8 *)skb[23]"),
        (vc.LDIND(vc.BPF_H, 7, 2), "(48) r0 = *(u16 *)skb[r7 + 2]"),
        (vc.LDIMM64(3, 0x1_0000_0002), "(18) r3 = 0x100000002"),
        (vc.LDMAP(1, 5), "(18) r1 = 0x0"),
        (vc.CALL(1), "(85) call bpf_map_lookup_elem#1"),
        (vc.CALL(9999), "(85) call unknown#9999"),
        (vc.LOCAL_CALL(3), "(85) call pc+3"),
        (
            vc.I(vc.BPF_STX | vc.BPF_ATOMIC | vc.BPF_DW, 0, 1, 0, vc.BPF_ADD),
            "(db) lock *(u64 *)(r0 +0) += r1",
        ),
        (
            vc.I(vc.BPF_STX | vc.BPF_ATOMIC | vc.BPF_W, 0, 1, 8, vc.BPF_ADD | vc.BPF_FETCH),
            "(c3) r1 = atomic_fetch_add((u32 *)(r0 +8), r1)",
        ),
        (
            vc.I(vc.BPF_STX | vc.BPF_ATOMIC | vc.BPF_DW, 2, 3, -8, vc.BPF_CMPXCHG),
            "(db) r0 = atomic64_cmpxchg((u64 *)(r2 -8), r0, r3)",
        ),
        (
            vc.I(vc.BPF_STX | vc.BPF_ATOMIC | vc.BPF_DW, 2, 3, 0, vc.BPF_XCHG),
            "(db) r3 = atomic64_xchg((u64 *)(r2 +0), r3)",
        ),
        (vc.EXIT, "(95) exit"),
    ],
)
def test_kernel_dialect(insn: Insn, text: str) -> None:
    assert format_insn(insn, dialect=KERNEL, helper_names=uapi.FUNC_NAMES) == text


def test_ldimm64_map_address_needs_ptr_leaks() -> None:
    insn = vc.LDMAP(1, 5)
    leak = format_insn(insn, dialect=KERNEL, allow_ptr_leaks=True, imm64=0xFFFF888012345000)
    assert leak == "(18) r1 = 0xffff888012345000"


def test_symbol_tables_cover_the_opcode_table() -> None:
    """Every ALU and conditional-jump operation of isa has exactly one symbol."""
    alu = {i.op for i in OPCODES.values() if i.kind == "alu"} - {vc.BPF_NEG}
    jmp = {i.op for i in OPCODES.values() if i.kind == "jcond"}
    assert alu == set(ALU_SYMBOLS) and jmp == set(JMP_SYMBOLS)


_INSN_LINE = re.compile(r"^(\d+): (\([0-9a-f]{2}\) .*?)(?:\s+;.*)?$")


def _kernel_insn_lines(log: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for line in log.splitlines():
        m = _INSN_LINE.match(line)
        if m:
            out[int(m.group(1))] = m.group(2).rstrip()
    return out


@pytest.mark.kernel
def test_kernel_dialect_is_the_kernel_log() -> None:
    """Every instruction line of the kernel's level-2 log, for every accepted corpus case."""
    require_bpf()
    from pybpf.kernel import syscall as sc

    fds = {n: sc.map_create(t, ks, vs, me, fl) for n, (t, ks, vs, me, fl) in vc.MAPS.items()}
    compared = 0
    kinds: set[str] = set()
    try:
        for case in vc.ALL_CASES:
            if not case.priv or case.prog_type != uapi.BPF_PROG_TYPE_SOCKET_FILTER:
                continue
            insns = case.build(fds)
            try:
                res = sc.prog_load_result(
                    case.prog_type, insns, license=case.license, log_level=2, log_size=1 << 26
                )
            except KernelError:
                continue
            sc.close(res.fd)
            lines = _kernel_insn_lines(res.log)
            for pc, insn in iter_slots(insns):
                if pc not in lines:
                    continue
                mine = format_insn(insn, dialect=KERNEL, helper_names=uapi.FUNC_NAMES)
                theirs = lines[pc]
                if insn.is_lddw and insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE):
                    theirs = re.sub(r"= 0x[0-9a-f]+$", "= 0x0", theirs)  # a kernel address
                assert mine == theirs, f"{case.name} insn {pc}"
                kinds.add(OPCODES[insn.code].kind)
                compared += 1
    finally:
        for fd in fds.values():
            sc.close(fd)
    assert compared > 500
    assert {"alu", "jcond", "ja", "ldx", "st", "stx", "atomic", "lddw", "call", "exit"} <= kinds
