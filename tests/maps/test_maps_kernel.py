"""Differential tests: the same random operation sequence on a pybpf map and a kernel map.

Hypothesis generates update (every flag, including bad ones) / lookup /
delete / get_next_key / lookup_and_delete sequences over a small key pool, so
collisions, full maps and misses all happen; results and errnos must match
the kernel's exactly, and so must the final iteration order (hash maps use
BPF_F_ZERO_SEED so bucket order is comparable).  The process is pinned to
one cpu so the LRU lists evolve as in the model.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import require_bpf
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
from pybpf.kernel import syscall as sc
from pybpf.maps import Map
from pybpf.maps.base import round_up
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
    BPF_MAP_TYPE_STACK,
    BPF_PROG_TYPE_SOCKET_FILTER,
    BPF_FUNC_map_peek_elem,
    BPF_FUNC_map_pop_elem,
    BPF_FUNC_map_push_elem,
)

pytestmark = pytest.mark.kernel

from support.mappair import (  # noqa: E402, F401
    FLAGS,
    RUNS,
    SETTINGS,
    Pair,
    VmPair,
    kv_ops,
    outcome,
    pinned_cpu0,
    run_kv,
)


def _kv_test(
    name, mtype, key_size, value_size, max_entries, flags, keys, ops, with_lad=True, pair_cls=Pair
):
    require_bpf()
    with pinned_cpu0() as cpu:
        pair = pair_cls(mtype, key_size, value_size, max_entries, flags, cpu)
        try:
            run_kv(pair, keys, ops, with_lad)
        finally:
            pair.close()
    RUNS[name] = RUNS.get(name, 0) + 1


HASH_KEYS = [i.to_bytes(4, "little") for i in (0, 1, 2, 7, 100, 0xFFFFFFFF)]
ODD_KEYS = [bytes([i, i * 3 % 256, 5]) for i in range(6)]
ARRAY_KEYS = [i.to_bytes(4, "little") for i in (0, 1, 3, 4, 5, 1 << 31)]


@SETTINGS
@given(ops=kv_ops(len(HASH_KEYS)), prealloc=st.booleans())
def test_hash(ops, prealloc):
    flags = BPF_F_ZERO_SEED | (0 if prealloc else BPF_F_NO_PREALLOC)
    _kv_test("HASH", BPF_MAP_TYPE_HASH, 4, 6, 4, flags, HASH_KEYS, ops)


@SETTINGS
@given(ops=kv_ops(len(ODD_KEYS)))
def test_hash_odd_key_size(ops):
    _kv_test("HASH(3-byte keys)", BPF_MAP_TYPE_HASH, 3, 8, 3, BPF_F_ZERO_SEED, ODD_KEYS, ops)


@SETTINGS
@given(ops=kv_ops(len(HASH_KEYS)))
def test_percpu_hash(ops):
    _kv_test("PERCPU_HASH", BPF_MAP_TYPE_PERCPU_HASH, 4, 12, 4, BPF_F_ZERO_SEED, HASH_KEYS, ops)


@SETTINGS
@given(ops=kv_ops(len(ARRAY_KEYS)))
def test_array(ops):
    _kv_test("ARRAY", BPF_MAP_TYPE_ARRAY, 4, 5, 5, 0, ARRAY_KEYS, ops)


@SETTINGS
@given(ops=kv_ops(len(ARRAY_KEYS)))
def test_percpu_array(ops):
    _kv_test("PERCPU_ARRAY", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 12, 5, 0, ARRAY_KEYS, ops)


LRU_KEYS = [i.to_bytes(4, "little") for i in range(10)]


@SETTINGS
@given(ops=kv_ops(len(LRU_KEYS), prog_lookups=True), max_entries=st.sampled_from([2, 4, 6, 9]))
def test_lru_hash(ops, max_entries):
    _kv_test("LRU_HASH", BPF_MAP_TYPE_LRU_HASH, 4, 8, max_entries, BPF_F_ZERO_SEED, LRU_KEYS, ops)


@SETTINGS
@given(ops=kv_ops(len(LRU_KEYS), prog_lookups=True), max_entries=st.sampled_from([2, 4, 7]))
def test_lru_hash_no_common_lru(ops, max_entries):
    _kv_test(
        "LRU_HASH(NO_COMMON_LRU)",
        BPF_MAP_TYPE_LRU_HASH,
        4,
        8,
        max_entries,
        BPF_F_ZERO_SEED | BPF_F_NO_COMMON_LRU,
        LRU_KEYS,
        ops,
    )


@SETTINGS
@given(ops=kv_ops(len(LRU_KEYS), prog_lookups=True), max_entries=st.sampled_from([2, 4, 6]))
def test_lru_percpu_hash(ops, max_entries):
    _kv_test(
        "LRU_PERCPU_HASH",
        BPF_MAP_TYPE_LRU_PERCPU_HASH,
        4,
        8,
        max_entries,
        BPF_F_ZERO_SEED,
        LRU_KEYS,
        ops,
    )


def lpm_key(plen: int, data: bytes) -> bytes:
    return plen.to_bytes(4, "little") + data


BIG_LRU_KEYS = [i.to_bytes(8, "little") for i in range(70)]


@settings(SETTINGS, max_examples=25)
@given(ops=kv_ops(len(BIG_LRU_KEYS), 300, prog_lookups=True), percpu_lists=st.booleans())
def test_lru_hash_large(ops, percpu_lists):
    """Enough elements for target_free > 1 and several rotations of the lists."""
    flags = BPF_F_ZERO_SEED | (BPF_F_NO_COMMON_LRU if percpu_lists else 0)
    _kv_test("LRU_HASH(40 entries)", BPF_MAP_TYPE_LRU_HASH, 8, 8, 40, flags, BIG_LRU_KEYS, ops)


LPM_DATA = [
    bytes([10, 0, 0, 0]),
    bytes([10, 0, 1, 0]),
    bytes([10, 1, 0, 0]),
    bytes([10, 0, 0, 128]),
    bytes([192, 168, 0, 1]),
    bytes([10, 0, 0, 5]),
]
LPM_PLENS = [0, 8, 15, 16, 24, 25, 32, 33]
LPM_KEYS = [lpm_key(p, d) for d in LPM_DATA for p in LPM_PLENS]


@SETTINGS
@given(ops=kv_ops(len(LPM_KEYS)), max_entries=st.sampled_from([3, 8, 64]))
def test_lpm_trie(ops, max_entries):
    _kv_test(
        "LPM_TRIE",
        BPF_MAP_TYPE_LPM_TRIE,
        8,
        4,
        max_entries,
        BPF_F_NO_PREALLOC,
        LPM_KEYS,
        ops,
        with_lad=False,
    )


PROG_MAPS = [
    ("HASH", BPF_MAP_TYPE_HASH, 4, 6, 4, HASH_KEYS),
    ("PERCPU_HASH", BPF_MAP_TYPE_PERCPU_HASH, 4, 12, 4, HASH_KEYS),
    ("ARRAY", BPF_MAP_TYPE_ARRAY, 4, 5, 5, ARRAY_KEYS),
    ("PERCPU_ARRAY", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 12, 5, ARRAY_KEYS),
    ("LRU_HASH", BPF_MAP_TYPE_LRU_HASH, 4, 8, 4, LRU_KEYS),
    ("LRU_PERCPU_HASH", BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 8, 4, LRU_KEYS),
]


@pytest.mark.parametrize("case", PROG_MAPS, ids=[c[0] for c in PROG_MAPS])
@settings(SETTINGS, max_examples=30)
@given(data=st.data())
def test_program_side_updates(case, data):
    """bpf_map_update_elem/delete_elem from a socket filter mixed with bpf() from user space:
    a per-cpu update from a program changes only the running cpu's value."""
    name, mtype, ks, vs, me, keys = case
    ops = data.draw(kv_ops(len(keys), prog_updates=True, prog_lookups=True))
    _kv_test(
        f"{name}(program updates)",
        mtype,
        ks,
        vs,
        me,
        BPF_F_ZERO_SEED if mtype not in (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY) else 0,
        keys,
        ops,
    )


