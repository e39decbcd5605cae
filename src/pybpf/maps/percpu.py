"""BPF_MAP_TYPE_PERCPU_ARRAY (kernel/bpf/arraymap.c).

A per-cpu value is ``round_up(value_size, 8)`` bytes per possible cpu; user
space reads and writes all cpus at once (bpf_percpu_array_copy/update), a
program sees only the value of the cpu it runs on (``Map.cpu``).  Storage is
element-major: element ``i``, cpu ``c`` lives at ``(i * ncpus + c) * stride``.
"""

from __future__ import annotations

import errno as E

from ..uapi import BPF_F_NUMA_NODE, BPF_MAP_TYPE_PERCPU_ARRAY
from .array import ArrayBase
from .base import PCPU_MIN_UNIT_SIZE, Map, map_err, round_up


@Map.register
class PercpuArrayMap(ArrayBase):
    map_types = (BPF_MAP_TYPE_PERCPU_ARRAY,)
    percpu = True

    def check_create(self) -> None:
        super().check_create()
        if self.flags & BPF_F_NUMA_NODE:
            raise map_err(E.EINVAL, "BPF_F_NUMA_NODE with a per-cpu array")
        if round_up(self.value_size, 8) > PCPU_MIN_UNIT_SIZE:
            raise map_err(E.E2BIG, f"per-cpu value_size {self.value_size} > {PCPU_MIN_UNIT_SIZE}")

    def _init_storage(self) -> None:
        self.stride = round_up(self.value_size, 8)
        self.elem_size = self.stride * self.ncpus
        self._alloc_storage(self.elem_size * self.max_entries)

    def value_offset(self, key: bytes, cpu: int | None = None) -> int | None:
        i = self.index(bytes(key))
        if i >= self.max_entries:
            return None
        c = self.cpu if cpu is None else cpu
        if not 0 <= c < self.ncpus:
            raise map_err(E.EINVAL, f"cpu {c} out of range (ncpus {self.ncpus})")
        return i * self.elem_size + c * self.stride

    def _lookup(self, key: bytes) -> bytes | None:
        i = self.index(key)
        if i >= self.max_entries:
            return None
        base = i * self.elem_size
        return bytes(self.storage[base : base + self.elem_size])

    def _update(self, key: bytes, value: bytes, flags: int) -> None:
        i = self._check_index_update(key, flags)
        # bpf_percpu_array_update(): copy_map_value_long() per cpu, padding included
        base = i * self.elem_size
        self.storage[base : base + self.elem_size] = value

    def _pin_state(self):
        return {}, [
            (i.to_bytes(4, "little"), self._lookup(i.to_bytes(4, "little")))
            for i in range(self.max_entries)
            if any(self.storage[i * self.elem_size : (i + 1) * self.elem_size])
        ]
