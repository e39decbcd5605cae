"""``pybpf asm FILE -o OUT``: assemble text (llvm or bpf_conformance syntax) to raw bytes."""

from __future__ import annotations

import sys

import click

from ..asm.text import assemble
from ..errors import AsmError, BpfError
from ..isa import encode
from . import main
from .files import INPUT_FILE_OR_STDIN, write_atomic


@main.command()
@click.argument("file", type=INPUT_FILE_OR_STDIN)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the raw little-endian instructions here.",
)
@click.option(
    "--hex",
    "hex_",
    is_flag=True,
    help="Print the program as one hex string (the conformance plugin's input).",
)
def asm(file: str, output: str | None, hex_: bool) -> None:
    """Assemble FILE ('-' for stdin) into raw eBPF instructions."""
    if file == "-":
        raw = sys.stdin.buffer.read()
    else:
        with open(file, "rb") as fh:
            raw = fh.read()
    try:
        text = raw.decode()
    except UnicodeDecodeError as e:
        raise AsmError(
            f"{file}: not assembler text: byte {e.start} ({raw[e.start]:#04x}) is not UTF-8 "
            "(to disassemble an object or raw instructions use pybpf disasm)"
        ) from None
    insns = assemble(text)
    if not insns:
        raise AsmError(f"{file}: no instructions to assemble")
    data = encode(insns)
    if output is None and not hex_:
        if sys.stdout.isatty():
            raise BpfError("refusing to write binary to a terminal: give -o OUT or --hex")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    if output is not None:
        write_atomic(output, data)
    if hex_:
        click.echo(data.hex())
