"""The text assembler: both syntaxes, labels, errors naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.asm.text import assemble, is_conformance_syntax
from pybpf.errors import AsmError
from pybpf.isa import Insn, encode
from support.paths import conformance_files, require_conformance


def conformance_asm(path: Path) -> str:
    sec, out = None, []
    for line in path.read_text().splitlines():
        if line.startswith("-- "):
            sec = line[3:].strip()
            continue
        if sec == "asm":
            out.append(line)
    return "\n".join(out)


def one(text: str) -> Insn:
    insns = assemble(text)
    assert len(insns) == 1
    return insns[0]


def test_every_conformance_file_assembles() -> None:
    require_conformance()
    files = conformance_files()
    assert len(files) == 313
    for path in files:
        assert assemble(conformance_asm(path)), path.name


# --- bpf_conformance syntax ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,hexbytes",
    [
        ("mov %r0, 1", "b700000001000000"),
        ("mov32 %r0, -1", "b4000000ffffffff"),
        ("add %r1, %r2", "0f21000000000000"),
        ("ldxdw %r0, [%r1+8]", "7910080000000000"),
        ("ldxh %r0, [%r1]", "6910000000000000"),
        ("ldxsw %r0, [%r10-4]", "81a0fcff00000000"),
        ("stxb [%r10-1], %r1", "731affff00000000"),
        ("stw [%r10-4], 0x80000001", "620afcff01000080"),
        ("lock add [%r10-8], %r1", "db1af8ff00000000"),
        ("lock fetch add [%r10-8], %r1", "db1af8ff01000000"),
        ("lock fetch xor32 [%r10-8], %r1", "c31af8ffa1000000"),
        ("lock xchg [%r10-8], %r1", "db1af8ffe1000000"),
        ("lock cmpxchg32 [%r10-8], %r1", "c31af8fff1000000"),
        ("call 5", "8500000005000000"),
        ("call %r2", "8d02000000000000"),  # callx: register in dst (llvm-mc-19 `callx r2`)
        ("neg %r0", "8700000000000000"),
        ("neg32 %r0", "8400000000000000"),
        ("be16 %r0", "dc00000010000000"),
        ("le64 %r3", "d403000040000000"),
        ("swap32 %r0", "d700000020000000"),
        ("bswap64 %r0", "d700000040000000"),
        ("sdiv %r1, %r2", "3f21010000000000"),
        ("smod32 %r1, 3", "9401010003000000"),
        ("movsx1664 %r0, %r1", "bf10100000000000"),
        ("movsx832 %r0, %r1", "bc10080000000000"),
        ("jeq %r1, 0x80000000, +1", "1501010000000080"),
        ("jne32 %r1, %r2, -2", "5e21feff00000000"),
        ("ja +3", "0500030000000000"),
        ("ja32 -4", "06000000fcffffff"),
        ("lddw %r0, 0x8877665544332211", "180000001122334400000000" + "55667788"),
        ("lddw %r0, 2147483648", "1800000000000080" + "0000000000000000"),
        ("ldabsh 12", "280000000c000000"),
        ("ldindw %r1, 4", "4010000004000000"),
        ("mov %r11, 1", "b70b000001000000"),  # the suite's fake registers for negative tests
    ],
)
def test_conformance_syntax(text: str, hexbytes: str) -> None:
    assert encode(assemble(text)).hex() == hexbytes


def test_conformance_implicit_exit_label() -> None:
    # bpf_conformance: a jump to "exit" with no "exit:" label goes to the first exit
    prog = assemble("jeq %r1, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit")
    assert prog[0].off == 1
    # an explicit label wins
    prog = assemble("jeq %r1, 0, exit\nexit\nmov %r0, 1\nexit:\nexit")
    assert prog[0].off == 2


def test_conformance_slot_counting() -> None:
    prog = assemble("""
        mov %r0, 0
        jeq %r1, 0, exit
        lddw %r2, 1
        call local func
    L1:
        ja L1
        exit
    func:
        mov %r0, 2
        exit
    """)
    # slots: mov 0, jeq 1, lddw 2-3, call 4, ja 5, exit 6, mov 7, exit 8
    assert prog[1].off == 6 - 1 - 1
    assert prog[3].imm == 7 - 4 - 1 and prog[3].src == 1
    assert prog[4].off == -1


# --- llvm syntax -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,hexbytes",
    [
        ("r0 = *(u8 *)skb[23]", "3000000017000000"),
        ("r0 = *(u16 *)skb[r1]", "4810000000000000"),
        ("r0 = *(u32 *)skb[r1 + 4]", "4010000004000000"),
        ("*(u32 *)(r10 - 4) = r0", "630afcff00000000"),
        ("*(u64 *)(r10 - 8) = 99", "7a0af8ff63000000"),
        ("r1 = 0 ll", "1801000000000000" + "0000000000000000"),
        ("r1 = -1 ll", "18010000ffffffff" + "00000000ffffffff"),
        ("r1 = 0x10 ll", "1801000010000000" + "0000000000000000"),
        ("if r0 == 0 goto +2", "1500020000000000"),
        ("if w1 s> w2 goto -3", "6e21fdff00000000"),
        ("if r1 & 8 goto +1", "4501010008000000"),
        ("lock *(u64 *)(r0 + 0) += r1", "db10000000000000"),
        ("lock *(u32 *)(r0 + 0) += w1", "c310000000000000"),
        ("lock *(u32 *)(r0 + 0) += r1", "c310000000000000"),
        ("lock *(u64 *)(r0 + 0) ^= r1", "db100000a0000000"),
        ("r0 = atomic_fetch_add((u64 *)(r1 + 8), r0)", "db01080001000000"),
        ("w0 = atomic_fetch_and((u32 *)(r1 + 8), w0)", "c301080051000000"),
        ("r0 = xchg_64(r1 + 8, r0)", "db010800e1000000"),
        ("r0 = cmpxchg_64(r1 + 8, r0, r2)", "db210800f1000000"),
        ("w0 = cmpxchg32_32(r1 + 8, w0, w2)", "c3210800f1000000"),
        ("call 1", "8500000001000000"),
        ("call -1", "85000000ffffffff"),
        ("callx r2", "8d02000000000000"),
        ("exit", "9500000000000000"),
        ("w0 = w1", "bc10000000000000"),
        ("r1 = be16 r1", "dc01000010000000"),
        ("r1 = le32 r1", "d401000020000000"),
        ("r1 = bswap16 r1", "d701000010000000"),
        ("r1 = (s8)r2", "bf21080000000000"),
        ("w1 = (s16)w2", "bc21100000000000"),
        ("r1 s/= r2", "3f21010000000000"),
        ("w1 s%= 3", "9401010003000000"),
        ("r1 s>>= 3", "c701000003000000"),
        ("r1 = -r1", "8701000000000000"),
        ("gotol +3", "0600000003000000"),
        ("goto -1", "0500ffff00000000"),
        ("r1 = *(s8 *)(r2 + 4)", "9121040000000000"),
        ("w1 = *(u32 *)(r2 + 0)", "6121000000000000"),
        ("r1 = *(u64 *)(r10 - 0x8)", "79a1f8ff00000000"),
        ("r1 += -0x5", "07010000fbffffff"),
        ("r1 = 0xffffffff", "b7010000ffffffff"),
    ],
)
def test_llvm_syntax(text: str, hexbytes: str) -> None:
    assert encode(assemble(text)).hex() == hexbytes


def test_llvm_labels_and_annotations() -> None:
    prog = assemble("""
    func:
        if r1 == 0 goto LBB0_2
        r0 = 1
        goto LBB0_3 ; comment
    LBB0_2:
        r0 = 2 // another
    LBB0_3:
        exit
        call func
    """)
    assert [i.off for i in prog[:3]] == [2, 0, 1]
    assert prog[5].src == 1 and prog[5].imm == -6


def test_bare_annotation_targets() -> None:
    prog = assemble("f:\nif r1 == 0 goto <out>\ngoto <out>\ncall <f>\nout:\nexit")
    assert [prog[0].off, prog[1].off, prog[2].imm, prog[2].src] == [2, 1, -3, 1]


def test_objdump_output_reassembles() -> None:
    text = """
