"""The disassembler against llvm-objdump (LLVM 14 and 19) and llvm-mc, and its round trip
through the assembler."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.asm.disasm import (
    disassemble,
    format_insn,
    listing,
    objdump,
    parse_objdump_lines,
)
from pybpf.asm.text import assemble
from pybpf.isa import BPF_CALL, BPF_JMP, OPCODES, Insn, decode, encode
from support.paths import (  # noqa: E402
    DATA,  # noqa: E402
    conformance_files,
    conformance_params,
    require_conformance,
)
from support.strategies import valid_insns  # noqa: E402

OBJDUMP14 = shutil.which("llvm-objdump-14") or shutil.which("llvm-objdump")
OBJDUMP19 = shutil.which("llvm-objdump-19")
MC19 = shutil.which("llvm-mc-19")
C_SOURCES = sorted(p for p in DATA.glob("asm_*.c") if not p.stem.endswith("_host"))

needs_objdump14 = pytest.mark.skipif(OBJDUMP14 is None, reason="llvm-objdump (LLVM 14) missing")
needs_objdump19 = pytest.mark.skipif(OBJDUMP19 is None, reason="llvm-objdump-19 missing")
needs_mc19 = pytest.mark.skipif(MC19 is None, reason="llvm-mc-19 missing")


def conformance_asm(path: Path) -> str:
    sec, out = None, []
    for line in path.read_text().splitlines():
        if line.startswith("-- "):
            sec = line[3:].strip()
            continue
        if sec == "asm":
            out.append(line)
    return "\n".join(out)


# --- compiled objects ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("asm_objs")
    objs = []
    for src in C_SOURCES:
        obj = out / (src.stem + ".o")
        cmd = [
            sys.executable,
            "-m",
            "ziglang",
            "cc",
            "-target",
            "bpfel-freestanding",
            "-O2",
            "-mcpu=v3",
            "-g",
            "-c",
            str(src),
            "-o",
            str(obj),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"zig cc cannot build {src.name}: {r.stderr[-400:]}")
        objs.append(obj)
    return objs


def _run(tool: str, *args: str) -> str:
    return subprocess.run([tool, *args], check=True, capture_output=True, text=True).stdout


def test_c_sources_exist() -> None:
    assert len(C_SOURCES) >= 3


@needs_objdump14
def test_objdump_matches_llvm14_per_instruction(objects: list[Path]) -> None:
    """Every instruction LLVM 14 can decode is printed exactly as llvm-objdump prints it."""
    compared = 0
    for obj in objects:
        ref = _run(OBJDUMP14, "-d", str(obj))
        mine = objdump(obj)
        ref_lines = parse_objdump_lines(ref)
        mine_lines = parse_objdump_lines(mine)
        assert [(a, b) for a, b, _ in ref_lines] == [(a, b) for a, b, _ in mine_lines]
        for (slot, raw, rtext), (_, _, mtext) in zip(ref_lines, mine_lines, strict=True):
            if rtext == "<unknown>":  # LLVM 14 lacks e.g. BPF_MOD; checked against 19 below
                continue
            assert mtext == rtext, f"{obj.name} slot {slot} ({raw})"
            compared += 1
        # headers and layout too, once the undecodable lines are set aside
        strip = re.compile(r"\t[^\t]*$")
        assert [strip.sub("", x) for x in mine.splitlines()] == [
            strip.sub("", x) for x in ref.splitlines()
        ]
    assert compared > 100


@needs_objdump19
def test_objdump_hex_matches_llvm19_exactly(objects: list[Path]) -> None:
    for obj in objects:
        assert objdump(obj, hex=True) == _run(OBJDUMP19, "-d", str(obj))


def test_objects_roundtrip_through_text(objects: list[Path]) -> None:
    """objdump text of a compiled object re-assembles to the section bytes."""
    from elftools.elf.elffile import ELFFile

    for obj in objects:
        with open(obj, "rb") as fh:
            elf = ELFFile(fh)
            for sec in elf.iter_sections():
                if not sec["sh_flags"] & 0x4 or not sec.data():
                    continue
                text = objdump(obj, section=sec.name)
                insns = assemble(text)
                expect = decode(sec.data())
                # llvm's text cannot tell local calls (src=1) from helper calls
                expect = [i.replace(src=0) if i.code == BPF_JMP | BPF_CALL else i for i in expect]
                assert insns == expect, f"{obj.name} {sec.name}"


@needs_objdump14
def test_llvm14_output_reassembles(objects: list[Path]) -> None:
    """llvm-objdump's own text (with its <unknown> lines) assembles back to the bytes."""
    for obj in objects:
        for section in ("socket", ".text"):
            try:
                ref = _run(OBJDUMP14, "-d", f"--section={section}", str(obj))
            except subprocess.CalledProcessError:
                continue
            lines = parse_objdump_lines(ref)
            if not lines:
                continue
            raw = bytes.fromhex("".join(b.replace(" ", "") for _, b, _ in lines))
            expect = [i.replace(src=0) if i.code == BPF_JMP | BPF_CALL else i for i in decode(raw)]
            assert assemble(ref) == expect, f"{obj.name} {section}"


