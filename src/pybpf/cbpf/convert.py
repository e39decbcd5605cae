"""Classic BPF to eBPF, as the kernel's ``bpf_convert_filter`` does it (net/core/filter.c).

The kernel runs a classic filter by translating it to eBPF and running that
in its interpreter or JIT. The translation keeps the kernel's shape:

* registers: A is R0, X is R7, R6 holds the context, R2 is the scratch
  register (BPF_REG_TMP), R1..R3 carry helper arguments;
* prologue: A = 0, X = 0, R6 = R1;
* scratch word ``M[k]`` is the stack slot at ``R10 - (4k + 4)``;
* every ALU op is a 32-bit (BPF_ALU) op on A; DIV/MOD by X is guarded so that
  X == 0 ends the program returning 0; conditional jumps become ``Jxx`` to the
  true target (negated when only the false target jumps: JEQ->JNE, JGT->JLE,
  JGE->JLT) plus a ``JA`` when both jump; a negative immediate is first moved
  into R2 with a 32-bit move so the 64-bit compare sees it zero-extended;
* ``RET K`` is ``w0 = K; exit``; ``ldxb 4*([k]&0xf)`` is six instructions
  around a byte load.

Where the kernel's own output uses things only the kernel can express, pybpf
writes the uapi equivalent, so that the converted program is one the kernel
loads with bpf() (and BPF_PROG_TEST_RUN can check):

* the prologue zeroes A and X with ``w0 = 0`` / ``w7 = 0`` (the kernel writes
  ``w0 ^= w0``, which its eBPF verifier would refuse as a read of an
  uninitialised register; converted classic programs never meet it);
* packet loads stay eBPF ``LD_ABS``/``LD_IND`` instructions. The kernel's
  ``convert_bpf_ld_abs`` inlines a fast path and calls
  ``bpf_skb_load_helper_{8,16,32}``; the eBPF verifier turns ``LD_ABS`` into the
  same helper calls (``bpf_gen_ld_abs``), with the same result: the value,
  or the program ends returning 0 when the load is out of bounds;
* ancillary loads read the ``struct __sk_buff`` field that mirrors the
  sk_buff member the kernel reads (protocol, pkt_type, mark, queue_mapping,
  hash, ifindex, vlan_tci, vlan_present, vlan_proto), which the verifier
  rewrites to that very member; SKF_AD_CPU and SKF_AD_RANDOM call
  bpf_get_smp_processor_id and bpf_get_prandom_u32 (the kernel calls the same
  functions); reserved fields are zero.

Four ancillaries read what no uapi field or helper offers: SKF_AD_PAY_OFFSET,
SKF_AD_NLATTR, SKF_AD_NLATTR_NEST (kernel-internal functions the kernel
calls) and SKF_AD_HATYPE (``skb->dev->type``). pybpf converts them to calls
of the same kernel-internal functions, numbered by the load's own k
(:data:`INTERNAL_CALLS`); pybpf's interpreter and JIT run them
(:mod:`pybpf.cbpf.ancillary`), and the kernel refuses them through bpf() —
on a real socket such a filter runs as classic (SO_ATTACH_FILTER).

Seccomp filters arrive rewritten by ``seccomp_check_filter``: their loads
are ``BPF_LDX | BPF_W | BPF_ABS`` and become ``A = *(u32 *)(ctx + k)`` on
``struct seccomp_data``.
"""

from __future__ import annotations

import errno as E
from collections.abc import Sequence
from dataclasses import dataclass

from .. import isa
from ..isa import (
    BPF_ABS,
    BPF_ALU,
    BPF_ALU64,
    BPF_AND,
    BPF_B,
    BPF_DIV,
    BPF_END,
    BPF_EXIT,
    BPF_H,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JLE,
    BPF_JLT,
    BPF_JMP,
    BPF_JNE,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LSH,
    BPF_MEM,
    BPF_MOD,
    BPF_MOV,
    BPF_ST,
    BPF_STX,
    BPF_TO_BE,
    BPF_W,
    BPF_X,
    BPF_XOR,
    Insn,
)
from ..uapi import SKF_AD_OFF
from .check import ClassicError
from .insn import (
    BPF_A,
    BPF_LEN,
    BPF_MAXINSNS,
    BPF_MISC,
    BPF_MSH,
    BPF_RET,
    BPF_TAX,
    BPF_TXA,
    SKF_AD_ALU_XOR_X,
    SKF_AD_CPU,
    SKF_AD_HATYPE,
    SKF_AD_IFINDEX,
    SKF_AD_MARK,
    SKF_AD_NLATTR,
    SKF_AD_NLATTR_NEST,
    SKF_AD_PAY_OFFSET,
    SKF_AD_PKTTYPE,
    SKF_AD_PROTOCOL,
    SKF_AD_QUEUE,
    SKF_AD_RANDOM,
    SKF_AD_RXHASH,
    SKF_AD_VLAN_TAG,
    SKF_AD_VLAN_TAG_PRESENT,
    SKF_AD_VLAN_TPID,
    SockFilter,
    ancillary_of,
    is_cond_jump,
)

