"""A filter expression over capture files, counted the way tcpdump counts.

``tcpdump -r FILE EXPR`` compiles EXPR for the file's link type and hands
libpcap's ``bpf_filter`` each record as stored: the captured bytes (loads
past them fail and reject the packet) and the original length on the wire
(what ``len``/``greater``/``less`` compare). :func:`filter_captures` does the
same with the program libpcap compiled, run by a :class:`ClassicProgram` in
the chosen engine: a record matches when the program returns non-zero, and
delivers ``min(ret, caplen)`` bytes, as a packet socket would.

The expression is compiled per file on libpcap's own handle of it, as tcpdump
compiles it (:func:`pybpf.cbpf.libpcap.compile_for_file`), and for records of
another link type (a pcapng file may mix them) on a dead handle of theirs. Damaged captures
are used up to the damage, as ``pybpf run`` does, with a warning.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .libpcap import DEFAULT_SNAPLEN, compile_expression, compile_for_file
from .program import ClassicProgram

__all__ = ["FilterRun", "filter_captures"]


@dataclass
class FilterRun:
    """What a filter expression did over captures (the counts ``pybpf run`` prints)."""

    expression: str
    packets: int = 0
    accepted: int = 0
    bytes_delivered: int = 0
    files_read: int = 0
    files_failed: int = 0
    warnings: list[str] = field(default_factory=list)
    #: link type -> number of classic instructions compiled for it
    programs: dict[int, int] = field(default_factory=dict)

    def replay_result(self) -> Any:
        """The same counts as a :class:`pybpf.net.replay.ReplayResult` (a packet socket's
        vocabulary: received, accepted, dropped_by_filter, delivered_bytes ...)."""
        from ..net.replay import ReplayResult

        counters = {
            "received": self.packets,
            "accepted": self.accepted,
            "dropped_by_filter": self.packets - self.accepted,
            "delivered_bytes": self.bytes_delivered,
            "queue_drops": 0,
            "filter_errors": 0,
        }
        return ReplayResult(
            self.expression, counters, list(self.warnings), self.files_read, self.files_failed
        )


def _snaplen(reader: object) -> int:
    s = getattr(reader, "snaplen", 0) or 0
    return s if 0 < s <= DEFAULT_SNAPLEN else DEFAULT_SNAPLEN


def filter_captures(
    expression: str,
    files: Iterable[str | os.PathLike[str]],
    *,
    engine: str = "interp",
    optimize: bool = True,
    warn: Callable[[str], None] | None = None,
) -> FilterRun:
    """Run ``expression`` (compiled by libpcap) over every record of ``files``."""
    from ..net.capture import file_done, open_or_report

    res = FilterRun(expression)

    def note(msg: str) -> None:
        res.warnings.append(msg)
        if warn is not None:
            warn(msg)

    for f in files:
        reader = open_or_report(f, note)
        if reader is None:
            res.files_failed += 1
            continue
        n = 0
        snap = _snaplen(reader)
        # tcpdump compiles on libpcap's handle of the file; records of another link type
        # (pcapng can mix them) get a program for a dead handle of theirs
        own = compile_for_file(expression, os.fspath(f), optimize=optimize)
        progs: dict[tuple[int, int], ClassicProgram] = {}
        with reader:
            for rec in reader.records(strict=False):
                key = (rec.linktype, snap)
                prog = progs.get(key)
                if prog is None:
                    if own is not None and own.linktype == rec.linktype:
                        pc = own
                    else:
                        pc = compile_expression(
                            expression, rec.linktype, snaplen=snap, optimize=optimize
                        )
                    prog = progs[key] = ClassicProgram(
                        pc.filter, engine=engine, name=expression, kernel_checks=False
                    )
                    res.programs[rec.linktype] = len(pc.filter)
                    if prog.kernel_refusal:
                        note(
                            f"libpcap's program for link type {rec.linktype} is one the kernel "
                            f"refuses ({prog.kernel_refusal}); it runs as libpcap runs it "
                            "in user space"
                        )
                data = rec.data
                ret = prog.run_captured(data, rec.orig_len)
                res.packets += 1
                n += 1
                if ret:
                    res.accepted += 1
                    res.bytes_delivered += min(ret, len(data))
            err = reader.error
        file_done(res, f, err, n, note)
    return res
