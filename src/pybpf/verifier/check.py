"""The verifier: bpf_check() and the walk over every path (do_check), as Linux 6.18 does it.

Before the walk, the program's structure is checked (cfg.py) and the live
registers computed (liveness.py). The walk follows one path with an abstract
state (registers, stack, references); a conditional jump it cannot decide
pushes the other way on a stack, explored later. At prune points the current
state is compared with the checkpoints recorded there (is_state_visited): a
state no more general than a finished checkpoint ends the path ("safe"), an
exact repeat of a checkpoint still being explored is an infinite loop; new
checkpoints are recorded every few jumps. Precision marks (precision.py)
decide which scalars take part in those comparisons. Global subprograms are
then verified on their own (globals.py).

The log is the kernel's: at level 1 the instruction trail of the failing path
with the registers each instruction changed, at level 2 every path.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import BpfError, NotSupportedError, VerifierError
from ..isa import (
    BPF_ABS,
    BPF_ALU,
    BPF_ALU64,
    BPF_ATOMIC,
    BPF_CALL,
    BPF_EXIT,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JMP,
    BPF_JMP32,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_MEM,
    BPF_MEMSX,
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_KFUNC_CALL,
    BPF_ST,
    BPF_STX,
    Insn,
)
from ..maps import map_by_fd
from ..progtypes import get_prog_type
from ..uapi import BPF_COMPLEXITY_LIMIT_INSNS, FUNC_NAMES
from . import cfg
from . import reg as R
from .alu import check_alu_op
from .branches import check_cond_jmp_op
from .calls import (
    check_func_call,
    check_helper_call,
    check_max_stack_depth,
    check_resource_leak,
    check_return_code,
    prepare_func_exit,
)
from .env import Env, Refusal, Stats
from .explain import explain
from .globals import prepare_func_args, setup_global_args, subprog_name
from .liveness import StackLiveness, compute_live_registers
from .log import VerifierLog, insn_text, state_str
from .memory import (
    check_atomic,
    check_ld_abs,
    check_ld_imm,
    check_load_mem,
    check_store_imm,
    check_store_reg,
)
from .paths import (
    StateList,
    add_scc_backedge,
    explored_bucket,
    incomplete_read_marks,
    maybe_enter_scc,
    maybe_free_state,
    pop_stack,
    print_insn_state,
    push_stack,
    update_branch_counts,
    update_peak_states,
)
from .precision import (
    mark_all_scalars_imprecise,
    propagate_precision,
    push_jmp_history,
)
from .prune import (
    EXACT,
    NOT_EXACT,
    RANGE_WITHIN,
    clean_live_states,
    states_equal,
    states_maybe_looping,
)
from .state import BPF_MAIN_FUNC, FuncState, VerifierState

BPF_COMPLEXITY_LIMIT_STATES = 64
_EXIT = -1  # do_check_insn(): the path ended (PROCESS_BPF_EXIT)
#: errors a speculative path turns into a barrier instead of a refusal (Linux 6.17+)
_NOSPEC_ERRNOS = (errno.EPERM, errno.EACCES, errno.EINVAL)


@dataclass
class VerifyResult:
    """An accepted program's statistics and log."""

    stats: Stats
    log: str


