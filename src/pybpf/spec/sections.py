"""ELF section names -> program type and expected attach type.

The names are libbpf's conventions (``section_defs`` in tools/lib/bpf/libbpf.c)
plus the 3.19 samples' loader (samples/bpf/bpf_load.c), which took any section
starting with ``socket`` (``socket1``, ``socket/2`` ...) as a socket filter.
Matching follows libbpf: an entry ending in ``/`` or ``+`` is a prefix (the
section may carry an attach target after it); other entries match the whole
name or the name followed by ``/...``; a few legacy entries (``socket``,
``xdp``, ``classifier``, ``kprobe``...) also match any longer name, as
libbpf's SEC_SLOPPY_PFX did.
"""

from __future__ import annotations

from .. import uapi

# enum bpf_attach_type (include/uapi/linux/bpf.h), the values the table needs
BPF_CGROUP_INET_INGRESS = 0
BPF_CGROUP_INET_EGRESS = 1
BPF_CGROUP_INET_SOCK_CREATE = 2
BPF_CGROUP_SOCK_OPS = 3
BPF_SK_SKB_STREAM_PARSER = 4
BPF_SK_SKB_STREAM_VERDICT = 5
BPF_CGROUP_DEVICE = 6
BPF_SK_MSG_VERDICT = 7
BPF_CGROUP_INET4_BIND = 8
BPF_CGROUP_INET6_BIND = 9
BPF_CGROUP_INET4_CONNECT = 10
BPF_CGROUP_INET6_CONNECT = 11
BPF_CGROUP_INET4_POST_BIND = 12
BPF_CGROUP_INET6_POST_BIND = 13
BPF_CGROUP_UDP4_SENDMSG = 14
BPF_CGROUP_UDP6_SENDMSG = 15
BPF_LIRC_MODE2 = 16
BPF_FLOW_DISSECTOR = 17
BPF_CGROUP_SYSCTL = 18
BPF_CGROUP_UDP4_RECVMSG = 19
BPF_CGROUP_UDP6_RECVMSG = 20
BPF_CGROUP_GETSOCKOPT = 21
BPF_CGROUP_SETSOCKOPT = 22
BPF_TRACE_RAW_TP = 23
BPF_TRACE_FENTRY = 24
BPF_TRACE_FEXIT = 25
BPF_MODIFY_RETURN = 26
BPF_LSM_MAC = 27
BPF_TRACE_ITER = 28
BPF_CGROUP_INET4_GETPEERNAME = 29
BPF_CGROUP_INET6_GETPEERNAME = 30
BPF_CGROUP_INET4_GETSOCKNAME = 31
BPF_CGROUP_INET6_GETSOCKNAME = 32
BPF_XDP_DEVMAP = 33
BPF_CGROUP_INET_SOCK_RELEASE = 34
BPF_XDP_CPUMAP = 35
BPF_SK_LOOKUP = 36
BPF_XDP = 37
BPF_SK_SKB_VERDICT = 38
BPF_SK_REUSEPORT_SELECT = 39
BPF_SK_REUSEPORT_SELECT_OR_MIGRATE = 40
BPF_PERF_EVENT = 41
BPF_TRACE_KPROBE_MULTI = 42
BPF_LSM_CGROUP = 43
BPF_NETFILTER = 45
BPF_TCX_INGRESS = 46
BPF_TCX_EGRESS = 47
BPF_TRACE_UPROBE_MULTI = 48

