"""The paths still to explore and the checkpoints already explored (Linux 6.18).

A conditional jump the verifier cannot decide pushes the other way on a stack
of pending branches (push_stack); when a path ends the next one is popped,
and at log level 1 the log is rewound to where that branch was pushed, so the
log shows the failing path only. Checkpoints (StateList) live in hash
buckets per instruction and call site; ``branches`` counts the paths still
running below a checkpoint, and when it drops to 0 a loop entered there
(SccVisit) is finished and the precision marks found on its back-edges are
propagated until nothing changes (maybe_exit_scc).
"""

from __future__ import annotations

import errno

from ..isa import BPF_K, Insn
from . import reg as R
from .env import Env
from .log import state_str, vlog_alignment
from .precision import mark_all_scalars_precise, propagate_precision
from .state import VerifierState, frame_insn_idx

BPF_COMPLEXITY_LIMIT_JMP_SEQ = 8192
MAX_BACKEDGE_ITERS = 64


class StateList:
    """struct bpf_verifier_state_list: a checkpoint and how useful it has been."""

    __slots__ = ("state", "hit_cnt", "miss_cnt", "in_free_list")

    def __init__(self, state: VerifierState):
        self.state = state
        self.hit_cnt = 0
        self.miss_cnt = 0
        self.in_free_list = False


class SccVisit:
    """struct bpf_scc_visit: one entry into a loop along one call chain."""

    __slots__ = ("entry_state", "backedges")

    def __init__(self) -> None:
        self.entry_state: VerifierState | None = None
        self.backedges: list[VerifierState] = []


class StackElem:
    __slots__ = ("state", "insn_idx", "prev_insn_idx", "log_pos")

    def __init__(self, state: VerifierState, insn_idx: int, prev_insn_idx: int, log_pos: int):
        self.state = state
        self.insn_idx = insn_idx
        self.prev_insn_idx = prev_insn_idx
        self.log_pos = log_pos


# --- explored states, SCC visits --------------------------------------------------------------
def explored_bucket(env: Env, idx: int) -> list[StateList]:
    """explored_state(): the hash bucket of checkpoints for ``idx`` in this call frame."""
    callsite = env.cur_state.frame[-1].callsite
    return env.explored[((idx ^ callsite) & 0xFFFFFFFF) % len(env.insns)]


def update_peak_states(env: Env) -> None:
    cur = env.explored_states_size + len(env.free_list) + env.num_backedges
    env.stats.peak_states = max(env.stats.peak_states, cur)


def compute_scc_callchain(env: Env, st: VerifierState) -> tuple[int, ...] | None:
    """compute_scc_callchain(): (callsites..., scc) of the innermost frame inside a loop."""
    sites: list[int] = []
    for i in range(st.curframe + 1):
        idx = frame_insn_idx(st, i)
        scc = env.aux[idx].scc
        if scc:
            return tuple(sites) + (scc,)
        if i < st.curframe:
            sites.append(idx)
        else:
            return None
    return None


def _fmt_callchain(chain: tuple[int, ...]) -> str:
    return "(" + ",".join(str(x) for x in chain) + ")"


def incomplete_read_marks(env: Env, st: VerifierState) -> bool:
    chain = compute_scc_callchain(env, st)
    if chain is None:
        return False
    visit = env.scc_visits.get(chain)
    return visit is not None and bool(visit.backedges)


def maybe_enter_scc(env: Env, st: VerifierState) -> None:
    chain = compute_scc_callchain(env, st)
    if chain is None:
        return
    visit = env.scc_visits.setdefault(chain, SccVisit())
    if visit.entry_state is None:
        visit.entry_state = st
        if env.log.level >= 2:
            env.verbose(f"SCC enter {_fmt_callchain(chain)}\n")


