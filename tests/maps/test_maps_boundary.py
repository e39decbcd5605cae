"""Fuzzing the Python boundary of the C maps: nothing bad may reach C.

Random attributes, keys, values, flags, cpus, sizes and sample offsets -- of the
right size and type, of the wrong ones, or not bytes at all -- go to every public
method of every map type.  Each call either works or raises MapError (KeyError
from the dict face); never another exception, never a crash.  After each call
the map is still consistent: its keys are distinct, each is found, and there
are no more than max_entries of them.
"""

from __future__ import annotations

import ctypes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.errors import MapError, NotSupportedError
from pybpf.maps import Map, clib
from pybpf.uapi import (
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_ZERO_SEED,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_LPM_TRIE,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_LRU_PERCPU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_MAP_TYPE_QUEUE,
    BPF_MAP_TYPE_RINGBUF,
    BPF_MAP_TYPE_STACK,
)

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NATIVE_TYPES = [
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_LRU_PERCPU_HASH,
    BPF_MAP_TYPE_LPM_TRIE,
    BPF_MAP_TYPE_QUEUE,
    BPF_MAP_TYPE_STACK,
    BPF_MAP_TYPE_RINGBUF,
]
#: sizes around every limit the map types check (all allocate little or fail fast)
EDGES = [0, 1, 2, 3, 4, 5, 8, 12, 13, 16, 255, 256, 260, 261, 4096, 8192]
EDGES += [1 << 31, (1 << 31) + 1, (1 << 32) - 1, 1 << 32, -1]

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(1 << 70), 1 << 70),
    st.floats(allow_nan=True),
    st.text(max_size=4),
    st.lists(st.integers(0, 3), max_size=3),
    st.binary(max_size=40),
    st.binary(max_size=20).map(bytearray),
    st.binary(max_size=20).map(memoryview),
    st.integers(0, 1 << 32).map(lambda v: ctypes.c_uint32(v & 0xFFFFFFFF)),
    st.binary(min_size=8, max_size=8).map(lambda b: (ctypes.c_char * 8).from_buffer_copy(b)),
)


def allowed(fn, *args):
    try:
        return fn(*args)
    except (MapError, NotSupportedError, KeyError):
        return None


def sized(size: int):
    """Mostly right-sized bytes (so calls reach C), sometimes ints or junk."""
    return st.one_of(
        st.binary(min_size=size, max_size=size),
        st.binary(min_size=size, max_size=size),
        st.integers(-(1 << 65), 1 << 65),
        junk,
    )


@SETTINGS
@given(
    mtype=st.one_of(st.sampled_from(NATIVE_TYPES), junk),
    ks=st.sampled_from(EDGES),
    vs=st.sampled_from(EDGES),
    me=st.sampled_from(EDGES),
    flags=st.one_of(
        st.sampled_from([0, BPF_F_NO_PREALLOC, BPF_F_NO_COMMON_LRU, BPF_F_ZERO_SEED, 1 << 12]),
        st.integers(-5, 1 << 33),
        junk,
    ),
    ncpus=st.one_of(st.none(), st.integers(-1, 5), st.just(1 << 20), junk),
    name=st.one_of(st.text(max_size=20), junk),
)
def test_create_refuses_with_map_errors(mtype, ks, vs, me, flags, ncpus, name):
    m = allowed(lambda: Map(mtype, ks, vs, me, flags, name, ncpus=ncpus))
    if m is not None and m.native:
        assert len(m.storage) == clib.BpfMap.from_address(m.native).storage_size


def _map_for(mtype: int, ncpus: int) -> Map:
    if mtype == BPF_MAP_TYPE_LPM_TRIE:
        return Map(mtype, 8, 5, 6, BPF_F_NO_PREALLOC, ncpus=ncpus)
    if mtype in (BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK):
        return Map(mtype, 0, 5, 4, ncpus=ncpus)
    if mtype == BPF_MAP_TYPE_RINGBUF:
        return Map(mtype, 0, 0, 4096, ncpus=ncpus)
    if mtype in (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY):
        return Map(mtype, 4, 5, 6, ncpus=ncpus)
    return Map(mtype, 3, 5, 6, ncpus=ncpus)


