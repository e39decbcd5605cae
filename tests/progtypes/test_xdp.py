"""XDP programs in pybpf against the kernel: the frame, the helpers, test-run's contract.

Every case runs the same instructions in both backends on real frames from the
shipped captures (BPF_PROG_TEST_RUN in the kernel, Program.test_run in pybpf) and
compares the return value, data_out, ctx_out and maps (support.packets.Pair).
"""

from __future__ import annotations

import random
import struct

import pytest

from conftest import require_bpf
from pybpf import uapi
from pybpf.asm.macros import (
    BPF_ADD,
    BPF_ALU64_IMM,
    BPF_B,
    BPF_DW,
    BPF_EMIT_CALL,
    BPF_EXIT_INSN,
    BPF_H,
    BPF_JGT,
    BPF_JMP_IMM,
    BPF_JMP_REG,
    BPF_LDX_MEM,
    BPF_MOV64_IMM,
    BPF_MOV64_REG,
    BPF_REG_0,
    BPF_REG_1,
    BPF_REG_2,
    BPF_REG_3,
    BPF_REG_4,
    BPF_REG_5,
    BPF_REG_6,
    BPF_REG_7,
    BPF_REG_10,
    BPF_ST_MEM,
    BPF_W,
)
from pybpf.errors import NotSupportedError
from pybpf.isa import Insn
from support.packets import Pair, engine_fixture, frames  # noqa: F401 - a fixture

XDP = uapi.BPF_PROG_TYPE_XDP
F = uapi.FUNC_IDS
JNE = 0x50

pytestmark = pytest.mark.kernel


@pytest.fixture(autouse=True)
def _bpf() -> None:
    require_bpf()


FRAMES = frames(3)


def mark_after(fid: int, delta: int, *, meta: bool = False) -> list[Insn]:
    """Call ``fid(ctx, delta)``; on success write 0xbeef at the (new) data, or 0x11223344
    at data_meta when ``meta``; return the helper's result."""
    ptr, limit = (8, 0) if meta else (0, 4)
    size = BPF_W if meta else BPF_H
    n = 4 if meta else 2
    return [
        BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
        BPF_MOV64_IMM(BPF_REG_2, delta),
        BPF_EMIT_CALL(fid),
        BPF_MOV64_REG(BPF_REG_7, BPF_REG_0),
        BPF_JMP_IMM(JNE, BPF_REG_7, 0, 6),
        BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, ptr),
        BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, limit),
        BPF_MOV64_REG(BPF_REG_4, BPF_REG_2),
        BPF_ALU64_IMM(BPF_ADD, BPF_REG_4, n),
        BPF_JMP_REG(BPF_JGT, BPF_REG_4, BPF_REG_3, 1),
        BPF_ST_MEM(size, BPF_REG_2, 0, 0x11223344 if meta else 0xBEEF),
        BPF_MOV64_REG(BPF_REG_0, BPF_REG_7),
        BPF_EXIT_INSN(),
    ]


@pytest.mark.parametrize("delta", [-300, -217, -216, -100, -14, -1, 0, 1, 13, 14, 40, 2000])
def test_adjust_head(delta, engine):
    with Pair(lambda _m: mark_after(F["xdp_adjust_head"], delta), XDP, engine=engine) as p:
        assert p.compare(FRAMES, what=f"adjust_head {delta}") > 10


@pytest.mark.parametrize("delta", [-2000, -60, -51, -50, -1, 0, 1, 100, 3455, 3456, 3457])
def test_adjust_tail(delta, engine):
    with Pair(lambda _m: mark_after(F["xdp_adjust_tail"], delta), XDP, engine=engine) as p:
        assert p.compare(FRAMES, what=f"adjust_tail {delta}") > 10


@pytest.mark.parametrize("delta", [-256, -216, -215, -40, -32, -6, -4, 0, 4])
def test_adjust_meta(delta, engine):
    with Pair(
        lambda _m: mark_after(F["xdp_adjust_meta"], delta, meta=True), XDP, engine=engine
    ) as p:
        assert p.compare(FRAMES[:12], what=f"adjust_meta {delta}") > 5


def test_adjust_head_moves_metadata(engine):
    """Metadata moves with data (bpf_xdp_adjust_head memmoves it)."""

    def build(_m):
        return [
            BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
            BPF_MOV64_IMM(BPF_REG_2, -8),
            BPF_EMIT_CALL(F["xdp_adjust_meta"]),
            BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, 8),
            BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, 0),
            BPF_MOV64_REG(BPF_REG_4, BPF_REG_2),
            BPF_ALU64_IMM(BPF_ADD, BPF_REG_4, 8),
            BPF_JMP_REG(BPF_JGT, BPF_REG_4, BPF_REG_3, 7),
            BPF_ST_MEM(BPF_W, BPF_REG_2, 0, 0x01020304),
            BPF_ST_MEM(BPF_W, BPF_REG_2, 4, 0x05060708),
            BPF_MOV64_REG(BPF_REG_1, BPF_REG_6),
            BPF_MOV64_IMM(BPF_REG_2, 6),
            BPF_EMIT_CALL(F["xdp_adjust_head"]),
            BPF_MOV64_IMM(BPF_REG_0, uapi.XDP_PASS),
            BPF_EXIT_INSN(),
            BPF_MOV64_IMM(BPF_REG_0, uapi.XDP_DROP),
            BPF_EXIT_INSN(),
        ]

    with Pair(build, XDP, engine=engine) as p:
        assert p.compare(FRAMES[:10]) == 10


