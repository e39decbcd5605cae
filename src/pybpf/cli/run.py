"""``pybpf run``: a program over every packet of captures, then its maps.

A socket filter runs on a packet socket (below). An XDP, tc or cgroup_skb
program runs on each frame as BPF_PROG_TEST_RUN presents it (an XDP frame with
256 bytes of headroom; an skb with ``data`` at the MAC header for tc, at the
network header for cgroup_skb): ``pybpf run`` counts the packets per action
(and per redirect target) and, with ``--write-pcap OUT.pcapng``, writes every
packet that leaves (XDP_PASS/TX/REDIRECT, tc's OK/REDIRECT ..., a cgroup's
allow, bpf_clone_redirect's copies) as the program left it, its action in a
pcapng comment; ``--split-by-action`` writes one file per action.

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
import time
from pathlib import Path
from typing import Any

import click

from ..errors import BpfError, VerifierError
from ..net.replay import ReplayResult, replay_captures
from ..user.program import ENGINES
from . import main
from .files import INPUT_FILE

#: show a progress bar for inputs at least this large (bytes), when stderr is a terminal
PROGRESS_MIN_BYTES = 4 << 20


def load_collection(
    prog: str | os.PathLike[str], backend: str = "user", engine: str = "interp"
) -> Any:
    """pybpf.load with every failure turned into a BpfError naming the file."""
    import pybpf

    if engine not in ENGINES:
        raise BpfError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    if engine == "jit" and backend == "kernel":
        raise BpfError(
            "--engine jit runs programs in user space; it does not apply to "
            "--backend kernel (the kernel uses its own JIT)"
        )
    path = Path(prog)
    try:
        return pybpf.load(path, backend=backend, engine=engine)
    except VerifierError as e:
        hint = "" if backend == "kernel" else f"; `pybpf verify {path}` explains it"
        raise VerifierError(f"{path}: {e}{hint}", errno=e.errno) from None
    except BpfError:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        raise BpfError(f"{path}: cannot load: {type(e).__name__}: {e}") from e


class _Progress:
    """A progress bar on stderr for long replays: bytes read, packets, packets/s, ETA."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("replaying"),
            BarColumn(),
            TextColumn("{task.fields[packets]:,} packets ({task.fields[rate]:,.0f}/s)"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.bar.add_task("replay", total=total, packets=0, rate=0.0)
        self.t0 = time.monotonic()
        self.bar.start()

    def __call__(self, done: int, total: int, packets: int) -> None:
        rate = packets / max(time.monotonic() - self.t0, 1e-9)
        self.bar.update(self.task, completed=done, packets=packets, rate=rate)

    def stop(self) -> None:
        self.bar.stop()


def run_captures(
    prog: Any, files: list[str], *, name: str = "", progress: bool = False, warn: Any = None
) -> tuple[ReplayResult, Any]:
    """:func:`pybpf.net.replay.replay_captures` with a progress bar for big inputs on a terminal."""
    bar = None
    if progress and sys.stderr.isatty():
        total = sum(os.path.getsize(f) for f in files if os.path.isfile(f))
        if total >= PROGRESS_MIN_BYTES:
            bar = _Progress(total)
    try:
        return replay_captures(prog, files, name=name, warn=warn, progress=bar)
    finally:
        if bar is not None:
            bar.stop()


def result_json(res: ReplayResult, coll: Any) -> dict[str, Any]:
    """The ``--json`` object: the program, every socket counter, every map as bpftool -j
    dumps it (with ``formatted`` values where the object has BTF or declared types)."""
    from .output import maps_json

    return {"program": res.program, **res.counters, "maps": maps_json(coll.maps, coll.spec)}


def print_human(res: ReplayResult, coll: Any, *, nonzero: bool = True) -> None:
    """The rich tables: every map, then the counters."""
    from rich.console import Console

    from .output import render_counters, render_maps

    console = Console()
    render_maps(console, coll.maps, coll.spec, nonzero=nonzero)
    render_counters(
        console,
        {"program": res.program, **res.counters},
        title=f"socket ({coll.backend_name} backend)",
    )


def _warn(msg: str) -> None:
    click.echo(f"pybpf: warning: {msg}", err=True)


@main.command("run")
@click.argument("prog", type=INPUT_FILE, required=False)
@click.argument("more_pcaps", nargs=-1, type=click.Path(), metavar="")
@click.option(
    "--filter",
    "expression",
    default=None,
    help="a pcap filter expression (compiled by libpcap) instead of PROG; counts as tcpdump",
)
@click.option(
    "--pcap",
    "pcaps",
    multiple=True,
    type=click.Path(),
    help="capture(s) to replay: --pcap A.pcap B.pcapng ... (pcap or pcapng)",
)
@click.option(
    "--section", "-s", "section", default=None, help="program to run (name or ELF section)"
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead of tables")
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="interp",
    show_default=True,
    help="user backend: pybpf's interpreter, or the JIT (native code through LLVM)",
)
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
@click.option(
    "--write-pcap",
    "write_pcap",
    type=click.Path(dir_okay=False),
    default=None,
    help="XDP, tc, cgroup_skb: write every packet that leaves, as the program left it, "
    "to this pcapng (a comment per packet: its action and redirect target)",
)
@click.option(
    "--split-by-action",
    is_flag=True,
    help="with --write-pcap: one file per action (OUT-XDP_TX.pcapng, OUT-XDP_PASS.pcapng ...)",
)
def run_command(
    prog: str | None,
    more_pcaps: tuple[str, ...],
    expression: str | None,
    pcaps: tuple[str, ...],
    section: str | None,
    as_json: bool,
    engine: str,
    backend: str,
    show_all: bool,
    write_pcap: str | None,
    split_by_action: bool,
) -> None:
    """Run PROG over every packet of the captures and print its maps.

    PROG: an eBPF object (.o), a C file (compiled on the fly), a macro module (.py), or a
    classic BPF program (tcpdump -d/-dd/-ddd, bpf_asm text, raw struct sock_filter bytes).
    """
    files = [*pcaps, *more_pcaps]
    if expression is not None and prog is not None:
        files.insert(0, prog)  # with --filter every positional argument is a capture
    if not files:
        raise click.UsageError("give at least one capture: --pcap FILE [FILE ...]")
    if expression is None and prog is None:
        raise click.UsageError("give a program (PROG) or a filter expression (--filter EXPR)")
    from ..cbpf.files import classic_file

    if split_by_action and write_pcap is None:
        raise click.UsageError("--split-by-action needs --write-pcap OUT.pcapng")
    classic = None if prog is None or expression is not None else classic_file(prog)
    if expression is not None or classic is not None:
        if write_pcap is not None:
            raise click.UsageError(
                "--write-pcap writes what an XDP, tc or cgroup_skb program lets through; "
                "a classic filter only counts"
            )
        _run_classic(expression, classic, prog, files, engine, backend, as_json)
        return
    assert prog is not None
    coll = load_collection(prog, backend, engine)
    try:
        name, program = coll.select(section)
        if hasattr(program, "run_packet") and _acts_on_packets(program):
            _run_actions(coll, name, program, files, write_pcap, split_by_action, as_json, show_all)
            return
        if write_pcap is not None:
            raise BpfError(
                f"--write-pcap writes what an XDP, tc or cgroup_skb program lets through; "
                f"{name} is a {_type_name(program)} program"
            )
        res, _sock = run_captures(program, files, name=name, progress=not as_json, warn=_warn)
        if res.files_read == 0:
            raise BpfError("no packets could be read from " + ", ".join(files))
        if as_json:
            click.echo(json.dumps(result_json(res, coll)))
        else:
            print_human(res, coll, nonzero=not show_all)
    finally:
        coll.close()


def _type_name(program: Any) -> str:
    from .. import uapi

    return uapi.PROG_TYPE_NAMES.get(program.prog_type, str(program.prog_type))


def _acts_on_packets(program: Any) -> bool:
    """XDP, tc and cgroup_skb programs: an action per packet, and the packet out."""
    from ..progtypes import PROG_TYPES

    pt = PROG_TYPES.get(program.prog_type)
    return pt is not None and bool(pt.pointers)


def _run_actions(
    coll: Any,
    name: str,
    program: Any,
    files: list[str],
    write_pcap: str | None,
    split: bool,
    as_json: bool,
    show_all: bool,
) -> None:
    """An XDP, tc or cgroup_skb program over the captures: counts per action, the maps,
    and the packets that leave written out."""
    from ..net.replay import ActionWriter, replay_actions

    bar = None
    if not as_json and sys.stderr.isatty():
        total = sum(os.path.getsize(f) for f in files if os.path.isfile(f))
        if total >= PROGRESS_MIN_BYTES:
            bar = _Progress(total)
    writer = None
    try:
        writer = ActionWriter(write_pcap, split=split) if write_pcap is not None else None
    except OSError as e:
        raise BpfError(f"--write-pcap {write_pcap}: cannot write: {e.strerror or e}") from None
    try:
        runner = getattr(program, "replay_captures", None)
        if runner is not None:  # the JIT: the per-packet loop in C
            res = runner(files, name=name, writer=writer, warn=_warn, progress=bar)
        else:
            res = replay_actions(program, files, name=name, writer=writer, warn=_warn, progress=bar)
    finally:
        if bar is not None:
            bar.stop()
        if writer is not None:
            writer.close()
    if res.files_read == 0:
        raise BpfError("no packets could be read from " + ", ".join(files))
    written = sorted(writer.files.values()) if writer is not None else []
    if as_json:
        out = result_json(res, coll)
        out["type"] = _type_name(program)
        out["written_files"] = written
        click.echo(json.dumps(out))
        return
    from rich.console import Console

    from .output import render_counters, render_maps

    console = Console()
    render_maps(console, coll.maps, coll.spec, nonzero=not show_all)
    render_counters(
        console,
        {"program": res.program, **res.counters},
        title=f"{_type_name(program)} actions ({coll.backend_name} backend)",
    )
    for path in written:
        console.print(f"wrote {path}")


def _run_classic(
    expression: str | None,
    classic: Any,
    prog: str | None,
    files: list[str],
    engine: str,
    backend: str,
    as_json: bool,
) -> None:
    """``--filter EXPR`` (libpcap's program over the records, as tcpdump filters them), or
    a classic PROG on the packet socket (SO_ATTACH_FILTER; the kernel backend attaches it
    to a real socket on a veth pair): the socket's counters, as for an eBPF program."""
    if expression is not None:
        from ..cbpf.capture import filter_captures

        if backend == "kernel":
            raise BpfError(
                "--filter runs libpcap's program over the capture records as tcpdump does; "
                "--backend kernel does not apply (attach a classic PROG to test the kernel)"
            )
        res = filter_captures(expression, files, engine=engine, warn=_warn).replay_result()
    else:
        from ..cbpf.kernel import KernelClassicFilter
        from ..cbpf.program import ClassicProgram

        name = Path(str(prog)).name
        program: Any = (
            KernelClassicFilter(classic, name=name)
            if backend == "kernel"
            else ClassicProgram(classic, engine=engine, name=name)
        )
        res, _sock = run_captures(program, files, name=name, progress=not as_json, warn=_warn)
    if res.files_read == 0:
        raise BpfError("no packets could be read from " + ", ".join(files))
    if as_json:
        click.echo(json.dumps({"program": res.program, **res.counters, "maps": {}}))
        return
    from rich.console import Console

    from .output import render_counters

    render_counters(
        Console(), {"program": res.program, **res.counters}, title=f"socket ({backend} backend)"
    )
