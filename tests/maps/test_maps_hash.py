"""HASH / PERCPU_HASH: a dict reference model, bucket order, slots and errnos."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.errors import MapError
from pybpf.maps import HashMap, Map
from pybpf.maps.jhash import htab_map_hash, jhash, jhash2
from pybpf.uapi import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_NO_PREALLOC,
    BPF_F_ZERO_SEED,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_NOEXIST,
)


def errno_of(fn, *a):
    with pytest.raises(MapError) as ei:
        fn(*a)
    return ei.value.errno


def k(i: int) -> bytes:
    return i.to_bytes(4, "little")


def test_jhash_known_values():
    # lookup3's published check values: hashlittle("", 0) and "Four score and seven years ago"
    assert jhash(b"", 0) == 0xDEADBEEF
    assert jhash(b"Four score and seven years ago", 0) == 0x17770551
    assert jhash(b"Four score and seven years ago", 1) == 0xCD628161
    # jhash2 on whole words equals jhash on their little-endian bytes only by construction
    # of the length term; both are what htab_map_hash picks by key size
    assert htab_map_hash(k(7), 0) == jhash2(k(7), 0)
    assert htab_map_hash(b"abc", 0) == jhash(b"abc", 0)


def test_errnos():
    m = Map(BPF_MAP_TYPE_HASH, 4, 8, 2)
    m.update(k(1), bytes(8), BPF_NOEXIST)
    assert errno_of(m.update, k(1), bytes(8), BPF_NOEXIST) == errno.EEXIST
    assert errno_of(m.update, k(2), bytes(8), BPF_EXIST) == errno.ENOENT
    m.update(k(2), bytes(8))
    assert errno_of(m.update, k(3), bytes(8)) == errno.E2BIG  # full
    m.update(k(2), b"x" * 8)  # replacing in a full map is fine
    assert errno_of(m.update, k(1), bytes(8), 3) == errno.EINVAL
    assert errno_of(m.delete, k(9)) == errno.ENOENT
    assert m.lookup_and_delete(k(2)) == b"x" * 8
    assert errno_of(m.lookup_and_delete, k(2)) == errno.ENOENT
    for args in [
        (BPF_MAP_TYPE_HASH, 0, 8, 1),
        (BPF_MAP_TYPE_HASH, 4, 0, 1),
        (BPF_MAP_TYPE_HASH, 4, 8, 0),
        (BPF_MAP_TYPE_HASH, 4, 8, 1, 1 << 10),
    ]:
        assert errno_of(Map, *args) == errno.EINVAL


def test_next_key_semantics():
    m = Map(BPF_MAP_TYPE_HASH, 4, 4, 8, BPF_F_ZERO_SEED)
    for i in range(5):
        m[k(i)] = k(i)
    order = m.keys()
    assert sorted(order) == [k(i) for i in range(5)]
    assert m.next_key(k(99)) == order[0]  # a missing key restarts at the first
    assert m.next_key(order[-1]) is None  # after the last: ENOENT
    # updating an existing key relinks it at the head of its bucket, as the kernel does
    assert m.next_key(None) == order[0]


def test_slots_keep_offsets_and_layout():
    m = Map(BPF_MAP_TYPE_HASH, 4, 4, 4)
    assert isinstance(m, HashMap) and len(m.storage) == 4 * (8 + 8)
    m[k(1)] = b"aaaa"
    off = m.value_offset(k(1))
    m[k(2)] = b"bbbb"
    m[k(1)] = b"cccc"
    assert m.value_offset(k(1)) == off
    assert bytes(m.storage[off : off + 4]) == b"cccc"
    assert bytes(m.storage[off - 8 : off - 4]) == k(1)  # the key sits before its value
    m.storage[off : off + 4] = b"prog"  # a program writing through its value pointer
    assert m[k(1)] == b"prog"
    assert m.value_offset(k(3)) is None
    m.delete(k(1))
    m[k(3)] = b"dddd"  # the freed slot is reused
    assert m.value_offset(k(3)) == off


def test_percpu_hash():
    m = Map(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 2, ncpus=2)
    assert m.percpu and m.user_value_size == 16
    assert errno_of(m.update, k(1), bytes(4)) == errno.EINVAL  # needs all cpus
    m.update_percpu(k(1), [k(10), k(20)])
    m.cpu = 1
    off = m.value_offset(k(1))
    assert bytes(m.storage[off : off + 4]) == k(20)
    assert m.typed("<I", "<I")[1] == [10, 20]
    m.typed("<I", "<I")[1] = [3, 4]
    assert m.lookup_percpu(k(1)) == [k(3), k(4)]


def test_no_prealloc_full():
    m = Map(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_NO_PREALLOC)
    m[k(1)] = k(1)
    assert errno_of(m.update, k(2), k(2)) == errno.E2BIG


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["update", "lookup", "delete", "lad", "next"]),
            st.integers(0, 9),
            st.integers(0, 2**32 - 1),
            st.sampled_from([BPF_ANY, BPF_NOEXIST, BPF_EXIST]),
        ),
        max_size=60,
    ),
    st.booleans(),
)
def test_against_dict_model(ops, zero_seed):
    cap = 6
    m = Map(BPF_MAP_TYPE_HASH, 4, 4, cap, BPF_F_ZERO_SEED if zero_seed else 0)
    model: dict[int, int] = {}
    t = m.typed("<I", "<I")
    for kind, key, v, flags in ops:
        if kind == "update":
            exists = key in model
            if exists and flags == BPF_NOEXIST:
                assert errno_of(t.update, key, v, flags) == errno.EEXIST
            elif not exists and flags == BPF_EXIST:
                assert errno_of(t.update, key, v, flags) == errno.ENOENT
            elif not exists and len(model) == cap:
                assert errno_of(t.update, key, v, flags) == errno.E2BIG
            else:
                t.update(key, v, flags)
                model[key] = v
        elif kind == "lookup":
            assert t.lookup(key) == model.get(key)
        elif kind == "delete":
            if key in model:
                del t[key]
                del model[key]
            else:
                with pytest.raises(KeyError):
                    del t[key]
        elif kind == "lad":
            if key in model:
                assert m.lookup_and_delete(key) == model.pop(key).to_bytes(4, "little")
            else:
                assert errno_of(m.lookup_and_delete, key) == errno.ENOENT
        else:
            nk = t.next_key(key)
            if not model:
                assert nk is None
            else:
                assert nk is None or nk in model
        assert sorted(t) == sorted(model) and len(m) == len(model)
        assert dict(t.items()) == model
