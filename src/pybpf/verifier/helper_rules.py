"""Which helpers a program may call, with which maps, under which license.

The checks check_helper_call() (kernel/bpf/verifier.c) makes before it looks
at a single argument: the helper exists (``invalid func unknown#N``), the
program type hands it out to this loader (the type's ``get_func_proto``, which
keeps the CAP_BPF/CAP_PERFMON helpers from unprivileged loaders), a GPL-only
helper is called from a GPL-compatible program only; and, once the map
argument is known, check_map_func_compatibility()'s two-way table of map types
and helpers.

:func:`check_helper_calls` runs the static part over a whole program, so a
program that cannot pass is refused at construction with the verifier's words;
a helper the kernel allows but pybpf does not model raises NotSupportedError.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence

from .. import uapi
from ..errors import NotSupportedError, VerifierError
from ..helpers.proto import Helper
from ..helpers.table import HELPERS
from ..isa import Insn, is_helper_call, iter_slots
from ..progtypes import ProgType, get_prog_type

F = uapi.FUNC_IDS


def license_is_gpl_compatible(license: str) -> bool:
    """license_is_gpl_compatible() (include/linux/license.h)."""
    return license in uapi.GPL_COMPATIBLE_LICENSES


def helper_name(func_id: int) -> str:
    """The kernel's func_id_name(): ``map_lookup_elem``, or ``unknown``."""
    return uapi.FUNC_NAMES.get(func_id, "unknown")


def find_helper(
    func_id: int, prog: ProgType, *, privileged: bool, license: str, pc: int | None = None
) -> Helper:
    """The helper ``func_id`` as a program of type ``prog`` may call it, or VerifierError.

    The order and messages are check_helper_call()'s: unknown id, not offered
    to this program type (or not to an unprivileged loader), GPL-only.
    """
    if func_id not in uapi.FUNC_NAMES:
        raise VerifierError(f"invalid func unknown#{func_id}", index=pc, errno=errno.EINVAL)
    helper = HELPERS.get(func_id)
    offered = func_id in prog.helpers and (privileged or func_id in prog.unpriv_helpers)
    if helper is None or not offered:
        raise VerifierError(
            f"program of this type cannot use helper bpf_{helper_name(func_id)}#{func_id}",
            index=pc,
            errno=errno.EINVAL,
        )
    if helper.proto.gpl_only and not license_is_gpl_compatible(license):
        raise VerifierError(
            "cannot call GPL-restricted function from non-GPL compatible program",
            index=pc,
            errno=errno.EINVAL,
        )
    return helper


def check_helper_calls(
    insns: Sequence[Insn], prog_type: int, license: str, *, privileged: bool = True
) -> None:
    """The static helper-call checks over a whole program (slot indices in messages).

    VerifierError (with the kernel's message and errno) for an unknown helper,
    one the program type does not offer, a GPL-only helper from a non-GPL
    program; NotSupportedError for a helper the kernel allows but pybpf does
    not model in user space; NotSupportedError too for a program type pybpf
    does not model.
    """
    prog = get_prog_type(prog_type)
    for pc, insn in iter_slots(insns):
        if not is_helper_call(insn):
            continue
        helper = find_helper(insn.imm, prog, privileged=privileged, license=license, pc=pc)
        if not helper.implemented:
            raise NotSupportedError(
                f"insn {pc}: helper bpf_{helper.name}#{helper.id} is allowed here but not "
                f"modelled in user space: {helper.reason}"
            )


