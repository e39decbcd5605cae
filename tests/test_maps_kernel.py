"""Differential tests: the same random operation sequence on a pybpf map and a kernel map.

Hypothesis generates update (every flag, including bad ones) / lookup /
delete / get_next_key / lookup_and_delete sequences over a small key pool, so
collisions, full maps and misses all happen; results and errnos must match
the kernel's exactly, and so must the final iteration order (hash maps use
BPF_F_ZERO_SEED so bucket order is comparable).  The process is pinned to
one cpu so the LRU lists evolve as in the model.
"""

from __future__ import annotations

import contextlib
import errno
import os

import pytest
from hypothesis import HealthCheck, given, settings
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
from pybpf.errors import BpfError, MapError
from pybpf.isa import BPF_ADD, BPF_B, BPF_JNE, BPF_W
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
    BPF_FUNC_map_delete_elem,
    BPF_FUNC_map_lookup_elem,
    BPF_FUNC_map_peek_elem,
    BPF_FUNC_map_pop_elem,
    BPF_FUNC_map_push_elem,
    BPF_FUNC_map_update_elem,
)

pytestmark = pytest.mark.kernel

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FLAGS = st.sampled_from([0, 0, 1, 1, 2, 2, 3, 4])

#: sequences run per map type (reported by the summary test)
RUNS: dict[str, int] = {}


@contextlib.contextmanager
def pinned_cpu0():
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(old)})
    try:
        yield min(old)
    finally:
        os.sched_setaffinity(0, old)


def lookup_prog(map_fd: int, key: bytes):
    """A socket filter returning 1 when bpf_map_lookup_elem(map, &key) finds ``key``."""
    words = [
        int.from_bytes(key[i : i + 4].ljust(4, b"\0"), "little", signed=True)
        for i in range(0, len(key), 4)
    ]
    insns = [BPF_ST_MEM(BPF_W, 10, -16 + 4 * i, w) for i, w in enumerate(words)]
    return insns + [
        BPF_LD_MAP_FD(1, map_fd),
        BPF_MOV64_REG(2, 10),
        BPF_ALU64_IMM(BPF_ADD, 2, -16),
        BPF_EMIT_CALL(BPF_FUNC_map_lookup_elem),
        BPF_MOV64_IMM(1, 1),
        BPF_JMP_IMM(BPF_JNE, 0, 0, 1),
        BPF_MOV64_IMM(1, 0),
        BPF_MOV64_REG(0, 1),
        BPF_EXIT_INSN(),
    ]


def update_prog(map_fd: int, key: bytes, value: bytes, flags: int, delete: bool = False):
    """A socket filter returning bpf_map_update_elem(map, &key, &value, flags) (or delete)."""
    insns = [BPF_ST_MEM(BPF_B, 10, -64 + i, b) for i, b in enumerate(key)]
    insns += [BPF_ST_MEM(BPF_B, 10, -32 + i, b) for i, b in enumerate(value)]
    insns += [BPF_LD_MAP_FD(1, map_fd), BPF_MOV64_REG(2, 10), BPF_ALU64_IMM(BPF_ADD, 2, -64)]
    if delete:
        insns.append(BPF_EMIT_CALL(BPF_FUNC_map_delete_elem))
    else:
        insns += [
            BPF_MOV64_REG(3, 10),
            BPF_ALU64_IMM(BPF_ADD, 3, -32),
            BPF_MOV64_IMM(4, flags),
            BPF_EMIT_CALL(BPF_FUNC_map_update_elem),
        ]
    return insns + [BPF_EXIT_INSN()]


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except BpfError as e:  # MapError and KernelError both carry the errno
        return ("err", errno.errorcode.get(e.errno, e.errno))


