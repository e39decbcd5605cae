"""Context access rules of XDP, tc and cgroup_skb programs, against Linux 6.18's answers.

KERNEL_ACCESS is what the kernel accepted when loading ``r0 = *(size *)(r1 + off)`` (r)
and ``*(size *)(r1 + off) = r2`` (w) for every offset and size; the kernel test
re-probes the running kernel the same way.
"""

from __future__ import annotations

import os

import pytest

from conftest import require_bpf
from pybpf import uapi
from pybpf.asm.macros import BPF_EXIT_INSN, BPF_MOV64_IMM, BPF_REG_0, BPF_REG_2
from pybpf.isa import Insn
from pybpf.progtypes import (
    NARROW_POINTER,
    PROG_TYPES,
    check_ctx_access,
    ctx_field_at,
    ctx_narrow,
    ctx_pointer,
    tc,
    xdp,
)
from pybpf.progtypes import cgroup_skb as cg

XDP = uapi.BPF_PROG_TYPE_XDP
CLS = uapi.BPF_PROG_TYPE_SCHED_CLS
ACT = uapi.BPF_PROG_TYPE_SCHED_ACT
CG = uapi.BPF_PROG_TYPE_CGROUP_SKB
DEVMAP = uapi.BPF_XDP_DEVMAP


def _r(*spans: tuple[int, int], step: int = 1) -> set[int]:
    return {o for lo, hi in spans for o in range(lo, hi, step)}


_TC = {
    ("r", 1): _r((0, 76), (84, 88), (160, 168), (176, 181)),
    ("r", 2): _r((0, 76), (84, 88), (160, 168), (176, 180), step=2),
    ("r", 4): _r((0, 88), (140, 144), (160, 168), (176, 180), step=4),
    ("r", 8): _r((48, 64), (152, 160), (168, 176), (184, 192), step=8),
    ("w", 1): _r((48, 68)),
    ("w", 2): _r((48, 68), step=2),
    ("w", 4): _r((8, 16), (32, 36), (44, 68), (72, 76), step=4),
    ("w", 8): _r((48, 64), (152, 160), step=8),
}
_CG = {
    ("r", 1): _r((0, 72), (84, 92), (132, 140), (164, 168), (176, 180)),
    ("r", 2): _r((0, 72), (84, 92), (132, 140), (164, 168), (176, 180), step=2),
    ("r", 4): _r((0, 72), (76, 140), (164, 168), (176, 180), step=4),
    ("r", 8): _r((48, 64), (152, 160), (168, 176), (184, 192), step=8),
    ("w", 1): _r((48, 68)),
    ("w", 2): _r((48, 68), step=2),
    ("w", 4): _r((8, 12), (32, 36), (48, 68), step=4),
    ("w", 8): _r((48, 64), (152, 160), step=8),
}
#: (prog type, expected attach type) -> {(r/w, size): offsets the kernel accepted}
KERNEL_ACCESS = {
    (XDP, uapi.BPF_XDP): {("r", 4): _r((0, 20), step=4)},
    (XDP, DEVMAP): {("r", 4): _r((0, 24), step=4)},
    (CLS, 0): _TC,
    (ACT, 0): _TC,
    (CG, uapi.BPF_CGROUP_INET_INGRESS): _CG,
    (CG, uapi.BPF_CGROUP_INET_EGRESS): _CG,
}
LIMIT = {XDP: 28, CLS: 196, ACT: 196, CG: 196}


def _mine(prog_type: int, attach: int, rw: str, size: int) -> set[int]:
    return {
        off
        for off in range(LIMIT[prog_type])
        if check_ctx_access(prog_type, off, size, rw == "w", attach) is None
    }


@pytest.mark.parametrize(("prog_type", "attach"), list(KERNEL_ACCESS))
def test_access_rules_match_the_kernel(prog_type, attach):
    want = KERNEL_ACCESS[(prog_type, attach)]
    for rw in "rw":
        for size in (1, 2, 4, 8):
            assert _mine(prog_type, attach, rw, size) == want.get((rw, size), set()), (rw, size)


def test_reasons_name_the_field():
    assert "write" in check_ctx_access(XDP, 0, 4, write=True)
    assert "4-byte" in check_ctx_access(XDP, 4, 2)
    assert "devmap" in check_ctx_access(XDP, 20, 4)
    assert "outside struct xdp_md" in check_ctx_access(XDP, 24, 4)
    assert "may not write len" in check_ctx_access(CLS, 0, 4, write=True)
    assert "family" in check_ctx_access(CLS, 88, 4)
    assert "data_meta" in check_ctx_access(CG, 140, 4)
    assert "mark, priority" in check_ctx_access(CG, 12, 4, write=True)