# --- is_state_visited ---------------------------------------------------------------------------
def is_state_visited(env: Env, insn_idx: int) -> bool:
    """True when the current path can stop here; may record a new checkpoint."""
    cur = env.cur_state
    aux = env.aux[insn_idx]
    force_new = aux.force_checkpoint or len(cur.jmp_history) > 40
    add_new = force_new or (
        env.jmps_processed - env.prev_jmps_processed >= 2
        and env.stats.insns_processed - env.prev_insn_processed >= 8
    )
    bucket = explored_bucket(env, insn_idx)
    clean_live_states(
        env,
        env.live,
        list(reversed(bucket)),
        insn_idx,
        cur,
        lambda st: incomplete_read_marks(env, st),
    )
    loop = False
    states_cnt = 0
    for sl in list(reversed(bucket)):
        states_cnt += 1
        st = sl.state
        if st.insn_idx != insn_idx:
            continue
        hit = False
        if st.branches:
            if aux.calls_callback:
                hit = states_equal(env, st, cur, RANGE_WITHIN)
            elif (
                states_maybe_looping(st, cur)
                and states_equal(env, st, cur, EXACT)
                and st.callback_unroll_depth == cur.callback_unroll_depth
            ):
                env.verbose_linfo(insn_idx, "; ")
                env.verbose(f"infinite loop detected at insn {insn_idx}\n")
                env.verbose("cur state:" + state_str(cur, cur.curframe, True))
                env.verbose("old state:" + state_str(st, cur.curframe, True))
                raise Refusal(f"infinite loop detected at insn {insn_idx}", errno.EINVAL)
            if not hit:
                if (
                    not force_new
                    and env.jmps_processed - env.prev_jmps_processed < 20
                    and env.stats.insns_processed - env.prev_insn_processed < 100
                ):
                    add_new = False
        else:
            loop = incomplete_read_marks(env, st)
            hit = states_equal(env, st, cur, RANGE_WITHIN if loop else NOT_EXACT)
        if hit:
            sl.hit_cnt += 1
            if aux.jmp_point:
                push_jmp_history(env, cur, 0, 0)
            propagate_precision(env, st, cur)
            if loop:
                backedge = cur.copy()
                backedge.equal_state = st
                backedge.insn_idx = insn_idx
                add_scc_backedge(env, st, backedge)
            return True
        if add_new:
            sl.miss_cnt += 1
        n = 64 if aux.force_checkpoint and st.branches > 0 else 3
        if sl.miss_cnt > sl.hit_cnt * n + n:
            bucket.remove(sl)
            sl.in_free_list = True
            env.free_list.append(sl)
            env.explored_states_size -= 1
            maybe_free_state(env, sl)
    env.stats.max_states_per_insn = max(env.stats.max_states_per_insn, states_cnt)
    if not env.bpf_capable and states_cnt > BPF_COMPLEXITY_LIMIT_STATES:
        return False
    if not add_new:
        return False
    env.stats.total_states += 1
    env.explored_states_size += 1
    update_peak_states(env)
    env.prev_jmps_processed = env.jmps_processed
    env.prev_insn_processed = env.stats.insns_processed
    if env.bpf_capable:
        mark_all_scalars_imprecise(cur)
    new = cur.copy()
    new.insn_idx = insn_idx
    maybe_enter_scc(env, new)
    new_sl = StateList(new)
    new.sl = new_sl
    cur.parent = new
    cur.first_insn_idx = insn_idx
    cur.dfs_depth = new.dfs_depth + 1
    cur.jmp_history = []
    bucket.append(new_sl)
    return False


# --- one instruction -----------------------------------------------------------------------------
def process_bpf_exit_full(env: Env, print_state: bool = True) -> int:
    check_resource_leak(env, False, not env.cur_state.curframe, "BPF_EXIT instruction in main prog")
    if env.cur_state.curframe:
        env.live.update()
        env.do_print_state = print_state
        return prepare_func_exit(env)
    check_return_code(env)
    return _EXIT


