"""The user-space backend: pybpf's maps, verifier and engines, with state of its own.

``UserBackend()`` is to pybpf what a booted kernel is to bpf(2): maps it
creates and programs it loads share one :class:`~pybpf.user.state.UserState`
(fd table, simulated clocks and timers, trace pipe, socket cookies), and
nothing of another backend's. Loading verifies each program first, as the
kernel always does; ``engine`` picks the interpreter or the JIT.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import uapi
from ..errors import BpfError, NotSupportedError, VerifierError
from ..spec.types import MapSpec, ProgramSpec
from .program import ENGINES, Program
from .state import UserState

__all__ = ["UserBackend"]

_MAP_IN_MAP = (uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS, uapi.BPF_MAP_TYPE_HASH_OF_MAPS)


def _refusal(spec: ProgramSpec, e: VerifierError) -> VerifierError:
    """The verifier's refusal, saying which program and which C line (from .BTF.ext)."""
    where = f"program {spec.name}"
    if e.index is not None:
        where += f", insn {e.index}"
        line = max(
            (li for li in spec.line_info if li.insn <= e.index),
            key=lambda li: li.insn,
            default=None,
        )
        if line is not None:
            where += f" ({line.file}:{line.line}: {line.text.strip()})"
    return VerifierError(f"{where}: refused by the verifier: {e.message}", log=e.log, errno=e.errno)


class UserBackend:
    """Specs to live user-space objects (the :class:`pybpf.api.Backend` protocol)."""

    name = "user"

    def __init__(
        self, *, engine: str = "interp", verify: bool = True, state: UserState | None = None
    ) -> None:
        if engine not in ENGINES:
            raise BpfError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
        self.engine = engine
        self.verify = verify
        self.state = state if state is not None else UserState()

    def create_map(self, spec: MapSpec, *, btf: Any = None) -> Any:
        """BPF_MAP_CREATE: a map in this backend's fd table, with its initial contents."""
        from ..maps import create_map

        if spec.type in _MAP_IN_MAP:
            raise NotSupportedError(
                f"map {spec.name!r}: map-in-map types are not modelled in user space yet; "
                "use the kernel backend"
            )
        return create_map(spec, fds=self.state.fds)

    def load_program(
        self, spec: ProgramSpec, maps: Mapping[str, Any], *, log_level: int = 0
    ) -> Program:
        """BPF_PROG_LOAD: relocate against ``maps``, verify (unless disabled), ready to run."""
        from ..progtypes import PROG_TYPES
        from ..spec.support import program_origin, unsupported_reason

        why = unsupported_reason(spec, PROG_TYPES)
        if why is not None:
            raise NotSupportedError(f"{program_origin(spec)}: {why}")
        prog = Program.from_spec(
            spec,
            maps,
            engine=self.engine,
            line_info=spec.line_info,
            func_info=spec.func_info,
            state=self.state,
        )
        if self.verify and (prog.verification is None or log_level):
            try:
                prog.verification = prog.verify(log_level=log_level)
            except VerifierError as e:
                raise _refusal(spec, e) from None
        return prog

    def verifier_result(self, prog: Any) -> Any:
        """The verifier's statistics and log for ``prog`` (None when not verified)."""
        return getattr(prog, "verification", None)

    def Map(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - a constructor
        """A map in this backend: ``backend.Map(type, key_size, value_size, max_entries, ...)``."""
        from ..maps import Map

        return Map(*args, fds=self.state.fds, **kwargs)

    def Program(self, insns: Any, *args: Any, **kwargs: Any) -> Program:  # noqa: N802
        """A program in this backend (the arguments of :class:`pybpf.user.program.Program`)."""
        kwargs.setdefault("engine", self.engine)
        return Program(insns, *args, state=self.state, **kwargs)

    def read_trace_pipe(self) -> list[str]:
        """Pending bpf_trace_printk lines of this backend's programs (consumed)."""
        return self.state.read_trace_pipe()

    def advance_time(self, ns: int) -> int:
        """Move this backend's simulated clocks ``ns`` on, firing due bpf_timers."""
        return self.state.advance_time(ns)

    def __repr__(self) -> str:
        return f"<UserBackend engine={self.engine} {len(self.state.fds)} fds>"
