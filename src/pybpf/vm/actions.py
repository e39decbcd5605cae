"""A run of an XDP, tc or cgroup_skb program over a capture, natively: what each packet became.

:func:`run_capture` drives a :class:`pybpf.vm.batch.PacketRunner` over a
capture with the per-packet loop in C (native/capture.c presents each record as
an Ethernet frame; native/packet.c loads it as a test run would, runs the
program and records its outcome): the return values and redirect targets are
counted natively, and when a sink is given the packets that leave are copied
into an arena and handed over in order, chunk by chunk — what ``pybpf run
--write-pcap`` writes (pybpf.net.replay).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import CaptureError, NotSupportedError
from .batch import _MODES, CHUNK, _MappedCapture
from .native import VmActions, VmCounts, VmOut

__all__ = ["ActionsResult", "Left", "run_capture"]

#: the output arena and outcome list of one call
ARENA = 8 << 20
OUTS = 1 << 14


@dataclass
class ActionsResult:
    """What a run of an XDP, tc or cgroup_skb program over a capture did.

    ``retvals`` counts the return values (-1 for tc's TC_ACT_UNSPEC; values
    above 15 other than -1 together under ``None``); ``redirects`` the
    ``(ifindex, flags)`` targets of REDIRECT actions (``None``: more than 16
    distinct ones); ``too_short`` the frames without an Ethernet header (not
    run); ``records``/``linktypes``/``damage`` as in :class:`BatchResult`.
    """

    packets: int = 0
    retvals: dict[int | None, int] = field(default_factory=dict)
    redirects: dict[tuple[int, int] | None, int] = field(default_factory=dict)
    too_short: int = 0
    records: int = 0
    linktypes: dict[int, int] = field(default_factory=dict)
    damage: CaptureError | None = None

    def add(self, a: VmActions) -> None:
        for i, n in enumerate(a.hist):
            if n:
                key = i if i < 16 else -1 if i == 16 else None
                self.retvals[key] = self.retvals.get(key, 0) + n
        for i in range(a.nrd):
            k: tuple[int, int] | None = (int(a.rd_ifindex[i]), int(a.rd_flags[i]))
            self.redirects[k] = self.redirects.get(k, 0) + int(a.rd_count[i])
        if a.rd_other:
            self.redirects[None] = self.redirects.get(None, 0) + int(a.rd_other)
        self.too_short += int(a.too_short)


#: one packet that left: (index, timestamp ns, return value, redirect or None, frame)
Left = tuple[int, int, int, "tuple[int, int] | None", bytes]


def _reset(a: VmActions) -> None:
    """Empty the outcome list and the counts (what was there has been taken)."""
    a.nouts = a.arena_used = a.full = 0
    ctypes.memset(ctypes.addressof(a.hist), 0, ctypes.sizeof(a.hist))
    a.nrd = 0
    a.rd_other = a.too_short = 0


def _actions(write: bool) -> tuple[VmActions, Any, Any]:
    """A struct vm_actions with its arena and outcome list (room for nothing: counts only)."""
    arena = ctypes.create_string_buffer(ARENA if write else 1)
    outs = (VmOut * (OUTS if write else 1))()
    a = VmActions()
    a.arena, a.arena_cap = ctypes.addressof(arena), len(arena) if write else 0
    a.outs, a.outs_cap = ctypes.addressof(outs), OUTS if write else 0
    a.write = 1 if write else 0
    return a, arena, outs


def _drain(a: VmActions, arena: Any, outs: Any, sink: Callable[[list[Left]], None]) -> None:
    """Hand the packets that left to ``sink`` and empty ``a``."""
    left: list[Left] = []
    raw = ctypes.string_at(ctypes.addressof(arena), a.arena_used)
    for i in range(a.nouts):
        o = outs[i]
        red = (int(o.ifindex), int(o.flags) & 0x7FFF_FFFF) if o.flags >> 31 else None
        left.append((int(o.index), int(o.ts_ns), int(o.retval), red, raw[o.off : o.off + o.len]))
    _reset(a)
    if left:
        sink(left)


def run_capture(
    runner: Any,
    path: str | os.PathLike[str],
    sink: Callable[[list[Left]], None] | None = None,
    *,
    chunk: int = CHUNK,
    progress: Callable[[int, int, int], None] | None = None,
) -> ActionsResult:
    """Run an XDP, tc or cgroup_skb program on every frame of a capture, presented as
    Ethernet frames and run as a test run presents each: counts per return value and
    redirect target; ``sink`` receives the packets that leave, as they left, in order.
    Damage ends the run with every earlier frame run (``damage``)."""
    if runner.area is None:
        raise NotSupportedError("run_capture_actions is for XDP, tc and cgroup_skb programs")
    res = ActionsResult()
    a, arena, outs = _actions(sink is not None)
    with _MappedCapture(path) as cap:
        c = cap.c
        c.mode = _MODES["ethernet"]
        while True:
            counts = VmCounts()
            runner._prepare(runner._lazy, native_rng=True, writeback=False)
            try:
                rc = runner.so.vm_run_actions_capture(
                    ctypes.byref(runner.driver),
                    cap.ptr,
                    chunk,
                    ctypes.byref(a),
                    ctypes.byref(counts),
                )
            finally:
                runner._finish()
            res.packets += int(counts.received)
            res.add(a)
            full = bool(a.full)
            if sink is not None:
                _drain(a, arena, outs, sink)
            else:
                _reset(a)
            res.records = int(c.records)
            if rc:
                err = runner._fail(rc, res.packets)
                err.batch = res  # type: ignore[attr-defined]
                raise err
            if progress is not None:
                progress(int(c.pos), int(c.size), res.packets)
            if counts.packets < chunk and not full:
                break
        res.linktypes = {int(c.lt_ids[i]): int(c.lt_counts[i]) for i in range(c.nlt)}
        if c.failed:
            res.damage = CaptureError(
                c.err.decode("utf-8", "replace"), offset=int(c.err_offset), path=cap.path
            )
    return res
