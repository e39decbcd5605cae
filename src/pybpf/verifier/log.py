"""The verifier log, in the kernel's style and verbosity levels.

Level 0 keeps only the error; level 1 adds the instruction trail of the
failing path (as ``log_level=1`` in BPF_PROG_LOAD); level 2 adds the register
state after every instruction. The last line before the statistics is the
error the kernel would print, so tools that grep kernel logs work on ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..asm.printer import KERNEL, format_insn
from ..isa import Insn


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


# --- instruction lines ---------------------------------------------------------------------
#: the column the state after an instruction is aligned to (BPF_LOG_ALIGNMENT, kernel/bpf/log.c)
BPF_LOG_ALIGNMENT = 40
BPF_LOG_MIN_ALIGNMENT = 8


def vlog_alignment(pos: int) -> int:
    """vlog_alignment(): pad after a line of ``pos`` characters (newline included)."""
    width = max(pos, BPF_LOG_MIN_ALIGNMENT)
    return (width + BPF_LOG_ALIGNMENT - 1) // BPF_LOG_ALIGNMENT * BPF_LOG_ALIGNMENT - pos - 1


def insn_line(
    pc: int, insn: Insn, helper_names: Mapping[int, str] | None = None, state: str = ""
) -> str:
    """``pc: (code) insn`` as do_check() logs it; with ``state``, the register state
    print_insn_state() appends, aligned to the kernel's column."""
    text = f"{pc}: " + format_insn(insn, dialect=KERNEL, helper_names=helper_names)
    if not state:
        return text
    return text + " " * vlog_alignment(len(text) + 1) + "; " + state
