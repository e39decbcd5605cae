"""The kernel's seccomp filter check: ``seccomp_check_filter`` (kernel/seccomp.c).

seccomp(2) (and ``prctl(PR_SET_SECCOMP)``) first runs the classic checker
(:func:`pybpf.cbpf.check.check_classic`), then this: a seccomp filter reads
only ``struct seccomp_data``, 32 bits at a time. Its only load is
``ld [k]`` (``BPF_LD | BPF_W | BPF_ABS``) with k a multiple of 4 below 64,
which the kernel rewrites to ``BPF_LDX | BPF_W | BPF_ABS`` (a load from the
context, not the packet); ``ld #len`` / ``ldx #len`` become the constant
64. Everything else must be one of an explicit list: ALU, immediate and
scratch loads and stores, TAX/TXA, jumps, RET. So no half-word or byte
loads, no indirect loads, no ``ldxb 4*([k]&0xf)``, no ancillary loads. The
kernel says only EINVAL; pybpf names what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..cbpf.check import ClassicError, check_classic
from ..cbpf.insn import (
    BPF_LEN,
    BPF_MISC,
    BPF_MSH,
    BPF_RET,
    BPF_TAX,
    BPF_TXA,
    SockFilter,
    ancillary_of,
    is_cond_jump,
)
from ..isa import (
    BPF_ABS,
    BPF_ALU,
    BPF_B,
    BPF_H,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JMP,
    BPF_LD,
    BPF_LDX,
    BPF_MEM,
    BPF_MOD,
    BPF_ST,
    BPF_STX,
    BPF_W,
    BPF_X,
)
from .data import SECCOMP_DATA_SIZE

__all__ = ["check_seccomp", "seccomp_check_filter"]

_ALLOWED = frozenset(
    [BPF_ALU | op | s for op in (0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0xA0, 0x60, 0x70)
     for s in (0, BPF_X)]
    + [BPF_ALU | 0x80, BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM, BPF_MISC | BPF_TAX,
       BPF_MISC | BPF_TXA, BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX,
       BPF_JMP | BPF_JA, BPF_RET | 0x00, BPF_RET | 0x10]
)  # fmt: skip


def _why_not(f: SockFilter) -> str:
    code = f.code
    if code & 0x07 == BPF_ALU and code & 0xF0 == BPF_MOD:
        return "BPF_MOD is not in seccomp_check_filter's list of allowed instructions"
    if code & 0x07 == BPF_LD and code & 0xE0 == BPF_ABS:
        if ancillary_of(code, f.k) is not None:
            return f"ancillary load {f.k - 0xFFFFF000:+d} (SKF_AD_*) in a seccomp filter"
        size = {BPF_H: "16-bit", BPF_B: "8-bit"}.get(code & 0x18, "")
        return f"{size} load: seccomp filters load 32-bit words only"
    if code & 0x07 == BPF_LD and code & 0xE0 == BPF_IND:
        return "indirect load [x + k]: seccomp filters load fixed offsets only"
    if code == BPF_LDX | BPF_MSH | BPF_B:
        return "ldxb 4*([k]&0xf) reads a packet: not allowed in a seccomp filter"
    return f"opcode {code:#06x} is not allowed in a seccomp filter"


def seccomp_check_filter(prog: Sequence[SockFilter]) -> list[SockFilter]:
    """The program as the kernel rewrites it for seccomp, or ClassicError (EINVAL).

    ``prog`` must already pass :func:`pybpf.cbpf.check.check_classic`.
    """
    out: list[SockFilter] = []
    for pc, f in enumerate(prog):
        code, k = f.code, f.k
        if code == BPF_LD | BPF_W | BPF_ABS:
            if k >= SECCOMP_DATA_SIZE:
                anc = ancillary_of(code, k)
                what = "an ancillary load (SKF_AD_*)" if anc else f"offset {f.sk}"
                raise ClassicError(
                    f"ld [{f.sk}]: {what} is outside struct seccomp_data "
                    f"({SECCOMP_DATA_SIZE} bytes)",
                    index=pc,
                )
            if k & 3:
                raise ClassicError(
                    f"ld [{k}]: loads from seccomp_data must be 4-byte aligned", index=pc
                )
            out.append(SockFilter(BPF_LDX | BPF_W | BPF_ABS, f.jt, f.jf, k))
        elif code == BPF_LD | BPF_W | BPF_LEN:
            out.append(SockFilter(BPF_LD | BPF_IMM, f.jt, f.jf, SECCOMP_DATA_SIZE))
        elif code == BPF_LDX | BPF_W | BPF_LEN:
            out.append(SockFilter(BPF_LDX | BPF_IMM, f.jt, f.jf, SECCOMP_DATA_SIZE))
        elif code in _ALLOWED or is_cond_jump(code):
            out.append(f)
        else:
            raise ClassicError(_why_not(f), index=pc)
    return out


def check_seccomp(prog: Sequence[SockFilter]) -> list[SockFilter]:
    """Everything seccomp(2) checks: bpf_check_classic, then seccomp_check_filter.

    Returns the rewritten program the kernel runs.
    """
    check_classic(prog)
    return seccomp_check_filter(prog)
