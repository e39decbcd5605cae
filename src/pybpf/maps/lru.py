"""BPF_MAP_TYPE_LRU_HASH and LRU_PERCPU_HASH (kernel/bpf/hashtab.c, bpf_lru_list.c).

A full LRU map evicts instead of failing.  Which element goes is decided by the
kernel's approximate LRU, reproduced list for list in C (lru_list.c, used by
hashtab.c) so that eviction order matches a kernel map driven from one cpu:

* common LRU (default): global ACTIVE / INACTIVE / FREE lists plus, per cpu,
  a local FREE and a local PENDING list;
* BPF_F_NO_COMMON_LRU: one ACTIVE / INACTIVE / FREE set per cpu, each owning
  ``max_entries / ncpus`` nodes (max_entries is rounded up to a multiple of ncpus).

The ref bit is set by a program's lookup (``value_offset``) and by updating an
existing element; a lookup from user space (BPF_MAP_LOOKUP_ELEM) leaves it.
Insertions use the lists of ``self.cpu``.  As in htab_lru_map_update_elem(),
updating an existing LRU_HASH element takes a fresh node (its value moves to a
new slot and the old node is freed); LRU_PERCPU_HASH updates in place.
"""

from __future__ import annotations

import errno as E

from ..uapi import BPF_F_NO_COMMON_LRU, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH
from .base import Map
from .hash import HashMap


@Map.register
class LruHashMap(HashMap):
    map_types = (BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH)
    percpu_types = (BPF_MAP_TYPE_LRU_PERCPU_HASH,)
    lru = True
    messages = {
        **HashMap.messages,
        ("update", E.ENOMEM): "no LRU node could be freed",
    }

    def _adjust_max_entries(self) -> None:
        if self.flags & BPF_F_NO_COMMON_LRU:
            # each cpu's list gets the same number of nodes, at least one
            n, c = self.max_entries, self.ncpus
            up = (n + c - 1) // c * c
            self.max_entries = up if up <= 0xFFFFFFFF else n // c * c
