"""bpf_skb_is_valid_access(): the ``struct __sk_buff`` access rules every skb program type shares.

Each program type's own rule (sk_filter_is_valid_access, tc_cls_act_is_valid_access,
cg_skb_is_valid_access in net/core/filter.c) first refuses or allows some fields,
then defers to this one for sizes and alignment.
"""

from __future__ import annotations

from .fields import CtxField

__all__ = ["POINTER_FIELDS", "skb_is_valid_access"]

#: __sk_buff members whose load gives a pointer into the packet (and what it points at)
POINTER_FIELDS = {"data": "data", "data_end": "data_end", "data_meta": "data_meta"}


def skb_is_valid_access(f: CtxField, off: int, size: int, write: bool) -> str | None:
    """bpf_skb_is_valid_access(): None when allowed, else the reason."""
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
