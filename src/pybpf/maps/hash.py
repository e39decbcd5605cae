"""BPF_MAP_TYPE_HASH and BPF_MAP_TYPE_PERCPU_HASH (kernel/bpf/hashtab.c; the C is hashtab.c).

The table lives in C: element slots in ``storage`` (``prealloc_init()``), a slot
being ``round_up(key_size, 8) + round_up(value_size, 8)`` bytes, key then value,
for a plain hash and ``ncpus`` padded values for a per-cpu hash (``elem_size``,
``key_stride``, ``stride``); buckets chosen by ``htab_map_hash()`` (jhash with a
random seed, or 0 with BPF_F_ZERO_SEED); a free list of slots.  An element keeps
its slot while it lives, so a value pointer given to a program stays valid, and
get_next_key walks the buckets in order, so iteration order is the kernel's
whenever the seed is.

This module checks attributes as htab_map_alloc_check() does and offers
read-only views of the table (``buckets``, ``nonempty``, ``slot_key``) for the
interpreter's bpf_for_each_map_elem and timer helpers.
"""

from __future__ import annotations

import ctypes
import errno as E
import random
from collections.abc import Iterator
from typing import Any

from ..uapi import (
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_NUMA_NODE,
    BPF_F_ZERO_SEED,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERCPU_HASH,
)
from . import clib
from .base import (
    BPF_F_ACCESS_MASK,
    KMALLOC_MAX_SIZE,
    PCPU_MIN_UNIT_SIZE,
    Map,
    flags_access_ok,
    map_err,
    round_up,
)
from .native_map import NativeMap

HTAB_CREATE_FLAG_MASK = (
    BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED
)
#: sizeof(struct htab_elem) on x86-64
HTAB_ELEM_SIZE = 48


def roundup_pow_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length() if n > 1 else 1


