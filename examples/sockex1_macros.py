#!/usr/bin/env python3
# ruff: noqa: F403, F405
"""The seed article's socket program, typed exactly as it stands in the article.

LWN, "Attaching eBPF programs to sockets" (December 2014) shows the 12
instructions of samples/bpf/sockex1_user.c written with the kernel's macros.
``pybpf.asm.macros`` provides the same macros, so the array reads the same in
Python; only the C syntax around it (``struct bpf_insn prog[] = {``, the
``/* */`` comments) changes.

    python examples/sockex1_macros.py            # listing and bytes, map fd 3
    python examples/sockex1_macros.py --fd 7     # another map fd
    pybpf run examples/sockex1_macros.py --pcap capture.pcap   # run it on packets

As a pybpf macro module it defines ``MAPS`` and ``build(maps)``: ``pybpf.load``
creates ``my_map`` in the chosen backend (user space or the kernel) and hands
it to ``build``, where BPF_LD_MAP_FD takes it as the kernel's macro takes an fd.

The program counts packets per IP protocol: it loads the protocol byte at
offset 23 (14-byte Ethernet header + 9) with LD_ABS, looks it up in an array
map and atomically adds 1 to the value.
"""

from __future__ import annotations

import argparse

from pybpf.asm.disasm import disassemble, listing
from pybpf.asm.macros import *
from pybpf.isa import Insn, encode
from pybpf.spec.types import MapSpec
from pybpf.uapi import BPF_MAP_TYPE_ARRAY

NAME = "sockex1"
#: the map of samples/bpf/sockex1: 256 u64 counters indexed by IP protocol
MAPS = {"my_map": MapSpec("my_map", BPF_MAP_TYPE_ARRAY, key_size=4, value_size=8, max_entries=256)}


def sockex1_prog(map_fd) -> list[Insn]:
    """The article's program; ``map_fd`` is an fd number or a pybpf map object."""
    # fmt: off
    prog = [
    BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
    BPF_LD_ABS(BPF_B, 14 + 9 ), # R0 = ip->proto
    BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_0, -4), # *(u32 *)(fp - 4) = r0
    BPF_MOV64_REG(BPF_REG_2, BPF_REG_10),
    BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, -4), # r2 = fp - 4
    BPF_LD_MAP_FD(BPF_REG_1, map_fd),
    BPF_RAW_INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
    BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 2),
    BPF_MOV64_IMM(BPF_REG_1, 1), # r1 = 1
    BPF_RAW_INSN(BPF_STX | BPF_XADD | BPF_DW, BPF_REG_0, BPF_REG_1, 0, 0),
    BPF_MOV64_IMM(BPF_REG_0, 0), # r0 = 0
    BPF_EXIT_INSN(),
    ]
    # fmt: on
    return prog


def build(maps) -> list[Insn]:
    """The macro-module entry point: ``maps`` holds live maps of the chosen backend."""
    return sockex1_prog(maps["my_map"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fd", type=int, default=3, help="map file descriptor to embed")
    args = ap.parse_args()
    prog = sockex1_prog(args.fd)
    print(f"{len(prog)} instructions, {len(encode(prog)) // 8} slots:\n")
    print(listing(prog), end="")
    print("\nllvm-mc input:\n")
    print(disassemble(prog), end="")


if __name__ == "__main__":
    main()
