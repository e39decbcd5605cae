"""BPF_MAP_TYPE_HASH and BPF_MAP_TYPE_PERCPU_HASH (kernel/bpf/hashtab.c).

Elements live in preallocated slots of ``storage`` (``prealloc_init()``): a
slot is ``round_up(key_size, 8) + round_up(value_size, 8)`` bytes, key then
value, for a plain hash, and ``ncpus`` padded values for a per-cpu hash.  A
free list hands slots out; an element keeps its slot while it lives, so a
value pointer given to a program stays valid.

Buckets are ``roundup_pow_of_two(max_entries)`` lists chosen by
``htab_map_hash()`` (jhash with a random seed, or 0 with BPF_F_ZERO_SEED); a
new element goes to the head of its bucket, and get_next_key walks buckets in
order, so iteration order is the kernel's whenever the seed is.
"""

from __future__ import annotations

import bisect
import errno as E
import random

from ..uapi import (
    BPF_EXIST,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_NUMA_NODE,
    BPF_F_ZERO_SEED,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_NOEXIST,
)
from .base import (
    BPF_F_ACCESS_MASK,
    KMALLOC_MAX_SIZE,
    PCPU_MIN_UNIT_SIZE,
    Map,
    check_update_flags,
    flags_access_ok,
    map_err,
    round_up,
)
from .jhash import htab_map_hash

HTAB_CREATE_FLAG_MASK = (
    BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED
)
#: sizeof(struct htab_elem) on x86-64
HTAB_ELEM_SIZE = 48


def roundup_pow_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length() if n > 1 else 1


