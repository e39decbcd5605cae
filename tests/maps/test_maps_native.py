"""The native face of the maps (bpf_map.h): one memory, one implementation, three callers.

The Python Map API, a program in pybpf's interpreter (map helpers) and a direct
call of the map's ``struct pybpf_map_ops`` (as the JIT and the batch engine call
them) must see and change the same bytes of ``storage``.  Also: the struct's
fields describe the storage Python holds, every op pointer is callable for every
type, jhash in C equals the Python reference, and a map's memory outlives it
safely.
"""

from __future__ import annotations

import ctypes
import errno
import gc
import random
import struct

import pytest

from pybpf.asm.macros import (
    BPF_ALU64_IMM,
    BPF_EMIT_CALL,
    BPF_EXIT_INSN,
    BPF_JMP_IMM,
    BPF_LD_MAP_FD,
    BPF_LDX_MEM,
    BPF_MOV64_IMM,
    BPF_MOV64_REG,
    BPF_ST_MEM,
)
from pybpf.isa import BPF_ADD, BPF_JNE, BPF_W
from pybpf.maps import Map, clib
from pybpf.maps.jhash import htab_map_hash
from pybpf.uapi import (
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
    BPF_FUNC_map_lookup_elem,
    BPF_FUNC_map_pop_elem,
    BPF_FUNC_map_update_elem,
    BPF_FUNC_ringbuf_output,
)
from pybpf.user.program import Program

#: (type, key_size, value_size, max_entries, flags) of a map of every native type
KV_MAPS = [
    (BPF_MAP_TYPE_HASH, 4, 4, 8, BPF_F_ZERO_SEED),
    (BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 8, 0),
    (BPF_MAP_TYPE_ARRAY, 4, 4, 8, 0),
    (BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 8, 0),
    (BPF_MAP_TYPE_LRU_HASH, 4, 4, 8, 0),
    (BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 4, 8, 0),
    (BPF_MAP_TYPE_LPM_TRIE, 8, 4, 8, BPF_F_NO_PREALLOC),
]
ALL_MAPS = KV_MAPS + [
    (BPF_MAP_TYPE_QUEUE, 0, 4, 8, 0),
    (BPF_MAP_TYPE_STACK, 0, 4, 8, 0),
    (BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0),
]


def ids(cases):
    return [Map(*c, ncpus=1).type_name for c in cases]


def storage_addr(m: Map) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(m.storage))


def key_of(m: Map, i: int) -> bytes:
    if m.type == BPF_MAP_TYPE_LPM_TRIE:
        return (32).to_bytes(4, "little") + bytes([10, 0, 0, i])
    return i.to_bytes(4, "little")


def swap_prog(m: Map, key: bytes, new: int) -> list:
    """Look ``key`` up; return the u32 value found (0xffff if none) after storing ``new``
    through the value pointer."""
    words = [int.from_bytes(key[i : i + 4], "little", signed=True) for i in range(0, len(key), 4)]
    return [
        *(BPF_ST_MEM(BPF_W, 10, -16 + 4 * i, w) for i, w in enumerate(words)),
        BPF_LD_MAP_FD(1, m.fd),
        BPF_MOV64_REG(2, 10),
        BPF_ALU64_IMM(BPF_ADD, 2, -16),
        BPF_EMIT_CALL(BPF_FUNC_map_lookup_elem),
        BPF_JMP_IMM(BPF_JNE, 0, 0, 2),
        BPF_MOV64_IMM(0, 0xFFFF),
        BPF_EXIT_INSN(),
        BPF_LDX_MEM(BPF_W, 1, 0, 0),
        BPF_ST_MEM(BPF_W, 0, 0, new),
        BPF_MOV64_REG(0, 1),
        BPF_EXIT_INSN(),
    ]


def update_prog(m: Map, key: bytes, value: int) -> list:
    words = [int.from_bytes(key[i : i + 4], "little", signed=True) for i in range(0, len(key), 4)]
    return [
        *(BPF_ST_MEM(BPF_W, 10, -16 + 4 * i, w) for i, w in enumerate(words)),
        BPF_ST_MEM(BPF_W, 10, -24, value),
        BPF_LD_MAP_FD(1, m.fd),
        BPF_MOV64_REG(2, 10),
        BPF_ALU64_IMM(BPF_ADD, 2, -16),
        BPF_MOV64_REG(3, 10),
        BPF_ALU64_IMM(BPF_ADD, 3, -24),
        BPF_MOV64_IMM(4, 0),
        BPF_EMIT_CALL(BPF_FUNC_map_update_elem),
        BPF_EXIT_INSN(),
    ]


