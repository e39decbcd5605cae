"""Output helpers: ring buffer records and perf event output (kernel/bpf/ringbuf.c, net/core/filter.c)."""

from __future__ import annotations

import errno as E
from typing import Any

from .. import uapi
from ..errors import MapError, VmError
from .proto import HelperFn
from .util import M64, _errno_of, _map, _neg

# --- output ---------------------------------------------------------------------------------------


def ringbuf_output(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    m = _map(env, r1)
    return m.output(env.mem.read(r2, r3 & 0xFFFF_FFFF), r4) & M64


def ringbuf_reserve(env: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """A pointer into the ring's storage region where the program writes its record, or 0."""
    m = _map(env, r1)
    if r3:
        return 0
    off = m.reserve(r2)
    if off is None:
        return 0
    region = env.mem.region_for(m.storage, name=f"ringbuf {m.name}".strip())
    owners = env.mem.__dict__.setdefault("_ringbuf_owner", {})
    owners[region.base] = m
    return region.base + off


def _ringbuf_commit(op: str) -> HelperFn:
    def fn(env: Any, r1: int, r2: int, *_: int) -> int:
        region = env.mem.region_at(r1)
        m = env.mem.__dict__.get("_ringbuf_owner", {}).get(region.base) if region else None
        if m is None:
            raise VmError(f"bpf_ringbuf_{op}: {r1:#x} is not a reserved ring buffer record")
        try:
            getattr(m, op)(r1 - region.base, r2)
        except MapError as exc:
            raise VmError(f"bpf_ringbuf_{op}: {exc}") from exc
        return 0

    setattr(fn, "native", f"ringbuf_{op}")  # noqa: B010 - exactly the kernel's (pybpf.vm.api)
    return fn


def ringbuf_query(env: Any, r1: int, r2: int, *_: int) -> int:
    return _map(env, r1).query(r2) & M64


def perf_event_output(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_event_output: data (and, with BPF_F_CTXLEN_MASK, packet bytes) to a perf ring."""
    skb = env.ctx
    flags = r3
    if flags & ~(uapi.BPF_F_CTXLEN_MASK | uapi.BPF_F_INDEX_MASK):
        return _neg(E.EINVAL)
    ctx_len = (flags & uapi.BPF_F_CTXLEN_MASK) >> 32
    if skb is not None and ctx_len > skb.len:
        return _neg(E.EFAULT)
    m = _map(env, r2)
    data = env.mem.read(r4, r5 & 0xFFFF_FFFF)
    if ctx_len and skb is not None:
        data += skb.copy_bits(0, ctx_len) or b""
    index = flags & uapi.BPF_F_INDEX_MASK
    if index == uapi.BPF_F_CURRENT_CPU:
        index = env.cpu
    out = getattr(m, "perf_output", None)
    if out is None:
        return _neg(E.ENOENT)  # no perf event open on that slot
    try:
        out(index, data)
    except MapError as exc:
        return _neg(_errno_of(exc))
    return 0


#: exactly the kernel's helpers: a native back end may run its own version (pybpf.vm.api)
for _fn in (ringbuf_output, ringbuf_reserve, ringbuf_query):
    setattr(_fn, "native", _fn.__name__)  # noqa: B010 - an attribute of a function


ringbuf_submit = _ringbuf_commit("submit")
ringbuf_discard = _ringbuf_commit("discard")
