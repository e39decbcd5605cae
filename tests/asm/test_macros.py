# ruff: noqa: F403, F405
"""The kernel's instruction macros (pybpf.asm.macros) and the label builder."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.asm.builder import ProgramBuilder
from pybpf.asm.macros import *  # noqa: F403
from pybpf.asm.text import assemble
from pybpf.errors import AsmError
from pybpf.isa import Insn, encode
from support.paths import TESTS as HERE  # noqa: E402

EXAMPLE = HERE.parent / "examples" / "sockex1_macros.py"
MC19 = shutil.which("llvm-mc-19")


def _example():
    spec = importlib.util.spec_from_file_location("sockex1_macros", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def seed_program(map_fd):
    # the article's array, as printed in the seed (C comments turned into Python's)
    return [
        BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
        BPF_LD_ABS(BPF_B, 14 + 9),  # R0 = ip->proto
        BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_0, -4),  # *(u32 *)(fp - 4) = r0
        BPF_MOV64_REG(BPF_REG_2, BPF_REG_10),
        BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, -4),  # r2 = fp - 4
        BPF_LD_MAP_FD(BPF_REG_1, map_fd),
        BPF_RAW_INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
        BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 2),
        BPF_MOV64_IMM(BPF_REG_1, 1),  # r1 = 1
        BPF_RAW_INSN(BPF_STX | BPF_XADD | BPF_DW, BPF_REG_0, BPF_REG_1, 0, 0),
        BPF_MOV64_IMM(BPF_REG_0, 0),  # r0 = 0
        BPF_EXIT_INSN(),
    ]


@pytest.fixture(scope="module")
def host_encoding(tmp_path_factory) -> bytes:
    """The seed program encoded by a C compiler from linux/bpf.h's struct bpf_insn."""
    exe = tmp_path_factory.mktemp("seed") / "seedhost"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ziglang",
            "cc",
            "-O1",
            str(HERE / "data" / "asm_seed_host.c"),
            "-o",
            str(exe),
        ],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"zig cc cannot build for the host: {r.stderr[-300:]}")
    return bytes.fromhex(
        subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.strip()
    )


def test_seed_program_matches_c_struct_encoding(host_encoding: bytes) -> None:
    prog = seed_program(3)
    assert len(prog) == 12
    assert encode(prog) == host_encoding
    assert len(host_encoding) == 13 * 8


def test_example_file_is_the_seed_program(host_encoding: bytes) -> None:
    mod = _example()
    assert encode(mod.sockex1_prog(3)) == host_encoding
    text = EXAMPLE.read_text()
    assert "BPF_RAW_INSN(BPF_STX | BPF_XADD | BPF_DW, BPF_REG_0, BPF_REG_1, 0, 0)," in text


@pytest.mark.skipif(MC19 is None, reason="llvm-mc-19 missing")
def test_seed_program_matches_llvm_mc(tmp_path: Path) -> None:
    src = tmp_path / "seed.s"
    src.write_text(
        "\n".join(
            [
                "r6 = r1",
                "r0 = *(u8 *)skb[23]",
                "*(u32 *)(r10 - 4) = r0",
                "r2 = r10",
                "r2 += -4",
                "ld_pseudo r1, 1, 3",
                "call 1",
                "if r0 == 0 goto +2",
                "r1 = 1",
                "lock *(u64 *)(r0 + 0) += r1",
                "r0 = 0",
                "exit",
                "",
            ]
        )
    )
    obj = tmp_path / "seed.o"
    subprocess.run(
        [MC19, "-triple", "bpfel", "-filetype=obj", str(src), "-o", str(obj)], check=True
    )
    from elftools.elf.elffile import ELFFile

    with open(obj, "rb") as fh:
        assert ELFFile(fh).get_section_by_name(".text").data() == encode(seed_program(3))


class FakeMap:
    def __init__(self, fd):
        self.fd = fd


