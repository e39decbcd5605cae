"""BPF maps in user space: every type the seed's programs use, laid out as the kernel lays them out.

``Map(type, key_size, value_size, max_entries, flags=0, name="")`` returns the
subclass for ``type``; :func:`create_map` builds one from a MapSpec;
:func:`map_by_fd` resolves the fake fd a map carries (BPF_LD_MAP_FD).
"""

from __future__ import annotations

import re

from ..fdtable import FdTable
from . import array, hash, lpm, lru, percpu, prog_array, queue, ringbuf  # noqa: F401
from .array import ArrayMap
from .base import Map, TypedView, map_by_fd, possible_cpus
from .hash import HashMap
from .lpm import LpmTrieMap
from .lru import LruHashMap
from .percpu import PercpuArrayMap
from .pin import pin_map
from .prog_array import ProgArrayMap
from .queue import QueueStackMap
from .ringbuf import RingBufMap

open_pinned = Map.open_pinned

__all__ = [
    "ArrayMap",
    "HashMap",
    "LpmTrieMap",
    "LruHashMap",
    "Map",
    "PercpuArrayMap",
    "ProgArrayMap",
    "QueueStackMap",
    "RingBufMap",
    "TypedView",
    "create_map",
    "map_by_fd",
    "open_pinned",
    "pin_map",
    "possible_cpus",
]


def create_map(spec, fds: FdTable | None = None) -> Map:
    """Create a map from a :class:`pybpf.spec.types.MapSpec`: attributes, initial contents, freeze.

    The name is cut to the kernel's 15 characters and characters bpf() refuses
    become ``_`` (as libbpf does for names such as ``.rodata``-derived ones).
    """
    name = re.sub(r"[^A-Za-z0-9_.]", "_", spec.name or "")[:15]
    m = Map(spec.type, spec.key_size, spec.value_size, spec.max_entries, spec.flags, name, fds=fds)
    init = spec.initial
    if isinstance(init, bytes | bytearray):
        # a global data section: one value at index 0
        m.update((0).to_bytes(m.key_size, "little"), bytes(init).ljust(m.value_size, b"\0"))
    elif isinstance(init, dict):
        for k, v in init.items():
            m.update(k, v)
    if spec.frozen:
        m.freeze()
    return m
