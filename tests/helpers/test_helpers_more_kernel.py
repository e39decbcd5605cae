"""The callback, dynptr, timer, task and socket-cast helpers against Linux itself.

Each C program of tests/test_helpers_more.py is loaded in the kernel as a
SOCKET_FILTER and run with BPF_PROG_TEST_RUN on the same frame as in pybpf's
user backend; the values the program stores in its ``out`` array (helper
return codes, what callbacks computed) and the other maps' contents must be
the same. Timers fire on their own in the kernel; pybpf's fire on
``timers.advance_time``; the map state after firing must agree.
"""

from __future__ import annotations

import errno
import time
from contextlib import contextmanager

import pytest
import test_helpers_more as hm

import pybpf
from conftest import require_bpf
from pybpf.errors import KernelError

EXPECTED_OUT, FRAME, matches, out_values = hm.EXPECTED_OUT, hm.FRAME, hm.matches, hm.out_values
objects = hm.objects  # the compiled C programs (a session fixture)

pytestmark = pytest.mark.kernel


@pytest.fixture(autouse=True)
def _bpf():
    require_bpf()


@contextmanager
def kernel_object(obj):
    """(maps, programs) of ``obj`` in the kernel, maps created with their BTF (bpf_timer
    needs it), closed afterwards."""
    coll = pybpf.load(obj, backend="kernel")
    try:
        yield coll.maps, coll.programs
    finally:
        coll.close()


def dump(m) -> list[tuple[bytes, bytes]]:
    return sorted((bytes(k), bytes(v)) for k, v in m.items())


def both(objects, name: str, n: int, settle: float = 0.0):
    """Run ``name`` in both backends; returns (user coll, user out, kernel maps dump, kernel out)."""
    user = pybpf.load(objects[name], backend="user", verify=False)
    uret = user.program().test_run(FRAME).retval
    with kernel_object(objects[name]) as (maps, progs):
        kret = progs["prog"].test_run(FRAME).retval
        if settle:
            time.sleep(settle)
        kout = out_values(maps["out"], n)
        kmaps = {
            k: (dump(m) if m.type != pybpf.uapi.BPF_MAP_TYPE_RINGBUF else m)
            for k, m in maps.items()
            if k != "out" and not k.startswith(".")
        }
        kmaps = {k: v for k, v in kmaps.items() if isinstance(v, list)}
    assert uret == kret
    return user, out_values(user.maps["out"], n), kmaps, kout


@pytest.mark.parametrize(
    ("name", "n"), [("loop", 7), ("foreach", 13), ("foreach_delete", 3), ("task", 11)]
)
def test_same_results_as_the_kernel(objects, name, n):
    user, uout, kmaps, kout = both(objects, name, n)
    assert uout == kout
    assert matches(kout, EXPECTED_OUT[name])
    for mname, content in kmaps.items():
        assert dump(user.maps[mname]) == content, mname


def test_dynptrs_like_the_kernel(objects):
    user = pybpf.load(objects["dynptr"], backend="user", verify=False)
    user.program().test_run(FRAME)
    with kernel_object(objects["dynptr"]) as (maps, progs):
        progs["prog"].test_run(FRAME)
        kout = out_values(maps["out"], 22)
        kmem = dump(maps["mem"])
    assert kout == out_values(user.maps["out"], 22) == EXPECTED_OUT["dynptr"]
    assert kmem == dump(user.maps["mem"])
    assert user.maps["rb"].consume() == [b"record-one......"]


def test_timers_like_the_kernel(objects):
    user, uout, kmaps, kout = both(objects, "timer", 21, settle=0.05)
    assert uout == kout == EXPECTED_OUT["timer"]
    # before firing, pybpf's timer maps hold what the kernel's held at test-run time;
    # the kernel's due timers have fired by now, pybpf's fire on advance_time
    user.backend.advance_time(10_000)
    for mname, content in kmaps.items():
        assert dump(user.maps[mname]) == content, mname
    fired = {
        k: int.from_bytes(v[:8], "little")
        for k, v in dump(user.maps["tarr"]) + dump(user.maps["thash"])
    }
    assert sorted(fired.values()) == [0, 11, 71]


def test_timer_freed_by_update_like_the_kernel(objects):
    user, uout, kmaps, kout = both(objects, "timer_update", 9, settle=0.1)
    assert uout == kout == EXPECTED_OUT["timer_update"]
    user.backend.advance_time(10**8)
    assert dump(user.maps["tarr"]) == kmaps["tarr"]


def test_copy_from_user_is_refused_by_both(objects):
    with pytest.raises(KernelError) as ei:
        with kernel_object(objects["copy_from_user"]):
            pass
    assert ei.value.errno == errno.EINVAL
    assert "sleep" in str(ei.value) + str(getattr(ei.value, "log", ""))
    with pytest.raises(pybpf.errors.NotSupportedError, match="copy_from_user"):
        pybpf.load(objects["copy_from_user"], backend="user", verify=False)
