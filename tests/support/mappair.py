"""A pybpf map and a kernel map side by side: the same operations, compared result by result."""

from __future__ import annotations

import contextlib
import errno
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from pybpf.asm.macros import (
    BPF_ALU64_IMM,
    BPF_EMIT_CALL,
    BPF_EXIT_INSN,
    BPF_JMP_IMM,
    BPF_LD_MAP_FD,
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
    BPF_PROG_TYPE_SOCKET_FILTER,
    BPF_FUNC_map_delete_elem,
    BPF_FUNC_map_lookup_elem,
    BPF_FUNC_map_update_elem,
)

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
        from pybpf.user.program import Program

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
