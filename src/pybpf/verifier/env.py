"""The verifier's shared environment (the kernel's struct bpf_verifier_env).

The checks live in mixins by concept (alu, memory, branches, calls); each
reaches the program, the options and a few core operations through the
environment. This base class names them, so every mixin says what it relies
on; ``check.Verifier`` provides them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..errors import VerifierError
    from ..isa import Insn
    from ..progtypes import ProgType
    from .cfg import Cfg
    from .check import Stats, _Path
    from .log import VerifierLog
    from .state import Frame, RegState


class VerifierEnv:
    insns: list[Insn]
    prog_type: int
    privileged: bool
    license: str
    log: VerifierLog
    prog: ProgType
    resolve_map: Callable[[Insn], Any]
    stats: Stats
    cfg: Cfg
    func_info: list[Any]

    if TYPE_CHECKING:  # provided by check.Verifier and the other mixins

        def _err(
            self, msg: str, pc: int | None, err: int = ..., more: Sequence[str] = ...
        ) -> VerifierError: ...

        def _read_reg(self, path: _Path, regno: int, pc: int) -> RegState: ...

        def _check_dst_writable(self, regno: int, pc: int) -> None: ...

        def _new_id(self) -> int: ...

        def _initial_frame(self, subprog: int, callsite: int = -1, depth: int = 0) -> Frame: ...

        def _check_ptr_off_reg(self, reg: RegState, regno: int, pc: int) -> None: ...

        def _check_region(
            self, reg: RegState, regno: int, off: int, size: int, limit: int, what: str, pc: int
        ) -> None: ...

        def _check_helper_mem(
            self,
            path: _Path,
            regno: int,
            size_lo: int,
            size_hi: int,
            write: bool,
            pc: int,
            zero_ok: bool = False,
            mem_arg: bool = False,
        ) -> None: ...
