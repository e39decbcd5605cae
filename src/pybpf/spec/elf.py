"""eBPF ELF objects -> ObjectSpec: the "user-space utility" of the seed that reads a
program from the object file clang produced.

What is read, and where the convention comes from:

* program sections: executable sections other than ``.text``; every function
  symbol in one is a program (libbpf), a section without function symbols is
  one program named after the section (the 3.19 samples' bpf_load.c). The
  section name gives the program type (pybpf.spec.sections).
* ``license``; the legacy ``maps`` section of ``struct bpf_map_def`` records
  (3.19: type, key_size, value_size, max_entries; later map_flags), the record
  size being the section size over the number of map symbols (libbpf);
  BTF-defined maps in ``.maps`` (pybpf.spec.reloc.parse_btf_maps); global data
  ``.data*``/``.rodata*``/``.bss`` as one-element arrays named as libbpf's
  internal_map_name() names them.
* relocations (pybpf.spec.reloc): LDDW of a map -> ``BPF_PSEUDO_MAP_FD``, of global
  data -> ``BPF_PSEUDO_MAP_VALUE`` with the value offset, calls into ``.text``
  -> the callee appended after the program (only what is reachable, as the
  kernel refuses unreachable code) with the call offset fixed.
* ``.BTF``/``.BTF.ext``: func_info and line_info -> ProgramSpec.line_info.

Only little-endian ELF64 with e_machine EM_BPF is accepted. Every malformed
input raises ElfError (or BtfError) naming the section and file offset.
"""

from __future__ import annotations

import bisect
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from .. import uapi
from ..errors import BtfError, ElfError
from ..uapi import BPF_OBJ_NAME_LEN
from .btf import BTF, BtfExt
from .types import LineInfo, MapSpec, ObjectSpec, ProgramSpec

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


# ---- object-level helpers ----------------------------------------------------------------------


def object_name(path: str | os.PathLike[str] | None, name: str | None) -> str:
    """libbpf's bpf_object name: the file's basename up to its first dot."""
    if name:
        return name
    if path is None:
        return "bpf_obj"
    base = os.path.basename(os.fspath(path))
    return base.split(".", 1)[0] or "bpf_obj"


def internal_map_name(obj_name: str, section: str) -> str:
    """The name libbpf gives a global-data map (``<obj prefix><section>``, 15 chars).

    The suffix keeps up to 15 characters and at least 7 are reserved for it;
    a section name with a second dot (``.rodata.str1.1``) gets no prefix.
    Characters the kernel refuses in map names become ``_``.
    """
    sfx_len = min(max(7, len(section)), BPF_OBJ_NAME_LEN - 1)
    if "." in section[1:]:
        pfx_len = 0
    else:
        pfx_len = min(BPF_OBJ_NAME_LEN - sfx_len - 1, len(obj_name))
    name = (obj_name[:pfx_len] + section[:sfx_len])[: BPF_OBJ_NAME_LEN - 1]
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)


def data_section_kind(name: str) -> str | None:
    """'data', 'rodata' or 'bss' for the global-data sections libbpf turns into maps."""
    for kind in ("rodata", "data", "bss"):
        if name == "." + kind or name.startswith("." + kind + "."):
            return kind
    return None


def _parse_legacy_maps(
    elf: ElfFile, sec: Section, out: dict[str, MapSpec], offsets: dict[tuple[int, int], str]
) -> None:
    syms = sorted(
        (s for s in elf.symbols_in(sec.index) if s.type not in (STT_SECTION, STT_FILE) and s.name),
        key=lambda s: (s.value, s.name),
    )
    if not syms:
        if sec.size:
            raise ElfError(
                "maps section has data but no map symbols; cannot tell the record size",
                where=sec.where(),
            )
        return
    if sec.type == SHT_NOBITS:
        raise ElfError("maps section has no data (NOBITS)", where=sec.where())
    if sec.size % len(syms):
        raise ElfError(
            f"maps section size {sec.size} is not a multiple of its {len(syms)} map symbols",
            where=sec.where(),
        )
    rec = sec.size // len(syms)
    if rec < 16:
        raise ElfError(
            f"map definitions of {rec} bytes are smaller than the 16-byte "
            "struct bpf_map_def of 3.19",
            where=sec.where(),
        )
    for s in syms:
        if s.value % 4 or s.value + rec > sec.size:
            raise ElfError(
                f"map {s.name!r} at {s.value:#x} is not a whole {rec}-byte record "
                "inside the section",
                where=sec.where(s.value),
            )
        raw = sec.data[s.value : s.value + rec] + bytes(max(0, 28 - rec))
        mtype, ksz, vsz, maxe, flags, inner_idx, numa = struct.unpack_from("<7I", raw)
        if mtype not in uapi.MAP_TYPE_NAMES or mtype == uapi.BPF_MAP_TYPE_UNSPEC:
            raise ElfError(f"map {s.name!r}: unknown map type {mtype}", where=sec.where(s.value))
        extra: dict[str, object] = {"section": sec.name, "def_size": rec}
        if rec > 20:
            extra["inner_map_idx"] = inner_idx
            extra["numa_node"] = numa
        if s.name in out:
            raise ElfError(f"duplicate map name {s.name!r}", where=sec.where(s.value))
        out[s.name] = MapSpec(s.name, mtype, ksz, vsz, maxe, flags, extra=extra)
        offsets[(sec.index, s.value)] = s.name


