"""``pybpf cc``: compile restricted C to an eBPF object with the shipped clang."""

from __future__ import annotations

from pathlib import Path

import click

from . import main


@main.command("cc")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="object file to write (default: SOURCE with .o)",
)
@click.option(
    "-I",
    "include_dirs",
    multiple=True,
    type=click.Path(file_okay=False),
    help="add a header search directory",
)
@click.option("-D", "defines", multiple=True, help="define a macro (NAME or NAME=VALUE)")
@click.option("-O", "opt", default="2", show_default=True, help="optimisation level")
@click.option("--no-cache", is_flag=True, help="always run the compiler")
@click.option("--print-command", is_flag=True, help="show the compiler command line")
def cc_command(
    source: Path,
    output: Path | None,
    include_dirs: tuple[str, ...],
    defines: tuple[str, ...],
    opt: str,
    no_cache: bool,
    print_command: bool,
) -> None:
    """Compile SOURCE (restricted C) to an eBPF ELF object with BTF and line info."""
    from ..spec.cc import build_command, compile_c

    out = output if output is not None else source.with_suffix(".o")
    if print_command:
        click.echo(" ".join(build_command(source, out, include_dirs, defines, f"-O{opt}")))
    path = compile_c(source, out, include_dirs, defines, f"-O{opt}", use_cache=not no_cache)
    click.echo(str(path))