def run(insns, cpu: int = 0) -> int:
    return Program(insns).test_run(bytes(64), cpu=cpu).retval


@pytest.mark.parametrize("case", ALL_MAPS, ids=ids(ALL_MAPS))
def test_struct_describes_the_storage_python_holds(case):
    m = Map(*case, ncpus=3)
    st = clib.BpfMap.from_address(m.native)
    assert m.native and isinstance(m.storage, bytearray)
    assert st.storage == storage_addr(m) and st.storage_size == len(m.storage)
    assert (st.map_type, st.key_size, st.value_size) == (m.type, m.key_size, m.value_size)
    assert (st.max_entries, st.map_flags, st.ncpus) == (m.max_entries, m.flags, 3)
    assert st.slot_size == m.elem_size and st.value_stride == (m.value_size + 7) // 8 * 8
    # the inline lookup is offered for a plain array only
    assert st.elem_size == (m.elem_size if m.type == BPF_MAP_TYPE_ARRAY else 0)
    ops = clib.ops_of(m.native)
    for name, _ in clib.MapOps._fields_:
        assert ctypes.cast(getattr(ops, name), ctypes.c_void_p).value, name


@pytest.mark.parametrize("case", KV_MAPS, ids=ids(KV_MAPS))
def test_python_interpreter_and_native_ops_share_memory(case):
    m = Map(*case, ncpus=2)
    ops = clib.ops_of(m.native)
    base = storage_addr(m)
    k1, k2 = key_of(m, 1), key_of(m, 2)
    vs = m.value_size
    cpu = 1 if m.percpu else 0

    # 1. the Python API writes, native code finds the value where Python says it is
    m.update(k1, struct.pack("<I", 111) * (m.user_value_size // 4) if m.percpu else b"o\0\0\0")
    p = ops.map_lookup_elem(m.native, k1, cpu)
    assert p and p - base == m.value_offset(k1, cpu)
    first = 111 if m.percpu else ord("o")
    assert ctypes.string_at(p, vs) == struct.pack("<I", first)

    # 2. native code updates (cpu's copy of a per-cpu value); Python and a program see it
    assert ops.map_update_elem(m.native, k1, struct.pack("<I", 222), 0, cpu) == 0
    got = m.lookup_percpu(k1)
    assert got[cpu] == struct.pack("<I", 222)
    assert run(swap_prog(m, k1, 333), cpu=cpu) == 222

    # 3. what the program stored through its value pointer is what native code reads
    p = ops.map_lookup_elem(m.native, k1, cpu)
    assert ctypes.string_at(p, vs) == struct.pack("<I", 333)
    assert bytes(m.storage[p - base : p - base + vs]) == struct.pack("<I", 333)

    # 4. a program's update: Python and native code see the new element
    assert run(update_prog(m, k2, 444), cpu=cpu) == 0
    p = ops.map_lookup_elem(m.native, k2, cpu)
    assert p and ctypes.string_at(p, vs) == struct.pack("<I", 444)
    assert m.lookup_percpu(k2)[cpu] == struct.pack("<I", 444)

    # 5. errnos come back the same through every door
    if m.type in (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY):
        assert ops.map_delete_elem(m.native, k1, 0) == -errno.EINVAL
    else:
        assert ops.map_update_elem(m.native, k2, bytes(4), 1, cpu) == -errno.EEXIST  # NOEXIST
        assert ops.map_delete_elem(m.native, k2, 0) == 0
        assert m.lookup(k2) is None and ops.map_lookup_elem(m.native, k2, cpu) is None
        assert run(swap_prog(m, k2, 1), cpu=cpu) == 0xFFFF
    assert ops.map_update_elem(m.native, k1, bytes(4), 3, cpu) == -errno.EINVAL


@pytest.mark.parametrize("mtype", [BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK])
def test_queue_stack_shared(mtype):
    m = Map(mtype, 0, 4, 4, ncpus=1)
    ops = clib.ops_of(m.native)
    out = ctypes.create_string_buffer(4)
    m.push(b"py\0\0")
    assert ops.map_push_elem(m.native, b"nat\0", 0) == 0
    assert m.values() == (
        [b"nat\0", b"py\0\0"] if mtype == BPF_MAP_TYPE_STACK else [b"py\0\0", b"nat\0"]
    )
    pop = [
        BPF_LD_MAP_FD(1, m.fd),
        BPF_MOV64_REG(2, 10),
        BPF_ALU64_IMM(BPF_ADD, 2, -8),
        BPF_EMIT_CALL(BPF_FUNC_map_pop_elem),
        BPF_JMP_IMM(BPF_JNE, 0, 0, 1),
        BPF_LDX_MEM(BPF_W, 0, 10, -8),
        BPF_EXIT_INSN(),
    ]
    first = run(pop).to_bytes(4, "little")
    assert ops.map_pop_elem(m.native, out) == 0
    assert {first, out.raw} == {b"py\0\0", b"nat\0"}
    assert ops.map_peek_elem(m.native, out) == -errno.ENOENT and out.raw == bytes(4)
    assert run(pop) == (-errno.ENOENT) & 0xFFFFFFFF


def test_ringbuf_shared():
    m = Map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, ncpus=1)
    ops = clib.ops_of(m.native)
    base = storage_addr(m)
    assert ops.ringbuf_output(m.native, b"native", 6, 0) == 0
    p = ops.ringbuf_reserve(m.native, 3, 0)
    assert p and p - base == 16 + 8
    ctypes.memmove(p, b"raw", 3)
    out = [
        BPF_ST_MEM(BPF_W, 10, -8, int.from_bytes(b"prog", "little")),
        BPF_LD_MAP_FD(1, m.fd),
        BPF_MOV64_REG(2, 10),
        BPF_ALU64_IMM(BPF_ADD, 2, -8),
        BPF_MOV64_IMM(3, 4),
        BPF_MOV64_IMM(4, 0),
        BPF_EMIT_CALL(BPF_FUNC_ringbuf_output),
        BPF_EXIT_INSN(),
    ]
    assert run(out) == 0
    assert m.consume() == [b"native"]  # the reserved record is still busy
    assert ops.ringbuf_submit(m.native, p, 0) == 0
    assert ops.ringbuf_submit(m.native, p, 0) == -errno.EINVAL  # committed already
    assert m.consume() == [b"raw", b"prog"]
    assert ops.ringbuf_query(m.native, 2) == m.query(2) == 48  # BPF_RB_CONS_POS


def test_jhash_c_equals_the_python_reference():
    lib = clib.lib()
    rng = random.Random(7)
    for _ in range(2000):
        key = rng.randbytes(rng.randrange(0, 40))
        seed = rng.getrandbits(32)
        assert lib.pybpf_htab_map_hash(key, len(key), seed) == htab_map_hash(key, seed)


def test_storage_outlives_the_map():
    m = Map(BPF_MAP_TYPE_HASH, 4, 4, 4, ncpus=1)
    m.update(b"abcd", b"wxyz")
    off = m.value_offset(b"abcd")
    storage = m.storage
    with pytest.raises(BufferError):
        storage.append(0)  # pinned while the map lives: its address never changes
    m.close()
    del m
    gc.collect()  # the struct is freed; the bytearray a program may still hold is not
    assert bytes(storage[off : off + 4]) == b"wxyz"


def test_cpu_is_checked_at_the_boundary():
    m = Map(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 4, ncpus=2)
    for bad in (-1, 2, 1 << 40, "0", None, 1.0):
        with pytest.raises(Exception) as ei:
            m.cpu = bad
        assert getattr(ei.value, "errno", None) == errno.EINVAL
        if bad is not None:  # None is "the map's cpu"
            with pytest.raises(Exception) as ei:
                m.value_offset(b"abcd", bad)
            assert getattr(ei.value, "errno", None) == errno.EINVAL


@pytest.mark.parametrize("case", KV_MAPS, ids=ids(KV_MAPS))
def test_native_ops_refuse_a_cpu_past_the_last(case):
    """Native callers pass their cpu modulo ncpus; one past it touches nothing."""
    m = Map(*case, ncpus=2)
    ops = clib.ops_of(m.native)
    k = key_of(m, 1)
    m.update(k, bytes(m.user_value_size))
    before = bytes(m.storage)
    uses_cpu = m.percpu or m.type in (BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH)
    if m.percpu:
        assert ops.map_lookup_elem(m.native, k, 2) is None
    if uses_cpu:
        assert ops.map_update_elem(m.native, k, b"\xff" * 4, 0, 2) == -errno.EINVAL
        assert ops.map_update_elem(m.native, key_of(m, 3), b"\xff" * 4, 0, 1 << 31) == -errno.EINVAL
        assert bytes(m.storage) == before


def test_prog_array_has_no_native_form():
    from pybpf.uapi import BPF_MAP_TYPE_PROG_ARRAY

    m = Map(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2, ncpus=1)
    assert m.native == 0 and len(m.storage) == 0
