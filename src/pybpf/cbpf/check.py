"""The kernel's classic BPF checker: ``bpf_check_classic`` (net/core/filter.c).

Every classic program the kernel accepts from user space (SO_ATTACH_FILTER,
seccomp(2), PACKET_FANOUT_DATA ...) passes these rules, in this order, and is
refused with EINVAL by the first one it breaks:

1. ``bpf_check_basics_ok``: 1 to BPF_MAXINSNS (4096) instructions.
2. For each instruction, in order: the opcode is one of ``chk_code_allowed``'s;
   DIV/MOD by a constant zero; constant shifts of 32 or more; scratch
   addresses ``M[k]`` with k >= BPF_MEMWORDS; a BPF_JA whose target is at or
   past the end; a conditional jump either of whose targets is; an absolute
   load at ``k >= SKF_AD_OFF`` that is not a known ancillary (``bpf_anc_helper``).
3. The last instruction is a RET (K or A).
4. ``check_load_and_stores``: no path reads a scratch word it has not written.

The kernel says only EINVAL; pybpf names the rule and the instruction.
"""

from __future__ import annotations

import errno as E
from collections.abc import Sequence

from ..errors import VerifierError
from ..isa import (
    BPF_ABS,
    BPF_ALU,
    BPF_B,
    BPF_DIV,
    BPF_H,
    BPF_JA,
    BPF_JMP,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LSH,
    BPF_MEM,
    BPF_MOD,
    BPF_RSH,
    BPF_ST,
    BPF_STX,
    BPF_W,
)
from ..uapi import SKF_AD_OFF
from .insn import (
    BPF_A,
    BPF_MAXINSNS,
    BPF_MEMWORDS,
    BPF_RET,
    CLASSIC_CODES,
    SockFilter,
    ancillary_of,
    is_cond_jump,
)

__all__ = ["ClassicError", "check_classic", "check_load_and_stores"]

_AD_OFF = SKF_AD_OFF & 0xFFFF_FFFF


class ClassicError(VerifierError):
    """The kernel refused a classic program (EINVAL); ``index`` is the instruction."""

    def __init__(self, message: str, *, index: int | None = None, errno: int = E.EINVAL):
        super().__init__(message, index=index, errno=errno)


def check_classic(prog: Sequence[SockFilter], *, kernel: bool = True) -> None:
    """Raise ClassicError when the kernel's bpf_check_classic would refuse ``prog``.

    ``kernel=False`` keeps only the rules without which a program cannot run
    at all (opcodes, jump targets, scratch addresses, constant divisors and
    shifts, the final RET) and skips two the kernel adds for safety: unknown
    ancillary offsets (they read as failed loads) and scratch words read
    before being written (they read as 0 here). libpcap's own ``bpf_filter``
    makes neither check; tcpdump runs such programs in user space.
    """
    flen = len(prog)
    if flen == 0:
        raise ClassicError("a classic program needs at least one instruction")
    if flen > BPF_MAXINSNS:
        raise ClassicError(f"{flen} instructions is more than BPF_MAXINSNS ({BPF_MAXINSNS})")
    for pc, f in enumerate(prog):
        code, k = f.code, f.k
        if code not in CLASSIC_CODES:
            raise ClassicError(f"opcode {code:#06x} is not a classic BPF instruction", index=pc)
        if code in (BPF_ALU | BPF_DIV | BPF_K, BPF_ALU | BPF_MOD | BPF_K):
            if k == 0:
                op = "division" if code & 0xF0 == BPF_DIV else "modulo"
                raise ClassicError(f"{op} by the constant zero", index=pc)
        elif code in (BPF_ALU | BPF_LSH | BPF_K, BPF_ALU | BPF_RSH | BPF_K):
            if k >= 32:
                raise ClassicError(f"shift by {k}: a constant shift must be below 32", index=pc)
        elif code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX):
            if k >= BPF_MEMWORDS:
                raise ClassicError(
                    f"scratch word M[{k}] is out of range (BPF_MEMWORDS is {BPF_MEMWORDS})",
                    index=pc,
                )
        elif code == BPF_JMP | BPF_JA:
            if k >= flen - pc - 1:
                raise ClassicError(
                    f"ja +{k} jumps to insn {pc + 1 + k}, past the last insn ({flen - 1})",
                    index=pc,
                )
        elif is_cond_jump(code):
            for name, off in (("jt", f.jt), ("jf", f.jf)):
                if pc + off + 1 >= flen:
                    raise ClassicError(
                        f"{name} {off} jumps to insn {pc + off + 1}, past the last insn "
                        f"({flen - 1})",
                        index=pc,
                    )
        elif code in (BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_H | BPF_ABS, BPF_LD | BPF_B | BPF_ABS):
            if kernel and k >= _AD_OFF and ancillary_of(code, k) is None:
                raise ClassicError(
                    f"unknown ancillary load at SKF_AD_OFF+{k - _AD_OFF} "
                    "(no such SKF_AD_* extension)",
                    index=pc,
                )
    last = prog[-1].code
    if last not in (BPF_RET | BPF_K, BPF_RET | BPF_A):
        raise ClassicError(
            f"the last instruction must be a ret, not opcode {last:#06x}", index=flen - 1
        )
    if kernel:
        check_load_and_stores(prog)


def check_load_and_stores(prog: Sequence[SockFilter]) -> None:
    """No path may read a scratch word before writing it (check_load_and_stores()).

    The kernel's walk: one validity mask per instruction, narrowed by every jump
    that lands there; after a jump the straight-line successor starts from "all
    valid" and is narrowed only by the jumps into it, as in the kernel.
    """
    flen = len(prog)
    masks = [0xFFFF] * flen
    memvalid = 0
    for pc, f in enumerate(prog):
        memvalid &= masks[pc]
        code = f.code
        if code in (BPF_ST, BPF_STX):
            memvalid |= 1 << f.k
        elif code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM):
            if not memvalid & (1 << f.k):
                raise ClassicError(
                    f"scratch word M[{f.k}] may be read before it is written", index=pc
                )
        elif code == BPF_JMP | BPF_JA:
            masks[pc + 1 + f.k] &= memvalid
            memvalid = 0xFFFF
        elif is_cond_jump(code):
            masks[pc + 1 + f.jt] &= memvalid
            masks[pc + 1 + f.jf] &= memvalid
            memvalid = 0xFFFF