def do_check_insn(env: Env, insn: Insn) -> int:
    """Check the instruction at env.insn_idx; returns the next index or _EXIT."""
    idx = env.insn_idx
    code = insn.code
    cls = code & 0x07
    mode = code & 0xE0
    if cls in (BPF_ALU, BPF_ALU64):
        check_alu_op(env, insn)
    elif cls == BPF_LDX:
        check_load_mem(env, insn, False, mode == BPF_MEMSX, "ldx")
    elif cls == BPF_STX:
        if mode == BPF_ATOMIC:
            check_atomic(env, insn)
            return idx + 1
        if mode != BPF_MEM or insn.imm != 0:
            raise env.fail("BPF_STX uses reserved fields", errno.EINVAL)
        check_store_reg(env, insn, False)
    elif cls == BPF_ST:
        if mode != BPF_MEM or insn.src != 0:
            raise env.fail("BPF_ST uses reserved fields", errno.EINVAL)
        check_store_imm(env, insn)
    elif cls in (BPF_JMP, BPF_JMP32):
        op = code & 0xF0
        env.jmps_processed += 1
        if op == BPF_CALL:
            if (
                code & 0x08 != BPF_K
                or (insn.src != BPF_PSEUDO_KFUNC_CALL and insn.off != 0)
                or insn.src not in (0, BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL)
                or insn.dst != 0
                or cls == BPF_JMP32
            ):
                raise env.fail("BPF_CALL uses reserved fields", errno.EINVAL)
            if insn.src == BPF_PSEUDO_CALL:
                nxt = check_func_call(env, insn)
            else:
                check_helper_call(env, insn)
                nxt = idx + 1
            env.reg_scratch(0)
            return nxt
        if op == BPF_JA:
            if (
                code & 0x08 != BPF_K
                or insn.src != 0
                or insn.dst != 0
                or (cls == BPF_JMP and insn.imm != 0)
                or (cls == BPF_JMP32 and insn.off != 0)
            ):
                raise env.fail("BPF_JA uses reserved fields", errno.EINVAL)
            return idx + (insn.off if cls == BPF_JMP else insn.imm) + 1
        if op == BPF_EXIT:
            if code & 0x08 != BPF_K or insn.imm or insn.src or insn.dst or cls == BPF_JMP32:
                raise env.fail("BPF_EXIT uses reserved fields", errno.EINVAL)
            return process_bpf_exit_full(env)
        return check_cond_jmp_op(env, insn)
    elif cls == BPF_LD:
        if mode in (BPF_ABS, BPF_IND):
            check_ld_abs(env, insn)
            if env.cur_state.curframe:
                # a failing load returns 0 from the subprogram: explore that exit too
                push_stack(env, idx + 1, idx, False)
                R.mark_const_zero(env.regs[0], env.bpf_capable)
                return process_bpf_exit_full(env, False)
        elif mode == BPF_IMM:
            check_ld_imm(env, insn)
            return idx + 2
        else:
            raise env.fail("invalid BPF_LD mode", errno.EINVAL)
    else:
        raise env.fail(f"unknown insn class {cls}", errno.EINVAL)
    return idx + 1


