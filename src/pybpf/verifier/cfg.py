"""The checks made before any state is tracked, in the kernel's order (bpf_check()).

add_subprog_and_kfunc() finds the subprograms (every local call target and
callback), check_subprogs() keeps jumps inside their subprogram and makes each
end in an exit or jump, check_btf_info() looks at func_info, resolve_pseudo_
ldimm64() checks every LD_IMM64 and opcode, check_cfg() walks the control-flow
graph depth first: it refuses unreachable instructions, jumps into an LD_IMM64,
and (for unprivileged loaders) back-edges, and marks where the walk will
compare states (prune points), record jumps (jump points) and checkpoint
(callback calls). compute_postorder() and compute_scc() order each subprogram
for the liveness passes and find its loops.

Indices are slot indices, as in the kernel's messages.
"""

from __future__ import annotations

import errno
from typing import Any

from ..errors import NotSupportedError
from ..isa import (
    BPF_CALL,
    BPF_EXIT,
    BPF_JA,
    BPF_JMP,
    BPF_JMP32,
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_FUNC,
    BPF_PSEUDO_KFUNC_CALL,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_IDX,
    BPF_PSEUDO_MAP_IDX_VALUE,
    BPF_PSEUDO_MAP_VALUE,
    OPCODES,
    Insn,
)
from ..spec.btf import BTF_KIND_ENUM, BTF_KIND_ENUM64, BTF_KIND_INT
from ..uapi import (
    BPF_COMPLEXITY_LIMIT_INSNS,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAXINSNS,
    BPF_PROG_TYPE_CGROUP_SKB,
    BPF_PROG_TYPE_SOCKET_FILTER,
    ENOTSUPP,
    BPF_FUNC_for_each_map_elem,
    BPF_FUNC_loop,
    BPF_FUNC_tail_call,
)
from .env import Env, SubprogInfo

MAX_SUBPROGS = 256
BPF_JCOND = 0xE0
#: opcodes in the kernel's instruction table that pybpf's ISA does not run: 8- and
#: 16-bit BPF_ATOMIC (only load-acquire/store-release use them; check_atomic refuses
#: the rest with "invalid atomic operand size")
_KERNEL_ONLY_OPCODES = frozenset({0xD3, 0xCB})
BPF_MAX_VAR_OFF = 1 << 29
#: helpers that call a callback synchronously (is_sync_callback_calling_function)
CALLBACK_HELPERS = frozenset({BPF_FUNC_for_each_map_elem, BPF_FUNC_loop})


def _jmp_offset(insn: Insn) -> int:
    """bpf_jmp_offset(): gotol takes its offset from imm."""
    return insn.imm if insn.code == BPF_JMP32 | BPF_JA else insn.off


def successors(insns: list[Insn | None], idx: int) -> tuple[int, ...]:
    """bpf_insn_successors(): fall-through first, then the jump target."""
    insn = insns[idx]
    if insn is None:
        return (idx + 1,)
    cls = insn.code & 0x07
    op = insn.code & 0xF0
    size = 2 if insn.is_lddw else 1
    if cls not in (BPF_JMP, BPF_JMP32):
        return (idx + size,)
    if op == BPF_EXIT:
        return ()
    if op == BPF_JA:
        return (idx + _jmp_offset(insn) + 1,)
    if op == BPF_CALL:
        return (idx + 1,)
    return (idx + 1, idx + insn.off + 1)


#: what bpf_prog_load() lets a loader without CAP_BPF load
UNPRIVILEGED_PROG_TYPES = (BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_CGROUP_SKB)


def check_prog_len(env: Env) -> None:
    """bpf_prog_load(): a type an unprivileged loader may not load, an empty program, or
    more instructions than the loader may load."""
    if not env.bpf_capable and env.prog.type not in UNPRIVILEGED_PROG_TYPES:
        raise env.fail(
            f"{env.prog.name} programs need CAP_BPF (unprivileged loaders may load socket "
            "filters and cgroup_skb programs only)",
            errno.EPERM,
        )
    n = len(env.insns)
    limit = BPF_COMPLEXITY_LIMIT_INSNS if env.bpf_capable else BPF_MAXINSNS
    if n == 0:
        raise env.fail("empty program", errno.EINVAL)
    if n > limit:
        raise env.fail(f"program of {n} insns exceeds the limit of {limit}", errno.E2BIG)


