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


def run_demo(*, backend: str = "user", echo: Any = click.echo, tables: bool = True) -> dict:
    """Compile, load and run both programs on the shipped captures; print and return results."""
    from ..spec.cc import compile_c
    from .run import load_collection, print_human, run_captures

    out: dict[str, Any] = {}
    with data_dir() as base:
        caps = shipped_captures(base)
        echo(
            f"pybpf demo: the seed's socket filters on {len(caps)} shipped captures "
            f"({', '.join(c.name for c in caps)})"
        )
        files = [str(c) for c in caps]
        for src, words in (
            ("sockex1_kern.c", "packets per IP protocol"),
            ("sockex2_kern.c", "packets per destination address"),
        ):
            obj = compile_c(base / src)
            coll = load_collection(obj, backend)
            try:
                name, prog = coll.select()
                res, _ = run_captures(
                    prog, files, name=name, warn=lambda m: echo(f"pybpf: warning: {m}", err=True)
                )
                echo("")
                echo(
                    f"{src[:-7]}: {name}, {len(getattr(prog, 'insns', []))} instructions, "
                    f"verified and attached to a packet socket -- {words}"
                )
                if "proto_count" in coll.maps:
                    lines = [sockex1_line(coll.maps["proto_count"])]
                else:
                    lines = sockex2_lines(coll.maps["dst_count"])
                for line in lines:
                    echo(line)
                if tables:
                    print_human(res, coll)
                out[src[:-7]] = {"lines": lines, "packets": res.received}
            finally:
                coll.close()
    return out


@main.command("demo")
def demo_command() -> None:
    """Compile the seed's sockex1 and sockex2 and run them on shipped captures."""
    run_demo()