@pytest.mark.parametrize("case", PROG_MAPS, ids=[c[0] for c in PROG_MAPS])
@settings(SETTINGS, max_examples=15)
@given(data=st.data())
def test_programs_in_interpreter(case, data):
    """The same socket filters run by the kernel and by pybpf's interpreter (Program.test_run,
    helpers, map storage as VM memory) leave both maps in the same state."""
    name, mtype, ks, vs, me, keys = case
    ops = data.draw(kv_ops(len(keys), max_size=25, prog_updates=True, prog_lookups=True))
    flags = BPF_F_ZERO_SEED if mtype not in (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY) else 0
    _kv_test(f"{name}(interpreted programs)", mtype, ks, vs, me, flags, keys, ops, pair_cls=VmPair)


# ----------------------------------------------------------------------------- queue / stack

qs_ops = st.lists(
    st.tuples(
        st.sampled_from(["push", "push", "pop", "peek", "ppush", "ppush", "ppop", "ppeek"]),
        st.integers(0, 255),
        FLAGS,
    ),
    min_size=1,
    max_size=40,
)


def qs_prog(map_fd: int, op: str, value: int, flags: int):
    """bpf_map_push_elem(map, &value, flags), or pop/peek returning the value (or -errno)."""
    helper = {
        "ppush": BPF_FUNC_map_push_elem,
        "ppop": BPF_FUNC_map_pop_elem,
        "ppeek": BPF_FUNC_map_peek_elem,
    }[op]
    insns = [BPF_ST_MEM(BPF_W, 10, -8, value)] if op == "ppush" else []
    insns += [BPF_LD_MAP_FD(1, map_fd), BPF_MOV64_REG(2, 10), BPF_ALU64_IMM(BPF_ADD, 2, -8)]
    if op == "ppush":
        insns.append(BPF_MOV64_IMM(3, flags))
    insns += [
        BPF_EMIT_CALL(helper),
        BPF_JMP_IMM(BPF_JNE, 0, 0, 1),
        BPF_LDX_MEM(BPF_W, 0, 10, -8),
        BPF_EXIT_INSN(),
    ]
    return insns


