"""The user-space Program: the seed's socket filter on real captures, run and test_run."""

from __future__ import annotations

import errno
import struct
from collections import Counter
from pathlib import Path

import pytest

from pybpf import uapi
from pybpf.asm.macros import (
    BPF_ABS,
    BPF_ALU64_IMM,
    BPF_B,
    BPF_CALL,
    BPF_DW,
    BPF_EXIT_INSN,
    BPF_H,
    BPF_JEQ,
    BPF_JMP,
    BPF_JMP_IMM,
    BPF_LD,
    BPF_LD_ABS,
    BPF_LD_IND,
    BPF_LD_MAP_FD,
    BPF_LDX_MEM,
    BPF_MOV64_IMM,
    BPF_MOV64_REG,
    BPF_RAW_INSN,
    BPF_REG_0,
    BPF_REG_1,
    BPF_REG_2,
    BPF_REG_6,
    BPF_REG_7,
    BPF_REG_10,
    BPF_ST_MEM,
    BPF_STX,
    BPF_STX_MEM,
    BPF_W,
    BPF_XADD,
)
from pybpf.errors import BpfError, VerifierError
from pybpf.isa import Insn
from pybpf.maps.base import Map
from pybpf.net.skb import SkBuff
from pybpf.user.program import Program, license_is_gpl_compatible
from support.paths import PCAPS  # noqa: E402


def read_pcap(path: Path) -> tuple[int, list[bytes]]:
    """A minimal classic-pcap reader: (link type, frames). Not for pcapng."""
    raw = path.read_bytes()
    magic = raw[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        return -1, []
    linktype = struct.unpack_from(end + "I", raw, 20)[0] & 0xFFFF
    frames, off = [], 24
    while off + 16 <= len(raw):
        caplen = struct.unpack_from(end + "I", raw, off + 8)[0]
        off += 16
        if off + caplen > len(raw):
            break
        frames.append(raw[off : off + caplen])
        off += caplen
    return linktype, frames


def ethernet_captures() -> list[Path]:
    out = []
    for p in sorted(PCAPS.glob("*.pcap")):
        lt, frames = read_pcap(p)
        if lt == 1 and frames:
            out.append(p)
    return out


def sockex1(map_ref) -> list[Insn]:
    """The seed's program, instruction for instruction (samples/bpf/sock_example.c)."""
    return [
        BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
        BPF_LD_ABS(BPF_B, 14 + 9),
        BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_0, -4),
        BPF_MOV64_REG(BPF_REG_2, BPF_REG_10),
        BPF_ALU64_IMM(0x00, BPF_REG_2, -4),
        BPF_LD_MAP_FD(BPF_REG_1, map_ref),
        BPF_RAW_INSN(BPF_JMP | BPF_CALL, 0, 0, 0, uapi.BPF_FUNC_map_lookup_elem),
        BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 2),
        BPF_MOV64_IMM(BPF_REG_1, 1),
        BPF_RAW_INSN(BPF_STX | BPF_XADD | BPF_DW, BPF_REG_0, BPF_REG_1, 0, 0),
        BPF_MOV64_IMM(BPF_REG_0, 0),
        BPF_EXIT_INSN(),
    ]


def ipv4_only(map_ref) -> list[Insn]:
    """sockex1 that first checks the EtherType is IPv4, then counts the IP protocol."""
    return [
        BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
        BPF_LD_ABS(BPF_H, 12),
        BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0x0800, 2),
        BPF_MOV64_IMM(BPF_REG_0, 0),
        BPF_EXIT_INSN(),
        *sockex1(map_ref)[1:],
    ]


def counts(m: Map) -> dict[int, int]:
    return {
        int.from_bytes(k, "little"): int.from_bytes(v, "little")
        for k, v in m.items()
        if int.from_bytes(v, "little")
    }


def test_seed_program_on_every_ethernet_capture():
    caps = ethernet_captures()
    assert len(caps) >= 15
    total = 0
    for path in caps:
        _, frames = read_pcap(path)
        m = Map(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 256)
        p = Program(sockex1(m), name="sockex1")
        for f in frames:
            assert p.run(f) == 0
        want = Counter(f[23] for f in frames if len(f) >= 24)
        assert counts(m) == dict(want), path.name
        total += len(frames)
    assert total > 50


