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
from pathlib import Path

from .. import uapi
from ..errors import BtfError, ElfError
from ..uapi import BPF_OBJ_NAME_LEN
from .btf import BTF, BtfExt
from .elffile import (
    SHF_ALLOC,
    SHT_NOBITS,
    SHT_PROGBITS,
    STT_FILE,
    STT_OBJECT,
    STT_SECTION,
    ElfFile,
    Section,
)
from .reloc import link_programs, parse_btf_maps
from .types import LineInfo, MapSpec, ObjectSpec, ProgramSpec

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
