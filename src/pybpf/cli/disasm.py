"""``pybpf disasm FILE``: llvm-objdump-style disassembly of an ELF object or raw instructions."""

from __future__ import annotations

import click

from ..disasm import is_elf, listing, objdump, raw_file
from ..errors import BpfError
from . import main


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--section", "-j", "section", default=None,
              help="Only this ELF section (any section, executable or not).")
@click.option("--hex", "hex_", is_flag=True, help="Numbers in hex, as LLVM 19 prints them.")
@click.option("--exact", is_flag=True,
              help="For raw files: llvm-objdump's exact text (loses local-call and pseudo-LDDW "
                   "markers) instead of pybpf's lossless form.")
def disasm(file: str, section: str | None, hex_: bool, exact: bool) -> None:
    """Disassemble FILE (an eBPF ELF object, or raw little-endian instructions)."""
    if is_elf(file):
        click.echo(objdump(file, section=section, hex=hex_), nl=False)
        return
    if section is not None:
        raise BpfError(f"{file}: --section applies to ELF objects only (this is raw bytes)")
    click.echo(listing(raw_file(file), hex=hex_, exact=exact), nl=False)
