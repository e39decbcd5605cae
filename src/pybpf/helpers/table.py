"""The helper table: every helper pybpf knows, by kernel id, with its prototype and implementation.

The table covers every helper Linux 6.18 lets a socket filter call (the set per
program type is in :mod:`pybpf.progtypes`, probed on the kernel; ``gpl_only`` was
probed too). Helpers that need kernel objects user space cannot have are listed
with their prototypes, ``implemented=False`` and a ``reason`` (:data:`REFUSED`):
calling one raises NotSupportedError naming it and the reason.
"""

from __future__ import annotations

from .. import uapi
from ..progtypes import allowed_helpers
from . import callbacks as _cb
from . import csum as _cs
from . import dynptr as _dyn
from . import packet as _pk
from . import skb_change as _sc
from . import tasks as _task
from . import timers as _timers
from . import trace as _trace
from .kstrtox import strncmp, strtol, strtoul
from .maps import (
    _queue_op,
    map_delete_elem,
    map_lookup_elem,
    map_lookup_percpu_elem,
    map_update_elem,
    tail_call,
)
from .misc import (
    _probe_read,
    get_branch_snapshot,
    perf_event_read,
    perf_event_read_value,
    spin_lock,
)
from .output import (
    perf_event_output,
    ringbuf_discard,
    ringbuf_output,
    ringbuf_query,
    ringbuf_reserve,
    ringbuf_submit,
)
from .proto import (
    ARG_PTR_TO_BTF_ID_OR_NULL,
    ARG_PTR_TO_CTX_OR_NULL,
    ARG_PTR_TO_FIXED_SIZE_MEM,
    ARG_PTR_TO_MAP_VALUE_OR_NULL,
    ARG_PTR_TO_MEM_OR_NULL,
    ARG_PTR_TO_STACK_OR_NULL,
    ARG_PTR_TO_UNINIT_MEM,
    DYNPTR_TYPE_LOCAL,
    DYNPTR_TYPE_RINGBUF,
    MEM_ALIGNED,
    MEM_RDONLY,
    MEM_UNINIT,
    MEM_WRITE,
    OBJ_RELEASE,
    PTR_MAYBE_NULL,
    PTR_TRUSTED,
    RET_PTR_TO_BTF_ID_OR_NULL,
    RET_PTR_TO_DYNPTR_MEM_OR_NULL,
    RET_PTR_TO_MAP_VALUE_OR_NULL,
    RET_PTR_TO_RINGBUF_MEM_OR_NULL,
    A,
    Helper,
    HelperFn,
    Proto,
    R,
)
from .skb import (
    get_netns_cookie,
    get_socket_cookie,
    get_socket_uid,
    skb_load_bytes,
    skb_load_bytes_relative,
)
from .tasks import (
    get_cgroup_classid,
    get_current_ancestor_cgroup_id,
    get_current_cgroup_id,
    get_current_comm,
    get_current_pid_tgid,
    get_current_uid_gid,
    get_ns_current_pid_tgid,
)
from .time import (
    get_numa_node_id,
    get_prandom_u32,
    get_smp_processor_id,
    jiffies64,
    ktime_get_boot_ns,
    ktime_get_coarse_ns,
    ktime_get_ns,
    ktime_get_tai_ns,
)
from .util import _not_supported

# --- the table ---------------------------------------------------------------------------------------