def do_check(env: Env) -> None:
    log = env.log
    level = log.level
    pop_log = level < 2
    insns = env.insns
    n = len(insns)
    env.do_print_state = False
    prev_insn_idx = -1
    stats = env.stats
    live_writes = env.live.writes
    while True:
        st = env.cur_state
        env.cur_hist_ent = None
        env.prev_insn_idx = prev_insn_idx
        if not level:
            log.pending.clear()
        idx = env.insn_idx
        if idx >= n:
            raise env.fail(f"invalid insn idx {idx} insn_cnt {n}", errno.EFAULT)
        insn = insns[idx]
        aux = env.aux[idx]
        stats.insns_processed += 1
        if stats.insns_processed > BPF_COMPLEXITY_LIMIT_INSNS:
            raise env.fail(
                f"BPF program is too large. Processed {stats.insns_processed} insn", errno.E2BIG
            )
        st.last_insn_idx = prev_insn_idx
        st.insn_idx = idx
        ended = False
        if aux.prune_point and is_state_visited(env, idx):
            if level:
                spec = " (speculative execution)" if st.speculative else ""
                if env.do_print_state:
                    env.verbose(f"\nfrom {prev_insn_idx} to {idx}{spec}: safe\n")
                else:
                    env.verbose(f"{idx}: safe\n")
            ended = True
        if not ended:
            if aux.jmp_point:
                push_jmp_history(env, st, 0, 0)
            if level >= 2 and env.do_print_state:
                spec = " (speculative execution)" if st.speculative else ""
                env.verbose(f"\nfrom {prev_insn_idx} to {idx}{spec}:")
                env.verbose(state_str(st, st.curframe, True))
                env.do_print_state = False
            if level:
                if env.scratched_regs or env.scratched_stack:
                    print_insn_state(env, st, st.curframe)
                env.verbose_linfo(idx, "; ")
                env.prev_log_pos = log.end_pos
                assert insn is not None
                env.verbose(f"{idx}: " + insn_text(insn, FUNC_NAMES, env.allow_ptr_leaks) + "\n")
                env.prev_insn_print_pos = log.end_pos - env.prev_log_pos
                env.prev_log_pos = log.end_pos
            if not st.speculative:  # sanitize_mark_insn_seen()
                aux.seen = True
            prev_insn_idx = idx
            if st.speculative and aux.nospec:
                ended = True
        if not ended:
            writes = live_writes[idx]
            if writes:
                env.live.reset_write_marks(idx)
            assert insn is not None
            try:
                nxt = do_check_insn(env, insn)
            except Refusal as e:
                if e.errno not in _NOSPEC_ERRNOS or not env.cur_state.speculative:
                    raise
                if writes:
                    env.live.commit_write_marks()
                aux.nospec = True
                aux.alu_state = 0
                nxt = _EXIT
            else:
                if writes:
                    env.live.commit_write_marks()
            if nxt == _EXIT:
                ended = True
            else:
                env.insn_idx = nxt
                if env.cur_state.speculative and aux.nospec_result:
                    ended = True
        if ended:
            env.mark_all_scratched()
            update_branch_counts(env, env.cur_state)
            env.live.update()
            prev = pop_stack(env, pop_log)
            if prev is None:
                return
            prev_insn_idx = prev
            env.do_print_state = True


# --- bpf_check -----------------------------------------------------------------------------
def _init_state(env: Env, subprog: int) -> None:
    st = VerifierState()
    st.frame.append(FuncState(BPF_MAIN_FUNC, 0, subprog, env.bpf_capable))
    env.mark_all_scratched()
    st.first_insn_idx = env.subprogs[subprog].start
    st.last_insn_idx = -1
    env.cur_state = st


def _reset_walk(env: Env) -> None:
    """free_states(): the next do_check_common() starts with no checkpoints."""
    env.explored = [[] for _ in env.insns]
    env.free_list = []
    env.explored_states_size = 0
    env.num_backedges = 0
    env.scc_visits = {}
    env.stack = []


def do_check_common(env: Env, subprog: int) -> None:
    env.prev_linfo = None
    _reset_walk(env)
    _init_state(env, subprog)
    regs = env.regs
    if subprog:
        setup_global_args(env, subprog)
    else:
        if env.func_info and env.btf is not None:
            try:  # only to log why the main program's BTF is not reliable
                prepare_func_args(env, 0)
            except (Refusal, NotSupportedError):
                pass
        regs[1].type = R.PTR_TO_CTX
        R.mark_known_zero(regs[1])
    env.insn_idx = env.subprogs[subprog].start
    do_check(env)
    if env.log.level < 2:
        env.log.reset(0)


def do_check_subprogs(env: Env) -> None:
    """Verify every called global subprogram, until no new one is called."""
    if not env.func_info:
        return
    while True:
        new = 0
        for k in range(1, len(env.subprogs)):
            if not env.subprog_is_global(k):
                continue
            if k not in env.global_called or k in env.global_verified:
                continue
            do_check_common(env, k)
            if env.log.level:
                env.verbose(
                    f"Func#{k} ('{subprog_name(env, k)}') is safe for any args that match its "
                    "prototype\n"
                )
            env.global_verified.add(k)
            new += 1
        if not new:
            return


