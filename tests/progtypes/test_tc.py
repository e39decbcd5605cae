"""tc (SCHED_CLS/ACT) and cgroup_skb programs in pybpf against the kernel: the skb helpers.

Each case calls one helper with fixed arguments on real frames from the shipped
captures, then copies what the skb now says into cb[] (so ctx_out shows it): the
helper's result, ``len``, ``protocol``, the VLAN fields and ``pkt_type``. Both
backends must agree on the return value, data_out (the packet as the program
left it) and ctx_out.
"""

from __future__ import annotations

import socket

import pytest

from conftest import require_bpf
from pybpf import uapi
from pybpf.asm.macros import (
    BPF_ADD,
    BPF_ALU64_IMM,
    BPF_EMIT_CALL,
    BPF_EXIT_INSN,
    BPF_JGT,
    BPF_JMP_REG,
    BPF_LD_IMM64,
    BPF_LDX_MEM,
    BPF_MOV64_IMM,
    BPF_MOV64_REG,
    BPF_REG_0,
    BPF_REG_1,
    BPF_REG_2,
    BPF_REG_3,
    BPF_REG_4,
    BPF_REG_6,
    BPF_REG_7,
    BPF_REG_10,
    BPF_ST_MEM,
    BPF_STX_MEM,
    BPF_W,
)
from pybpf.isa import Insn
from support.packets import Pair, engine_fixture, frames  # noqa: F401 - a fixture

CLS = uapi.BPF_PROG_TYPE_SCHED_CLS
ACT = uapi.BPF_PROG_TYPE_SCHED_ACT
CG = uapi.BPF_PROG_TYPE_CGROUP_SKB
F = uapi.FUNC_IDS
ARG_REGS = (BPF_REG_2, BPF_REG_3, 4, 5)
CTX0 = bytes(192)

pytestmark = pytest.mark.kernel


@pytest.fixture(autouse=True)
def _bpf() -> None:
    require_bpf()


FRAMES = frames(3)
#: VLAN-tagged frames (802.1Q and QinQ) from the shipped captures
VLAN = [f for f in frames(20) if f[12:14] in (b"\x81\x00", b"\x88\xa8")][:6]


def _be16(v: int) -> int:
    return socket.htons(v)


def report(verdict: bool = False) -> list[Insn]:
    """cb[0] = r7 (the helper's result), cb[1] = len, cb[2] = protocol,
    cb[3] = vlan_present << 16 | vlan_tci, cb[4] = vlan_proto << 16 | pkt_type; r0 = r7
    (``verdict``: r7 & 1, what a cgroup_skb program may return)."""
    out = [BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_7, 48)]
    for cb, (a, b) in enumerate(((0, None), (16, None), (20, 24), (28, 4)), start=1):
        out.append(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, a))
        if b is not None:
            out += [
                BPF_ALU64_IMM(0x60, BPF_REG_2, 16),
                BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, b),
                Insn(0x4F, BPF_REG_2, BPF_REG_3, 0, 0),
            ]
        out.append(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_2, 48 + 4 * cb))
    out.append(BPF_MOV64_REG(BPF_REG_0, BPF_REG_7))
    if verdict:
        out.append(BPF_ALU64_IMM(0x50, BPF_REG_0, 1))  # r0 &= 1
    return [*out, BPF_EXIT_INSN()]


def call(fid: int, *args: int | bytes, ctx: bool = True, verdict: bool = False) -> list[Insn]:
    """r6 = ctx; r7 = fid(ctx, args...) (bytes go on the stack, passed by pointer); report."""
    out = [BPF_MOV64_REG(BPF_REG_6, BPF_REG_1)]
    regs = list(range(2, 6)) if ctx else list(range(1, 6))
    for reg, a in zip(regs, args, strict=False):
        if isinstance(a, bytes):
            for i in range(0, len(a), 4):
                w = int.from_bytes(a[i : i + 4].ljust(4, b"\0"), "little")
                out.append(BPF_ST_MEM(BPF_W, BPF_REG_10, -64 + i, w - (1 << 32) * (w >> 31)))
            out += [BPF_MOV64_REG(reg, BPF_REG_10), BPF_ALU64_IMM(BPF_ADD, reg, -64)]
        elif -(1 << 31) <= a < (1 << 31):
            out.append(BPF_MOV64_IMM(reg, a))
        else:
            out.append(BPF_LD_IMM64(reg, a))
    out += [BPF_EMIT_CALL(fid), BPF_MOV64_REG(BPF_REG_7, BPF_REG_0)]
    return out + report(verdict)