def test_ctx_fields_and_metadata_through_ctx_in(engine):
    """ingress_ifindex, rx_queue_index, data - data_meta: what the program reads and what
    ctx_out says, with metadata given in ctx_in."""

    def build(_m):
        return [
            BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_1, 0),
            BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_1, 8),
            BPF_LDX_MEM(BPF_W, BPF_REG_4, BPF_REG_1, 12),
            BPF_LDX_MEM(BPF_W, BPF_REG_5, BPF_REG_1, 16),
            Insn(0x1F, BPF_REG_2, BPF_REG_3, 0, 0),  # r2 -= r3: the metadata's length
            BPF_MOV64_REG(BPF_REG_0, BPF_REG_4),
            BPF_ALU64_IMM(0x60, BPF_REG_0, 8),  # r0 <<= 8
            Insn(0x0F, BPF_REG_0, BPF_REG_2, 0, 0),
            BPF_ALU64_IMM(0x60, BPF_REG_0, 8),
            Insn(0x0F, BPF_REG_0, BPF_REG_5, 0, 0),
            BPF_EXIT_INSN(),
        ]

    with Pair(build, XDP, engine=engine) as p:
        for meta in (0, 4, 8, 32, 252, 3, 256):
            for f in FRAMES[:4]:
                size = len(f)
                ctx = struct.pack("<6I", meta, size, 0, 1, 0, 0)
                p.compare([f], ctx_in=ctx, what=f"meta {meta}")
                p.compare([f], ctx_in=struct.pack("<6I", meta, size, 0, 0, 0, 0))
        bad = [
            struct.pack("<6I", 0, 80, 0, 0, 0, 0),  # data_end > size
            struct.pack("<6I", 30, 20, 0, 0, 0, 0),  # data > data_end
            struct.pack("<6I", 0, 64, 4, 0, 0, 0),  # data_meta set
            struct.pack("<6I", 0, 64, 0, 0, 0, 1),  # egress_ifindex set
            struct.pack("<6I", 0, 64, 0, 1, 1, 0),  # loopback has one rx queue
            struct.pack("<6I", 0, 64, 0, 0, 1, 0),  # a queue without a device
            struct.pack("<6I", 0, 64, 0, 99999, 0, 0),  # no such device
            struct.pack("<6I", 0, 64, 0, 0, 0, 0) + b"\x01",  # non-zero excess
        ]
        for ctx in bad:
            p.compare([bytes(range(64))], ctx_in=ctx, what=ctx.hex())
        # data_end short of the input: the rest goes into fragments, which pybpf refuses
        with pytest.raises(NotSupportedError, match="multi-buffer"):
            p.user.test_run(bytes(64), ctx_in=struct.pack("<6I", 0, 20, 0, 0, 0, 0))


def test_sizes_and_repeat(engine):
    with Pair(lambda _m: mark_after(F["xdp_adjust_head"], -4), XDP, engine=engine) as p:
        p.compare([bytes(n) for n in (0, 1, 13, 14, 15, 3520)])
        with pytest.raises(NotSupportedError, match="multi-buffer"):
            p.user.test_run(bytes(3521))
        p.compare(FRAMES[:6], repeat=3, what="repeat")  # the head moves on every run


def csum_prog(a: bytes, b: bytes, seed: int) -> list[Insn]:
    """bpf_csum_diff(a, len(a), b, len(b), seed) with a and b on the stack (NULL if empty)."""
    out: list[Insn] = []
    for base, data in ((-256, a), (-512, b)):
        for i in range(0, len(data), 4):
            word = int.from_bytes(data[i : i + 4], "little")
            out.append(BPF_ST_MEM(BPF_W, BPF_REG_10, base + i, word - (1 << 32) * (word >> 31)))
    for reg, base, data in ((BPF_REG_1, -256, a), (BPF_REG_3, -512, b)):
        if data:
            out += [BPF_MOV64_REG(reg, BPF_REG_10), BPF_ALU64_IMM(BPF_ADD, reg, base)]
        else:
            out.append(BPF_MOV64_IMM(reg, 0))
    return out + [
        BPF_MOV64_IMM(BPF_REG_2, len(a)),
        BPF_MOV64_IMM(BPF_REG_4, len(b)),
        BPF_MOV64_IMM(BPF_REG_5, seed),
        BPF_EMIT_CALL(F["csum_diff"]),
        BPF_EXIT_INSN(),
    ]


