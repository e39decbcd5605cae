"""Calls and exits: helpers, bpf-to-bpf calls, callbacks, return values, stack depth.

check_helper_call() runs the static checks (helper_rules), every argument
(args.check_func_arg), then gives R0 the helper's return type: an unknown
scalar, ``map_value_or_null`` with a fresh id for the NULL check,
``ringbuf_mem_or_null`` holding a reference that must be released. A
bpf-to-bpf call pushes a frame (r1-r5 passed, the rest of the callee's
registers unreadable); a callback helper (bpf_loop, bpf_for_each_map_elem)
queues a visit of the callback and comes back to the call, until the state
at the call repeats. At the program's exit R0 must be readable and, for
unprivileged loaders, not a pointer; references must all be released
(kernel/bpf/verifier.c, Linux 6.18).
"""

from __future__ import annotations

import errno
from typing import Any

from .. import uapi
from ..errors import NotSupportedError, VerifierError
from ..helpers import proto as P
from ..helpers.proto import RetType as RT
from ..isa import BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, MAX_BPF_STACK, Insn
from ..maps.base import possible_cpus
from ..progtypes import ret_range
from . import reg as R
from .args import CallMeta, check_func_arg, write_raw_mode_bytes
from .cfg import find_subprog, subprog_end
from .env import Env, Refusal
from .globals import check_global_call
from .helper_rules import find_helper, map_func_compatible
from .log import state_str
from .operands import DST_OP_NO_MARK, check_reg_arg, is_pointer_value
from .paths import explored_bucket, push_stack
from .precision import mark_chain_precision
from .prune import IdMap, regs_exact
from .refs import (
    CALLER_SAVED,
    check_resource_leak,
    clear_caller_saved_regs,
    mark_reg_invalid,
    release_reference,
)
from .state import FuncState, RefState, VerifierState, each_reg

MAX_CALL_FRAMES = 8
MAX_ERRNO = 4095
F = uapi.FUNC_IDS
#: map types with map_set_for_each_callback_args: (percpu/lru) hash and (percpu) array
_FOR_EACH_MAPS = frozenset(
    {
        uapi.BPF_MAP_TYPE_HASH,
        uapi.BPF_MAP_TYPE_ARRAY,
        uapi.BPF_MAP_TYPE_PERCPU_HASH,
        uapi.BPF_MAP_TYPE_PERCPU_ARRAY,
        uapi.BPF_MAP_TYPE_LRU_HASH,
        uapi.BPF_MAP_TYPE_LRU_PERCPU_HASH,
    }
)
_RECORD_MAP = frozenset(
    {
        F["tail_call"],
        F["map_lookup_elem"],
        F["map_update_elem"],
        F["map_delete_elem"],
        F["map_push_elem"],
        F["map_pop_elem"],
        F["map_peek_elem"],
        F["for_each_map_elem"],
        F["redirect_map"],
        F["map_lookup_percpu_elem"],
    }
)
_MAP_WRITES = frozenset(
    {F["map_delete_elem"], F["map_update_elem"], F["map_push_elem"], F["map_pop_elem"]}
)
_STR_HELPERS = frozenset(
    {
        F["get_stack"],
        F["get_task_stack"],
        F["probe_read_str"],
        F["probe_read_kernel_str"],
        F["probe_read_user_str"],
    }
)


# --- helper calls ---------------------------------------------------------------------------
def _record_func_map(env: Env, meta: CallMeta, func_id: int) -> None:
    if func_id not in _RECORD_MAP:
        return
    m = meta.map
    if m is None:
        raise env.fail("verifier bug: expected map for helper call", errno.EFAULT)
    if getattr(m, "flags", 0) & uapi.BPF_F_RDONLY_PROG and func_id in _MAP_WRITES:
        raise env.fail("write into map forbidden")
    aux = env.aux[env.insn_idx]
    if aux.map_ptr is None:
        aux.map_ptr = m
        aux.map_ptr_unpriv = not env.bypass_spec_v1
    elif aux.map_ptr is not m:
        aux.map_ptr = m
        aux.map_ptr_unpriv = not env.bypass_spec_v1
        aux.map_ptr_poisoned = True