def test_ld_map_fd_takes_a_map_object() -> None:
    m = FakeMap(9)
    insn = BPF_LD_MAP_FD(BPF_REG_1, m)
    assert insn.ref is m and insn.imm == 9 and insn.src == BPF_PSEUDO_MAP_FD
    assert insn == BPF_LD_MAP_FD(BPF_REG_1, 9)  # ref does not take part in equality
    assert insn.slots == 2
    userspace = BPF_LD_MAP_FD(BPF_REG_1, FakeMap(None))  # a map with no kernel fd yet
    assert userspace.imm == 0 and userspace.ref is not None
    with pytest.raises(AsmError):
        BPF_LD_MAP_FD(BPF_REG_1, "not a map")


def test_ld_map_fd_takes_a_pybpf_map() -> None:
    maps = pytest.importorskip("pybpf.maps")
    try:
        m = maps.Map(2, 4, 8, 4, 0, "counts")  # BPF_MAP_TYPE_ARRAY, as sockex1 uses
    except Exception as e:  # the maps package is another helper's; say why we skip
        pytest.skip(f"pybpf.maps.Map not usable here: {e}")
    prog = seed_program(m)
    assert prog[5].ref is m and prog[5].imm == m.fd
    assert encode(prog) == encode(seed_program(m.fd))


@pytest.mark.parametrize(
    "insn,text",
    [
        (BPF_ALU64_REG(BPF_SUB, BPF_REG_1, BPF_REG_2), "r1 -= r2"),
        (BPF_ALU32_REG(BPF_XOR, BPF_REG_1, BPF_REG_2), "w1 ^= w2"),
        (BPF_ALU_REG(BPF_OR, BPF_REG_3, BPF_REG_4), "w3 |= w4"),
        (BPF_ALU64_IMM(BPF_LSH, BPF_REG_1, 3), "r1 <<= 3"),
        (BPF_ALU32_IMM(BPF_ARSH, BPF_REG_1, 3), "w1 s>>= 3"),
        (BPF_ALU_IMM(BPF_MUL, BPF_REG_1, -3), "w1 *= -3"),
        (BPF_ALU64_IMM(BPF_NEG, BPF_REG_1, 0), "r1 = -r1"),
        (BPF_ALU64_REG_OFF(BPF_DIV, BPF_REG_1, BPF_REG_2, 1), "r1 s/= r2"),
        (BPF_ALU32_IMM_OFF(BPF_MOD, BPF_REG_1, 7, 1), "w1 s%= 7"),
        (BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16), "r1 = be16 r1"),
        (BPF_ENDIAN(BPF_TO_LE, BPF_REG_1, 64), "r1 = le64 r1"),
        (BPF_BSWAP(BPF_REG_1, 32), "r1 = bswap32 r1"),
        (BPF_MOV64_REG(BPF_REG_1, BPF_REG_2), "r1 = r2"),
        (BPF_MOV32_REG(BPF_REG_1, BPF_REG_2), "w1 = w2"),
        (BPF_MOV64_IMM(BPF_REG_1, -1), "r1 = -1"),
        (BPF_MOV32_IMM(BPF_REG_1, 7), "w1 = 7"),
        (BPF_MOVSX64_REG(BPF_REG_1, BPF_REG_2, 16), "r1 = (s16)r2"),
        (BPF_MOVSX32_REG(BPF_REG_1, BPF_REG_2, 8), "w1 = (s8)w2"),
        (BPF_LD_IMM64(BPF_REG_1, 0x1122334455667788), "r1 = 1234605616436508552 ll"),
        (BPF_LD_IMM64(BPF_REG_1, -2), "r1 = -2 ll"),
        (BPF_LD_MAP_VALUE(BPF_REG_1, 4, 16), "r1 = map_value[fd:4]+16 ll"),
        (BPF_LD_ABS(BPF_H, 12), "r0 = *(u16 *)skb[12]"),
        (BPF_LD_IND(BPF_W, BPF_REG_7, 0), "r0 = *(u32 *)skb[r7]"),
        (BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, -8), "r1 = *(u64 *)(r10 - 8)"),
        (BPF_LDX_MEMSX(BPF_H, BPF_REG_1, BPF_REG_2, 4), "r1 = *(s16 *)(r2 + 4)"),
        (BPF_STX_MEM(BPF_B, BPF_REG_10, BPF_REG_1, -1), "*(u8 *)(r10 - 1) = r1"),
        (BPF_ST_MEM(BPF_H, BPF_REG_10, -2, 7), "*(u16 *)(r10 - 2) = 7"),
        (BPF_STX_XADD(BPF_DW, BPF_REG_1, BPF_REG_2, 8), "lock *(u64 *)(r1 + 8) += r2"),
        (
            BPF_ATOMIC_OP(BPF_DW, BPF_OR | BPF_FETCH, BPF_REG_1, BPF_REG_2, 0),
            "r2 = atomic_fetch_or((u64 *)(r1 + 0), r2)",
        ),
        (
            BPF_ATOMIC_OP(BPF_DW, BPF_CMPXCHG, BPF_REG_1, BPF_REG_2, 0),
            "r0 = cmpxchg_64(r1 + 0, r0, r2)",
        ),
        (BPF_JMP_REG(BPF_JSGT, BPF_REG_1, BPF_REG_2, -3), "if r1 s> r2 goto -3"),
        (BPF_JMP_IMM(BPF_JSET, BPF_REG_1, 8, 1), "if r1 & 8 goto +1"),
        (BPF_JMP32_REG(BPF_JLT, BPF_REG_1, BPF_REG_2, 4), "if w1 < w2 goto +4"),
        (BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, 5, 0), "if w1 != 5 goto +0"),
        (BPF_JMP_A(-1), "goto -1"),
        (BPF_JMP32_A(100000), "gotol +100000"),
        (BPF_CALL_REL(4), "call pc+4"),
        (BPF_EMIT_CALL(BPF_FUNC_ktime_get_ns), "call 5"),
        (BPF_EMIT_CALL("map_update_elem"), "call 2"),
        (BPF_EMIT_CALL("bpf_tail_call"), "call 12"),
        (BPF_EXIT_INSN(), "exit"),
    ],
)
def test_macro_encodings(insn: Insn, text: str) -> None:
    from pybpf.asm.disasm import format_insn

    assert format_insn(insn) == text
    assert assemble(text) == [insn]


