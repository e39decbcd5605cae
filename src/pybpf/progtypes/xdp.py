"""XDP programs (BPF_PROG_TYPE_XDP): ``struct xdp_md``, its access rules, the actions.

An XDP program runs on a frame before any sk_buff exists (net/core/dev.c,
``bpf_prog_run_xdp``); its context ``struct xdp_md`` (include/uapi/linux/bpf.h)
is a *mirror* of the kernel's ``struct xdp_buff``. ``xdp_is_valid_access``
(net/core/filter.c) allows 4-byte aligned reads only, no writes, and
``egress_ifindex`` only to programs run from a devmap; ``xdp_convert_ctx_access``
rewrites the loads of ``data``, ``data_end`` and ``data_meta`` into 8-byte loads
of the xdp_buff's pointers, so the program holds real pointers into the frame
(:mod:`pybpf.vm.memory`'s pointer words do the same in pybpf).

The return value is an action (``enum xdp_action``); anything else is an
invalid action, which the kernel warns about (``bpf_warn_invalid_xdp_action``)
and treats as XDP_ABORTED: the frame is dropped.

Checked against Linux 6.18 by loading one-instruction reads and writes at every
offset and size (tests/progtypes/test_progtypes_kernel.py).
"""

from __future__ import annotations

import struct
from typing import Any

from .. import uapi
from .fields import CtxField

__all__ = [
    "ACTION_NAMES",
    "SIZEOF_XDP_MD",
    "XDP_MD_FIELDS",
    "action_name",
    "leaves",
    "render_xdp_md",
    "xdp_access",
]

#: struct xdp_md (include/uapi/linux/bpf.h)
XDP_MD_FIELDS: tuple[CtxField, ...] = (
    CtxField("data", 0, 4),
    CtxField("data_end", 4, 4),
    CtxField("data_meta", 8, 4),
    CtxField("ingress_ifindex", 12, 4),
    CtxField("rx_queue_index", 16, 4),
    CtxField("egress_ifindex", 20, 4),
)
SIZEOF_XDP_MD = 24

#: xdp_md members whose load gives a pointer into the frame
POINTER_FIELDS = {"data": "data", "data_end": "data_end", "data_meta": "data_meta"}

ACTION_NAMES = {
    uapi.XDP_ABORTED: "XDP_ABORTED",
    uapi.XDP_DROP: "XDP_DROP",
    uapi.XDP_PASS: "XDP_PASS",
    uapi.XDP_TX: "XDP_TX",
    uapi.XDP_REDIRECT: "XDP_REDIRECT",
}


def xdp_access(f: CtxField, off: int, size: int, write: bool, attach_type: int = 0) -> str | None:
    """xdp_is_valid_access(): None when allowed, else the reason."""
    if f.name == "egress_ifindex" and attach_type != uapi.BPF_XDP_DEVMAP:
        return "egress_ifindex is readable only by programs run from a devmap"
    if write:
        return "XDP programs may not write struct xdp_md"
    if size != 4:
        return f"{f.name} is read with 4-byte loads only"
    if off % 4:
        return f"misaligned {size}-byte access at offset {off}"
    return None


def action_name(retval: int) -> str:
    """``XDP_PASS`` ... for an action, ``invalid action N`` for anything else."""
    r = retval & 0xFFFF_FFFF
    return ACTION_NAMES.get(r, f"invalid action {r}")


def leaves(retval: int) -> bool:
    """Whether a frame with this action goes on (the stack, back out, elsewhere)."""
    return retval & 0xFFFF_FFFF in (uapi.XDP_PASS, uapi.XDP_TX, uapi.XDP_REDIRECT)


_MD = struct.Struct("<6I")


def render_xdp_md(image: bytearray, xdp: Any) -> None:
    """Write the xdp_md a program sees for ``xdp`` (a pybpf.net.xdp.XdpBuff) into ``image``.

    ``data``, ``data_end`` and ``data_meta`` hold the low halves of the frame
    pointers (the packet region's pointer words give the program the whole
    pointer); the rest are the receive queue's device and index.
    """
    base = xdp.bpf
    _MD.pack_into(
        image,
        0,
        (base + xdp.data) & 0xFFFF_FFFF,
        (base + xdp.data_end) & 0xFFFF_FFFF,
        (base + xdp.data_meta) & 0xFFFF_FFFF,
        xdp.ingress_ifindex & 0xFFFF_FFFF,
        xdp.rx_queue_index & 0xFFFF_FFFF,
        xdp.egress_ifindex & 0xFFFF_FFFF,
    )
