"""``pybpf run``: a socket filter over every packet of captures, then its maps.

PROG is an object (``.o``), a C file (compiled on the fly) or a macro module
(``.py``); ``pybpf.load`` creates its maps and loads (verifies) it.  Every
packet of every capture is delivered to a :class:`pybpf.net.socket.PacketSocket`
with the program attached, as the kernel's packet socket would run it; then
every map is printed (decoded with BTF or the MapSpec's declared types, in
bpftool's plain format otherwise) with the socket's counters.

``--backend kernel`` loads maps and program with bpf() and runs each frame
with BPF_PROG_TEST_RUN.  That command starts a socket filter at the network
header (it pulls 14 bytes as the MAC header).  A program that reads the packet
relative to ``skb->data`` (LD_ABS/LD_IND offsets >= 0, bpf_skb_load_bytes) is
given the frame with its own Ethernet header in front, so that after the pull
``skb->data`` is the MAC header, ``skb->len`` the frame's length and
``skb->protocol`` its EtherType, as on an AF_PACKET socket
(:func:`pybpf.net.socket.kernel_test_run_frame`); a program that only uses the
SKF_LL_OFF/SKF_NET_OFF bases gets the frame as is (nothing prepended: test-run
puts those bases where a packet socket has them); one that mixes both runs on a
real AF_PACKET socket in a private network namespace
(``KernelProgram.run_frame``).  Frames the kernel refuses to test-run (longer
than a page, too short for the IP header their EtherType announces) are
counted as ``filter_errors``.  The kernel derives ``pkt_type`` from the frame
and cannot be told a packet was outgoing: frames a Linux cooked capture records
as PACKET_OUTGOING are seen as received by the kernel backend (pybpf's socket
passes the recorded pkt_type on).

Damaged captures: the reader's error (with its file offset) is a warning,
the packets before the damage are used, and the exit status is 0 unless no
capture could be read at all.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ..errors import BpfError, CaptureError
from ..user.program import ENGINES
from . import main

#: show a progress bar for inputs at least this large (bytes), when stderr is a terminal
PROGRESS_MIN_BYTES = 4 << 20


@dataclass
class RunResult:
    """What one run over captures did."""

    program: str
    packets: int = 0
    accepted: int = 0
    bytes_delivered: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    files_read: int = 0
    files_failed: int = 0


def load_collection(
    prog: str | os.PathLike[str], backend: str = "user", engine: str = "interp"
) -> Any:
    """pybpf.load with every failure turned into a BpfError naming the file."""
    import pybpf  # noqa: PLC0415

    if engine not in ENGINES:
        raise BpfError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    if engine == "jit" and backend == "kernel":
        raise BpfError(
            "--engine jit runs programs in user space; it does not apply to "
            "--backend kernel (the kernel uses its own JIT)"
        )
    path = Path(prog)
    if not path.exists():
        raise BpfError(f"{path}: no such file")
    if path.is_dir():
        raise BpfError(f"{path}: is a directory, not a program")
    try:
        return pybpf.load(path, backend=backend, engine=engine)
    except BpfError:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        raise BpfError(f"{path}: cannot load: {type(e).__name__}: {e}") from e


def select_program(coll: Any, section: str | None) -> tuple[str, Any]:
    """The program named ``section`` (a program name or an ELF section name), or the first."""
    if section is None:
        name = next(iter(coll.programs), None)
        if name is None:
            raise BpfError(f"{coll.spec.path}: the object has no programs")
        return name, coll.programs[name]
    for name, ps in coll.spec.programs.items():
        if section in (name, ps.section):
            return name, coll.programs[name]
    have = ", ".join(f"{n} ({p.section})" for n, p in coll.spec.programs.items()) or "none"
    raise BpfError(f"no program or section named {section!r} (have: {have})")


def run_captures(
    prog: Any, files: list[str], *, name: str = "", progress: bool = False, warn: Any = None
) -> tuple[RunResult, Any]:
    """Deliver every packet of ``files`` to a PacketSocket with ``prog`` attached.

    ``warn(message)`` is called for each damaged or unreadable capture.
    Returns the result and the socket.
    """
    from ..net.capture import open_capture  # noqa: PLC0415
    from ..net.socket import PacketSocket  # noqa: PLC0415

    sock = PacketSocket()
    sock.attach(prog)
    res = RunResult(program=name)

    def note(msg: str) -> None:
        res.warnings.append(msg)
        if warn is not None:
            warn(msg)

    total = 0
    for f in files:
        try:
            total += os.path.getsize(f)
        except OSError:
            pass
    bar = None
    task = None
    if progress and total >= PROGRESS_MIN_BYTES and sys.stderr.isatty():
        from rich.console import Console  # noqa: PLC0415
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        task = bar.add_task("packets", total=total)
        bar.start()
    done_bytes = 0
    deliver = sock.deliver
    queue = sock.queue
    try:
        for f in files:
            try:
                reader = open_capture(f)
            except CaptureError as e:
                res.files_failed += 1
                note(f"{f}: not read: {e.message} (offset {e.offset or 0:#x})")
                continue
            except OSError as e:
                res.files_failed += 1
                note(f"{f}: cannot open: {e.strerror or e}")
                continue
            n = 0
            with reader:
                for pkt in reader.iter_packets(strict=False):
                    deliver(pkt)
                    if queue:  # a reader draining the socket as fast as it fills
                        queue.clear()
                        sock.rmem_alloc = 0
                    n += 1
                    if bar is not None and task is not None and not n & 0x3FFF:
                        bar.update(task, completed=done_bytes + reader._pos)
                err = reader.error
            done_bytes += os.path.getsize(f) if os.path.exists(f) else 0
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
    finally:
        if bar is not None:
            bar.stop()
    res.packets = sock.received
    res.accepted = sock.accepted
    res.bytes_delivered = sock.delivered_bytes
    res.counters = sock.stats()
    for k in ("tp_packets", "tp_drops"):
        res.counters.pop(k, None)
    return res, sock


def result_json(res: RunResult, maps: Any) -> dict[str, Any]:
    """The ``--json`` object."""
    from .output import maps_json  # noqa: PLC0415

    return {
        "program": res.program,
        "packets": res.packets,
        "accepted": res.accepted,
        "bytes_delivered": res.bytes_delivered,
        "maps": maps_json(maps),
    }


def print_human(res: RunResult, coll: Any, *, nonzero: bool = True) -> None:
    """The rich tables: every map, then the counters."""
    from rich.console import Console  # noqa: PLC0415

    from .output import render_counters, render_maps  # noqa: PLC0415

    console = Console()
    render_maps(console, coll.maps, coll.spec, nonzero=nonzero)
    render_counters(
        console,
        {
            "program": res.program,
            "packets": res.packets,
            "accepted": res.accepted,
            "bytes_delivered": res.bytes_delivered,
            **{
                k: v
                for k, v in res.counters.items()
                if k not in ("received", "accepted", "delivered_bytes")
            },
        },
        title=f"socket ({coll.backend} backend)",
    )


def _warn(msg: str) -> None:
    click.echo(f"pybpf: warning: {msg}", err=True)


@main.command("run")
@click.argument("prog", type=click.Path(dir_okay=False))
@click.argument("more_pcaps", nargs=-1, type=click.Path(), metavar="")
@click.option(
    "--pcap",
    "pcaps",
    multiple=True,
    type=click.Path(),
    help="capture(s) to replay: --pcap A.pcap B.pcapng ... (pcap or pcapng)",
)
@click.option("--section", default=None, help="program to run (name or ELF section)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead of tables")
@click.option("--engine", type=click.Choice(ENGINES), default="interp", show_default=True)
@click.option(
    "--backend",
    type=click.Choice(("user", "kernel")),
    default="user",
    show_default=True,
    help="pybpf's runtime, or bpf() with BPF_PROG_TEST_RUN",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="tables: show all-zero array elements too (JSON always lists all)",
)
def run_command(
    prog: str,
    more_pcaps: tuple[str, ...],
    pcaps: tuple[str, ...],
    section: str | None,
    as_json: bool,
    engine: str,
    backend: str,
    show_all: bool,
) -> None:
    """Run PROG over every packet of the captures and print its maps.

    PROG: an eBPF object (.o), a C file (compiled on the fly) or a macro module (.py).
    """
    files = [*pcaps, *more_pcaps]
    if not files:
        raise click.UsageError("give at least one capture: --pcap FILE [FILE ...]")
    coll = load_collection(prog, backend, engine)
    try:
        name, program = select_program(coll, section)
        res, _sock = run_captures(program, files, name=name, progress=not as_json, warn=_warn)
        if res.files_read == 0:
            raise BpfError("no packets could be read from " + ", ".join(files))
        if as_json:
            click.echo(json.dumps(result_json(res, coll.maps)))
        else:
            print_human(res, coll, nonzero=not show_all)
    finally:
        coll.close()
