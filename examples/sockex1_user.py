#!/usr/bin/env python3
"""sockex1's user-space half: load sockex1_kern.c, feed it packets, print per-protocol counts.

    python examples/sockex1_user.py --pcap ../shared/pcaps/dns_udp.pcap
    python examples/sockex1_user.py --iface lo --traffic      # live, needs root

Prints what the kernel sample prints, once a second for five seconds (live)
or once at the end (capture):

    TCP 12 UDP 4 ICMP 0 packets

Backends: ``--backend kernel`` loads maps and program with bpf() and runs each
captured frame with BPF_PROG_TEST_RUN (live: attaches to an AF_PACKET socket
with SO_ATTACH_BPF); ``--backend user`` uses pybpf's own runtime through
``pybpf.load(path)`` (a Collection with ``.programs`` and ``.maps``).
The parsing and formatting live in small functions so tests can check them.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "sockex1_kern.c"
PROGRAM = "count_by_protocol"
MAP = "proto_count"

IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = 1, 6, 17
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
#: the kernel runs a socket filter under BPF_PROG_TEST_RUN from the network header,
#: having pulled 14 bytes as the MAC header: prefix a zero "MAC header" so that the
#: program sees the frame from offset 0, as when attached (zero dst MAC = PACKET_HOST)
TEST_RUN_PAD = bytes(14)


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


# ---- backends ---------------------------------------------------------------------------------


def build(source: Path = SOURCE, defines: Iterable[str] = ()) -> Path:
    from pybpf.cc import compile_c

    return compile_c(source, defines=tuple(defines))


class KernelObject:
    """Maps and programs of an object created in the kernel with bpf()."""

    def __init__(self, path: str | Path):
        from pybpf.elf import load_object
        from pybpf.kernel.maps import KernelMap
        from pybpf.kernel.program import KernelProgram

        self.spec = load_object(path)
        self.maps = {n: KernelMap.from_spec(m) for n, m in self.spec.maps.items()}
        self.programs = {
            n: KernelProgram(
                p.insns,
                p.prog_type,
                p.license,
                n[:15],
                maps=self.maps,
                expected_attach_type=p.expected_attach_type,
            )
            for n, p in self.spec.programs.items()
        }

    def run_frame(self, program: str, frame: bytes) -> int:
        return self.programs[program].test_run(TEST_RUN_PAD + frame).retval

    def lookup(self, map_name: str) -> Callable[[bytes], Any]:
        return self.maps[map_name].lookup

    def close(self) -> None:
        for p in self.programs.values():
            p.close()
        for m in self.maps.values():
            m.close()


class UserObject:
    """The same through pybpf's own runtime (``pybpf.load``)."""

    def __init__(self, path: str | Path):
        import pybpf

        load = getattr(pybpf, "load", None)
        if load is None:
            raise SystemExit(
                "pybpf.load (the user-space runtime) is not available in this "
                "pybpf; use --backend kernel"
            )
        self.coll = load(str(path))
        self.programs = self.coll.programs
        self.maps = self.coll.maps

    def run_frame(self, program: str, frame: bytes) -> int:
        return self.programs[program].run(frame)

    def lookup(self, map_name: str) -> Callable[[bytes], Any]:
        m = self.maps[map_name]
        return m.lookup if hasattr(m, "lookup") else m.get

    def close(self) -> None:
        close = getattr(self.coll, "close", None)
        if close:
            close()


def open_object(path: str | Path, backend: str) -> Any:
    return KernelObject(path) if backend == "kernel" else UserObject(path)


def capture_frames(path: str | Path) -> list[tuple[bytes, int]]:
    """(frame, pkt_type) of every packet of a pcap/pcapng file, Ethernet framing."""
    from pybpf.net.capture import read_packets

    return [(p.data, p.pkt_type) for p in read_packets(path, strict=False)]


def replay(obj: Any, program: str, frames: Iterable[tuple[bytes, int]]) -> int:
    n = 0
    for data, _pkt_type in frames:
        obj.run_frame(program, data)
        n += 1
    return n


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


def live(
    obj: Any, program: str, iface: str, seconds: int, traffic: bool, show: Callable[[], None]
) -> None:
    """Attach to an AF_PACKET socket on ``iface`` and show the map once a second."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, 0))
    obj.programs[program].attach(sock)
    stop = threading.Event()
    gen = threading.Thread(target=_udp_traffic, args=(stop,), daemon=True) if traffic else None
    if gen:
        gen.start()
    try:
        for _ in range(seconds):
            time.sleep(1)
            show()
    finally:
        stop.set()
        if gen:
            gen.join()
        sock.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("object", nargs="?", help="compiled object (default: build sockex1_kern.c)")
    ap.add_argument("--pcap", help="replay this capture instead of a live socket")
    ap.add_argument("--iface", default="lo", help="interface for live mode (default lo)")
    ap.add_argument(
        "--traffic",
        action="store_true",
        help="live mode: send UDP datagrams to 127.0.0.1 meanwhile",
    )
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--backend", choices=("kernel", "user"), default="user")
    args = ap.parse_args(argv)

    path = args.object or build()
    obj = open_object(path, args.backend)
    lookup = obj.lookup(MAP)
    try:
        if args.pcap:
            replay(obj, PROGRAM, capture_frames(args.pcap))
            print(format_counts(*read_counts(lookup)))
        else:
            live(
                obj,
                PROGRAM,
                args.iface,
                args.seconds,
                args.traffic,
                lambda: print(format_counts(*read_counts(lookup)), flush=True),
            )
    finally:
        obj.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
