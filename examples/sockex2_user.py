#!/usr/bin/env python3
"""sockex2's user-space half: packets per destination address, from sockex2_kern.c.

    python examples/sockex2_user.py --pcap tests/data/pcaps/dns_udp.pcap [MORE.pcap ...]
    python examples/sockex2_user.py --iface lo --traffic      # live, needs root

Prints one line per flow, as the kernel sample does:

    ip 10.0.0.1 count 42

The key is the destination IPv4 address as load_word() read it (host order of
the big-endian field), so the dotted form is its big-endian bytes. IPv6
destinations appear as the XOR-fold of their four words, printed the same way.
Loading (``pybpf.load``), backends (``--backend user`` by default, ``--backend
kernel`` for bpf()) and options as in sockex1_user.py.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sockex1_user as common  # noqa: E402

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "sockex2_kern.c"
PROGRAM = "count_by_destination"
MAP = "dst_count"


def key_to_ip(key: bytes | int) -> str:
    """The map key (u32 holding the address in host order) as dotted quad."""
    k = key if isinstance(key, int) else struct.unpack("<I", bytes(key)[:4])[0]
    return socket.inet_ntoa(struct.pack(">I", k))


def format_flow(key: bytes | int, count: int) -> str:
    """The kernel sample's line: ``ip %s count %lld``."""
    return f"ip {key_to_ip(key)} count {count}"


def flow_lines(pairs: Iterable[tuple[bytes | int, Any]]) -> list[str]:
    """Formatted lines for all flows, sorted by address for stable output."""
    rows = sorted(
        ((key_to_ip(k), common.decode_counter(v), k) for k, v in pairs),
        key=lambda r: socket.inet_aton(r[0]),
    )
    return [format_flow(k, c) for _ip, c, k in rows]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("object", nargs="?", help="compiled object (default: build sockex2_kern.c)")
    ap.add_argument(
        "--pcap", nargs="+", metavar="FILE", help="replay these captures instead of a live socket"
    )
    ap.add_argument("--iface", default="lo")
    ap.add_argument("--traffic", action="store_true")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--backend", choices=("kernel", "user"), default="user")
    args = ap.parse_args(argv)

    import pybpf

    with pybpf.load(args.object or common.build(SOURCE), backend=args.backend) as coll:
        prog, flows = coll.programs[PROGRAM], coll.maps[MAP]

        def show() -> None:
            for line in flow_lines(flows.items()):
                print(line, flush=True)

        if args.pcap:
            common.replay_captures(prog, args.pcap)
            show()
        else:
            common.live(prog, args.iface, args.seconds, args.traffic, show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
