"""seccomp: classic BPF filters on system calls, emulated and checked against the kernel.

* :mod:`~pybpf.seccomp.data` — ``struct seccomp_data`` and AUDIT_ARCH_* values;
* :mod:`~pybpf.seccomp.actions` — SECCOMP_RET_* actions and stacked-filter precedence;
* :mod:`~pybpf.seccomp.check` — the kernel's ``seccomp_check_filter``;
* :mod:`~pybpf.seccomp.filter` — :class:`SeccompFilter` and :class:`FilterStack`
  run in pybpf's interpreter, JIT or the classic VM;
* :mod:`~pybpf.seccomp.syscalls` — system call names for x86_64, i386, aarch64;
* :mod:`~pybpf.seccomp.text` — seccomp-tools' syntax, dumped and assembled;
* :mod:`~pybpf.seccomp.libseccomp` — policies from rules, compiled by libseccomp;
* :mod:`~pybpf.seccomp.kernel` — the real kernel's answer, in a forked child.

:func:`read_policy` reads a policy in any form: raw ``struct sock_filter``
bytes (what seccomp(2) takes and ``seccomp_export_bpf`` writes), seccomp-tools
text, or any classic form of :func:`pybpf.cbpf.forms.read_classic`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..cbpf.forms import detect_form, read_classic
from ..cbpf.insn import SockFilter
from ..errors import BpfError
from .actions import Action, parse_action, precedence
from .data import SeccompData, arch_value
from .filter import FilterStack, SeccompFilter
from .syscalls import resolve_syscall, syscall_name
from .text import assemble, dump, looks_like_seccomp_text

__all__ = [
    "Action",
    "FilterStack",
    "SeccompData",
    "SeccompFilter",
    "arch_value",
    "assemble",
    "dump",
    "parse_action",
    "precedence",
    "read_policy",
    "resolve_syscall",
    "syscall_name",
]


def read_policy(
    source: str | os.PathLike[str] | bytes | bytearray, *, arch: str = "x86_64"
) -> list[SockFilter]:
    """A seccomp policy from a file (or its bytes) in any form (see the module doc).

    System call names in seccomp-tools text resolve for ``arch``. Errors name
    the file and the line or offset.
    """
    label = ""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        label = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as e:
            raise BpfError(f"{label}: cannot read: {e.strerror or e}") from None
    try:
        if detect_form(data) != "raw":
            text = data.decode(errors="replace")
            if looks_like_seccomp_text(text):
                return assemble(text, arch)
        return read_classic(data)
    except BpfError as e:
        if label and not str(e).startswith(label):
            raise BpfError(f"{label}: {e}", errno=e.errno) from None
        raise
