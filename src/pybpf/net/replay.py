"""Replaying captures through a program: every packet to a packet socket with it attached.

What ``pybpf run``, ``pybpf demo`` and the examples do with capture files:
each packet of each pcap/pcapng file goes to a user-space
:class:`~pybpf.net.socket.PacketSocket` with the program attached (a program
of either backend), exactly as the kernel's packet socket would run it, and a
reader drains the socket as fast as it fills. Damaged captures are reported
(with the file offset of the damage) through ``warn`` and the packets before
the damage are used; nothing raises for a bad capture.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import VmError
from ..vm.engine import locate
from .capture import open_or_report
from .linktype import SUPPORTED_LINKTYPES, linktype_name
from .socket import PacketSocket

__all__ = ["ReplayResult", "replay_captures"]

#: report progress every this many packets
PROGRESS_EVERY = 1 << 14


@dataclass
class ReplayResult:
    """What one replay did: the socket's counters, and what happened to each file.

    The counters use the packet socket's vocabulary (``received``,
    ``accepted``, ``dropped_by_filter``, ``delivered_bytes``, ``queue_drops``,
    ``filter_errors``) everywhere: ``pybpf run``, ``pybpf attach`` and JSON.
    """

    program: str
    counters: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    files_read: int = 0
    files_failed: int = 0

    @property
    def received(self) -> int:
        return self.counters.get("received", 0)

    @property
    def accepted(self) -> int:
        return self.counters.get("accepted", 0)

    @property
    def delivered_bytes(self) -> int:
        return self.counters.get("delivered_bytes", 0)


def replay_captures(
    prog: Any,
    files: Sequence[str | os.PathLike[str]],
    *,
    name: str = "",
    warn: Callable[[str], None] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> tuple[ReplayResult, PacketSocket]:
    """Deliver every packet of ``files`` to a PacketSocket with ``prog`` attached.

    ``warn(message)`` is called for each damaged or unreadable capture;
    ``progress(bytes_done, bytes_total, packets)`` every few thousand packets.
    Returns the result and the socket.
    """
    sock = PacketSocket()
    sock.attach(prog)
    res = ReplayResult(program=name)

    def note(msg: str) -> None:
        res.warnings.append(msg)
        if warn is not None:
            warn(msg)

    sizes = []
    for f in files:
        try:
            sizes.append(os.path.getsize(f))
        except OSError:
            sizes.append(0)
    total = sum(sizes)
    done_bytes = 0
    packets = 0
    deliver = sock.deliver
    queue = sock.queue
    for f, size in zip(files, sizes, strict=True):
        reader = open_or_report(f, note)
        if reader is None:
            res.files_failed += 1
            continue
        n = 0
        unmodelled: dict[int, int] = {}
        with reader:
            native = sock.deliver_capture(  # the JIT: the per-packet loop in C
                f, progress=_offset_progress(progress, done_bytes, total, packets)
            )
            if native is not None:
                n, linktypes, err = native
                unmodelled = {lt: c for lt, c in linktypes.items() if lt not in SUPPORTED_LINKTYPES}
            else:
                for pkt in reader.iter_packets(strict=False):
                    if pkt.linktype not in SUPPORTED_LINKTYPES:
                        unmodelled[pkt.linktype] = unmodelled.get(pkt.linktype, 0) + 1
                    try:
                        deliver(pkt)
                    except VmError as e:  # as the native path says it: which packet
                        raise locate(e, packet=n) from None
                    if queue:  # a reader draining the socket as fast as it fills
                        queue.clear()
                        sock.rmem_alloc = 0
                    n += 1
                    if progress is not None and not n % PROGRESS_EVERY:
                        progress(done_bytes + reader.position, total, packets + n)
                err = reader.error
        packets += n
        done_bytes += size
        for lt, count in sorted(unmodelled.items()):
            note(
                f"{f}: link type {lt} ({linktype_name(lt)}) is not one pybpf presents as a "
                f"packet socket would: its {count} packet{'s' if count != 1 else ''} reached "
                "the program as stored in the file, with no Ethernet header"
            )
        if progress is not None:
            progress(done_bytes, total, packets)
        if err is not None:
            off = err.offset if err.offset is not None else 0
            note(
                f"{f}: damaged at offset {off:#x}: {err.message}; "
                f"using the {n} packet{'s' if n != 1 else ''} before it"
            )
            if n == 0:
                res.files_failed += 1
                continue
        res.files_read += 1
    res.counters = sock.stats()
    for k in ("tp_packets", "tp_drops"):
        res.counters.pop(k, None)
    return res, sock


def _offset_progress(
    progress: Callable[[int, int, int], None] | None, done: int, total: int, packets: int
) -> Callable[[int, int, int], None] | None:
    """A capture's own progress (bytes read, its size, packets) as progress of them all."""
    if progress is None:
        return None
    report = progress

    def within(pos: int, _size: int, k: int) -> None:
        report(done + pos, total, packets + k)

    return within
