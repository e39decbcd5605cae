"""What helper implementations share: errno returns, map handles, the socket buffer."""

from __future__ import annotations

import errno as E
from typing import Any

from ..errors import MapError, NotSupportedError, VmError
from ..uapi import U64_MAX as M64
from .proto import HelperFn

# --- shared pieces ---------------------------------------------------------------------------


def _neg(err: int) -> int:
    return (-err) & M64


def _s32(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v - (1 << 32) if v >> 31 else v


def _map(env: Any, addr: int) -> Any:
    return env.mem.object_at(addr)


def _skb(env: Any, what: str) -> Any:
    skb = env.ctx
    if skb is None or not hasattr(skb, "load_abs"):
        raise VmError(f"bpf_{what} needs a socket buffer context")
    return skb


def _errno_of(exc: MapError) -> int:
    return exc.errno or E.EINVAL


def _value_addr(env: Any, m: Any, off: int | None) -> int:
    if off is None:
        return 0
    return env.mem.region_for(m.storage, name=f"map {getattr(m, 'name', '')}".strip()).base + off


def _select_cpu(m: Any, cpu: int) -> None:
    if getattr(m, "percpu", False):
        m.cpu = cpu % max(getattr(m, "ncpus", 1), 1)


def _not_supported(hid: int, name: str, reason: str = "") -> HelperFn:
    why = reason or "it needs kernel objects pybpf does not model in user space"

    def fn(env: Any, *_a: int) -> int:
        raise NotSupportedError(f"helper bpf_{name}#{hid} is not modelled: {why}")

    return fn
