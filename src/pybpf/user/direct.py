"""Running programs with direct packet access (XDP, tc, cgroup_skb) in user space.

These programs hold real pointers into the packet (``ctx->data`` ..
``ctx->data_end``). A :class:`PacketArea` gives one Program's memory a packet
buffer, mapped as the *packet region*, and the context region whose pointer
words point into it (pybpf.vm.memory's narrow-load table, code
NARROW_POINTER); a packet model over the buffer (pybpf.net.xdp.XdpBuff,
pybpf.net.tcskb.TcSkb) is the context object helpers see.

One packet runs as BPF_PROG_TEST_RUN runs it (net/bpf/test_run.c), which is
also how ``pybpf run`` presents each frame of a capture: an XDP frame with 256
bytes of headroom on the loopback device's first queue; an skb on loopback
after ``eth_type_trans``, ``data`` at the MAC header for tc and at the network
header for cgroup_skb. :func:`test_run` is BPF_PROG_TEST_RUN itself (data_in
and data_out, ctx_in and ctx_out, repeat), :func:`run_packet` one run with the
outcome (:class:`pybpf.net.outcome.PacketOutcome`).
"""

from __future__ import annotations

import ctypes
import errno as E
import os
import time
from typing import Any

from .. import uapi
from ..api import TestRunResult
from ..errors import BpfError, NotSupportedError
from ..net import xdp as xdpmod
from ..net.outcome import PacketOutcome
from ..net.tcskb import TcSkb
from ..net.xdp import XdpBuff
from ..progtypes import ctx_narrow, get_prog_type, render_ctx, writeback_ctx
from .skbctx import ctx_to_skb, device_exists, skb_to_ctx, test_run_ctx, test_run_data

__all__ = ["PACKET_BUFFER", "PacketArea", "device_exists", "run_packet", "test_run"]

#: bytes of a program's packet buffer: a 256 KiB capture record and room to grow it
PACKET_BUFFER = 1 << 20
ETH_HLEN = 14
XDP = uapi.BPF_PROG_TYPE_XDP
TC_TYPES = (uapi.BPF_PROG_TYPE_SCHED_CLS, uapi.BPF_PROG_TYPE_SCHED_ACT)


def _rx_queues(ifindex: int) -> int:
    """real_num_rx_queues of the device with ``ifindex`` (0 when there is none)."""
    try:
        for name in os.listdir("/sys/class/net"):
            with open(f"/sys/class/net/{name}/ifindex") as fh:
                if int(fh.read().strip()) == ifindex:
                    q = os.listdir(f"/sys/class/net/{name}/queues")
                    return sum(1 for d in q if d.startswith("rx-"))
    except OSError:
        return 0
    return 0


class PacketArea:
    """One program's packet buffer and context in its memory (see module doc).

    ``region`` maps the buffer, ``ctx`` the context image (whose pointer words
    carry the packet region's slot as their high half); ``model`` is the packet
    model helpers see, over the buffer, reused for every packet.
    """

    def __init__(self, mem: Any, prog_type: int, sock: Any = None) -> None:
        pt = get_prog_type(prog_type)
        self.prog_type = prog_type
        self.buf = bytearray(PACKET_BUFFER)
        self.region = mem.add_region(self.buf, name="packet")
        self.image = bytearray(pt.ctx_size)
        self.ctx = mem.add_region(
            self.image,
            name=f"ctx ({pt.ctx_struct})",
            narrow=ctx_narrow(prog_type, self.region.slot),
        )
        self._pin = ctypes.c_char.from_buffer(self.buf)
        addr = ctypes.addressof(self._pin)
        model: Any
        if prog_type == XDP:
            model = XdpBuff(self.buf)
        else:
            model = TcSkb(self.buf, sk=sock)
            model.skb.head = addr
        model.pkt.buf = addr
        model.pkt.cap = len(self.buf)
        model.pkt.bpf = self.region.base
        self.model = model

    def load(self, frame: bytes, **kw: Any) -> Any:
        """The model with ``frame`` loaded as a test run presents it; the context rendered."""
        m = self.model
        if self.prog_type == XDP:
            m.load(frame, **kw)
        else:
            m.load(frame, l2=self.prog_type in TC_TYPES, **kw)
        render_ctx(self.image, self.prog_type, m)
        return m

    def finish(self) -> None:
        """What the program wrote to its context, back into the model."""
        writeback_ctx(self.model, self.image, self.prog_type)


