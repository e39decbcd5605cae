"""An eBPF ELF object as sections, symbols and relocations (include/uapi/linux/elf.h).

The file layer under :mod:`pybpf.spec.elf`: headers, section and symbol
tables and relocation records are read and bounds-checked here; every
malformed structure raises ElfError naming the section and file offset.
What the sections mean to BPF (programs, maps, relocations) is the business
of :mod:`.elf` and :mod:`.reloc`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import ElfError

EM_BPF = 247
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2

SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_RELA = 4
SHT_NOBITS = 8
SHT_REL = 9

SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4

STT_NOTYPE = 0
STT_OBJECT = 1
STT_FUNC = 2
STT_SECTION = 3
STT_FILE = 4

STB_LOCAL = 0
STB_GLOBAL = 1
STB_WEAK = 2

SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2
SHN_XINDEX = 0xFFFF

# relocation types (llvm/BinaryFormat/ELFRelocs/BPF.def)
R_BPF_NONE = 0
R_BPF_64_64 = 1
R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4
R_BPF_64_32 = 10
RELOC_NAMES = {
    R_BPF_NONE: "R_BPF_NONE",
    R_BPF_64_64: "R_BPF_64_64",
    R_BPF_64_ABS64: "R_BPF_64_ABS64",
    R_BPF_64_ABS32: "R_BPF_64_ABS32",
    R_BPF_64_NODYLD32: "R_BPF_64_NODYLD32",
    R_BPF_64_32: "R_BPF_64_32",
}


_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
_REL = struct.Struct("<QQ")
_RELA = struct.Struct("<QQq")


@dataclass
class Section:
    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int
    entsize: int
    data: bytes  # empty for SHT_NOBITS

    def where(self, off: int = 0) -> str:
        return f"section {self.name or '#' + str(self.index)} offset {off:#x}"

    @property
    def is_exec(self) -> bool:
        return self.type == SHT_PROGBITS and bool(self.flags & SHF_EXECINSTR)


@dataclass(frozen=True)
class Symbol:
    index: int
    name: str
    value: int
    size: int
    type: int
    bind: int
    shndx: int


@dataclass(frozen=True)
class Reloc:
    offset: int  # in the target section
    type: int
    sym: Symbol
    file_offset: int  # where the record is, for error messages
    addend: int = 0


class ElfFile:
    """The sections, symbols and relocations of one ELF64 little-endian EM_BPF object."""

    def __init__(self, data: bytes):
        self.data = data
        self.sections: list[Section] = []
        self.symbols: list[Symbol] = []
        #: target section index -> relocations on it, in file order
        self.relocs: dict[int, list[Reloc]] = {}
        self._parse()

    # ---- header and sections ----------------------------------------------------------
    def _parse(self) -> None:
        d = self.data
        if len(d) < 16 or d[:4] != b"\x7fELF":
            raise ElfError("not an ELF file (bad magic)", where="ELF header offset 0x0")
        if d[4] != ELFCLASS64:
            raise ElfError(f"ELF class {d[4]} is not ELFCLASS64", where="ELF header offset 0x4")
        if d[5] == ELFDATA2MSB:
            raise ElfError(
                "big-endian object (bpfeb) is not supported; compile for bpfel",
                where="ELF header offset 0x5",
            )
        if d[5] != ELFDATA2LSB:
            raise ElfError(f"bad ELF data encoding {d[5]}", where="ELF header offset 0x5")
        if len(d) < _EHDR.size:
            raise ElfError(f"truncated ELF header ({len(d)} bytes)", where="ELF header offset 0x0")
        (
            _ident,
            _etype,
            machine,
            _version,
            _entry,
            _phoff,
            shoff,
            _flags,
            _ehsize,
            _phentsize,
            _phnum,
            shentsize,
            shnum,
            shstrndx,
        ) = _EHDR.unpack_from(d)
        if machine != EM_BPF:
            raise ElfError(
                f"e_machine {machine} is not EM_BPF ({EM_BPF})", where="ELF header offset 0x12"
            )
        if shoff == 0 or shnum == 0:
            raise ElfError("object has no section headers", where="ELF header offset 0x28")
        if shentsize != _SHDR.size:
            raise ElfError(
                f"section header size {shentsize} (expected {_SHDR.size})",
                where="ELF header offset 0x3a",
            )
        if shoff + shnum * shentsize > len(d):
            raise ElfError(
                f"section header table ({shnum} entries at {shoff:#x}) runs past the "
                f"end of the {len(d)}-byte file",
                where="ELF header offset 0x28",
            )
        if shstrndx == SHN_XINDEX or shstrndx >= shnum:
            raise ElfError(
                f"section name table index {shstrndx} out of range (0..{shnum - 1})",
                where="ELF header offset 0x3e",
            )
        raw = []
        for i in range(shnum):
            off = shoff + i * shentsize
            raw.append((off, _SHDR.unpack_from(d, off)))
        # section data first, names afterwards (the name table is itself a section)
        for i, (
            hoff,
            (_name_off, stype, flags, _addr, offset, size, link, info, _align, entsize),
        ) in enumerate(raw):
            data = b""
            if stype not in (SHT_NULL, SHT_NOBITS):
                if offset + size > len(d):
                    raise ElfError(
                        f"section #{i} data {offset:#x}+{size:#x} runs past the end "
                        f"of the {len(d)}-byte file",
                        where=f"section header offset {hoff:#x}",
                    )
                data = d[offset : offset + size]
            self.sections.append(
                Section(i, "", stype, flags, offset, size, link, info, entsize, data)
            )
        shstr = self.sections[shstrndx]
        if shstr.type != SHT_STRTAB:
            raise ElfError(
                f"section #{shstrndx} named as the section name table is not STRTAB",
                where=f"section header offset {raw[shstrndx][0]:#x}",
            )
        for sec, (hoff, hdr) in zip(self.sections, raw, strict=True):
            sec.name = self._string(shstr, hdr[0], f"section header offset {hoff:#x}")
        self._parse_symbols()
        self._parse_relocs()

    @staticmethod
    def _string(strtab: Section, off: int, where: str) -> str:
        if off >= len(strtab.data):
            if off == 0:
                return ""
            raise ElfError(
                f"name offset {off:#x} outside string table {strtab.name!r} "
                f"({len(strtab.data)} bytes)",
                where=where,
            )
        end = strtab.data.find(b"\0", off)
        if end < 0:
            end = len(strtab.data)
        return strtab.data[off:end].decode("utf-8", "replace")

    def section(self, index: int, where: str) -> Section:
        if not 0 <= index < len(self.sections):
            raise ElfError(
                f"section index {index} out of range (0..{len(self.sections) - 1})", where=where
            )
        return self.sections[index]

    def by_name(self, name: str) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    # ---- symbols --------------------------------------------------------------------------
    def _parse_symbols(self) -> None:
        tabs = [s for s in self.sections if s.type == SHT_SYMTAB]
        if not tabs:
            return
        if len(tabs) > 1:
            raise ElfError("more than one symbol table", where=tabs[1].where())
        tab = tabs[0]
        if tab.entsize != _SYM.size or tab.size % _SYM.size:
            raise ElfError(
                f"symbol table entry size {tab.entsize} / size {tab.size} is not a "
                f"multiple of {_SYM.size}",
                where=tab.where(),
            )
        strtab = self.section(tab.link, tab.where())
        if strtab.type != SHT_STRTAB:
            raise ElfError(f"symbol string table #{tab.link} is not STRTAB", where=tab.where())
        for i in range(tab.size // _SYM.size):
            off = i * _SYM.size
            name_off, info, _other, shndx, value, size = _SYM.unpack_from(tab.data, off)
            name = self._string(strtab, name_off, tab.where(off))
            stype, bind = info & 0xF, info >> 4
            if shndx == SHN_XINDEX:
                raise ElfError(
                    f"symbol {name!r}: extended section indexes are not supported",
                    where=tab.where(off),
                )
            if SHN_UNDEF < shndx < SHN_LORESERVE and shndx >= len(self.sections):
                raise ElfError(
                    f"symbol {name!r} refers to section index {shndx}, beyond the "
                    f"last section {len(self.sections) - 1}",
                    where=tab.where(off),
                )
            if stype == STT_SECTION and not name and 0 < shndx < len(self.sections):
                name = self.sections[shndx].name
            self.symbols.append(Symbol(i, name, value, size, stype, bind, shndx))
        self.symtab = tab

    def symbols_in(self, shndx: int) -> list[Symbol]:
        return [s for s in self.symbols if s.shndx == shndx]

    # ---- relocations ----------------------------------------------------------------------
    def _parse_relocs(self) -> None:
        for sec in self.sections:
            if sec.type not in (SHT_REL, SHT_RELA):
                continue
            rec = _REL if sec.type == SHT_REL else _RELA
            if sec.size % rec.size:
                raise ElfError(
                    f"relocation section size {sec.size} is not a multiple of {rec.size}",
                    where=sec.where(),
                )
            target = self.section(sec.info, sec.where())
            if not self.symbols and sec.size:
                raise ElfError("relocations but no symbol table", where=sec.where())
            out = self.relocs.setdefault(target.index, [])
            for i in range(sec.size // rec.size):
                off = i * rec.size
                vals = rec.unpack_from(sec.data, off)
                r_offset, r_info = vals[0], vals[1]
                addend = vals[2] if len(vals) > 2 else 0
                sym_idx, rtype = r_info >> 32, r_info & 0xFFFFFFFF
                if sym_idx >= len(self.symbols):
                    raise ElfError(
                        f"relocation refers to symbol #{sym_idx}, beyond the last "
                        f"symbol #{len(self.symbols) - 1}",
                        where=sec.where(off),
                    )
                if rtype not in RELOC_NAMES:
                    raise ElfError(f"unknown relocation type {rtype}", where=sec.where(off))
                if r_offset >= max(target.size, 1) and target.type != SHT_NOBITS:
                    raise ElfError(
                        f"relocation offset {r_offset:#x} is outside section "
                        f"{target.name!r} ({target.size} bytes)",
                        where=sec.where(off),
                    )
                out.append(Reloc(r_offset, rtype, self.symbols[sym_idx], sec.offset + off, addend))
