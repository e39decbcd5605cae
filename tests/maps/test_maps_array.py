"""ARRAY / PERCPU_ARRAY / PROG_ARRAY semantics, the common Map face, typed views and fds."""

from __future__ import annotations

import ctypes
import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.asm.macros import BPF_EXIT_INSN, BPF_MOV64_IMM
from pybpf.errors import MapError
from pybpf.maps import ArrayMap, Map, PercpuArrayMap, map_by_fd
from pybpf.uapi import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_RDONLY,
    BPF_F_WRONLY,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_NOEXIST,
)
from pybpf.user.program import Program


def k(i: int) -> bytes:
    return i.to_bytes(4, "little")


def errno_of(fn, *a):
    with pytest.raises(MapError) as ei:
        fn(*a)
    return ei.value.errno


def test_factory_returns_subclass_and_attributes():
    m = Map(BPF_MAP_TYPE_ARRAY, 4, 12, 3, name="counts")
    assert isinstance(m, ArrayMap)
    assert (m.type, m.key_size, m.value_size, m.max_entries, m.flags, m.name) == (
        BPF_MAP_TYPE_ARRAY,
        4,
        12,
        3,
        0,
        "counts",
    )
    assert isinstance(Map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1), PercpuArrayMap)


def test_array_errnos():
    m = Map(BPF_MAP_TYPE_ARRAY, 4, 8, 4)
    assert m.lookup(k(4)) is None  # ENOENT on lookup past the end
    assert errno_of(m.update, k(4), bytes(8)) == errno.E2BIG
    assert errno_of(m.update, k(0), bytes(8), BPF_NOEXIST) == errno.EEXIST
    m.update(k(0), bytes(8), BPF_EXIST)
    assert errno_of(m.update, k(0), bytes(8), 3) == errno.EINVAL
    assert errno_of(m.update, k(0), bytes(8), 4) == errno.EINVAL  # BPF_F_LOCK, no spin lock
    assert errno_of(m.delete, k(0)) == errno.EINVAL
    assert errno_of(m.update, k(0), bytes(7)) == errno.EINVAL  # wrong value size
    assert errno_of(m.lookup, b"\0\0") == errno.EINVAL  # wrong key size
    assert errno_of(m.lookup_and_delete, k(0)) == 524  # ENOTSUPP


def test_array_next_key():
    m = Map(BPF_MAP_TYPE_ARRAY, 4, 8, 3)
    assert m.next_key(None) == k(0)
    assert m.next_key(k(0)) == k(1)
    assert m.next_key(k(2)) is None
    assert m.next_key(k(99)) == k(0)
    assert list(m) == [k(0), k(1), k(2)]
    assert len(m) == 3


def test_create_validation():
    for args in [
        (BPF_MAP_TYPE_ARRAY, 8, 8, 1),
        (BPF_MAP_TYPE_ARRAY, 4, 0, 1),
        (BPF_MAP_TYPE_ARRAY, 4, 8, 0),
        (BPF_MAP_TYPE_ARRAY, 4, 8, 1, 1),
        (BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1, 1 << 10),
    ]:
        assert errno_of(Map, *args) == errno.EINVAL
    assert errno_of(Map, BPF_MAP_TYPE_PERCPU_ARRAY, 4, 40000, 1) == errno.E2BIG
    assert errno_of(Map, BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0, "bad-name") == errno.EINVAL
    assert errno_of(Map, BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0, "x" * 16) == errno.EINVAL
    assert errno_of(Map, 9999, 4, 8, 1) == errno.EINVAL


def test_storage_layout_and_value_offset():
    m = Map(BPF_MAP_TYPE_ARRAY, 4, 5, 3)
    assert len(m.storage) == 3 * 8  # value_size rounded up to 8 per element
    m[2] = b"hello"
    off = m.value_offset(k(2))
    assert off == 16 and bytes(m.storage[off : off + 5]) == b"hello"
    m.storage[0:5] = b"abcde"  # a program's store is what user space reads
    assert m[0] == b"abcde"
    assert m.value_offset(k(3)) is None


def test_dict_face():
    m = Map(BPF_MAP_TYPE_ARRAY, 4, 4, 2)
    m[1] = 7
    assert m[1] == (7).to_bytes(4, "little")
    assert 1 in m and 5 not in m
    with pytest.raises(KeyError):
        m[5]
    assert dict(m.items())[k(1)] == (7).to_bytes(4, "little")
    assert m.values()[0] == bytes(4)