def check(
    insns: list[Insn], prog_type: int = CLS, frames_=None, what: str = "", *, engine: str
) -> None:
    with Pair(lambda _m: insns, prog_type, engine=engine) as p:
        assert p.compare(frames_ or FRAMES, ctx_in=CTX0, what=what) > 0


@pytest.mark.parametrize("prog_type", [CLS, ACT])
def test_fields_without_a_helper(prog_type, engine):
    insns = [BPF_MOV64_REG(BPF_REG_6, BPF_REG_1), BPF_MOV64_IMM(BPF_REG_7, 0), *report()]
    check(insns, prog_type, engine=engine)
    check(insns, prog_type, VLAN, engine=engine)


@pytest.mark.parametrize(
    ("off", "data", "flags"),
    [
        (0, b"\x01\x02\x03\x04", 0),
        (12, b"\x86\xdd", 0),
        (30, b"ABCDEFGH", 1),
        (40, b"12345678", 2),
        (60, b"\xff" * 8, 0),
        (0, b"x" * 4, 4),
        (0x7FFF_FFFF + 1, b"abcd", 0),
    ],
)
def test_skb_store_bytes(off, data, flags, engine):
    check(
        call(F["skb_store_bytes"], off, data, len(data), flags),
        what=f"{off} {flags}",
        engine=engine,
    )


@pytest.mark.parametrize(
    ("off", "frm", "to", "flags"),
    [
        (24, 0x1234, 0x4321, 2),
        (24, 0x0A000001, 0xC0A80001, 4),
        (24, 0, 0x1234, 0),
        (24, 1, 0x1234, 0),
        (25, 0x1234, 0x4321, 2),
        (24, 0x1234, 0x4321, 3),
        (24, 0x1234, 0x4321, 0x12),
        (0x10000, 1, 2, 2),
    ],
)
def test_l3_csum_replace(off, frm, to, flags, engine):
    check(call(F["l3_csum_replace"], off, frm, to, flags), what=f"{off} {flags:#x}", engine=engine)


@pytest.mark.parametrize(
    ("off", "frm", "to", "flags"),
    [
        (40, 0x1234, 0x4321, 2),
        (40, 0x0A000001, 0xC0A80001, 4 | uapi.BPF_F_PSEUDO_HDR),
        (40, 0, 0x1234, 0),
        (40, 0, 0x1234, uapi.BPF_F_PSEUDO_HDR),
        (40, 0x1234, 0x1234, 2 | uapi.BPF_F_MARK_MANGLED_0),
        (40, 0xFFFF, 0, 2 | uapi.BPF_F_MARK_MANGLED_0 | uapi.BPF_F_MARK_ENFORCE),
        (40, 1, 2, 2 | uapi.BPF_F_IPV6),
        (41, 1, 2, 2),
        (40, 1, 2, 0x100),
    ],
)
def test_l4_csum_replace(off, frm, to, flags, engine):
    check(call(F["l4_csum_replace"], off, frm, to, flags), what=f"{off} {flags:#x}", engine=engine)


@pytest.mark.parametrize(
    ("proto", "tci"),
    [(0x8100, 5), (0x88A8, 0x1234), (0x0800, 7), (0x8100, 0xFFFF)],
)
def test_vlan_push_and_pop(proto, tci, engine):
    push = call(F["skb_vlan_push"], _be16(proto), tci)
    check(push, what="push", engine=engine)
    check(push, frames_=VLAN, what="push vlan", engine=engine)
    # push twice: the first tag goes into the packet
    twice = call(F["skb_vlan_push"], _be16(proto), tci)[: -len(report())]
    twice += [BPF_MOV64_REG(BPF_REG_1, BPF_REG_6), *call(F["skb_vlan_push"], _be16(0x8100), 9)[1:]]
    check(twice, what="push twice", engine=engine)
    check(twice, frames_=VLAN, what="push twice vlan", engine=engine)


