"""The classic BPF instruction set: ``struct sock_filter``, its opcodes and wire encoding.

A classic instruction is 8 bytes, ``code:16 jt:8 jf:8 k:32`` in host byte
order (include/uapi/linux/filter.h). There are two registers, the accumulator
A and the index X, and 16 scratch words ``M[0..15]`` (BPF_MEMWORDS). Jumps
only go forward: a conditional jump skips ``jt`` or ``jf`` instructions, BPF_JA
skips ``k``. Loads at ``SKF_AD_OFF + n`` are the kernel's *ancillary* loads
(packet metadata rather than packet bytes, ``bpf_anc_helper`` in
include/linux/filter.h); loads at ``SKF_NET_OFF``/``SKF_LL_OFF`` plus an
offset read relative to the network or link-layer header.

The class, size, mode and source bits are the ones eBPF kept
(:mod:`pybpf.isa`); the classic-only ones (BPF_RET, BPF_MISC, BPF_LEN,
BPF_MSH, BPF_A, BPF_TAX, BPF_TXA) are defined here, as in
include/uapi/linux/bpf_common.h and filter.h.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import InsnError
from ..isa import (
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_B,
    BPF_DIV,
    BPF_H,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JMP,
    BPF_JSET,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LSH,
    BPF_MEM,
    BPF_MOD,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RSH,
    BPF_ST,
    BPF_STX,
    BPF_SUB,
    BPF_W,
    BPF_X,
    BPF_XOR,
)
from ..uapi import SKF_AD_OFF

__all__ = [
    "ANCILLARY",
    "ANCILLARY_BY_NAME",
    "BPF_A",
    "BPF_JUMP",
    "BPF_LEN",
    "BPF_MAXINSNS",
    "BPF_MEMWORDS",
    "BPF_MISC",
    "BPF_MSH",
    "BPF_RET",
    "BPF_STMT",
    "BPF_TAX",
    "BPF_TXA",
    "CLASSIC_CODES",
    "SOCK_FILTER_SIZE",
    "SockFilter",
    "ancillary_of",
    "decode",
    "encode",
    "is_cond_jump",
]

# --- classic-only opcode bits (bpf_common.h, filter.h) ------------------------------------
BPF_RET = 0x06
BPF_MISC = 0x07
BPF_LEN = 0x80
BPF_MSH = 0xA0
#: the return value's source for BPF_RET: A (BPF_K is the immediate)
BPF_A = 0x10
BPF_TAX = 0x00
BPF_TXA = 0x80

BPF_MEMWORDS = 16
BPF_MAXINSNS = 4096
SOCK_FILTER_SIZE = 8

# --- ancillary loads at SKF_AD_OFF + n (include/uapi/linux/filter.h) -----------------------
SKF_AD_PROTOCOL = 0
SKF_AD_PKTTYPE = 4
SKF_AD_IFINDEX = 8
SKF_AD_NLATTR = 12
SKF_AD_NLATTR_NEST = 16
SKF_AD_MARK = 20
SKF_AD_QUEUE = 24
SKF_AD_HATYPE = 28
SKF_AD_RXHASH = 32
SKF_AD_CPU = 36
SKF_AD_ALU_XOR_X = 40
SKF_AD_VLAN_TAG = 44
SKF_AD_VLAN_TAG_PRESENT = 48
SKF_AD_PAY_OFFSET = 52
SKF_AD_RANDOM = 56
SKF_AD_VLAN_TPID = 60
SKF_AD_MAX = 64


@dataclass(frozen=True)
class Ancillary:
    """One ancillary load: its SKF_AD number and its names in bpf_asm and in ``tcpdump -d``."""

    number: int
    asm: str  # tools/bpf/bpf_exp.l
    image: str  # libpcap bpf_image.c
    meaning: str

    @property
    def k(self) -> int:
        """The instruction's k (``SKF_AD_OFF + number`` as a u32)."""
        return (SKF_AD_OFF + self.number) & 0xFFFF_FFFF