def test_zext_and_raw() -> None:
    z = BPF_ZEXT_REG(BPF_REG_3)
    assert (z.code, z.dst, z.src, z.imm) == (BPF_ALU | BPF_MOV | BPF_X, 3, 3, 1)
    assert BPF_RAW_INSN(0x95, 0, 0, 0, 0) == BPF_EXIT_INSN()
    assert BPF_LD_IMM64_RAW(BPF_REG_2, BPF_PSEUDO_MAP_IDX, 1) == Insn(
        0x18, 2, BPF_PSEUDO_MAP_IDX, 0, 1, 0
    )


def test_star_import_gives_constants() -> None:
    import pybpf.asm.macros as m

    for name in (
        "BPF_REG_0",
        "BPF_REG_10",
        "BPF_REG_FP",
        "BPF_B",
        "BPF_H",
        "BPF_W",
        "BPF_DW",
        "BPF_LD",
        "BPF_LDX",
        "BPF_ST",
        "BPF_STX",
        "BPF_ALU",
        "BPF_JMP",
        "BPF_JMP32",
        "BPF_ALU64",
        "BPF_ADD",
        "BPF_JEQ",
        "BPF_CALL",
        "BPF_XADD",
        "BPF_X",
        "BPF_K",
        "BPF_FUNC_map_lookup_elem",
        "BPF_FUNC_trace_printk",
        "BPF_ATOMIC",
        "BPF_FETCH",
        "BPF_PSEUDO_MAP_FD",
        "BPF_CLASS",
        "BPF_SIZE",
        "MAX_BPF_STACK",
    ):
        assert name in m.__all__, name
    assert BPF_FUNC_map_lookup_elem == 1 and BPF_XADD == 0xC0


def test_macro_errors() -> None:
    with pytest.raises(AsmError):
        BPF_LD_IMM64(BPF_REG_1, 1 << 64)
    with pytest.raises(AsmError):
        BPF_EMIT_CALL("no_such_helper")
    with pytest.raises(Exception) as e:  # noqa: B017 - Insn refuses out-of-range fields
        BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 1 << 16)
    assert "off" in str(e.value)


