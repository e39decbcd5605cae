"""``pybpf seccomp``: read, write, emulate and kernel-check seccomp policies.

* ``dump POLICY`` — the policy in seccomp-tools' syntax, with system call names
  for its architecture (or bpf_asm, ``tcpdump -d``/``-dd``/``-ddd``, or the eBPF
  the kernel runs);
* ``asm FILE`` — seccomp-tools text (or any classic form) to raw ``struct
  sock_filter`` bytes (``-o``) or text, checked as seccomp(2) checks it;
* ``emu POLICY SYSCALL [ARG...]`` — what the kernel does with that system call:
  ``ALLOW``, ``ERRNO(1)``, ``KILL_PROCESS`` ... (``--json``:
  ``{"action": "ERRNO", "data": 1}``); ``--kernel`` also installs the policy in a
  forked child and reports what the real kernel did;
* ``rules FILE`` — a policy from libseccomp rules (``default KILL_PROCESS`` /
  ``ALLOW read`` / ``ERRNO(1) close arg0 == 5`` ...), compiled by libseccomp.

POLICY is raw bytes (what seccomp(2) takes, what ``seccomp_export_bpf``
writes), seccomp-tools text, or any form of ``pybpf.cbpf.forms``.
"""

from __future__ import annotations

import json
import sys

import click

from ..errors import BpfError
from . import main
from .files import INPUT_FILE, write_atomic

_ENGINES = ("interp", "jit", "classic")


def _u64(text: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise BpfError(f"argument {text!r} is not a number (decimal, 0x.., 0o.., 0b..)") from None
    if not -(1 << 63) <= v < (1 << 64):
        raise BpfError(f"argument {text} does not fit in 64 bits")
    return v & 0xFFFF_FFFF_FFFF_FFFF


def _write(path: str, data: bytes) -> None:
    try:
        write_atomic(path, data)
    except OSError as e:
        raise BpfError(f"{path}: cannot write: {e.strerror or e}", errno=e.errno) from None


def _policy(path: str, arch: str) -> list:
    from ..seccomp import read_policy

    return read_policy(path, arch=arch)


@main.group("seccomp")
def seccomp_group() -> None:
    """seccomp policies: dump, assemble, emulate, compile rules with libseccomp."""


@seccomp_group.command("dump")
@click.argument("policy", type=INPUT_FILE)
@click.option(
    "--arch", default=None, help="system call names for this arch (default: the policy's)"
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("seccomp", "bpf_asm", "tcpdump", "c", "ddd", "ebpf")),
    default="seccomp",
    show_default=True,
)
def dump_command(policy: str, arch: str | None, fmt: str) -> None:
    """Disassemble POLICY (and say whether seccomp(2) would accept it)."""
    from ..cbpf import printer
    from ..cbpf.check import ClassicError
    from ..seccomp.check import check_seccomp
    from ..seccomp.text import dump, guess_arch

    prog = _policy(policy, arch or "x86_64")
    arch = arch or guess_arch(prog)
    refusal = ""
    try:
        rewritten = check_seccomp(prog)
    except ClassicError as e:
        refusal = str(e)
        rewritten = None
    if fmt == "seccomp":
        click.echo(dump(prog, arch), nl=False)
    elif fmt == "bpf_asm":
        click.echo(printer.bpf_asm(prog), nl=False)
    elif fmt == "tcpdump":
        click.echo(printer.image(prog), nl=False)
    elif fmt == "c":
        click.echo(printer.c_array(prog), nl=False)
    elif fmt == "ddd":
        click.echo(printer.decimal(prog), nl=False)
    else:
        from ..asm.disasm import disassemble
        from ..cbpf.convert import convert_filter

        if rewritten is None:
            raise BpfError(f"{policy}: seccomp(2) would refuse it ({refusal}): no eBPF to show")
        click.echo(disassemble(convert_filter(rewritten, seccomp=True)), nl=False)
    if refusal:
        click.echo(f"pybpf: warning: seccomp(2) would refuse this policy: {refusal}", err=True)