#: every ancillary load bpf_anc_helper() knows, by SKF_AD number
ANCILLARY: dict[int, Ancillary] = {
    a.number: a
    for a in (
        Ancillary(SKF_AD_PROTOCOL, "proto", "proto", "skb->protocol, host order"),
        Ancillary(SKF_AD_PKTTYPE, "type", "type", "skb->pkt_type"),
        Ancillary(SKF_AD_IFINDEX, "ifidx", "ifidx", "skb->dev->ifindex"),
        Ancillary(SKF_AD_NLATTR, "nla", "nla", "offset of netlink attribute X from offset A"),
        Ancillary(SKF_AD_NLATTR_NEST, "nlan", "nlan", "offset of nested attribute X in A's"),
        Ancillary(SKF_AD_MARK, "mark", "mark", "skb->mark"),
        Ancillary(SKF_AD_QUEUE, "queue", "queue", "skb->queue_mapping"),
        Ancillary(SKF_AD_HATYPE, "hatype", "hatype", "skb->dev->type (ARPHRD_*)"),
        Ancillary(SKF_AD_RXHASH, "rxhash", "rxhash", "skb->hash"),
        Ancillary(SKF_AD_CPU, "cpu", "cpu", "the current cpu"),
        Ancillary(SKF_AD_ALU_XOR_X, "xor_x", "xor_x", "A ^= X"),
        Ancillary(SKF_AD_VLAN_TAG, "vlan_tci", "vlan_tci", "skb->vlan_tci"),
        Ancillary(SKF_AD_VLAN_TAG_PRESENT, "vlan_avail", "vlanp", "skb_vlan_tag_present()"),
        Ancillary(SKF_AD_PAY_OFFSET, "poff", "poff", "payload offset (flow dissector)"),
        Ancillary(SKF_AD_RANDOM, "rand", "random", "a random u32"),
        Ancillary(SKF_AD_VLAN_TPID, "vlan_tpid", "vlan_tpid", "skb->vlan_proto, host order"),
    )
}
#: bpf_asm's extension names (``vlan_pr`` is bpf_asm's older spelling of vlan_avail)
ANCILLARY_BY_NAME: dict[str, int] = {a.asm: n for n, a in ANCILLARY.items()} | {
    "vlan_pr": SKF_AD_VLAN_TAG_PRESENT
}


def ancillary_of(code: int, k: int) -> Ancillary | None:
    """The ancillary load an LD|ABS instruction makes (bpf_anc_helper), or None."""
    if code not in (BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_H | BPF_ABS, BPF_LD | BPF_B | BPF_ABS):
        return None
    off = k - (SKF_AD_OFF & 0xFFFF_FFFF)
    if 0 <= off < SKF_AD_MAX:
        return ANCILLARY.get(off)
    return None


#: every opcode the kernel accepts in a classic filter (chk_code_allowed, net/core/filter.c)
CLASSIC_CODES: frozenset[int] = frozenset(
    [BPF_ALU | op | src for op in (BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND, BPF_OR,
                                   BPF_XOR, BPF_LSH, BPF_RSH) for src in (BPF_K, BPF_X)]
    + [BPF_ALU | BPF_NEG]
    + [BPF_LD | sz | mode for sz in (BPF_W, BPF_H, BPF_B) for mode in (BPF_ABS, BPF_IND)]
    + [BPF_LD | BPF_W | BPF_LEN, BPF_LD | BPF_IMM, BPF_LD | BPF_MEM]
    + [BPF_LDX | BPF_W | BPF_LEN, BPF_LDX | BPF_B | BPF_MSH, BPF_LDX | BPF_IMM, BPF_LDX | BPF_MEM]
    + [BPF_ST, BPF_STX, BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA, BPF_RET | BPF_K, BPF_RET | BPF_A]
    + [BPF_JMP | BPF_JA]
    + [BPF_JMP | op | src for op in (BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JSET) for src in (BPF_K, BPF_X)]
)  # fmt: skip

