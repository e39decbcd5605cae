"""Helpers that act on packets: XDP's frame helpers and the redirects (net/core/filter.c).

The context is a :class:`pybpf.net.xdp.XdpBuff` (XDP) or a
:class:`pybpf.net.tcskb.TcSkb` (tc, cgroup_skb); each helper is the kernel's,
argument checks and errnos included, over that model's mechanics. A helper
that changes the packet or the skb's fields (``@changes``) first takes what the
program wrote to its context (mark, cb[] ...) into the model and afterwards
renders the context again, as the kernel's program would see the live object:
its ``len``, ``protocol``, ``vlan_*`` and packet pointers are the new ones.
The checksum helpers are in :mod:`.csum`, the skb-changing ones in
:mod:`.skb_change`.
"""

from __future__ import annotations

import errno as E
from collections.abc import Callable
from typing import Any

from .. import uapi
from ..errors import VmError
from .util import _neg

__all__ = [
    "changes",
    "clone_redirect",
    "reads",
    "redirect",
    "redirect_neigh",
    "redirect_peer",
    "xdp_adjust_head",
    "xdp_adjust_meta",
    "xdp_adjust_tail",
    "xdp_get_buff_len",
    "xdp_load_bytes",
    "xdp_store_bytes",
]

M32 = 0xFFFF_FFFF
M64 = (1 << 64) - 1
ETH_HLEN = 14
#: redirect flags bpf_redirect_info keeps beyond the user's (net/core/filter.c)
BPF_F_NEIGH = 1 << 1
BPF_F_PEER = 1 << 2
BPF_F_NEXTHOP = 1 << 3


# --- the context -------------------------------------------------------------------------------


def _pkt(env: Any, what: str, kind: str) -> Any:
    """The packet model of the run: an XdpBuff (``kind`` "xdp") or a TcSkb ("skb")."""
    ctx = env.ctx
    has = hasattr(ctx, "adjust_head") if kind == "xdp" else hasattr(ctx, "insert")
    if not has:
        want = "an XDP frame" if kind == "xdp" else "an skb of a tc or cgroup_skb program"
        raise VmError(f"bpf_{what} needs {want} as its context")
    return ctx


def _ctx_image(env: Any) -> Any:
    """The rendered context the program reads (the region R1 pointed at)."""
    region = env.mem.region_at(env.ctx_ptr)
    return region.buf if region is not None else None