# --- ProgramBuilder -----------------------------------------------------------------------------
def test_builder_resolves_labels_in_slots() -> None:
    b = ProgramBuilder()
    b.emit(BPF_MOV64_IMM(BPF_REG_0, 0))
    b.jmp_imm(BPF_JEQ, BPF_REG_1, 0, "out")
    b.emit(BPF_LD_IMM64(BPF_REG_2, 1 << 40))  # two slots
    b.jmp_reg(BPF_JGT, BPF_REG_1, BPF_REG_2, "out")
    b.jmp32_imm(BPF_JNE, BPF_REG_1, 3, "top")
    b.call("func")
    b.ja("out")
    b.label("top").emit(BPF_MOV64_IMM(BPF_REG_0, 1))
    b.gotol("out")
    b.label("out").emit(BPF_EXIT_INSN())
    b.label("func").emit(BPF_MOV64_IMM(BPF_REG_0, 2), BPF_EXIT_INSN())
    prog = b.build()
    assert b.labels == {"top": 8, "out": 10, "func": 11}
    assert prog[1].off == 10 - 1 - 1
    assert prog[3].off == 10 - 4 - 1
    assert prog[4].off == 8 - 5 - 1
    assert prog[5].imm == 11 - 6 - 1 and prog[5].src == BPF_PSEUDO_CALL
    assert prog[6].off == 10 - 7 - 1
    assert prog[8].imm == 10 - 9 - 1 and prog[8].off == 0
    # the same program in text
    text = """
        r0 = 0
        if r1 == 0 goto out
        r2 = 1099511627776 ll
        if r1 > r2 goto out
        if w1 != 3 goto top
        call func
        goto out
    top: r0 = 1
        gotol out
    out:
        exit
    func:
        r0 = 2
        exit
    """
    assert assemble(text) == prog


def test_builder_errors() -> None:
    b = ProgramBuilder().label("a")
    with pytest.raises(AsmError, match="duplicate label 'a'"):
        b.label("a")
    b = ProgramBuilder().ja("nowhere").emit(BPF_EXIT_INSN())
    with pytest.raises(AsmError, match="undefined label 'nowhere'"):
        b.build()
    b = ProgramBuilder().ja("far")
    for _ in range(40000):
        b.emit(BPF_MOV64_IMM(BPF_REG_0, 0))
    b.label("far").emit(BPF_EXIT_INSN())
    with pytest.raises(AsmError, match="does not fit in 16 bits"):
        b.build()
    with pytest.raises(AsmError, match="cannot take a label"):
        ProgramBuilder().emit(BPF_MOV64_IMM(BPF_REG_0, 0), target="x")


# --- the real kernel -----------------------------------------------------------------------------
@pytest.mark.kernel
def test_seed_program_runs_in_the_kernel() -> None:
    """The macro-built seed program loads as a socket filter and counts by IP protocol."""
    from conftest import require_bpf

    require_bpf()
    from pybpf.kernel import syscall as sc
    from pybpf.uapi import BPF_MAP_TYPE_ARRAY, BPF_PROG_TYPE_SOCKET_FILTER

    map_fd = sc.map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 256, name="seed_counts")
    try:
        prog_fd = sc.prog_load(BPF_PROG_TYPE_SOCKET_FILTER, seed_program(map_fd))
        try:
            frame = bytearray(60)
            frame[12:14] = b"\x08\x00"  # IPv4
            frame[14 + 9] = 17  # UDP
            # test_run pulls a 14-byte MAC header first: prefix one so LD_ABS sees the frame
            res = sc.prog_test_run(prog_fd, bytes(14) + bytes(frame), repeat=3)
            assert res.retval == 0
            value = sc.map_lookup_elem(map_fd, (17).to_bytes(4, "little"), 8)
            assert int.from_bytes(value, "little") == 3
        finally:
            sc.close(prog_fd)
    finally:
        sc.close(map_fd)
