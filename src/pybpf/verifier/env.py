"""The verifier's environment (struct bpf_verifier_env): what every check shares.

The checks are functions of the environment, as in kernel/bpf/verifier.c: the
current state, per-instruction auxiliary data, the log, the subprograms, the
counters that end up in the ``processed N insns`` line. A check that refuses
the program logs the kernel's message and raises :class:`Refusal`; the walk
turns it into a VerifierError (or, on a speculative path, into a barrier, as
Linux 6.17+ does).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..isa import Insn
from ..progtypes import ProgType
from .log import VerifierLog
from .reg import Reg
from .state import VerifierState


class Refusal(Exception):
    """A check failed; ``errno`` is what the kernel's function returned (negated)."""

    def __init__(self, message: str, err: int = errno.EACCES, index: int | None = None):
        super().__init__(message)
        self.message = message
        self.errno = err
        #: the instruction a check made before the walk refers to (None: the current one)
        self.index = index


@dataclass
class InsnAux:
    """struct bpf_insn_aux_data (the fields pybpf uses)."""

    prune_point: bool = False
    jmp_point: bool = False
    force_checkpoint: bool = False
    calls_callback: bool = False
    scc: int = 0
    live_regs_before: int = 0
    ptr_type: int = 0  # NOT_INIT until a load/store through a pointer is seen
    alu_state: int = 0
    alu_limit: int = 0
    map_ptr: Any = None  # record_func_map: the map a helper call was first made with
    map_ptr_poisoned: bool = False
    map_ptr_unpriv: bool = False
    map_key_seen: bool = False
    map_key_poisoned: bool = False
    map_key: int = 0
    nospec: bool = False
    nospec_result: bool = False
    seen: bool = False


@dataclass
class SubprogInfo:
    """struct bpf_subprog_info."""

    start: int
    stack_depth: int = 0
    has_tail_call: bool = False
    has_ld_abs: bool = False
    postorder_start: int = 0
    is_global: bool = False  # BTF linkage global (func_info and the BTF given)


@dataclass
class Stats:
    """The counters of the ``processed N insns`` line."""

    insns_processed: int = 0
    total_states: int = 0
    peak_states: int = 0
    max_states_per_insn: int = 0
    stack_depth: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"processed {self.insns_processed} insns (limit 1000000) max_states_per_insn "
            f"{self.max_states_per_insn} total_states {self.total_states} peak_states "
            f"{self.peak_states} mark_read 0"
        )


class Env:
    """Everything the checks of one verification share."""

    def __init__(
        self,
        insns: Sequence[Insn],
        prog: ProgType,
        *,
        privileged: bool,
        log: VerifierLog,
        license: str,
        map_resolver: Callable[[Insn], Any],
        func_info: Sequence[Any],
        line_info: Sequence[Any],
        btf: Any = None,
        attach_type: int = 0,
    ):
        self.prog = prog
        #: the program's expected attach type (XDP in a devmap, cgroup_skb egress ...)
        self.attach_type = attach_type
        self.license = license
        self.resolve_map = map_resolver
        self.func_info = [(int(a), int(b)) for a, b in func_info]
        self.line_info = sorted(line_info, key=lambda li: li.insn)
        self._linfo_starts = [li.insn for li in self.line_info]
        self.btf = btf
        # capabilities: root has CAP_BPF and CAP_PERFMON, an unprivileged loader neither
        self.bpf_capable = privileged
        self.allow_ptr_leaks = privileged
        self.allow_uninit_stack = privileged
        self.bypass_spec_v1 = privileged
        self.bypass_spec_v4 = privileged
        self.log = log
        self.insns: list[Insn | None] = []
        for insn in insns:
            self.insns.append(insn)
            if insn.is_lddw:
                self.insns.append(None)
        self.aux = [InsnAux() for _ in self.insns]
        self.subprogs: list[SubprogInfo] = []
        self.postorder: list[int] = []
        self.succ: list[tuple[int, ...]] = []  # bpf_insn_successors() of each slot
        self.stats = Stats()
        self.id_gen = 0
        self.cur_state: VerifierState = VerifierState()
        self.insn_idx = 0
        self.prev_insn_idx = -1
        self.jmps_processed = 0
        self.prev_jmps_processed = 0
        self.prev_insn_processed = 0
        self.explore_alu_limits = False
        self.cur_hist_ent: Any = None
        # log bookkeeping (print_insn_state, verbose_linfo)
        self.scratched_regs = 0
        self.scratched_stack = 0
        self.prev_log_pos = 0
        self.prev_insn_print_pos = 0
        self.prev_linfo: Any = None
        self.do_print_state = False
        self.fake_reg = Reg()
        self.used_maps: list[Any] = []
        self.live: Any = None  # liveness.StackLiveness, set up by the walk
        # explored states (is_state_visited): hash buckets of StateList, newest last
        self.explored: list[list[Any]] = []
        self.free_list: list[Any] = []
        self.explored_states_size = 0
        self.num_backedges = 0
        self.scc_visits: dict[tuple[int, ...], Any] = {}
        self.stack: list[Any] = []  # pending branches (struct bpf_verifier_stack_elem)
        self.global_called: set[int] = set()
        self.global_verified: set[int] = set()

    # --- ids, registers ------------------------------------------------------------------
    def new_id(self) -> int:
        self.id_gen += 1
        return self.id_gen

    @property
    def regs(self) -> list[Reg]:
        return self.cur_state.frame[-1].regs

    def reg_scratch(self, regno: int) -> None:
        self.scratched_regs |= 1 << regno

    def slot_scratch(self, spi: int) -> None:
        self.scratched_stack |= 1 << spi

    def mark_all_scratched(self) -> None:
        """mark_verifier_state_scratched()."""
        self.scratched_regs = (1 << 64) - 1
        self.scratched_stack = (1 << 64) - 1

    def subprog_is_global(self, k: int) -> bool:
        """subprog_is_global(): the subprogram's BTF linkage is global (main excluded)."""
        return k > 0 and self.subprogs[k].is_global

    def find_linfo(self, insn_off: int) -> Any:
        """find_linfo(): the line-info record covering ``insn_off`` (rightmost at or before)."""
        if not self.line_info or insn_off >= len(self.insns):
            return None
        import bisect

        i = bisect.bisect_right(self._linfo_starts, insn_off) - 1
        return self.line_info[i] if i >= 0 else None

    def verbose_linfo(self, insn_off: int, prefix: str) -> None:
        """verbose_linfo(): ``; <source line> @ file:line`` once per new line of source."""
        if not self.log.level:
            return
        li = self.find_linfo(insn_off)
        prev = self.prev_linfo
        if li is None or li is prev:
            return
        if prev is not None and li.file == prev.file and li.line == prev.line:
            return
        fname = li.file.rsplit("/", 1)[-1]
        self.verbose(f"{prefix}{li.text.lstrip()} @ {fname}:{li.line}\n")
        self.prev_linfo = li

    # --- refusal -------------------------------------------------------------------------
    def fail(
        self, message: str, err: int = errno.EACCES, newline: bool = True, index: int | None = None
    ) -> Refusal:
        """Log the kernel's message (a line, or without its newline where the kernel
        forgets it) and return the exception to raise."""
        self.log.verbose(message + ("\n" if newline else ""))
        return Refusal(message, err, index)

    def verbose(self, text: str) -> None:
        self.log.verbose(text)