_P = uapi
#: (section pattern, prog type, expected attach type, sloppy prefix), first match wins
SECTION_DEFS: tuple[tuple[str, int, int, bool], ...] = (
    ("socket", _P.BPF_PROG_TYPE_SOCKET_FILTER, 0, True),
    (
        "sk_reuseport/migrate",
        _P.BPF_PROG_TYPE_SK_REUSEPORT,
        BPF_SK_REUSEPORT_SELECT_OR_MIGRATE,
        True,
    ),
    ("sk_reuseport", _P.BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT, True),
    ("kprobe+", _P.BPF_PROG_TYPE_KPROBE, 0, False),
    ("uprobe+", _P.BPF_PROG_TYPE_KPROBE, 0, False),
    ("uprobe.s+", _P.BPF_PROG_TYPE_KPROBE, 0, False),
    ("kretprobe+", _P.BPF_PROG_TYPE_KPROBE, 0, False),
    ("uretprobe+", _P.BPF_PROG_TYPE_KPROBE, 0, False),
    ("uretprobe.s+", _P.BPF_PROG_TYPE_KPROBE, 0, False),
    ("kprobe.multi+", _P.BPF_PROG_TYPE_KPROBE, BPF_TRACE_KPROBE_MULTI, False),
    ("kretprobe.multi+", _P.BPF_PROG_TYPE_KPROBE, BPF_TRACE_KPROBE_MULTI, False),
    ("uprobe.multi+", _P.BPF_PROG_TYPE_KPROBE, BPF_TRACE_UPROBE_MULTI, False),
    ("uretprobe.multi+", _P.BPF_PROG_TYPE_KPROBE, BPF_TRACE_UPROBE_MULTI, False),
    ("ksyscall+", _P.BPF_PROG_TYPE_KPROBE, 0, False),
    ("kretsyscall+", _P.BPF_PROG_TYPE_KPROBE, 0, False),
    ("usdt+", _P.BPF_PROG_TYPE_KPROBE, 0, False),
    ("tc/ingress", _P.BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_INGRESS, False),
    ("tc/egress", _P.BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_EGRESS, False),
    ("tcx/ingress", _P.BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_INGRESS, False),
    ("tcx/egress", _P.BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_EGRESS, False),
    ("tc", _P.BPF_PROG_TYPE_SCHED_CLS, 0, False),
    ("classifier", _P.BPF_PROG_TYPE_SCHED_CLS, 0, True),
    ("action", _P.BPF_PROG_TYPE_SCHED_ACT, 0, True),
    ("tracepoint+", _P.BPF_PROG_TYPE_TRACEPOINT, 0, False),
    ("tp+", _P.BPF_PROG_TYPE_TRACEPOINT, 0, False),
    ("raw_tracepoint+", _P.BPF_PROG_TYPE_RAW_TRACEPOINT, 0, False),
    ("raw_tp+", _P.BPF_PROG_TYPE_RAW_TRACEPOINT, 0, False),
    ("raw_tracepoint.w+", _P.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE, 0, False),
    ("raw_tp.w+", _P.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE, 0, False),
    ("tp_btf+", _P.BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, False),
    ("fentry+", _P.BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, False),
    ("fmod_ret+", _P.BPF_PROG_TYPE_TRACING, BPF_MODIFY_RETURN, False),
    ("fexit+", _P.BPF_PROG_TYPE_TRACING, BPF_TRACE_FEXIT, False),
    ("fentry.s+", _P.BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, False),
    ("fmod_ret.s+", _P.BPF_PROG_TYPE_TRACING, BPF_MODIFY_RETURN, False),
    ("fexit.s+", _P.BPF_PROG_TYPE_TRACING, BPF_TRACE_FEXIT, False),
    ("freplace+", _P.BPF_PROG_TYPE_EXT, 0, False),
    ("lsm+", _P.BPF_PROG_TYPE_LSM, BPF_LSM_MAC, False),
    ("lsm.s+", _P.BPF_PROG_TYPE_LSM, BPF_LSM_MAC, False),
    ("lsm_cgroup+", _P.BPF_PROG_TYPE_LSM, BPF_LSM_CGROUP, False),
    ("iter+", _P.BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER, False),
    ("iter.s+", _P.BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER, False),
    ("syscall", _P.BPF_PROG_TYPE_SYSCALL, 0, False),
    ("xdp.frags/devmap", _P.BPF_PROG_TYPE_XDP, BPF_XDP_DEVMAP, False),
    ("xdp/devmap", _P.BPF_PROG_TYPE_XDP, BPF_XDP_DEVMAP, False),
    ("xdp.frags/cpumap", _P.BPF_PROG_TYPE_XDP, BPF_XDP_CPUMAP, False),
    ("xdp/cpumap", _P.BPF_PROG_TYPE_XDP, BPF_XDP_CPUMAP, False),
    ("xdp.frags", _P.BPF_PROG_TYPE_XDP, BPF_XDP, False),
    ("xdp", _P.BPF_PROG_TYPE_XDP, BPF_XDP, True),
    ("perf_event", _P.BPF_PROG_TYPE_PERF_EVENT, 0, True),
    ("lwt_in", _P.BPF_PROG_TYPE_LWT_IN, 0, True),
    ("lwt_out", _P.BPF_PROG_TYPE_LWT_OUT, 0, True),
    ("lwt_xmit", _P.BPF_PROG_TYPE_LWT_XMIT, 0, True),
    ("lwt_seg6local", _P.BPF_PROG_TYPE_LWT_SEG6LOCAL, 0, True),
    ("sockops", _P.BPF_PROG_TYPE_SOCK_OPS, BPF_CGROUP_SOCK_OPS, True),
    ("sk_skb/stream_parser", _P.BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_STREAM_PARSER, True),
    ("sk_skb/stream_verdict", _P.BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_STREAM_VERDICT, True),
    ("sk_skb/verdict", _P.BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_VERDICT, True),
    ("sk_skb", _P.BPF_PROG_TYPE_SK_SKB, 0, True),
    ("sk_msg", _P.BPF_PROG_TYPE_SK_MSG, BPF_SK_MSG_VERDICT, True),
    ("lirc_mode2", _P.BPF_PROG_TYPE_LIRC_MODE2, BPF_LIRC_MODE2, True),
    ("flow_dissector", _P.BPF_PROG_TYPE_FLOW_DISSECTOR, BPF_FLOW_DISSECTOR, True),
    ("cgroup_skb/ingress", _P.BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_INGRESS, True),
    ("cgroup_skb/egress", _P.BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS, True),
    ("cgroup/skb", _P.BPF_PROG_TYPE_CGROUP_SKB, 0, True),
    ("cgroup/sock_create", _P.BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE, True),
    ("cgroup/sock_release", _P.BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_RELEASE, True),
    ("cgroup/sock", _P.BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE, True),
    ("cgroup/post_bind4", _P.BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET4_POST_BIND, True),
    ("cgroup/post_bind6", _P.BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET6_POST_BIND, True),
    ("cgroup/bind4", _P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_BIND, True),
    ("cgroup/bind6", _P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_BIND, True),
    ("cgroup/connect4", _P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, True),
    ("cgroup/connect6", _P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_CONNECT, True),
    ("cgroup/sendmsg4", _P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_SENDMSG, True),
    ("cgroup/sendmsg6", _P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP6_SENDMSG, True),
    ("cgroup/recvmsg4", _P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_RECVMSG, True),
    ("cgroup/recvmsg6", _P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP6_RECVMSG, True),
    ("cgroup/getpeername4", _P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_GETPEERNAME, True),
    ("cgroup/getpeername6", _P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_GETPEERNAME, True),
    ("cgroup/getsockname4", _P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_GETSOCKNAME, True),
    ("cgroup/getsockname6", _P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_GETSOCKNAME, True),
    ("cgroup/sysctl", _P.BPF_PROG_TYPE_CGROUP_SYSCTL, BPF_CGROUP_SYSCTL, True),
    ("cgroup/getsockopt", _P.BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_GETSOCKOPT, True),
    ("cgroup/setsockopt", _P.BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_SETSOCKOPT, True),
    ("cgroup/dev", _P.BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE, True),
    ("struct_ops+", _P.BPF_PROG_TYPE_STRUCT_OPS, 0, False),
    ("struct_ops.s+", _P.BPF_PROG_TYPE_STRUCT_OPS, 0, False),
    ("sk_lookup", _P.BPF_PROG_TYPE_SK_LOOKUP, BPF_SK_LOOKUP, True),
    ("netfilter", _P.BPF_PROG_TYPE_NETFILTER, BPF_NETFILTER, False),
)


def _matches(pattern: str, sec: str, sloppy: bool) -> bool:
    if pattern.endswith("+"):
        base = pattern[:-1]
        return sec == base or sec.startswith(base + "/")
    if pattern.endswith("/"):
        return sec.startswith(pattern)
    if sec == pattern or sec.startswith(pattern + "/"):
        return True
    return sloppy and sec.startswith(pattern)


def prog_type_for_section(sec: str) -> tuple[int, int] | None:
    """(prog type, expected attach type) for an ELF section name, or None if unknown."""
    for pattern, ptype, atype, sloppy in SECTION_DEFS:
        if _matches(pattern, sec, sloppy):
            return ptype, atype
    return None
