"""The Program, Map and Backend protocols (pybpf.api), one test for both backends.

Every test takes the ``backend`` fixture and runs once in pybpf's user space
and once in the running kernel: what a user's code sees must not depend on
where the objects live. Differential tests that compare the two outputs side
by side are in the packages' own ``*_kernel.py`` files.
"""

from __future__ import annotations

import ctypes
import errno
import struct

import pytest

import pybpf
from pybpf import uapi
from pybpf.api import Backend, Map, Program, TestRunResult
from pybpf.errors import BpfError, MapError
from pybpf.loader import load_spec
from pybpf.spec.types import MapSpec
from support.paths import EXAMPLES, PCAPS

#: a UDP/IPv4 frame, broadcast
FRAME = bytes.fromhex(
    "ffffffffffff020000000001080045000028000040004011000000c0a80001c0a80002"
    "00010002001400000102030405060708090a0b0c"
)


def k32(i: int) -> bytes:
    return struct.pack("<I", i)


def make(backend, type_: int, key: int, value: int, n: int, name: str = "m", flags: int = 0):
    return backend.create_map(MapSpec(name, type_, key, value, n, flags))


def test_backends_follow_the_protocols(backend) -> None:
    assert isinstance(backend, Backend) and backend.name in ("user", "kernel")
    with pybpf.load(EXAMPLES / "sockex1_kern.c", backend=backend) as coll:
        assert coll.backend is backend and coll.backend_name == backend.name
        prog, m = coll.program(), coll.maps["proto_count"]
        assert isinstance(prog, Program) and isinstance(m, Map)
        assert prog.prog_type == uapi.BPF_PROG_TYPE_SOCKET_FILTER and prog.fd >= 0
        assert prog.name == "count_by_protocol" and prog.insns
        res = prog.test_run(FRAME)
        assert isinstance(res, TestRunResult) and res.retval == 0 and res.duration >= 0
        assert len(repr(coll)) < 300 and "count_by_protocol" in repr(coll)


def test_hash_map_dict_face_and_errnos(backend) -> None:
    m = make(backend, uapi.BPF_MAP_TYPE_HASH, 4, 8, 3, "hash")
    assert (m.type, m.key_size, m.value_size, m.max_entries, m.name) == (
        uapi.BPF_MAP_TYPE_HASH,
        4,
        8,
        3,
        "hash",
    )
    m[k32(1)] = struct.pack("<Q", 10)
    m.update(2, 20)  # ints are encoded little-endian at the key/value size
    assert m[k32(2)] == struct.pack("<Q", 20)
    assert 1 in m and 7 not in m and m.lookup(7) is None
    with pytest.raises(KeyError):
        m[7]
    for key, flags, err in ((1, uapi.BPF_NOEXIST, errno.EEXIST), (9, uapi.BPF_EXIST, errno.ENOENT)):
        with pytest.raises(MapError) as ei:
            m.update(key, 0, flags)
        assert ei.value.errno == err
    m.update(3, 30)
    with pytest.raises(MapError) as ei:
        m.update(4, 40)
    assert ei.value.errno == errno.E2BIG
    assert sorted(m.keys()) == [k32(1), k32(2), k32(3)] and len(m) == 3
    assert dict(m.items())[k32(3)] == struct.pack("<Q", 30)
    del m[k32(3)]
    with pytest.raises(KeyError):
        del m[k32(3)]
    with pytest.raises(MapError) as ei:
        m.delete(3)
    assert ei.value.errno == errno.ENOENT
    with pytest.raises(MapError) as ei:
        m.update(b"\0" * 3, 0)  # the wrong key size
    assert ei.value.errno == errno.EINVAL
    assert m.next_key(99) == m.next_key(None)  # a missing key restarts at the first
    m.close()


def test_array_map_errnos(backend) -> None:
    m = make(backend, uapi.BPF_MAP_TYPE_ARRAY, 4, 4, 2, "array")
    assert m.keys() == [k32(0), k32(1)] and m.values() == [b"\0" * 4] * 2
    for op, err in (
        (lambda: m.update(2, 1), errno.E2BIG),
        (lambda: m.delete(0), errno.EINVAL),
        (lambda: m.update(0, 1, uapi.BPF_NOEXIST), errno.EEXIST),
    ):
        with pytest.raises(MapError) as ei:
            op()
        assert ei.value.errno == err
    m.close()