def test_ipv4_protocol_counts_match_a_plain_parse():
    m = Map(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 256)
    p = Program(ipv4_only(m))
    want: Counter[int] = Counter()
    for path in ethernet_captures():
        for f in read_pcap(path)[1]:
            p.run(f)
            if len(f) >= 24 and f[12:14] == b"\x08\x00":
                want[f[23]] += 1
    assert counts(m) == dict(want)
    assert want[6] and want[17]  # TCP and UDP are in the captures


def test_seed_program_with_fragmented_skbs_and_fd_resolution():
    m = Map(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 256)
    insns = [i.replace(ref=None) for i in sockex1(m.fd)]  # plain fd: resolved via the table
    p = Program(insns)
    frames = read_pcap(PCAPS / "dns_udp.pcap")[1]
    for f in frames:
        p.run(SkBuff.from_frame(f, linear=16, frag_size=5))
    assert counts(m) == {17: len(frames)}
    assert p.maps == [m]


def ret_prog(value: int) -> list[Insn]:
    return [
        BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
        Insn(0x18, 0, 0, 0, value & 0xFFFF_FFFF, value >> 32),
        BPF_EXIT_INSN(),
    ]


def test_return_value_is_u32():
    f = bytes(60)
    assert Program(ret_prog(0)).run(f) == 0
    assert Program(ret_prog(42)).run(f) == 42
    assert Program(ret_prog((5 << 32) | 7)).run(f) == 7


def test_out_of_bounds_ld_abs_returns_zero():
    p = Program(
        [
            BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
            BPF_LD_ABS(BPF_W, 58),
            BPF_MOV64_IMM(BPF_REG_0, 9),
            BPF_EXIT_INSN(),
        ]
    )
    assert p.run(bytes(62)) == 9
    assert p.run(bytes(61)) == 0


def test_ld_ind_and_negative_bases():
    f = bytes.fromhex("ffffffffffff020000000002") + b"\x08\x00" + bytes([0x45]) + bytes(30)
    # r7 = 2; r0 = *(u16 *)(data + r7 + 10) -> the EtherType at the MAC header
    p = Program(
        [
            BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
            BPF_MOV64_IMM(BPF_REG_7, 2),
            BPF_LD_IND(BPF_H, BPF_REG_7, 10),
            BPF_EXIT_INSN(),
        ]
    )
    assert p.run(f) == 0x0800
    net = Program(
        [BPF_MOV64_REG(BPF_REG_6, BPF_REG_1), BPF_LD_ABS(BPF_B, uapi.SKF_NET_OFF), BPF_EXIT_INSN()]
    )
    assert net.run(f) == 0x45
    ll = Program(
        [
            BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
            BPF_LD_ABS(BPF_H, uapi.SKF_LL_OFF + 12),
            BPF_EXIT_INSN(),
        ]
    )
    assert ll.run(f) == 0x0800
    ad = Program(
        [
            BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
            Insn(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, uapi.SKF_AD_OFF),
            BPF_EXIT_INSN(),
        ]
    )
    assert ad.run(f) == 0


def test_test_run_strips_the_ethernet_header():
    f = bytes.fromhex("020000000001020000000002") + b"\x08\x00" + bytes([0x45]) + bytes(30)
    first = Program([BPF_MOV64_REG(BPF_REG_6, BPF_REG_1), BPF_LD_ABS(BPF_B, 0), BPF_EXIT_INSN()])
    assert first.run(f) == 0x02  # a socket sees the MAC header at offset 0
    r = first.test_run(f)
    assert r.retval == 0x45  # test_run: offset 0 is the IP header
    assert r.data_out == bytes(14) + f[14:]
    length = Program([BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, 0), BPF_EXIT_INSN()])
    assert length.test_run(f).retval == len(f) - 14
    pkt_type = Program([BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, 4), BPF_EXIT_INSN()])
    assert pkt_type.test_run(f).retval == uapi.PACKET_OTHERHOST
    ifindex = Program([BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, 40), BPF_EXIT_INSN()])
    assert ifindex.test_run(f).retval == 1