# --- every opcode, through an object made by llvm-mc -------------------------------------------
@st.composite
def programs(draw) -> list[Insn]:
    return draw(st.lists(valid_insns(), min_size=1, max_size=60))


def _quad_object(tmp_path: Path, insns: list[Insn]) -> Path:
    data = encode(insns)
    lines = [".text"] + [
        f".quad {int.from_bytes(data[i : i + 8], 'little'):#x}" for i in range(0, len(data), 8)
    ]
    src = tmp_path / "q.s"
    src.write_text("\n".join(lines) + "\n")
    obj = tmp_path / "q.o"
    mc = MC19 or shutil.which("llvm-mc")
    subprocess.run([mc, "-triple", "bpfel", "-filetype=obj", str(src), "-o", str(obj)], check=True)
    return obj


def _llvm_lossy(insn: Insn) -> bool:
    """Encodings whose llvm text differs from pybpf's on purpose (see pybpf.asm.disasm)."""
    info = OPCODES[insn.code]
    if info.kind == "ldind" and insn.imm:
        return True
    if info.kind == "lddw" and insn.src and insn.imm_hi:
        return True
    return info.kind == "atomic" and not info.is64 and insn.imm != 0


@needs_objdump19
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_every_opcode_matches_llvm19(tmp_path_factory, prog: list[Insn]) -> None:
    obj = _quad_object(tmp_path_factory.mktemp("q"), prog)
    ref = parse_objdump_lines(_run(OBJDUMP19, "-d", str(obj)))
    mine = parse_objdump_lines(objdump(obj, hex=True))
    assert len(ref) == len(mine) == len(prog)
    for insn, (slot, raw, rtext), (_, _, mtext) in zip(prog, ref, mine, strict=True):
        if _llvm_lossy(insn):
            continue
        assert mtext == rtext, f"slot {slot} ({raw})"


@needs_objdump14
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_every_opcode_matches_llvm14(tmp_path_factory, prog: list[Insn]) -> None:
    obj = _quad_object(tmp_path_factory.mktemp("q"), prog)
    ref = parse_objdump_lines(_run(OBJDUMP14, "-d", str(obj)))
    mine = parse_objdump_lines(objdump(obj))
    assert len(ref) == len(mine) == len(prog)
    for insn, (slot, raw, rtext), (_, _, mtext) in zip(prog, ref, mine, strict=True):
        if rtext == "<unknown>" or _llvm_lossy(insn):
            continue
        if OPCODES[insn.code].kind == "callx":  # LLVM 14 reads the register from imm
            continue
        if OPCODES[insn.code].kind == "alu" and insn.off:  # cpu v4 movsx/sdiv/smod: LLVM 14
            continue  # ignores the offset field and prints the plain mov/div/mod
        assert mtext == rtext, f"slot {slot} ({raw})"


# --- round trips -------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(programs(), st.booleans())
def test_disassemble_assemble_roundtrip(prog: list[Insn], hex_: bool) -> None:
    assert assemble(disassemble(prog, hex=hex_)) == prog


@settings(max_examples=100, deadline=None)
@given(programs())
def test_listing_reassembles(prog: list[Insn]) -> None:
    assert assemble(listing(prog)) == prog


@needs_mc19
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_llvm_mc_assembles_our_text_to_the_same_bytes(tmp_path_factory, prog) -> None:
    """llvm-mc-19 (-mcpu=v4) agrees with our text for every form llvm has a syntax for."""
    prog = [i for i in prog if not _llvm_only_pybpf(i)]
    if not prog:
        return
    src = tmp_path_factory.mktemp("mc") / "p.s"
    src.write_text(disassemble(prog))
    obj = src.with_suffix(".o")
    subprocess.run(
        [MC19, "-triple", "bpfel", "-mcpu=v4", "-filetype=obj", str(src), "-o", str(obj)],
        check=True,
        capture_output=True,
    )
    from elftools.elf.elffile import ELFFile

    with open(obj, "rb") as fh:
        assert ELFFile(fh).get_section_by_name(".text").data() == encode(prog)


