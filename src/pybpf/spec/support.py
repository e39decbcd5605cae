"""Which programs of an object a backend cannot take, said at their C source line.

The section a function sits in decides its program type (``SEC("xdp")``,
pybpf.spec.sections); a section that names none leaves the type unset, and
libbpf refuses to load such a program ("missing BPF prog type, check ELF
section name", tools/lib/bpf/libbpf.c). pybpf's user-space backend runs only the
program types it models; instead of a bare "not modelled" deep in a load, these
checks name the program, its section, its type and where it is in the source.
"""

from __future__ import annotations

from collections.abc import Container

from .. import uapi
from ..errors import NotSupportedError
from .types import ObjectSpec, ProgramSpec


def program_origin(prog: ProgramSpec) -> str:
    """``file.c:LINE`` of the program's first instruction, or ``section NAME`` without line info."""
    if prog.line_info:
        first = min(prog.line_info, key=lambda li: li.insn)
        return f"{first.file}:{first.line}"
    return f"section {prog.section}"


def prog_type_name(prog_type: int) -> str:
    return uapi.PROG_TYPE_NAMES.get(prog_type, str(prog_type))


def unsupported_reason(prog: ProgramSpec, supported: Container[int]) -> str | None:
    """Why ``prog`` cannot be loaded where only ``supported`` program types are; None if it can."""
    if prog.prog_type == uapi.BPF_PROG_TYPE_UNSPEC:
        return (
            f"program {prog.name!r} is in section {prog.section!r}, which names no program "
            'type (SEC("socket"), SEC("xdp"), SEC("tc") ... as libbpf names them)'
        )
    if prog.prog_type not in supported:
        return (
            f"program {prog.name!r} (SEC({prog.section!r})) is a "
            f"{prog_type_name(prog.prog_type)} program, a type pybpf does not support yet"
        )
    return None


def check_program_types(spec: ObjectSpec, supported: Container[int]) -> None:
    """Raise NotSupportedError naming every program of ``spec`` whose type is not ``supported``.

    The message has one line per program: ``file.c:LINE: program 'x' (SEC("xdp")) is
    an xdp program, a type pybpf does not support yet``.
    """
    problems = []
    for prog in spec.programs.values():
        why = unsupported_reason(prog, supported)
        if why is not None:
            problems.append(f"{program_origin(prog)}: {why}")
    if problems:
        raise NotSupportedError("\n".join(problems))
