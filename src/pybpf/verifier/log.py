"""The verifier log, in the kernel's style and verbosity levels.

Level 0 keeps only the error; level 1 adds the instruction trail of the
failing path (as ``log_level=1`` in BPF_PROG_LOAD); level 2 adds the register
state after every instruction. The last line before the statistics is the
error the kernel would print, so tools that grep kernel logs work on ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class VerifierLog:
    level: int = 1
    lines: list[str] = field(default_factory=list)

    def verbose(self, text: str) -> None:
        """Always logged when logging at all (the kernel's ``verbose()``)."""
        self.lines.append(text)

    def trace(self, text: str, *, level: int = 1) -> None:
        """Logged only at ``level`` and above (instruction trail, state dumps)."""
        if self.level >= level:
            self.lines.append(text)

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")


# --- instructions as the kernel prints them (kernel/bpf/disasm.c print_bpf_insn) -------------
_ALU_SYM = {
    0x00: "+=",
    0x10: "-=",
    0x20: "*=",
    0x30: "/=",
    0x40: "|=",
    0x50: "&=",
    0x60: "<<=",
    0x70: ">>=",
    0x90: "%=",
    0xA0: "^=",
    0xB0: "=",
    0xC0: "s>>=",
}
_JMP_SYM = {
    0x10: "==",
    0x20: ">",
    0x30: ">=",
    0x40: "&",
    0x50: "!=",
    0x60: "s>",
    0x70: "s>=",
    0xA0: "<",
    0xB0: "<=",
    0xC0: "s<",
    0xD0: "s<=",
}
_SIZE = {0x00: "u32", 0x08: "u16", 0x10: "u8", 0x18: "u64"}
_SSIZE = {0x00: "s32", 0x08: "s16", 0x10: "s8", 0x18: "s64"}
_ATOMIC = {0x00: "add", 0x40: "or", 0x50: "and", 0xA0: "xor"}


def _off(off: int) -> str:
    return f"+{off}" if off >= 0 else str(off)


def format_insn(insn: Any, helper_names: Mapping[int, str] | None = None) -> str:
    """One instruction in the kernel verifier log's syntax (``if r0 == 0x0 goto pc+4``)."""
    code = insn.code
    cls = code & 0x07
    d, s, off, imm = insn.dst, insn.src, insn.off, insn.imm
    if cls in (0x04, 0x07):  # ALU, ALU64
        r = "r" if cls == 0x07 else "w"
        op = code & 0xF0
        src = f"{r}{s}" if code & 0x08 else str(imm)
        if op == 0x80:
            return f"{r}{d} = -{r}{d}"
        if op == 0xD0:
            if cls == 0x07:
                return f"r{d} = bswap{imm} r{d}"
            return f"r{d} = {'be' if code & 0x08 else 'le'}{imm} r{d}"
        if op == 0xB0 and off:
            return f"{r}{d} = ({'s'}{off}){src}"
        if op in (0x30, 0x90) and off == 1:
            return f"{r}{d} s{_ALU_SYM[op]} {src}"
        return f"{r}{d} {_ALU_SYM.get(op, '?=')} {src}"
    if cls == 0x01:  # LDX
        sz = (_SSIZE if code & 0xE0 == 0x80 else _SIZE)[code & 0x18]
        return f"r{d} = *({sz} *)(r{s} {_off(off)})"
    if cls == 0x02:  # ST
        return f"*({_SIZE[code & 0x18]} *)(r{d} {_off(off)}) = {imm}"
    if cls == 0x03:  # STX
        sz = _SIZE[code & 0x18]
        if code & 0xE0 == 0xC0:  # atomic
            w = "64" if code & 0x18 == 0x18 else ""
            op = imm & 0xF0
            if imm == 0xF1:
                return f"r0 = atomic{w}_cmpxchg(({sz} *)(r{d} {_off(off)}), r0, r{s})"
            if imm == 0xE1:
                return f"r{s} = atomic{w}_xchg(({sz} *)(r{d} {_off(off)}), r{s})"
            if imm & 0x01:
                return (
                    f"r{s} = atomic{w}_fetch_{_ATOMIC.get(op, '?')}(({sz} *)(r{d} "
                    f"{_off(off)}), r{s})"
                )
            return f"lock *({sz} *)(r{d} {_off(off)}) {_ALU_SYM.get(op, '?=')} r{s}"
        return f"*({sz} *)(r{d} {_off(off)}) = r{s}"
    if cls == 0x00:  # LD
        mode = code & 0xE0
        if mode == 0x20:
            return f"r0 = *({_SIZE[code & 0x18]} *)skb[{imm}]"
        if mode == 0x40:
            return f"r0 = *({_SIZE[code & 0x18]} *)skb[r{s} + {imm}]"
        if s in (1, 5):
            return f"r{d} = map[fd:{imm}]"
        if s in (2, 6):
            return f"r{d} = map[fd:{imm}][0]+{getattr(insn, 'imm_hi', 0)}"
        v = (imm & 0xFFFFFFFF) | ((getattr(insn, "imm_hi", 0) & 0xFFFFFFFF) << 32)
        return f"r{d} = 0x{v:x}"
    # JMP, JMP32
    op = code & 0xF0
    if op == 0x90:
        return "exit"
    if op == 0x80:
        if s == 1:
            return f"call pc{_off(imm)}"
        name = (helper_names or {}).get(imm)
        return f"call bpf_{name}#{imm}" if name else f"call unknown#{imm}"
    if op == 0x00:
        return f"goto pc{_off(imm if cls == 0x06 else off)}"
    r = "r" if cls == 0x05 else "w"
    src = f"{r}{s}" if code & 0x08 else f"0x{imm & 0xFFFFFFFF:x}" if imm >= 0 else f"{imm:#x}"
    return f"if {r}{d} {_JMP_SYM.get(op, '?')} {src} goto pc{_off(off)}"


def insn_line(
    pc: int, insn: Any, helper_names: Mapping[int, str] | None = None, state: str = ""
) -> str:
    """``pc: (code) insn`` padded to the kernel's column, with ``; state`` when given."""
    text = f"{pc}: ({insn.code:02x}) {format_insn(insn, helper_names)}"
    return f"{text:<37} ; {state}" if state else text
