"""cgroup_skb programs (BPF_PROG_TYPE_CGROUP_SKB): access rules and verdicts.

A cgroup_skb program runs on the packets a cgroup's sockets receive (ingress,
sk_filter_trim_cap) or send (egress, ip_finish_output), with ``skb->data`` at
the network header. ``cg_skb_is_valid_access`` (net/core/filter.c) lets it read
the packet pointers ``data`` and ``data_end`` (not ``data_meta``), the
socket's addresses and ports (from ``skb->sk``), and write ``mark``,
``priority``, ``cb[]`` and ``tstamp``; ``tc_classid`` and ``wire_len`` are not
for it. The packet itself is read-only (may_access_direct_pkt_data).

The return value (kernel/bpf/cgroup.c, __cgroup_bpf_run_filter_skb): bit 0
set lets the packet through, clear drops it; on egress bit 1 asks for
congestion notification (the verifier allows 0..3 there, 0..1 on ingress).
"""

from __future__ import annotations

from .fields import CtxField
from .skb_access import skb_is_valid_access

__all__ = ["WRITABLE", "cg_skb_access", "leaves", "verdict_name"]

#: fields a cgroup_skb program may write
WRITABLE = frozenset({"mark", "priority", "cb", "tstamp"})
_DENY = frozenset({"tc_classid", "data_meta", "wire_len"})


def cg_skb_access(
    f: CtxField, off: int, size: int, write: bool, attach_type: int = 0
) -> str | None:
    """cg_skb_is_valid_access(): None when allowed, else the reason."""
    if f.name in _DENY:
        return f"{f.name} is not accessible to cgroup_skb programs"
    if write and f.name not in WRITABLE:
        return f"cgroup_skb programs may write only mark, priority, cb[] and tstamp, not {f.name}"
    if not write and f.name == "tstamp_type":
        return "tstamp_type cannot be accessed by this program type"
    return skb_is_valid_access(f, off, size, write)


def verdict_name(retval: int) -> str:
    """``allow`` or ``drop`` (bit 0), ``+cn`` when bit 1 asks for congestion notification."""
    r = retval & 0xFFFF_FFFF
    name = "allow" if r & 1 else "drop"
    return name + ("+cn" if r & 2 else "")


def leaves(retval: int) -> bool:
    return bool(retval & 1)
