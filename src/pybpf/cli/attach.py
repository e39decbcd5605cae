"""``pybpf attach``: a socket filter on a live interface, its maps printed every interval.

What the seed's user-space programs do ("attach it to a socket, then print the
map every second"), in two ways (both need root for AF_PACKET):

* default (user space): a :class:`pybpf.net.live.LiveSource` (an AF_PACKET
  socket bound to IF, no filter) receives every frame the device sees and
  feeds it to a :class:`pybpf.net.socket.PacketSocket` where the program runs
  in pybpf's interpreter;
* ``--kernel``: the program and maps are loaded with bpf(), a real AF_PACKET
  socket is bound to IF and the program attached with SO_ATTACH_BPF; the
  kernel runs it on every packet and pybpf reads the kernel's maps.

The run ends after ``--count`` intervals (or on Ctrl-C).
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import click

from ..errors import BpfError, CaptureError
from . import main

ETH_P_ALL = 0x0003


def _show(coll: Any, counters: dict[str, Any], as_json: bool, tick: int) -> None:
    from rich.console import Console  # noqa: PLC0415

    from .output import maps_json, render_counters, render_maps  # noqa: PLC0415

    if as_json:
        click.echo(json.dumps({"interval": tick, **counters, "maps": maps_json(coll.maps)}))
        return
    console = Console()
    console.rule(f"interval {tick}")
    render_maps(console, coll.maps, coll.spec, nonzero=True)
    if counters:
        render_counters(console, counters)


def _user_loop(
    prog: Any, coll: Any, iface: str, interval: float, count: int, as_json: bool
) -> None:
    from ..net.live import LiveSource  # noqa: PLC0415
    from ..net.socket import PacketSocket  # noqa: PLC0415

    sock = PacketSocket()
    sock.attach(prog)
    try:
        src = LiveSource(iface)
    except OSError as e:
        raise BpfError(f"cannot open a packet socket on {iface}: {e.strerror or e}") from None
    with src:
        sock.ifindex = src.ifindex
        for tick in range(1, count + 1):
            end = time.monotonic() + interval
            while (left := end - time.monotonic()) > 0:
                pkt = src.recv(left)
                if pkt is None:
                    continue
                sock.deliver(pkt)
                if sock.queue:  # nobody reads the socket here: keep it from filling
                    sock.queue.clear()
                    sock.rmem_alloc = 0
            counters = sock.stats()
            for k in ("tp_packets", "tp_drops"):
                counters.pop(k)
            _show(coll, counters, as_json, tick)


def _kernel_loop(
    prog: Any, coll: Any, iface: str, interval: float, count: int, as_json: bool
) -> None:
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError as e:
        raise BpfError(f"AF_PACKET socket needs CAP_NET_RAW (root): {e.strerror}") from None
    try:
        try:
            s.bind((iface, 0))
        except OSError as e:
            raise BpfError(f"cannot bind a packet socket to {iface}: {e.strerror or e}") from None
        prog.attach(s)
        for tick in range(1, count + 1):
            time.sleep(interval)
            _show(coll, {}, as_json, tick)
    finally:
        s.close()


@main.command("attach")
@click.argument("prog", type=click.Path(dir_okay=False))
@click.option("--iface", required=True, help="network interface, e.g. lo")
@click.option(
    "--interval", type=float, default=1.0, show_default=True, help="seconds between map printouts"
)
@click.option(
    "--count", type=int, default=5, show_default=True, help="number of intervals before detaching"
)
@click.option("--section", default=None, help="program to attach (name or ELF section)")
@click.option(
    "--kernel",
    "use_kernel",
    is_flag=True,
    help="load with bpf() and attach with SO_ATTACH_BPF (the kernel runs it)",
)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per interval")
def attach_command(
    prog: str,
    iface: str,
    interval: float,
    count: int,
    section: str | None,
    use_kernel: bool,
    as_json: bool,
) -> None:
    """Attach PROG to a packet socket on IFACE and print its maps every interval (root)."""
    from .run import load_collection, select_program  # noqa: PLC0415

    if interval <= 0 or count <= 0:
        raise click.UsageError("--interval and --count must be positive")
    try:
        socket.if_nametoindex(iface)
    except OSError:
        raise BpfError(f"no such interface: {iface}") from None
    coll = load_collection(prog, "kernel" if use_kernel else "user")
    try:
        _name, program = select_program(coll, section)
        try:
            if use_kernel:
                _kernel_loop(program, coll, iface, interval, count, as_json)
            else:
                _user_loop(program, coll, iface, interval, count, as_json)
        except CaptureError as e:
            raise BpfError(str(e)) from None
        except KeyboardInterrupt:
            pass
    finally:
        coll.close()
