"""The kernel's instruction macros, with the kernel's names and arguments.

Programs in the kernel tree and in 2014-era samples (samples/bpf/sockex1_user.c,
the program in the LWN article this project starts from) are written with the
``BPF_*`` macros of include/linux/filter.h and tools/include/linux/filter.h.
Here each macro is a function returning an ``Insn``, so such a program can be
typed into Python unchanged::

    from pybpf.asm.macros import *
    prog = [
        BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
        BPF_LD_ABS(BPF_B, 14 + 9),
        ...
        BPF_EXIT_INSN(),
    ]

Differences from C, all forced by Python: ``BPF_LD_IMM64``/``BPF_LD_MAP_FD``
return ONE ``Insn`` (the two-slot LDDW), where the C macro expands to two
struct initialisers; ``BPF_LD_MAP_FD`` also accepts a map object (anything
with an ``.fd`` attribute), kept in ``Insn.ref`` so a loader can patch it;
``BPF_EMIT_CALL`` takes a helper id or name (the kernel's takes a function
pointer). ``BPF_NEG`` stays the ALU operation constant, as in the kernel
(negation is ``BPF_ALU64_IMM(BPF_NEG, dst, 0)``).

``from pybpf.asm.macros import *`` also brings every constant of ``pybpf.isa``
(BPF_REG_*, classes, sizes, modes, operations) and the helper ids
``BPF_FUNC_*`` of ``pybpf.uapi``.
"""

from __future__ import annotations

from typing import Any

from .. import isa as _isa
from .. import uapi as _uapi
from ..errors import AsmError
from ..isa import (
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_ALU64,
    BPF_ATOMIC,
    BPF_CALL,
    BPF_DW,
    BPF_END,
    BPF_EXIT,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JMP,
    BPF_JMP32,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_MEM,
    BPF_MEMSX,
    BPF_MOV,
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_VALUE,
    BPF_ST,
    BPF_STX,
    BPF_TO_LE,
    BPF_X,
    Insn,
)
from ..isa import BPF_OP as _OP
from ..isa import BPF_SIZE as _SIZE
from ..isa import BPF_SRC as _SRC

# --- constants: everything the kernel's programs name ---------------------------------------
_CONSTANTS: dict[str, Any] = {
    k: v for k, v in vars(_isa).items() if k.startswith(("BPF_", "MAX_BPF_")) and k.isupper()
}
# every uapi constant, as C programs get them from <linux/bpf.h> and <linux/filter.h>
_CONSTANTS.update(
    {
        k: v
        for k, v in vars(_uapi).items()
        if isinstance(v, int) and (k.isupper() or k.startswith("BPF_FUNC_"))
    }
)
globals().update(_CONSTANTS)


# --- ALU -----------------------------------------------------------------------------------
def BPF_ALU64_REG_OFF(OP: int, DST: int, SRC: int, OFF: int) -> Insn:
    return Insn(BPF_ALU64 | _OP(OP) | BPF_X, DST, SRC, OFF, 0)


def BPF_ALU64_REG(OP: int, DST: int, SRC: int) -> Insn:
    """dst = dst OP src (64-bit)."""
    return BPF_ALU64_REG_OFF(OP, DST, SRC, 0)


def BPF_ALU32_REG_OFF(OP: int, DST: int, SRC: int, OFF: int) -> Insn:
    return Insn(BPF_ALU | _OP(OP) | BPF_X, DST, SRC, OFF, 0)


def BPF_ALU32_REG(OP: int, DST: int, SRC: int) -> Insn:
    """dst = (u32) dst OP (u32) src."""
    return BPF_ALU32_REG_OFF(OP, DST, SRC, 0)


def BPF_ALU64_IMM_OFF(OP: int, DST: int, IMM: int, OFF: int) -> Insn:
    return Insn(BPF_ALU64 | _OP(OP) | BPF_K, DST, 0, OFF, IMM)


