"""The maps' C library: its sources, the ctypes mirrors of ``bpf_map.h``, the signatures.

Every native map type is C in this directory (map_core.c, hashtab.c, lru_list.c,
arraymap.c, lpm_trie.c, queue_stack.c, ringbuf.c), built once into one library by
:func:`pybpf.native.library` with the bundled zig clang and cached on disk.  The
library is opened as a :class:`ctypes.PyDLL`, so every call holds the GIL: the C
maps do no locking of their own, and Python threads (or an interpreter running a
program) never see a map half-updated.
"""

from __future__ import annotations

import ctypes
from functools import cache
from pathlib import Path

from .. import native

_DIR = Path(__file__).resolve().parent
SOURCES = (
    "map_core.c",
    "hashtab.c",
    "lru_list.c",
    "arraymap.c",
    "lpm_trie.c",
    "queue_stack.c",
    "ringbuf.c",
)
HEADERS = ("bpf_map.h", "map_impl.h", "jhash.h", "lru_list.h")

_u32 = ctypes.c_uint32
_u64 = ctypes.c_uint64
_ptr = ctypes.c_void_p
_long = ctypes.c_long
_buf = ctypes.c_char_p  # a key or value: exact-size bytes (or None for a NULL key)


class MapAttr(ctypes.Structure):
    """struct pybpf_map_attr (map_impl.h): what creating a map takes."""

    _fields_ = [
        ("map_type", _u32),
        ("key_size", _u32),
        ("value_size", _u32),
        ("max_entries", _u32),
        ("map_flags", _u32),
        ("ncpus", _u32),
        ("hashrnd", _u32),
        ("pad", _u32),
    ]


class BpfMap(ctypes.Structure):
    """The public fields of struct pybpf_map (bpf_map.h)."""

    _fields_ = [
        ("ops", _ptr),
        ("map_type", _u32),
        ("key_size", _u32),
        ("value_size", _u32),
        ("max_entries", _u32),
        ("map_flags", _u32),
        ("ncpus", _u32),
        ("storage", _ptr),
        ("storage_size", _u64),
        ("elem_size", _u64),
        ("slot_size", _u64),
        ("value_stride", _u32),
        ("key_stride", _u32),
    ]


class MapOps(ctypes.Structure):
    """struct pybpf_map_ops (bpf_map.h): the function pointers native code calls."""

    _fields_ = [
        ("map_lookup_elem", ctypes.CFUNCTYPE(_ptr, _ptr, _ptr, _u32)),
        ("map_update_elem", ctypes.CFUNCTYPE(_long, _ptr, _ptr, _ptr, _u64, _u32)),
        ("map_delete_elem", ctypes.CFUNCTYPE(_long, _ptr, _ptr, _u32)),
        ("map_push_elem", ctypes.CFUNCTYPE(_long, _ptr, _ptr, _u64)),
        ("map_pop_elem", ctypes.CFUNCTYPE(_long, _ptr, _ptr)),
        ("map_peek_elem", ctypes.CFUNCTYPE(_long, _ptr, _ptr)),
        ("map_lookup_sys", ctypes.CFUNCTYPE(_long, _ptr, _ptr, _ptr, _u32)),
        ("map_update_sys", ctypes.CFUNCTYPE(_long, _ptr, _ptr, _ptr, _u64, _u32)),
        ("map_lookup_and_delete_sys", ctypes.CFUNCTYPE(_long, _ptr, _ptr, _ptr, _u32)),
        ("map_get_next_key", ctypes.CFUNCTYPE(_long, _ptr, _ptr, _ptr)),
        ("ringbuf_reserve", ctypes.CFUNCTYPE(_ptr, _ptr, _u64, _u64)),
        ("ringbuf_submit", ctypes.CFUNCTYPE(_long, _ptr, _ptr, _u64)),
        ("ringbuf_discard", ctypes.CFUNCTYPE(_long, _ptr, _ptr, _u64)),
        ("ringbuf_output", ctypes.CFUNCTYPE(_long, _ptr, _ptr, _u64, _u64)),
        ("ringbuf_query", ctypes.CFUNCTYPE(_u64, _ptr, _u64)),
    ]