def add_subprogs(env: Env) -> None:
    """add_subprog_and_kfunc()."""
    insns = env.insns
    n = len(insns)
    starts = {0}
    for i, insn in enumerate(insns):
        if insn is None:
            continue
        call = insn.code == BPF_JMP | BPF_CALL
        pseudo_call = call and insn.src == BPF_PSEUDO_CALL
        kfunc = call and insn.src == BPF_PSEUDO_KFUNC_CALL
        func = insn.is_lddw and insn.src == BPF_PSEUDO_FUNC
        if not (pseudo_call or kfunc or func):
            continue
        if not env.bpf_capable:
            raise env.fail(
                "loading/calling other bpf or kernel functions are allowed for "
                "CAP_BPF and CAP_SYS_ADMIN",
                errno.EPERM,
                index=i,
            )
        if kfunc:
            raise NotSupportedError(
                f"insn {i}: kernel function calls (kfuncs) are not modelled by pybpf's verifier"
            )
        target = i + insn.imm + 1
        if target < 0 or target >= n:
            raise env.fail("call to invalid destination", errno.EINVAL, index=i)
        if target not in starts and len(starts) >= MAX_SUBPROGS:
            raise env.fail(f"too many subprograms. Max {MAX_SUBPROGS}", errno.E2BIG)
        starts.add(target)
    env.subprogs = [SubprogInfo(s) for s in sorted(starts)]
    if env.log.level >= 2:
        for k, sp in enumerate(env.subprogs):
            env.verbose(f"func#{k} @{sp.start}\n")


def subprog_end(env: Env, k: int) -> int:
    return env.subprogs[k + 1].start if k + 1 < len(env.subprogs) else len(env.insns)


def find_subprog(env: Env, start: int) -> int:
    for k, sp in enumerate(env.subprogs):
        if sp.start == start:
            return k
    return -1


def containing_subprog(env: Env, idx: int) -> int:
    k = 0
    for i, sp in enumerate(env.subprogs):
        if sp.start <= idx:
            k = i
    return k


def check_subprogs(env: Env) -> None:
    """check_subprogs(): jumps stay in their subprogram, each ends in exit or jump."""
    insns = env.insns
    for k, sp in enumerate(env.subprogs):
        start, end = sp.start, subprog_end(env, k)
        for i in range(start, end):
            insn = insns[i]
            code = insn.code if insn is not None else 0
            if insn is not None:
                if code == BPF_JMP | BPF_CALL and insn.src == 0 and insn.imm == BPF_FUNC_tail_call:
                    sp.has_tail_call = True
                if code & 0x07 == 0 and code & 0xE0 in (0x20, 0x40):
                    sp.has_ld_abs = True
                cls, op = code & 0x07, code & 0xF0
                if cls in (BPF_JMP, BPF_JMP32) and op not in (BPF_EXIT, BPF_CALL):
                    off = i + _jmp_offset(insn) + 1
                    if off < start or off >= end:
                        raise env.fail(
                            f"jump out of range from insn {i} to {off}", errno.EINVAL, index=i
                        )
            if i == end - 1 and code not in (
                BPF_JMP | BPF_EXIT,
                BPF_JMP32 | BPF_JA,
                BPF_JMP | BPF_JA,
            ):
                raise env.fail("last insn is not an exit or jmp", errno.EINVAL, index=i)


def check_btf_info(env: Env, btf: Any) -> None:
    """check_btf_info(): without func_info, LD_ABS and tail calls only in the main program;
    with it, only in subprograms returning an int."""
    if not env.func_info:
        for sp in env.subprogs[1:]:
            if sp.has_ld_abs:
                raise env.fail("LD_ABS is not allowed in subprogs without BTF", errno.EINVAL)
            if sp.has_tail_call:
                raise env.fail("tail_call is not allowed in subprogs without BTF", errno.EINVAL)
        return
    if btf is None:
        return
    for sp in env.subprogs:
        sp.is_global = not func_is_static(btf, env.func_info, sp.start)
    if len(env.func_info) != len(env.subprogs):
        raise env.fail(
            "number of funcs in func_info doesn't match number of subprogs", errno.EINVAL
        )
    for k, (insn_off, type_id) in enumerate(env.func_info):
        if env.subprogs[k].start != insn_off:
            raise env.fail(
                "func_info BTF section doesn't match subprog layout in BPF program", errno.EINVAL
            )
        scalar = _returns_scalar(btf, type_id)
        if k and not scalar and env.subprogs[k].has_ld_abs:
            raise env.fail("LD_ABS is only allowed in functions that return 'int'.", errno.EINVAL)
        if k and not scalar and env.subprogs[k].has_tail_call:
            raise env.fail(
                "tail_call is only allowed in functions that return 'int'.", errno.EINVAL
            )