def _record_func_key(env: Env, meta: CallMeta, func_id: int) -> None:
    if func_id != F["tail_call"]:
        return
    m = meta.map
    if m is None or getattr(m, "type", None) != uapi.BPF_MAP_TYPE_PROG_ARRAY:
        raise env.fail("expected prog array map for tail call", errno.EINVAL, newline=False)
    aux = env.aux[env.insn_idx]
    r3 = env.regs[3]
    val = r3.var.value
    if not (R.reg_is_const(r3, False) and val < m.max_entries):
        aux.map_key_poisoned = True
        aux.map_key_seen = True
        return
    mark_chain_precision(env, 3)
    if not aux.map_key_seen:
        aux.map_key_seen = True
        aux.map_key = val
    elif not aux.map_key_poisoned and aux.map_key != val:
        aux.map_key_poisoned = True


def _may_update_sockmap(env: Env, func_id: int) -> bool:
    return func_id in (F["map_update_elem"], F["map_delete_elem"]) and env.prog.type in (
        uapi.BPF_PROG_TYPE_SOCKET_FILTER,
        uapi.BPF_PROG_TYPE_SCHED_CLS,
        uapi.BPF_PROG_TYPE_SCHED_ACT,
        uapi.BPF_PROG_TYPE_XDP,
    )


def _check_map_func_compatibility(env: Env, m: Any, func_id: int) -> None:
    if m is None:
        return
    mt = getattr(m, "type", 0)
    if not map_func_compatible(mt, func_id):
        if not (
            mt in (uapi.BPF_MAP_TYPE_SOCKMAP, uapi.BPF_MAP_TYPE_SOCKHASH)
            and _may_update_sockmap(env, func_id)
        ):
            raise env.fail(
                f"cannot pass map_type {mt} into func {uapi.FUNC_NAMES.get(func_id, 'unknown')}"
                f"#{func_id}",
                errno.EINVAL,
            )