def test_csum_diff(engine):
    rng = random.Random(16)
    cases = [(b"", b"", 0), (b"", b"", 0x1234), (bytes(4), bytes(4), 0), (b"\xff" * 8, b"", 0)]
    for _ in range(40):
        na, nb = rng.choice((0, 4, 8, 20, 40, 64)), rng.choice((0, 4, 8, 20, 40, 64))
        seed = rng.choice((0, 1, 0xFFFF, 0x7FFF_FFFF, rng.getrandbits(31)))
        cases.append((rng.randbytes(na), rng.randbytes(nb), seed))
    for a, b, seed in cases:
        with Pair(lambda _m, a=a, b=b, s=seed: csum_prog(a, b, s), XDP, engine=engine) as p:
            p.compare(FRAMES[:1], what=f"{a.hex()} {b.hex()} {seed:#x}")


@pytest.mark.parametrize(("ifindex", "flags"), [(1, 0), (7, 0), (0, 0), (1, 1), (2, 8)])
def test_redirect(ifindex, flags, engine):
    prog = [
        BPF_MOV64_IMM(BPF_REG_1, ifindex),
        BPF_MOV64_IMM(BPF_REG_2, flags),
        BPF_EMIT_CALL(F["redirect"]),
        BPF_EXIT_INSN(),
    ]
    with Pair(lambda _m: prog, XDP, engine=engine) as p:
        p.compare(FRAMES[:3])
    out = p.user.run_packet(FRAMES[0])
    if not flags:
        assert out.action == "XDP_REDIRECT" and out.redirect == (ifindex, 0) and out.leaves
        assert out.comment().startswith("XDP_REDIRECT to ")
    else:
        assert out.action == "XDP_ABORTED" and out.redirect is None


@pytest.mark.parametrize(("off", "n"), [(0, 4), (10, 8), (0, 64), (60, 8), (200, 1)])
def test_load_store_bytes_and_buff_len(off, n, engine):
    """bpf_xdp_load_bytes to the stack, bpf_xdp_store_bytes back at offset 0; the return
    value is the two results and the frame's length."""

    def build(_m):
        zero = [BPF_ST_MEM(BPF_DW, BPF_REG_10, -64 + 8 * i, 0) for i in range(8)]
        return [
            *zero,  # a failed load leaves the buffer as it was (the kernel does not clear it)
            BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
            BPF_MOV64_IMM(BPF_REG_2, off),
            BPF_MOV64_REG(BPF_REG_3, BPF_REG_10),
            BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, -64),
            BPF_MOV64_IMM(BPF_REG_4, n),
            BPF_EMIT_CALL(F["xdp_load_bytes"]),
            BPF_MOV64_REG(BPF_REG_7, BPF_REG_0),
            BPF_MOV64_REG(BPF_REG_1, BPF_REG_6),
            BPF_MOV64_IMM(BPF_REG_2, 0),
            BPF_MOV64_REG(BPF_REG_3, BPF_REG_10),
            BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, -64),
            BPF_MOV64_IMM(BPF_REG_4, n),
            BPF_EMIT_CALL(F["xdp_store_bytes"]),
            BPF_ALU64_IMM(0x60, BPF_REG_7, 16),
            Insn(0x4F, BPF_REG_7, BPF_REG_0, 0, 0),  # r7 |= r0
            BPF_MOV64_REG(BPF_REG_1, BPF_REG_6),
            BPF_EMIT_CALL(F["xdp_get_buff_len"]),
            BPF_ALU64_IMM(0x60, BPF_REG_7, 16),
            Insn(0x0F, BPF_REG_0, BPF_REG_7, 0, 0),
            BPF_EXIT_INSN(),
        ]

    with Pair(build, XDP, engine=engine) as p:
        assert p.compare(FRAMES, what=f"{off}+{n}") > 10


def test_headroom_reads_zero_for_every_frame(engine):
    """Metadata a frame leaves behind is not the next frame's: each run's frame starts in
    zeroed memory, as each test run's does (the program writes its metadata only for
    multicast destinations; the others' data_out show zeros)."""

    def build(_m):
        return [
            BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
            BPF_MOV64_IMM(BPF_REG_2, -8),
            BPF_EMIT_CALL(F["xdp_adjust_meta"]),
            BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, 8),
            BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, 0),
            BPF_MOV64_REG(BPF_REG_4, BPF_REG_2),
            BPF_ALU64_IMM(BPF_ADD, BPF_REG_4, 9),
            BPF_JMP_REG(BPF_JGT, BPF_REG_4, BPF_REG_3, 4),
            BPF_LDX_MEM(BPF_B, BPF_REG_5, BPF_REG_2, 8),  # the destination's first byte
            BPF_ALU64_IMM(0x50, BPF_REG_5, 1),  # multicast bit
            BPF_JMP_IMM(0x15, BPF_REG_5, 0, 1),  # if r5 == 0 skip the write
            BPF_ST_MEM(BPF_DW, BPF_REG_2, 0, 0x55),
            BPF_MOV64_IMM(BPF_REG_0, uapi.XDP_PASS),
            BPF_EXIT_INSN(),
        ]

    mixed = [f for f in FRAMES if f[0] & 1][:4] + [f for f in FRAMES if not f[0] & 1][:4]
    with Pair(build, XDP, engine=engine) as p:
        assert p.compare(mixed * 2) == 16