def _returns_scalar(btf: Any, func_id: int) -> bool:
    """btf_type_is_small_int() or an enum, after modifiers (the FUNC_PROTO's return)."""
    try:
        proto = btf.type(btf.type(func_id).ref)
        if not proto.ref:
            return False
        t = btf.resolve(proto.ref)
    except Exception:  # malformed BTF is the loader's to report; do not refuse here
        return True
    if t.kind == BTF_KIND_INT:
        return t.size <= 8
    return t.kind in (BTF_KIND_ENUM, BTF_KIND_ENUM64)


def func_is_static(btf: Any, func_info: list[tuple[int, int]], subprog_start: int) -> bool:
    """func_info_aux[].linkage == BTF_FUNC_STATIC for the subprogram at ``subprog_start``."""
    if btf is None:
        return True
    for insn_off, type_id in func_info:
        if insn_off == subprog_start:
            try:
                return btf.type(type_id).linkage == 0
            except Exception:
                return True
    return True


def resolve_pseudo_ldimm64(env: Env) -> None:
    """resolve_pseudo_ldimm64(): LD_IMM64 forms and maps, LDX reserved fields, opcodes."""
    for i, insn in enumerate(env.insns):
        if insn is None:
            continue
        cls = insn.code & 0x07
        if cls == 0x01 and (insn.code & 0xE0 not in (0x60, 0x80) or insn.imm):
            raise env.fail("BPF_LDX uses reserved fields", errno.EINVAL, index=i)
        if insn.is_lddw:
            src = insn.src
            if src in (0, BPF_PSEUDO_FUNC):
                continue
            if src not in (
                BPF_PSEUDO_MAP_VALUE,
                BPF_PSEUDO_MAP_IDX_VALUE,
                BPF_PSEUDO_MAP_FD,
                BPF_PSEUDO_MAP_IDX,
            ) or (src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX) and insn.imm_hi):
                raise env.fail("unrecognized bpf_ld_imm64 insn", errno.EINVAL, index=i)
            m = env.resolve_map(insn)
            if m is None:
                raise env.fail(
                    f"fd {insn.imm} is not pointing to valid bpf_map", errno.EBADF, index=i
                )
            if m not in env.used_maps:
                env.used_maps.append(m)
            env.aux[i].map_ptr = m
            if src in (BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_MAP_IDX_VALUE):
                off = insn.imm_hi & 0xFFFFFFFF
                if off >= BPF_MAX_VAR_OFF:
                    raise env.fail(f"direct value offset of {off} is not allowed", errno.EINVAL)
                if getattr(m, "type", None) != BPF_MAP_TYPE_ARRAY:
                    raise env.fail("no direct value access support for this map type", errno.EINVAL)
                if m.max_entries != 1 or off >= m.value_size:
                    raise env.fail(
                        f"invalid access to map value pointer, value_size={m.value_size} off={off}",
                        ENOTSUPP if m.max_entries != 1 else errno.EINVAL,
                    )
            continue
        if insn.code in _KERNEL_ONLY_OPCODES:
            continue
        if insn.code == BPF_JMP | BPF_JCOND:
            raise NotSupportedError(f"insn {i}: may_goto is not modelled by pybpf")
        if insn.code not in OPCODES or OPCODES[insn.code].kind == "callx":
            raise env.fail(f"unknown opcode {insn.code:02x}", errno.EINVAL, index=i)


def mark_prune_point(env: Env, idx: int) -> None:
    env.aux[idx].prune_point = True


def mark_jmp_point(env: Env, idx: int) -> None:
    env.aux[idx].jmp_point = True