def check_helper_call(env: Env, insn: Insn) -> None:
    func_id = insn.imm
    idx = env.insn_idx
    try:
        helper = find_helper(
            func_id, env.prog, privileged=env.bpf_capable, license=env.license, pc=idx
        )
    except VerifierError as e:
        raise env.fail(e.message, e.errno) from None
    if not helper.implemented:
        raise NotSupportedError(
            f"insn {idx}: helper bpf_{helper.name}#{func_id} is allowed here but not modelled "
            f"in user space: {helper.reason}"
        )
    fn = helper.proto
    meta = CallMeta(func_id)
    meta.pkt_access = fn.pkt_access
    for i in range(5):
        check_func_arg(env, i, meta, fn)
    _record_func_map(env, meta, func_id)
    _record_func_key(env, meta, func_id)
    write_raw_mode_bytes(env, meta)
    regs = env.regs
    if meta.release_regno:
        ok = True
        if meta.ref_obj_id:
            ok = release_reference(env, meta.ref_obj_id)
        elif not R.register_is_null(regs[meta.release_regno]):
            ok = False
        if not ok:
            raise env.fail(
                f"func {helper.name}#{func_id} reference has not been acquired before",
                errno.EINVAL,
            )
    if func_id == F["tail_call"]:
        check_resource_leak(env, False, True, "tail_call")
    elif func_id == F["for_each_map_elem"]:
        push_callback_call(env, insn, meta.subprogno, "map_elem")
    elif func_id == F["loop"]:
        mark_chain_precision(env, 1)
        cur = env.cur_state.frame[-1]
        if cur.callback_depth < regs[1].umax:
            push_callback_call(env, insn, meta.subprogno, "loop")
        else:
            cur.callback_depth = 0
            if env.log.level >= 2:
                env.verbose(f"frame{env.cur_state.curframe} bpf_loop iteration limit reached\n")
    elif func_id == F["snprintf"] and regs[5].var.value % 8:
        raise Refusal("the snprintf data length is not a multiple of 8", errno.EINVAL)
    regs = env.regs
    for r in CALLER_SAVED:
        R.mark_not_init(regs[r], env.bpf_capable)
        check_reg_arg(env, r, DST_OP_NO_MARK)
    if fn.changes_pkt_data:
        clear_all_pkt_pointers(env)
    r0 = regs[0]
    r0.subreg_def = 0
    ret = fn.ret
    base = P.base_type(ret)
    flag = ret & ~0xFF
    if base == RT.RET_INTEGER:
        R.mark_unknown(r0, env.bpf_capable)
    elif base == RT.RET_VOID:
        r0.type = R.NOT_INIT
    elif base == RT.RET_PTR_TO_MAP_VALUE:
        R.mark_known_zero(r0)
        m = meta.map
        mt = getattr(m, "type", 0)
        if mt in (uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS, uapi.BPF_MAP_TYPE_HASH_OF_MAPS):
            raise NotSupportedError(
                f"insn {idx}: lookups in maps of maps are not modelled by pybpf's verifier"
            )
        if (
            func_id == F["map_lookup_elem"]
            and mt in (uapi.BPF_MAP_TYPE_ARRAY, uapi.BPF_MAP_TYPE_PERCPU_ARRAY)
            and 0 <= meta.const_map_key < m.max_entries
        ):
            flag &= ~int(P.PTR_MAYBE_NULL)
        r0.map = m
        r0.map_uid = meta.map_uid
        r0.type = R.PTR_TO_MAP_VALUE | flag
    elif base == RT.RET_PTR_TO_MEM:
        R.mark_known_zero(r0)
        r0.type = R.PTR_TO_MEM | flag
        r0.mem_size = meta.mem_size
    else:
        raise NotSupportedError(
            f"insn {idx}: helper bpf_{helper.name}#{func_id} returns {P.ret_type_name(ret)}, "
            "which pybpf's verifier does not model"
        )
    if r0.type & R.PTR_MAYBE_NULL:
        r0.id = env.new_id()
    if func_id == F["ringbuf_reserve"]:
        rid = env.new_id()
        env.cur_state.refs.append(RefState(rid, idx))
        r0.id = rid
        r0.ref_obj_id = rid
    if base == RT.RET_INTEGER:
        if func_id in _STR_HELPERS:
            r0.smax = r0.s32max = R.s64(meta.msize_max_value)
            r0.smin = r0.s32min = -MAX_ERRNO
            R.reg_bounds_sync(r0)
        elif func_id == F["get_smp_processor_id"]:
            n = possible_cpus() - 1
            r0.umin = r0.u32min = r0.smin = r0.s32min = 0
            r0.umax = r0.u32max = r0.smax = r0.s32max = n
            R.reg_bounds_sync(r0)
    _check_map_func_compatibility(env, meta.map, func_id)


def clear_all_pkt_pointers(env: Env) -> None:
    """clear_all_pkt_pointers(): after a helper that may move or resize the packet
    (bpf_helper_changes_pkt_data), every packet pointer — in registers and spilled on
    the stack, in every frame — is forgotten (mark_reg_invalid)."""
    for _f, r in each_reg(env.cur_state):
        if r.type in (R.PTR_TO_PACKET, R.PTR_TO_PACKET_META, R.PTR_TO_PACKET_END):
            mark_reg_invalid(env, r)


# --- bpf-to-bpf calls and callbacks ---------------------------------------------------------
def setup_func_entry(env: Env, subprog: int, callsite: int, kind: str, st: VerifierState) -> None:
    if st.curframe + 1 >= MAX_CALL_FRAMES:
        raise env.fail(f"the call stack of {st.curframe + 2} frames is too deep", errno.E2BIG)
    caller = st.frame[-1]
    callee = FuncState(callsite, st.curframe + 1, subprog, env.bpf_capable)
    env.mark_all_scratched()
    cregs, kregs = caller.regs, callee.regs
    if kind == "call":
        for i in range(1, 6):
            kregs[i].assign(cregs[i])
    elif kind == "map_elem":
        m = env.aux[callsite].map_ptr
        if getattr(m, "type", None) not in _FOR_EACH_MAPS:
            raise env.fail("callback function not allowed for map", uapi.ENOTSUPP)
        kregs[1].assign(cregs[1])
        for i, t in ((2, R.PTR_TO_MAP_KEY), (3, R.PTR_TO_MAP_VALUE)):
            kregs[i].type = t
            R.mark_known_zero(kregs[i])
            kregs[i].map = cregs[1].map
        kregs[4].assign(cregs[3])
        R.mark_not_init(kregs[5], env.bpf_capable)
        callee.in_callback_fn = True
        callee.callback_ret_range = (0, 1)
    elif kind == "loop":
        kregs[1].type = R.SCALAR_VALUE
        kregs[2].assign(cregs[3])
        for i in (3, 4, 5):
            R.mark_not_init(kregs[i], env.bpf_capable)
        callee.in_callback_fn = True
        callee.callback_ret_range = (0, 1)
    st.frame.append(callee)