def _llvm_only_pybpf(insn: Insn) -> bool:
    """Forms llvm-mc does not read: pybpf's lossless syntax, and numeric `gotol` offsets
    beyond 16 bits (llvm-objdump prints `gotol +32768`, but llvm-mc-19's parser accepts
    such a target only as a label: "operand is not an identifier or 16-bit signed integer")."""
    info = OPCODES[insn.code]
    if info.kind == "call" and insn.src:
        return True
    if info.kind == "lddw" and insn.src:
        return True
    if info.kind == "ja" and not info.is64 and not -0x8000 <= insn.imm <= 0x7FFF:
        return True
    return info.kind == "ldind" and insn.imm != 0


@pytest.mark.parametrize("path", conformance_params(), ids=lambda p: p.stem)
def test_conformance_roundtrip(path: Path) -> None:
    insns = assemble(conformance_asm(path))
    assert insns
    assert assemble(disassemble(insns)) == insns
    assert assemble(disassemble(insns, hex=True, labels=True)) == insns


@needs_mc19
def test_conformance_agrees_with_llvm_mc(tmp_path: Path) -> None:
    """Our reading of every conformance file, re-read by llvm-mc-19, gives the same bytes."""
    require_conformance()
    files = conformance_files()
    chunks, expect = [], []
    for path in files:
        insns = assemble(conformance_asm(path))
        # llvm has no text for a local call distinct from a helper call
        insns = [i.replace(src=0) if i.code == BPF_JMP | BPF_CALL else i for i in insns]
        chunks.append(disassemble(insns))
        expect.append(encode(insns))
    src = tmp_path / "all.s"
    src.write_text("".join(chunks))
    obj = tmp_path / "all.o"
    subprocess.run(
        [MC19, "-triple", "bpfel", "-mcpu=v4", "-filetype=obj", str(src), "-o", str(obj)],
        check=True,
        capture_output=True,
    )
    from elftools.elf.elffile import ELFFile

    with open(obj, "rb") as fh:
        assert ELFFile(fh).get_section_by_name(".text").data() == b"".join(expect)
    assert len(files) == 313


# --- details -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "insn,text",
    [
        (Insn(0x85, 0, 1, 0, 5), "call pc+5"),
        (Insn(0x85, 0, 0, 0, 5), "call 5"),
        (Insn(0x8D, 2), "callx r2"),
        (Insn(0x18, 1, 1, 0, 3), "r1 = map[fd:3] ll"),
        (Insn(0x18, 1, 2, 0, 3, 16), "r1 = map_value[fd:3]+16 ll"),
        (Insn(0x18, 1, 0, 0, -1, -1), "r1 = -1 ll"),
        (Insn(0x50, 0, 1, 0, 4), "r0 = *(u8 *)skb[r1 + 4]"),
        (Insn(0x06, 0, 0, 0, -2), "gotol -2"),
        (Insn(0x3F, 1, 2, 1), "r1 s/= r2"),
        (Insn(0x9C, 1, 2, 1), "w1 s%= w2"),
        (Insn(0xBF, 1, 2, 32), "r1 = (s32)r2"),
        (Insn(0xD7, 1, 0, 0, 64), "r1 = bswap64 r1"),
        (Insn(0xFF), "<unknown>"),
    ],
)
def test_format_insn(insn: Insn, text: str) -> None:
    assert format_insn(insn) == text


def test_exact_mode_is_llvm_text() -> None:
    assert format_insn(Insn(0x85, 0, 1, 0, -1), exact=True) == "call -1"
    assert format_insn(Insn(0x18, 1, 1, 0, 3), exact=True) == "ld_pseudo\tr1, 1, 3"
    assert assemble("ld_pseudo r1, 1, 3") == [Insn(0x18, 1, 1, 0, 3)]
    assert format_insn(Insn(0x50, 0, 1, 0, 4), exact=True) == "r0 = *(u8 *)skb[r1]"


def test_symbols_relocs_and_labels() -> None:
    prog = assemble("r0 = 0\nif r1 == 0 goto +1\nr0 = 1\nexit\n")
    text = disassemble(prog, symbols={0: "main"}, relocs={2: "x"}, labels=True)
    assert text.splitlines() == [
        "main:",
        "r0 = 0",
        "if r1 == 0 goto +1 <LBB3>",
        "r0 = 1  ; reloc: x",
        "LBB3:",
        "exit",
    ]
    assert assemble(text) == prog