__all__ = [
    "INTERNAL_CALLS",
    "REG_A",
    "REG_CTX",
    "REG_TMP",
    "REG_X",
    "convert_filter",
    "internal_call_id",
    "internal_calls_in",
    "scratch_offset",
]

#: the kernel's register mapping (include/linux/filter.h)
REG_A = isa.BPF_REG_0
REG_X = isa.BPF_REG_7
REG_TMP = isa.BPF_REG_2
REG_CTX = isa.BPF_REG_6
REG_ARG1, REG_ARG2, REG_ARG3 = isa.BPF_REG_1, isa.BPF_REG_2, isa.BPF_REG_3
REG_FP = isa.BPF_REG_10

#: PKT_TYPE_MAX (include/linux/skbuff.h): pkt_type is a 3-bit field
PKT_TYPE_MAX = 7

#: helper ids of the public functions the kernel calls for two ancillaries
FUNC_GET_PRANDOM_U32 = 7
FUNC_GET_SMP_PROCESSOR_ID = 8


def internal_call_id(ad: int) -> int:
    """The call number pybpf gives the kernel-internal function behind ancillary ``ad``."""
    return SKF_AD_OFF + ad


#: kernel-internal calls (no helper id exists), numbered SKF_AD_OFF + the ancillary's number
INTERNAL_CALLS: dict[int, str] = {
    internal_call_id(SKF_AD_PAY_OFFSET): "bpf_skb_get_pay_offset",
    internal_call_id(SKF_AD_NLATTR): "bpf_skb_get_nlattr",
    internal_call_id(SKF_AD_NLATTR_NEST): "bpf_skb_get_nlattr_nest",
    internal_call_id(SKF_AD_HATYPE): "skb->dev->type",
}

#: struct __sk_buff offsets (include/uapi/linux/bpf.h) of the fields ancillaries read
_SKB_LEN = 0
_SKB_PKT_TYPE = 4
_SKB_MARK = 8
_SKB_QUEUE_MAPPING = 12
_SKB_PROTOCOL = 16
_SKB_VLAN_PRESENT = 20
_SKB_VLAN_TCI = 24
_SKB_VLAN_PROTO = 28
_SKB_IFINDEX = 40
_SKB_HASH = 68


def scratch_offset(k: int) -> int:
    """The R10-relative offset of scratch word M[k] in the converted program."""
    return -(4 * k + 4)


# --- instruction builders (the kernel's macros, include/linux/filter.h) ----------------------
def _mov32_imm(dst: int, imm: int) -> Insn:
    return Insn(BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, imm)


def _mov32_reg(dst: int, src: int) -> Insn:
    return Insn(BPF_ALU | BPF_MOV | BPF_X, dst, src)


def _mov64_reg(dst: int, src: int) -> Insn:
    return Insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src)


def _alu32_imm(op: int, dst: int, imm: int) -> Insn:
    return Insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm)


def _alu32_reg(op: int, dst: int, src: int) -> Insn:
    return Insn(BPF_ALU | op | BPF_X, dst, src)


def _ldx(size: int, dst: int, src: int, off: int) -> Insn:
    return Insn(BPF_LDX | BPF_MEM | size, dst, src, off)


def _be16(dst: int) -> Insn:
    return Insn(BPF_ALU | BPF_END | BPF_TO_BE, dst, 0, 0, 16)


def _call(imm: int) -> Insn:
    return Insn(BPF_JMP | 0x80, 0, 0, 0, imm)


_EXIT = Insn(BPF_JMP | BPF_EXIT)


@dataclass(frozen=True)
class _Jump:
    """A jump whose offset is known once every instruction's position is (two passes)."""

    code: int
    dst: int
    src: int
    imm: int
    target: int  # classic instruction index


