"""BPF_MAP_TYPE_ARRAY (kernel/bpf/arraymap.c).

Every element exists from creation and holds zeros; the key is a u32 index.
Storage is ``max_entries`` values of ``round_up(value_size, 8)`` bytes, as
``struct bpf_array`` lays out ``value[]``.
"""

from __future__ import annotations

import errno as E

from ..uapi import (
    BPF_F_INNER_MAP,
    BPF_F_LOCK,
    BPF_F_MMAPABLE,
    BPF_F_NUMA_NODE,
    BPF_F_PRESERVE_ELEMS,
    BPF_MAP_TYPE_ARRAY,
    BPF_NOEXIST,
)
from .base import (
    BPF_F_ACCESS_MASK,
    Map,
    check_update_flags,
    flags_access_ok,
    map_err,
    round_up,
)

INT_MAX = (1 << 31) - 1
ARRAY_CREATE_FLAG_MASK = (
    BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_ACCESS_MASK | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP
)


class ArrayBase(Map):
    """What ARRAY, PERCPU_ARRAY and PROG_ARRAY share: u32 index keys, next_key by index."""

    def check_create(self) -> None:
        # array_map_alloc_check()
        if (
            self.max_entries == 0
            or self.key_size != 4
            or self.value_size == 0
            or self.flags & ~ARRAY_CREATE_FLAG_MASK
            or not flags_access_ok(self.flags)
        ):
            raise map_err(
                E.EINVAL,
                f"bad {self.type_name} attributes: key_size must be 4, "
                f"value_size and max_entries > 0, flags {self.flags:#x}",
            )
        if self.flags & BPF_F_MMAPABLE and self.type != BPF_MAP_TYPE_ARRAY:
            raise map_err(E.EINVAL, "BPF_F_MMAPABLE is for BPF_MAP_TYPE_ARRAY only")
        if self.flags & BPF_F_PRESERVE_ELEMS:
            raise map_err(E.EINVAL, "BPF_F_PRESERVE_ELEMS is for perf event arrays only")
        if self.value_size > INT_MAX:
            # array_map_alloc_check(): vmalloc sizes are ints
            raise map_err(E.E2BIG, f"value_size {self.value_size} > INT_MAX")

    def index(self, key: bytes) -> int:
        return int.from_bytes(key, "little")

    def _next_key(self, key: bytes | None) -> bytes | None:
        # array_map_get_next_key(): a missing or out-of-range key restarts at 0
        i = self.index(key) if key is not None else self.max_entries
        if i >= self.max_entries:
            return (0).to_bytes(4, "little")
        if i == self.max_entries - 1:
            return None
        return (i + 1).to_bytes(4, "little")

    def _delete(self, key: bytes) -> None:
        raise map_err(E.EINVAL, f"{self.type_name} elements cannot be deleted")

    def _check_index_update(self, key: bytes, flags: int) -> int:
        # array_map_update_elem(): flags, then the index, then NOEXIST, then BPF_F_LOCK
        # (bpf() refuses BPF_F_LOCK earlier; a program's call gets here)
        check_update_flags(flags & ~BPF_F_LOCK)
        i = self.index(key)
        if i >= self.max_entries:
            raise map_err(E.E2BIG, f"index {i} >= max_entries {self.max_entries}")
        if flags & BPF_NOEXIST:
            raise map_err(E.EEXIST, f"array element {i} always exists (BPF_NOEXIST)")
        if flags & BPF_F_LOCK:
            raise map_err(E.EINVAL, "BPF_F_LOCK on a map value without bpf_spin_lock")
        return i

    def __len__(self) -> int:
        return self.max_entries


@Map.register
class ArrayMap(ArrayBase):
    map_types = (BPF_MAP_TYPE_ARRAY,)

    def _init_storage(self) -> None:
        self.elem_size = round_up(self.value_size, 8)
        self._alloc_storage(self.elem_size * self.max_entries)

    def value_offset(self, key: bytes) -> int | None:
        i = self.index(bytes(key))
        if i >= self.max_entries:
            return None
        return i * self.elem_size

    def _lookup(self, key: bytes) -> bytes | None:
        off = self.value_offset(key)
        if off is None:
            return None
        return bytes(self.storage[off : off + self.value_size])

    def _update(self, key: bytes, value: bytes, flags: int) -> None:
        i = self._check_index_update(key, flags)
        off = i * self.elem_size
        self.storage[off : off + self.value_size] = value

    def _pin_state(self):
        return {}, [
            (i.to_bytes(4, "little"), self._lookup(i.to_bytes(4, "little")))
            for i in range(self.max_entries)
            if any(self.storage[i * self.elem_size : (i + 1) * self.elem_size])
        ]
