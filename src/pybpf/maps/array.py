"""BPF_MAP_TYPE_ARRAY (kernel/bpf/arraymap.c).

Every element exists from creation and holds zeros; the key is a u32 index.
Storage is ``max_entries`` values of ``round_up(value_size, 8)`` bytes, as
``struct bpf_array`` lays out ``value[]``; the operations are C (arraymap.c).
"""

from __future__ import annotations

import errno as E

from ..uapi import (
    BPF_F_INNER_MAP,
    BPF_F_MMAPABLE,
    BPF_F_NUMA_NODE,
    BPF_F_PRESERVE_ELEMS,
    BPF_MAP_TYPE_ARRAY,
)
from .base import BPF_F_ACCESS_MASK, Map, flags_access_ok, map_err
from .native_map import NativeMap

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


#: what a failed op on an array says
ARRAY_MESSAGES = {
    ("update", E.EINVAL): "bad update flags {flags:#x} (BPF_F_LOCK needs a bpf_spin_lock)",
    ("update", E.E2BIG): "index {index} >= max_entries {max_entries}",
    ("update", E.EEXIST): "array element {index} always exists (BPF_NOEXIST)",
    ("delete", E.EINVAL): "array elements cannot be deleted",
    ("lookup_and_delete", 524): "arrays have no lookup_and_delete (ENOTSUPP)",
}


@Map.register
class ArrayMap(NativeMap, ArrayBase):
    """Values in C (arraymap.c); ``elem_size`` is ``round_up(value_size, 8)``, the stride a
    program's inline lookup (array_map_gen_lookup) uses."""

    map_types = (BPF_MAP_TYPE_ARRAY,)
    messages = ARRAY_MESSAGES

    def _pin_state(self):
        return {}, [
            (i.to_bytes(4, "little"), self._lookup(i.to_bytes(4, "little")))
            for i in range(self.max_entries)
            if any(self.storage[i * self.elem_size : (i + 1) * self.elem_size])
        ]
