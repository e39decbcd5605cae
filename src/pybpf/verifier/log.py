"""The verifier log, in the kernel's style and verbosity levels.

Level 0 keeps only the error; level 1 adds the instruction trail of the
failing path (as ``log_level=1`` in BPF_PROG_LOAD); level 2 adds the register
state after every instruction. The last line before the statistics is the
error the kernel would print, so tools that grep kernel logs work on ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