RO_MEM = A.ARG_PTR_TO_MEM | MEM_RDONLY
RO_MEM_OR_NULL = A.ARG_PTR_TO_MEM | PTR_MAYBE_NULL | MEM_RDONLY
MAP = A.ARG_CONST_MAP_PTR
KEY = A.ARG_PTR_TO_MAP_KEY
ANY = A.ARG_ANYTHING
CTX = A.ARG_PTR_TO_CTX
SIZE = A.ARG_CONST_SIZE
SIZE0 = A.ARG_CONST_SIZE_OR_ZERO
UNINIT = ARG_PTR_TO_UNINIT_MEM
SOCKC = A.ARG_PTR_TO_BTF_ID_SOCK_COMMON
INT = R.RET_INTEGER
VOID = R.RET_VOID
DYN = A.ARG_PTR_TO_DYNPTR
BTF = A.ARG_PTR_TO_BTF_ID
FUNC = A.ARG_PTR_TO_FUNC
TIMER = A.ARG_PTR_TO_TIMER
RB_REC = A.ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE
LONG_OUT = ARG_PTR_TO_FIXED_SIZE_MEM | MEM_UNINIT | MEM_WRITE | MEM_ALIGNED
LONG_OUT4 = ARG_PTR_TO_FIXED_SIZE_MEM | MEM_UNINIT | MEM_WRITE | MEM_ALIGNED
RET_BTF_OR_NULL = RET_PTR_TO_BTF_ID_OR_NULL

