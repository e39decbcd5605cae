"""BPF_MAP_TYPE_PERCPU_ARRAY (kernel/bpf/arraymap.c; the C is arraymap.c).

A per-cpu value is ``round_up(value_size, 8)`` bytes per possible cpu; user
space reads and writes all cpus at once (bpf_percpu_array_copy/update), a
program sees only the value of the cpu it runs on (``Map.cpu``).  Storage is
element-major: element ``i``, cpu ``c`` lives at ``(i * ncpus + c) * stride``.
"""

from __future__ import annotations

import errno as E

from ..uapi import BPF_F_NUMA_NODE, BPF_MAP_TYPE_PERCPU_ARRAY
from .array import ARRAY_MESSAGES, ArrayBase
from .base import PCPU_MIN_UNIT_SIZE, Map, map_err, round_up
from .native_map import NativeMap


@Map.register
class PercpuArrayMap(NativeMap, ArrayBase):
    map_types = (BPF_MAP_TYPE_PERCPU_ARRAY,)
    percpu = True
    messages = ARRAY_MESSAGES

    def check_create(self) -> None:
        super().check_create()
        if self.flags & BPF_F_NUMA_NODE:
            raise map_err(E.EINVAL, "BPF_F_NUMA_NODE with a per-cpu array")
        if round_up(self.value_size, 8) > PCPU_MIN_UNIT_SIZE:
            raise map_err(E.E2BIG, f"per-cpu value_size {self.value_size} > {PCPU_MIN_UNIT_SIZE}")

    def _pin_state(self):
        return {}, [
            (i.to_bytes(4, "little"), self._lookup(i.to_bytes(4, "little")))
            for i in range(self.max_entries)
            if any(self.storage[i * self.elem_size : (i + 1) * self.elem_size])
        ]