def push_callback_call(env: Env, insn: Insn, subprog: int, kind: str) -> None:
    caller = env.cur_state.frame[-1]
    cb = push_stack(env, env.subprogs[subprog].start, env.insn_idx, False)
    setup_func_entry(env, subprog, env.insn_idx, kind, cb)
    cb.callback_unroll_depth += 1
    cb.frame[-2].callback_depth += 1
    caller.callback_depth = 0


def check_func_call(env: Env, insn: Insn) -> int:
    """A static subprogram's call: a new frame; returns the callee's first instruction."""
    target = env.insn_idx + insn.imm + 1
    subprog = find_subprog(env, target)
    if subprog < 0:
        raise env.fail(
            f"verifier bug: target of func call at insn {target} is not a program", errno.EFAULT
        )
    st = env.cur_state
    caller = st.frame[-1]
    if env.subprog_is_global(subprog):
        check_global_call(env, subprog)
        return env.insn_idx + 1
    setup_func_entry(env, subprog, env.insn_idx, "call", st)
    clear_caller_saved_regs(env, caller.regs)
    env.live.reset_callchain()
    if env.log.level:
        env.verbose("caller:\n" + state_str(st, caller.frameno, True))
        env.verbose("callee:\n" + state_str(st, st.curframe, True))
    return env.subprogs[subprog].start


def find_prev_entry(env: Env, cur: VerifierState, insn_idx: int) -> VerifierState | None:
    for sl in explored_bucket(env, insn_idx):
        st = sl.state
        if (
            st.insn_idx == insn_idx
            and st.branches
            and _same_callsites(st, cur)
            and st.dfs_depth < cur.dfs_depth
        ):
            return st
    return None


def _same_callsites(a: VerifierState, b: VerifierState) -> bool:
    if a.curframe != b.curframe:
        return False
    return all(a.frame[i].callsite == b.frame[i].callsite for i in range(a.curframe + 1))


def widen_imprecise_scalars(env: Env, old: VerifierState, cur: VerifierState) -> None:
    idmap = IdMap(env.id_gen)

    def widen(ro: R.Reg, rc: R.Reg) -> None:
        if ro.type != R.SCALAR_VALUE or ro.type != rc.type:
            return
        if ro.precise or rc.precise or regs_exact(ro, rc, idmap):
            return
        R.mark_unknown(rc, env.bpf_capable)

    for fr in range(old.curframe, -1, -1):
        fo, fc = old.frame[fr], cur.frame[fr]
        for i in range(11):
            widen(fo.regs[i], fc.regs[i])
        for i in range(min(len(fo.stack), len(fc.stack))):
            if fo.stack[i].is_spilled and fc.stack[i].is_spilled:
                widen(fo.stack[i].spilled, fc.stack[i].spilled)


def prepare_func_exit(env: Env) -> int:
    """Leave the callee's frame; returns where the caller continues."""
    st = env.cur_state
    callee = st.frame[-1]
    r0 = callee.regs[0]
    if r0.type == R.PTR_TO_STACK:
        raise env.fail("cannot return stack pointer to the caller", errno.EINVAL)
    caller = st.frame[-2]
    if callee.in_callback_fn:
        if r0.type != R.SCALAR_VALUE:
            raise env.fail("R0 not a scalar value")
        mark_chain_precision(env, 0)
        lo, hi = callee.callback_ret_range
        if not (lo <= r0.smin and r0.smax <= hi):
            raise env.fail(
                invalid_scalar_message(r0, (lo, hi), "At callback return", "R0"), errno.EINVAL
            )
        nxt = callee.callsite
    else:
        caller.regs[0].assign(r0)
        nxt = callee.callsite + 1
    if env.log.level:
        env.verbose("returning from callee:\n" + state_str(st, callee.frameno, True))
        env.verbose(f"to caller at {nxt}:\n" + state_str(st, caller.frameno, True))
    st.frame.pop()
    if callee.in_callback_fn:
        prev = find_prev_entry(env, st, nxt)
        if prev is not None:
            widen_imprecise_scalars(env, prev, st)
    return nxt