# fmt: off
_TABLE: list[tuple[str, Proto, HelperFn | None]] = [
    ("map_lookup_elem", Proto(RET_PTR_TO_MAP_VALUE_OR_NULL, (MAP, KEY), pkt_access=True),
     map_lookup_elem),
    ("map_update_elem", Proto(INT, (MAP, KEY, A.ARG_PTR_TO_MAP_VALUE, ANY), pkt_access=True),
     map_update_elem),
    ("map_delete_elem", Proto(INT, (MAP, KEY), pkt_access=True), map_delete_elem),
    ("ktime_get_ns", Proto(INT), ktime_get_ns),
    ("trace_printk", Proto(INT, (RO_MEM, SIZE), gpl_only=True), _trace.trace_printk),
    ("get_prandom_u32", Proto(INT), get_prandom_u32),
    ("get_smp_processor_id", Proto(INT), get_smp_processor_id),
    ("tail_call", Proto(VOID, (CTX, MAP, ANY), changes_pkt_data=True), tail_call),
    ("get_current_pid_tgid", Proto(INT), get_current_pid_tgid),
    ("get_current_uid_gid", Proto(INT), get_current_uid_gid),
    ("get_current_comm", Proto(INT, (UNINIT, SIZE)), get_current_comm),
    ("get_cgroup_classid", Proto(INT), get_cgroup_classid),
    ("perf_event_read", Proto(INT, (MAP, ANY), gpl_only=True), perf_event_read),
    ("perf_event_output", Proto(INT, (CTX, MAP, ANY, RO_MEM, SIZE0), gpl_only=True),
     perf_event_output),
    ("skb_load_bytes", Proto(INT, (CTX, ANY, UNINIT, SIZE)), skb_load_bytes),
    ("get_current_task", Proto(INT, gpl_only=True), _task.get_current_task),
    ("current_task_under_cgroup", Proto(INT, (MAP, ANY)), None),
    ("get_numa_node_id", Proto(INT), get_numa_node_id),
    ("get_socket_cookie", Proto(INT, (CTX,)), get_socket_cookie),
    ("get_socket_uid", Proto(INT, (CTX,)), get_socket_uid),
    ("perf_event_read_value", Proto(INT, (MAP, ANY, UNINIT, SIZE), gpl_only=True),
     perf_event_read_value),
    ("skb_load_bytes_relative", Proto(INT, (CTX, ANY, UNINIT, SIZE, ANY)),
     skb_load_bytes_relative),
    ("get_current_cgroup_id", Proto(INT), get_current_cgroup_id),
    ("map_push_elem", Proto(INT, (MAP, A.ARG_PTR_TO_MAP_VALUE, ANY), pkt_access=True),
     _queue_op("push")),
    ("map_pop_elem", Proto(INT, (MAP, A.ARG_PTR_TO_MAP_VALUE | MEM_UNINIT | MEM_WRITE)),
     _queue_op("pop")),
    ("map_peek_elem", Proto(INT, (MAP, A.ARG_PTR_TO_MAP_VALUE | MEM_UNINIT | MEM_WRITE)),
     _queue_op("peek")),
    ("spin_lock", Proto(VOID, (A.ARG_PTR_TO_SPIN_LOCK,)), spin_lock),
    ("spin_unlock", Proto(VOID, (A.ARG_PTR_TO_SPIN_LOCK,)), spin_lock),
    ("strtol", Proto(INT, (RO_MEM, SIZE, ANY, LONG_OUT), arg_size=((3, 8),)), strtol),
    ("strtoul", Proto(INT, (RO_MEM, SIZE, ANY, LONG_OUT), arg_size=((3, 8),)), strtoul),
    ("send_signal", Proto(INT, (ANY,)), _task.send_signal),
    ("probe_read_user", Proto(INT, (UNINIT, SIZE0, ANY), gpl_only=True), _probe_read(False)),
    ("probe_read_kernel", Proto(INT, (UNINIT, SIZE0, ANY), gpl_only=True), _probe_read(False)),
    ("probe_read_user_str", Proto(INT, (UNINIT, SIZE0, ANY), gpl_only=True), _probe_read(True)),
    ("probe_read_kernel_str", Proto(INT, (UNINIT, SIZE0, ANY), gpl_only=True),
     _probe_read(True)),
    ("send_signal_thread", Proto(INT, (ANY,)), _task.send_signal_thread),
    ("jiffies64", Proto(INT), jiffies64),
    ("get_ns_current_pid_tgid", Proto(INT, (ANY, ANY, UNINIT, SIZE)), get_ns_current_pid_tgid),
    ("get_netns_cookie", Proto(INT, (ARG_PTR_TO_CTX_OR_NULL,)), get_netns_cookie),
    ("get_current_ancestor_cgroup_id", Proto(INT, (ANY,)), get_current_ancestor_cgroup_id),
    ("ktime_get_boot_ns", Proto(INT), ktime_get_boot_ns),
    ("ringbuf_output", Proto(INT, (MAP, RO_MEM, SIZE0, ANY)), ringbuf_output),
    ("ringbuf_reserve", Proto(RET_PTR_TO_RINGBUF_MEM_OR_NULL,
                              (MAP, A.ARG_CONST_ALLOC_SIZE_OR_ZERO, ANY)), ringbuf_reserve),
    ("ringbuf_submit", Proto(VOID, (RB_REC, ANY)), ringbuf_submit),
    ("ringbuf_discard", Proto(VOID, (RB_REC, ANY)), ringbuf_discard),
    ("ringbuf_query", Proto(INT, (MAP, ANY)), ringbuf_query),
    ("skc_to_tcp6_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="tcp6_sock"),
     _task.skc_to("tcp6_sock")),
    ("skc_to_tcp_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="tcp_sock"),
     _task.skc_to("tcp_sock")),
    ("skc_to_tcp_timewait_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="tcp_timewait_sock"),
     _task.skc_to("tcp_timewait_sock")),
    ("skc_to_tcp_request_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="tcp_request_sock"),
     _task.skc_to("tcp_request_sock")),
    ("skc_to_udp6_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="udp6_sock"),
     _task.skc_to("udp6_sock")),
    ("get_task_stack", Proto(INT, (BTF, UNINIT, SIZE0, ANY), btf="task_struct"), None),
    ("copy_from_user", Proto(INT, (UNINIT, SIZE0, ANY), might_sleep=True), None),
    ("snprintf_btf", Proto(INT, (A.ARG_PTR_TO_MEM | MEM_WRITE, SIZE, RO_MEM, SIZE, ANY)), None),
    ("per_cpu_ptr", Proto(R.RET_PTR_TO_MEM_OR_BTF_ID | PTR_MAYBE_NULL | MEM_RDONLY,
                          (A.ARG_PTR_TO_PERCPU_BTF_ID, ANY)), None),
    ("this_cpu_ptr", Proto(R.RET_PTR_TO_MEM_OR_BTF_ID | MEM_RDONLY,
                           (A.ARG_PTR_TO_PERCPU_BTF_ID,)), None),
    ("task_storage_get", Proto(RET_PTR_TO_MAP_VALUE_OR_NULL,
                               (MAP, ARG_PTR_TO_BTF_ID_OR_NULL, ARG_PTR_TO_MAP_VALUE_OR_NULL, ANY),
                               btf="task_struct"), None),
    ("task_storage_delete", Proto(INT, (MAP, BTF), btf="task_struct"), None),
    ("get_current_task_btf", Proto(R.RET_PTR_TO_BTF_ID | PTR_TRUSTED, gpl_only=True,
                                   btf="task_struct"), _task.get_current_task),
    ("ktime_get_coarse_ns", Proto(INT), ktime_get_coarse_ns),
    ("for_each_map_elem", Proto(INT, (MAP, FUNC, ARG_PTR_TO_STACK_OR_NULL, ANY)),
     _cb.for_each_map_elem),
    ("snprintf", Proto(INT, (ARG_PTR_TO_MEM_OR_NULL | MEM_WRITE, SIZE0, A.ARG_PTR_TO_CONST_STR,
                             RO_MEM_OR_NULL, SIZE0), gpl_only=True), _trace.snprintf),
    ("timer_init", Proto(INT, (TIMER, MAP, ANY), gpl_only=True), _timers.timer_init),
    ("timer_set_callback", Proto(INT, (TIMER, FUNC), gpl_only=True),
     _timers.timer_set_callback),
    ("timer_start", Proto(INT, (TIMER, ANY, ANY), gpl_only=True), _timers.timer_start),
    ("timer_cancel", Proto(INT, (TIMER,), gpl_only=True), _timers.timer_cancel),
    ("task_pt_regs", Proto(R.RET_PTR_TO_BTF_ID, (BTF,), gpl_only=True, btf="task_struct"),
     _task.task_pt_regs),
    ("get_branch_snapshot", Proto(INT, (UNINIT, SIZE0, ANY), gpl_only=True),
     get_branch_snapshot),
    ("trace_vprintk", Proto(INT, (RO_MEM, SIZE, RO_MEM_OR_NULL, SIZE0), gpl_only=True),
     _trace.trace_vprintk),
    ("skc_to_unix_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="unix_sock"),
     _task.skc_to("unix_sock")),
    ("find_vma", Proto(INT, (BTF, ANY, FUNC, ARG_PTR_TO_STACK_OR_NULL, ANY), btf="task_struct"),
     _task.find_vma),
    ("loop", Proto(INT, (ANY, FUNC, ARG_PTR_TO_STACK_OR_NULL, ANY)), _cb.bpf_loop),
    ("strncmp", Proto(INT, (RO_MEM, SIZE, A.ARG_PTR_TO_CONST_STR)), strncmp),
    ("copy_from_user_task", Proto(INT, (UNINIT, SIZE0, ANY, BTF, ANY), gpl_only=True,
                                  might_sleep=True), None),
    ("kptr_xchg", Proto(RET_BTF_OR_NULL | OBJ_RELEASE,
                        (A.ARG_KPTR_XCHG_DEST, ARG_PTR_TO_BTF_ID_OR_NULL | OBJ_RELEASE)),
     _task.kptr_xchg),
    ("map_lookup_percpu_elem", Proto(RET_PTR_TO_MAP_VALUE_OR_NULL, (MAP, KEY, ANY),
                                     pkt_access=True),
     map_lookup_percpu_elem),
    ("skc_to_mptcp_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="mptcp_sock"),
     _task.skc_to("mptcp_sock")),
    ("dynptr_from_mem", Proto(INT, (UNINIT, SIZE0, ANY, DYN | DYNPTR_TYPE_LOCAL | MEM_UNINIT)),
     _dyn.dynptr_from_mem),
    ("ringbuf_reserve_dynptr", Proto(INT, (MAP, ANY, ANY, DYN | DYNPTR_TYPE_RINGBUF
                                           | MEM_UNINIT)), _dyn.ringbuf_reserve_dynptr),
    ("ringbuf_submit_dynptr", Proto(VOID, (DYN | DYNPTR_TYPE_RINGBUF | OBJ_RELEASE, ANY)),
     _dyn.ringbuf_submit_dynptr),
    ("ringbuf_discard_dynptr", Proto(VOID, (DYN | DYNPTR_TYPE_RINGBUF | OBJ_RELEASE, ANY)),
     _dyn.ringbuf_discard_dynptr),
    ("dynptr_read", Proto(INT, (UNINIT, SIZE0, DYN | MEM_RDONLY, ANY, ANY)),
     _dyn.dynptr_read),
    ("dynptr_write", Proto(INT, (DYN | MEM_RDONLY, ANY, RO_MEM, SIZE0, ANY)),
     _dyn.dynptr_write),
    ("dynptr_data", Proto(RET_PTR_TO_DYNPTR_MEM_OR_NULL,
                          (DYN | MEM_RDONLY, ANY, A.ARG_CONST_ALLOC_SIZE_OR_ZERO)),
     _dyn.dynptr_data),
    ("ktime_get_tai_ns", Proto(INT), ktime_get_tai_ns),
    ("user_ringbuf_drain", Proto(INT, (MAP, FUNC, ARG_PTR_TO_STACK_OR_NULL, ANY)), None),
    ("cgrp_storage_get", Proto(RET_PTR_TO_MAP_VALUE_OR_NULL,
                               (MAP, ARG_PTR_TO_BTF_ID_OR_NULL, ARG_PTR_TO_MAP_VALUE_OR_NULL, ANY),
                               btf="cgroup"), None),
    ("cgrp_storage_delete", Proto(INT, (MAP, BTF), btf="cgroup"), None),
    # --- XDP, tc and cgroup_skb (net/core/filter.c) ---
    ("skb_store_bytes", Proto(INT, (CTX, ANY, RO_MEM, SIZE, ANY), changes_pkt_data=True),
     _sc.skb_store_bytes),
    ("l3_csum_replace", Proto(INT, (CTX, ANY, ANY, ANY, ANY), changes_pkt_data=True),
     _cs.l3_csum_replace),
    ("l4_csum_replace", Proto(INT, (CTX, ANY, ANY, ANY, ANY), changes_pkt_data=True),
     _cs.l4_csum_replace),
    ("clone_redirect", Proto(INT, (CTX, ANY, ANY), changes_pkt_data=True), _pk.clone_redirect),
    ("skb_vlan_push", Proto(INT, (CTX, ANY, ANY), changes_pkt_data=True), _sc.skb_vlan_push),
    ("skb_vlan_pop", Proto(INT, (CTX,), changes_pkt_data=True), _sc.skb_vlan_pop),
    ("skb_get_tunnel_key", Proto(INT, (CTX, UNINIT, SIZE, ANY)), None),
    ("skb_set_tunnel_key", Proto(INT, (CTX, RO_MEM, SIZE, ANY)), None),
    ("redirect", Proto(INT, (ANY, ANY)), _pk.redirect),
    ("get_route_realm", Proto(INT, (CTX,)), _sc.get_route_realm),
    ("csum_diff", Proto(INT, (RO_MEM_OR_NULL, SIZE0, RO_MEM_OR_NULL, SIZE0, ANY),
                        pkt_access=True), _cs.csum_diff),
    ("skb_get_tunnel_opt", Proto(INT, (CTX, UNINIT, SIZE)), None),
    ("skb_set_tunnel_opt", Proto(INT, (CTX, RO_MEM, SIZE)), None),
    ("skb_change_proto", Proto(INT, (CTX, ANY, ANY), changes_pkt_data=True),
     _sc.skb_change_proto),
    ("skb_change_type", Proto(INT, (CTX, ANY)), _sc.skb_change_type),
    ("skb_under_cgroup", Proto(INT, (CTX, MAP, ANY)), None),
    ("get_hash_recalc", Proto(INT, (CTX,)), _sc.get_hash_recalc),
    ("skb_change_tail", Proto(INT, (CTX, ANY, ANY), changes_pkt_data=True),
     _sc.skb_change_tail),
    ("skb_pull_data", Proto(INT, (CTX, ANY), changes_pkt_data=True), _sc.skb_pull_data),
    ("csum_update", Proto(INT, (CTX, ANY)), _cs.csum_update),
    ("set_hash_invalid", Proto(INT, (CTX,)), _sc.set_hash_invalid),
    ("skb_change_head", Proto(INT, (CTX, ANY, ANY), changes_pkt_data=True),
     _sc.skb_change_head),
    ("xdp_adjust_head", Proto(INT, (CTX, ANY), changes_pkt_data=True), _pk.xdp_adjust_head),
    ("set_hash", Proto(INT, (CTX, ANY)), _sc.set_hash),
    ("skb_adjust_room", Proto(INT, (CTX, ANY, ANY, ANY), changes_pkt_data=True),
     _sc.skb_adjust_room),
    ("redirect_map", Proto(INT, (MAP, ANY, ANY)), None),
    ("xdp_adjust_meta", Proto(INT, (CTX, ANY), changes_pkt_data=True), _pk.xdp_adjust_meta),
    ("xdp_adjust_tail", Proto(INT, (CTX, ANY), changes_pkt_data=True), _pk.xdp_adjust_tail),
    ("skb_get_xfrm_state", Proto(INT, (CTX, ANY, UNINIT, SIZE, ANY)), None),
    ("fib_lookup", Proto(INT, (CTX, A.ARG_PTR_TO_MEM, SIZE, ANY)), None),
    ("skb_cgroup_id", Proto(INT, (CTX,)), None),
    ("sk_lookup_tcp", Proto(R.RET_PTR_TO_SOCKET | PTR_MAYBE_NULL,
                            (CTX, RO_MEM, SIZE, ANY, ANY), pkt_access=True), None),
    ("sk_lookup_udp", Proto(R.RET_PTR_TO_SOCKET | PTR_MAYBE_NULL,
                            (CTX, RO_MEM, SIZE, ANY, ANY), pkt_access=True), None),
    ("sk_release", Proto(INT, (SOCKC | OBJ_RELEASE,)), None),
    ("get_local_storage", Proto(R.RET_PTR_TO_MAP_VALUE, (MAP, ANY)), None),
    ("skb_ancestor_cgroup_id", Proto(INT, (CTX, ANY)), None),
    ("sk_fullsock", Proto(R.RET_PTR_TO_SOCKET | PTR_MAYBE_NULL, (A.ARG_PTR_TO_SOCK_COMMON,)),
     None),
    ("tcp_sock", Proto(R.RET_PTR_TO_TCP_SOCK | PTR_MAYBE_NULL, (A.ARG_PTR_TO_SOCK_COMMON,)),
     None),
    ("skb_ecn_set_ce", Proto(INT, (CTX,)), _sc.skb_ecn_set_ce),
    ("get_listener_sock", Proto(R.RET_PTR_TO_SOCKET | PTR_MAYBE_NULL,
                                (A.ARG_PTR_TO_SOCK_COMMON,)), None),
    ("skc_lookup_tcp", Proto(R.RET_PTR_TO_SOCK_COMMON | PTR_MAYBE_NULL,
                             (CTX, RO_MEM, SIZE, ANY, ANY), pkt_access=True), None),
    ("tcp_check_syncookie", Proto(INT, (SOCKC, RO_MEM, SIZE, RO_MEM, SIZE), pkt_access=True),
     None),
    ("sk_storage_get", Proto(RET_PTR_TO_MAP_VALUE_OR_NULL,
                             (MAP, SOCKC, ARG_PTR_TO_MAP_VALUE_OR_NULL, ANY), pkt_access=True),
     None),
    ("sk_storage_delete", Proto(INT, (MAP, SOCKC)), None),
    ("tcp_gen_syncookie", Proto(INT, (SOCKC, RO_MEM, SIZE, RO_MEM, SIZE), pkt_access=True),
     None),
    ("sk_assign", Proto(INT, (CTX, SOCKC, ANY)), None),
    ("sk_cgroup_id", Proto(INT, (SOCKC,)), None),
    ("sk_ancestor_cgroup_id", Proto(INT, (SOCKC, ANY)), None),
    ("csum_level", Proto(INT, (CTX, ANY)), _cs.csum_level),
    ("skb_cgroup_classid", Proto(INT, (CTX,)), None),
    ("redirect_neigh", Proto(INT, (ANY, RO_MEM_OR_NULL, SIZE0, ANY)), _pk.redirect_neigh),
    ("redirect_peer", Proto(INT, (ANY, ANY)), _pk.redirect_peer),
    ("check_mtu", Proto(INT, (CTX, ANY, LONG_OUT4, ANY, ANY), arg_size=((2, 4),)), None),
    ("xdp_get_buff_len", Proto(INT, (CTX,)), _pk.xdp_get_buff_len),
    ("xdp_load_bytes", Proto(INT, (CTX, ANY, UNINIT, SIZE)), _pk.xdp_load_bytes),
    ("xdp_store_bytes", Proto(INT, (CTX, ANY, UNINIT, SIZE)), _pk.xdp_store_bytes),
    ("skb_set_tstamp", Proto(INT, (CTX, ANY, ANY)), _sc.skb_set_tstamp),
    ("tcp_raw_gen_syncookie_ipv4", Proto(INT, (ARG_PTR_TO_FIXED_SIZE_MEM, RO_MEM, SIZE), pkt_access=True,
                                         arg_size=((0, 20),)), None),
    ("tcp_raw_gen_syncookie_ipv6", Proto(INT, (ARG_PTR_TO_FIXED_SIZE_MEM, RO_MEM, SIZE), pkt_access=True,
                                         arg_size=((0, 40),)), None),
    ("tcp_raw_check_syncookie_ipv4", Proto(INT, (ARG_PTR_TO_FIXED_SIZE_MEM,
                                                 ARG_PTR_TO_FIXED_SIZE_MEM),
                                           arg_size=((0, 20), (1, 20))), None),
    ("tcp_raw_check_syncookie_ipv6", Proto(INT, (ARG_PTR_TO_FIXED_SIZE_MEM,
                                                 ARG_PTR_TO_FIXED_SIZE_MEM),
                                           arg_size=((0, 40), (1, 20))), None),
]
# fmt: on


