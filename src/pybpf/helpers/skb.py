"""Packet helpers of socket programs: skb_load_bytes(_relative), socket cookie, uid, netns cookie."""

from __future__ import annotations

import errno as E
from typing import Any

from .. import uapi
from .util import _neg, _skb

# --- packet access ---------------------------------------------------------------------------------


def skb_load_bytes(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_skb_load_bytes(skb, offset, to, len): skb_header_pointer over head and frags."""
    skb = _skb(env, "skb_load_bytes")
    offset, n = r2 & 0xFFFF_FFFF, r4 & 0xFFFF_FFFF
    to = env.mem.view(r3, n, write=True)  # the destination is checked before any copy
    data = skb.copy_bits(offset, n) if offset <= 0x7FFF_FFFF else None
    if data is None:
        to[:] = bytes(n)
        return _neg(E.EFAULT)
    to[:] = data
    return 0


#: exactly the kernel's helper: a native back end may run its own version (pybpf.vm.api)
setattr(skb_load_bytes, "native", "skb_load_bytes")  # noqa: B010 - an attribute of a function


def skb_load_bytes_relative(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """Like skb_load_bytes but from the MAC or network header, linear part only."""
    skb = _skb(env, "skb_load_bytes_relative")
    offset, n, start_header = r2 & 0xFFFF_FFFF, r4 & 0xFFFF_FFFF, r5 & 0xFFFF_FFFF
    data = None
    if offset <= 0xFFFF:
        if start_header == uapi.BPF_HDR_START_MAC:
            start = skb.mac_off if skb.mac_header_was_set else None
        elif start_header == uapi.BPF_HDR_START_NET:
            start = skb.network_off
        else:
            start = None
        if start is not None:
            data = skb.linear_bytes(start + offset, n)
    if data is None:
        env.mem.write(r3, bytes(n))
        return _neg(E.EFAULT)
    env.mem.write(r3, data)
    return 0


def get_socket_cookie(env: Any, r1: int, *_: int) -> int:
    sk = getattr(_skb(env, "get_socket_cookie"), "sk", None)
    return sk.cookie if sk is not None else 0


def get_socket_uid(env: Any, r1: int, *_: int) -> int:
    from ..net.skb import OVERFLOWUID

    sk = getattr(_skb(env, "get_socket_uid"), "sk", None)
    if sk is None or not sk.full:
        return OVERFLOWUID
    return sk.uid


def get_netns_cookie(env: Any, r1: int, *_: int) -> int:
    skb = env.ctx
    sk = getattr(skb, "sk", None)
    return sk.netns_cookie if sk is not None else 1