def test_seed_program_text() -> None:
    from pybpf.asm.macros import (
        BPF_ADD,
        BPF_ALU64_IMM,
        BPF_B,
        BPF_CALL,
        BPF_DW,
        BPF_EXIT_INSN,
        BPF_JEQ,
        BPF_JMP,
        BPF_JMP_IMM,
        BPF_LD_ABS,
        BPF_LD_MAP_FD,
        BPF_MOV64_IMM,
        BPF_MOV64_REG,
        BPF_RAW_INSN,
        BPF_REG_0,
        BPF_REG_1,
        BPF_REG_2,
        BPF_REG_6,
        BPF_REG_10,
        BPF_STX,
        BPF_STX_MEM,
        BPF_W,
        BPF_XADD,
        BPF_FUNC_map_lookup_elem,
    )

    prog = [
        BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
        BPF_LD_ABS(BPF_B, 14 + 9),
        BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_0, -4),
        BPF_MOV64_REG(BPF_REG_2, BPF_REG_10),
        BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, -4),
        BPF_LD_MAP_FD(BPF_REG_1, 3),
        BPF_RAW_INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
        BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 2),
        BPF_MOV64_IMM(BPF_REG_1, 1),
        BPF_RAW_INSN(BPF_STX | BPF_XADD | BPF_DW, BPF_REG_0, BPF_REG_1, 0, 0),
        BPF_MOV64_IMM(BPF_REG_0, 0),
        BPF_EXIT_INSN(),
    ]
    assert disassemble(prog).splitlines() == [
        "r6 = r1",
        "r0 = *(u8 *)skb[23]",
        "*(u32 *)(r10 - 4) = r0",
        "r2 = r10",
        "r2 += -4",
        "r1 = map[fd:3] ll",
        "call 1",
        "if r0 == 0 goto +2",
        "r1 = 1",
        "lock *(u64 *)(r0 + 0) += r1",
        "r0 = 0",
        "exit",
    ]


# --- CLI -----------------------------------------------------------------------------------------
def test_cli_disasm_elf_and_raw(objects: list[Path], tmp_path: Path) -> None:
    from pybpf.cli import main

    runner = CliRunner()
    r = runner.invoke(main, ["disasm", str(objects[0])])
    assert r.exit_code == 0, r.output
    assert r.output == objdump(objects[0])
    r = runner.invoke(main, ["disasm", "--section", "socket", str(objects[0])])
    assert r.exit_code == 0 and "Disassembly of section socket:" in r.output
    r = runner.invoke(main, ["disasm", "--section", "nope", str(objects[0])])
    assert r.exit_code == 1 and "no section named 'nope'" in r.output

    raw = tmp_path / "prog.bin"
    prog = assemble("r0 = 7\nr1 = 0x1122334455667788 ll\nexit")
    raw.write_bytes(encode(prog))
    r = runner.invoke(main, ["disasm", str(raw)])
    assert r.exit_code == 0
    assert r.output.splitlines() == [
        "       0:\tb7 00 00 00 07 00 00 00\tr0 = 7",
        "       1:\t18 01 00 00 88 77 66 55 00 00 00 00 44 33 22 11\tr1 = 1234605616436508552 ll",
        "       3:\t95 00 00 00 00 00 00 00\texit",
    ]
    raw.write_bytes(encode(prog)[:-3])
    r = runner.invoke(main, ["disasm", str(raw)])
    assert r.exit_code == 1 and "not a multiple of 8" in r.output
    assert "Traceback" not in r.output


def test_objdump_refuses_non_bpf_elf(tmp_path: Path) -> None:
    from pybpf.errors import ElfError, NotSupportedError

    with pytest.raises(ElfError, match="not an eBPF object"):
        objdump(
            sys.executable if Path(sys.executable).read_bytes()[:4] == b"\x7fELF" else "/bin/sh"
        )
    bad = tmp_path / "bad.o"
    bad.write_bytes(b"\x7fELF" + bytes(12))
    with pytest.raises(ElfError):
        objdump(bad)
    src = DATA / "asm_skb.c"
    obj = tmp_path / "be.o"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ziglang",
            "cc",
            "-target",
            "bpfeb-freestanding",
            "-O2",
            "-c",
            str(src),
            "-o",
            str(obj),
        ],
        capture_output=True,
    )
    if r.returncode == 0:
        with pytest.raises(NotSupportedError, match="big-endian"):
            objdump(obj)


# --- the shipped examples, built the way users build them ---------------------------------------
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*_kern.c"))


@pytest.fixture(scope="module")
def example_objects(tmp_path_factory) -> list[Path]:
    from pybpf.spec.cc import compile_c

    out = tmp_path_factory.mktemp("example_objs")
    return [compile_c(src, out / (src.stem + ".o")) for src in EXAMPLES]


