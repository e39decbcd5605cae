/* pybpf test object: section names -> program types (no maps, trivial bodies). */
#include <bpf_helpers.h>

#define PROG(sec, name) SEC(sec) int name(void *ctx) { return 0; }

PROG("socket", p_socket)
PROG("socket1", p_socket1)
PROG("socket/2", p_socket_2)
PROG("kprobe/do_sys_open", p_kprobe)
PROG("kretprobe/do_sys_open", p_kretprobe)
PROG("tracepoint/syscalls/sys_enter_write", p_tracepoint)
PROG("raw_tp/sys_enter", p_raw_tp)
PROG("xdp", p_xdp)
PROG("tc", p_tc)
PROG("classifier/ingress", p_classifier)
PROG("cgroup_skb/ingress", p_cgroup_skb_in)
PROG("cgroup/skb", p_cgroup_skb)
PROG("sk_skb/stream_verdict", p_sk_skb)
PROG("sockops", p_sockops)
PROG("perf_event", p_perf)
PROG("flow_dissector", p_flow)
PROG("lwt_in", p_lwt)
PROG("no_such_type", p_unknown)

char _license[] SEC("license") = "GPL";
