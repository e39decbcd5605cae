"""Classic programs in and out: tcpdump -d/-dd/-ddd, bpf_asm syntax, raw bytes, C arrays."""

from __future__ import annotations

import pytest
from classic_cases import EXPRESSIONS, TCPDUMP, classic_programs, tcpdump_program
from hypothesis import given, settings

from pybpf.cbpf import SockFilter, decode, encode, read_classic
from pybpf.cbpf.asm import assemble
from pybpf.cbpf.forms import detect_form, parse_c_array, parse_image
from pybpf.cbpf.insn import ANCILLARY, BPF_STMT
from pybpf.cbpf.printer import bpf_asm, bytecode, c_array, decimal, image
from pybpf.errors import AsmError, BpfError, InsnError

needs_tcpdump = pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is not installed")


@needs_tcpdump
@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_tcpdump_forms_read_back_and_print_identically(expr: str) -> None:
    """-d, -dd and -ddd all read as the same program; pybpf prints each exactly as tcpdump."""
    ref = read_classic(tcpdump_program(expr, "-ddd").encode())
    for flag, printer in (("-d", image), ("-dd", c_array), ("-ddd", decimal)):
        text = tcpdump_program(expr, flag)
        assert read_classic(text.encode()) == ref, flag
        assert printer(ref) == text, flag
    assert assemble(bpf_asm(ref)) == ref


@needs_tcpdump
@pytest.mark.parametrize("linktype", ["LINUX_SLL", "RAW", "NULL", "IEEE802_11_RADIO"])
def test_other_link_types_print_as_tcpdump(linktype: str) -> None:
    for expr in ("ip", "tcp port 80", "ip6 and udp"):
        try:
            text = tcpdump_program(expr, "-d", linktype)
        except Exception:  # noqa: BLE001 - an expression that link type cannot express
            continue
        prog = parse_image(text)
        assert image(prog) == text


@settings(max_examples=300, deadline=None)
@given(classic_programs())
def test_every_form_round_trips(prog: list[SockFilter]) -> None:
    for form, text in (
        ("asm", bpf_asm(prog)),
        ("image", image(prog)),
        ("c", c_array(prog)),
        ("ddd", decimal(prog)),
        ("bytecode", bytecode(prog)),
    ):
        assert detect_form(text.encode()) == form
        assert read_classic(text.encode()) == prog, form
    assert read_classic(encode(prog)) == prog
    assert decode(encode(prog, "big"), "big") == prog


def test_bpf_asm_syntax() -> None:
    src = """
    /* IPv4 TCP to port 22? */
    ; a comment line
    # a cpp-style comment line
            ldh [12]
            jne #0x800, drop          ; not IPv4
            ldb [23]
            jeq #6, tcp, drop
    tcp:    ldxb 4*([14]&0xf)
            ldh [x + 16]
            jeq #22, keep
            jmp drop
    keep:   ret #-1
    drop:   ret #0
    """
    prog = assemble(src)
    assert prog[1] == SockFilter(0x15, 0, 7, 0x800)  # jne: jt 0, jf -> drop
    assert prog[3] == SockFilter(0x15, 0, 5, 6)
    assert prog[4] == SockFilter(0xB1, 0, 0, 14)
    assert prog[5] == SockFilter(0x48, 0, 0, 16)
    assert prog[6] == SockFilter(0x15, 1, 0, 22)
    assert prog[7] == SockFilter(0x05, 0, 0, 1)
    assert prog[8] == SockFilter(0x06, 0, 0, 0xFFFFFFFF)


def test_bpf_asm_extensions_numbers_and_registers() -> None:
    prog = assemble(
        "ld #proto\nldh #type\nldb vlan_tci\nld #len\nldx len\nld M[3]\nst M[15]\n"
        "ldi #0b101\nldxi 017\nld [%x + 2]\nadd %x\nret %a\n"
    )
    assert prog[0].k == ANCILLARY[0].k and prog[0].code == 0x20
    assert prog[1].code == 0x28 and prog[2].code == 0x30
    assert [f.code for f in prog[3:7]] == [0x80, 0x81, 0x60, 0x02]
    assert prog[7].k == 5 and prog[8].k == 15 and prog[9] == SockFilter(0x40, 0, 0, 2)
    assert prog[10].code == 0x0C and prog[11].code == 0x16


@pytest.mark.parametrize(
    ("src", "line", "what"),
    [
        ("ld [12]\njeq #1, nowhere\nret #0", 2, "no such label"),
        ("a1: ret #0\nja a1\n", 2, "back"),
        ("ld [12]\nfoo [1]\n", 2, "not an instruction"),
        ("ld [12]\nldx 5*([14]&0xf)\nret #0", 2, "ldxb"),
        ("ld [12]\nld #nosuch\n", 2, "unknown extension"),
        ("ret #0\nret @\n", 2, "unknown character"),
        ("l1: ret #0\nl1: ret #1\n", 2, "twice"),
        ("", 1, "no instructions"),
    ],
)
def test_bpf_asm_errors_name_the_line(src: str, line: int, what: str) -> None:
    with pytest.raises(AsmError) as ei:
        assemble(src)
    assert ei.value.line == line
    assert what in str(ei.value)


def test_bpf_asm_jump_range() -> None:
    src = "jeq #1, far\n" + "ld #1\n" * 256 + "far: ret #0\n"
    with pytest.raises(AsmError, match="out of range"):
        assemble(src)


def test_c_arrays_with_the_kernels_macros() -> None:
    text = """
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (SKF_AD_OFF + SKF_AD_PROTOCOL)),  /* comment */
        BPF_JUMP(BPF_JMP+BPF_JEQ+BPF_K, 0x800, 0, 1),
        { 0x06, 0, 0, 0x0000ffff },
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog = { .len = 4, .filter = code };
    """
    prog = parse_c_array(text)
    assert prog == [
        SockFilter(0x20, 0, 0, 0xFFFFF000),
        SockFilter(0x15, 0, 1, 0x800),
        SockFilter(0x06, 0, 0, 0xFFFF),
        BPF_STMT(0x06, 0),
    ]
    with pytest.raises(AsmError, match="unknown name 'BPF_NOPE'"):
        parse_c_array("{ BPF_NOPE, 0, 0, 0 },")


def test_raw_bytes_errors_name_the_offset() -> None:
    with pytest.raises(InsnError, match="offset 0x8"):
        decode(bytes(12))


def test_decimal_count_must_match() -> None:
    with pytest.raises(AsmError, match="says 3"):
        read_classic(b"3\n6 0 0 0\n", form="ddd")


def test_read_classic_names_the_file(tmp_path) -> None:
    p = tmp_path / "bad.bpf"
    p.write_text("ld [12]\nbogus\n")
    with pytest.raises(BpfError, match=r"bad\.bpf: line 2"):
        read_classic(p)
    with pytest.raises(BpfError, match="cannot read"):
        read_classic(tmp_path / "missing.bpf")


def test_bpf_asm_printer_handles_every_opcode_it_should() -> None:
    with pytest.raises(BpfError, match="no bpf_asm spelling"):
        bpf_asm([SockFilter(0xFF)])
    # RET X is bpf_asm syntax (the kernel refuses it, the assembler does not)
    assert assemble(bpf_asm([SockFilter(0x0E)])) == [SockFilter(0x0E)]