@SETTINGS
@given(ops=qs_ops, stack=st.booleans())
def test_queue_stack(ops, stack):
    """bpf() push/pop/peek and the same from programs (kernel vs pybpf's interpreter)."""
    from pybpf.user.program import Program

    require_bpf()
    mtype = BPF_MAP_TYPE_STACK if stack else BPF_MAP_TYPE_QUEUE
    fd = sc.map_create(mtype, 0, 4, 3)
    m = Map(mtype, 0, 4, 3)
    kprogs: dict = {}
    uprogs: dict = {}
    try:
        for i, (kind, val, flags) in enumerate(ops):
            v = bytes([val]) * 4
            if kind == "push":
                k = outcome(sc.map_update_elem, fd, None, v, flags)
                u = outcome(m.push, v, flags)
            elif kind == "pop":
                k = outcome(sc.map_lookup_and_delete_elem, fd, None, 4)
                u = outcome(m.pop)
            elif kind == "peek":
                k = outcome(sc.map_lookup_elem, fd, None, 4)
                u = outcome(m.peek)
            else:
                ident = (kind, val, flags)
                if ident not in kprogs:
                    kprogs[ident] = sc.prog_load(
                        BPF_PROG_TYPE_SOCKET_FILTER, qs_prog(fd, kind, val, flags)
                    )
                    uprogs[ident] = Program(qs_prog(m.fd, kind, val, flags))
                k = sc.prog_test_run(kprogs[ident], bytes(64)).retval
                u = uprogs[ident].test_run(bytes(64)).retval
            assert u == k, f"op {i} {kind} {val} {flags}: kernel {k} pybpf {u}"
    finally:
        for pfd in kprogs.values():
            sc.close(pfd)
        sc.close(fd)
        m.close()
    name = "STACK" if stack else "QUEUE"
    RUNS[name] = RUNS.get(name, 0) + 1


# ----------------------------------------------------------------------------- create checks

CREATE_CASES = [
    (BPF_MAP_TYPE_HASH, 4, 8, 0, 0),
    (BPF_MAP_TYPE_HASH, 0, 8, 4, 0),
    (BPF_MAP_TYPE_HASH, 4, 0, 4, 0),
    (BPF_MAP_TYPE_HASH, 4, 8, 4, BPF_F_NO_COMMON_LRU),
    (BPF_MAP_TYPE_HASH, 4, 8, 4, 1 << 10),
    (BPF_MAP_TYPE_LRU_HASH, 4, 8, 4, BPF_F_NO_PREALLOC),
    (BPF_MAP_TYPE_PERCPU_HASH, 4, 40000, 4, 0),
    (BPF_MAP_TYPE_HASH, 4, 8, 4, 0x18),
    (BPF_MAP_TYPE_HASH, 4, 8, 4, 0x180),
    (BPF_MAP_TYPE_ARRAY, 8, 8, 4, 0),
    (BPF_MAP_TYPE_ARRAY, 4, 0, 4, 0),
    (BPF_MAP_TYPE_ARRAY, 4, 8, 0, 0),
    (BPF_MAP_TYPE_ARRAY, 4, 8, 4, BPF_F_NO_PREALLOC),
    (BPF_MAP_TYPE_ARRAY, 4, 8, 4, 1 << 10),
    (BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 4, 1 << 10),
    (BPF_MAP_TYPE_ARRAY, 4, 5 << 20, 1, 0),
    (BPF_MAP_TYPE_ARRAY, 4, 1 << 31, 1, 0),
    (BPF_MAP_TYPE_HASH, 4, 8, (1 << 31) + 1, BPF_F_NO_PREALLOC),
    (BPF_MAP_TYPE_HASH, 4, 5 << 20, 1, 0),
    (BPF_MAP_TYPE_QUEUE, 0, 5 << 20, 1, 0),
    (BPF_MAP_TYPE_HASH, 4, 8, 4, BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED),
    (BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 8, 4, BPF_F_NO_COMMON_LRU | 4),
    (BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0x8 | 0x10),
    (BPF_MAP_TYPE_ARRAY, 4, 8, 4, 1 << 12),
    (BPF_MAP_TYPE_PERCPU_ARRAY, 4, 40000, 1, 0),
    (BPF_MAP_TYPE_LPM_TRIE, 8, 4, 4, 0),
    (BPF_MAP_TYPE_LPM_TRIE, 4, 4, 4, BPF_F_NO_PREALLOC),
    (BPF_MAP_TYPE_LPM_TRIE, 8, 0, 4, BPF_F_NO_PREALLOC),
    (BPF_MAP_TYPE_LPM_TRIE, 261, 4, 4, BPF_F_NO_PREALLOC),
    (BPF_MAP_TYPE_LPM_TRIE, 260, 4, 4, BPF_F_NO_PREALLOC),
    (BPF_MAP_TYPE_QUEUE, 4, 4, 4, 0),
    (BPF_MAP_TYPE_QUEUE, 0, 0, 4, 0),
    (BPF_MAP_TYPE_STACK, 0, 4, 0, 0),
    (BPF_MAP_TYPE_STACK, 0, 4, 4, BPF_F_NO_PREALLOC),
    (27, 0, 0, 4096, 0),
    (27, 0, 0, 12288, 0),
    (27, 0, 0, 1024, 0),
    (27, 4, 0, 4096, 0),
    (27, 0, 0, 8192, 0),
    (3, 4, 8, 4, 0),
    (3, 4, 4, 4, 0),
]


