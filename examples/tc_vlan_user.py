#!/usr/bin/env python3
"""tc_vlan's user-space half: run the tc program over captures, print the VLAN moves.

    python examples/tc_vlan_user.py --pcap tests/data/pcaps/802.1ad_QinQ.pcap \
        [--backend kernel] [--write-pcap out.pcapng] [-D VLAN_ID=7]

Prints one line per VLAN id, how many packets were put on it and taken off it:

    vlan 100 pushed 103
    vlan 200 popped 2
"""

from __future__ import annotations

import struct
import sys
from typing import Any

from packet_reader import HERE, run

SOURCE = HERE / "tc_vlan_kern.c"
POPPED = 0x10000


def vlan_moves(m: Any) -> dict[tuple[int, str], int]:
    """The vlans map as {(vid, "pushed" or "popped"): packets}."""
    out = {}
    for k, v in m.items():
        key = struct.unpack("<I", bytes(k))[0]
        what = "popped" if key & POPPED else "pushed"
        out[(key & 0xFFF, what)] = struct.unpack("<Q", bytes(v))[0]
    return out


def show(coll: Any, _counters: dict[str, int]) -> None:
    for (vid, what), n in sorted(vlan_moves(coll.maps["vlans"]).items()):
        print(f"vlan {vid} {what} {n}")


def main(argv: list[str] | None = None) -> int:
    return run(SOURCE, argv, __doc__.splitlines()[0], show)


if __name__ == "__main__":
    sys.exit(main())