def BPF_ALU64_IMM(OP: int, DST: int, IMM: int) -> Insn:
    """dst = dst OP imm (64-bit, imm sign-extended)."""
    return BPF_ALU64_IMM_OFF(OP, DST, IMM, 0)


def BPF_ALU32_IMM_OFF(OP: int, DST: int, IMM: int, OFF: int) -> Insn:
    return Insn(BPF_ALU | _OP(OP) | BPF_K, DST, 0, OFF, IMM)


def BPF_ALU32_IMM(OP: int, DST: int, IMM: int) -> Insn:
    """dst = (u32) dst OP imm."""
    return BPF_ALU32_IMM_OFF(OP, DST, IMM, 0)


# the pre-ALU32 names (3.18 - 5.x kernels spelled the 32-bit forms BPF_ALU_*)
BPF_ALU_REG = BPF_ALU32_REG
BPF_ALU_IMM = BPF_ALU32_IMM


def BPF_ENDIAN(TYPE: int, DST: int, LEN: int) -> Insn:
    """Byte swap to/from little (BPF_TO_LE) or big (BPF_TO_BE) endian, LEN in 16/32/64."""
    return Insn(BPF_ALU | BPF_END | _SRC(TYPE), DST, 0, 0, LEN)


def BPF_BSWAP(DST: int, LEN: int) -> Insn:
    """Unconditional byte swap (BPF_ALU64 | BPF_END, cpu v4)."""
    return Insn(BPF_ALU64 | BPF_END | _SRC(BPF_TO_LE), DST, 0, 0, LEN)


def BPF_MOV64_REG(DST: int, SRC: int) -> Insn:
    return Insn(BPF_ALU64 | BPF_MOV | BPF_X, DST, SRC, 0, 0)


def BPF_MOV32_REG(DST: int, SRC: int) -> Insn:
    return Insn(BPF_ALU | BPF_MOV | BPF_X, DST, SRC, 0, 0)


def BPF_MOV64_IMM(DST: int, IMM: int) -> Insn:
    return Insn(BPF_ALU64 | BPF_MOV | BPF_K, DST, 0, 0, IMM)


def BPF_MOV32_IMM(DST: int, IMM: int) -> Insn:
    return Insn(BPF_ALU | BPF_MOV | BPF_K, DST, 0, 0, IMM)


def BPF_MOVSX64_REG(DST: int, SRC: int, OFF: int) -> Insn:
    """dst = (s64)(sOFF) src, OFF in 8/16/32 (cpu v4)."""
    return Insn(BPF_ALU64 | BPF_MOV | BPF_X, DST, SRC, OFF, 0)


def BPF_MOVSX32_REG(DST: int, SRC: int, OFF: int) -> Insn:
    """dst = (u32)(s32)(sOFF) src, OFF in 8/16 (cpu v4)."""
    return Insn(BPF_ALU | BPF_MOV | BPF_X, DST, SRC, OFF, 0)


def BPF_ZEXT_REG(DST: int) -> Insn:
    """The verifier's explicit zero-extension: a 32-bit self-move marked with imm = 1."""
    return Insn(BPF_ALU | BPF_MOV | BPF_X, DST, DST, 0, 1)


def BPF_MOV64_RAW(TYPE: int, DST: int, SRC: int, IMM: int) -> Insn:
    return Insn(BPF_ALU64 | BPF_MOV | _SRC(TYPE), DST, SRC, 0, IMM)


def BPF_MOV32_RAW(TYPE: int, DST: int, SRC: int, IMM: int) -> Insn:
    return Insn(BPF_ALU | BPF_MOV | _SRC(TYPE), DST, SRC, 0, IMM)


# --- 64-bit immediate loads (one Insn, two slots) ---------------------------------------------
def _u64(value: int, what: str) -> int:
    if not isinstance(value, int) or not -(1 << 63) <= value < (1 << 64):
        raise AsmError(f"{what} {value!r} does not fit in 64 bits")
    return value & ((1 << 64) - 1)


