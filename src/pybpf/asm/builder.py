"""A label-based program builder: write jumps to names, not hand-counted offsets.

The kernel's samples (samples/bpf/sockex1_user.c and friends) count jump
offsets by hand; that is fragile for anything longer than a dozen
instructions. ``ProgramBuilder`` records jumps and local calls against label
names and resolves them to slot offsets once every label is known, the way an
assembler's second pass does. Both text assemblers resolve their labels here.

Offsets count 8-byte slots (LDDW takes two), as the kernel counts them. Where
the offset lives follows the instruction set: ``off`` for conditional jumps
and ``ja``, ``imm`` for ``gotol`` (JMP32|JA) and for local calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AsmError
from ..isa import (
    BPF_CALL,
    BPF_JA,
    BPF_JMP,
    BPF_JMP32,
    BPF_K,
    BPF_PSEUDO_CALL,
    BPF_X,
    OPCODES,
    Insn,
)

S16_MIN, S16_MAX = -0x8000, 0x7FFF
S32_MIN, S32_MAX = -0x80000000, 0x7FFFFFFF


@dataclass
class _Fixup:
    index: int  # position in the instruction list
    slot: int  # slot index of the instruction
    label: str
    line: int | None
    text: str | None


def _target_field(insn: Insn) -> str:
    """Which field holds the pc-relative target of a jump or local call."""
    info = OPCODES.get(insn.code)
    if info is None:
        raise AsmError(f"opcode {insn.code:#04x} cannot take a label")
    if info.kind == "call" or (info.kind == "ja" and not info.is64):
        return "imm"
    if info.kind in ("ja", "jcond"):
        return "off"
    raise AsmError(f"{info.name} cannot take a label target")


class ProgramBuilder:
    """Collects instructions and labels; ``build()`` resolves label references::

        b = ProgramBuilder()
        b.jmp_imm(BPF_JEQ, BPF_REG_0, 0, "out").emit(BPF_MOV64_IMM(BPF_REG_0, 1))
        b.label("out").emit(BPF_EXIT_INSN())
        prog = b.build()   # [jeq r0, 0, +1; mov r0, 1; exit]

    Every method returns the builder, so calls chain.
    """

    def __init__(self) -> None:
        self._insns: list[Insn] = []
        self._labels: dict[str, int] = {}
        self._label_lines: dict[str, int | None] = {}
        self._fixups: list[_Fixup] = []
        self._slot = 0

    # --- state -----------------------------------------------------------------------------
    @property
    def pc(self) -> int:
        """The slot index the next instruction will take."""
        return self._slot

    @property
    def labels(self) -> dict[str, int]:
        """Label name -> slot index, for the labels defined so far."""
        return dict(self._labels)

    def __len__(self) -> int:
        return len(self._insns)

    # --- building --------------------------------------------------------------------------
    def label(
        self, name: str, *, line: int | None = None, text: str | None = None
    ) -> ProgramBuilder:
        """Define ``name`` at the current slot; a second definition is an error."""
        if not name:
            raise AsmError("empty label name", line=line, text=text)
        if name in self._labels:
            prev = self._label_lines.get(name)
            where = f" (first defined at line {prev})" if prev is not None else ""
            raise AsmError(f"duplicate label {name!r}{where}", line=line, text=text)
        self._labels[name] = self._slot
        self._label_lines[name] = line
        return self

    def has_label(self, name: str) -> bool:
        return name in self._labels

    def emit(
        self,
        *insns: Insn,
        target: str | None = None,
        line: int | None = None,
        text: str | None = None,
    ) -> ProgramBuilder:
        """Append instructions; with ``target`` the (single) jump/call goes to that label."""
        if target is not None and len(insns) != 1:
            raise AsmError("a label target needs exactly one instruction", line=line, text=text)
        for insn in insns:
            if not isinstance(insn, Insn):
                raise AsmError(f"expected an Insn, got {type(insn).__name__}", line=line, text=text)
            if target is not None:
                try:
                    _target_field(insn)
                except AsmError as e:
                    raise AsmError(e.message, line=line, text=text) from None
                self._fixups.append(_Fixup(len(self._insns), self._slot, target, line, text))
            self._insns.append(insn)
            self._slot += insn.slots
        return self

    def extend(self, insns: list[Insn]) -> ProgramBuilder:
        return self.emit(*insns)

    # --- jumps to labels ---------------------------------------------------------------------
    def ja(self, label: str) -> ProgramBuilder:
        """``goto label`` (BPF_JMP | BPF_JA, 16-bit offset)."""
        return self.emit(Insn(BPF_JMP | BPF_JA), target=label)

    def gotol(self, label: str) -> ProgramBuilder:
        """``gotol label`` (BPF_JMP32 | BPF_JA, 32-bit offset in imm)."""
        return self.emit(Insn(BPF_JMP32 | BPF_JA), target=label)

    def jmp_imm(self, op: int, dst: int, imm: int, label: str) -> ProgramBuilder:
        return self.emit(Insn(BPF_JMP | op | BPF_K, dst, 0, 0, imm), target=label)

    def jmp_reg(self, op: int, dst: int, src: int, label: str) -> ProgramBuilder:
        return self.emit(Insn(BPF_JMP | op | BPF_X, dst, src), target=label)

    def jmp32_imm(self, op: int, dst: int, imm: int, label: str) -> ProgramBuilder:
        return self.emit(Insn(BPF_JMP32 | op | BPF_K, dst, 0, 0, imm), target=label)

    def jmp32_reg(self, op: int, dst: int, src: int, label: str) -> ProgramBuilder:
        return self.emit(Insn(BPF_JMP32 | op | BPF_X, dst, src), target=label)

    def call(self, label: str) -> ProgramBuilder:
        """A BPF-to-BPF call (src = BPF_PSEUDO_CALL) to ``label``."""
        return self.emit(Insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL), target=label)

    # --- resolution ------------------------------------------------------------------------
    def resolve(self, label: str) -> int | None:
        """Slot of ``label``; subclasses may supply implicit labels."""
        return self._labels.get(label)

    def build(self) -> list[Insn]:
        """Resolve every label reference and return the instructions."""
        out = list(self._insns)
        for fx in self._fixups:
            target = self.resolve(fx.label)
            if target is None:
                raise AsmError(f"undefined label {fx.label!r}", line=fx.line, text=fx.text)
            rel = target - fx.slot - 1
            insn = out[fx.index]
            field = _target_field(insn)
            lo, hi = (S16_MIN, S16_MAX) if field == "off" else (S32_MIN, S32_MAX)
            if not lo <= rel <= hi:
                bits = 16 if field == "off" else 32
                raise AsmError(
                    f"jump to {fx.label!r} ({rel:+d} slots) does not fit in {bits} bits",
                    line=fx.line,
                    text=fx.text,
                )
            out[fx.index] = insn.replace(**{field: rel})
        return out