def test_test_run_ctx_in_out():
    prog = Program(
        [
            BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, 8),  # r0 = mark
            BPF_ST_MEM(BPF_W, BPF_REG_1, 52, 0x1234),  # cb[1] = 0x1234
            BPF_EXIT_INSN(),
        ]
    )
    ctx = bytearray(192)
    ctx[8:12] = (77).to_bytes(4, "little")
    ctx[48:52] = b"\x01\x02\x03\x04"
    r = prog.test_run(bytes(14) + bytes(40), ctx_in=bytes(ctx))
    assert r.retval == 77
    assert r.ctx_out[48:56] == b"\x01\x02\x03\x04\x34\x12\x00\x00"
    assert r.ctx_out[8:12] == (77).to_bytes(4, "little")
    assert r.ctx_out[40:44] == (1).to_bytes(4, "little")
    bad = bytearray(192)
    bad[0] = 1  # len is not an input
    with pytest.raises(BpfError) as ei:
        prog.test_run(bytes(54), ctx_in=bytes(bad))
    assert ei.value.errno == errno.EINVAL


def test_test_run_size_limits():
    p = Program(ret_prog(1))
    with pytest.raises(BpfError) as ei:
        p.test_run(bytes(13))
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(BpfError):
        p.test_run(bytes(4000))
    assert p.test_run(bytes(3712), repeat=3).retval == 1


def test_helper_checks_at_construction():
    with pytest.raises(VerifierError, match="cannot use helper bpf_skb_store_bytes#9"):
        Program([BPF_RAW_INSN(BPF_JMP | BPF_CALL, 0, 0, 0, 9), BPF_EXIT_INSN()])
    with pytest.raises(VerifierError, match="invalid func unknown#999"):
        Program([BPF_RAW_INSN(BPF_JMP | BPF_CALL, 0, 0, 0, 999), BPF_EXIT_INSN()])
    printk = [BPF_RAW_INSN(BPF_JMP | BPF_CALL, 0, 0, 0, 6), BPF_EXIT_INSN()]
    with pytest.raises(VerifierError, match="GPL-restricted"):
        Program(printk, license="Proprietary")
    assert Program(printk, license="Dual BSD/GPL")
    assert license_is_gpl_compatible("GPL v2") and not license_is_gpl_compatible("MIT")


def test_program_fd_and_repr():
    p = Program(ret_prog(0), name="x")
    q = Program(ret_prog(0))
    assert p.fd != q.fd and p.fd >= 1 << 20
    assert "socket_filter" in repr(p)
    assert (
        Program(bytes(Insn(0xB7, 0, 0, 0, 3).encode() + BPF_EXIT_INSN().encode())).run(bytes(20))
        == 3
    )


def test_cb_written_by_the_program_reaches_the_skb():
    p = Program(
        [BPF_ST_MEM(BPF_W, BPF_REG_1, 48, 99), BPF_MOV64_IMM(BPF_REG_0, 1), BPF_EXIT_INSN()]
    )
    skb = SkBuff.from_frame(bytes(30))
    assert p.run(skb) == 1
    assert skb.cb[:4] == (99).to_bytes(4, "little")


def test_program_from_spec_with_map_refs():
    from pybpf.spec.types import MapRef, ProgramSpec

    m = Map(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 256)
    insns = [i.replace(ref=MapRef("counts")) if i.is_lddw else i for i in sockex1(0)]
    spec = ProgramSpec("sockex1", insns)
    p = Program.from_spec(spec, {"counts": m})
    p.run(bytes(23) + b"\x06" + bytes(10))
    assert counts(m) == {6: 1}
    with pytest.raises(BpfError, match="counts"):
        Program.from_spec(spec, {})


def test_verify_option_runs_pybpf_verifier():
    pytest.importorskip("pybpf.verifier.check")
    m = Map(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 256)
    assert Program(sockex1(m), verify=True).run(bytes(60)) == 0
    bad = [BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, 76), BPF_EXIT_INSN()]  # skb->data
    with pytest.raises(VerifierError):
        Program(bad, verify=True)