def check_cfg(env: Env) -> None:
    """check_cfg(): the depth-first walk (visit_insn / push_insn)."""
    insns = env.insns
    n = len(insns)
    DISCOVERED, EXPLORED, FALLTHROUGH, BRANCH = 0x10, 0x20, 1, 2
    state = [0] * n
    stack = [0]
    state[0] = DISCOVERED

    def push(t: int, w: int, e: int) -> bool:
        """push_insn(): True to keep exploring from the new top of the stack."""
        if e == FALLTHROUGH and state[t] >= DISCOVERED | FALLTHROUGH:
            return False
        if e == BRANCH and state[t] >= DISCOVERED | BRANCH:
            return False
        if w < 0 or w >= n:
            env.verbose_linfo(t, f"{t}: ")
            raise env.fail(f"jump out of range from insn {t} to {w}", errno.EINVAL, index=t)
        if e == BRANCH:
            mark_prune_point(env, w)
            mark_jmp_point(env, w)
        if state[w] == 0:
            state[t] = DISCOVERED | e
            state[w] = DISCOVERED
            stack.append(w)
            return True
        if state[w] & 0xF0 == DISCOVERED:
            if env.bpf_capable:
                return False
            env.verbose_linfo(t, f"{t}: ")
            env.verbose_linfo(w, f"{w}: ")
            raise env.fail(f"back-edge from insn {t} to {w}", errno.EINVAL, index=t)
        state[t] = DISCOVERED | e
        return False

    def visit_call(t: int, insn: Insn, visit_callee: bool) -> bool:
        size = 2 if insn.is_lddw else 1
        if push(t, t + size, FALLTHROUGH):
            return True
        mark_prune_point(env, t + size)
        mark_jmp_point(env, t + size)
        if visit_callee:
            mark_prune_point(env, t)
            return push(t, t + insn.imm + 1, BRANCH)
        return False

    while stack:
        t = stack[-1]
        insn = insns[t]
        keep = False
        if insn is None:
            keep = push(t, t + 1, FALLTHROUGH)
        elif insn.is_lddw and insn.src == BPF_PSEUDO_FUNC:
            keep = visit_call(t, insn, True)
        elif insn.code & 0x07 not in (BPF_JMP, BPF_JMP32):
            keep = push(t, t + (2 if insn.is_lddw else 1), FALLTHROUGH)
        else:
            op = insn.code & 0xF0
            if op == BPF_EXIT:
                keep = False
            elif op == BPF_CALL:
                if insn.src == 0 and insn.imm in CALLBACK_HELPERS:
                    env.aux[t].calls_callback = True
                    env.aux[t].force_checkpoint = True
                    mark_prune_point(env, t)
                    mark_jmp_point(env, t)
                keep = visit_call(t, insn, insn.src == BPF_PSEUDO_CALL)
            elif op == BPF_JA:
                target = t + _jmp_offset(insn) + 1
                keep = push(t, target, FALLTHROUGH)
                if not keep:
                    mark_prune_point(env, target)
                    mark_jmp_point(env, target)
            else:
                mark_prune_point(env, t)
                keep = push(t, t + 1, FALLTHROUGH) or push(t, t + insn.off + 1, BRANCH)
        if not keep:
            state[t] = EXPLORED
            stack.pop()
    i = 0
    while i < n:
        insn = insns[i]
        if state[i] != EXPLORED:
            raise env.fail(f"unreachable insn {i}", errno.EINVAL, index=i)
        if insn is not None and insn.is_lddw:
            if state[i + 1] != 0:
                raise env.fail(f"jump into the middle of ldimm64 insn {i}", errno.EINVAL, index=i)
            i += 1
        i += 1


def compute_postorder(env: Env) -> None:
    """compute_postorder(): each subprogram's instructions in DFS postorder.

    Also records every instruction's successors (env.succ) for the later passes.
    """
    insns = env.insns
    env.succ = [successors(insns, i) for i in range(len(insns))]
    n = len(insns)
    state = [0] * n
    post: list[int] = []
    for sp in env.subprogs:
        sp.postorder_start = len(post)
        stack = [sp.start]
        while stack:
            top = stack[-1]
            state[top] |= 1
            if state[top] & 2:
                post.append(top)
                stack.pop()
                continue
            for s in env.succ[top]:
                if not state[s]:
                    stack.append(s)
                    state[s] |= 1
            state[top] |= 2
    env.postorder = post


def compute_scc(env: Env) -> None:
    """compute_scc(): number the loops (Tarjan, as the kernel's non-recursive form)."""
    insns = env.insns
    n = len(insns)
    NOT_ON_STACK = 1 << 32
    pre = [0] * n
    low = [0] * n
    next_pre = 1
    next_scc = 1
    for i in range(n):
        if pre[i]:
            continue
        stack: list[int] = []
        dfs = [i]
        while dfs:
            w = dfs[-1]
            if pre[w] == 0:
                low[w] = pre[w] = next_pre
                next_pre += 1
                stack.append(w)
            succ = env.succ[w]
            descended = False
            for s in succ:
                if pre[s]:
                    low[w] = min(low[w], low[s])
                else:
                    dfs.append(s)
                    descended = True
                    break
            if descended:
                continue
            if low[w] < pre[w]:
                dfs.pop()
                continue
            # two or more members, a self-loop, or a callback call (an implicit loop)
            assign = stack[-1] != w or w in succ or env.aux[w].calls_callback
            while True:
                t = stack.pop()
                low[t] = NOT_ON_STACK
                if assign:
                    env.aux[t].scc = next_scc
                if t == w:
                    break
            if assign:
                next_scc += 1
            dfs.pop()