def outcome(prog_type: int, model: Any, retval: int) -> PacketOutcome:
    """The outcome of a run that returned ``retval`` (a redirect target is consumed)."""
    pt = get_prog_type(prog_type)
    assert pt.action_name is not None and pt.leaves is not None
    r = retval & 0xFFFF_FFFF
    redirect = None
    redirect_action = uapi.XDP_REDIRECT if prog_type == XDP else uapi.TC_ACT_REDIRECT
    if prog_type != uapi.BPF_PROG_TYPE_CGROUP_SKB and r == redirect_action:
        p = model.pkt
        redirect = (int(p.ri_ifindex), int(p.ri_flags))
        p.ri_ifindex = p.ri_flags = 0
    if prog_type == XDP:
        packet = model.packet()
        clones: list[tuple[int, int, bytes]] = []
    else:
        packet = model.wire_frame()
        clones = [c[:3] for c in model.clones]
    return PacketOutcome(r, pt.action_name(r), pt.leaves(r), packet, redirect, clones)


def run_packet(prog: Any, frame: bytes, *, cpu: int = 0, **kw: Any) -> PacketOutcome:
    """Run ``prog`` once on an Ethernet ``frame`` presented as a test run presents it."""
    area: PacketArea = prog.packet_area()
    model = area.load(bytes(frame), **kw)
    retval = prog._engine_run(model, area.ctx.base, cpu)
    area.finish()
    return outcome(prog.prog_type, model, retval)


def _xdp_test_run(prog: Any, data: bytes, repeat: int, ctx_in: bytes | None, cpu: int) -> Any:
    meta_len, ingress, rxq = 0, 1, 0
    if ctx_in is not None:
        meta_len, ingress, rxq = xdpmod.check_test_run_ctx(ctx_in, len(data))
        if ingress and ingress != 1:
            if not device_exists(ingress):
                raise BpfError(f"ctx_in ingress_ifindex {ingress}: no such device", errno=E.ENODEV)
        if ingress and rxq >= _rx_queues(ingress or 1):
            raise BpfError(
                f"ctx_in rx_queue_index {rxq}: the device has no such receive queue",
                errno=E.EINVAL,
            )
        ingress = ingress or 1
    if len(data) < ETH_HLEN:
        raise BpfError(f"test_run data of {len(data)} bytes: at least {ETH_HLEN}", errno=E.EINVAL)
    limit = xdpmod.max_test_run_data(meta_len)
    if len(data) > limit:
        raise NotSupportedError(
            f"test_run data of {len(data)} bytes: the kernel puts what exceeds {limit} bytes "
            "in fragments (a multi-buffer XDP frame), which pybpf does not model"
        )
    area: PacketArea = prog.packet_area()
    model = area.load(data, meta_len=meta_len, ingress_ifindex=ingress, rx_queue_index=rxq)
    retval, duration = _repeat(prog, area, model, repeat, cpu)
    ctx_out = xdpmod.render_ctx_out(model, ctx_in) if ctx_in is not None else b""
    return TestRunResult(retval, duration, model.data_out(), ctx_out)


def _repeat(prog: Any, area: PacketArea, model: Any, repeat: int, cpu: int) -> tuple[int, int]:
    """bpf_test_run(): the same packet ``repeat`` times; the last u32 and the mean ns."""
    retval = 0
    repeat = max(repeat, 1)
    runner = prog.packet_runner()
    if runner is not None:  # the JIT: the loop runs natively and times itself
        del prog.trace[:]
        runner.cpu = cpu
        return runner.run_direct(repeat)  # type: ignore[no-any-return]
    t0 = time.perf_counter_ns()
    for _ in range(repeat):
        render_ctx(area.image, prog.prog_type, model)
        retval = prog._engine_run(model, area.ctx.base, cpu) & 0xFFFF_FFFF
        area.finish()
    return retval, (time.perf_counter_ns() - t0) // repeat


def test_run(
    prog: Any, data: bytes, repeat: int = 1, ctx_in: bytes | None = None, *, cpu: int = 0
) -> TestRunResult:
    """BPF_PROG_TEST_RUN of an XDP, tc or cgroup_skb program (see module doc)."""
    data = bytes(data)
    if prog.prog_type == XDP:
        return _xdp_test_run(prog, data, repeat, ctx_in, cpu)

    data = test_run_data(data)
    ctx, ifindex = test_run_ctx(ctx_in)
    area: PacketArea = prog.packet_area()
    model = area.load(data, ifindex=ifindex)
    if ctx is not None:
        ctx_to_skb(ctx, model)
    else:
        model.wire_len = model.len
    retval, duration = _repeat(prog, area, model, repeat, cpu)
    out = model.tobytes()
    if prog.prog_type not in TC_TYPES:  # the network header on: 14 zero bytes pushed back
        out = bytes(ETH_HLEN) + out
    ctx_out = bytes(skb_to_ctx(model, ctx)) if ctx is not None else b""
    return TestRunResult(retval, duration, out, ctx_out)