def maybe_exit_scc(env: Env, st: VerifierState) -> None:
    chain = compute_scc_callchain(env, st)
    if chain is None:
        return
    visit = env.scc_visits.get(chain)
    if visit is None or visit.entry_state is not st:
        return
    if env.log.level >= 2:
        env.verbose(f"SCC exit {_fmt_callchain(chain)}\n")
    visit.entry_state = None
    env.num_backedges -= len(visit.backedges)
    backedges = visit.backedges
    visit.backedges = []
    update_peak_states(env)
    i = 0
    while True:
        i += 1
        if i > MAX_BACKEDGE_ITERS:
            if env.log.level >= 2:
                env.verbose("propagate_backedges: too many iterations\n")
            for b in backedges:
                mark_all_scalars_precise(env, b)
            break
        changed = False
        for b in backedges:
            assert b.equal_state is not None
            changed |= propagate_precision(env, b.equal_state, b)
        if not changed:
            break


def add_scc_backedge(env: Env, st: VerifierState, backedge: VerifierState) -> None:
    chain = compute_scc_callchain(env, st)
    visit = env.scc_visits.get(chain) if chain is not None else None
    if chain is None or visit is None:
        raise env.fail("verifier bug: add backedge: no SCC in verification path", errno.EFAULT)
    if env.log.level >= 2:
        env.verbose(f"SCC backedge {_fmt_callchain(chain)}\n")
    visit.backedges.insert(0, backedge)
    env.num_backedges += 1
    update_peak_states(env)


def maybe_free_state(env: Env, sl: StateList | None) -> None:
    """maybe_free_verifier_state(): a finished, evicted checkpoint leaves the free list."""
    if sl is None or not sl.in_free_list or sl.state.branches:
        return
    if incomplete_read_marks(env, sl.state):
        return
    env.free_list.remove(sl)
    sl.in_free_list = False


def update_branch_counts(env: Env, st: VerifierState | None) -> None:
    sl: StateList | None = None
    while st is not None:
        st.branches -= 1
        if st.branches:
            break
        maybe_exit_scc(env, st)
        parent = st.parent
        parent_sl = parent.sl if parent is not None else None
        maybe_free_state(env, sl)
        st = parent
        sl = parent_sl


# --- the stack of pending branches -----------------------------------------------------------
def push_stack(env: Env, insn_idx: int, prev_insn_idx: int, speculative: bool) -> VerifierState:
    st = env.cur_state.copy()
    st.speculative |= speculative
    env.stack.append(StackElem(st, insn_idx, prev_insn_idx, env.log.end_pos))
    if len(env.stack) > BPF_COMPLEXITY_LIMIT_JMP_SEQ:
        raise env.fail(f"The sequence of {len(env.stack)} jumps is too complex.", errno.E2BIG)
    if st.parent is not None:
        st.parent.branches += 1
    return st


def sanitize_speculative_path(env: Env, insn: Insn | None, next_idx: int, curr_idx: int) -> None:
    branch = push_stack(env, next_idx, curr_idx, True)
    if insn is not None:
        regs = branch.frame[-1].regs
        R.mark_unknown(regs[insn.dst], env.bpf_capable)
        if insn.code & 0x08 != BPF_K:
            R.mark_unknown(regs[insn.src], env.bpf_capable)


def print_insn_state(env: Env, st: VerifierState, frameno: int) -> None:
    """Append the scratched registers to the last instruction's line (or a line of their own)."""
    log = env.log
    if env.prev_log_pos and env.prev_log_pos == log.end_pos:
        log.reset(env.prev_log_pos - 1)
        width = vlog_alignment(env.prev_insn_print_pos)
        env.verbose(" " * width + ";")
    else:
        env.verbose(f"{env.insn_idx}:")
    env.verbose(state_str(st, frameno, False, env.scratched_regs, env.scratched_stack))
    env.scratched_regs = 0
    env.scratched_stack = 0


def pop_stack(env: Env, pop_log: bool) -> int | None:
    """pop_stack(): continue with the most recently pushed branch; its prev_insn_idx."""
    if not env.stack:
        return None
    elem = env.stack.pop()
    env.cur_state = elem.state
    if pop_log:
        env.log.reset(elem.log_pos)
    env.insn_idx = elem.insn_idx
    return elem.prev_insn_idx