def _ancillary(ad: int) -> list[Insn] | None:
    """convert_bpf_extensions(): the eBPF for ancillary ``ad`` (A = the value)."""
    if ad == SKF_AD_PROTOCOL:
        return [_ldx(BPF_H, REG_A, REG_CTX, _SKB_PROTOCOL), _be16(REG_A)]
    if ad == SKF_AD_PKTTYPE:
        return [
            _ldx(BPF_B, REG_A, REG_CTX, _SKB_PKT_TYPE),
            _alu32_imm(BPF_AND, REG_A, PKT_TYPE_MAX),
        ]
    if ad == SKF_AD_IFINDEX:
        return [_ldx(BPF_W, REG_A, REG_CTX, _SKB_IFINDEX)]
    if ad == SKF_AD_MARK:
        return [_ldx(BPF_W, REG_A, REG_CTX, _SKB_MARK)]
    if ad == SKF_AD_RXHASH:
        return [_ldx(BPF_W, REG_A, REG_CTX, _SKB_HASH)]
    if ad == SKF_AD_QUEUE:
        return [_ldx(BPF_H, REG_A, REG_CTX, _SKB_QUEUE_MAPPING)]
    if ad == SKF_AD_VLAN_TAG:
        return [_ldx(BPF_H, REG_A, REG_CTX, _SKB_VLAN_TCI)]
    if ad == SKF_AD_VLAN_TAG_PRESENT:
        return [_ldx(BPF_W, REG_A, REG_CTX, _SKB_VLAN_PRESENT)]
    if ad == SKF_AD_VLAN_TPID:
        return [_ldx(BPF_H, REG_A, REG_CTX, _SKB_VLAN_PROTO), _be16(REG_A)]
    if ad == SKF_AD_ALU_XOR_X:
        return [_alu32_reg(BPF_XOR, REG_A, REG_X)]
    if ad == SKF_AD_HATYPE:
        return [_mov64_reg(REG_ARG1, REG_CTX), _call(internal_call_id(ad))]
    if ad in (SKF_AD_PAY_OFFSET, SKF_AD_NLATTR, SKF_AD_NLATTR_NEST, SKF_AD_CPU, SKF_AD_RANDOM):
        fn = {SKF_AD_CPU: FUNC_GET_SMP_PROCESSOR_ID, SKF_AD_RANDOM: FUNC_GET_PRANDOM_U32}.get(
            ad, internal_call_id(ad)
        )
        return [
            _mov64_reg(REG_ARG1, REG_CTX),
            _mov64_reg(REG_ARG2, REG_A),
            _mov64_reg(REG_ARG3, REG_X),
            _call(fn),
        ]
    return None


_NEGATED = {BPF_JEQ: BPF_JNE, BPF_JGT: BPF_JLE, BPF_JGE: BPF_JLT}


