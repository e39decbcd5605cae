"""``pybpf attach``: a socket filter on a live interface, its maps printed every interval.

What the seed's user-space programs do ("attach it to a socket, then print the
map every second"), in two ways (both need root for AF_PACKET):

* default (user space): an AF_PACKET socket bound to IF, without a filter,
  receives every frame the device sees and feeds it to a user-space packet
  socket where the program runs in pybpf;
* ``--kernel``: the program and maps are loaded with bpf(), a real AF_PACKET
  socket is bound to IF and the program attached with SO_ATTACH_BPF; the
  kernel runs it on every packet and pybpf reads the kernel's maps.

Both are :class:`pybpf.net.live.LiveFilter`.

The run ends after ``--count`` intervals (or on Ctrl-C).
"""

from __future__ import annotations

import json
import socket
from typing import Any

import click

from ..errors import BpfError, CaptureError
from . import main
from .files import INPUT_FILE


def _show(coll: Any, counters: dict[str, Any], as_json: bool, tick: int) -> None:
    from rich.console import Console

    from .output import maps_json, render_counters, render_maps

    if as_json:
        click.echo(
            json.dumps({"interval": tick, **counters, "maps": maps_json(coll.maps, coll.spec)})
        )
        return
    console = Console()
    console.rule(f"interval {tick}")
    render_maps(console, coll.maps, coll.spec, nonzero=True)
    if counters:
        render_counters(console, counters)


def _loop(prog: Any, coll: Any, iface: str, interval: float, count: int, as_json: bool) -> None:
    from ..net.live import LiveFilter

    try:
        live = LiveFilter(prog, iface)
    except OSError as e:
        raise BpfError(f"cannot open a packet socket on {iface}: {e.strerror or e}") from None
    with live:
        for tick in range(1, count + 1):
            live.pump(interval)
            _show(coll, live.stats(), as_json, tick)


@main.command("attach")
@click.argument("prog", type=INPUT_FILE)
@click.option("--iface", required=True, help="network interface, e.g. lo")
@click.option(
    "--interval", type=float, default=1.0, show_default=True, help="seconds between map printouts"
)
@click.option(
    "--count", type=int, default=5, show_default=True, help="number of intervals before detaching"
)
@click.option(
    "--section", "-s", "section", default=None, help="program to attach (name or ELF section)"
)
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
    from .run import load_collection

    if interval <= 0 or count <= 0:
        raise click.UsageError("--interval and --count must be positive")
    try:
        socket.if_nametoindex(iface)
    except OSError:
        raise BpfError(f"no such interface: {iface}") from None
    coll = load_collection(prog, "kernel" if use_kernel else "user")
    try:
        _name, program = coll.select(section)
        try:
            _loop(program, coll, iface, interval, count, as_json)
        except CaptureError as e:
            raise BpfError(str(e)) from None
        except KeyboardInterrupt:
            pass
    finally:
        coll.close()
