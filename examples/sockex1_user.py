#!/usr/bin/env python3
"""sockex1's user-space half: load sockex1_kern.c, feed it packets, print per-protocol counts.

    python examples/sockex1_user.py --pcap ../shared/pcaps/dns_udp.pcap [MORE.pcap ...]
    python examples/sockex1_user.py --iface lo --traffic      # live, needs root

Prints what the kernel sample prints, once a second (live) or once at the end
(captures):

    TCP 12 UDP 4 ICMP 0 packets

``pybpf.load(path, backend=...)`` creates the maps and loads (verifies) the
program. ``--backend user`` (default): pybpf's runtime; each packet goes to a
:class:`pybpf.net.socket.PacketSocket` with the program attached (live: a
``LiveSource`` on the interface feeds it). ``--backend kernel``: bpf(); each
captured frame runs through BPF_PROG_TEST_RUN as a packet socket would present
it (``pybpf.net.socket.kernel_test_run_frame``), live mode attaches the program
to a real AF_PACKET socket with SO_ATTACH_BPF, as the seed describes.
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
#: BPF_PROG_TEST_RUN runs a socket filter from the network header, having pulled 14
#: bytes as the MAC header: a zero "MAC header" in front lets the program see the frame
#: from offset 0 (zero dst MAC = loopback's address = PACKET_HOST). Kept for callers of
#: run_frame(); replay() uses pybpf.net.socket.kernel_test_run_frame instead.
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


# ---- loading ----------------------------------------------------------------------------------


def build(source: Path = SOURCE, defines: Iterable[str] = ()) -> Path:
    from pybpf.spec.cc import compile_c

    return compile_c(source, defines=tuple(defines))


class LoadedObject:
    """``pybpf.load(path, backend)``: programs and maps of one object, in one backend."""

    backend = "user"

    def __init__(self, path: str | Path):
        import pybpf

        self.coll = pybpf.load(str(path), backend=self.backend)
        self.spec = self.coll.spec
        self.programs = self.coll.programs
        self.maps = self.coll.maps

    def run_frame(self, program: str, frame: bytes) -> int:
        """The program's return value on one frame (data from the MAC header)."""
        prog = self.programs[program]
        if self.backend == "kernel":
            return prog.test_run(TEST_RUN_PAD + frame).retval
        return prog.run(frame)

    def lookup(self, map_name: str) -> Callable[[bytes], Any]:
        return self.maps[map_name].lookup

    def close(self) -> None:
        self.coll.close()


class UserObject(LoadedObject):
    backend = "user"


class KernelObject(LoadedObject):
    backend = "kernel"


def open_object(path: str | Path, backend: str) -> LoadedObject:
    return KernelObject(path) if backend == "kernel" else UserObject(path)


# ---- packets ----------------------------------------------------------------------------------


def capture_frames(path: str | Path) -> list[tuple[bytes, int]]:
    """(frame, pkt_type) of every packet of a pcap/pcapng file, Ethernet framing."""
    from pybpf.net.capture import read_packets

    return [(p.data, p.pkt_type) for p in read_packets(path, strict=False)]


def replay(obj: LoadedObject, program: str, frames: Iterable[Any]) -> int:
    """Deliver frames (bytes, (bytes, pkt_type) or Packets) to a socket with the program."""
    from pybpf.net.socket import PacketSocket

    sock = PacketSocket()
    sock.attach(obj.programs[program])
    for f in frames:
        sock.deliver(f[0] if isinstance(f, tuple) else f)
        sock.queue.clear()
        sock.rmem_alloc = 0
    return sock.received


def replay_captures(obj: LoadedObject, program: str, paths: Iterable[str | Path]) -> int:
    """Every packet of every capture; a damaged capture's error is printed, not raised."""
    from pybpf.errors import CaptureError
    from pybpf.net.capture import open_capture

    n = 0
    for path in paths:
        try:
            reader = open_capture(path)
        except (CaptureError, OSError) as e:
            print(f"warning: {path}: {e}", file=sys.stderr)
            continue
        with reader:
            n += replay(obj, program, reader.iter_packets(strict=False))
            if reader.error is not None:
                print(f"warning: {reader.error}", file=sys.stderr)
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
    obj: LoadedObject,
    program: str,
    iface: str,
    seconds: int,
    traffic: bool,
    show: Callable[[], None],
) -> None:
    """Run the program on ``iface``'s packets and show the map once a second.

    Kernel backend: SO_ATTACH_BPF on a real AF_PACKET socket. User backend: a
    LiveSource (an AF_PACKET socket without a filter) feeds pybpf's PacketSocket.
    """
    stop = threading.Event()
    gen = threading.Thread(target=_udp_traffic, args=(stop,), daemon=True) if traffic else None
    if gen:
        gen.start()
    try:
        if obj.backend == "kernel":
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            try:
                sock.bind((iface, 0))
                obj.programs[program].attach(sock)
                for _ in range(seconds):
                    time.sleep(1)
                    show()
            finally:
                sock.close()
            return
        from pybpf.net.live import LiveSource
        from pybpf.net.socket import PacketSocket

        psock = PacketSocket()
        psock.attach(obj.programs[program])
        with LiveSource(iface) as src:
            for _ in range(seconds):
                end = time.monotonic() + 1
                for pkt in src.packets(timeout=max(end - time.monotonic(), 0)):
                    psock.deliver(pkt)
                    psock.queue.clear()
                    psock.rmem_alloc = 0
                show()
    finally:
        stop.set()
        if gen:
            gen.join()


def main(argv: list[str] | None = None) -> int:
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

    path = args.object or build()
    obj = open_object(path, args.backend)
    lookup = obj.lookup(MAP)
    try:
        if args.pcap:
            replay_captures(obj, PROGRAM, args.pcap)
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
