"""``pybpf conformance DIR``: run a bpf_conformance-format folder in the interpreter."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..vm.conformance import iter_tests, run_suite
from . import main


@main.command("conformance")
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-v", "--verbose", is_flag=True, help="Print a line for every test, not only failures."
)
def conformance_cmd(folder: Path, verbose: bool) -> None:
    """Run every .data test under FOLDER; print failures and 'N passed, M failed'.

    Exits 1 if any test fails.
    """
    paths = [folder] if folder.is_file() else list(iter_tests(folder))
    outcomes = run_suite(paths)
    failed = 0
    for o in outcomes:
        if not o.passed:
            failed += 1
            click.echo(f"FAIL {o.name}: {o.detail}")
        elif verbose:
            click.echo(f"PASS {o.name}")
    click.echo(f"{len(outcomes) - failed} passed, {failed} failed")
    if failed:
        sys.exit(1)