@seccomp_group.command("asm")
@click.argument("source", type=INPUT_FILE)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write raw bytes here")
@click.option("--arch", default="x86_64", show_default=True, help="arch of system call names")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("raw", "c", "ddd", "bytecode", "bpf_asm", "seccomp")),
    default=None,
    help="output form (default: raw with -o, else a C array as tcpdump -dd prints)",
)
@click.option("--no-check", is_flag=True, help="do not refuse what seccomp(2) would refuse")
def asm_command(
    source: str, output: str | None, arch: str, fmt: str | None, no_check: bool
) -> None:
    """Assemble SOURCE (seccomp-tools text or any classic form) into a policy."""
    from ..cbpf import printer
    from ..cbpf.insn import encode
    from ..seccomp.check import check_seccomp
    from ..seccomp.text import dump

    prog = _policy(source, arch)
    if not no_check:
        try:
            check_seccomp(prog)
        except BpfError as e:
            raise BpfError(f"{source}: seccomp(2) would refuse this policy: {e}") from None
    fmt = fmt or ("raw" if output else "c")
    if fmt == "raw":
        data = encode(prog)
        if output is None:
            if sys.stdout.isatty():
                raise BpfError("raw bytes to a terminal: give -o FILE (or --format c)")
            sys.stdout.buffer.write(data)
            return
        _write(output, data)
        click.echo(f"{output}: {len(prog)} instructions ({len(data)} bytes)", err=True)
        return
    text = {
        "c": printer.c_array,
        "ddd": printer.decimal,
        "bytecode": printer.bytecode,
        "bpf_asm": printer.bpf_asm,
        "seccomp": lambda p: dump(p, arch),
    }[fmt](prog)
    if output:
        _write(output, text.encode())
    else:
        click.echo(text, nl=False)


@seccomp_group.command("emu", context_settings={"ignore_unknown_options": True})
@click.argument("policy", type=INPUT_FILE)
@click.argument("syscall")
@click.argument("args", nargs=-1)
@click.option("--arch", default="x86_64", show_default=True, help="x86_64, i386, aarch64 ...")
@click.option("--ip", "ip", default="0", help="instruction_pointer the filter sees")
@click.option(
    "--stack",
    "stack",
    multiple=True,
    type=INPUT_FILE,
    help="another policy installed after POLICY (repeatable; the kernel runs all)",
)
@click.option("--engine", type=click.Choice(_ENGINES), default="interp", show_default=True)
@click.option("--json", "as_json", is_flag=True, help='{"action": "ERRNO", "data": 1}')
@click.option(
    "--kernel",
    is_flag=True,
    help="also install the policy in a forked child and make the call there "
    "(an allowed call really runs, with these arguments)",
)
def emu_command(
    policy: str,
    syscall: str,
    args: tuple[str, ...],
    arch: str,
    ip: str,
    stack: tuple[str, ...],
    engine: str,
    as_json: bool,
    kernel: bool,
) -> None:
    """Emulate SYSCALL (a name or number) with ARGs (64-bit, any base) under POLICY."""
    from ..seccomp import FilterStack, SeccompData, SeccompFilter
    from ..seccomp.data import arch_value
    from ..seccomp.syscalls import resolve_syscall

    if len(args) > 6:
        raise BpfError(f"a system call has at most 6 arguments, {len(args)} given")
    audit = arch_value(arch)
    nr = resolve_syscall(syscall, audit)
    values = [_u64(a) for a in args]
    filters = []
    for path in (policy, *stack):
        try:
            filters.append(SeccompFilter(_policy(path, arch), engine=engine, name=path))
        except BpfError as e:
            raise BpfError(f"{path}: seccomp(2) would refuse this policy: {e}") from None
    st = FilterStack(filters)
    data = SeccompData(nr, audit, _u64(ip), tuple(values))
    action = st.evaluate(data)
    out: dict = action.to_json()
    if kernel:
        from ..seccomp.kernel import run_in_kernel, unfiltered

        got = run_in_kernel([f.filter for f in filters], nr, values, arch=arch)
        plain = unfiltered(nr, values, arch=arch)
        out["kernel"] = got.to_json()
        out["agree"] = got.consistent_with(action, plain)
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(str(action))
        if not action.known:
            click.echo(f"  (an action the kernel does not know: it acts as {action.effective})")
        if kernel:
            word = "agrees" if out["agree"] else "DISAGREES"
            click.echo(f"kernel: {got} ({word})")
    if kernel and not out["agree"]:
        sys.exit(2)


@seccomp_group.command("rules")
@click.argument("rules", type=INPUT_FILE)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write raw bytes here")
@click.option("--arch", default=None, help="system call names in the printed dump")
def rules_command(rules: str, output: str | None, arch: str | None) -> None:
    """Compile libseccomp RULES into a policy (raw bytes with -o, else the dump)."""
    from ..cbpf.insn import decode
    from ..seccomp.libseccomp import parse_rules
    from ..seccomp.text import dump

    with open(rules) as fh:
        text = fh.read()
    try:
        policy = parse_rules(text)
    except BpfError as e:
        raise BpfError(f"{rules}: {e}") from None
    with policy:
        raw = policy.export()
    if output:
        _write(output, raw)
        click.echo(f"{output}: {len(raw) // 8} instructions ({len(raw)} bytes)", err=True)
    else:
        click.echo(dump(decode(raw), arch), nl=False)