def test_vlan_pop(engine):
    pop = call(F["skb_vlan_pop"])
    check(pop, frames_=VLAN + FRAMES[:4], engine=engine)
    push_pop = call(F["skb_vlan_push"], _be16(0x8100), 3)[: -len(report())]
    push_pop += [BPF_MOV64_REG(BPF_REG_1, BPF_REG_6), *call(F["skb_vlan_pop"])[1:]]
    check(push_pop, frames_=VLAN + FRAMES[:4], engine=engine)


@pytest.mark.parametrize(("proto", "flags"), [(0x86DD, 0), (0x0800, 0), (0x86DD, 1), (0x0806, 0)])
def test_skb_change_proto(proto, flags, engine):
    check(call(F["skb_change_proto"], _be16(proto), flags), what=f"{proto:#x}", engine=engine)


@pytest.mark.parametrize("t", [0, 1, 2, 3, 4, 7])
def test_skb_change_type(t, engine):
    check(call(F["skb_change_type"], t), engine=engine)


@pytest.mark.parametrize(
    ("length", "flags"),
    [(0, 0), (13, 0), (14, 0), (60, 0), (200, 0), (1500, 0), (60, 1), (16064, 0), (16065, 0)],
)
def test_skb_change_tail(length, flags, engine):
    check(call(F["skb_change_tail"], length, flags), what=f"{length}", engine=engine)


@pytest.mark.parametrize(
    ("room", "flags"), [(0, 0), (4, 0), (14, 0), (100, 0), (14, 1), (16000, 0), (16001, 0)]
)
def test_skb_change_head(room, flags, engine):
    check(call(F["skb_change_head"], room, flags), what=f"{room}", engine=engine)


@pytest.mark.parametrize(
    ("diff", "mode", "flags"),
    [
        (8, uapi.BPF_ADJ_ROOM_NET, 0),
        (-8, uapi.BPF_ADJ_ROOM_NET, 0),
        (20, uapi.BPF_ADJ_ROOM_MAC, 0),
        (-20, uapi.BPF_ADJ_ROOM_MAC, 0),
        (20, uapi.BPF_ADJ_ROOM_MAC, uapi.BPF_F_ADJ_ROOM_ENCAP_L3_IPV4),
        (40, uapi.BPF_ADJ_ROOM_MAC, uapi.BPF_F_ADJ_ROOM_ENCAP_L3_IPV6),
        (
            28,
            uapi.BPF_ADJ_ROOM_MAC,
            uapi.BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | uapi.BPF_F_ADJ_ROOM_ENCAP_L4_UDP,
        ),
        (-20, uapi.BPF_ADJ_ROOM_MAC, uapi.BPF_F_ADJ_ROOM_DECAP_L3_IPV4),
        (-40, uapi.BPF_ADJ_ROOM_MAC, uapi.BPF_F_ADJ_ROOM_DECAP_L3_IPV6),
        (20, uapi.BPF_ADJ_ROOM_MAC, uapi.BPF_F_ADJ_ROOM_DECAP_L3_IPV4),
        (5000, uapi.BPF_ADJ_ROOM_NET, 0),
        (8, 2, 0),
        (8, uapi.BPF_ADJ_ROOM_NET, 1 << 20),
        (-1000, uapi.BPF_ADJ_ROOM_NET, 0),
    ],
)
def test_skb_adjust_room(diff, mode, flags, engine):
    check(
        call(F["skb_adjust_room"], diff, mode, flags),
        what=f"{diff} {mode} {flags:#x}",
        engine=engine,
    )


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
def test_csum_level(level, engine):
    check(call(F["csum_level"], level), engine=engine)
    inc = call(F["csum_level"], 1)[: -len(report())]
    check(
        inc + [BPF_MOV64_REG(BPF_REG_1, BPF_REG_6), *call(F["csum_level"], level)[1:]],
        engine=engine,
    )


def test_csum_update_and_pull_data(engine):
    check(call(F["csum_update"], 0x1234), engine=engine)
    for n in (0, 14, 60, 10000):
        check(call(F["skb_pull_data"], n), engine=engine)