def invalid_scalar_message(r: R.Reg, rng: tuple[int, int], ctx: str, name: str) -> str:
    """verbose_invalid_scalar()."""
    text = f"{ctx} the register {name} has"
    known = False
    if r.smin > R.S64_MIN:
        text += f" smin={r.smin}"
        known = True
    if r.smax < R.S64_MAX:
        text += f" smax={r.smax}"
        known = True
    if not known:
        text += " unknown scalar value"
    return text + f" should have been in [{rng[0]}, {rng[1]}]"


def check_return_code(env: Env) -> None:
    """check_return_code() for R0 at the program's (or a global subprogram's) exit."""
    frame = env.cur_state.frame[0]
    check_reg_arg(env, 0, 0)
    r0 = env.regs[0]
    if is_pointer_value(env, 0):
        raise env.fail("R0 leaks addr as return value")
    if frame.subprogno:
        if r0.type != R.SCALAR_VALUE:
            raise env.fail(
                "At subprogram exit the register R0 is not a scalar value "
                f"({R.reg_type_str(r0.type)})",
                errno.EINVAL,
            )
        return
    rng = ret_range(env.prog.type, env.attach_type)
    if rng is None:
        return
    if r0.type != R.SCALAR_VALUE:
        raise env.fail(
            f"At program exit the register R0 is not a known value ({R.reg_type_str(r0.type)})",
            errno.EINVAL,
        )
    mark_chain_precision(env, 0)
    if not (rng[0] <= r0.smin and r0.smax <= rng[1]):
        raise env.fail(invalid_scalar_message(r0, rng, "At program exit", "R0"), errno.EINVAL)


# --- combined stack depth -------------------------------------------------------------------
def _round_up_stack_depth(depth: int) -> int:
    """round_up_stack_depth() with the JIT enabled: 16-byte granularity."""
    return (depth + 15) // 16 * 16


def _is_call(insn: Insn | None) -> bool:
    return insn is not None and (
        (insn.code == 0x85 and insn.src == BPF_PSEUDO_CALL)
        or (insn.is_lddw and insn.src == BPF_PSEUDO_FUNC)
    )


def check_max_stack_depth(env: Env) -> None:
    """check_max_stack_depth_subprog() from the main program (x86-64 JIT, no private stack)."""
    insns = env.insns
    subs = env.subprogs
    idx, i, depth, frame = 0, 0, 0, 0
    ret_insn: list[int] = []
    ret_prog: list[int] = []
    entering = True
    while True:
        if entering:
            if idx and subs[idx].has_tail_call and depth >= 256:
                raise env.fail(
                    "tail_calls are not allowed when call stack of previous frames is "
                    f"{depth} bytes. Too large"
                )
            depth += _round_up_stack_depth(subs[idx].stack_depth)
            if depth > MAX_BPF_STACK:
                raise env.fail(f"combined stack size of {frame + 1} calls is {depth}. Too large")
        end = subprog_end(env, idx)
        while i < end and not _is_call(insns[i]):
            i += 1
        if i < end:
            insn = insns[i]
            assert insn is not None
            ret_insn.append(i + 1)
            ret_prog.append(idx)
            i = i + insn.imm + 1
            idx = find_subprog(env, i)
            frame += 1
            if frame >= MAX_CALL_FRAMES:
                raise env.fail(f"the call stack of {frame} frames is too deep !", errno.E2BIG)
            entering = True
            continue
        if frame == 0:
            return
        depth -= _round_up_stack_depth(subs[idx].stack_depth)
        frame -= 1
        i = ret_insn.pop()
        idx = ret_prog.pop()
        entering = False
