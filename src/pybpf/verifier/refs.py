"""References a program holds (ringbuf records) and what releasing one does.

A helper that acquires a reference (bpf_ringbuf_reserve) records it in the
state; every register holding it is invalidated when it is released, and a
program may not exit or tail-call while holding one (check_reference_leak,
kernel/bpf/verifier.c, Linux 6.18).
"""

from __future__ import annotations

import errno

from . import reg as R
from .env import Env
from .state import each_reg

#: the registers a call clobbers
CALLER_SAVED = (0, 1, 2, 3, 4, 5)


def mark_reg_invalid(env: Env, r: R.Reg) -> None:
    if not env.allow_ptr_leaks:
        R.mark_not_init(r, env.bpf_capable)
    else:
        R.mark_unknown(r, env.bpf_capable)


def check_reference_leak(env: Env) -> bool:
    """check_reference_leak(): log every reference still held; True if any."""
    st = env.cur_state
    if st.frame[-1].frameno:
        return False
    for ref in st.refs:
        env.verbose(f"Unreleased reference id={ref.id} alloc_insn={ref.insn_idx}\n")
    return bool(st.refs)


def check_resource_leak(env: Env, exception_exit: bool, check_lock: bool, prefix: str) -> None:
    if check_reference_leak(env):
        raise env.fail(f"{prefix} would lead to reference leak", errno.EINVAL)


def release_reference(env: Env, ref_obj_id: int) -> bool:
    st = env.cur_state
    for i, ref in enumerate(st.refs):
        if ref.id == ref_obj_id:
            del st.refs[i]
            for _f, r in each_reg(st):
                if r.ref_obj_id == ref_obj_id:
                    mark_reg_invalid(env, r)
            return True
    return False


def clear_caller_saved_regs(env: Env, regs: list[R.Reg]) -> None:
    for r in CALLER_SAVED:
        R.mark_not_init(regs[r], env.bpf_capable)
        env.reg_scratch(r)