def BPF_LD_IMM64_RAW(DST: int, SRC: int, IMM: int) -> Insn:
    v = _u64(IMM, "BPF_LD_IMM64 immediate")
    return Insn(BPF_LD | BPF_DW | BPF_IMM, DST, SRC, 0, v & 0xFFFFFFFF, v >> 32)


def BPF_LD_IMM64_RAW_FULL(DST: int, SRC: int, OFF1: int, OFF2: int, IMM1: int, IMM2: int) -> Insn:
    """Both slots given separately (tools/include/linux/filter.h); OFF2 must be 0."""
    if OFF2:
        raise AsmError("the second slot of BPF_LD_IMM64 has no offset field (OFF2 must be 0)")
    return Insn(BPF_LD | BPF_DW | BPF_IMM, DST, SRC, OFF1, IMM1, IMM2)


def BPF_LD_IMM64(DST: int, IMM: int) -> Insn:
    """dst = imm64 (the two-slot LDDW)."""
    return BPF_LD_IMM64_RAW(DST, 0, IMM)


def _map_fd(MAP_FD: Any) -> tuple[int, Any]:
    if isinstance(MAP_FD, int):
        return MAP_FD, None
    fd = getattr(MAP_FD, "fd", None)
    if not hasattr(MAP_FD, "fd"):
        raise AsmError(f"BPF_LD_MAP_FD wants a map fd or a map object, got {type(MAP_FD).__name__}")
    return (fd if isinstance(fd, int) else 0), MAP_FD


def BPF_LD_MAP_FD(DST: int, MAP_FD: Any) -> Insn:
    """dst = map pointer (src = BPF_PSEUDO_MAP_FD). MAP_FD: an fd or a map object."""
    fd, ref = _map_fd(MAP_FD)
    return Insn(BPF_LD | BPF_DW | BPF_IMM, DST, BPF_PSEUDO_MAP_FD, 0, fd, 0, ref=ref)


def BPF_LD_MAP_VALUE(DST: int, MAP_FD: Any, VALUE_OFF: int) -> Insn:
    """dst = address of the map's value at VALUE_OFF (src = BPF_PSEUDO_MAP_VALUE)."""
    fd, ref = _map_fd(MAP_FD)
    return Insn(BPF_LD | BPF_DW | BPF_IMM, DST, BPF_PSEUDO_MAP_VALUE, 0, fd, VALUE_OFF, ref=ref)


# --- packet and memory access ------------------------------------------------------------------
def BPF_LD_ABS(SIZE: int, IMM: int) -> Insn:
    """r0 = ntoh(*(SIZE *)(skb->data + imm)); ends the program with 0 when out of bounds."""
    return Insn(BPF_LD | _SIZE(SIZE) | BPF_ABS, 0, 0, 0, IMM)


def BPF_LD_IND(SIZE: int, SRC: int, IMM: int) -> Insn:
    """r0 = ntoh(*(SIZE *)(skb->data + src + imm))."""
    return Insn(BPF_LD | _SIZE(SIZE) | BPF_IND, 0, SRC, 0, IMM)


def BPF_LDX_MEM(SIZE: int, DST: int, SRC: int, OFF: int) -> Insn:
    """dst = *(SIZE *)(src + off)."""
    return Insn(BPF_LDX | _SIZE(SIZE) | BPF_MEM, DST, SRC, OFF, 0)


def BPF_LDX_MEMSX(SIZE: int, DST: int, SRC: int, OFF: int) -> Insn:
    """dst = *(signed SIZE *)(src + off), sign-extended (cpu v4)."""
    return Insn(BPF_LDX | _SIZE(SIZE) | BPF_MEMSX, DST, SRC, OFF, 0)


def BPF_STX_MEM(SIZE: int, DST: int, SRC: int, OFF: int) -> Insn:
    """*(SIZE *)(dst + off) = src."""
    return Insn(BPF_STX | _SIZE(SIZE) | BPF_MEM, DST, SRC, OFF, 0)


