"""Disassembler printing llvm-objdump's BPF syntax.

Each instruction is printed by :func:`pybpf.asm.printer.format_insn` (the llvm
dialect: what ``llvm-objdump -d`` prints for the same bytes, lossless for the
pseudo instructions llvm-objdump abbreviates unless ``exact=True``); this module
lays instructions out the way llvm-objdump does: symbol headers, ``<sym+0xNN>``
jump annotations, the slot and raw-byte columns. ``objdump(path)`` renders a
whole ELF object like ``llvm-objdump -d`` (and ``-S``, with pybpf.asm.source).

Two departures, both where LLVM 14's text is not the instruction: the v4
instructions (bswap, sdiv/smod, movsx, ldsx, gotol) LLVM 14 prints as
``<unknown>`` are printed as LLVM 19 prints them, and the 32-bit atomics
(``BPF_W``) other than a plain add are printed as ``llvm-objdump --mattr=+alu32``
prints them (without it LLVM shows a 32-bit fetch-add as a plain ``lock +=`` and
the rest as ``<unknown>``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ElfError, InsnError, NotSupportedError
from ..isa import INSN_SIZE, OPCODES, Insn, decode, iter_slots, jump_target, malformed
from .printer import format_insn

if TYPE_CHECKING:
    from .source import SourceLines

__all__ = ["disassemble", "format_insn", "is_elf", "listing", "objdump", "raw_file"]


def _is_jump(insn: Insn) -> bool:
    info = OPCODES.get(insn.code)
    return info is not None and info.kind in ("jcond", "ja")


def disassemble(
    insns: Sequence[Insn] | bytes | bytearray | memoryview,
    *,
    symbols: Mapping[int, str] | None = None,
    relocs: Mapping[int, str] | None = None,
    hex: bool = False,
    exact: bool = False,
    labels: bool = False,
) -> str:
    """Instructions as llvm-objdump text, one per line (LDDW on one line).

    ``symbols`` maps a slot index to a name printed as a ``name:`` line before
    it; ``relocs`` maps a slot index to the symbol its relocation refers to,
    printed as a ``; reloc: name`` trailer (the kernel's ELF loader patches
    those slots). With ``labels`` every jump target gets an ``LBB<slot>:``
    label line and jumps print ``<LBB<slot>>`` after their offset.
    Raw bytes are decoded first (malformed encodings print as ``<unknown>``).
    """
    if isinstance(insns, (bytes, bytearray, memoryview)):
        insns = decode(insns, check=False)
    symbols = dict(symbols or {})
    targets: dict[int, str] = {}
    if labels:
        for pc, insn in iter_slots(insns):
            if _is_jump(insn):
                targets[jump_target(pc, insn)] = f"LBB{jump_target(pc, insn)}"
    lines = []
    for pc, insn in iter_slots(insns):
        if pc in symbols:
            lines.append(f"{symbols[pc]}:")
        if pc in targets and pc not in symbols:
            lines.append(f"{targets[pc]}:")
        tgt = None
        if labels and _is_jump(insn):
            dest = jump_target(pc, insn)
            tgt = symbols.get(dest) or targets.get(dest)
        text = format_insn(insn, pc, hex=hex, exact=exact, target=tgt)
        if relocs and pc in relocs:
            text += f"  ; reloc: {relocs[pc]}"
        lines.append(text)
    return "\n".join(lines) + ("\n" if lines else "")


# --- ELF objects -----------------------------------------------------------------------------


@dataclass
class _Sym:
    name: str
    value: int


def _section_symbols(elf, index: int) -> list[_Sym]:
    from elftools.elf.sections import SymbolTableSection

    out = []
    for sec in elf.iter_sections():
        if not isinstance(sec, SymbolTableSection):
            continue
        for sym in sec.iter_symbols():
            if sym["st_shndx"] != index or not sym.name:
                continue
            if sym["st_info"]["type"] in ("STT_SECTION", "STT_FILE"):
                continue
            out.append(_Sym(sym.name, sym["st_value"]))
    # llvm-objdump's order (address, then name): of the symbols at one address it shows
    # the last, in headers and in jump annotations alike
    out.sort(key=lambda s: (s.value, s.name))
    return out


def _annotation(syms: list[_Sym], secname: str, addr: int) -> str:
    best = None
    for sym in syms:
        if sym.value <= addr:
            best = sym
    name, base = (best.name, best.value) if best else (secname, 0)
    return name if addr == base else f"{name}+{(addr - base) & ((1 << 64) - 1):#x}"


def objdump(
    path: str | os.PathLike[str],
    *,
    section: str | None = None,
    hex: bool = False,
    source: bool = False,
    warn: Callable[[str], None] | None = None,
) -> str:
    """Render an ELF object as ``llvm-objdump -d`` does (executable sections).

    ``source``: interleave C lines as ``llvm-objdump -S`` does (see
    :mod:`pybpf.asm.source`); what it cannot find goes to ``warn``.
    """
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    out = [f"\n{os.fspath(path)}:\tfile format elf64-bpf\n"]
    found = False
    try:
        with open(path, "rb") as fh:
            elf = ELFFile(fh)
            if elf["e_machine"] not in ("EM_BPF", 247):
                raise ElfError(
                    f"{os.fspath(path)}: not an eBPF object (machine {elf['e_machine']})"
                )
            if not elf.little_endian:
                raise NotSupportedError(
                    f"{os.fspath(path)}: big-endian eBPF objects (bpfeb) are not supported"
                )
            lines = None
            if source:
                from .source import SourceLines

                lines = SourceLines(elf, os.fspath(path))
            for index, sec in enumerate(elf.iter_sections()):
                if section is not None and sec.name != section:
                    continue
                if section is None and not sec["sh_flags"] & 0x4:  # SHF_EXECINSTR
                    continue
                found = True
                data = sec.data()
                if not data:
                    continue
                out.append(_objdump_section(elf, index, sec.name, data, hex, lines))
            if lines is not None and warn is not None:
                for w in lines.warnings:
                    warn(w)
    except ELFError as e:
        raise ElfError(f"{os.fspath(path)}: not a valid ELF object: {e}") from None
    except OSError as e:
        raise ElfError(f"{os.fspath(path)}: {e.strerror}", errno=e.errno) from None
    if section is not None and not found:
        raise ElfError(f"{os.fspath(path)}: no section named {section!r}")
    return "\n".join(out)


def _objdump_section(
    elf, index: int, name: str, data: bytes, hex: bool, source: SourceLines | None
) -> str:
    syms = _section_symbols(elf, index)
    by_addr = {sym.value: sym.name for sym in syms}  # the last name at each address
    lines = [f"Disassembly of section {name}:"]
    nslots = len(data) // INSN_SIZE
    pc = 0
    while pc < nslots:
        addr = pc * INSN_SIZE
        header = by_addr.get(addr) or (name if pc == 0 else None)
        if header is not None:
            lines.append("")
            lines.append(f"{addr:016x} <{header}>:")
        if source is not None:
            comment = source.before(index, addr)
            if comment is not None:
                lines.append(comment)
        raw = data[addr : addr + INSN_SIZE]
        code = raw[0]
        width = 2 if code == 0x18 and pc + 1 < nslots else 1
        raw = data[addr : addr + width * INSN_SIZE]
        try:
            insn = decode(raw, check=False)[0]
        except InsnError:
            insn = None
        if insn is None or (width == 2 and raw[8:12] != b"\0\0\0\0"):
            width = 1
            raw = data[addr : addr + INSN_SIZE]
            text = "<unknown>"
        else:
            tgt = None
            if _is_jump(insn):
                tgt = _annotation(syms, name, jump_target(pc, insn) * INSN_SIZE)
            text = format_insn(insn, pc, hex=hex, exact=True, target=tgt)
        hexbytes = " ".join(f"{b:02x}" for b in raw)
        lines.append(f"{pc:8d}:\t{hexbytes}\t{text}")
        pc += width
    if len(data) % INSN_SIZE:
        tail = data[nslots * INSN_SIZE :]
        lines.append(f"{nslots:8d}:\t{' '.join(f'{b:02x}' for b in tail)}\t<unknown>")
    return "\n".join(lines) + "\n"


def raw_file(path: str | os.PathLike[str]) -> list[Insn]:
    """Decode a raw little-endian instruction file (no ELF header)."""
    with open(path, "rb") as fh:
        return decode(fh.read(), check=False)


def is_elf(path: str | os.PathLike[str]) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"\x7fELF"


_OBJDUMP_LINE = re.compile(r"^\s*(\d+):\t((?:[0-9a-f]{2} ?)+)\t(.*)$")


def parse_objdump_lines(text: str) -> list[tuple[int, str, str]]:
    """(slot, hex bytes, instruction text) for each instruction line of objdump output."""
    out = []
    for line in text.splitlines():
        m = _OBJDUMP_LINE.match(line)
        if m:
            out.append((int(m.group(1)), m.group(2).strip(), m.group(3).strip()))
    return out


def listing(
    insns: Sequence[Insn],
    *,
    hex: bool = False,
    exact: bool = False,
) -> str:
    """llvm-objdump's instruction lines (slot, raw bytes, text) for bare instructions.

    Encodings the kernel would refuse carry a ``; malformed: reason`` comment.
    """
    lines = []
    for pc, insn in iter_slots(insns):
        raw = " ".join(f"{b:02x}" for b in insn.encode())
        text = format_insn(insn, pc, hex=hex, exact=exact)
        bad = malformed(insn)
        if bad and text != "<unknown>":
            text += f"  ; malformed: {bad}"
        lines.append(f"{pc:8d}:\t{raw}\t{text}")
    return "\n".join(lines) + ("\n" if lines else "")
