"""``pybpf disasm FILE``: llvm-objdump-style disassembly of an object, C file or raw instructions."""

from __future__ import annotations

from pathlib import Path

import click

from ..asm.disasm import is_elf, listing, objdump, raw_file
from ..errors import BpfError
from . import main
from .files import INPUT_FILE


@main.command()
@click.argument("file", type=INPUT_FILE)
@click.option(
    "--section",
    "-s",
    "-j",
    "section",
    default=None,
    help="Only this ELF section (any section, executable or not); -j as in llvm-objdump.",
)
@click.option("--hex", "hex_", is_flag=True, help="Numbers in hex, as LLVM 19 prints them.")
@click.option(
    "--exact",
    is_flag=True,
    help="For raw files: llvm-objdump's exact text (loses local-call and pseudo-LDDW "
    "markers) instead of pybpf's lossless form.",
)
@click.option(
    "--source",
    "-S",
    is_flag=True,
    help="Interleave the C source lines as llvm-objdump -S does (DWARF line table and "
    "source files; the object's .BTF.ext line info where those are missing).",
)
@click.option(
    "--ebpf",
    is_flag=True,
    help="For a classic program: the eBPF the kernel converts it to (bpf_convert_filter).",
)
def disasm(
    file: str, section: str | None, hex_: bool, exact: bool, source: bool, ebpf: bool
) -> None:
    """Disassemble FILE: an eBPF ELF object, a C file (compiled first), a macro module
    (.py), raw little-endian instructions, or a classic program (printed as tcpdump -d)."""
    path = Path(file)
    from ..cbpf.files import classic_file, classic_listing

    classic = classic_file(file)
    if classic is not None:
        click.echo(classic_listing(classic, ebpf=ebpf, hex=hex_), nl=False)
        return
    if ebpf:
        raise BpfError(f"{file}: --ebpf shows what a classic program converts to; this is eBPF")
    if path.suffix == ".c":
        from ..spec.cc import compile_c

        file = str(compile_c(path))
    if path.suffix == ".py":
        if source:
            raise BpfError(f"{file}: --source needs an ELF object or a C file (no line info)")
        _programs(file, section, hex_, exact)
        return
    if is_elf(file):
        # the header names the user's file, not the compile cache's object
        text = objdump(file, section=section, hex=hex_, source=source, warn=_warn)
        click.echo(text.replace(f"\n{file}:\t", f"\n{path}:\t", 1), nl=False)
        return
    if source:
        raise BpfError(f"{file}: --source needs an ELF object or a C file (no line info)")
    if section is not None:
        raise BpfError(f"{file}: --section applies to ELF objects only (this is raw bytes)")
    size = path.stat().st_size
    if size == 0:
        raise BpfError(f"{path}: empty file: no instructions to disassemble")
    if size % 8:
        raise BpfError(
            f"{path}: {size} bytes is not a multiple of 8 (whole 8-byte instructions), "
            "and the file is not an ELF object"
        )
    click.echo(listing(raw_file(file), hex=hex_, exact=exact), nl=False)


def _programs(file: str, section: str | None, hex_: bool, exact: bool) -> None:
    """Each program a macro module builds."""
    from ..loader import load

    spec = load(file, verify=False).spec
    shown = 0
    for name, ps in spec.programs.items():
        if section is not None and section not in (ps.section, name):
            continue
        click.echo(f"{ps.section or 'program'} <{name}>:")
        click.echo(listing(ps.insns, hex=hex_, exact=exact))
        shown += 1
    if not shown:
        raise BpfError(f"{file}: no program in section {section!r}")


def _warn(msg: str) -> None:
    click.echo(f"pybpf disasm: {msg}", err=True)
