"""Program types: context layout, context access rules, allowed helpers, LD_ABS, return values.

A socket filter (BPF_PROG_TYPE_SOCKET_FILTER) receives a ``struct __sk_buff *``
(include/uapi/linux/bpf.h), a *mirror* of the kernel's sk_buff: the verifier
checks every context access against ``sk_filter_is_valid_access`` /
``bpf_skb_is_valid_access`` (net/core/filter.c) and rewrites it into a load
from the real sk_buff (``bpf_convert_ctx_access``). pybpf does the same in
two steps: :func:`check_ctx_access` is the validity rule (for the verifier),
and :func:`render_sk_buff` writes the 192-byte ``__sk_buff`` image the
program reads at run time from the model sk_buff (:mod:`pybpf.net.skb`),
with :func:`writeback_sk_buff` copying the only writable part, ``cb[0..4]``,
back. A narrow load of a field reads the little-endian bytes of its 32-bit
value, exactly what the kernel's narrow-load shift gives on x86-64.

The tables here were checked against Linux 6.18 by loading, for every offset
and size, a one-instruction read and write (tests/test_progtypes.py keeps the
kernel's answers and compares).

Return value of a socket filter (net/core/filter.c, sk_filter_trim_cap): 0
drops the packet, any other u32 N keeps the first ``min(N, len)`` bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
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

__all__ = [
    "CtxField",
    "ProgType",
    "SIZEOF_SK_BUFF",
    "SK_BUFF_FIELDS",
    "PROG_TYPES",
    "allowed_helpers",
    "check_ctx_access",
    "ctx_load",
    "field_at",
    "get_prog_type",
    "render_sk_buff",
    "sk_filter_result",
    "writeback_sk_buff",
]


@dataclass(frozen=True)
class CtxField:
    """One member of a context struct: ``name`` at ``offset``, ``size`` bytes in all.

    ``elem`` is the element size of an array member (``cb[5]`` has elem 4).
    """

    name: str
    offset: int
    size: int
    elem: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.size


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
    for f in fields:
        if f.offset <= off < f.end:
            return f
    return None


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
#: fields tc programs (SCHED_CLS/ACT) may write with a 4-byte store (tc_cls_act_is_valid_access)
_TC_WRITE = frozenset({"mark", "tc_index", "priority", "tc_classid", "queue_mapping"})
_TC_DENY = frozenset(
    {"family", "remote_ip4", "local_ip4", "remote_ip6", "local_ip6", "remote_port", "local_port"}
)


def _skb_is_valid_access(f: CtxField, off: int, size: int, write: bool) -> str | None:
    """bpf_skb_is_valid_access(): the rules common to every __sk_buff program type."""
    if off % size:
        return f"misaligned {size}-byte access at offset {off}"
    if f.name == "cb":
        if off + size > f.end:
            return f"{size}-byte access at offset {off} runs past cb[4]"
        return None
    if f.name in (
        "remote_ip6",
        "local_ip6",
        "remote_ip4",
        "local_ip4",
        "data",
        "data_meta",
        "data_end",
    ):
        return None if size == 4 else f"{f.name} must be accessed with 4-byte loads"
    if f.name == "flow_keys":
        return "flow_keys is for flow dissector programs"
    if f.name == "hwtstamp":
        return None if size == 8 and not write else "hwtstamp is read with 8-byte loads only"
    if f.name == "tstamp":
        return None if size == 8 else "tstamp is accessed with 8-byte loads/stores only"
    if f.name == "sk":
        if write or size != 8 or off != f.offset:
            return "sk is read with one 8-byte load only"
        return None
    if f.name == "tstamp_type":
        return "tstamp_type cannot be accessed by this program type"
    if write:
        return None if size == 4 and off == f.offset else f"{f.name} is written with 4-byte stores"
    if size > 4:
        return f"{f.name} is a 4-byte field; {size}-byte loads are not allowed"
    return None


def check_ctx_access(prog_type: int, off: int, size: int, write: bool = False) -> str | None:
    """Whether a program of ``prog_type`` may access ``size`` bytes at ``off`` of its context.

    Returns None when allowed, else the reason (the verifier's "invalid bpf_context
    access" cases). ``size`` is 1, 2, 4 or 8.
    """
    if size not in (1, 2, 4, 8):
        return f"invalid access size {size}"
    pt = PROG_TYPES.get(prog_type)
    if pt is None or pt.ctx_fields is not SK_BUFF_FIELDS:
        return (
            f"context rules for program type {uapi.PROG_TYPE_NAMES.get(prog_type, prog_type)} "
            "are not modelled"
        )
    if off < 0 or off + size > SIZEOF_SK_BUFF:
        return f"offset {off} size {size} is outside struct __sk_buff ({SIZEOF_SK_BUFF} bytes)"
    f = field_at(off)
    if f is None or off + size > f.end:
        return f"offset {off} size {size} does not lie within one __sk_buff field"
    if prog_type == BPF_PROG_TYPE_SOCKET_FILTER or prog_type == BPF_PROG_TYPE_CGROUP_SKB:
        if f.name in _SK_FILTER_DENY:
            return f"{f.name} is not accessible to {pt.name} programs"
        if write and f.name != "cb":
            return f"{pt.name} programs may write only cb[0..4], not {f.name}"
    elif prog_type in (BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_SCHED_ACT):
        if f.name in _TC_DENY:
            return f"{f.name} is not accessible to {pt.name} programs"
        if write and f.name not in _TC_WRITE and f.name not in ("cb", "tstamp"):
            return f"{pt.name} programs may not write {f.name}"
        if not write and f.name == "tstamp_type":
            return None if size == 1 else "tstamp_type is read with 1-byte loads"
    return _skb_is_valid_access(f, off, size, write)


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


def writeback_sk_buff(
    skb: Any, image: bytes | bytearray | memoryview, prog_type: int = BPF_PROG_TYPE_SOCKET_FILTER
) -> None:
    """Copy what the program may have written (cb[]; for tc also mark/priority ...) to ``skb``."""
    skb.cb[:20] = bytes(image[48:68])
    if prog_type in (BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_SCHED_ACT):
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


@dataclass(frozen=True)
class ProgType:
    """What the verifier and the runner need to know about one program type.

    ``ld_abs``: LD_ABS/LD_IND allowed (``may_access_skb``: socket filter and tc).
    ``ret_range``: the return values the verifier accepts (None: any).
    ``ctx_size``: bytes of the context struct; ``ctx_fields`` its members.
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
    ),
    BPF_PROG_TYPE_SCHED_CLS: ProgType(
        BPF_PROG_TYPE_SCHED_CLS,
        "sched_cls",
        TC_HELPERS,
        SK_BUFF_FIELDS,
        SIZEOF_SK_BUFF,
        ld_abs=True,
    ),
    BPF_PROG_TYPE_SCHED_ACT: ProgType(
        BPF_PROG_TYPE_SCHED_ACT,
        "sched_act",
        TC_HELPERS,
        SK_BUFF_FIELDS,
        SIZEOF_SK_BUFF,
        ld_abs=True,
    ),
    BPF_PROG_TYPE_CGROUP_SKB: ProgType(
        BPF_PROG_TYPE_CGROUP_SKB,
        "cgroup_skb",
        CGROUP_SKB_HELPERS,
        SK_BUFF_FIELDS,
        SIZEOF_SK_BUFF,
        ld_abs=False,
        ret_range=(0, 3),
    ),
    BPF_PROG_TYPE_XDP: ProgType(BPF_PROG_TYPE_XDP, "xdp", XDP_HELPERS, None, 24, ld_abs=False),
}


def get_prog_type(prog_type: int) -> ProgType:
    """The :class:`ProgType` for ``prog_type``; NotSupportedError when pybpf has no model."""
    pt = PROG_TYPES.get(prog_type)
    if pt is None:
        name = uapi.PROG_TYPE_NAMES.get(prog_type, str(prog_type))
        raise NotSupportedError(f"program type {name} is not modelled by pybpf")
    return pt


def allowed_helpers(prog_type: int) -> frozenset[int]:
    """Helper ids a program of ``prog_type`` may call (empty for unmodelled types)."""
    pt = PROG_TYPES.get(prog_type)
    return pt.helpers if pt is not None else frozenset()
