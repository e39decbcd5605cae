#!/usr/bin/env python3
"""xdp_firewall's user-space half: run the XDP program over captures, print what it did.

    python examples/xdp_firewall_user.py --pcap tests/data/pcaps/icmp_echo_veth.pcap \
        [--backend kernel] [--write-pcap replies.pcapng] [-D BLOCKED_PORT=5353]

Prints the packets per action and the drops per protocol:

    XDP_PASS 8 XDP_DROP 1 XDP_TX 6
    dropped IPv4 UDP 1
"""

from __future__ import annotations

import struct
import sys
from typing import Any

from packet_reader import HERE, run

SOURCE = HERE / "xdp_firewall_kern.c"
ACTIONS = ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT")
PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6"}


def action_counts(m: Any) -> dict[str, int]:
    """The xdp_actions array as {action name: packets} (actions that happened)."""
    out = {}
    for i, name in enumerate(ACTIONS):
        v = m.lookup(struct.pack("<I", i))
        n = struct.unpack("<Q", bytes(v))[0] if v is not None else 0
        if n:
            out[name] = n
    return out


def drops(m: Any) -> dict[tuple[int, int], int]:
    """The dropped map as {(IP version, protocol): packets}."""
    out = {}
    for k, v in m.items():
        key = struct.unpack("<I", bytes(k))[0]
        out[(key >> 8, key & 0xFF)] = struct.unpack("<Q", bytes(v))[0]
    return out


def show(coll: Any, _counters: dict[str, int]) -> None:
    counts = action_counts(coll.maps["xdp_actions"])
    print(" ".join(f"{k} {v}" for k, v in counts.items()))
    for (version, proto), n in sorted(drops(coll.maps["dropped"]).items()):
        print(f"dropped IPv{version} {PROTOCOLS.get(proto, proto)} {n}")


def main(argv: list[str] | None = None) -> int:
    return run(SOURCE, argv, __doc__.splitlines()[0], show)


if __name__ == "__main__":
    sys.exit(main())
