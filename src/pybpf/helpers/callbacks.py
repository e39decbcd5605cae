"""Helpers that call back into the program: bpf_loop and bpf_for_each_map_elem.

The kernel passes a callback as a pointer loaded by ``BPF_LD_IMM64`` with
BPF_PSEUDO_FUNC; pybpf's interpreter loads a handle to a
:class:`~pybpf.vm.interp.SubprogRef`, and :meth:`RunEnv.call_subprog` runs it
in a new frame of the running program, as the kernel's helper calls the
JITed subprogram (kernel/bpf/bpf_iter.c; the per-map iterators are
``map_for_each_callback`` in kernel/bpf/arraymap.c and hashtab.c).
"""

from __future__ import annotations

import bisect
import errno as E
from typing import Any

from .. import uapi
from ..uapi import U64_MAX as M64

__all__ = ["BPF_MAX_LOOPS", "bpf_loop", "for_each_map_elem", "key_scratch"]

#: BPF_MAX_LOOPS (include/linux/bpf.h): 8M iterations at most
BPF_MAX_LOOPS = 1 << 23

_ARRAYS = (uapi.BPF_MAP_TYPE_ARRAY, uapi.BPF_MAP_TYPE_PERCPU_ARRAY)
_HASHES = (
    uapi.BPF_MAP_TYPE_HASH,
    uapi.BPF_MAP_TYPE_PERCPU_HASH,
    uapi.BPF_MAP_TYPE_LRU_HASH,
    uapi.BPF_MAP_TYPE_LRU_PERCPU_HASH,
)


def _neg(err: int) -> int:
    return (-err) & M64


def bpf_loop(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_loop(nr_loops, callback_fn, callback_ctx, flags): callback(i, ctx) until it
    returns non-zero; the number of calls made (bpf_iter.c).

    With flags 0 the kernel's verifier inlines the call (inline_bpf_loop in
    kernel/bpf/verifier.c), and the inlined code differs from the helper in two
    observable ways that pybpf follows: it compares all 64 bits of nr_loops
    against BPF_MAX_LOOPS, and it loads -E2BIG with a 32-bit move, so R0 is
    0xfffffff9 rather than -7. (The kernel inlines only when it also sees the
    same callback at every visit of the call, which a program with one
    callback per call site always has.)
    """
    if r4:
        return _neg(E.EINVAL)
    nr_loops = r1
    if nr_loops > BPF_MAX_LOOPS:
        return _neg(E.E2BIG) & 0xFFFF_FFFF
    call = env.call_subprog
    for i in range(nr_loops):
        if call(r2, i, r3, 0, 0, 0):
            return i + 1
    return nr_loops


class _KeyScratch:
    """A read-only region standing for the kernel stack slot a helper passes a key in
    (``u32 key`` in bpf_for_each_array_map_elem, the array key of a timer callback)."""

    def __init__(self, mem: Any, size: int) -> None:
        self.buf = bytearray(size)
        self.region = mem.add_region(self.buf, name="helper key", writable=False)

    def put(self, key: bytes) -> int:
        self.buf[: len(key)] = key
        return self.region.base


def key_scratch(mem: Any, size: int = 8) -> _KeyScratch:
    """The Memory's key scratch region (made once, grown when a key needs more room)."""
    cache = mem.__dict__.setdefault("_helper_key_scratch", {})
    ks = cache.get("k")
    if ks is None or len(ks.buf) < size:
        if ks is not None:
            mem.remove_region(ks.region)
        ks = cache["k"] = _KeyScratch(mem, max(size, 8))
    return ks


def _storage_base(env: Any, m: Any) -> int:
    return env.mem.region_for(m.storage, name=f"map {getattr(m, 'name', '')}".strip()).base


def _cpu_of(env: Any, m: Any) -> int:
    return env.cpu % max(getattr(m, "ncpus", 1), 1)


def _for_each_array(env: Any, m: Any, r1: int, cb: int, ctx: int) -> int:
    """bpf_for_each_array_map_elem(): index order, key is a u32 on the helper's stack."""
    base = _storage_base(env, m)
    ks = key_scratch(env.mem, 4)
    percpu = getattr(m, "percpu", False)
    cpu = _cpu_of(env, m)
    n = 0
    for i in range(m.max_entries):
        if percpu:
            off = i * m.elem_size + cpu * m.stride
        else:
            off = i * m.elem_size
        key = ks.put(i.to_bytes(4, "little"))
        n += 1
        if env.call_subprog(cb, r1, key, base + off, ctx, 0):
            break
    return n


def _for_each_hash(env: Any, m: Any, r1: int, cb: int, ctx: int) -> int:
    """bpf_for_each_hash_elem(): bucket by bucket, each bucket from its head.

    The kernel walks the live RCU lists: an element the callback deletes
    further on is not visited, one it adds at a bucket's head is not either,
    and deleting the element being visited continues with the element that
    followed it. pybpf follows the successor in the live list the same way.
    """
    base = _storage_base(env, m)
    percpu = getattr(m, "percpu", False)
    cpu = _cpu_of(env, m)
    ks = key_scratch(env.mem, m.key_size) if percpu or not m.key_stride else None
    n = 0
    b = -1
    while True:
        j = bisect.bisect_right(m.nonempty, b)
        if j >= len(m.nonempty):
            return n
        b = m.nonempty[j]
        lst = m.buckets.get(b, [])
        slot = lst[0] if lst else None
        while slot is not None:
            before = list(m.buckets.get(b, []))
            key_bytes = m.slot_key[slot]
            voff = m._value_base(slot)
            if percpu:
                voff += cpu * m.stride
            key = ks.put(key_bytes) if ks is not None else base + slot * m.elem_size
            n += 1
            if env.call_subprog(cb, r1, key, base + voff, ctx, 0):
                return n
            slot = _successor(m.buckets.get(b, []), before, slot)


def _successor(live: list[int], before: list[int], slot: int) -> int | None:
    """The element after ``slot`` in its bucket's live list (``before``: the list as
    it was when ``slot`` was visited, for a ``slot`` the callback deleted)."""
    if slot in live:
        i = live.index(slot) + 1
        return live[i] if i < len(live) else None
    for s in before[before.index(slot) + 1 :]:
        if s in live:
            return s
    return None


def for_each_map_elem(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_for_each_map_elem(map, callback_fn, callback_ctx, flags): callback(map, key,
    value, ctx) per element in the map's own order until it returns non-zero; the
    number of elements visited (the one that stopped the walk included)."""
    m = env.mem.object_at(r1, env.pc)
    if r4:
        return _neg(E.EINVAL)
    t = getattr(m, "type", -1)
    if t in _ARRAYS:
        return _for_each_array(env, m, r1, r2, r3)
    if t in _HASHES:
        return _for_each_hash(env, m, r1, r2, r3)
    from ..errors import VmError

    raise VmError(
        f"bpf_for_each_map_elem: map type {uapi.MAP_TYPE_NAMES.get(t, t)} has no "
        "map_for_each_callback (the kernel's verifier refuses the call)",
        pc=env.pc,
        errno=E.EINVAL,
    )
