"""``pybpf btf dump FILE``: the types of a BTF blob, as C (a vmlinux.h) or one line per type."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import main


@main.group("btf")
def btf_group() -> None:
    """Inspect BTF: an object's .BTF, a raw BTF file, or /sys/kernel/btf/vmlinux."""


@btf_group.command("dump")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["c", "raw"]),
    default="c",
    show_default=True,
    help="c: a header programs can include (as `bpftool btf dump ... format c`); "
    "raw: one line per type",
)
def dump_command(source: Path, fmt: str) -> None:
    """Print the types of SOURCE's BTF.

    \b
    pybpf btf dump /sys/kernel/btf/vmlinux > vmlinux.h
    pybpf btf dump prog.o --format raw
    """
    from ..spec.btf_dump import CDumper, dump_raw, read_btf

    btf = read_btf(source)
    out = sys.stdout
    if fmt == "c":
        for chunk in CDumper(btf).chunks():
            out.write(chunk)
    else:
        for line in dump_raw(btf):
            out.write(line + "\n")
    out.flush()