def _convert_one(i: int, f: SockFilter, seccomp: bool) -> list[Insn | _Jump]:
    code, k = f.code, f.k
    cls = code & 0x07
    out: list[Insn | _Jump] = []
    if cls == BPF_ALU:
        op = code & 0xF0
        if code & BPF_X:
            if op in (BPF_DIV, BPF_MOD):
                # X == 0: the program ends returning 0 (classic semantics)
                out += [
                    _mov32_reg(REG_X, REG_X),
                    Insn(BPF_JMP | BPF_JNE | BPF_K, REG_X, 0, 2, 0),
                    _alu32_reg(BPF_XOR, REG_A, REG_A),
                    _EXIT,
                ]
            out.append(Insn(code, REG_A, REG_X))
        elif op == 0x80:  # BPF_NEG
            out.append(Insn(code, REG_A))
        else:
            out.append(Insn(code, REG_A, 0, 0, k))
        return out
    if cls == BPF_LD and code & 0xE0 in (BPF_ABS, BPF_IND):
        anc = ancillary_of(code, k)
        if anc is not None:
            ext = _ancillary(anc.number)
            assert ext is not None
            return list(ext)
        size = code & 0x18
        if code & 0xE0 == BPF_ABS:
            return [Insn(BPF_LD | BPF_ABS | size, 0, 0, 0, k)]
        return [Insn(BPF_LD | BPF_IND | size, 0, REG_X, 0, k)]
    if code == BPF_LDX | BPF_MSH | BPF_B:
        return [
            _mov64_reg(REG_X, REG_A),
            Insn(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, k),
            _alu32_imm(BPF_AND, REG_A, 0xF),
            _alu32_imm(BPF_LSH, REG_A, 2),
            _mov64_reg(REG_TMP, REG_X),
            _mov64_reg(REG_X, REG_A),
            _mov64_reg(REG_A, REG_TMP),
        ]
    if code == BPF_JMP | BPF_JA:
        return [_Jump(BPF_JMP | BPF_JA, 0, 0, 0, i + 1 + k)]
    if is_cond_jump(code):
        op = code & 0xF0
        if not code & BPF_X and k & 0x8000_0000:
            out.append(_mov32_imm(REG_TMP, k))
            src_bit, src, imm = BPF_X, REG_TMP, 0
        elif code & BPF_X:
            src_bit, src, imm = BPF_X, REG_X, 0
        else:
            src_bit, src, imm = BPF_K, 0, k
        if f.jf == 0:
            out.append(_Jump(BPF_JMP | op | src_bit, REG_A, src, imm, i + 1 + f.jt))
        elif f.jt == 0 and op in _NEGATED:
            out.append(_Jump(BPF_JMP | _NEGATED[op] | src_bit, REG_A, src, imm, i + 1 + f.jf))
        else:
            out.append(_Jump(BPF_JMP | op | src_bit, REG_A, src, imm, i + 1 + f.jt))
            out.append(_Jump(BPF_JMP | BPF_JA, 0, 0, 0, i + 1 + f.jf))
        return out
    if code in (BPF_RET | BPF_K, BPF_RET | BPF_A):
        if code & 0x18 == BPF_K:
            out.append(_mov32_imm(isa.BPF_REG_0, k))
        out.append(_EXIT)
        return out
    if code in (BPF_ST, BPF_STX):
        reg = REG_A if code == BPF_ST else REG_X
        return [Insn(BPF_STX | BPF_MEM | BPF_W, REG_FP, reg, scratch_offset(k))]
    if code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM):
        reg = REG_A if cls == BPF_LD else REG_X
        return [_ldx(BPF_W, reg, REG_FP, scratch_offset(k))]
    if code in (BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM):
        return [_mov32_imm(REG_A if cls == BPF_LD else REG_X, k)]
    if code == BPF_MISC | BPF_TAX:
        return [_mov64_reg(REG_X, REG_A)]
    if code == BPF_MISC | BPF_TXA:
        return [_mov64_reg(REG_A, REG_X)]
    if code in (BPF_LD | BPF_W | BPF_LEN, BPF_LDX | BPF_W | BPF_LEN):
        return [_ldx(BPF_W, REG_A if cls == BPF_LD else REG_X, REG_CTX, _SKB_LEN)]
    if code == BPF_LDX | BPF_W | BPF_ABS and seccomp:
        return [_ldx(BPF_W, REG_A, REG_CTX, k)]
    raise ClassicError(f"opcode {code:#06x} has no eBPF translation", index=i)


def convert_filter(prog: Sequence[SockFilter], *, seccomp: bool = False) -> list[Insn]:
    """The eBPF program the kernel runs for classic ``prog`` (see the module doc).

    ``prog`` should have passed :func:`pybpf.cbpf.check.check_classic` (and, with
    ``seccomp``, :func:`pybpf.seccomp.check.seccomp_check_filter`'s rewrite);
    anything the kernel's converter refuses raises ClassicError with EINVAL, as
    bpf_convert_filter returns: an unknown opcode, a jump outside the program, or
    a jump whose converted offset does not fit in 16 bits.
    """
    n = len(prog)
    if n <= 0 or n > BPF_MAXINSNS:
        raise ClassicError(f"{n} instructions: a classic program has 1..{BPF_MAXINSNS}")
    blocks = [_convert_one(i, f, seccomp) for i, f in enumerate(prog)]
    prologue = [_mov32_imm(REG_A, 0), _mov32_imm(REG_X, 0), _mov64_reg(REG_CTX, isa.BPF_REG_1)]
    addrs = []
    pos = len(prologue)
    for b in blocks:
        addrs.append(pos)
        pos += len(b)
    out = list(prologue)
    for i, b in enumerate(blocks):
        for j, item in enumerate(b):
            if isinstance(item, _Jump):
                if not 0 <= item.target < n:
                    raise ClassicError(
                        f"jump to insn {item.target} is outside the {n}-insn program",
                        index=i,
                        errno=E.EINVAL,
                    )
                off = addrs[item.target] - (addrs[i] + j) - 1
                if not -0x8000 <= off <= 0x7FFF:
                    raise ClassicError(
                        f"the converted jump offset {off} does not fit in 16 bits "
                        "(bpf_convert_filter refuses the program)",
                        index=i,
                    )
                out.append(Insn(item.code, item.dst, item.src, off, item.imm))
            else:
                out.append(item)
    return out


def internal_calls_in(insns: Sequence[Insn]) -> list[tuple[int, str]]:
    """(slot, name) of every kernel-internal call in a converted program."""
    return [
        (pc, INTERNAL_CALLS[insn.imm])
        for pc, insn in isa.iter_slots(insns)
        if insn.code == BPF_JMP | 0x80 and insn.src == 0 and insn.imm in INTERNAL_CALLS
    ]