_SLEEPS = (
    "it might sleep (might_sleep): the kernel's verifier refuses it in a non-sleepable "
    "program, and socket filters are never sleepable"
)
#: why each helper pybpf does not implement is refused
REFUSED: dict[str, str] = {
    "copy_from_user": _SLEEPS,
    "copy_from_user_task": _SLEEPS,
    "current_task_under_cgroup": (
        "it reads a BPF_MAP_TYPE_CGROUP_ARRAY of cgroup fds, a map type pybpf does not model"
    ),
    "task_storage_get": "it needs a BPF_MAP_TYPE_TASK_STORAGE map, which pybpf does not model",
    "task_storage_delete": "it needs a BPF_MAP_TYPE_TASK_STORAGE map, which pybpf does not model",
    "cgrp_storage_get": "it needs a BPF_MAP_TYPE_CGRP_STORAGE map, which pybpf does not model",
    "cgrp_storage_delete": "it needs a BPF_MAP_TYPE_CGRP_STORAGE map, which pybpf does not model",
    "user_ringbuf_drain": (
        "it needs a BPF_MAP_TYPE_USER_RINGBUF map (user space as producer), which pybpf "
        "does not model"
    ),
    "per_cpu_ptr": (
        "its argument is a per-cpu kernel variable (a ksym loaded by BTF id), which the "
        "interpreter cannot load"
    ),
    "this_cpu_ptr": (
        "its argument is a per-cpu kernel variable (a ksym loaded by BTF id), which the "
        "interpreter cannot load"
    ),
    "get_task_stack": (
        "it writes the task's call chain, kernel or user instruction addresses pybpf cannot know"
    ),
    "snprintf_btf": (
        "it prints a kernel object in the kernel's BTF show format from vmlinux type ids, "
        "which pybpf does not reproduce"
    ),
}


