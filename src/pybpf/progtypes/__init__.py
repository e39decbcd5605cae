"""Program types: context layout, context access rules, allowed helpers, LD_ABS, return values.

A program's context is a *mirror* of a kernel object: ``struct __sk_buff``
(include/uapi/linux/bpf.h) of the sk_buff for socket filters, tc (SCHED_CLS,
SCHED_ACT) and cgroup_skb programs; ``struct xdp_md`` of the xdp_buff for XDP
(:mod:`.xdp`). The verifier checks every context access against the type's
``is_valid_access`` (net/core/filter.c: sk_filter_, tc_cls_act_ (:mod:`.tc`),
cg_skb_ (:mod:`.cgroup_skb`), xdp_; the rules every __sk_buff type shares in
:mod:`.skb_access`) and rewrites it into a load from the real object
(``*_convert_ctx_access``). pybpf does the same in two steps:
:func:`check_ctx_access` is the validity rule (for the verifier), and the
context image the program reads at run time is rendered from the model
(:func:`render_sk_buff` from :mod:`pybpf.net.skb`'s or
:mod:`pybpf.net.tcskb`'s sk_buff, :func:`render_ctx` for every type), with
:func:`writeback_ctx` copying what the type may write back. A narrow load of a
field reads the little-endian bytes of its 32-bit value, exactly what the
kernel's narrow-load shift gives on x86-64; ``data``, ``data_end`` and
``data_meta`` are *pointer words* (:func:`ctx_narrow`, code NARROW_POINTER):
their 4-byte load gives the whole pointer into the packet, as the kernel's
rewrite into an 8-byte load does.

The tables here were checked against Linux 6.18 by loading, for every offset
and size, a one-instruction read and write (tests/user/test_progtypes.py and
tests/progtypes/test_access.py keep the kernel's answers and compare).

Return values: a socket filter's u32 N keeps ``min(N, len)`` bytes (0 drops;
net/core/filter.c, sk_filter_trim_cap); XDP's, tc's and cgroup_skb's are
actions, named by ``ProgType.action_name`` (:mod:`.xdp`, :mod:`.tc`,
:mod:`.cgroup_skb`); :func:`ret_range` is what the verifier accepts.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .. import uapi
from ..errors import NotSupportedError
from ..uapi import (
    BPF_PROG_TYPE_CGROUP_SKB,
    BPF_PROG_TYPE_SCHED_ACT,
    BPF_PROG_TYPE_SCHED_CLS,
    BPF_PROG_TYPE_SOCKET_FILTER,
    BPF_PROG_TYPE_XDP,
)
from . import cgroup_skb, tc, xdp
from .fields import NARROW_POINTER, CtxField  # noqa: F401 - NARROW_POINTER re-exported
from .fields import field_at as _field_at
from .skb_access import POINTER_FIELDS as _SKB_POINTERS
from .skb_access import skb_is_valid_access

__all__ = [
    "CtxField",
    "ProgType",
    "SIZEOF_SK_BUFF",
    "SK_BUFF_FIELDS",
    "PROG_TYPES",
    "allowed_helpers",
    "check_ctx_access",
    "ctx_field_at",
    "ctx_load",
    "ctx_narrow",
    "ctx_pointer",
    "field_at",
    "render_ctx",
    "render_packet_pointers",
    "ret_range",
    "writeback_ctx",
    "get_prog_type",
    "render_sk_buff",
    "sk_filter_result",
    "writeback_sk_buff",
]


#: struct __sk_buff, include/uapi/linux/bpf.h (x86-64; pointers via __bpf_md_ptr are 8 bytes)
SK_BUFF_FIELDS: tuple[CtxField, ...] = (
    CtxField("len", 0, 4),
    CtxField("pkt_type", 4, 4),
    CtxField("mark", 8, 4),
    CtxField("queue_mapping", 12, 4),
    CtxField("protocol", 16, 4),
    CtxField("vlan_present", 20, 4),
    CtxField("vlan_tci", 24, 4),
    CtxField("vlan_proto", 28, 4),
    CtxField("priority", 32, 4),
    CtxField("ingress_ifindex", 36, 4),
    CtxField("ifindex", 40, 4),
    CtxField("tc_index", 44, 4),
    CtxField("cb", 48, 20, 4),
    CtxField("hash", 68, 4),
    CtxField("tc_classid", 72, 4),
    CtxField("data", 76, 4),
    CtxField("data_end", 80, 4),
    CtxField("napi_id", 84, 4),
    CtxField("family", 88, 4),
    CtxField("remote_ip4", 92, 4),
    CtxField("local_ip4", 96, 4),
    CtxField("remote_ip6", 100, 16, 4),
    CtxField("local_ip6", 116, 16, 4),
    CtxField("remote_port", 132, 4),
    CtxField("local_port", 136, 4),
    CtxField("data_meta", 140, 4),
    CtxField("flow_keys", 144, 8),
    CtxField("tstamp", 152, 8),
    CtxField("wire_len", 160, 4),
    CtxField("gso_segs", 164, 4),
    CtxField("sk", 168, 8),
    CtxField("gso_size", 176, 4),
    CtxField("tstamp_type", 180, 1),
    CtxField("hwtstamp", 184, 8),
)
SIZEOF_SK_BUFF = 192
_BY_NAME = {f.name: f for f in SK_BUFF_FIELDS}


def field_at(off: int, fields: Iterable[CtxField] = SK_BUFF_FIELDS) -> CtxField | None:
    """The member containing byte ``off`` (None inside padding or past the end)."""
    return _field_at(off, fields)


# --- access rules --------------------------------------------------------------------------

#: fields a socket filter may not touch at all (sk_filter_is_valid_access)
_SK_FILTER_DENY = frozenset(
    {
        "tc_classid",
        "data",
        "data_meta",
        "data_end",
        "family",
        "remote_ip4",
        "local_ip4",
        "remote_ip6",
        "local_ip6",
        "remote_port",
        "local_port",
        "tstamp",
        "wire_len",
        "hwtstamp",
    }
)


def _sk_filter_access(
    f: CtxField, off: int, size: int, write: bool, attach_type: int = 0
) -> str | None:
    """sk_filter_is_valid_access()."""
    if f.name in _SK_FILTER_DENY:
        return f"{f.name} is not accessible to socket_filter programs"
    if write and f.name != "cb":
        return f"socket_filter programs may write only cb[0..4], not {f.name}"
    return skb_is_valid_access(f, off, size, write)


def check_ctx_access(
    prog_type: int, off: int, size: int, write: bool = False, attach_type: int = 0
) -> str | None:
    """Whether a program of ``prog_type`` may access ``size`` bytes at ``off`` of its context.

    Returns None when allowed, else the reason (the verifier's "invalid bpf_context
    access" cases). ``size`` is 1, 2, 4 or 8; ``attach_type`` is the program's
    expected attach type (an XDP program run from a devmap may read egress_ifindex).
    """
    if size not in (1, 2, 4, 8):
        return f"invalid access size {size}"
    pt = PROG_TYPES.get(prog_type)
    if pt is None or pt.ctx_fields is None or pt.access is None:
        return (
            f"context rules for program type {uapi.PROG_TYPE_NAMES.get(prog_type, prog_type)} "
            "are not modelled"
        )
    if off < 0 or off + size > pt.ctx_size:
        return f"offset {off} size {size} is outside struct {pt.ctx_struct} ({pt.ctx_size} bytes)"
    f = _field_at(off, pt.ctx_fields)
    if f is None or off + size > f.end:
        return f"offset {off} size {size} does not lie within one {pt.ctx_struct} field"
    return pt.access(f, off, size, write, attach_type)


def ctx_field_at(prog_type: int, off: int) -> CtxField | None:
    """The member of ``prog_type``'s context struct containing byte ``off``."""
    pt = PROG_TYPES.get(prog_type)
    if pt is None or pt.ctx_fields is None:
        return None
    return _field_at(off, pt.ctx_fields)


def ctx_pointer(prog_type: int, off: int) -> str | None:
    """What a load at ``off`` of the context gives when it is a packet pointer:
    ``"data"``, ``"data_end"`` or ``"data_meta"`` (None for a scalar)."""
    pt = PROG_TYPES.get(prog_type)
    if pt is None:
        return None
    f = ctx_field_at(prog_type, off)
    return pt.pointers.get(f.name) if f is not None else None


# --- the __sk_buff image ---------------------------------------------------------------------

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def _be16(v: int) -> int:
    """A host number as the u32 a program reads from a ``__be16`` field (x86-64)."""
    v &= 0xFFFF
    return ((v & 0xFF) << 8) | (v >> 8)


#: the readable __sk_buff members in one pack: len .. tc_index, cb, hash, tc_classid, napi_id,
#: tstamp, wire_len, gso_segs, gso_size, hwtstamp (data pointers, sk and padding stay 0)
_SK_BUFF_IMAGE = struct.Struct("<12I20sII8xI64xQII8xI4xQ")
assert _SK_BUFF_IMAGE.size == 192


def render_sk_buff(skb: Any, image: bytearray | None = None) -> bytearray:
    """The ``struct __sk_buff`` a program sees for ``skb`` (a :class:`pybpf.net.skb.SkBuff`).

    Fields a socket filter cannot read are left 0 (the verifier refuses them);
    ``protocol`` and ``vlan_proto`` are in network byte order as in the kernel.
    """
    if image is None:
        image = bytearray(SIZEOF_SK_BUFF)
    length = skb.len
    _SK_BUFF_IMAGE.pack_into(
        image,
        0,
        length & 0xFFFF_FFFF,
        skb.pkt_type & 7,
        skb.mark & 0xFFFF_FFFF,
        skb.queue_mapping & 0xFFFF,
        _be16(skb.protocol),
        1 if skb.vlan_present else 0,
        skb.vlan_tci & 0xFFFF,
        _be16(skb.vlan_proto),
        skb.priority & 0xFFFF_FFFF,
        skb.ingress_ifindex & 0xFFFF_FFFF,
        skb.ifindex & 0xFFFF_FFFF,
        skb.tc_index & 0xFFFF,
        bytes(skb.cb[:20]),
        skb.hash & 0xFFFF_FFFF,
        skb.tc_classid & 0xFFFF,
        skb.napi_id & 0xFFFF_FFFF,
        skb.tstamp & 0xFFFF_FFFF_FFFF_FFFF,
        (skb.wire_len or length) & 0xFFFF_FFFF,
        skb.gso_segs & 0xFFFF,
        skb.gso_size & 0xFFFF,
        skb.hwtstamp & 0xFFFF_FFFF_FFFF_FFFF,
    )
    return image


#: bytes the kernel's rewritten load really reads for a 4-byte __sk_buff field whose sk_buff
#: member is narrower (bpf_convert_ctx_access's target_size); absent: 4
_TARGET_SIZE = {
    "pkt_type": 1,
    "queue_mapping": 2,
    "protocol": 2,
    "vlan_tci": 2,
    "vlan_proto": 2,
    "tc_index": 2,
    "tc_classid": 2,
    "gso_segs": 2,
    "gso_size": 2,
}
_NARROW: dict[int, tuple[int, int]] = {
    f.offset: (f.offset, _TARGET_SIZE[f.name]) for f in SK_BUFF_FIELDS if f.name in _TARGET_SIZE
}


def ctx_load(image: bytes | bytearray | memoryview, off: int, size: int) -> int:
    """A program's ``size``-byte load at ``off`` of the rendered __sk_buff, as the kernel's
    rewrite computes it.

    The kernel loads the sk_buff member itself (``target_size`` bytes). A load at
    least that wide returns the member whole, wherever in the 4-byte field it
    points; a narrower one is shifted by its offset within the field and masked
    (convert_ctx_accesses in kernel/bpf/verifier.c). So on x86-64 a 1-byte read
    of any byte of ``pkt_type`` gives pkt_type, a 2-byte read at ``protocol + 2``
    gives the protocol, while a 1-byte read at ``protocol + 1`` gives its second
    byte. Other fields read as plain little-endian memory.
    """
    narrow = _NARROW.get(off & ~3)
    if narrow is not None and size <= 4:
        value = _U32.unpack_from(image, narrow[0])[0]
        if size >= narrow[1]:
            return value
        return (value >> ((off & 3) * 8)) & ((1 << (8 * size)) - 1)
    return int.from_bytes(image[off : off + size], "little")


def ctx_narrow(prog_type: int, pointer_high: int = 0) -> bytes:
    """The context region's narrow-load table for ``prog_type`` (pybpf.vm.memory.narrow_load).

    One byte per 4-byte word: the size of the kernel object's member the rewrite
    loads there (0: plain memory), :data:`NARROW_POINTER` for a packet pointer
    word. A table with pointer words ends with ``pointer_high``, the high half of
    every packet pointer (the packet region's slot), as 4 little-endian bytes.
    """
    pt = get_prog_type(prog_type)
    table = bytearray(pt.ctx_size // 4)
    if pt.ctx_fields is SK_BUFF_FIELDS:
        for off, (_src, tsize) in _NARROW.items():
            table[off // 4] = tsize
    assert pt.ctx_fields is not None
    for f in pt.ctx_fields:
        if f.name in pt.pointers:
            table[f.offset // 4] = NARROW_POINTER
    if pt.pointers:
        table += _U32.pack(pointer_high & 0xFFFF_FFFF)
    return bytes(table)


def render_packet_pointers(
    image: bytearray, prog_type: int, base: int, data: int, data_end: int, data_meta: int
) -> None:
    """Write the low halves of the packet pointers ``base + data`` ... into the pointer
    words of a rendered context (the words :func:`ctx_narrow` marks)."""
    pt = get_prog_type(prog_type)
    assert pt.ctx_fields is not None
    where = {"data": data, "data_end": data_end, "data_meta": data_meta}
    for f in pt.ctx_fields:
        what = pt.pointers.get(f.name)
        if what is not None:
            _U32.pack_into(image, f.offset, (base + where[what]) & 0xFFFF_FFFF)


def render_ctx(image: bytearray, prog_type: int, pkt: Any) -> None:
    """Render the context a program of ``prog_type`` sees for ``pkt`` into ``image``: the
    xdp_md of an XdpBuff, the __sk_buff (packet pointers included) of a TcSkb."""
    if prog_type == BPF_PROG_TYPE_XDP:
        xdp.render_xdp_md(image, pkt)
        return
    render_sk_buff(pkt, image)
    if prog_type in (BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_SCHED_ACT):
        image[180] = getattr(pkt, "tstamp_type", 0) & 3
    render_packet_pointers(
        image, prog_type, pkt.bpf, pkt.data_off, pkt.data_end, pkt.data_off - pkt.meta_len
    )


def writeback_ctx(pkt: Any, image: bytes | bytearray | memoryview, prog_type: int) -> None:
    """What a program of ``prog_type`` may have written to its context, back into ``pkt``."""
    if prog_type != BPF_PROG_TYPE_XDP:
        writeback_sk_buff(pkt, image, prog_type)


def writeback_sk_buff(
    skb: Any, image: bytes | bytearray | memoryview, prog_type: int = BPF_PROG_TYPE_SOCKET_FILTER
) -> None:
    """Copy what the program may have written (cb[]; for tc also mark/priority ...) to ``skb``."""
    skb.cb[:20] = bytes(image[48:68])
    if prog_type == BPF_PROG_TYPE_CGROUP_SKB:
        skb.mark = _U32.unpack_from(image, 8)[0]
        skb.priority = _U32.unpack_from(image, 32)[0]
        skb.tstamp = _U64.unpack_from(image, 152)[0]
    elif prog_type in (BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_SCHED_ACT):
        skb.mark = _U32.unpack_from(image, 8)[0]
        skb.queue_mapping = _U32.unpack_from(image, 12)[0] & 0xFFFF
        skb.priority = _U32.unpack_from(image, 32)[0]
        skb.tc_index = _U32.unpack_from(image, 44)[0] & 0xFFFF
        skb.tc_classid = _U32.unpack_from(image, 72)[0]
        skb.tstamp = _U64.unpack_from(image, 152)[0]


def sk_filter_result(retval: int, length: int) -> int:
    """Bytes a socket keeps: 0 drops, N keeps ``min(N, len)`` (the u32 return value)."""
    n = retval & 0xFFFF_FFFF
    return min(n, length)


# --- program types ---------------------------------------------------------------------------

# fmt: off
#: helper ids Linux 6.18 lets a SOCKET_FILTER program call (as root: CAP_BPF, CAP_PERFMON);
#: sk_filter_func_proto + bpf_sk_base_func_proto + bpf_base_func_proto, probed on the kernel
SOCKET_FILTER_HELPERS = frozenset({
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 26, 35, 37, 42, 46, 47, 55, 68, 80, 87, 88,
    89, 93, 94, 105, 106, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132,
    133, 134, 136, 137, 138, 139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165,
    169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 194, 195, 196, 197, 198, 199,
    200, 201, 202, 203, 208, 209, 210, 211,
})
#: tc_cls_act_func_proto (SCHED_CLS and SCHED_ACT), probed the same way
TC_HELPERS = frozenset({
    1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
    28, 29, 30, 31, 32, 33, 34, 35, 37, 38, 39, 40, 41, 42, 43, 46, 47, 48, 50, 55, 66, 68, 69,
    79, 80, 83, 84, 85, 86, 87, 88, 89, 93, 94, 95, 96, 97, 98, 99, 100, 105, 106, 107, 108, 109,
    110, 112, 113, 114, 115, 117, 118, 120, 122, 123, 124, 125, 130, 131, 132, 133, 134, 135,
    136, 137, 138, 139, 140, 141, 148, 149, 151, 152, 153, 154, 155, 156, 157, 158, 160, 163,
    164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 192, 194, 195, 196,
    197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211,
})
#: cg_skb_func_proto (CGROUP_SKB)
CGROUP_SKB_HELPERS = frozenset({
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 26, 35, 37, 42, 46, 47, 55, 68, 79, 80, 81,
    83, 84, 85, 86, 87, 88, 89, 93, 94, 95, 96, 97, 98, 99, 105, 106, 107, 108, 109, 112, 113,
    114, 115, 117, 118, 120, 122, 123, 125, 128, 129, 130, 131, 132, 133, 134, 136, 137, 138,
    139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175,
    176, 177, 178, 180, 181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208,
    209, 210, 211,
})
#: xdp_func_proto (XDP)
XDP_HELPERS = frozenset({
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 23, 25, 28, 35, 37, 42, 44, 51, 54, 55, 65, 69,
    80, 84, 85, 86, 87, 88, 89, 93, 94, 99, 100, 105, 106, 109, 110, 112, 113, 114, 115, 117,
    118, 120, 123, 125, 130, 131, 132, 133, 134, 136, 137, 138, 139, 140, 141, 148, 149, 153,
    154, 156, 157, 158, 160, 163, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181,
    182, 188, 189, 190, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206,
    207, 208, 209, 210, 211,
})
# fmt: on


#: helper ids an unprivileged loader may call from a SOCKET_FILTER program, probed on
#: Linux 6.18 (bpf_base_func_proto hands the rest out only with CAP_BPF/CAP_PERFMON)
# fmt: off
UNPRIV_SOCKET_FILTER_HELPERS = frozenset({
    1, 2, 3, 5, 7, 8, 12, 14, 15, 25, 26, 42, 46, 47, 68, 87, 88, 89, 105, 106, 120, 122, 125,
    130, 131, 132, 133, 134, 160, 182, 195, 208, 212, 213, 214,
})
# fmt: on


#: a program type's context access rule: (field, off, size, write, attach type) -> reason
AccessRule = Callable[[CtxField, int, int, bool, int], "str | None"]


@dataclass(frozen=True)
class ProgType:
    """What the verifier and the runner need to know about one program type.

    ``ld_abs``: LD_ABS/LD_IND allowed (``may_access_skb``: socket filter and tc).
    ``ret_range``: the return values the verifier accepts (None: any).
    ``ctx_size``: bytes of the context struct (``ctx_struct``); ``ctx_fields`` its
    members; ``access`` its access rule (the kernel's ``is_valid_access``);
    ``pointers`` the members whose load gives a packet pointer. ``runnable``:
    pybpf runs programs of this type; ``action_name``/``leaves`` say what a
    return value means and whether the packet goes on.
    """

    type: int
    name: str
    helpers: frozenset[int]
    ctx_fields: tuple[CtxField, ...] | None
    ctx_size: int
    ld_abs: bool
    ret_range: tuple[int, int] | None = None
    runnable: bool = False
    #: helpers an unprivileged loader may call (the rest need CAP_BPF / CAP_PERFMON)
    unpriv_helpers: frozenset[int] = frozenset()
    access: AccessRule | None = None
    ctx_struct: str = "__sk_buff"
    pointers: dict[str, str] = field(default_factory=dict)
    action_name: Callable[[int], str] | None = None
    leaves: Callable[[int], bool] | None = None

    def allows_helper(self, func_id: int) -> bool:
        return func_id in self.helpers


PROG_TYPES: dict[int, ProgType] = {
    BPF_PROG_TYPE_SOCKET_FILTER: ProgType(
        BPF_PROG_TYPE_SOCKET_FILTER,
        "socket_filter",
        SOCKET_FILTER_HELPERS,
        SK_BUFF_FIELDS,
        SIZEOF_SK_BUFF,
        ld_abs=True,
        runnable=True,
        unpriv_helpers=UNPRIV_SOCKET_FILTER_HELPERS,
        access=_sk_filter_access,
    ),
    BPF_PROG_TYPE_SCHED_CLS: ProgType(
        BPF_PROG_TYPE_SCHED_CLS,
        "sched_cls",
        TC_HELPERS,
        SK_BUFF_FIELDS,
        SIZEOF_SK_BUFF,
        ld_abs=True,
        runnable=True,
        access=tc.tc_access,
        pointers=dict(_SKB_POINTERS),
        action_name=tc.action_name,
        leaves=tc.leaves,
    ),
    BPF_PROG_TYPE_SCHED_ACT: ProgType(
        BPF_PROG_TYPE_SCHED_ACT,
        "sched_act",
        TC_HELPERS,
        SK_BUFF_FIELDS,
        SIZEOF_SK_BUFF,
        ld_abs=True,
        runnable=True,
        access=tc.tc_access,
        pointers=dict(_SKB_POINTERS),
        action_name=tc.action_name,
        leaves=tc.leaves,
    ),
    BPF_PROG_TYPE_CGROUP_SKB: ProgType(
        BPF_PROG_TYPE_CGROUP_SKB,
        "cgroup_skb",
        CGROUP_SKB_HELPERS,
        SK_BUFF_FIELDS,
        SIZEOF_SK_BUFF,
        ld_abs=False,
        ret_range=(0, 1),
        runnable=True,
        access=cgroup_skb.cg_skb_access,
        pointers={"data": "data", "data_end": "data_end"},
        action_name=cgroup_skb.verdict_name,
        leaves=cgroup_skb.leaves,
    ),
    BPF_PROG_TYPE_XDP: ProgType(
        BPF_PROG_TYPE_XDP,
        "xdp",
        XDP_HELPERS,
        xdp.XDP_MD_FIELDS,
        xdp.SIZEOF_XDP_MD,
        ld_abs=False,
        runnable=True,
        access=xdp.xdp_access,
        ctx_struct="xdp_md",
        pointers=dict(xdp.POINTER_FIELDS),
        action_name=xdp.action_name,
        leaves=xdp.leaves,
    ),
}


def get_prog_type(prog_type: int) -> ProgType:
    """The :class:`ProgType` for ``prog_type``; NotSupportedError when pybpf has no model."""
    pt = PROG_TYPES.get(prog_type)
    if pt is None:
        name = uapi.PROG_TYPE_NAMES.get(prog_type, str(prog_type))
        raise NotSupportedError(f"program type {name} is not modelled by pybpf")
    return pt


def ret_range(prog_type: int, attach_type: int = 0) -> tuple[int, int] | None:
    """The return values the verifier accepts from a program of ``prog_type`` attached as
    ``attach_type`` (check_return_code, kernel/bpf/verifier.c): a cgroup_skb program
    may also ask for congestion notification (2, 3) on egress; an XDP program run from
    a devmap or cpumap returns XDP_ABORTED .. XDP_PASS. None: any value."""
    if prog_type == BPF_PROG_TYPE_CGROUP_SKB and attach_type == uapi.BPF_CGROUP_INET_EGRESS:
        return (0, 3)
    if prog_type == BPF_PROG_TYPE_XDP and attach_type in (uapi.BPF_XDP_DEVMAP, uapi.BPF_XDP_CPUMAP):
        return (uapi.XDP_ABORTED, uapi.XDP_PASS)
    pt = PROG_TYPES.get(prog_type)
    return pt.ret_range if pt is not None else None


def allowed_helpers(prog_type: int) -> frozenset[int]:
    """Helper ids a program of ``prog_type`` may call (empty for unmodelled types)."""
    pt = PROG_TYPES.get(prog_type)
    return pt.helpers if pt is not None else frozenset()