def test_typed_views(backend) -> None:
    class Val(ctypes.Structure):
        _fields_ = [("packets", ctypes.c_uint64), ("bytes", ctypes.c_uint64)]

    m = make(backend, uapi.BPF_MAP_TYPE_HASH, 4, 16, 8, "typed")
    t = m.typed("<I", Val)
    t[6] = Val(3, 300)
    assert t[6].packets == 3 and t[6].bytes == 300
    assert list(t) == [6] and 6 in t
    assert m.typed(ctypes.c_uint32, "<QQ").items() == [(6, (3, 300))]
    m.close()


def test_percpu_values_per_possible_cpu(backend) -> None:
    m = make(backend, uapi.BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 4, "pcpu")
    n = m.ncpus
    assert m.percpu and m.user_value_size == 8 * n
    m.update_percpu(1, [k32(c + 1) for c in range(n)])
    assert m.lookup_percpu(1) == [k32(c + 1) for c in range(n)]
    assert m.typed("<I", "<I")[1] == list(range(1, n + 1))
    m.close()


def test_queue_and_stack(backend) -> None:
    q = make(backend, uapi.BPF_MAP_TYPE_QUEUE, 0, 4, 2, "queue")
    q.push(k32(1))
    q.push(k32(2))
    with pytest.raises(MapError) as ei:
        q.push(k32(3))
    assert ei.value.errno == errno.E2BIG
    q.push(k32(3), uapi.BPF_EXIST)  # overwrite the oldest
    assert q.peek() == k32(2)
    assert [q.pop(), q.pop()] == [k32(2), k32(3)]
    assert q.pop() is None and q.peek() is None  # empty: ENOENT, shown as lookup shows it
    s = make(backend, uapi.BPF_MAP_TYPE_STACK, 0, 4, 2, "stack")
    s.push(k32(1))
    s.push(k32(2))
    assert s.pop() == k32(2)
    q.close()
    s.close()


@pytest.mark.parametrize("source", ["sockex1_kern.c", "sockex2_kern.c", "sockex1_macros.py"])
def test_examples_count_the_same_on_a_capture(backend, source) -> None:
    """The seed's programs over a real capture through the Program protocol's run()."""
    from pybpf.net.capture import read_packets

    frames = [p.data for p in read_packets(PCAPS / "dns_tcp.pcap")]
    with pybpf.load(EXAMPLES / source, backend=backend) as coll:
        prog = coll.program()
        for f in frames:
            assert prog.run(f) == 0  # the seed's programs count, and deliver nothing
        counted = {bytes(k): bytes(v) for k, v in coll.maps[next(iter(coll.maps))].items()}
    with pybpf.load(EXAMPLES / source) as ref:
        for f in frames:
            ref.program().run(f)
        want = {bytes(k): bytes(v) for k, v in ref.maps[next(iter(ref.maps))].items()}
    assert counted == want and any(int.from_bytes(v[:8], "little") for v in want.values())


def test_a_spec_loads_into_both_backends_unchanged(backend) -> None:
    """Spec before load: loading never changes the spec, so it loads again anywhere."""
    spec = pybpf.read_spec(EXAMPLES / "sockex1_macros.py")
    before = repr(spec.programs) + repr(spec.maps)
    for be in (backend, pybpf.UserBackend()):
        with load_spec(spec, be) as coll:
            assert len(coll.spec.programs["sockex1"].insns) == 12
    assert repr(spec.programs) + repr(spec.maps) == before
    assert spec.programs["sockex1"].insns == []  # the macro module builds at load


def test_refused_program_leaves_nothing_behind(backend) -> None:
    spec = pybpf.read_spec(EXAMPLES / "sockex1_kern.c")
    ps = next(iter(spec.programs.values()))
    bad = type(spec)(
        programs={ps.name: type(ps)(ps.name, ps.insns[:-1], ps.prog_type, ps.license)},
        maps=spec.maps,
    )
    with pytest.raises(BpfError) as ei:
        load_spec(bad, backend)
    assert ei.value.errno == errno.EINVAL
