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

from ..errors import CaptureError, KernelError, VmError
from ..vm.actions import run_capture
from ..vm.engine import locate
from .capture import file_done, open_or_report
from .linktype import SUPPORTED_LINKTYPES, linktype_name
from .outcome import describe_redirect
from .socket import PacketSocket

__all__ = ["ActionWriter", "ReplayResult", "record_outcome", "replay_actions", "replay_captures"]

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
        file_done(res, f, err, n, note)
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


# --- programs that act on packets: XDP, tc, cgroup_skb ----------------------------------------

#: the comment of a packet a bpf_clone_redirect sent on
CLONE = "clone_redirect"


class ActionWriter:
    """Where the packets that leave go: one pcapng file, or one per action (``split``:
    ``out.pcapng`` becomes ``out-XDP_TX.pcapng``, ``out-XDP_PASS.pcapng`` ...).

    Each packet is written as the program left it, with its action (and redirect
    target) as the pcapng comment, the input's timestamp, and a direction: PASS
    goes in (to the stack), TX, REDIRECT and clones go out.
    """

    def __init__(self, path: str | os.PathLike[str], *, split: bool = False) -> None:
        from .pcapng import PcapngWriter

        self.path = os.fspath(path)
        self.split = split
        self._writers: dict[str, PcapngWriter] = {}
        self._make = PcapngWriter
        #: the files written, by action ("" for the one file)
        self.files: dict[str, str] = {}
        self.count = 0
        if not split:
            self._writers[""] = PcapngWriter(self.path)
            self.files[""] = self.path

    def _writer(self, action: str) -> Any:
        key = action if self.split else ""
        w = self._writers.get(key)
        if w is None:
            root, ext = os.path.splitext(self.path)
            path = f"{root}-{action.replace(' ', '_')}{ext or '.pcapng'}"
            w = self._writers[key] = self._make(path)
            self.files[key] = path
        return w

    def write(self, action: str, data: bytes, ts: int, comment: str, outbound: bool) -> None:
        self._writer(action).write(data, timestamp_ns=ts, comment=comment, outbound=outbound)
        self.count += 1

    def close(self) -> None:
        for w in self._writers.values():
            w.close()


def _count(counters: dict[str, int], key: str, n: int = 1) -> None:
    counters[key] = counters.get(key, 0) + n


def record_outcome(
    counters: dict[str, int], out: Any, ts: int, writer: ActionWriter | None
) -> None:
    """Count one run's outcome (its action, a redirect's target, clones) and write what
    leaves."""
    _count(counters, out.action)
    if out.redirect is not None:
        _count(counters, f"{out.action} {describe_redirect(*out.redirect)}")
    for ifindex, flags, _frame in out.clones:
        _count(counters, f"{CLONE} {describe_redirect(ifindex, flags)}")
    if writer is None:
        return
    for ifindex, flags, frame in out.clones:
        writer.write(CLONE, frame, ts, f"{CLONE} {describe_redirect(ifindex, flags)}", True)
    if out.leaves:
        inbound = out.action in ("XDP_PASS", "allow", "allow+cn")
        writer.write(out.action, out.packet, ts, out.comment(), not inbound)


