"""Seccomp filters run in user space, as the kernel runs them, alone or stacked.

``SeccompFilter(prog)`` does what seccomp(2) does with a program: the classic
checker, ``seccomp_check_filter`` (:mod:`pybpf.seccomp.check`) and
``bpf_convert_filter`` (:mod:`pybpf.cbpf.convert`); :meth:`SeccompFilter.run`
evaluates it on a :class:`SeccompData` in the engine chosen — the converted
eBPF in pybpf's interpreter (default) or JIT, with ``struct seccomp_data`` as
its context, or the classic instructions directly (``"classic"``).

:class:`FilterStack` is a thread's list of installed filters:
:meth:`FilterStack.evaluate` runs them newest first and returns the action
the kernel takes (:func:`pybpf.seccomp.actions.precedence`). Installing
checks what seccomp(2) checks: 1..4096 instructions, the programs, and the
kernel's cap of 256 KiB of instructions on any path through the stack
(``MAX_INSNS_PER_PATH``, counting 4 extra instructions per earlier filter):
ENOMEM past it.
"""

from __future__ import annotations

import errno as E
from collections.abc import Iterable, Sequence
from typing import Any

from ..cbpf.check import ClassicError
from ..cbpf.convert import convert_filter
from ..cbpf.insn import SOCK_FILTER_SIZE, SockFilter, as_filters, decode
from ..cbpf.vm import ClassicVM
from ..errors import BpfError
from ..isa import Insn
from .actions import Action, precedence
from .check import check_seccomp
from .data import SECCOMP_DATA_SIZE, SeccompData

__all__ = ["ENGINES", "MAX_INSNS_PER_PATH", "FilterStack", "SeccompFilter"]

#: how a filter runs: the converted eBPF (interp, jit) or the classic program (classic)
ENGINES = ("interp", "jit", "classic")
#: kernel/seccomp.c: (1 << 18) / sizeof(struct sock_filter)
MAX_INSNS_PER_PATH = (1 << 18) // SOCK_FILTER_SIZE


class SeccompFilter:
    """One checked, converted seccomp filter (see the module doc).

    ``prog`` is a list of :class:`SockFilter` / ``(code, jt, jf, k)`` tuples or
    raw ``struct sock_filter`` bytes. A program seccomp(2) refuses raises
    ClassicError (EINVAL) naming the instruction and the rule.
    """

    def __init__(
        self,
        prog: Sequence[SockFilter] | Sequence[tuple[int, int, int, int]] | bytes | bytearray,
        *,
        engine: str = "interp",
        name: str = "",
    ):
        filt = (
            decode(prog) if isinstance(prog, (bytes, bytearray, memoryview)) else as_filters(prog)
        )
        if engine not in ENGINES:
            raise BpfError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
        self.filter: list[SockFilter] = filt
        self.name = name
        self.engine = engine
        #: the program after seccomp_check_filter's rewrite (what the kernel converts)
        self.rewritten = check_seccomp(filt)
        #: the eBPF the kernel runs (pybpf.cbpf.convert with seccomp=True)
        self.insns: list[Insn] = convert_filter(self.rewritten, seccomp=True)
        self._vm: ClassicVM | None = None
        self._engine: Any = None
        if engine == "classic":
            self._vm = ClassicVM(self.rewritten, seccomp=True)
        else:
            from ..vm.interp import Interpreter
            from ..vm.memory import Memory

            if engine == "jit":
                from ..vm.jit import JitEngine

                self._engine = JitEngine(self.insns)
            else:
                self._engine = Interpreter(self.insns)
            self._mem = Memory()
            self._buf = bytearray(SECCOMP_DATA_SIZE)
            self._ctx = self._mem.add_region(self._buf, name="ctx (seccomp_data)", writable=False)

    def run(self, data: SeccompData) -> int:
        """The u32 this filter returns for ``data``."""
        vm = self._vm
        if vm is not None:
            return vm.run(words=data.words())
        self._buf[:] = data.pack()
        return int(self._engine.run(mem=self._mem, r1=self._ctx.base)) & 0xFFFF_FFFF

    def evaluate(self, data: SeccompData) -> Action:
        """The action the kernel takes when this is the only filter installed."""
        return precedence([self.run(data)])

    def __len__(self) -> int:
        return len(self.filter)

    def __repr__(self) -> str:
        return f"<SeccompFilter {self.name or '(anonymous)'} {len(self.filter)} insns>"


class FilterStack:
    """The filters a thread has installed, oldest first (see the module doc)."""

    def __init__(self, filters: Iterable[SeccompFilter] = ()):
        self.filters: list[SeccompFilter] = []
        for f in filters:
            self.install(f)

    def install(self, f: SeccompFilter) -> None:
        """seccomp(SECCOMP_SET_MODE_FILTER): ENOMEM when the path would exceed the cap."""
        total = len(f) + sum(len(g) + 4 for g in self.filters)
        if total > MAX_INSNS_PER_PATH:
            raise ClassicError(
                f"installing {f.name or 'the filter'} would put {total} instructions on one "
                f"path (MAX_INSNS_PER_PATH is {MAX_INSNS_PER_PATH})",
                errno=E.ENOMEM,
            )
        self.filters.append(f)

    def results(self, data: SeccompData) -> list[int]:
        """Each filter's u32 result, newest first (the order the kernel runs them in)."""
        return [f.run(data) for f in reversed(self.filters)]

    def evaluate(self, data: SeccompData) -> Action:
        """The action the kernel takes for ``data``: ALLOW when no filter is installed."""
        return precedence(self.results(data))

    def __len__(self) -> int:
        return len(self.filters)
