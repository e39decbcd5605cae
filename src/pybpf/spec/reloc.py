"""Relocations and linking of an eBPF object: what turns section bytes into loadable programs.

* BTF-defined maps (``.maps``): every attribute of a map is carried in the BTF
  type of a member of the map variable's anonymous struct, as libbpf's
  bpf_helpers.h encodes them (``__uint(name, N)`` is ``int (*name)[N]``,
  ``__type(name, T)`` is ``T *name``, ``__array(values, ...)`` an array of
  pointers) -- see parse_btf_map_def() in tools/lib/bpf/libbpf.c.
* Instruction relocations: ``R_BPF_64_64`` on an LDDW names a map (pointer
  -> ``BPF_PSEUDO_MAP_FD``) or global data (``BPF_PSEUDO_MAP_VALUE`` with the
  offset: symbol value plus the addend clang left in the immediate for
  section symbols) or a function (``BPF_PSEUDO_FUNC``); ``R_BPF_64_32`` on a
  ``call`` names the callee. The immediate of a local call counts slots from
  the next instruction, so for a section symbol ``target = value/8 + imm + 1``.
* Sub-programs: functions in ``.text`` are appended after the program that
  calls them -- only the reachable ones, since the kernel's check_cfg refuses
  unreachable instructions -- and call offsets are recomputed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .. import isa, uapi
from ..errors import BpfError, ElfError
from .btf import (
    BTF,
    BTF_KIND_ARRAY,
    BTF_KIND_DATASEC,
    BTF_KIND_ENUM,
    BTF_KIND_ENUM64,
    BTF_KIND_FUNC_PROTO,
    BTF_KIND_PTR,
    BTF_KIND_STRUCT,
    BTF_KIND_VAR,
    BtfExt,
    CoreRelo,
    LineRecord,
)
from .elffile import (
    R_BPF_64_32,
    R_BPF_64_64,
    R_BPF_64_ABS32,
    R_BPF_64_ABS64,
    R_BPF_64_NODYLD32,
    RELOC_NAMES,
    SHN_LORESERVE,
    SHN_UNDEF,
    STT_FUNC,
    STT_SECTION,
    ElfFile,
    Section,
    Symbol,
)
from .sections import prog_type_for_section
from .types import LineInfo, MapRef, MapSpec, ProgramSpec

_LDDW = isa.BPF_LD | isa.BPF_IMM | isa.BPF_DW
_CALL = isa.BPF_JMP | isa.BPF_CALL
_MAP_IN_MAP = (uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS, uapi.BPF_MAP_TYPE_HASH_OF_MAPS)

_UINT_ATTRS = {
    "type",
    "max_entries",
    "map_flags",
    "numa_node",
    "key_size",
    "value_size",
    "pinning",
    "map_extra",
}


# ---- BTF-defined maps --------------------------------------------------------------------------


def _uint_attr(btf: BTF, type_id: int, what: str, where: str) -> int:
    t = btf.type(type_id)
    if t.kind in (BTF_KIND_ENUM, BTF_KIND_ENUM64) and t.enums:  # __ulong()
        return t.enums[0][1]
    if t.kind != BTF_KIND_PTR:
        raise ElfError(
            f"{what}: expected __uint() (a pointer to an array), got {t.kind_name}", where=where
        )
    arr = btf.type(t.ref)
    if arr.kind != BTF_KIND_ARRAY:
        raise ElfError(
            f"{what}: expected __uint() (a pointer to an array), got a pointer to {arr.kind_name}",
            where=where,
        )
    return arr.nelems


def _map_def(btf: BTF, struct_id: int, name: str, where: str, depth: int = 0) -> MapSpec:
    st = btf.resolve(struct_id)
    if st.kind != BTF_KIND_STRUCT:
        raise ElfError(f"map {name!r}: definition is a {st.kind_name}, not a struct", where=where)
    vals: dict[str, int] = {}
    key_type = value_type = None
    key_size = value_size = None
    inner: MapSpec | None = None
    values_off: int | None = None
    prog_values = False
    for m in st.members:
        what = f"map {name!r} attribute {m.name!r}"
        if m.name in _UINT_ATTRS:
            vals[m.name] = _uint_attr(btf, m.type, what, where)
        elif m.name in ("key", "value"):
            p = btf.type(m.type)
            if p.kind != BTF_KIND_PTR:
                raise ElfError(
                    f"{what}: expected __type() (a pointer), got {p.kind_name}", where=where
                )
            sz = btf.size(p.ref)
            if m.name == "key":
                key_type, key_size = p.ref, sz
            else:
                value_type, value_size = p.ref, sz
        elif m.name == "values":
            arr = btf.type(m.type)
            if arr.kind != BTF_KIND_ARRAY:
                raise ElfError(f"{what}: expected __array()", where=where)
            p = btf.type(arr.elem_type)
            if p.kind != BTF_KIND_PTR:
                raise ElfError(f"{what}: __array() elements must be pointers", where=where)
            target = btf.resolve(p.ref)
            values_off = m.bit_offset // 8
            if target.kind == BTF_KIND_FUNC_PROTO:
                prog_values = True
            elif target.kind == BTF_KIND_STRUCT and depth == 0:
                inner = _map_def(btf, p.ref, name + ".inner", where, depth + 1)
            else:
                raise ElfError(
                    f"{what}: unsupported __array() element {target.kind_name}", where=where
                )
        else:
            raise ElfError(f"map {name!r}: unknown attribute {m.name!r}", where=where)
    mtype = vals.get("type", 0)
    if mtype not in uapi.MAP_TYPE_NAMES or mtype == uapi.BPF_MAP_TYPE_UNSPEC:
        raise ElfError(f"map {name!r}: unknown map type {mtype}", where=where)
    for attr, typed in (("key_size", key_size), ("value_size", value_size)):
        if attr in vals and typed is not None and vals[attr] != typed:
            raise ElfError(
                f"map {name!r}: {attr} {vals[attr]} disagrees with the size of the "
                f"{attr[:-5]} type ({typed})",
                where=where,
            )
    ksz = key_size if key_size is not None else vals.get("key_size", 0)
    vsz = value_size if value_size is not None else vals.get("value_size", 0)
    if inner is not None or prog_values:
        ksz = ksz or 4
        vsz = vsz or 4
    extra: dict[str, object] = {"section": ".maps"}
    for k in ("numa_node", "pinning", "map_extra"):
        if k in vals:
            extra[k] = vals[k]
    if values_off is not None:
        extra["values_offset"] = values_off
    return MapSpec(
        name,
        mtype,
        ksz,
        vsz,
        vals.get("max_entries", 0),
        vals.get("map_flags", 0),
        key_type=key_type,
        value_type=value_type,
        inner=inner,
        extra=extra,
    )


def parse_btf_maps(
    elf: ElfFile,
    sec: Section,
    btf: BTF,
    out: dict[str, MapSpec],
    offsets: dict[tuple[int, int], str],
) -> None:
    """BTF-defined maps of the ``.maps`` section, in section order."""
    ds_id = btf.find(".maps", BTF_KIND_DATASEC)
    if ds_id is None:
        raise ElfError("no DATASEC '.maps' in BTF for the .maps section", where=sec.where())
    ds = btf.type(ds_id)
    syms = {s.name: s for s in elf.symbols_in(sec.index) if s.type != STT_SECTION}
    spans: list[tuple[int, int, str]] = []
    for var_id, _off, vsize in ds.secinfos:
        var = btf.type(var_id)
        if var.kind != BTF_KIND_VAR:
            raise ElfError(
                f"DATASEC .maps member [{var_id}] is a {var.kind_name}, not a VAR",
                where=sec.where(),
            )
        name = var.name
        sym = syms.get(name)
        if sym is None:
            raise ElfError(f"map {name!r} has BTF but no symbol in .maps", where=sec.where())
        where = sec.where(sym.value)
        if name in out:
            raise ElfError(f"duplicate map name {name!r}", where=where)
        spec = _map_def(btf, var.ref, name, where)
        out[name] = spec
        offsets[(sec.index, sym.value)] = name
        spans.append((sym.value, sym.value + max(vsize, btf.size(var.ref)), name))
    # initial values of prog arrays / map-in-map: pointers relocated into "values"
    for r in elf.relocs.get(sec.index, []):
        for start, end, name in spans:
            if start <= r.offset < end:
                ms = out[name]
                voff = ms.extra.get("values_offset")
                if voff is None or r.offset < start + voff or (r.offset - start - voff) % 8:
                    raise ElfError(
                        f"map {name!r}: relocation at {r.offset:#x} is not in its values array",
                        where=sec.where(r.offset),
                    )
                idx = (r.offset - start - voff) // 8
                values = ms.extra.setdefault("values", {})
                values[idx] = r.sym.name  # type: ignore[index]
                break
        else:
            raise ElfError(
                f"relocation at {r.offset:#x} is not inside any map", where=sec.where(r.offset)
            )


# ---- programs ----------------------------------------------------------------------------------


@dataclass
class ProgramBtf:
    """What the kernel backend needs to pass BTF with a program (bpf_attr prog_btf_fd...)."""

    btf: BTF
    #: (insn slot, BTF FUNC type id), as struct bpf_func_info
    func_info: list[tuple[int, int]] = field(default_factory=list)
    #: (insn slot, file_name_off, line_off, line_col), as struct bpf_line_info
    line_info: list[tuple[int, int, int, int]] = field(default_factory=list)

    def func_info_bytes(self) -> bytes:
        """The records for bpf_attr.func_info (struct bpf_func_info, 8 bytes each)."""
        return b"".join(struct.pack("<II", *r) for r in self.func_info)

    def line_info_bytes(self) -> bytes:
        """The records for bpf_attr.line_info (struct bpf_line_info, 16 bytes each)."""
        return b"".join(struct.pack("<IIII", *r) for r in self.line_info)


@dataclass(frozen=True)
class _Unit:
    """One function: a slot range of an executable section."""

    sec: int
    start: int  # slot
    end: int  # slot, exclusive
    name: str


class _SecCode:
    """The decoded instructions of one executable section, indexed by slot."""

    def __init__(self, sec: Section):
        self.sec = sec
        if sec.size % 8:
            raise ElfError(f"code size {sec.size} is not a multiple of 8", where=sec.where())
        try:
            insns = isa.decode(sec.data, check=False)
        except BpfError as e:
            idx = getattr(e, "index", None) or 0
            raise ElfError(f"bad instruction: {e.message}", where=sec.where(idx * 8)) from None
        self.by_slot: dict[int, isa.Insn] = {}
        for slot, insn in isa.iter_slots(insns):
            self.by_slot[slot] = insn
        self.nslots = sec.size // 8


def _units(elf: ElfFile, code: dict[int, _SecCode]) -> dict[int, list[_Unit]]:
    """Functions per executable section, from the STT_FUNC symbols (sorted by start)."""
    out: dict[int, list[_Unit]] = {}
    for idx, sc in code.items():
        sec = sc.sec
        funcs = sorted(
            {(s.value, s.size, s.name) for s in elf.symbols_in(idx) if s.type == STT_FUNC},
            key=lambda f: (f[0], f[2]),
        )
        units: list[_Unit] = []
        for i, (value, size, name) in enumerate(funcs):
            if value % 8 or value >= sec.size:
                raise ElfError(
                    f"function {name!r} starts at {value:#x}, not an instruction "
                    "inside the section",
                    where=sec.where(value),
                )
            end = value + size if size else (funcs[i + 1][0] if i + 1 < len(funcs) else sec.size)
            if end > sec.size or end % 8 or end <= value:
                raise ElfError(
                    f"function {name!r} ({value:#x}+{size:#x}) does not fit the section",
                    where=sec.where(value),
                )
            if value // 8 not in sc.by_slot:
                raise ElfError(
                    f"function {name!r} starts in the middle of an LDDW", where=sec.where(value)
                )
            units.append(_Unit(idx, value // 8, end // 8, name))
        if not funcs and sec.name != ".text":
            units.append(_Unit(idx, 0, sc.nslots, sec.name))
        out[idx] = units
    return out


def _sym_section(elf: ElfFile, sym: Symbol, where: str) -> Section:
    if sym.shndx == SHN_UNDEF:
        raise ElfError(f"symbol {sym.name!r} is undefined (an extern)", where=where)
    if sym.shndx >= SHN_LORESERVE:
        raise ElfError(f"symbol {sym.name!r} has special section index {sym.shndx:#x}", where=where)
    return elf.sections[sym.shndx]


def source_line(ext: BtfExt | None, section: str, byte_off: int) -> LineRecord | None:
    """The C line an instruction of ``section`` came from (the last line_info at or before it)."""
    if ext is None:
        return None
    best = None
    for rec in ext.line_info.get(section, ()):
        if rec.insn_off <= byte_off and (best is None or rec.insn_off >= best.insn_off):
            best = rec
    return best


def _extern_kind(btf: BTF | None, name: str) -> str:
    """'.ksyms', '.kconfig' or '' for an extern, from the DATASEC clang put it in."""
    if btf is None:
        return ""
    for t in btf.types:
        if t.kind == BTF_KIND_DATASEC and t.name in (".ksyms", ".kconfig"):
            if any(btf.type(vt).name == name for vt, _o, _s in t.secinfos):
                return t.name
    return ""


def extern_error(
    btf: BTF | None, ext: BtfExt | None, sec: Section, byte_off: int, sym: Symbol, is_call: bool
) -> ElfError:
    """What pybpf cannot do for a reference to an extern symbol, at its C line.

    libbpf resolves externs against the running kernel: ``__ksym`` functions
    (kfuncs) and variables through vmlinux BTF, ``__kconfig`` values from the
    kernel's configuration (tools/lib/bpf/libbpf.c, bpf_object__resolve_externs).
    pybpf models neither.
    """
    kind = _extern_kind(btf, sym.name)
    if is_call and kind == ".ksyms":
        what = (
            f"calls the kernel function {sym.name!r} (a kfunc: extern __ksym); "
            "pybpf does not support kfuncs"
        )
    elif is_call:
        what = (
            f"calls {sym.name!r}, a function the program does not define: eBPF has no C "
            "library (clang calls memcpy/memset/memcmp when it cannot expand them inline, "
            "for a size that is not a constant)"
        )
    elif kind == ".kconfig":
        what = (
            f"reads the kernel configuration value {sym.name!r} (extern __kconfig); "
            "pybpf does not provide kernel configuration values"
        )
    elif kind == ".ksyms":
        what = (
            f"uses the kernel symbol {sym.name!r} (extern __ksym); "
            "pybpf does not resolve kernel symbols"
        )
    else:
        what = f"refers to {sym.name!r}, which the object declares but does not define (extern)"
    rec = source_line(ext, sec.name, byte_off)
    if rec is None:
        return ElfError(what, where=sec.where(byte_off))
    return ElfError(f"`{rec.text.strip()}` {what}", where=f"{rec.file}:{rec.line}")


def _check_core(btf: BTF | None, ext: BtfExt, sec: Section, relo: CoreRelo) -> None:
    """Refuse, at its C line, a CO-RE relocation pybpf cannot honour (pybpf.spec.core)."""
    from .core import Unsupported, check

    if btf is None:
        raise ElfError("CO-RE relocations without .BTF", where=sec.where(relo.insn_off))
    try:
        check(btf, relo)
    except Unsupported as e:
        rec = source_line(ext, sec.name, relo.insn_off)
        if rec is None:
            raise ElfError(f"CO-RE relocation: {e}", where=sec.where(relo.insn_off)) from None
        raise ElfError(
            f"`{rec.text.strip()}` needs a CO-RE relocation that pybpf cannot apply: {e}",
            where=f"{rec.file}:{rec.line}",
        ) from None


def link_programs(
    elf: ElfFile,
    license: str,
    btf: BTF | None,
    ext: BtfExt | None,
    map_offsets: dict[tuple[int, int], str],
    data_secs: dict[int, str],
) -> dict[str, ProgramSpec]:
    """Every program of the object, relocated, with its sub-programs appended."""
    code = {s.index: _SecCode(s) for s in elf.sections if s.is_exec and s.size}
    units = _units(elf, code)
    text = elf.by_name(".text")
    text_idx = text.index if text is not None else -1

    # per-section relocation targets keyed by slot
    relocs: dict[tuple[int, int], tuple] = {}
    for idx, sc in code.items():
        for r in elf.relocs.get(idx, []):
            where = sc.sec.where(r.offset)
            if r.offset % 8 or r.offset // 8 not in sc.by_slot:
                raise ElfError(
                    f"{RELOC_NAMES[r.type]} at {r.offset:#x} does not point at the "
                    "start of an instruction",
                    where=where,
                )
            if r.type in (R_BPF_64_ABS64, R_BPF_64_ABS32, R_BPF_64_NODYLD32):
                raise ElfError(f"{RELOC_NAMES[r.type]} is not valid in code", where=where)
            relocs[(idx, r.offset // 8)] = (r, where)

    def locate(sec: int, slot: int, where: str) -> _Unit:
        for u in units.get(sec, []):
            if u.start <= slot < u.end:
                return u
        name = elf.sections[sec].name if 0 <= sec < len(elf.sections) else f"#{sec}"
        raise ElfError(
            f"call/function target slot {slot} in section {name!r} is not inside any function",
            where=where,
        )

    programs: dict[str, ProgramSpec] = {}
    for idx in sorted(code):
        if idx == text_idx:
            continue
        sec = code[idx].sec
        pt = prog_type_for_section(sec.name)
        ptype, atype = pt if pt is not None else (uapi.BPF_PROG_TYPE_UNSPEC, 0)
        for u in units[idx]:
            insns, lines, finfo, pbtf = _link_one(
                elf, u, code, relocs, locate, map_offsets, data_secs, btf, ext
            )
            name = u.name if u.name not in programs else f"{u.name}@{sec.name}"
            programs[name] = ProgramSpec(
                name=name,
                insns=insns,
                prog_type=ptype,
                license=license,
                section=sec.name,
                expected_attach_type=atype,
                line_info=lines,
                btf=pbtf,
                func_info=finfo,
            )
    return programs


def _link_one(elf, root: _Unit, code, relocs, locate, map_offsets, data_secs, btf, ext):
    out: list[isa.Insn] = []
    out_slot = 0
    placed: dict[_Unit, int] = {}
    queue = [root]
    queued = {root}
    fixups: list[tuple[int, int, _Unit, int, str]] = []  # (out idx, slot, unit, tslot, kind)
    lines: list[LineInfo] = []
    raw_lines: list[tuple[int, int, int, int]] = []
    finfo: list[tuple[int, int]] = []

    def want(unit: _Unit) -> None:
        if unit not in queued:
            queued.add(unit)
            queue.append(unit)

    while queue:
        u = queue.pop(0)
        base = out_slot
        placed[u] = base
        sc = code[u.sec]
        sec = sc.sec
        slot = u.start
        while slot < u.end:
            insn = sc.by_slot.get(slot)
            if insn is None:
                raise ElfError("function boundary splits an LDDW", where=sec.where(slot * 8))
            new_slot = base + slot - u.start
            rel = relocs.get((u.sec, slot))
            where = sec.where(slot * 8)
            if insn.code == _CALL and insn.src == isa.BPF_PSEUDO_CALL:
                if rel is not None:
                    r, where = rel
                    if r.sym.shndx == SHN_UNDEF:
                        raise extern_error(btf, ext, sec, slot * 8, r.sym, True)
                    tsec = _sym_section(elf, r.sym, where)
                    if not tsec.is_exec:
                        raise ElfError(
                            f"call to {r.sym.name!r} in non-code section {tsec.name!r}", where=where
                        )
                    tslot = r.sym.value // 8 + insn.imm + 1
                    tsi = tsec.index
                else:
                    tslot, tsi = slot + insn.imm + 1, u.sec
                if not 0 <= tslot < code[tsi].nslots:
                    raise ElfError(
                        f"call target slot {tslot} is outside section {elf.sections[tsi].name!r}",
                        where=where,
                    )
                tu = locate(tsi, tslot, where)
                if tu != u:
                    want(tu)
                fixups.append((len(out), new_slot, tu, tslot, "call"))
                out.append(insn)
            elif rel is not None:
                r, where = rel
                if r.sym.shndx == SHN_UNDEF:
                    raise extern_error(btf, ext, sec, slot * 8, r.sym, insn.code == _CALL)
                if insn.code == _CALL and insn.src == 0 and r.type == R_BPF_64_32:
                    raise ElfError(
                        f"relocated call to {r.sym.name!r} is not a local call", where=where
                    )
                if insn.code != _LDDW:
                    raise ElfError(
                        f"{RELOC_NAMES[r.type]} against {r.sym.name!r} on a non-LDDW "
                        f"instruction (opcode {insn.code:#04x})",
                        where=where,
                    )
                if r.type != R_BPF_64_64:
                    raise ElfError(f"{RELOC_NAMES[r.type]} is not valid on an LDDW", where=where)
                tsec = _sym_section(elf, r.sym, where)
                if tsec.is_exec:  # address of a function (callbacks: bpf_loop ...)
                    toff = r.sym.value + insn.imm
                    tslot = toff // 8
                    if toff % 8 or not 0 <= tslot < code[tsec.index].nslots:
                        raise ElfError(
                            f"function reference {r.sym.name!r}+{insn.imm} is not an instruction",
                            where=where,
                        )
                    tu = locate(tsec.index, tslot, where)
                    if tu != u:
                        want(tu)
                    fixups.append((len(out), new_slot, tu, tslot, "func"))
                    out.append(insn.replace(src=isa.BPF_PSEUDO_FUNC, imm=0, imm_hi=0))
                elif tsec.index in data_secs:
                    voff = r.sym.value + insn.imm
                    if not 0 <= voff < max(tsec.size, 1):
                        raise ElfError(
                            f"reference to {r.sym.name!r}+{insn.imm} is outside "
                            f"section {tsec.name!r}",
                            where=where,
                        )
                    mname = data_secs[tsec.index]
                    out.append(
                        insn.replace(
                            src=isa.BPF_PSEUDO_MAP_VALUE,
                            imm=0,
                            imm_hi=voff,
                            ref=MapRef(mname, voff),
                        )
                    )
                else:
                    key = (tsec.index, r.sym.value + (insn.imm if r.sym.type == STT_SECTION else 0))
                    mname = map_offsets.get(key)
                    if mname is None:
                        raise ElfError(
                            f"LDDW relocation against {r.sym.name!r} (section "
                            f"{tsec.name!r} offset {key[1]:#x}) names no map",
                            where=where,
                        )
                    out.append(
                        insn.replace(
                            src=isa.BPF_PSEUDO_MAP_FD, imm=0, imm_hi=0, ref=MapRef(mname, None)
                        )
                    )
            else:
                out.append(insn)
            slot += insn.slots
            out_slot += insn.slots
        # line and func info of this unit, shifted to where it landed
        if ext is not None:
            lo, hi = u.start * 8, u.end * 8
            for rec in ext.line_info.get(sec.name, ()):
                if lo <= rec.insn_off < hi and rec.insn_off % 8 == 0:
                    s = base + rec.insn_off // 8 - u.start
                    lines.append(LineInfo(s, rec.file, rec.line, rec.col, rec.text))
                    raw_lines.append((s, rec.file_name_off, rec.line_off, rec.line_col))
            for fi in ext.func_info.get(sec.name, ()):
                if lo <= fi.insn_off < hi and fi.insn_off % 8 == 0:
                    finfo.append((base + fi.insn_off // 8 - u.start, fi.type_id))
            for cr in ext.core_relo.get(sec.name, ()):
                if lo <= cr.insn_off < hi:
                    _check_core(btf, ext, sec, cr)

    for i, new_slot, tu, tslot, _kind in fixups:
        target = placed[tu] + tslot - tu.start
        out[i] = out[i].replace(imm=target - (new_slot + 1))
    pbtf = ProgramBtf(btf, finfo, raw_lines) if btf is not None else None
    return out, lines, finfo, pbtf


def relocated_maps(insns: list[isa.Insn]) -> list[tuple[int, MapRef]]:
    """(slot, MapRef) of every LDDW the loader left for the backend to resolve."""
    return [(s, i.ref) for s, i in isa.iter_slots(insns) if isinstance(i.ref, MapRef)]