_CONDS = frozenset(BPF_JMP | op | s for op in (BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JSET) for s in (0, 8))


def is_cond_jump(code: int) -> bool:
    """A conditional jump (JEQ/JGT/JGE/JSET with K or X): it uses jt and jf."""
    return code in _CONDS


@dataclass(frozen=True, slots=True)
class SockFilter:
    """One classic instruction, ``struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }``.

    ``k`` is kept as an unsigned 32-bit number (``k=-1`` is stored as 0xffffffff).
    """

    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0

    def __post_init__(self) -> None:
        for name, hi in (("code", 0xFFFF), ("jt", 0xFF), ("jf", 0xFF)):
            v = getattr(self, name)
            if not isinstance(v, int) or not 0 <= v <= hi:
                raise InsnError(f"{name}={v!r} does not fit in its {hi.bit_length()}-bit field")
        k = self.k
        if not isinstance(k, int) or not -0x8000_0000 <= k <= 0xFFFF_FFFF:
            raise InsnError(f"k={k!r} does not fit in 32 bits")
        object.__setattr__(self, "k", k & 0xFFFF_FFFF)

    @property
    def cls(self) -> int:
        return self.code & 0x07

    @property
    def sk(self) -> int:
        """k as the kernel's ``int`` (signed)."""
        return self.k - (1 << 32) if self.k & 0x8000_0000 else self.k

    def encode(self, byteorder: str = sys.byteorder) -> bytes:
        return (_LE if byteorder == "little" else _BE).pack(self.code, self.jt, self.jf, self.k)

    def __repr__(self) -> str:
        return f"SockFilter({self.code:#04x}, {self.jt}, {self.jf}, {self.k:#010x})"


_LE = struct.Struct("<HBBI")
_BE = struct.Struct(">HBBI")


def BPF_STMT(code: int, k: int = 0) -> SockFilter:  # noqa: N802 - the kernel's macro name
    """``BPF_STMT(code, k)`` of include/uapi/linux/filter.h."""
    return SockFilter(code, 0, 0, k)


def BPF_JUMP(code: int, k: int, jt: int, jf: int) -> SockFilter:  # noqa: N802
    """``BPF_JUMP(code, k, jt, jf)`` of include/uapi/linux/filter.h."""
    return SockFilter(code, jt, jf, k)


def encode(prog: Iterable[SockFilter], byteorder: str = sys.byteorder) -> bytes:
    """The program as the array of ``struct sock_filter`` setsockopt/seccomp(2) take."""
    st = _LE if byteorder == "little" else _BE
    return b"".join(st.pack(f.code, f.jt, f.jf, f.k) for f in prog)


def decode(
    data: bytes | bytearray | memoryview, byteorder: str = sys.byteorder
) -> list[SockFilter]:
    """Raw ``struct sock_filter`` bytes as instructions.

    Raises InsnError naming the offset when the length is not a multiple of 8.
    Nothing else is judged here: :func:`pybpf.cbpf.check.check_classic` does that.
    """
    mv = memoryview(data).cast("B")
    if len(mv) % SOCK_FILTER_SIZE:
        raise InsnError(
            f"{len(mv)} bytes is not a whole number of {SOCK_FILTER_SIZE}-byte "
            f"struct sock_filter (the last one starts at offset "
            f"{len(mv) - len(mv) % SOCK_FILTER_SIZE:#x} and is cut short)",
            index=len(mv) // SOCK_FILTER_SIZE,
        )
    st = _LE if byteorder == "little" else _BE
    return [SockFilter(*st.unpack_from(mv, off)) for off in range(0, len(mv), SOCK_FILTER_SIZE)]


def as_filters(
    prog: Sequence[SockFilter] | Sequence[tuple[int, int, int, int]],
) -> list[SockFilter]:
    """Instructions from SockFilter values or (code, jt, jf, k) tuples."""
    return [p if isinstance(p, SockFilter) else SockFilter(*p) for p in prog]
