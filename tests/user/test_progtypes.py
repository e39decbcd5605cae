"""Program types: the __sk_buff layout, context access rules, the rendered context."""

from __future__ import annotations

import struct

import pytest

from pybpf import uapi
from pybpf.net.skb import SkBuff
from pybpf.progtypes import (
    PROG_TYPES,
    SIZEOF_SK_BUFF,
    SK_BUFF_FIELDS,
    SOCKET_FILTER_HELPERS,
    allowed_helpers,
    check_ctx_access,
    field_at,
    get_prog_type,
    render_sk_buff,
    sk_filter_result,
    writeback_sk_buff,
)

SF = uapi.BPF_PROG_TYPE_SOCKET_FILTER
CLS = uapi.BPF_PROG_TYPE_SCHED_CLS


def _ranges(*spans: tuple[int, int], step: int = 1) -> set[int]:
    return {o for lo, hi in spans for o in range(lo, hi, step)}


# What Linux 6.18 accepted when loading `r0 = *(size *)(r1 + off)` (r) and
# `*(size *)(r1 + off) = r2` (w) for every off in 0..199 (tests/test_program_kernel.py
# re-probes the running kernel; these are the answers recorded from it).
KERNEL_ACCESS = {
    SF: {
        ("r", 1): _ranges((0, 72), (84, 88), (164, 168), (176, 180)),
        ("r", 2): _ranges((0, 72), (84, 88), (164, 168), (176, 180), step=2),
        ("r", 4): _ranges((0, 72), (84, 88), (164, 168), (176, 180), step=4),
        ("r", 8): {48, 56, 168},
        ("w", 1): _ranges((48, 68)),
        ("w", 2): _ranges((48, 68), step=2),
        ("w", 4): _ranges((48, 68), step=4),
        ("w", 8): {48, 56},
    },
    CLS: {
        ("r", 1): _ranges((0, 76), (84, 88), (160, 168), (176, 181)),
        ("r", 2): _ranges((0, 76), (84, 88), (160, 168), (176, 180), step=2),
        ("r", 4): _ranges((0, 88), (140, 144), (160, 168), (176, 180), step=4),
        ("r", 8): {48, 56, 152, 168, 184},
        ("w", 1): _ranges((48, 68)),
        ("w", 2): _ranges((48, 68), step=2),
        ("w", 4): {8, 12, 32, 44, 48, 52, 56, 60, 64, 72},
        ("w", 8): {48, 56, 152},
    },
}


def test_layout_is_contiguous_and_192_bytes():
    assert SIZEOF_SK_BUFF == 192
    end = 0
    for f in SK_BUFF_FIELDS:
        assert f.offset >= end, f.name
        end = f.end
    assert end <= SIZEOF_SK_BUFF
    names = {f.name: f.offset for f in SK_BUFF_FIELDS}
    assert names["cb"] == 48 and names["hash"] == 68 and names["napi_id"] == 84
    assert names["tstamp"] == 152 and names["sk"] == 168 and names["hwtstamp"] == 184
    assert field_at(50).name == "cb" and field_at(181) is None


@pytest.mark.parametrize("prog_type", [SF, CLS])
def test_ctx_access_matches_kernel(prog_type):
    want = KERNEL_ACCESS[prog_type]
    for (rw, size), offs in want.items():
        mine = {
            off for off in range(200) if check_ctx_access(prog_type, off, size, rw == "w") is None
        }
        assert mine == offs, (rw, size, sorted(mine ^ offs))


def test_ctx_access_reasons():
    assert "not accessible" in check_ctx_access(SF, 76, 4)
    assert "cb" in check_ctx_access(SF, 8, 4, write=True)
    assert "misaligned" in check_ctx_access(SF, 1, 2)
    assert check_ctx_access(SF, 0, 3) is not None
    assert check_ctx_access(SF, 190, 4) is not None
    assert check_ctx_access(uapi.BPF_PROG_TYPE_KPROBE, 0, 4) is not None


def frame() -> bytes:
    return (
        bytes.fromhex("0200000000010200000000028100")
        + (0x1234).to_bytes(2, "big")
        + b"\x08\x00"
        + bytes(40)
    )