/tmp/x.o:\tfile format elf64-bpf

Disassembly of section socket:

0000000000000000 <prog>:
       0:\tbf 16 00 00 00 00 00 00\tr6 = r1
       1:\t18 01 00 00 ef cd ab 89 00 00 00 00 67 45 23 01\tr1 = 81985529216486895 ll
       3:\t15 01 01 00 00 00 00 00\tif r1 == 0 goto +1 <prog+0x28>
       4:\t85 00 00 00 01 00 00 00\tcall 1
       5:\t95 00 00 00 00 00 00 00\texit
"""
    prog = assemble(text)
    assert encode(prog).hex() == (
        "bf16000000000000"
        "18010000efcdab89"
        "0000000067452301"
        "1501010000000000"
        "8500000001000000"
        "9500000000000000"
    )


def test_mixed_syntaxes_share_labels() -> None:
    prog = assemble("mov %r0, 0\nif r1 == 0 goto out\nadd %r0, 1\nout:\nexit")
    assert prog[1].off == 1


@pytest.mark.parametrize(
    "stmt,conf",
    [
        ("mov %r0, 1", True),
        ("exit", False),
        ("call 1", False),
        ("call local f", True),
        ("lock add [%r10-8], %r1", True),
        ("lock *(u64 *)(r0 + 0) += r1", False),
        ("ja +1", True),
        ("goto +1", False),
        ("r0 = 1", False),
        ("be16 %r0", True),
    ],
)
def test_syntax_detection(stmt: str, conf: bool) -> None:
    assert is_conformance_syntax(stmt) is conf


# --- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,line,msg",
    [
        ("mov %r0, 1\nfoo %r1\nexit", 2, "unknown mnemonic 'foo'"),
        ("mov %r0, 1\nmov %r16, 1", 2, "invalid register '%r16'"),
        ("mov %r0", 1, "takes 2 operands"),
        ("ldxw %r0, %r1", 1, "invalid memory operand"),
        ("mov %r0, 0x1ffffffff", 1, "does not fit"),
        ("lddw %r0, 0x1ffffffffffffffff", 1, "does not fit"),
        ("ja nowhere\nexit", 1, "undefined label 'nowhere'"),
        ("a:\nexit\na:\nexit", 3, "duplicate label 'a'"),
        ("r11 = 1", 1, "invalid register 'r11'"),
        ("r1 = w2", 1, "must be a 64-bit register"),
        ("r0 = *(u8 *)skb[r1] + 1", 1, "unrecognised instruction"),
        ("r1 = *(u8 *)skb[4]", 1, "always load into r0"),
        ("r1 = -r2", 1, "in place"),
        ("goto +40000", 1, "does not fit"),
        ("\n\nr1 = atomic_fetch_add((u64 *)(r1 + 8), r0)", 3, "source register"),
        ("lock fetch nand [%r10-8], %r1", 1, "unknown atomic operation"),
        ("call sideways 3", 1, "invalid call mode"),
    ],
)
def test_errors_name_the_line(text: str, line: int, msg: str) -> None:
    with pytest.raises(AsmError) as e:
        assemble(text)
    assert e.value.line == line
    assert msg in str(e.value)
    assert f"line {line}" in str(e.value)
    assert e.value.text is not None and e.value.text.strip() in text


def test_far_jump_to_label_does_not_fit() -> None:
    text = "ja far\n" + "mov %r0, 0\n" * 33000 + "far:\nexit\n"
    with pytest.raises(AsmError, match="does not fit in 16 bits") as e:
        assemble(text)
    assert e.value.line == 1
    # gotol reaches it
    prog = assemble(text.replace("ja far", "ja32 far", 1))
    assert prog[0].imm == 33000