@pytest.mark.parametrize("case", CREATE_CASES, ids=lambda c: "-".join(map(str, c)))
def test_create_validation(case):
    require_bpf()

    def kcreate():
        sc.close(sc.map_create(*case))

    def ucreate():
        Map(*case).close()

    assert outcome(ucreate) == outcome(kcreate)


def test_percpu_value_size_matches_kernel():
    require_bpf()
    m = Map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 12, 1)
    assert m.user_value_size == sc.percpu_value_size(12) == round_up(12, 8) * m.ncpus


# ----------------------------------------------------------------------------- long runs

LONG_CASES = [
    ("HASH", BPF_MAP_TYPE_HASH, 8, 8, 50, BPF_F_ZERO_SEED, 80),
    (
        "HASH(no prealloc, 13-byte keys)",
        BPF_MAP_TYPE_HASH,
        13,
        3,
        30,
        BPF_F_ZERO_SEED | BPF_F_NO_PREALLOC,
        60,
    ),
    ("PERCPU_HASH", BPF_MAP_TYPE_PERCPU_HASH, 8, 12, 50, BPF_F_ZERO_SEED, 80),
    ("LRU_HASH", BPF_MAP_TYPE_LRU_HASH, 8, 8, 300, BPF_F_ZERO_SEED, 450),
    (
        "LRU_HASH(NO_COMMON_LRU)",
        BPF_MAP_TYPE_LRU_HASH,
        8,
        8,
        301,
        BPF_F_ZERO_SEED | BPF_F_NO_COMMON_LRU,
        450,
    ),
    ("LRU_PERCPU_HASH", BPF_MAP_TYPE_LRU_PERCPU_HASH, 8, 8, 300, BPF_F_ZERO_SEED, 450),
    ("ARRAY", BPF_MAP_TYPE_ARRAY, 4, 5, 20, 0, 25),
    ("PERCPU_ARRAY", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 12, 20, 0, 25),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", LONG_CASES, ids=[c[0] for c in LONG_CASES])
def test_long_random_sequences(case):
    """3 x 3000 operations per type (program lookups and updates included), seeded."""
    import random

    name, mtype, ks, vs, me, flags, nkeys = case
    rng = random.Random(name)
    keys = [i.to_bytes(ks, "little") for i in range(nkeys)]
    kinds = ["update"] * 4 + ["lookup", "delete", "next", "lad", "plookup", "pupdate", "pdelete"]
    for _ in range(3):
        ops = [
            (
                rng.choice(kinds),
                rng.randrange(nkeys),
                rng.randrange(256),
                rng.choice([0, 0, 0, 1, 2, 3]),
            )
            for _ in range(3000)
        ]
        _kv_test(name + " x3000", mtype, ks, vs, me, flags, keys, ops)


def test_zz_report(capsys):
    """Print how many kernel-compared sequences ran per type (for the report)."""
    with capsys.disabled():
        print("\nkernel differential sequences:", dict(sorted(RUNS.items())))