def test_typed_views_struct_and_ctypes():
    m = Map(BPF_MAP_TYPE_ARRAY, 4, 16, 2)
    t = m.typed(key="<I", value="<QQ")
    t[1] = (5, 6)
    assert t[1] == (5, 6)
    assert t.items() == [(0, (0, 0)), (1, (5, 6))]

    class Val(ctypes.Structure):
        _fields_ = [("packets", ctypes.c_uint64), ("bytes", ctypes.c_uint64)]

    c = m.typed(key=ctypes.c_uint32, value=Val)
    v = c[1]
    assert (v.packets, v.bytes) == (5, 6)
    c[0] = Val(1, 2)
    assert m[0] == (1).to_bytes(8, "little") + (2).to_bytes(8, "little")
    with pytest.raises(MapError):
        m.typed(value="<I")  # 4 bytes for a 16-byte value


def test_percpu_array_values_per_cpu():
    m = Map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 2, ncpus=3)
    assert m.user_value_size == 24
    m.update_percpu(k(1), [b"\1\0\0\0", b"\2\0\0\0", b"\3\0\0\0"])
    assert m.lookup_percpu(k(1)) == [b"\1\0\0\0", b"\2\0\0\0", b"\3\0\0\0"]
    m.cpu = 2
    off = m.value_offset(k(1))
    assert bytes(m.storage[off : off + 4]) == b"\3\0\0\0"
    assert m.typed("<I", "<I")[1] == [1, 2, 3]
    m.typed("<I", "<I")[0] = 9  # the same value on every cpu
    assert m.typed("<I", "<I")[0] == [9, 9, 9]


def test_fd_table():
    m = Map(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    n = Map(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    assert m.fd != n.fd and map_by_fd(m.fd) is m
    m.close()
    assert errno_of(map_by_fd, m.fd) == errno.EBADF


def test_access_flags_and_freeze():
    ro = Map(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY)
    assert errno_of(ro.update, 0, 1) == errno.EPERM
    assert ro.lookup(0) == bytes(4)
    wo = Map(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_WRONLY)
    assert errno_of(wo.lookup, 0) == errno.EPERM
    m = Map(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    m.freeze()
    assert errno_of(m.update, 0, 1) == errno.EPERM


def test_prog_array():
    m = Map(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4)
    prog = Program([BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()])
    m[1] = prog
    assert m.get_prog(1) is prog and m.get_prog(0) is None and m.get_prog(9) is None
    assert m[1] == prog.fd.to_bytes(4, "little")
    assert errno_of(m.update, 0, prog.fd, BPF_NOEXIST) == errno.EINVAL
    assert errno_of(m.update, 9, prog.fd, BPF_ANY) == errno.E2BIG
    assert errno_of(m.update, 0, 12345) == errno.EBADF
    m.delete(1)
    assert errno_of(m.delete, 1) == errno.ENOENT
    assert errno_of(Map, BPF_MAP_TYPE_PROG_ARRAY, 4, 8, 4) == errno.EINVAL


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["update", "lookup", "delete"]),
            st.integers(0, 7),
            st.integers(0, 2**32 - 1),
            st.sampled_from([0, 1, 2, 3]),
        ),
        max_size=50,
    )
)
def test_array_against_dict_model(ops):
    m = Map(BPF_MAP_TYPE_ARRAY, 4, 4, 5)
    model = {i: 0 for i in range(5)}
    for kind, i, v, flags in ops:
        if kind == "update":
            if flags == 3:
                exp = errno.EINVAL
            elif i >= 5:
                exp = errno.E2BIG
            elif flags == BPF_NOEXIST:
                exp = errno.EEXIST
            else:
                exp = None
            if exp is None:
                m.update(i, v, flags)
                model[i] = v
            else:
                assert errno_of(m.update, i, v, flags) == exp
        elif kind == "lookup":
            got = m.typed("<I", "<I").lookup(i)
            assert got == model.get(i)
        else:
            assert errno_of(m.delete, i) == errno.EINVAL


def test_create_map_from_spec():
    from pybpf.maps import create_map
    from pybpf.spec.types import MapSpec

    m = create_map(
        MapSpec(
            name="prog.rodata-with-long-name",
            type=BPF_MAP_TYPE_ARRAY,
            key_size=4,
            value_size=8,
            max_entries=1,
            initial=b"abc",
            frozen=True,
        )
    )
    assert m.name == "prog.rodata_wit" and m[0] == b"abc" + bytes(5)
    assert errno_of(m.update, 0, 1) == errno.EPERM  # frozen, as libbpf freezes .rodata
    h = create_map(
        MapSpec(name="h", type=1, key_size=4, value_size=4, max_entries=4, initial={k(1): k(2)})
    )
    assert h[k(1)] == k(2)


def test_bad_typed_values_are_map_errors():
    t = Map(BPF_MAP_TYPE_ARRAY, 4, 4, 1).typed("<I", "<I")
    assert errno_of(t.update, 0, -1) == errno.EINVAL
    assert errno_of(t.update, 0, "text") == errno.EINVAL