def changes(kind: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """A helper that changes the packet or skb fields: the program's writes to its context
    go into the model first, and the context is rendered again afterwards."""

    def wrap(fn: Callable[..., int]) -> Callable[..., int]:
        name = fn.__name__

        def helper(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
            from ..progtypes import render_ctx, writeback_ctx

            pkt = _pkt(env, name, kind)
            image = _ctx_image(env)
            prog_type = getattr(env.prog, "prog_type", 0)
            if image is not None:
                writeback_ctx(pkt, image, prog_type)
            try:
                return fn(env, pkt, r1, r2, r3, r4, r5) & M64
            finally:
                if image is not None:
                    render_ctx(image, prog_type, pkt)

        helper.__name__ = name
        helper.__doc__ = fn.__doc__
        return helper

    return wrap


def reads(kind: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """A helper that only reads the packet model."""

    def wrap(fn: Callable[..., int]) -> Callable[..., int]:
        name = fn.__name__

        def helper(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
            return fn(env, _pkt(env, name, kind), r1, r2, r3, r4, r5) & M64

        helper.__name__ = name
        helper.__doc__ = fn.__doc__
        return helper

    return wrap


def _s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


# --- XDP ----------------------------------------------------------------------------------------


@changes("xdp")
def xdp_adjust_head(env: Any, xdp: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_xdp_adjust_head(xdp, delta)."""
    return int(xdp.adjust_head(_s32(r2)))


@changes("xdp")
def xdp_adjust_meta(env: Any, xdp: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_xdp_adjust_meta(xdp, delta)."""
    return int(xdp.adjust_meta(_s32(r2)))


@changes("xdp")
def xdp_adjust_tail(env: Any, xdp: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_xdp_adjust_tail(xdp, delta)."""
    return int(xdp.adjust_tail(_s32(r2)))


@reads("xdp")
def xdp_get_buff_len(env: Any, xdp: Any, *_: int) -> int:
    """bpf_xdp_get_buff_len(xdp): the frame's bytes (a linear frame: data_end - data)."""
    return int(xdp.len)


@reads("xdp")
def xdp_load_bytes(env: Any, xdp: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_xdp_load_bytes(xdp, offset, buf, len)."""
    n = r4 & M32
    to = env.mem.view(r3, n, write=True)
    data = xdp.load_bytes(r2 & M32, n)
    if data is None:
        return _neg(E.EINVAL)
    to[:] = data
    return 0


@reads("xdp")
def xdp_store_bytes(env: Any, xdp: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_xdp_store_bytes(xdp, offset, buf, len)."""
    n = r4 & M32
    data = env.mem.read(r3, n)
    return 0 if xdp.store_bytes(r2 & M32, data) else _neg(E.EINVAL)


# --- redirects ----------------------------------------------------------------------------------


def redirect(env: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_redirect(ifindex, flags): XDP's (bpf_xdp_redirect) or tc's, by the context."""
    ctx = env.ctx
    ifindex, flags = r1 & M32, r2 & M64
    if hasattr(ctx, "adjust_head"):  # XDP: no flags at all
        if flags:
            return uapi.XDP_ABORTED
        ctx.redirect(ifindex, 0)
        return uapi.XDP_REDIRECT
    if flags & ~uapi.BPF_F_INGRESS & M64:
        return uapi.TC_ACT_SHOT
    _pkt(env, "redirect", "skb").redirect(ifindex, flags)
    return uapi.TC_ACT_REDIRECT


def redirect_peer(env: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_redirect_peer(ifindex, flags): to the peer of a veth (recorded)."""
    if r2 & M64:
        return uapi.TC_ACT_SHOT
    _pkt(env, "redirect_peer", "skb").redirect(r1 & M32, BPF_F_PEER)
    return uapi.TC_ACT_REDIRECT


def redirect_neigh(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_redirect_neigh(ifindex, params, plen, flags): out of a device through the
    neighbour subsystem (recorded)."""
    plen = r3 & M32
    if (plen and plen < 20) or r4 & M64:  # sizeof(struct bpf_redir_neigh)
        return uapi.TC_ACT_SHOT
    flags = BPF_F_NEIGH | (BPF_F_NEXTHOP if plen else 0)
    _pkt(env, "redirect_neigh", "skb").redirect(r1 & M32, flags)
    return uapi.TC_ACT_REDIRECT


def clone_redirect(env: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_clone_redirect(skb, ifindex, flags): a copy of the packet, as it is now, leaves
    through (or into) device ``ifindex``; the program goes on with the original."""
    skb = _pkt(env, "clone_redirect", "skb")
    ifindex, flags = r2 & M32, r3 & M64
    if flags & ~uapi.BPF_F_INGRESS & M64:
        return _neg(E.EINVAL)
    if skb.gso_size and not getattr(skb, "gso_type", 0):
        return _neg(E.EBADMSG)
    exists = getattr(env.prog, "device_exists", None)
    if ifindex == 0 or (exists is not None and not exists(ifindex)):
        return _neg(E.EINVAL)
    image = _ctx_image(env)
    if image is not None:
        from ..progtypes import writeback_ctx

        writeback_ctx(skb, image, getattr(env.prog, "prog_type", 0))
    skb.record_clone(ifindex, flags)
    return 0


#: the helpers whose implementation here is exactly the kernel's and that a native back end
#: runs in C (pybpf.vm.api.native_name; src/pybpf/vm/native/packet.c)
for _fn in (
    xdp_adjust_head,
    xdp_adjust_meta,
    xdp_adjust_tail,
    xdp_get_buff_len,
    xdp_load_bytes,
    xdp_store_bytes,
    redirect,
):
    setattr(_fn, "native", _fn.__name__)  # noqa: B010 - an attribute of a function