# --- check_map_func_compatibility ----------------------------------------------------------
#: map type -> the only helpers that accept it (map types not listed accept any helper)
MAP_TYPE_HELPERS: dict[int, frozenset[int]] = {
    uapi.BPF_MAP_TYPE_PROG_ARRAY: frozenset({F["tail_call"]}),
    uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY: frozenset(
        {
            F["perf_event_read"],
            F["perf_event_output"],
            F["skb_output"],
            F["perf_event_read_value"],
            F["xdp_output"],
        }
    ),
    uapi.BPF_MAP_TYPE_RINGBUF: frozenset(
        {
            F["ringbuf_output"],
            F["ringbuf_reserve"],
            F["ringbuf_query"],
            F["ringbuf_reserve_dynptr"],
            F["ringbuf_submit_dynptr"],
            F["ringbuf_discard_dynptr"],
        }
    ),
    uapi.BPF_MAP_TYPE_USER_RINGBUF: frozenset({F["user_ringbuf_drain"]}),
    uapi.BPF_MAP_TYPE_STACK_TRACE: frozenset({F["get_stackid"]}),
    uapi.BPF_MAP_TYPE_CGROUP_ARRAY: frozenset(
        {F["skb_under_cgroup"], F["current_task_under_cgroup"]}
    ),
    uapi.BPF_MAP_TYPE_CGROUP_STORAGE: frozenset({F["get_local_storage"]}),
    uapi.BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE: frozenset({F["get_local_storage"]}),
    uapi.BPF_MAP_TYPE_DEVMAP: frozenset({F["redirect_map"], F["map_lookup_elem"]}),
    uapi.BPF_MAP_TYPE_DEVMAP_HASH: frozenset({F["redirect_map"], F["map_lookup_elem"]}),
    uapi.BPF_MAP_TYPE_CPUMAP: frozenset({F["redirect_map"]}),
    uapi.BPF_MAP_TYPE_XSKMAP: frozenset({F["redirect_map"], F["map_lookup_elem"]}),
    uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS: frozenset({F["map_lookup_elem"]}),
    uapi.BPF_MAP_TYPE_HASH_OF_MAPS: frozenset({F["map_lookup_elem"]}),
    uapi.BPF_MAP_TYPE_SOCKMAP: frozenset(
        {
            F["sk_redirect_map"],
            F["sock_map_update"],
            F["msg_redirect_map"],
            F["sk_select_reuseport"],
            F["map_lookup_elem"],
        }
    ),
    uapi.BPF_MAP_TYPE_SOCKHASH: frozenset(
        {
            F["sk_redirect_hash"],
            F["sock_hash_update"],
            F["msg_redirect_hash"],
            F["sk_select_reuseport"],
            F["map_lookup_elem"],
        }
    ),
    uapi.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY: frozenset({F["sk_select_reuseport"]}),
    uapi.BPF_MAP_TYPE_QUEUE: frozenset({F["map_peek_elem"], F["map_pop_elem"], F["map_push_elem"]}),
    uapi.BPF_MAP_TYPE_STACK: frozenset({F["map_peek_elem"], F["map_pop_elem"], F["map_push_elem"]}),
    uapi.BPF_MAP_TYPE_SK_STORAGE: frozenset(
        {F["sk_storage_get"], F["sk_storage_delete"], F["kptr_xchg"]}
    ),
    uapi.BPF_MAP_TYPE_INODE_STORAGE: frozenset(
        {F["inode_storage_get"], F["inode_storage_delete"], F["kptr_xchg"]}
    ),
    uapi.BPF_MAP_TYPE_TASK_STORAGE: frozenset(
        {F["task_storage_get"], F["task_storage_delete"], F["kptr_xchg"]}
    ),
    uapi.BPF_MAP_TYPE_CGRP_STORAGE: frozenset(
        {F["cgrp_storage_get"], F["cgrp_storage_delete"], F["kptr_xchg"]}
    ),
    uapi.BPF_MAP_TYPE_BLOOM_FILTER: frozenset({F["map_peek_elem"], F["map_push_elem"]}),
}