def test_render_fields():
    skb = SkBuff.from_frame(
        frame(), untag_vlan=True, ifindex=3, ingress_ifindex=4, mark=5, hash=6, priority=7
    )
    skb.queue_mapping, skb.tc_index, skb.napi_id = 8, 9, 10
    skb.gso_segs, skb.gso_size = 11, 12
    skb.cb[:] = bytes(range(20))
    img = render_sk_buff(skb)

    def u32(off):
        return struct.unpack_from("<I", img, off)[0]

    assert u32(0) == skb.len == len(frame()) - 4
    assert u32(4) == uapi.PACKET_OTHERHOST
    assert u32(8) == 5 and u32(12) == 8
    assert u32(16) == 0x0008  # htons(ETH_P_IP), as a program reads skb->protocol
    assert u32(20) == 1 and u32(24) == 0x1234 and u32(28) == 0x0081
    assert u32(32) == 7 and u32(36) == 4 and u32(40) == 3 and u32(44) == 9
    assert img[48:68] == bytes(range(20))
    assert u32(68) == 6 and u32(84) == 10 and u32(164) == 11 and u32(176) == 12
    # narrow loads read the little-endian bytes of the field
    assert img[16] == 0x08 and img[17] == 0


def test_writeback_only_cb_for_socket_filters():
    skb = SkBuff.from_frame(frame())
    img = render_sk_buff(skb)
    img[48:52] = b"\x01\x02\x03\x04"
    img[8:12] = b"\xff\xff\xff\xff"
    writeback_sk_buff(skb, img)
    assert skb.cb[:4] == b"\x01\x02\x03\x04" and skb.mark == 0
    writeback_sk_buff(skb, img, CLS)
    assert skb.mark == 0xFFFF_FFFF


def test_return_value_meaning():
    assert sk_filter_result(0, 100) == 0
    assert sk_filter_result(40, 100) == 40
    assert sk_filter_result(0xFFFF_FFFF, 100) == 100
    assert sk_filter_result(1 << 32, 100) == 0  # only the low 32 bits count


def test_prog_type_tables():
    pt = get_prog_type(SF)
    assert pt.ld_abs and pt.runnable and pt.ctx_size == 192
    assert SOCKET_FILTER_HELPERS == allowed_helpers(SF)
    assert uapi.BPF_FUNC_skb_store_bytes not in SOCKET_FILTER_HELPERS
    assert uapi.BPF_FUNC_skb_store_bytes in allowed_helpers(CLS)
    assert allowed_helpers(uapi.BPF_PROG_TYPE_KPROBE) == frozenset()
    assert set(PROG_TYPES) >= {SF, CLS}
    with pytest.raises(Exception, match="not modelled"):
        get_prog_type(uapi.BPF_PROG_TYPE_KPROBE)


def test_ctx_load_follows_the_kernel_rewrite():
    from pybpf.progtypes import ctx_load

    skb = SkBuff.from_frame(frame(), pkt_type=uapi.PACKET_MULTICAST)
    skb.gso_segs = 0x0102
    img = render_sk_buff(skb)
    # pkt_type is a byte in sk_buff: every load of the field returns it whole
    assert [ctx_load(img, 4 + i, 1) for i in range(4)] == [2, 2, 2, 2]
    assert ctx_load(img, 6, 2) == 2 and ctx_load(img, 4, 4) == 2
    # protocol is a __be16: loads of 2+ bytes return it, 1-byte loads shift and mask
    proto = 0x0081  # htons(ETH_P_8021Q)
    assert ctx_load(img, 18, 2) == proto and ctx_load(img, 16, 4) == proto
    assert ctx_load(img, 16, 1) == 0x81 and ctx_load(img, 17, 1) == 0x00
    assert ctx_load(img, 18, 1) == 0
    assert ctx_load(img, 166, 2) == 0x0102 and ctx_load(img, 165, 1) == 0x01
    # plain 4-byte fields and cb read as memory
    assert ctx_load(img, 1, 1) == (skb.len >> 8) & 0xFF
    img[48:56] = bytes(range(8))
    assert ctx_load(img, 48, 8) == int.from_bytes(bytes(range(8)), "little")


def test_sched_cls_test_run_sees_the_mac_header():
    from pybpf.asm.macros import (
        BPF_B,
        BPF_EXIT_INSN,
        BPF_LD_ABS,
        BPF_MOV64_REG,
        BPF_REG_1,
        BPF_REG_6,
    )
    from pybpf.user.program import Program

    insns = [BPF_MOV64_REG(BPF_REG_6, BPF_REG_1), BPF_LD_ABS(BPF_B, 0), BPF_EXIT_INSN()]
    f = bytes([0x33]) + bytes(13) + bytes([0x45]) + bytes(40)
    assert Program(insns).test_run(f).retval == 0x45
    r = Program(insns, prog_type=CLS).test_run(f)
    assert r.retval == 0x33 and r.data_out == f
