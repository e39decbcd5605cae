"""System call names and numbers for x86_64, i386 and aarch64.

The numbers come from libseccomp's table (see :mod:`pybpf.seccomp._syscall_table`
for the version). x32 system calls are x86_64's with ``__X32_SYSCALL_BIT``
(0x40000000) set in the number; :func:`syscall_name` names them
``x32:<name>``.
"""

from __future__ import annotations

from functools import cache

from ..errors import BpfError
from . import _syscall_table
from .data import AUDIT_ARCH, X32_SYSCALL_BIT, arch_name

__all__ = ["SOURCE", "resolve_syscall", "syscall_name", "syscall_table"]

SOURCE = _syscall_table.SOURCE


@cache
def syscall_table(arch: str) -> dict[str, int]:
    """name -> number for ``arch`` (x86_64, i386, aarch64)."""
    if arch not in _syscall_table.ARCHES:
        raise BpfError(
            f"no system call table for {arch!r} (have: {', '.join(_syscall_table.ARCHES)})"
        )
    col = _syscall_table.ARCHES.index(arch) + 1
    out: dict[str, int] = {}
    for line in _syscall_table.TABLE.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[col] != "-":
            out[parts[0]] = int(parts[col])
    return out


@cache
def _by_number(arch: str) -> dict[int, str]:
    return {nr: name for name, nr in sorted(syscall_table(arch).items(), reverse=True)}


def _arch_key(arch: str | int) -> str:
    if isinstance(arch, int):
        name = arch_name(arch)
        if name is None:
            raise BpfError(f"no system call table for AUDIT_ARCH {arch:#010x}")
        return name
    return {"amd64": "x86_64", "x86": "i386", "i686": "i386", "arm64": "aarch64"}.get(
        arch.lower(), arch.lower()
    )


def syscall_name(nr: int, arch: str | int = "x86_64") -> str | None:
    """The name of system call ``nr`` on ``arch`` (an arch name or AUDIT_ARCH value), or None."""
    key = _arch_key(arch)
    if key not in _syscall_table.ARCHES:
        return None
    table = _by_number(key)
    if key == "x86_64" and nr & X32_SYSCALL_BIT and nr > 0:
        base = table.get(nr & ~X32_SYSCALL_BIT)
        return f"x32:{base}" if base else None
    return table.get(nr)


def resolve_syscall(spec: str | int, arch: str | int = "x86_64") -> int:
    """A system call given by name (``read``, ``__NR_read``, ``SYS_read``) or number."""
    if isinstance(spec, int):
        return spec
    s = spec.strip()
    try:
        return int(s, 0)
    except ValueError:
        pass
    key = _arch_key(arch)
    name = s
    for prefix in ("__NR_", "SYS_"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    table = syscall_table(key) if key in _syscall_table.ARCHES else {}
    if name in table:
        return table[name]
    if key not in AUDIT_ARCH and key not in _syscall_table.ARCHES:
        raise BpfError(f"no system call table for architecture {arch!r}")
    raise BpfError(f"unknown system call {spec!r} on {key}")