class Pair:
    """A kernel map and a pybpf map created with the same attributes."""

    def __init__(self, mtype, key_size, value_size, max_entries, flags=0, cpu=0):
        self.fd = sc.map_create(mtype, key_size, value_size, max_entries, flags)
        self.m = Map(mtype, key_size, value_size, max_entries, flags)
        self.m.cpu = cpu
        self.ks = key_size
        self.progs: dict = {}
        self.prog_updated = False
        self.uvs = self.m.user_value_size

    def close(self):
        for fd in self.progs.values():
            sc.close(fd)
        sc.close(self.fd)
        self.m.close()

    def k_plookup(self, key):
        """bpf_map_lookup_elem() from a socket filter (sets an LRU element's ref bit)."""
        fd = self.progs.get(key)
        if fd is None:
            fd = self.progs[key] = sc.prog_load(
                BPF_PROG_TYPE_SOCKET_FILTER, lookup_prog(self.fd, key)
            )
        return sc.prog_test_run(fd, bytes(64)).retval

    def _prog_ret(self, key, value, flags, delete):
        ident = (key, value, flags, delete)
        fd = self.progs.get(ident)
        if fd is None:
            insns = update_prog(self.fd, key, value, flags, delete)
            fd = self.progs[ident] = sc.prog_load(BPF_PROG_TYPE_SOCKET_FILTER, insns)
        return sc.prog_test_run(fd, bytes(64)).retval

    def k_pupdate(self, key, value, flags):
        self.prog_updated = True
        return self._prog_ret(key, value, flags, False)

    def k_pdelete(self, key):
        return self._prog_ret(key, b"", 0, True)

    def u_pupdate(self, key, value, flags):
        try:
            self.m.prog_update(key, value, flags)
            return 0
        except MapError as e:
            return -e.errno & 0xFFFFFFFF

    def u_pdelete(self, key):
        try:
            self.m.prog_delete(key)
            return 0
        except MapError as e:
            return -e.errno & 0xFFFFFFFF

    def u_plookup(self, key):
        return int(self.m.value_offset(key) is not None)

    def both(self, op, *args):
        k = getattr(self, "k_" + op)
        u = getattr(self, "u_" + op)
        return outcome(k, *args), outcome(u, *args)

    def k_update(self, key, value, flags):
        sc.map_update_elem(self.fd, key, value, flags)

    def u_update(self, key, value, flags):
        self.m.update(key, value, flags)

    def k_lookup(self, key):
        return sc.map_lookup_elem(self.fd, key, self.uvs)

    def u_lookup(self, key):
        return self.m.lookup(key)

    def k_delete(self, key):
        sc.map_delete_elem(self.fd, key)

    def u_delete(self, key):
        self.m.delete(key)

    def k_next(self, key):
        return sc.map_get_next_key(self.fd, key, self.ks)

    def u_next(self, key):
        return self.m.next_key(key)

    def k_lad(self, key):
        return sc.map_lookup_and_delete_elem(self.fd, key, self.uvs)

    def u_lad(self, key):
        # the syscall layer reports ENOENT from LOOKUP_AND_DELETE as None
        try:
            return self.m.lookup_and_delete(key)
        except MapError as e:
            if e.errno == errno.ENOENT:
                return None
            raise

    def k_keys(self):
        out, k = [], None
        while (k := sc.map_get_next_key(self.fd, k, self.ks)) is not None and len(out) < 1000:
            out.append(k)
        return out


def mask_padding(pair: Pair, res):
    """Per-cpu padding after a program's update is stale kernel memory: compare values only."""
    kind, v = res
    m = pair.m
    if not pair.prog_updated or kind != "ok" or not isinstance(v, bytes) or not m.percpu:
        return res
    if len(v) != pair.uvs:
        return res
    stride = round_up(m.value_size, 8)
    return kind, b"".join(v[c * stride : c * stride + m.value_size] for c in range(m.ncpus))


def run_kv(pair: Pair, keys: list[bytes], ops, with_lad: bool) -> None:
    for i, op in enumerate(ops):
        kind, ki, val, flags = op
        key = keys[ki] if ki is not None else None
        if kind == "update":
            value = bytes([val]) * pair.uvs
            k, u = pair.both("update", key, value, flags)
        elif kind == "lookup":
            k, u = pair.both("lookup", key)
        elif kind == "delete":
            k, u = pair.both("delete", key)
        elif kind == "next":
            k, u = pair.both("next", key)
        elif kind == "plookup":
            k, u = pair.both("plookup", key)
        elif kind == "pupdate":
            k, u = pair.both("pupdate", key, bytes([val]) * pair.m.value_size, flags)
        elif kind == "pdelete":
            k, u = pair.both("pdelete", key)
        elif kind == "lad" and with_lad:
            k, u = pair.both("lad", key)
        else:
            continue
        k, u = mask_padding(pair, k), mask_padding(pair, u)
        assert u == k, f"op {i} {op}: kernel {k} pybpf {u}"
    assert pair.m.keys() == pair.k_keys()
    for key in keys:
        assert mask_padding(pair, ("ok", pair.u_lookup(key))) == mask_padding(
            pair, ("ok", pair.k_lookup(key))
        )


def kv_ops(nkeys: int, max_size: int = 40, prog_lookups: bool = False, prog_updates=False):
    kinds = ["update", "update", "update", "lookup", "delete", "next", "lad"]
    if prog_lookups:
        kinds += ["plookup", "plookup"]
    if prog_updates:
        kinds += ["pupdate", "pupdate", "pdelete"]
    op = st.tuples(
        st.sampled_from(kinds),
        st.one_of(st.none(), st.integers(0, nkeys - 1)),
        st.integers(0, 255),
        FLAGS,
    ).map(lambda t: t if t[0] == "next" or t[1] is not None else (t[0], 0, t[2], t[3]))
    return st.lists(op, min_size=1, max_size=max_size)


class VmPair(Pair):
    """The program-side operations run as real programs in pybpf's interpreter too."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.vm_progs: dict = {}

    def _vm_ret(self, ident, insns_fn):
        from pybpf.program import Program

        prog = self.vm_progs.get(ident)
        if prog is None:
            prog = self.vm_progs[ident] = Program(insns_fn())
        return prog.test_run(bytes(64)).retval

    def u_pupdate(self, key, value, flags):
        return self._vm_ret(
            (key, value, flags, False), lambda: update_prog(self.m.fd, key, value, flags)
        )

    def u_pdelete(self, key):
        return self._vm_ret((key, b"", 0, True), lambda: update_prog(self.m.fd, key, b"", 0, True))

    def u_plookup(self, key):
        return self._vm_ret(("lookup", key), lambda: lookup_prog(self.m.fd, key))


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
    from pybpf.program import Program

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