@st.composite
def calls(draw, m: Map):
    ks, vs, uvs = m.key_size, m.value_size, m.user_value_size
    flags = draw(st.one_of(st.integers(0, 4), st.integers(-(1 << 65), 1 << 65), junk))
    cpu = draw(st.one_of(st.integers(-1, m.ncpus), junk))
    key, value, uvalue = draw(sized(ks)), draw(sized(vs)), draw(sized(uvs))
    size = draw(st.one_of(st.integers(0, 5000), st.integers(-(1 << 65), 1 << 65), junk))
    name = draw(
        st.sampled_from(
            [
                "lookup", "update", "delete", "next_key", "lookup_and_delete",
                "value_offset", "prog_update", "prog_delete", "lookup_percpu",
                "update_percpu", "getitem", "setitem", "delitem", "contains", "cpu",
                "push", "pop", "peek", "prog_push", "prog_pop", "reserve", "submit",
                "discard", "output", "query", "typed", "items",
            ]
        )
    )  # fmt: skip
    percpu_vals = draw(st.one_of(st.lists(sized(vs), max_size=4), junk))
    table = {
        "lookup": (m.lookup, key),
        "update": (m.update, key, uvalue, flags),
        "delete": (m.delete, key),
        "next_key": (m.next_key, key),
        "lookup_and_delete": (m.lookup_and_delete, key),
        "value_offset": (m.value_offset, key, cpu),
        "prog_update": (m.prog_update, key, value, flags),
        "prog_delete": (m.prog_delete, key),
        "lookup_percpu": (m.lookup_percpu, key),
        "update_percpu": (m.update_percpu, key, percpu_vals, flags),
        "getitem": (m.__getitem__, key),
        "setitem": (m.__setitem__, key, uvalue),
        "delitem": (m.__delitem__, key),
        "contains": (m.__contains__, key),
        "cpu": (setattr, m, "cpu", cpu),
        "items": (m.items,),
        "typed": (lambda k, v: m.typed("<I" if ks == 4 else None).update(k, v), key, uvalue),
    }
    for qname in ("push", "pop", "peek", "prog_push", "prog_pop"):
        fn = getattr(m, qname, None)
        if fn is not None:
            table[qname] = (fn, value, flags) if "push" in qname else (fn,)
    for rname in ("reserve", "submit", "discard", "output", "query"):
        fn = getattr(m, rname, None)
        if fn is not None:
            arg = value if rname == "output" else size
            table[rname] = (fn, arg, flags) if rname != "query" else (fn, flags)
    return table.get(name, (m.lookup, key))


@settings(SETTINGS, max_examples=60)
@given(data=st.data(), mtype=st.sampled_from(NATIVE_TYPES), ncpus=st.integers(1, 3))
def test_every_method_takes_any_argument(data, mtype, ncpus):
    calls_on(data, mtype, ncpus)


@pytest.mark.slow
@settings(SETTINGS, max_examples=1500)
@given(data=st.data(), mtype=st.sampled_from(NATIVE_TYPES), ncpus=st.integers(1, 3))
def test_every_method_takes_any_argument_long(data, mtype, ncpus):
    calls_on(data, mtype, ncpus)


def calls_on(data, mtype: int, ncpus: int) -> None:
    """Up to 30 random calls on a fresh map, checking it after each."""
    m = _map_for(mtype, ncpus)
    for _ in range(data.draw(st.integers(1, 30))):
        fn, *args = data.draw(calls(m))
        allowed(fn, *args)
        if mtype in (BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK):
            assert len(m) == len(m.values()) <= m.max_entries
        elif mtype == BPF_MAP_TYPE_RINGBUF:
            assert 0 <= len(m) <= m.max_entries
            m.consume()
        else:
            keys = m.keys()
            assert len(set(keys)) == len(keys) <= m.max_entries
            assert all(m.lookup(k) is not None for k in keys)
            if mtype not in (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY):
                assert len(keys) == len(m)