def _data_maps(
    elf: ElfFile, obj_name: str, btf: BTF | None, out: dict[str, MapSpec], data_secs: dict[int, str]
) -> None:
    for sec in elf.sections:
        kind = data_section_kind(sec.name)
        if kind is None or not sec.flags & SHF_ALLOC or sec.size == 0:
            continue
        if sec.type not in (SHT_PROGBITS, SHT_NOBITS):
            continue
        name = internal_map_name(obj_name, sec.name)
        if name in out:
            raise ElfError(
                f"global data map name {name!r} collides with another map", where=sec.where()
            )
        initial = None if sec.type == SHT_NOBITS else bytes(sec.data)
        vt = btf.find(sec.name, 15) if btf is not None else None  # BTF_KIND_DATASEC
        out[name] = MapSpec(
            name,
            uapi.BPF_MAP_TYPE_ARRAY,
            4,
            sec.size,
            1,
            uapi.BPF_F_RDONLY_PROG if kind == "rodata" else 0,
            initial=initial,
            frozen=kind == "rodata",
            value_type=vt,
            extra={"section": sec.name, "kind": kind},
        )
        data_secs[sec.index] = name


def load_object(
    path_or_bytes: str | os.PathLike[str] | bytes | bytearray | memoryview, name: str | None = None
) -> ObjectSpec:
    """Parse an eBPF ELF object (a path or its bytes) into a deterministic ObjectSpec.

    A path ending in ``.c`` is compiled first (pybpf.spec.cc, cached), so every
    command that loads objects also accepts restricted-C sources.
    """
    from .reloc import link_programs, parse_btf_maps  # reloc imports this module

    path: str | None = None
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
    else:
        path = os.fspath(path_or_bytes)
        if path.endswith(".c"):
            from .cc import compile_c

            name = name or object_name(path, None)
            path = os.fspath(compile_c(path))
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ElfError(f"cannot read {path}: {e.strerror}", errno=e.errno or None) from None
    try:
        return _load(data, path, name, link_programs, parse_btf_maps)
    except (ElfError, BtfError):
        raise
    except (struct.error, IndexError, ValueError, KeyError, OverflowError) as e:
        raise ElfError(
            f"malformed object: {type(e).__name__}: {e}", where=path or "object"
        ) from None


def _load(
    data: bytes, path: str | None, name: str | None, link_programs, parse_btf_maps
) -> ObjectSpec:
    elf = ElfFile(data)
    obj_name = object_name(path, name)
    spec = ObjectSpec(path=path)

    lic = elf.by_name("license")
    if lic is not None:
        spec.license = lic.data.split(b"\0", 1)[0].decode("utf-8", "replace")
    else:
        spec.license = ""

    btf: BTF | None = None
    ext: BtfExt | None = None
    bsec = elf.by_name(".BTF")
    if bsec is not None:
        btf = BTF.parse(bsec.data, section=".BTF")
        _fixup_datasecs(elf, btf)
        esec = elf.by_name(".BTF.ext")
        if esec is not None:
            ext = BtfExt.parse(esec.data, btf, section=".BTF.ext")
    spec.btf = btf

    maps: dict[str, MapSpec] = {}
    #: (section index, offset in section) -> map name, for map relocations
    map_offsets: dict[tuple[int, int], str] = {}
    msec = elf.by_name("maps")
    if msec is not None:
        _parse_legacy_maps(elf, msec, maps, map_offsets)
    bmaps = elf.by_name(".maps")
    if bmaps is not None and bmaps.size:
        if btf is None:
            raise ElfError(
                ".maps (BTF-defined maps) needs the .BTF section; compile with -g",
                where=bmaps.where(),
            )
        parse_btf_maps(elf, bmaps, btf, maps, map_offsets)
    data_secs: dict[int, str] = {}
    _data_maps(elf, obj_name, btf, maps, data_secs)
    spec.maps = maps

    spec.programs = link_programs(elf, spec.license, btf, ext, map_offsets, data_secs)
    return spec


def source_line(prog: ProgramSpec, slot: int) -> LineInfo | None:
    """The C line instruction ``slot`` came from: the last line_info record at or before it.

    line_info records mark where a new source line starts (as the kernel's
    verifier log prints them), so instructions between two records belong to
    the earlier one.
    """
    lines = prog.line_info
    i = bisect.bisect_right([li.insn for li in lines], slot)
    return lines[i - 1] if i else None


def _fixup_datasecs(elf: ElfFile, btf: BTF) -> None:
    """Fill DATASEC sizes and variable offsets from the ELF, as libbpf's btf_fixup_datasec."""
    sizes = {s.name: s.size for s in elf.sections if s.name}
    offsets: dict[tuple[str, str], int] = {}
    for s in elf.symbols:
        if 0 < s.shndx < len(elf.sections) and s.type == STT_OBJECT:
            offsets[(elf.sections[s.shndx].name, s.name)] = s.value
    btf.fixup_datasecs(sizes, offsets)