_SOCKETS = (
    "it looks sockets up in the kernel's socket tables, which pybpf does not model "
    "(load the program into the kernel)"
)
_CGROUPS = "it asks which cgroup a socket or skb belongs to, which pybpf does not model"
_TUNNEL = "it reads or sets the metadata of a collect_md tunnel device, which pybpf does not model"
_SYNCOOKIE = (
    "it computes or checks SYN cookies with the kernel's secret, which user space cannot know"
)
REFUSED.update(
    {
        "skb_get_tunnel_key": _TUNNEL,
        "skb_set_tunnel_key": _TUNNEL,
        "skb_get_tunnel_opt": _TUNNEL,
        "skb_set_tunnel_opt": _TUNNEL,
        "skb_under_cgroup": _CGROUPS,
        "skb_cgroup_id": _CGROUPS,
        "skb_ancestor_cgroup_id": _CGROUPS,
        "sk_cgroup_id": _CGROUPS,
        "sk_ancestor_cgroup_id": _CGROUPS,
        "skb_cgroup_classid": _CGROUPS,
        "get_local_storage": (
            "it needs a BPF_MAP_TYPE_CGROUP_STORAGE map of the attached cgroup, which pybpf "
            "does not model"
        ),
        "redirect_map": (
            "it redirects through a DEVMAP, CPUMAP or XSKMAP, map types pybpf does not model "
            "(bpf_redirect(ifindex, 0) is modelled)"
        ),
        "skb_get_xfrm_state": "it reads the skb's IPsec (xfrm) state, which pybpf does not model",
        "fib_lookup": (
            "it looks the route and neighbour up in the kernel's FIB (routing tables, "
            "neighbour cache, device MTUs) of the network namespace, which user space does "
            "not have: run the program in the kernel backend"
        ),
        "check_mtu": "it reads a network device's MTU, which pybpf does not model",
        "sk_lookup_tcp": _SOCKETS,
        "sk_lookup_udp": _SOCKETS,
        "skc_lookup_tcp": _SOCKETS,
        "sk_release": _SOCKETS,
        "sk_fullsock": _SOCKETS,
        "tcp_sock": _SOCKETS,
        "get_listener_sock": _SOCKETS,
        "sk_assign": _SOCKETS,
        "sk_storage_get": "it needs a BPF_MAP_TYPE_SK_STORAGE map, which pybpf does not model",
        "sk_storage_delete": "it needs a BPF_MAP_TYPE_SK_STORAGE map, which pybpf does not model",
        "tcp_check_syncookie": _SYNCOOKIE,
        "tcp_gen_syncookie": _SYNCOOKIE,
        "tcp_raw_gen_syncookie_ipv4": _SYNCOOKIE,
        "tcp_raw_gen_syncookie_ipv6": _SYNCOOKIE,
        "tcp_raw_check_syncookie_ipv4": _SYNCOOKIE,
        "tcp_raw_check_syncookie_ipv6": _SYNCOOKIE,
    }
)


def _build() -> dict[int, Helper]:
    table: dict[int, Helper] = {}
    for name, proto, fn in _TABLE:
        hid = uapi.FUNC_IDS[name]
        reason = "" if fn is not None else REFUSED.get(name, "")
        impl = fn if fn is not None else _not_supported(hid, name, reason)
        table[hid] = Helper(hid, name, proto, impl, fn is not None, reason)
    return table


#: every helper pybpf knows, by kernel id
HELPERS: dict[int, Helper] = _build()
_BY_NAME = {h.name: h for h in HELPERS.values()}


def helper_by_name(name: str) -> Helper:
    """The helper called ``name`` (with or without the ``bpf_`` prefix); KeyError if unknown."""
    return _BY_NAME[name[4:] if name.startswith("bpf_") else name]


def helpers_for(prog_type: int) -> dict[int, Helper]:
    """The helpers a program of ``prog_type`` may call (what the interpreter is given)."""
    allowed = allowed_helpers(prog_type)
    return {hid: h for hid, h in HELPERS.items() if hid in allowed}