class RingbufPos(ctypes.Structure):
    """struct ringbuf_pos (ringbuf.c): the positions producer and consumer share."""

    _fields_ = [
        ("consumer_pos", _u64),
        ("producer_pos", _u64),
        ("pending_pos", _u64),
        ("wakeups", _u64),
    ]


#: name -> (restype, argtypes) of every export pybpf.maps calls
_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "pybpf_map_mem_usage": (_long, [ctypes.POINTER(MapAttr), _ptr, _ptr]),
    "pybpf_map_create": (_ptr, [ctypes.POINTER(MapAttr), _ptr, _u64]),
    "pybpf_map_free": (None, [_ptr]),
    "pybpf_map_count": (_u64, [_ptr]),
    "pybpf_map_lookup_elem": (_ptr, [_ptr, _buf, _u32]),
    "pybpf_map_update_elem": (_long, [_ptr, _buf, _buf, _u64, _u32]),
    "pybpf_map_delete_elem": (_long, [_ptr, _buf, _u32]),
    "pybpf_map_push_elem": (_long, [_ptr, _buf, _u64]),
    "pybpf_map_pop_elem": (_long, [_ptr, _ptr]),
    "pybpf_map_peek_elem": (_long, [_ptr, _ptr]),
    "pybpf_map_lookup_sys": (_long, [_ptr, _buf, _ptr, _u32]),
    "pybpf_map_update_sys": (_long, [_ptr, _buf, _buf, _u64, _u32]),
    "pybpf_map_lookup_and_delete_sys": (_long, [_ptr, _buf, _ptr, _u32]),
    "pybpf_map_get_next_key": (_long, [_ptr, _buf, _ptr]),
    "pybpf_ringbuf_reserve": (_ptr, [_ptr, _u64, _u64]),
    "pybpf_ringbuf_submit": (_long, [_ptr, _ptr, _u64]),
    "pybpf_ringbuf_discard": (_long, [_ptr, _ptr, _u64]),
    "pybpf_ringbuf_output": (_long, [_ptr, _buf, _u64, _u64]),
    "pybpf_ringbuf_query": (_u64, [_ptr, _u64]),
    "pybpf_ringbuf_pos": (ctypes.POINTER(RingbufPos), [_ptr]),
    "pybpf_ringbuf_restore": (_long, [_ptr, _u64, _u64, _u64]),
    "pybpf_queue_stack_state": (_long, [_ptr, _ptr]),
    "pybpf_htab_next_bucket": (ctypes.c_int64, [_ptr, _u64]),
    "pybpf_htab_nr_nonempty": (_u64, [_ptr]),
    "pybpf_htab_nth_bucket": (ctypes.c_int64, [_ptr, _u64]),
    "pybpf_htab_bucket_slots": (ctypes.c_int64, [_ptr, _u64, _ptr, _u64]),
    "pybpf_htab_slot_key": (_long, [_ptr, _u64, _ptr]),
    "pybpf_htab_hashrnd": (_u32, [_ptr]),
    "pybpf_htab_set_hashrnd": (_long, [_ptr, _u32]),
    "pybpf_htab_map_hash": (_u32, [_buf, _u32, _u32]),
}


def library_paths() -> tuple[list[Path], list[Path]]:
    """The C sources and headers of the maps library."""
    return [_DIR / s for s in SOURCES], [_DIR / h for h in HEADERS]


@cache
def lib() -> ctypes.PyDLL:
    """The maps library, built on first use, with every export's signature declared."""
    sources, headers = library_paths()
    built = native.library("pybpf_maps", sources, headers)
    dll = ctypes.PyDLL(built._name)
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(dll, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return dll


def ops_of(map_addr: int) -> MapOps:
    """The ops table of the struct pybpf_map at ``map_addr`` (for calling it as native code
    does)."""
    ops = BpfMap.from_address(map_addr).ops
    return MapOps.from_address(ops)