@Map.register
class HashMap(Map):
    map_types = (BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH)
    lru = False
    #: user-space updates carry every cpu's value; a program's carries only its own
    _onallcpus = True
    percpu_types: tuple[int, ...] = (BPF_MAP_TYPE_PERCPU_HASH,)

    def __init__(self, *args, **kwargs):
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

    def _init_storage(self) -> None:
        self._adjust_max_entries()
        if self.max_entries > 1 << 31:
            raise map_err(E.E2BIG, f"max_entries {self.max_entries} > 2^31")
        self.n_buckets = roundup_pow_of_two(self.max_entries)
        if self.n_buckets > 0xFFFFFFFF // 16:  # sizeof(struct bucket) overflow check
            raise map_err(E.E2BIG, f"max_entries {self.max_entries}: too many buckets")
        self.hashrnd = 0 if self.flags & BPF_F_ZERO_SEED else random.getrandbits(32)
        self.key_stride = round_up(self.key_size, 8)
        self.stride = round_up(self.value_size, 8)
        if self.percpu:
            self.key_stride = 0  # keys of a per-cpu hash are not in program-visible storage
            self.elem_size = self.stride * self.ncpus
        else:
            self.elem_size = self.key_stride + self.stride
        self._alloc_storage(self.elem_size * self.max_entries)
        self.buckets: dict[int, list[int]] = {}
        self.nonempty: list[int] = []  # sorted indices of non-empty buckets
        self.slot_key: list[bytes | None] = [None] * self.max_entries
        self.slot_hash: list[int] = [0] * self.max_entries
        self.key_slot: dict[bytes, int] = {}
        self._init_free()

    def _init_free(self) -> None:
        self.free = list(range(self.max_entries - 1, -1, -1))

    # -- bucket list primitives ------------------------------------------------------------

    def _bucket_of(self, h: int) -> int:
        return h & (self.n_buckets - 1)

    def _link_head(self, slot: int, key: bytes, h: int) -> None:
        """hlist_nulls_add_head_rcu(): a new element is found first in its bucket."""
        self.slot_key[slot] = key
        self.slot_hash[slot] = h
        self.key_slot[key] = slot
        b = self._bucket_of(h)
        lst = self.buckets.get(b)
        if lst is None:
            self.buckets[b] = [slot]
            bisect.insort(self.nonempty, b)
        else:
            lst.insert(0, slot)
        if self.key_stride:
            off = slot * self.elem_size
            self.storage[off : off + self.key_size] = key

    def _unlink(self, slot: int) -> None:
        key = self.slot_key[slot]
        assert key is not None
        b = self._bucket_of(self.slot_hash[slot])
        lst = self.buckets[b]
        lst.remove(slot)
        if not lst:
            del self.buckets[b]
            del self.nonempty[bisect.bisect_left(self.nonempty, b)]
        if self.key_slot.get(key) == slot:
            del self.key_slot[key]
        self.slot_key[slot] = None

    def _move_to_head(self, slot: int) -> None:
        lst = self.buckets[self._bucket_of(self.slot_hash[slot])]
        lst.remove(slot)
        lst.insert(0, slot)

    def _value_base(self, slot: int) -> int:
        return slot * self.elem_size + self.key_stride

    def _write_value(self, slot: int, value: bytes, new: bool = False) -> None:
        off = self._value_base(slot)
        if not self.percpu:
            self.storage[off : off + self.value_size] = value
        elif self._onallcpus:
            # pcpu_copy_value(onallcpus): every cpu's padded value from user space
            self.storage[off : off + self.elem_size] = value
        else:
            # a program's update: this cpu's value; a new element is zeroed elsewhere
            # (pcpu_init_value() clears value_size bytes, leaving the padding)
            if new:
                for c in range(self.ncpus):
                    o = off + c * self.stride
                    self.storage[o : o + self.value_size] = bytes(self.value_size)
            o = off + self.cpu * self.stride
            self.storage[o : o + self.value_size] = value

    def _prog_percpu_update(self, key: bytes, value: bytes, flags: int) -> None:
        self._onallcpus = False
        try:
            self._update(key, value, flags)
        finally:
            self._onallcpus = True

    def _read_value(self, slot: int) -> bytes:
        off = self._value_base(slot)
        if self.percpu:
            return bytes(self.storage[off : off + self.elem_size])
        return bytes(self.storage[off : off + self.value_size])

    # -- ops -----------------------------------------------------------------------------

    def value_offset(self, key: bytes, cpu: int | None = None) -> int | None:
        slot = self.key_slot.get(bytes(key))
        if slot is None:
            return None
        off = self._value_base(slot)
        if self.percpu:
            c = self.cpu if cpu is None else cpu
            if not 0 <= c < self.ncpus:
                raise map_err(E.EINVAL, f"cpu {c} out of range (ncpus {self.ncpus})")
            off += c * self.stride
        return off

    def _lookup(self, key: bytes) -> bytes | None:
        slot = self.key_slot.get(key)
        return None if slot is None else self._read_value(slot)

    def _check_flags(self, exists: bool, flags: int) -> None:
        if exists and flags == BPF_NOEXIST:
            raise map_err(E.EEXIST, "element exists (BPF_NOEXIST)")
        if not exists and flags == BPF_EXIST:
            raise map_err(E.ENOENT, "no such element (BPF_EXIST)")

    def _update(self, key: bytes, value: bytes, flags: int) -> None:
        check_update_flags(flags)
        old = self.key_slot.get(key)
        self._check_flags(old is not None, flags)
        if old is not None:
            self._write_value(old, value)
            if not self.percpu:
                # htab_map_update_elem() links a fresh element at the head, then unlinks
                # the old one; the value stays in its slot here (see module docstring)
                self._move_to_head(old)
            return
        if not self.free:
            raise map_err(E.E2BIG, f"hash map full ({self.max_entries} entries)")
        slot = self.free.pop()
        self._write_value(slot, value, new=True)
        self._link_head(slot, key, htab_map_hash(key, self.hashrnd))

    def _delete(self, key: bytes) -> None:
        slot = self.key_slot.get(key)
        if slot is None:
            raise map_err(E.ENOENT, "no such element")
        self._unlink(slot)
        self._free_slot(slot)

    def _free_slot(self, slot: int) -> None:
        self.free.append(slot)

    def _lookup_and_delete(self, key: bytes) -> bytes:
        slot = self.key_slot.get(key)
        if slot is None:
            raise map_err(E.ENOENT, "no such element")
        value = self._read_value(slot)
        self._delete(key)
        return value

    def _next_key(self, key: bytes | None) -> bytes | None:
        # htab_map_get_next_key(): next in the bucket, else first of a later bucket;
        # an absent key restarts from the first bucket
        start = 0
        if key is not None:
            slot = self.key_slot.get(key)
            if slot is not None:
                b = self._bucket_of(self.slot_hash[slot])
                lst = self.buckets[b]
                i = lst.index(slot)
                if i + 1 < len(lst):
                    return self.slot_key[lst[i + 1]]
                start = b + 1
        j = bisect.bisect_left(self.nonempty, start)
        if j == len(self.nonempty):
            return None
        return self.slot_key[self.buckets[self.nonempty[j]][0]]

    def __len__(self) -> int:
        return len(self.key_slot)

    def _pin_state(self):
        return {"hashrnd": self.hashrnd}, list(reversed(self.items()))

    def _unpin_state(self, extra, records):
        if "hashrnd" in extra:
            self.hashrnd = int(extra["hashrnd"])
        super()._unpin_state(extra, records)
