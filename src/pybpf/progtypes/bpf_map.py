"""struct bpf_map as a program reading it through a map pointer sees it (Linux 6.18, x86-64).

Since Linux 5.10 a privileged program may load from a CONST_PTR_TO_MAP register
(``r1 = map ll; r0 = *(u32 *)(r1 + 72)`` reads ``value_size``): the verifier
checks the load against the BTF of the map type's struct, whose first member
is ``struct bpf_map`` (check_ptr_to_map_access, kernel/bpf/verifier.c).
:data:`BPF_MAP_FIELDS` is the layout of the members pybpf models, taken from
the running kernel's BTF; :func:`render_bpf_map` is the bytes of one map's
struct as a program reads them, pointers reading as 0.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from .. import uapi


@dataclass(frozen=True)
class MapMember:
    """One member of struct bpf_map: ``size`` bytes at ``offset``.

    ``pointer``: a pointer, read whole or not at all; ``target``: the struct it
    points to (the loaded register is a BTF pointer), "" for ``void *``.
    """

    name: str
    offset: int
    size: int
    pointer: bool = False
    target: str = ""


#: the members of struct bpf_map up to ``name`` (those after it are locks and counters)
BPF_MAP_FIELDS: tuple[MapMember, ...] = (
    MapMember("sha", 0, 32),
    MapMember("excl", 32, 4),
    MapMember("ops", 40, 8, True, "bpf_map_ops"),
    MapMember("inner_map_meta", 48, 8, True, "bpf_map"),
    MapMember("security", 56, 8, True),
    MapMember("map_type", 64, 4),
    MapMember("key_size", 68, 4),
    MapMember("value_size", 72, 4),
    MapMember("max_entries", 76, 4),
    MapMember("map_extra", 80, 8),
    MapMember("map_flags", 88, 4),
    MapMember("id", 92, 4),
    MapMember("record", 96, 8, True, "btf_record"),
    MapMember("numa_node", 104, 4),
    MapMember("btf_key_type_id", 108, 4),
    MapMember("btf_value_type_id", 112, 4),
    MapMember("btf_vmlinux_value_type_id", 116, 4),
    MapMember("btf", 120, 8, True, "btf"),
    MapMember("objcg", 128, 8, True, "obj_cgroup"),
    MapMember("name", 136, 16),
)
BPF_MAP_IMAGE_SIZE = 152

#: the struct each map type's ops name in map_btf_id (what the verifier's messages call it)
_STRUCT_NAMES = {
    uapi.BPF_MAP_TYPE_ARRAY: "bpf_array",
    uapi.BPF_MAP_TYPE_PERCPU_ARRAY: "bpf_array",
    uapi.BPF_MAP_TYPE_PROG_ARRAY: "bpf_array",
    uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY: "bpf_array",
    uapi.BPF_MAP_TYPE_CGROUP_ARRAY: "bpf_array",
    uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS: "bpf_array",
    uapi.BPF_MAP_TYPE_HASH: "bpf_htab",
    uapi.BPF_MAP_TYPE_PERCPU_HASH: "bpf_htab",
    uapi.BPF_MAP_TYPE_LRU_HASH: "bpf_htab",
    uapi.BPF_MAP_TYPE_LRU_PERCPU_HASH: "bpf_htab",
    uapi.BPF_MAP_TYPE_HASH_OF_MAPS: "bpf_htab",
    uapi.BPF_MAP_TYPE_LPM_TRIE: "lpm_trie",
    uapi.BPF_MAP_TYPE_STACK_TRACE: "bpf_stack_map",
    uapi.BPF_MAP_TYPE_QUEUE: "bpf_queue_stack",
    uapi.BPF_MAP_TYPE_STACK: "bpf_queue_stack",
    uapi.BPF_MAP_TYPE_RINGBUF: "bpf_ringbuf_map",
    uapi.BPF_MAP_TYPE_USER_RINGBUF: "bpf_ringbuf_map",
    uapi.BPF_MAP_TYPE_BLOOM_FILTER: "bpf_bloom_filter",
    uapi.BPF_MAP_TYPE_DEVMAP: "bpf_dtab",
    uapi.BPF_MAP_TYPE_DEVMAP_HASH: "bpf_dtab",
    uapi.BPF_MAP_TYPE_CPUMAP: "bpf_cpu_map",
    uapi.BPF_MAP_TYPE_XSKMAP: "xsk_map",
    uapi.BPF_MAP_TYPE_SOCKMAP: "bpf_stab",
    uapi.BPF_MAP_TYPE_SOCKHASH: "bpf_shtab",
    uapi.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY: "reuseport_array",
    uapi.BPF_MAP_TYPE_SK_STORAGE: "bpf_local_storage_map",
    uapi.BPF_MAP_TYPE_INODE_STORAGE: "bpf_local_storage_map",
    uapi.BPF_MAP_TYPE_TASK_STORAGE: "bpf_local_storage_map",
    uapi.BPF_MAP_TYPE_CGRP_STORAGE: "bpf_local_storage_map",
    uapi.BPF_MAP_TYPE_CGROUP_STORAGE: "bpf_cgroup_storage_map",
    uapi.BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE: "bpf_cgroup_storage_map",
    uapi.BPF_MAP_TYPE_ARENA: "bpf_arena",
}


def map_struct_name(map_type: int) -> str | None:
    """``bpf_array`` for an array map ...; None where the kernel has no map_btf_id."""
    return _STRUCT_NAMES.get(map_type)


def member_at(off: int) -> MapMember | None:
    for m in BPF_MAP_FIELDS:
        if m.offset <= off < m.offset + m.size:
            return m
    return None


def render_bpf_map(m: Any, map_id: int = 0) -> bytes:
    """The first BPF_MAP_IMAGE_SIZE bytes of ``m``'s struct bpf_map (pointers read as 0)."""
    img = bytearray(BPF_MAP_IMAGE_SIZE)
    struct.pack_into(
        "<IIIIQII",
        img,
        64,
        getattr(m, "type", 0),
        m.key_size,
        m.value_size,
        m.max_entries,
        getattr(m, "map_extra", 0),
        getattr(m, "flags", 0),
        map_id,
    )
    struct.pack_into("<i", img, 104, -1)
    name = (getattr(m, "name", "") or "").encode()[:15]
    img[136 : 136 + len(name)] = name
    return bytes(img)
