"""``pybpf verify PROG``: run pybpf's verifier on every program of an object, C file or macro module.

Exit status 0 when every selected program is accepted (printing the kernel's
statistics line and the verification time), 1 when one is refused (printing
the verifier log: the kernel-style trail and error, pybpf's explanation and,
when the object has line info, the C source line).
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import BpfError, VerifierError
from . import main
from .files import INPUT_FILE


@main.command()
@click.argument("prog", type=INPUT_FILE)
@click.option(
    "--section",
    "-s",
    "section",
    default=None,
    help="Only the program in this ELF section (or with this name).",
)
@click.option(
    "--log-level",
    "log_level",
    type=click.IntRange(0, 2),
    default=0,
    show_default=True,
    help="1: instruction trail with register changes; 2: full state per insn.",
)
@click.option("--unpriv", is_flag=True, help="Verify as an unprivileged loader would be.")
@click.pass_context
def verify(
    ctx: click.Context, prog: str, section: str | None, log_level: int, unpriv: bool
) -> None:
    """Verify PROG (.o, .c or a macro .py module) the way Linux would load it; a classic
    program (tcpdump -d/-dd/-ddd, bpf_asm, raw sock_filter) gets the kernel's
    bpf_check_classic."""
    from ..cbpf.files import classic_file, verify_classic

    classic = classic_file(prog)
    if classic is not None:
        ok, out = verify_classic(classic, Path(prog).name)
        click.echo(out, err=not ok)
        ctx.exit(0 if ok else 1)
    from ..loader import load

    coll = load(prog, backend="user", verify=False)
    selected = [
        (name, p)
        for name, p in coll.programs.items()
        if section is None or section in (name, coll.spec.programs[name].section)
    ]
    if not selected:
        have = ", ".join(f"{n} ({coll.spec.programs[n].section})" for n in coll.programs)
        raise BpfError(f"{prog}: no program in section {section!r} (programs: {have or 'none'})")
    failed = False
    for name, p in selected:
        ps = coll.spec.programs[name]
        label = f"{name} ({ps.section})" if ps.section and ps.section != name else name
        try:
            res = p.verify(
                log_level=log_level,
                line_info=ps.line_info,
                privileged=not unpriv,
                func_info=ps.func_info,
            )
        except VerifierError as e:
            failed = True
            click.echo(f"{label}: refused at insn {e.index}: {e.message}", err=True)
            click.echo(e.log, nl=False)
            continue
        if log_level:
            click.echo(res.log, nl=False)
        st = res.stats
        click.echo(f"{label}: accepted ({len(p.insns)} insns)")
        click.echo(f"  {st.line()}")
        click.echo(f"  stack depth {'+'.join(str(d) for d in st.stack_depth)}")
        click.echo(f"  verification time {int(st.seconds * 1e6)} usec")
    if failed:
        ctx.exit(1)