def BPF_ST_MEM(SIZE: int, DST: int, OFF: int, IMM: int) -> Insn:
    """*(SIZE *)(dst + off) = imm."""
    return Insn(BPF_ST | _SIZE(SIZE) | BPF_MEM, DST, 0, OFF, IMM)


def BPF_ATOMIC_OP(SIZE: int, OP: int, DST: int, SRC: int, OFF: int) -> Insn:
    """Atomic OP (BPF_ADD, BPF_AND | BPF_FETCH, BPF_XCHG, BPF_CMPXCHG ...) on *(dst + off)."""
    return Insn(BPF_STX | _SIZE(SIZE) | BPF_ATOMIC, DST, SRC, OFF, OP)


def BPF_STX_XADD(SIZE: int, DST: int, SRC: int, OFF: int) -> Insn:
    """*(SIZE *)(dst + off) += src, atomically (the 3.19-era name)."""
    return BPF_ATOMIC_OP(SIZE, BPF_ADD, DST, SRC, OFF)


# --- jumps and calls ---------------------------------------------------------------------------
def BPF_JMP_REG(OP: int, DST: int, SRC: int, OFF: int) -> Insn:
    """if (dst OP src) goto pc + off."""
    return Insn(BPF_JMP | _OP(OP) | BPF_X, DST, SRC, OFF, 0)


def BPF_JMP_IMM(OP: int, DST: int, IMM: int, OFF: int) -> Insn:
    """if (dst OP imm) goto pc + off."""
    return Insn(BPF_JMP | _OP(OP) | BPF_K, DST, 0, OFF, IMM)


def BPF_JMP32_REG(OP: int, DST: int, SRC: int, OFF: int) -> Insn:
    return Insn(BPF_JMP32 | _OP(OP) | BPF_X, DST, SRC, OFF, 0)


def BPF_JMP32_IMM(OP: int, DST: int, IMM: int, OFF: int) -> Insn:
    return Insn(BPF_JMP32 | _OP(OP) | BPF_K, DST, 0, OFF, IMM)


def BPF_JMP_A(OFF: int) -> Insn:
    """goto pc + off."""
    return Insn(BPF_JMP | BPF_JA, 0, 0, OFF, 0)


def BPF_JMP32_A(IMM: int) -> Insn:
    """gotol pc + imm (32-bit offset, cpu v4)."""
    return Insn(BPF_JMP32 | BPF_JA, 0, 0, 0, IMM)


def BPF_CALL_REL(IMM: int) -> Insn:
    """BPF-to-BPF call of the function at pc + imm + 1."""
    return Insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, IMM)


def BPF_EMIT_CALL(FUNC: int | str) -> Insn:
    """Call helper FUNC: an id (BPF_FUNC_map_lookup_elem) or a name ("map_lookup_elem")."""
    if isinstance(FUNC, str):
        name = FUNC[len("bpf_") :] if FUNC.startswith("bpf_") else FUNC
        name = name[len("BPF_FUNC_") :] if name.startswith("BPF_FUNC_") else name
        if name not in _uapi.FUNC_IDS:
            raise AsmError(f"unknown helper {FUNC!r}")
        FUNC = _uapi.FUNC_IDS[name]
    return Insn(BPF_JMP | BPF_CALL, 0, 0, 0, FUNC)


def BPF_RAW_INSN(CODE: int, DST: int, SRC: int, OFF: int, IMM: int) -> Insn:
    """Any single-slot instruction from its five fields."""
    return Insn(CODE, DST, SRC, OFF, IMM)


def BPF_EXIT_INSN() -> Insn:
    return Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)


_MACROS = [
    k
    for k, v in list(globals().items())
    if k.startswith("BPF_") and callable(v) and k not in _CONSTANTS
]
__all__ = sorted(set(_CONSTANTS) | set(_MACROS) | {"Insn"})