_PERF = frozenset({uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY})
_RINGBUF = frozenset({uapi.BPF_MAP_TYPE_RINGBUF})
_SOCKMAP = frozenset({uapi.BPF_MAP_TYPE_SOCKMAP})
_SOCKHASH = frozenset({uapi.BPF_MAP_TYPE_SOCKHASH})
_QUEUE_STACK = frozenset({uapi.BPF_MAP_TYPE_QUEUE, uapi.BPF_MAP_TYPE_STACK})
#: helper -> the only map types it accepts (helpers not listed accept any map)
HELPER_MAP_TYPES: dict[int, frozenset[int]] = {
    F["tail_call"]: frozenset({uapi.BPF_MAP_TYPE_PROG_ARRAY}),
    **dict.fromkeys(
        (
            F["perf_event_read"],
            F["perf_event_output"],
            F["perf_event_read_value"],
            F["skb_output"],
            F["xdp_output"],
        ),
        _PERF,
    ),
    **dict.fromkeys(
        (
            F["ringbuf_output"],
            F["ringbuf_reserve"],
            F["ringbuf_query"],
            F["ringbuf_reserve_dynptr"],
            F["ringbuf_submit_dynptr"],
            F["ringbuf_discard_dynptr"],
        ),
        _RINGBUF,
    ),
    F["user_ringbuf_drain"]: frozenset({uapi.BPF_MAP_TYPE_USER_RINGBUF}),
    F["get_stackid"]: frozenset({uapi.BPF_MAP_TYPE_STACK_TRACE}),
    F["current_task_under_cgroup"]: frozenset({uapi.BPF_MAP_TYPE_CGROUP_ARRAY}),
    F["skb_under_cgroup"]: frozenset({uapi.BPF_MAP_TYPE_CGROUP_ARRAY}),
    F["redirect_map"]: frozenset(
        {
            uapi.BPF_MAP_TYPE_DEVMAP,
            uapi.BPF_MAP_TYPE_DEVMAP_HASH,
            uapi.BPF_MAP_TYPE_CPUMAP,
            uapi.BPF_MAP_TYPE_XSKMAP,
        }
    ),
    **dict.fromkeys((F["sk_redirect_map"], F["msg_redirect_map"], F["sock_map_update"]), _SOCKMAP),
    **dict.fromkeys(
        (F["sk_redirect_hash"], F["msg_redirect_hash"], F["sock_hash_update"]), _SOCKHASH
    ),
    F["get_local_storage"]: frozenset(
        {uapi.BPF_MAP_TYPE_CGROUP_STORAGE, uapi.BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE}
    ),
    F["sk_select_reuseport"]: frozenset(
        {
            uapi.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY,
            uapi.BPF_MAP_TYPE_SOCKMAP,
            uapi.BPF_MAP_TYPE_SOCKHASH,
        }
    ),
    F["map_pop_elem"]: _QUEUE_STACK,
    F["map_peek_elem"]: _QUEUE_STACK | {uapi.BPF_MAP_TYPE_BLOOM_FILTER},
    F["map_push_elem"]: _QUEUE_STACK | {uapi.BPF_MAP_TYPE_BLOOM_FILTER},
    F["map_lookup_percpu_elem"]: frozenset(
        {
            uapi.BPF_MAP_TYPE_PERCPU_ARRAY,
            uapi.BPF_MAP_TYPE_PERCPU_HASH,
            uapi.BPF_MAP_TYPE_LRU_PERCPU_HASH,
        }
    ),
    F["sk_storage_get"]: frozenset({uapi.BPF_MAP_TYPE_SK_STORAGE}),
    F["sk_storage_delete"]: frozenset({uapi.BPF_MAP_TYPE_SK_STORAGE}),
    F["inode_storage_get"]: frozenset({uapi.BPF_MAP_TYPE_INODE_STORAGE}),
    F["inode_storage_delete"]: frozenset({uapi.BPF_MAP_TYPE_INODE_STORAGE}),
    F["task_storage_get"]: frozenset({uapi.BPF_MAP_TYPE_TASK_STORAGE}),
    F["task_storage_delete"]: frozenset({uapi.BPF_MAP_TYPE_TASK_STORAGE}),
    F["cgrp_storage_get"]: frozenset({uapi.BPF_MAP_TYPE_CGRP_STORAGE}),
    F["cgrp_storage_delete"]: frozenset({uapi.BPF_MAP_TYPE_CGRP_STORAGE}),
}


def map_func_compatible(map_type: int, func_id: int) -> bool:
    """check_map_func_compatibility(): may ``func_id`` take a map of ``map_type``."""
    only = MAP_TYPE_HELPERS.get(map_type)
    if only is not None and func_id not in only:
        return False
    accepts = HELPER_MAP_TYPES.get(func_id)
    return accepts is None or map_type in accepts


__all__ = [
    "check_helper_calls",
    "find_helper",
    "helper_name",
    "license_is_gpl_compatible",
    "map_func_compatible",
]
