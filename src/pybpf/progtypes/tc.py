"""tc programs (BPF_PROG_TYPE_SCHED_CLS, SCHED_ACT): access rules and actions.

A tc program runs on an sk_buff at a device's ingress or egress (tcx, or a
clsact qdisc's cls_bpf in direct-action mode) with ``skb->data`` at the MAC
header. ``tc_cls_act_is_valid_access`` (net/core/filter.c) lets it read the
packet pointers ``data``, ``data_end`` and ``data_meta`` and write ``mark``,
``tc_index``, ``priority``, ``tc_classid``, ``queue_mapping``, ``cb[]`` and
``tstamp``; the socket's address fields are not for it.

The return value is a tc action (include/uapi/linux/pkt_cls.h). What happens
to the packet, as tcx_action_code() / sch_handle_ingress()/egress() decide
(net/core/dev.c): TC_ACT_OK, TC_ACT_UNSPEC (-1, "no opinion": the next program
or the stack), TC_ACT_PIPE and TC_ACT_RECLASSIFY let it continue; TC_ACT_SHOT
drops it; TC_ACT_REDIRECT sends it where bpf_redirect() said; TC_ACT_STOLEN,
TC_ACT_QUEUED and TC_ACT_TRAP consume it.
"""

from __future__ import annotations

from .. import uapi
from .fields import CtxField
from .skb_access import skb_is_valid_access

__all__ = ["ACTION_NAMES", "WRITABLE", "action_name", "leaves", "tc_access"]

#: fields a tc program may write (tc_cls_act_is_valid_access)
WRITABLE = frozenset(
    {"mark", "tc_index", "priority", "tc_classid", "queue_mapping", "cb", "tstamp"}
)
_DENY = frozenset(
    {"family", "remote_ip4", "local_ip4", "remote_ip6", "local_ip6", "remote_port", "local_port"}
)

ACTION_NAMES = {
    uapi.TC_ACT_UNSPEC: "TC_ACT_UNSPEC",
    uapi.TC_ACT_OK: "TC_ACT_OK",
    uapi.TC_ACT_RECLASSIFY: "TC_ACT_RECLASSIFY",
    uapi.TC_ACT_SHOT: "TC_ACT_SHOT",
    uapi.TC_ACT_PIPE: "TC_ACT_PIPE",
    uapi.TC_ACT_STOLEN: "TC_ACT_STOLEN",
    uapi.TC_ACT_QUEUED: "TC_ACT_QUEUED",
    uapi.TC_ACT_REPEAT: "TC_ACT_REPEAT",
    uapi.TC_ACT_REDIRECT: "TC_ACT_REDIRECT",
    uapi.TC_ACT_TRAP: "TC_ACT_TRAP",
}
#: actions after which the packet goes on (to the stack or the wire, or elsewhere)
_LEAVES = frozenset(
    {
        uapi.TC_ACT_UNSPEC,
        uapi.TC_ACT_OK,
        uapi.TC_ACT_RECLASSIFY,
        uapi.TC_ACT_PIPE,
        uapi.TC_ACT_REDIRECT,
    }
)


def _signed(retval: int) -> int:
    r = retval & 0xFFFF_FFFF
    return r - (1 << 32) if r >= 1 << 31 else r


def tc_access(f: CtxField, off: int, size: int, write: bool, attach_type: int = 0) -> str | None:
    """tc_cls_act_is_valid_access(): None when allowed, else the reason."""
    if write and f.name not in WRITABLE:
        return f"tc programs may not write {f.name}"
    if f.name in _DENY:
        return f"{f.name} is not accessible to tc programs"
    if not write and f.name == "tstamp_type":
        return None if size == 1 else "tstamp_type is read with 1-byte loads"
    return skb_is_valid_access(f, off, size, write)


def action_name(retval: int) -> str:
    """``TC_ACT_OK`` ... for a tc action (the program's int return value)."""
    r = _signed(retval)
    return ACTION_NAMES.get(r, f"unknown action {r}")


def leaves(retval: int) -> bool:
    """Whether the packet goes on after this action."""
    return _signed(retval) in _LEAVES
