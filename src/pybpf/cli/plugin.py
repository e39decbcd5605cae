"""``pybpf plugin [MEMHEX]``: the bpf_conformance plugin protocol.

The suite's runner (bpf_conformance_runner --plugin_path ...) starts the
plugin once per test with the memory as hex bytes in argv[1] (and plugin
options after it), writes the program's bytes as hex on stdin, and reads R0
back from stdout as hex without a prefix (``std::hex``). A failure exits
non-zero with the error text on stdout, which the runner compares with the
test's ``-- error`` expectation. ``--program HEX`` passes the program in argv
instead, as the suite's own plugins allow.
"""

from __future__ import annotations

import sys

import click

from ..errors import BpfError
from ..vm.conformance import run_program
from . import main


def _hex_bytes(text: str) -> bytes:
    """Hex bytes separated by whitespace ("b7 00 ..") or run together ("b700..")."""
    out = bytearray()
    for tok in text.split():
        tok = tok.removeprefix("0x")
        if len(tok) <= 2:
            out.append(int(tok, 16))
        else:
            if len(tok) % 2:
                raise ValueError(f"odd number of hex digits in {tok!r}")
            out += bytes.fromhex(tok)
    return bytes(out)


@main.command("plugin", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--program", "program_hex", default=None, help="Program bytes as hex (else stdin).")
@click.option("--debug", is_flag=True, help="Print the decoded program to stderr.")
@click.option("--budget", type=int, default=None, help="Executed-instruction budget.")
def plugin_cmd(
    args: tuple[str, ...], program_hex: str | None, debug: bool, budget: int | None
) -> None:
    """Run one program for bpf_conformance: program hex on stdin, memory hex in MEMHEX.

    Prints R0 in hex; on error prints the message and exits 1.
    """
    rest = [a for a in args if a.strip()]
    if any(a.startswith("--") for a in rest):
        bad = next(a for a in rest if a.startswith("--"))
        click.echo(f"Unexpected arguments: {bad}")
        sys.exit(1)
    if len(rest) > 1:
        click.echo(f"Unexpected arguments: {rest[1]}")
        sys.exit(1)
    try:
        mem = _hex_bytes(rest[0]) if rest else b""
        text = program_hex if program_hex is not None else sys.stdin.read()
        code = _hex_bytes(text)
    except ValueError as e:
        click.echo(f"invalid hex input: {e}")
        sys.exit(1)
    try:
        if debug:
            from ..isa import decode

            for i, insn in enumerate(decode(code)):
                click.echo(f"{i}: {insn}", err=True)
        r0 = run_program(code, mem, has_mem=bool(mem), budget=budget)
    except BpfError as e:
        click.echo(str(e))
        sys.exit(1)
    click.echo(f"{r0:x}")
