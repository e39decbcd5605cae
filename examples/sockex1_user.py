#!/usr/bin/env python3
"""sockex1's user-space half: load sockex1_kern.c, feed it packets, print per-protocol counts.

    python examples/sockex1_user.py --pcap tests/data/pcaps/dns_udp.pcap [MORE.pcap ...]
    python examples/sockex1_user.py --iface lo --traffic      # live, needs root

Prints what the kernel sample prints, once a second (live) or once at the end
(captures):

    TCP 12 UDP 4 ICMP 0 packets

``pybpf.load(path, backend=...)`` creates the maps and loads (verifies) the
program, in pybpf's runtime (``--backend user``, the default) or in the
running kernel (``--backend kernel``, bpf(2)); nothing below depends on which.
Captures are replayed through a packet socket with the program attached
(:func:`pybpf.net.replay.replay_captures`); live mode attaches the program to
an interface (:class:`pybpf.net.live.LiveFilter`: SO_ATTACH_BPF on a real
AF_PACKET socket for a kernel program, as the seed describes). The parsing and
formatting live in small functions so tests can check them.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "sockex1_kern.c"
PROGRAM = "count_by_protocol"
MAP = "proto_count"

IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = 1, 6, 17
PACKET_OUTGOING = 4


def format_counts(tcp: int, udp: int, icmp: int) -> str:
    """The kernel sample's line: ``TCP %lld UDP %lld ICMP %lld packets``."""
    return f"TCP {tcp} UDP {udp} ICMP {icmp} packets"


def decode_counter(value: Any) -> int:
    """A map value (8 bytes, or already an int, or None for absent) as a signed long."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return struct.unpack("<q", bytes(value)[:8])[0]


def read_counts(lookup: Callable[[bytes], Any]) -> tuple[int, int, int]:
    """(TCP, UDP, ICMP) counters from a lookup(key bytes) -> value function."""
    return tuple(
        decode_counter(lookup(struct.pack("<I", p)))  # type: ignore[return-value]
        for p in (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP)
    )


def expected_counts(frames: Iterable[tuple[bytes, int]]) -> dict[int, int]:
    """An independent model of the program: protocol byte -> packets.

    ``frames`` are (frame bytes, pkt_type). The protocol is the byte at
    ETH_HLEN + 9 whatever the ethertype (the program does not look); a frame
    too short for it ends the program before anything is counted (LD_ABS);
    outgoing packets are skipped.
    """
    out: dict[int, int] = {}
    for data, pkt_type in frames:
        if len(data) < 24 or pkt_type == PACKET_OUTGOING:
            continue
        out[data[23]] = out.get(data[23], 0) + 1
    return out


def build(source: Path = SOURCE, defines: Iterable[str] = ()) -> Path:
    """Compile the C half with the bundled clang (cached)."""
    from pybpf.spec.cc import compile_c

    return compile_c(source, defines=tuple(defines))


def capture_frames(path: str | Path) -> list[tuple[bytes, int]]:
    """(frame, pkt_type) of every packet of a pcap/pcapng file, Ethernet framing."""
    from pybpf.net.capture import read_packets

    return [(p.data, p.pkt_type) for p in read_packets(path, strict=False)]


def replay_captures(prog: Any, paths: Iterable[str | Path]) -> int:
    """Every packet of every capture through a socket with ``prog``; damage is warned about.

    Returns the packets read; exits with status 1 when no capture could be read.
    """
    from pybpf.net.replay import replay_captures as replay

    res, _sock = replay(prog, list(paths), warn=lambda m: print(f"warning: {m}", file=sys.stderr))
    if res.files_read == 0:
        raise SystemExit("error: no packets could be read from " + ", ".join(map(str, paths)))
    return res.received


def _udp_traffic(stop: threading.Event, interval: float = 0.1) -> None:
    """Datagrams to a local socket (what the sample's ``ping -c5 localhost`` was for)."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    try:
        while not stop.wait(interval):
            tx.sendto(b"pybpf sockex", rx.getsockname())
            try:
                rx.recv(64)
            except BlockingIOError:
                pass
    finally:
        rx.close()
        tx.close()


def live(prog: Any, iface: str, seconds: int, traffic: bool, show: Callable[[], None]) -> None:
    """Run the program on ``iface``'s packets and show the map once a second."""
    from pybpf.net.live import LiveFilter

    stop = threading.Event()
    gen = threading.Thread(target=_udp_traffic, args=(stop,), daemon=True) if traffic else None
    if gen:
        gen.start()
    try:
        with LiveFilter(prog, iface) as filt:
            for _ in range(seconds):
                filt.pump(1.0)
                show()
    finally:
        stop.set()
        if gen:
            gen.join()


def main(argv: list[str] | None = None) -> int:
    import pybpf

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("object", nargs="?", help="compiled object (default: build sockex1_kern.c)")
    ap.add_argument(
        "--pcap", nargs="+", metavar="FILE", help="replay these captures instead of a live socket"
    )
    ap.add_argument("--iface", default="lo", help="interface for live mode (default lo)")
    ap.add_argument(
        "--traffic",
        action="store_true",
        help="live mode: send UDP datagrams to 127.0.0.1 meanwhile",
    )
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--backend", choices=("kernel", "user"), default="user")
    args = ap.parse_args(argv)

    with pybpf.load(args.object or build(), backend=args.backend) as coll:
        prog, counts = coll.programs[PROGRAM], coll.maps[MAP]
        if args.pcap:
            replay_captures(prog, args.pcap)
            print(format_counts(*read_counts(counts.lookup)))
        else:
            show = lambda: print(format_counts(*read_counts(counts.lookup)), flush=True)  # noqa: E731
            live(prog, args.iface, args.seconds, args.traffic, show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
