"""QUEUE and STACK: push/pop/peek, BPF_EXIST replacing the oldest, errnos."""

from __future__ import annotations

import collections
import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.errors import MapError
from pybpf.maps import Map
from pybpf.uapi import BPF_EXIST, BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK, BPF_NOEXIST


def errno_of(fn, *a):
    with pytest.raises(MapError) as ei:
        fn(*a)
    return ei.value.errno


def v(i: int) -> bytes:
    return i.to_bytes(4, "little")


def test_queue_fifo_and_errnos():
    q = Map(BPF_MAP_TYPE_QUEUE, 0, 4, 2)
    assert q.peek() is None and q.pop() is None
    assert errno_of(q.lookup_and_delete) == errno.ENOENT
    q.push(v(1))
    q.push(v(2))
    assert errno_of(q.push, v(3)) == errno.E2BIG
    assert errno_of(q.push, v(3), BPF_NOEXIST) == errno.EINVAL
    q.push(v(3), BPF_EXIST)  # drops the oldest
    assert q.values() == [v(2), v(3)]
    assert q.peek() == v(2) and q.pop() == v(2) and q.pop() == v(3) and q.pop() is None
    assert errno_of(q.delete, b"") == errno.EINVAL
    assert errno_of(q.next_key, None) == errno.EINVAL


def test_stack_lifo_and_exist():
    s = Map(BPF_MAP_TYPE_STACK, 0, 4, 2)
    s.update(None, v(1))
    s.push(v(2))
    s.push(v(3), BPF_EXIST)  # drops the oldest (the bottom)
    assert s.values() == [v(3), v(2)]
    assert s.lookup() == v(3) and s.pop() == v(3) and s.pop() == v(2) and s.pop() is None


def test_create_checks():
    for args in [(4, 4, 1), (0, 0, 1), (0, 4, 0)]:
        assert errno_of(Map, BPF_MAP_TYPE_QUEUE, *args) == errno.EINVAL


@settings(max_examples=100, deadline=None)
@given(
    st.booleans(),
    st.lists(
        st.tuples(
            st.sampled_from(["push", "pop", "peek"]), st.integers(0, 1000), st.sampled_from([0, 2])
        ),
        max_size=60,
    ),
)
def test_against_deque_model(stack, ops):
    m = Map(BPF_MAP_TYPE_STACK if stack else BPF_MAP_TYPE_QUEUE, 0, 4, 4)
    model: collections.deque[int] = collections.deque()
    for kind, x, flags in ops:
        if kind == "push":
            if len(model) == 4 and not flags:
                assert errno_of(m.push, v(x), flags) == errno.E2BIG
                continue
            if len(model) == 4:
                model.popleft()
            model.append(x)
            m.push(v(x), flags)
        elif kind == "pop":
            exp = (model.pop() if stack else model.popleft()) if model else None
            assert m.pop() == (None if exp is None else v(exp))
        else:
            exp = (model[-1] if stack else model[0]) if model else None
            assert m.peek() == (None if exp is None else v(exp))
        assert len(m) == len(model)