def replay_actions(
    prog: Any,
    files: Sequence[str | os.PathLike[str]],
    *,
    name: str = "",
    writer: ActionWriter | None = None,
    warn: Callable[[str], None] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> ReplayResult:
    """Run an XDP, tc or cgroup_skb program (either backend) on every frame of ``files``.

    Each frame is presented as an Ethernet frame ("ethernet" presentation,
    pybpf.net.linktype) and run as BPF_PROG_TEST_RUN runs it
    (``prog.run_packet``). The counters are per action (``XDP_TX``,
    ``TC_ACT_OK``, ``allow`` ...), per redirect target and clone, plus
    ``packets`` and ``written``; ``writer`` receives every packet that leaves.
    Frames shorter than an Ethernet header are counted as ``too short`` and not
    run; frames the kernel's test run refuses (a kernel program: longer than a
    page, say) are counted as refused. Damaged captures are warned about and the
    packets before the damage used.
    """
    res = ReplayResult(program=name)
    counters: dict[str, int] = {"packets": 0}

    def note(msg: str) -> None:
        res.warnings.append(msg)
        if warn is not None:
            warn(msg)

    sizes = [os.path.getsize(f) if os.path.isfile(f) else 0 for f in files]
    total, done, packets = sum(sizes), 0, 0
    for f, size in zip(files, sizes, strict=True):
        reader = open_or_report(f, note)
        if reader is None:
            res.files_failed += 1
            continue
        n = 0
        runner = _native_runner(prog)
        if runner is not None:  # the JIT: the per-packet loop in C
            reader.close()
            got = _native_actions(
                runner, f, counters, writer, _offset_progress(progress, done, total, packets)
            )
            packets += got[0]
            done += size
            file_done(res, f, got[1], got[0], note)
            continue
        with reader:
            for pkt in reader.iter_packets(strict=False):
                if len(pkt.data) < 14:
                    _count(counters, "too short")
                    continue
                try:
                    out = prog.run_packet(pkt.data)
                except VmError as e:
                    raise locate(e, packet=packets + n) from None
                except KernelError as e:  # a frame BPF_PROG_TEST_RUN will not take
                    _count(counters, f"refused by the kernel's test run ({_errname(e.errno)})")
                    n += 1
                    continue
                counters["packets"] += 1
                record_outcome(counters, out, pkt.timestamp_ns, writer)
                n += 1
                if progress is not None and not n % PROGRESS_EVERY:
                    progress(done + reader.position, total, packets + n)
            err = reader.error
        packets += n
        done += size
        if progress is not None:
            progress(done, total, packets)
        file_done(res, f, err, n, note)
    counters["written"] = writer.count if writer is not None else 0
    res.counters = counters
    return res


def _native_runner(prog: Any) -> Any:
    """The JIT's native runner of an XDP, tc or cgroup_skb program, or None."""
    get = getattr(prog, "packet_runner", None)
    runner = get() if callable(get) else None
    return runner if getattr(runner, "area", None) is not None else None


def _native_actions(
    runner: Any,
    path: str | os.PathLike[str],
    counters: dict[str, int],
    writer: ActionWriter | None,
    progress: Callable[[int, int, int], None] | None,
) -> tuple[int, CaptureError | None]:
    """One capture through the native runner: the counters as replay_actions keeps them,
    the packets that leave to ``writer``. (packets run, the capture's damage)."""
    from .. import uapi
    from ..progtypes import get_prog_type

    pt = get_prog_type(runner.prog_type)
    name_of = pt.action_name
    assert name_of is not None
    clones = getattr(runner.area.model, "clones", None)

    def sink(left: list[Any]) -> None:
        assert writer is not None
        for _i, ts, retval, redirect, frame in left:
            _take_clones(clones, counters, writer, before=ts)
            name = name_of(retval)
            comment = name if redirect is None else f"{name} {describe_redirect(*redirect)}"
            inbound = name in ("XDP_PASS", "allow", "allow+cn")
            writer.write(name, frame, ts, comment, not inbound)

    res = run_capture(runner, path, sink if writer is not None else None, progress=progress)
    _take_clones(clones, counters, writer, before=None)
    for retval, n in res.retvals.items():
        _count(counters, name_of(retval) if retval is not None else "other return values", n)
    xdp = runner.prog_type == uapi.BPF_PROG_TYPE_XDP
    redirect_name = name_of(uapi.XDP_REDIRECT if xdp else uapi.TC_ACT_REDIRECT)
    for target, n in res.redirects.items():
        what = describe_redirect(*target) if target is not None else "to other targets"
        _count(counters, f"{redirect_name} {what}", n)
    if res.too_short:
        _count(counters, "too short", res.too_short)
    counters["packets"] = counters.get("packets", 0) + res.packets
    return res.packets, res.damage


def _take_clones(
    clones: Any, counters: dict[str, int], writer: ActionWriter | None, before: int | None
) -> None:
    """Count (and write) the clones bpf_clone_redirect recorded for packets up to
    timestamp ``before`` (all of them: None); they leave the list."""
    if not clones:
        return
    keep = []
    for ifindex, flags, frame, ts in clones:
        if before is not None and ts > before:
            keep.append((ifindex, flags, frame, ts))
            continue
        what = f"{CLONE} {describe_redirect(ifindex, flags)}"
        _count(counters, what)
        if writer is not None:
            writer.write(CLONE, frame, ts, what, True)
    clones[:] = keep


def _errname(num: int | None) -> str:
    import errno as _errno

    return _errno.errorcode.get(num or 0, str(num))
