"""RINGBUF against the kernel: socket filters reserve/submit/discard/output into a kernel
ring buffer (BPF_PROG_TEST_RUN); the same sequence runs on a pybpf ring, and producer and
consumer positions, helper results and the records read back (through mmap of the
kernel ring, as libbpf reads it) must agree.
"""

from __future__ import annotations

import mmap
import struct

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
    BPF_MOV64_IMM,
    BPF_MOV64_REG,
    BPF_ST_MEM,
)
from pybpf.isa import BPF_ADD, BPF_DW, BPF_JEQ
from pybpf.kernel import syscall as sc
from pybpf.maps import Map
from pybpf.maps.base import round_up
from pybpf.uapi import (
    BPF_MAP_TYPE_RINGBUF,
    BPF_PROG_TYPE_SOCKET_FILTER,
    BPF_FUNC_ringbuf_discard,
    BPF_FUNC_ringbuf_output,
    BPF_FUNC_ringbuf_reserve,
    BPF_FUNC_ringbuf_submit,
)

pytestmark = pytest.mark.kernel

RING = 4096
STATS: dict[str, int] = {}
BUSY, DISCARD = 1 << 31, 1 << 30
SIZES = [0, 1, 8, 13, 64, 100, 1000, 2040, 4000, 4089]


def reserve_prog(map_fd: int, size: int, discard: bool):
    return [
        BPF_LD_MAP_FD(1, map_fd),
        BPF_MOV64_IMM(2, size),
        BPF_MOV64_IMM(3, 0),
        BPF_EMIT_CALL(BPF_FUNC_ringbuf_reserve),
        BPF_JMP_IMM(BPF_JEQ, 0, 0, 5),
        BPF_MOV64_REG(1, 0),
        BPF_MOV64_IMM(2, 0),
        BPF_EMIT_CALL(BPF_FUNC_ringbuf_discard if discard else BPF_FUNC_ringbuf_submit),
        BPF_MOV64_IMM(0, 1),
        BPF_EXIT_INSN(),
        BPF_MOV64_IMM(0, 2),
        BPF_EXIT_INSN(),
    ]


def output_prog(map_fd: int, size: int):
    """Fill 64 bytes of stack, then bpf_ringbuf_output(map, fp - 64, size, 0)."""
    return [BPF_ST_MEM(BPF_DW, 10, -8 * (i + 1), i) for i in range(8)] + [
        BPF_LD_MAP_FD(1, map_fd),
        BPF_MOV64_REG(2, 10),
        BPF_ALU64_IMM(BPF_ADD, 2, -64),
        BPF_MOV64_IMM(3, size),
        BPF_MOV64_IMM(4, 0),
        BPF_EMIT_CALL(BPF_FUNC_ringbuf_output),
        BPF_EXIT_INSN(),
    ]


class KernelRing:
    def __init__(self):
        self.fd = sc.map_create(BPF_MAP_TYPE_RINGBUF, 0, 0, RING)
        self.cons = mmap.mmap(
            self.fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0
        )
        self.prod = mmap.mmap(
            self.fd, 4096 + 2 * RING, mmap.MAP_SHARED, mmap.PROT_READ, offset=4096
        )
        self.progs: dict[tuple, int] = {}

    def close(self):
        self.cons.close()
        self.prod.close()
        for fd in self.progs.values():
            sc.close(fd)
        sc.close(self.fd)

    def run(self, key, insns_fn) -> int:
        fd = self.progs.get(key)
        if fd is None:
            fd = self.progs[key] = sc.prog_load(BPF_PROG_TYPE_SOCKET_FILTER, insns_fn())
        return sc.prog_test_run(fd, bytes(64)).retval

    def positions(self) -> tuple[int, int]:
        return (
            struct.unpack_from("<Q", self.cons, 0)[0],
            struct.unpack_from("<Q", self.prod, 0)[0],
        )

    def consume(self) -> list[tuple[int, bool]]:
        out = []
        cons, prod = self.positions()
        while cons < prod:
            hl = struct.unpack_from("<I", self.prod, 4096 + (cons & (RING - 1)))[0]
            if hl & BUSY:
                break
            size = hl & ~DISCARD
            out.append((size, bool(hl & DISCARD)))
            cons += round_up(size + 8, 8)
        struct.pack_into("<Q", self.cons, 0, cons)
        return out


def model_consume(m) -> list[tuple[int, bool]]:
    out = []
    while m.consumer_pos < m.producer_pos:
        off = m.consumer_pos & m.mask
        hl = struct.unpack_from("<I", m.storage, off)[0]
        if hl & BUSY:
            break
        size = hl & ~DISCARD
        out.append((size, bool(hl & DISCARD)))
        m.consumer_pos += round_up(size + 8, 8)
    return out


ops = st.lists(
    st.tuples(st.sampled_from(["submit", "discard", "output", "consume"]), st.sampled_from(SIZES)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops, st.booleans())
def test_ringbuf_matches_kernel(seq, via_vm):
    """``via_vm``: the same programs run in pybpf's interpreter; else the Map API directly."""
    from pybpf.user.program import Program

    require_bpf()
    k = KernelRing()
    m = Map(BPF_MAP_TYPE_RINGBUF, 0, 0, RING)
    vm: dict = {}

    def vm_run(ident, insns_fn):
        if ident not in vm:
            vm[ident] = Program(insns_fn())
        return vm[ident].test_run(bytes(64)).retval

    try:
        for i, (kind, size) in enumerate(seq):
            if kind in ("submit", "discard"):
                kr = k.run(
                    (kind, size), lambda s=size, d=kind == "discard": reserve_prog(k.fd, s, d)
                )
                if via_vm:
                    ur = vm_run(
                        (kind, size),
                        lambda s=size, d=kind == "discard": reserve_prog(m.fd, s, d),
                    )
                else:
                    off = m.reserve(size)
                    if off is not None:
                        (m.discard if kind == "discard" else m.submit)(off)
                    ur = 1 if off is not None else 2
            elif kind == "output":
                size = min(size, 64)
                kr = k.run((kind, size), lambda s=size: output_prog(k.fd, s))
                if via_vm:
                    ur = vm_run((kind, size), lambda s=size: output_prog(m.fd, s))
                else:
                    ur = m.output(bytes(size)) & 0xFFFFFFFF
            else:
                kr, ur = k.consume(), model_consume(m)
            assert ur == kr, f"op {i} {kind} {size}: kernel {kr} pybpf {ur}"
            assert (m.consumer_pos, m.producer_pos) == k.positions(), f"op {i}"
            STATS[str(kr)] = STATS.get(str(kr), 0) + 1
    finally:
        k.close()
    STATS["sequences"] = STATS.get("sequences", 0) + 1


def test_zz_report(capsys):
    with capsys.disabled():
        print(
            "\nringbuf kernel comparison:",
            STATS.get("sequences", 0),
            "sequences;",
            "reserve ok/fail:",
            STATS.get("1", 0),
            STATS.get("2", 0),
            "output ok/EAGAIN:",
            STATS.get("0", 0),
            STATS.get(str(2**32 - 11), 0),
        )
