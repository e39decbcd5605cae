#!/usr/bin/env python3
"""cgroup_skb_bytes' user-space half: run the cgroup_skb program over captures, print traffic.

    python examples/cgroup_skb_bytes_user.py --pcap tests/data/pcaps/dns_udp.pcap \
        [--backend kernel]

Prints packets and bytes (the network-layer length the socket receives) per IP
version and protocol:

    IPv4 UDP 2 packets 308 bytes
"""

from __future__ import annotations

import struct
import sys
from typing import Any

from packet_reader import HERE, run

SOURCE = HERE / "cgroup_skb_bytes_kern.c"
PROTOCOLS = {1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 47: "GRE", 58: "ICMPv6"}


def traffic(m: Any) -> dict[tuple[int, int], tuple[int, int]]:
    """The traffic map as {(IP version, protocol): (packets, bytes)}; (0, 0) is non-IP."""
    out = {}
    for k, v in m.items():
        key = struct.unpack("<I", bytes(k))[0]
        out[(key >> 8, key & 0xFF)] = struct.unpack("<QQ", bytes(v))
    return out


def label(version: int, proto: int) -> str:
    if not version:
        return "not IP"
    return f"IPv{version} {PROTOCOLS.get(proto, f'protocol {proto}')}"


def show(coll: Any, _counters: dict[str, int]) -> None:
    for (version, proto), (packets, nbytes) in sorted(traffic(coll.maps["traffic"]).items()):
        print(f"{label(version, proto)} {packets} packets {nbytes} bytes")


def main(argv: list[str] | None = None) -> int:
    return run(SOURCE, argv, __doc__.splitlines()[0], show)


if __name__ == "__main__":
    sys.exit(main())