@Map.register
class HashMap(NativeMap):
    map_types = (BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH)
    lru = False
    percpu_types: tuple[int, ...] = (BPF_MAP_TYPE_PERCPU_HASH,)
    messages = {
        ("update", E.EINVAL): "unknown update flags {flags:#x}",
        ("update", E.EEXIST): "element {key} exists (BPF_NOEXIST)",
        ("update", E.ENOENT): "no element {key} (BPF_EXIST)",
        ("update", E.E2BIG): "hash map full ({max_entries} entries)",
        ("delete", E.ENOENT): "no element {key}",
        ("lookup_and_delete", E.ENOENT): "no element {key}",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        t = args[0] if args else kwargs.get("type")
        self._percpu = t in self.percpu_types
        super().__init__(*args, **kwargs)

    @property
    def percpu(self) -> bool:  # type: ignore[override]
        return self._percpu

    # -- creation --------------------------------------------------------------------------

    def check_create(self) -> None:
        # htab_map_alloc_check()
        f = self.flags
        percpu_lru = bool(f & BPF_F_NO_COMMON_LRU)
        prealloc = not f & BPF_F_NO_PREALLOC
        if f & ~HTAB_CREATE_FLAG_MASK or not flags_access_ok(f):
            raise map_err(E.EINVAL, f"bad {self.type_name} map_flags {f:#x}")
        if not self.lru and percpu_lru:
            raise map_err(E.EINVAL, "BPF_F_NO_COMMON_LRU is for LRU maps only")
        if self.lru and not prealloc:
            raise map_err(524, "LRU maps cannot be BPF_F_NO_PREALLOC (ENOTSUPP)")
        if f & BPF_F_NUMA_NODE and (self.percpu or percpu_lru):
            raise map_err(E.EINVAL, "BPF_F_NUMA_NODE with per-cpu values or LRU lists")
        if self.max_entries == 0 or self.key_size == 0 or self.value_size == 0:
            raise map_err(E.EINVAL, "key_size, value_size and max_entries must be > 0")
        if self.key_size + self.value_size >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE:
            raise map_err(E.E2BIG, "key_size + value_size too large")
        if self.percpu and round_up(self.value_size, 8) > PCPU_MIN_UNIT_SIZE:
            raise map_err(E.E2BIG, f"per-cpu value_size {self.value_size} > {PCPU_MIN_UNIT_SIZE}")

    def _adjust_max_entries(self) -> None:
        """htab_map_alloc() may round max_entries (LRU with per-cpu lists)."""

    def _hashrnd(self) -> int:
        return 0 if self.flags & BPF_F_ZERO_SEED else random.getrandbits(32)

    def _init_storage(self) -> None:
        self._adjust_max_entries()
        if self.max_entries > 1 << 31:
            raise map_err(E.E2BIG, f"max_entries {self.max_entries} > 2^31")
        self.n_buckets = roundup_pow_of_two(self.max_entries)
        if self.n_buckets > 0xFFFFFFFF // 16:  # sizeof(struct bucket) overflow check
            raise map_err(E.E2BIG, f"max_entries {self.max_entries}: too many buckets")
        super()._init_storage()

    # -- the seed ----------------------------------------------------------------------------

    @property
    def hashrnd(self) -> int:
        """The jhash seed (0 with BPF_F_ZERO_SEED)."""
        return int(clib.lib().pybpf_htab_hashrnd(self.native))

    @hashrnd.setter
    def hashrnd(self, seed: int) -> None:
        if not isinstance(seed, int) or not 0 <= seed < 1 << 32:
            raise map_err(E.EINVAL, f"hash seed {seed!r} is not a u32")
        if clib.lib().pybpf_htab_set_hashrnd(self.native, seed):
            raise map_err(E.EBUSY, "the seed of a map with elements cannot change")

    # -- views of the table (what bpf_for_each_map_elem and timers walk) ---------------------

    def _value_base(self, slot: int) -> int:
        """Offset in ``storage`` of the (first cpu's) value in ``slot``."""
        return slot * self.elem_size + self.key_stride

    @property
    def slot_key(self) -> _SlotKeys:
        """slot -> the key of the element in it, None for a free slot."""
        return _SlotKeys(self)

    @property
    def buckets(self) -> _Buckets:
        """bucket -> its slots, head first (``.get(b, default)`` for an empty one)."""
        return _Buckets(self)

    @property
    def nonempty(self) -> _NonEmpty:
        """The indices of the non-empty buckets, ascending (a sequence, for bisect)."""
        return _NonEmpty(self)

    # -- pinning -----------------------------------------------------------------------------

    def _pin_state(self) -> tuple[dict[str, Any], list[tuple[bytes, bytes]]]:
        return {"hashrnd": self.hashrnd}, list(reversed(self.items()))

    def _unpin_state(self, extra: dict[str, Any], records: list[tuple[bytes, bytes]]) -> None:
        if "hashrnd" in extra:
            self.hashrnd = extra["hashrnd"]
        super()._unpin_state(extra, records)


class _SlotKeys:
    def __init__(self, m: HashMap):
        self._m = m

    def __len__(self) -> int:
        return self._m.max_entries

    def __getitem__(self, slot: int) -> bytes | None:
        m = self._m
        if not isinstance(slot, int) or not 0 <= slot < m.max_entries:
            raise IndexError(slot)
        if clib.lib().pybpf_htab_slot_key(m.native, slot, m._kout):
            return None
        return m._kout.raw[: m.key_size]

    def __iter__(self) -> Iterator[bytes | None]:
        return (self[i] for i in range(len(self)))


class _Buckets:
    def __init__(self, m: HashMap):
        self._m = m

    def get(self, b: int, default: Any = None) -> Any:
        m = self._m
        if not isinstance(b, int) or not 0 <= b < m.n_buckets:
            return default
        lib = clib.lib()
        cap = 16
        while True:
            out = (ctypes.c_uint32 * cap)()
            n = lib.pybpf_htab_bucket_slots(m.native, b, out, cap)
            if n <= cap:
                break
            cap = n
        return list(out[:n]) if n > 0 else default

    def __getitem__(self, b: int) -> list[int]:
        slots = self.get(b)
        if slots is None:
            raise KeyError(b)
        return slots

    def __contains__(self, b: object) -> bool:
        return isinstance(b, int) and self.get(b) is not None


class _NonEmpty:
    def __init__(self, m: HashMap):
        self._m = m

    def __len__(self) -> int:
        return int(clib.lib().pybpf_htab_nr_nonempty(self._m.native))

    def __getitem__(self, j: int) -> int:
        if j < 0:
            j += len(self)
        b = clib.lib().pybpf_htab_nth_bucket(self._m.native, j) if j >= 0 else -1
        if b < 0:
            raise IndexError(j)
        return int(b)

    def __iter__(self) -> Iterator[int]:
        lib = clib.lib()
        b = lib.pybpf_htab_next_bucket(self._m.native, 0)
        while b >= 0:
            yield int(b)
            b = lib.pybpf_htab_next_bucket(self._m.native, b + 1)