def test_packet_pointer_fields():
    assert [ctx_pointer(XDP, o) for o in (0, 4, 8, 12)] == ["data", "data_end", "data_meta", None]
    assert [ctx_pointer(CLS, o) for o in (76, 80, 140, 0)] == [
        "data",
        "data_end",
        "data_meta",
        None,
    ]
    assert ctx_pointer(CG, 140) is None and ctx_pointer(CG, 76) == "data"
    assert ctx_pointer(uapi.BPF_PROG_TYPE_SOCKET_FILTER, 76) is None
    assert ctx_field_at(XDP, 13).name == "ingress_ifindex"
    # the narrow-load table marks the pointer words and ends with their high half
    table = ctx_narrow(XDP, 0x1234)
    assert table[:6] == bytes([NARROW_POINTER] * 3 + [0] * 3)
    assert table[6:] == (0x1234).to_bytes(4, "little")
    sk = ctx_narrow(CLS, 7)
    assert sk[76 // 4] == sk[80 // 4] == sk[140 // 4] == NARROW_POINTER
    assert len(ctx_narrow(uapi.BPF_PROG_TYPE_SOCKET_FILTER)) == 48


def test_actions():
    assert xdp.action_name(3) == "XDP_TX" and xdp.action_name(9) == "invalid action 9"
    assert xdp.leaves(2) and xdp.leaves(4) and not xdp.leaves(1) and not xdp.leaves(9)
    assert tc.action_name(0xFFFF_FFFF) == "TC_ACT_UNSPEC" and tc.action_name(7) == (
        "TC_ACT_REDIRECT"
    )
    assert tc.leaves(-1) and tc.leaves(0) and not tc.leaves(2) and not tc.leaves(4)
    assert cg.verdict_name(1) == "allow" and cg.verdict_name(3) == "allow+cn"
    assert cg.verdict_name(0) == "drop" and not cg.leaves(2)
    for t in (XDP, CLS, ACT, CG):
        assert PROG_TYPES[t].runnable


@pytest.mark.kernel
@pytest.mark.parametrize(("prog_type", "attach"), list(KERNEL_ACCESS))
def test_rules_reprobed_on_the_running_kernel(prog_type, attach):
    require_bpf()
    from pybpf.kernel import syscall as sc

    codes = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}
    mism = []
    for size, code in codes.items():
        for off in range(LIMIT[prog_type]):
            rd = [Insn(0x61 | code, 0, 1, off, 0), BPF_MOV64_IMM(BPF_REG_0, 0), BPF_EXIT_INSN()]
            wr = [
                BPF_MOV64_IMM(BPF_REG_2, 0),
                Insn(0x63 | code, 1, 2, off, 0),
                BPF_MOV64_IMM(BPF_REG_0, 0),
                BPF_EXIT_INSN(),
            ]
            for write, insns in ((False, rd), (True, wr)):
                try:
                    r = sc.prog_load_result(prog_type, insns, "GPL", 0, 0, "", attach, 0)
                    os.close(r.fd)
                    ok = True
                except Exception:  # noqa: BLE001 - a refusal is the answer
                    ok = False
                if ok != (check_ctx_access(prog_type, off, size, write, attach) is None):
                    mism.append((off, size, write))
    assert mism == []


@pytest.mark.kernel
@pytest.mark.parametrize(
    ("prog_type", "attach"),
    [(XDP, uapi.BPF_XDP), (CLS, 0), (ACT, 0), (CG, 0), (CG, 1)],
)
def test_helper_sets_reprobed(prog_type, attach):
    require_bpf()
    import re

    from pybpf.asm.macros import BPF_EMIT_CALL
    from pybpf.kernel import syscall as sc

    allowed = set()
    for fid in range(1, 215):
        insns = [BPF_EMIT_CALL(fid), BPF_MOV64_IMM(BPF_REG_0, 0), BPF_EXIT_INSN()]
        try:
            r = sc.prog_load_result(prog_type, insns, "GPL", 1, sc.LOG_SIZE_DEFAULT, "", attach, 0)
            os.close(r.fd)
            allowed.add(fid)
        except Exception as e:  # noqa: BLE001
            if not re.search(r"cannot use helper|unknown func|invalid func", getattr(e, "log", "")):
                allowed.add(fid)
    assert allowed == set(PROG_TYPES[prog_type].helpers)