def test_hash(engine):
    check(call(F["set_hash"], 0x12345678), engine=engine)
    check(call(F["set_hash_invalid"]), engine=engine)
    # a hash the program set is what bpf_get_hash_recalc returns
    setter = call(F["set_hash"], 0x0BADCAFE)[: -len(report())]
    check(
        setter + [BPF_MOV64_REG(BPF_REG_1, BPF_REG_6), *call(F["get_hash_recalc"])[1:]],
        engine=engine,
    )


@pytest.mark.parametrize(("ifindex", "flags"), [(1, 0), (1, 1), (5, 0), (1, 2), (0, 0)])
def test_redirect(ifindex, flags, engine):
    check(call(F["redirect"], ifindex, flags, ctx=False), engine=engine)


@pytest.mark.parametrize(("ifindex", "flags"), [(1, 0), (1, 2), (99999, 0), (0, 0)])
def test_clone_redirect(ifindex, flags, engine):
    check(call(F["clone_redirect"], ifindex, flags), engine=engine)


@pytest.mark.parametrize(("tstamp", "kind"), [(0, 0), (5, 0), (0, 1), (77, 1), (9, 2), (9, 3)])
def test_skb_set_tstamp(tstamp, kind, engine):
    check(call(F["skb_set_tstamp"], tstamp, kind), engine=engine)


@pytest.mark.parametrize("prog_type", [CLS, CG])
def test_ecn_set_ce_and_route_realm(prog_type, engine):
    insns = call(F["skb_ecn_set_ce"], verdict=prog_type == CG)
    check(insns, prog_type, engine=engine)
    check(insns, prog_type, VLAN, engine=engine)
    check(call(F["get_route_realm"]), CLS, engine=engine)


def test_direct_packet_write_and_pointers(engine):
    """A tc program writes the packet through ctx->data after a bounds check."""
    insns = [
        BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
        BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, 76),
        BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, 80),
        BPF_LDX_MEM(BPF_W, BPF_REG_4, BPF_REG_6, 140),
        BPF_MOV64_REG(BPF_REG_7, BPF_REG_2),
        Insn(0x1F, BPF_REG_7, BPF_REG_4, 0, 0),  # r7 = data - data_meta
        BPF_MOV64_REG(BPF_REG_1, BPF_REG_2),
        BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 16),
        BPF_JMP_REG(BPF_JGT, BPF_REG_1, BPF_REG_3, 1),
        BPF_ST_MEM(BPF_W, BPF_REG_2, 12, 0x7788),
        *report(),
    ]
    check(insns, engine=engine)
    check(insns, CLS, VLAN, engine=engine)


@pytest.mark.parametrize("attach", [uapi.BPF_CGROUP_INET_INGRESS, uapi.BPF_CGROUP_INET_EGRESS])
def test_cgroup_skb_reads_the_network_header(attach, engine):
    """cgroup_skb sees data at the network header; writes mark and priority; data_out has
    the Ethernet header zeroed."""
    insns = [
        BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
        BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, 76),
        BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, 80),
        BPF_MOV64_REG(BPF_REG_7, BPF_REG_3),
        Insn(0x1F, BPF_REG_7, BPF_REG_2, 0, 0),  # r7 = data_end - data
        BPF_MOV64_REG(BPF_REG_1, BPF_REG_2),
        BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1),
        BPF_JMP_REG(BPF_JGT, BPF_REG_1, BPF_REG_3, 3),
        BPF_LDX_MEM(0x10, BPF_REG_4, BPF_REG_2, 0),  # the first byte of the network header
        BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_4, 8),  # mark
        BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_4, 32),  # priority
        BPF_ALU64_IMM(0x60, BPF_REG_7, 8),
        BPF_ALU64_IMM(0x40, BPF_REG_7, 1),  # | 1: allow
        *report(verdict=True),
    ]
    with Pair(lambda _m: insns, CG, expected_attach_type=attach, engine=engine) as p:
        assert p.compare(FRAMES, ctx_in=CTX0) > 10
        assert p.compare(VLAN, ctx_in=CTX0) > 0