@needs_objdump14
def test_examples_disassemble_as_llvm14(example_objects: list[Path]) -> None:
    """sockex1/2/3 as `pybpf disasm` prints them equal `llvm-objdump -d`, line for line."""
    assert len(example_objects) >= 3
    compared = 0
    for obj in example_objects:
        ref = parse_objdump_lines(_run(OBJDUMP14, "-d", str(obj)))
        mine = parse_objdump_lines(objdump(obj))
        assert [(a, b) for a, b, _ in ref] == [(a, b) for a, b, _ in mine]
        for (slot, raw, rtext), (_, _, mtext) in zip(ref, mine, strict=True):
            if rtext != "<unknown>":
                assert mtext == rtext, f"{obj.name} slot {slot} ({raw})"
                compared += 1
    assert compared > 350  # sockex2 alone is ~300 instructions


@needs_objdump19
def test_examples_disassemble_as_llvm19(example_objects: list[Path]) -> None:
    for obj in example_objects:
        assert objdump(obj, hex=True) == _run(OBJDUMP19, "-d", str(obj))


@needs_objdump14
def test_source_interleaving_is_llvm_objdump_s(example_objects: list[Path]) -> None:
    """`pybpf disasm -S` prints what `llvm-objdump -S` prints: same header, labels and bytes,
    the same C lines (from the DWARF line table and the source files, tabs kept) in the
    same places."""
    from pybpf.cli import main

    for obj in example_objects + [Path(__file__).resolve().parents[2] / "examples/sockex1_kern.c"]:
        res = CliRunner().invoke(main, ["disasm", "-S", str(obj)])
        assert res.exit_code == 0, res.output
        if obj.suffix == ".c":  # compiled first; the header names the C file, as for -d
            assert f"\n{obj}:\tfile format elf64-bpf\n" in res.output
            assert "; \tint proto = load_byte(skb" in res.output
            continue
        assert res.output == _run(OBJDUMP14, "-S", str(obj)), obj.name


@needs_objdump14
def test_source_lines_without_the_source_or_dwarf(tmp_path: Path) -> None:
    """A missing source file or an object without DWARF still gets its C lines, from the
    text .BTF.ext carries, with one warning saying so (llvm-objdump prints none)."""
    from pybpf.cli import main
    from pybpf.spec.cc import compile_c

    src = tmp_path / "gone.c"
    src.write_text((Path(__file__).resolve().parents[2] / "examples/sockex1_kern.c").read_text())
    obj = compile_c(src, tmp_path / "gone.o")
    want = _run(OBJDUMP14, "-S", str(obj))
    src.unlink()
    res = CliRunner().invoke(main, ["disasm", "-S", str(obj)])
    assert res.exit_code == 0
    mine_lines, want_lines = res.stdout.splitlines(), want.splitlines()
    # the same listing; the C lines are llvm's where .BTF.ext has the DWARF row's line
    # (it lacks the "{" row the DWARF table gives a function's first instruction)
    assert [ln for ln in mine_lines if not ln.startswith("; ")] == [
        ln for ln in want_lines if not ln.startswith("; ")
    ]
    mine_c = [ln for ln in mine_lines if ln.startswith("; ")]
    want_c = [ln for ln in want_lines if ln.startswith("; ")]
    assert set(mine_c) <= set(want_c) and len(mine_c) >= len(want_c) - 1
    assert res.stderr.count("cannot read source") == 1 and str(src) in res.stderr

    stripped = tmp_path / "nodwarf.o"
    subprocess.run(
        [
            shutil.which("llvm-objcopy") or "llvm-objcopy-14",
            "--strip-debug",
            str(obj),
            str(stripped),
        ],
        check=True,
    )
    res = CliRunner().invoke(main, ["disasm", "-S", str(stripped)])
    assert res.exit_code == 0 and "no DWARF line table" in res.stderr
    comments = [ln for ln in res.stdout.splitlines() if ln.startswith("; ")]
    assert (
        "; \tint proto = load_byte(skb, ETH_HLEN + offsetof(struct iphdr, protocol));" in comments
    )
    assert all(a != b for a, b in zip(comments, comments[1:], strict=False))
    plain = CliRunner().invoke(main, ["disasm", str(stripped)])
    assert plain.exit_code == 0 and not any(ln.startswith("; ") for ln in plain.stdout.splitlines())


def test_source_lines_need_line_info(tmp_path: Path) -> None:
    from pybpf.cli import main

    raw = tmp_path / "prog.bin"
    raw.write_bytes(bytes.fromhex("b700000000000000 9500000000000000".replace(" ", "")))
    res = CliRunner().invoke(main, ["disasm", "-S", str(raw)])
    assert res.exit_code == 1 and "--source needs an ELF object or a C file" in res.output
