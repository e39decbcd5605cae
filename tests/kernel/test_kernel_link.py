"""bpf_link attachment in the kernel: XDP (generic) and tcx on a veth pair in a private netns."""

from __future__ import annotations

import errno
import struct

import pytest

from conftest import require_bpf
from pybpf import uapi
from pybpf.asm.macros import (
    BPF_ADD,
    BPF_ALU64_IMM,
    BPF_DW,
    BPF_EMIT_CALL,
    BPF_EXIT_INSN,
    BPF_JMP_IMM,
    BPF_LD_MAP_FD,
    BPF_MOV64_IMM,
    BPF_MOV64_REG,
    BPF_REG_0,
    BPF_REG_1,
    BPF_REG_2,
    BPF_REG_10,
    BPF_ST_MEM,
    BPF_STX_XADD,
    BPF_W,
)
from pybpf.errors import KernelError, NotSupportedError
from pybpf.kernel.link import attach_tcx, attach_xdp
from pybpf.kernel.maps import KernelMap
from pybpf.kernel.netns import in_netns
from pybpf.kernel.program import KernelProgram

pytestmark = pytest.mark.kernel

#: a UDP/IPv4 broadcast frame
FRAME = bytes.fromhex(
    "ffffffffffff020000000001080045000028000040004011000000c0a80001c0a80002"
    "00010002001400000102030405060708090a0b0c"
)
XDP_DROP, XDP_PASS = 1, 2
TC_ACT_OK, TC_ACT_SHOT = 0, 2


def counting(prog_type: int, verdict: int, counter: KernelMap) -> KernelProgram:
    """A program that adds one to counter[0] and returns ``verdict``."""
    return KernelProgram(
        [
            BPF_ST_MEM(BPF_W, BPF_REG_10, -4, 0),
            BPF_MOV64_REG(BPF_REG_2, BPF_REG_10),
            BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, -4),
            BPF_LD_MAP_FD(BPF_REG_1, counter),
            BPF_EMIT_CALL(uapi.BPF_FUNC_map_lookup_elem),
            BPF_JMP_IMM(0x10, BPF_REG_0, 0, 2),  # JEQ r0, 0
            BPF_MOV64_IMM(BPF_REG_1, 1),
            BPF_STX_XADD(BPF_DW, BPF_REG_0, BPF_REG_1, 0),
            BPF_MOV64_IMM(BPF_REG_0, verdict),
            BPF_EXIT_INSN(),
        ],
        prog_type,
        name="count",
    )


@pytest.fixture(scope="module")
def rig():
    require_bpf()
    from pybpf.kernel.netns import VethRig

    try:
        r = VethRig()
    except (KernelError, NotSupportedError) as e:
        pytest.skip(f"no private network namespace with a veth pair here: {e}")
    yield r
    r.close()


@pytest.mark.parametrize(("verdict", "arrives"), [(XDP_PASS, True), (XDP_DROP, False)])
def test_xdp_generic_on_veth(rig, verdict, arrives):
    counter = KernelMap(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 1)
    prog = counting(uapi.BPF_PROG_TYPE_XDP, verdict, counter)
    with in_netns(rig.path):
        link = attach_xdp(prog, rig.RX, "generic")
    try:
        got = [rig.deliver(FRAME) for _ in range(3)]
    finally:
        link.close()
    assert struct.unpack("<Q", counter[0])[0] == 3
    assert all((g is not None) == arrives for g in got), got
    assert rig.deliver(FRAME) is not None  # detached: frames arrive again


@pytest.mark.parametrize(("verdict", "arrives"), [(TC_ACT_OK, True), (TC_ACT_SHOT, False)])
def test_tcx_egress_on_veth(rig, verdict, arrives):
    """On the sending end's egress: a shot frame never reaches the other end. (At ingress a
    packet socket would still see it: packet taps run before tc ingress, net/core/dev.c.)"""
    counter = KernelMap(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 1)
    prog = counting(uapi.BPF_PROG_TYPE_SCHED_CLS, verdict, counter)
    with in_netns(rig.path):
        link = attach_tcx(prog, rig.TX, "egress")
    try:
        for _ in range(2):
            if arrives:
                assert rig.deliver(FRAME) == len(FRAME)
            else:  # dev_queue_xmit says NET_XMIT_DROP: the packet socket's send gets ENOBUFS
                with pytest.raises(KernelError) as ei:
                    rig.deliver(FRAME)
                assert ei.value.errno == errno.ENOBUFS
    finally:
        link.detach()
    assert struct.unpack("<Q", counter[0])[0] == 2


def test_bad_attachments_say_why(rig):
    counter = KernelMap(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 1)
    xdp = counting(uapi.BPF_PROG_TYPE_XDP, XDP_PASS, counter)
    with pytest.raises(KernelError, match="no network device"):
        attach_xdp(xdp, "no-such-dev0")
    with pytest.raises(KernelError, match="XDP mode"):
        attach_xdp(xdp, 1, "turbo")
    with pytest.raises(KernelError, match="ingress or egress"):
        attach_tcx(xdp, 1, "sideways")
    with in_netns(rig.path), pytest.raises(KernelError) as ei:
        attach_tcx(xdp, rig.RX)  # an XDP program on a tc hook
    assert ei.value.errno in (22, 95)
