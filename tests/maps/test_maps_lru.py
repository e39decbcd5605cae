"""LRU_HASH / LRU_PERCPU_HASH: eviction instead of E2BIG, referenced entries survive.

Exact eviction order against the kernel is checked in test_maps_kernel.py;
these tests need no kernel.
"""

from __future__ import annotations

import errno

import pytest

from pybpf.errors import MapError
from pybpf.maps import LruHashMap, Map
from pybpf.uapi import (
    BPF_EXIST,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_LRU_PERCPU_HASH,
    BPF_NOEXIST,
)


def k(i: int) -> bytes:
    return i.to_bytes(8, "little")


@pytest.mark.parametrize("flags", [0, BPF_F_NO_COMMON_LRU])
def test_full_lru_evicts_instead_of_e2big(flags):
    m = Map(BPF_MAP_TYPE_LRU_HASH, 8, 8, 64, flags, ncpus=2)
    assert isinstance(m, LruHashMap)
    for i in range(1000):
        m[k(i)] = k(i)
    assert 0 < len(m) <= m.max_entries
    assert m[k(999)] == k(999)  # the newest element is always there
    for key, value in m.items():
        assert key == value


def test_referenced_entries_survive():
    m = Map(BPF_MAP_TYPE_LRU_HASH, 8, 8, 256, ncpus=2)
    hot = [k(i) for i in range(16)]
    for key in hot:
        m[key] = key
    for i in range(100, 3000):
        for key in hot:
            m.value_offset(key)  # what bpf_map_lookup_elem() from a program does
        m[k(i)] = k(i)
    assert all(key in m for key in hot)
    assert len(m) <= 256


def test_user_lookup_does_not_refresh():
    m = Map(BPF_MAP_TYPE_LRU_HASH, 8, 8, 8, ncpus=1)
    for i in range(8):
        m[k(i)] = k(i)
    for _ in range(3):
        assert m.lookup(k(0)) == k(0)  # BPF_MAP_LOOKUP_ELEM leaves the ref bit alone
    for i in range(8, 16):
        m[k(i)] = k(i)
    assert k(0) not in m


def test_flags_and_create_checks():
    m = Map(BPF_MAP_TYPE_LRU_HASH, 8, 8, 4, ncpus=1)
    m[k(1)] = k(1)
    with pytest.raises(MapError) as ei:
        m.update(k(1), k(1), BPF_NOEXIST)
    assert ei.value.errno == errno.EEXIST
    with pytest.raises(MapError) as ei:
        m.update(k(2), k(2), BPF_EXIST)
    assert ei.value.errno == errno.ENOENT
    with pytest.raises(MapError) as ei:
        Map(BPF_MAP_TYPE_LRU_HASH, 8, 8, 4, BPF_F_NO_PREALLOC)
    assert ei.value.errno == 524  # ENOTSUPP


def test_no_common_lru_rounds_max_entries():
    m = Map(BPF_MAP_TYPE_LRU_HASH, 8, 8, 5, BPF_F_NO_COMMON_LRU, ncpus=2)
    assert m.max_entries == 6


def test_lru_percpu_hash_values():
    m = Map(BPF_MAP_TYPE_LRU_PERCPU_HASH, 8, 4, 4, ncpus=2)
    m.update_percpu(k(1), [b"aaaa", b"bbbb"])
    off = m.value_offset(k(1))
    m.update_percpu(k(1), [b"cccc", b"dddd"])
    assert m.value_offset(k(1)) == off  # per-cpu LRU values are updated in place
    assert m.lookup_percpu(k(1)) == [b"cccc", b"dddd"]
    for i in range(2, 50):
        m.update_percpu(k(i), [b"xxxx", b"yyyy"])
    assert len(m) <= 4