class Verifier:
    """Check one program the way Linux 6.18 does; raise VerifierError or return statistics."""

    def __init__(
        self,
        insns: Sequence[Insn],
        *,
        prog_type: int = 1,
        map_resolver: Callable[[Insn], Any] | None = None,
        privileged: bool = True,
        log_level: int = 0,
        license: str = "GPL",
        line_info: Sequence[Any] = (),
        func_info: Sequence[Any] = (),
        btf: Any = None,
        expected_attach_type: int = 0,
    ):
        self.log = VerifierLog(level=log_level)
        self.env = Env(
            insns,
            get_prog_type(prog_type),
            privileged=privileged,
            log=self.log,
            license=license,
            map_resolver=map_resolver or _default_map_resolver,
            func_info=func_info,
            line_info=line_info,
            btf=btf,
            attach_type=expected_attach_type,
        )

    def verify(self) -> VerifyResult:
        env = self.env
        t0 = time.perf_counter()
        try:
            self._bpf_check()
        except Refusal as e:
            env.stats.seconds = time.perf_counter() - t0
            raise self._refused(e) from None
        env.stats.seconds = time.perf_counter() - t0
        env.verbose(env.stats.line() + "\n")
        return VerifyResult(env.stats, self.log.text)

    def _bpf_check(self) -> None:
        env = self.env
        cfg.check_prog_len(env)
        cfg.add_subprogs(env)
        cfg.check_subprogs(env)
        cfg.check_btf_info(env, env.btf)
        cfg.resolve_pseudo_ldimm64(env)
        cfg.check_cfg(env)
        cfg.compute_postorder(env)
        env.live = StackLiveness(env)
        cfg.compute_scc(env)
        compute_live_registers(env)
        env.stats.stack_depth = [0] * len(env.subprogs)
        do_check_common(env, 0)
        do_check_subprogs(env)
        check_max_stack_depth(env)
        for i, aux in enumerate(env.aux):
            # do_misc_fixups(), after dead code (never seen off speculative paths) is gone
            if (
                aux.seen
                and aux.map_ptr_poisoned
                and aux.map_ptr_unpriv
                and _is_tail_call(env.insns[i])
            ):
                raise env.fail("tail_call abusing map_ptr", errno.EINVAL)
        env.stats.stack_depth = [sp.stack_depth for sp in env.subprogs]

    def _refused(self, e: Refusal) -> VerifierError:
        """The kernel's statistics line, then pybpf's explanation and the C source line."""
        env = self.env
        env.stats.stack_depth = [sp.stack_depth for sp in env.subprogs]
        idx = (
            e.index if e.index is not None else env.insn_idx if env.stats.insns_processed else None
        )
        env.verbose(env.stats.line() + "\n")
        why = explain(e.message)
        li = env.find_linfo(idx) if idx is not None else None
        text = self.log.text if self.log.level else "".join(self.log.pending)
        extra = []
        if why:
            extra.append(f"pybpf: {why}")
        if li is not None:
            extra.append(f"pybpf: at insn {idx}, {li.file}:{li.line}: {li.text.strip()}")
        if extra:
            text += "\n" + "\n".join(extra) + "\n"
        err = VerifierError(e.message, index=idx, log=text, errno=e.errno)
        err.explanation = why  # type: ignore[attr-defined]
        err.source_line = li  # type: ignore[attr-defined]
        return err


def _is_tail_call(insn: Insn | None) -> bool:
    return insn is not None and insn.code == BPF_JMP | BPF_CALL and insn.src == 0 and insn.imm == 12


def _default_map_resolver(insn: Insn) -> Any:
    if insn.ref is not None and hasattr(insn.ref, "value_size"):
        return insn.ref
    try:
        return map_by_fd(insn.imm)
    except BpfError:  # resolve_pseudo_ldimm64 reports "fd N is not pointing to valid bpf_map"
        return None


def verify(
    insns: Sequence[Insn],
    *,
    prog_type: int = 1,
    privileged: bool = True,
    log_level: int = 0,
    **kw: Any,
) -> VerifyResult:
    """Verify a program; raise VerifierError (with log, index, message) if Linux would refuse it."""
    return Verifier(
        insns, prog_type=prog_type, privileged=privileged, log_level=log_level, **kw
    ).verify()


__all__ = ["VerifyResult", "Verifier", "explored_bucket", "push_stack", "verify"]
