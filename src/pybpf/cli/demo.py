"""``pybpf demo``: the seed's two socket filters on captures shipped with pybpf.

No arguments, nothing to download: ``sockex1_kern.c`` (packets per IP
protocol) and ``sockex2_kern.c`` (packets per destination address) ship as
package data (``pybpf/data``) together with a few small Ethernet captures from
the tcpdump test suite (BSD licence, ``pybpf/data/LICENSE.pcaps``).  Each
program is compiled with the bundled clang, loaded (verified) into pybpf's
runtime, attached to a user-space packet socket and fed every packet; the
results are printed in the words of the kernel's samples, then as tables.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import click

from . import main

CAPTURE_SUFFIXES = (".pcap", ".pcapng")

IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = 1, 6, 17


@contextlib.contextmanager
def data_dir() -> Iterator[Path]:
    """The package's data directory as a real path (works from a wheel or a zip too)."""
    with resources.as_file(resources.files("pybpf") / "data") as p:
        yield Path(p)


def shipped_captures(base: Path) -> list[Path]:
    return sorted(p for p in base.iterdir() if p.suffix in CAPTURE_SUFFIXES)


def sockex1_line(proto_count: Any) -> str:
    """``TCP n UDP n ICMP n packets`` from sockex1's array (the sample's words)."""

    def count(proto: int) -> int:
        v = proto_count.lookup(struct.pack("<I", proto))
        return struct.unpack("<q", bytes(v)[:8])[0] if v else 0

    return f"TCP {count(IPPROTO_TCP)} UDP {count(IPPROTO_UDP)} ICMP {count(IPPROTO_ICMP)} packets"


def sockex2_lines(dst_count: Any) -> list[str]:
    """``ip A.B.C.D count N`` per destination, sorted by address (the sample's words).

    The key is the address as load_word() returned it: a host-order u32 of the
    big-endian field, so its dotted form is that number's big-endian bytes.
    """
    rows = []
    for k, v in dst_count.items():
        ip = struct.pack(">I", int.from_bytes(bytes(k), "little"))
        rows.append((ip, struct.unpack("<q", bytes(v)[:8])[0]))
    return [f"ip {socket.inet_ntoa(ip)} count {n}" for ip, n in sorted(rows)]


#: IP protocol numbers the demo names (include/uapi/linux/in.h)
PROTO_NAMES = {1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 41: "IPv6", 47: "GRE", 58: "ICMPv6"}


def _say(echo: Any, text: str, indent: str = "") -> None:
    """A paragraph wrapped to the terminal (80 columns when not a terminal)."""
    import shutil
    import textwrap

    width = min(shutil.get_terminal_size((80, 24)).columns, 100)
    echo(
        textwrap.fill(
            text,
            width=width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
        )
    )


def _frames(files: list[str]) -> list[Any]:
    from ..net.capture import read_packets

    return [p for f in files for p in read_packets(f, strict=False)]


def _story_sockex1(echo: Any, coll: Any, frames: list[Any]) -> list[str]:
    counts = coll.maps["proto_count"]
    line = sockex1_line(counts)
    not_ip = sum(1 for p in frames if p.protocol != 0x0800)
    echo("")
    echo("   The kernel's sample prints:")
    echo(f"   {line}")
    echo("")
    rows = []
    for k, v in counts.items():
        n = struct.unpack("<q", bytes(v)[:8])[0]
        if n:
            proto = int.from_bytes(bytes(k), "little")
            rows.append((proto, n))
    echo(f"   {'IP protocol':<22}{'packets':>8}")
    for proto, n in sorted(rows):
        name = PROTO_NAMES.get(proto)
        label = f"{name} ({proto})" if name else f"{proto} *"
        echo(f"   {label:<22}{n:>8}")
    if any(proto not in PROTO_NAMES for proto, _ in rows):
        echo("")
        _say(
            echo,
            f"* The program reads byte 23 of every frame without looking at its EtherType; "
            f"{not_ip} of the {len(frames)} frames are not IPv4 (VLAN-tagged, IPv6, ARP ...): "
            "for them byte 23 is no IP protocol, and the starred rows come from them.",
            "   ",
        )
    return [line]


def _story_sockex2(echo: Any, coll: Any) -> list[str]:
    lines = sockex2_lines(coll.maps["dst_count"])
    echo("")
    echo("   The kernel's sample prints:")
    for line in lines:
        echo(f"   {line}")
    return lines


def run_demo(*, backend: str = "user", echo: Any = click.echo, tables: bool = False) -> dict:
    """Compile, load and run both programs on the shipped captures; tell what they found.

    Returns ``{"sockex1": {"lines": [...], "packets": N}, "sockex2": {...}}``.
    """
    from ..spec.cc import compile_c
    from .run import load_collection, print_human, run_captures

    out: dict[str, Any] = {}
    with data_dir() as base:
        caps = shipped_captures(base)
        files = [str(c) for c in caps]
        frames = _frames(files)
        _say(
            echo,
            "pybpf demo: the two socket filters of LWN's \"Attaching eBPF programs to "
            'sockets" (December 2014), compiled from C by the bundled clang, checked by '
            "pybpf's verifier and attached to a user-space packet socket that replays "
            f"{len(caps)} small real captures ({len(frames)} packets).",
        )
        stories = (
            (
                "sockex1_kern.c",
                "packets per IP protocol",
                "For every packet it reads the IP protocol byte and adds one to that "
                "protocol's counter in an array map.",
            ),
            (
                "sockex2_kern.c",
                "packets per destination address",
                "It parses Ethernet, VLAN tags, IPv4 and IPv6 (and IP-in-IP and GRE tunnels) "
                "to find each packet's destination, and counts packets per address in a "
                'hash map: the article\'s "300-instruction program".',
            ),
        )
        for i, (src, what, how) in enumerate(stories, 1):
            obj = compile_c(base / src)
            coll = load_collection(obj, backend)
            try:
                name, prog = coll.select()
                res, _ = run_captures(
                    prog, files, name=name, warn=lambda m: echo(f"pybpf: warning: {m}", err=True)
                )
                echo("")
                echo(f"{i}. {src[:-7]}: {what} ({name}, {len(prog.insns)} instructions)")
                _say(
                    echo,
                    f"{how} It returns 0, so the socket delivers nothing: all "
                    f"{res.counters.get('dropped_by_filter', 0)} packets are dropped on "
                    "purpose; the counts are the point.",
                    "   ",
                )
                if src.startswith("sockex1"):
                    lines = _story_sockex1(echo, coll, frames)
                else:
                    lines = _story_sockex2(echo, coll)
                if tables:
                    print_human(res, coll)
                out[src[:-7]] = {"lines": lines, "packets": res.received}
            finally:
                coll.close()
        echo("")
        _say(
            echo,
            "Next: pybpf run examples/sockex2_kern.c --pcap YOUR.pcap (add --json for bpftool's "
            "format, --backend kernel to run it in the kernel), pybpf verify --log-level 1 "
            "examples/sockex1_kern.c, pybpf disasm -S examples/sockex1_kern.c.",
        )
    return out


@main.command("demo")
@click.option("--tables", is_flag=True, help="also print every map and the socket's counters")
def demo_command(tables: bool) -> None:
    """Compile the seed's sockex1 and sockex2 and run them on shipped captures."""
    run_demo(tables=tables)
