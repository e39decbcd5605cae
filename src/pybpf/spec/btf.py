"""BTF and BTF.ext: the type information clang emits for eBPF objects.

Layouts from include/uapi/linux/btf.h (``struct btf_header``, ``struct
btf_type`` and the per-kind trailers) and, for ``.BTF.ext``, from libbpf's
libbpf_internal.h (``struct btf_ext_header``, func_info / line_info blocks
grouped by ELF section). pybpf uses BTF for three things: BTF-defined ``.maps``
(each map attribute is encoded in a member's type), typed printing of map
keys/values, and line info (which C line an instruction came from).

Every malformed input raises BtfError naming the section and byte offset.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from ..errors import BtfError

BTF_MAGIC = 0xEB9F

# kinds (BTF_KIND_*)
KIND_NAMES = (
    "UNKN",
    "INT",
    "PTR",
    "ARRAY",
    "STRUCT",
    "UNION",
    "ENUM",
    "FWD",
    "TYPEDEF",
    "VOLATILE",
    "CONST",
    "RESTRICT",
    "FUNC",
    "FUNC_PROTO",
    "VAR",
    "DATASEC",
    "FLOAT",
    "DECL_TAG",
    "TYPE_TAG",
    "ENUM64",
)
(
    BTF_KIND_UNKN,
    BTF_KIND_INT,
    BTF_KIND_PTR,
    BTF_KIND_ARRAY,
    BTF_KIND_STRUCT,
    BTF_KIND_UNION,
    BTF_KIND_ENUM,
    BTF_KIND_FWD,
    BTF_KIND_TYPEDEF,
    BTF_KIND_VOLATILE,
    BTF_KIND_CONST,
    BTF_KIND_RESTRICT,
    BTF_KIND_FUNC,
    BTF_KIND_FUNC_PROTO,
    BTF_KIND_VAR,
    BTF_KIND_DATASEC,
    BTF_KIND_FLOAT,
    BTF_KIND_DECL_TAG,
    BTF_KIND_TYPE_TAG,
    BTF_KIND_ENUM64,
) = range(20)

# INT encoding bits
BTF_INT_SIGNED = 1 << 0
BTF_INT_CHAR = 1 << 1
BTF_INT_BOOL = 1 << 2

#: kinds that only qualify or rename another type
_MODIFIERS = frozenset(
    {BTF_KIND_TYPEDEF, BTF_KIND_VOLATILE, BTF_KIND_CONST, BTF_KIND_RESTRICT, BTF_KIND_TYPE_TAG}
)
_MAX_RESOLVE_DEPTH = 32


@dataclass
class BtfMember:
    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0


@dataclass
class BtfType:
    """One type record. ``size`` for sized kinds, ``ref`` for kinds pointing at a type."""

    id: int
    kind: int
    name: str = ""
    size: int = 0
    ref: int = 0
    vlen: int = 0
    kind_flag: bool = False
    members: list[BtfMember] = field(default_factory=list)  # STRUCT/UNION/FUNC_PROTO params
    enums: list[tuple[str, int]] = field(default_factory=list)
    elem_type: int = 0  # ARRAY
    index_type: int = 0
    nelems: int = 0
    int_encoding: int = 0  # INT
    int_offset: int = 0
    int_bits: int = 0
    linkage: int = 0  # VAR, FUNC (vlen)
    secinfos: list[tuple[int, int, int]] = field(default_factory=list)  # DATASEC (type,off,size)
    component_idx: int = -1  # DECL_TAG
    pos: int = 0  # offset of the record in BTF.raw

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]


_HDR = struct.Struct("<HBBIIIII")
_TYPE = struct.Struct("<III")


class BTF:
    """A parsed ``.BTF`` section: types by id (0 is void) and the string table."""

    def __init__(self, raw: bytes, types: list[BtfType], strings: bytes, *, section: str = ".BTF"):
        self.raw = raw
        self.types = types
        self.strings = strings
        self.section = section
        self._by_name: dict[str, list[int]] = {}
        for t in types[1:]:
            if t.name:
                self._by_name.setdefault(t.name, []).append(t.id)

    # ---- parsing --------------------------------------------------------------------------
    @classmethod
    def parse(cls, data: bytes, *, section: str = ".BTF") -> BTF:
        data = bytes(data)

        def err(msg: str, off: int) -> BtfError:
            return BtfError(msg, where=f"section {section} offset {off:#x}")

        if len(data) < _HDR.size:
            raise err(f"truncated header ({len(data)} bytes)", 0)
        magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = _HDR.unpack_from(
            data
        )
        if magic != BTF_MAGIC:
            if magic == 0x9FEB:
                raise err("big-endian BTF is not supported", 0)
            raise err(f"bad magic {magic:#06x} (expected {BTF_MAGIC:#06x})", 0)
        if version != 1:
            raise err(f"unsupported BTF version {version}", 2)
        if hdr_len < _HDR.size or hdr_len > len(data):
            raise err(f"bad header length {hdr_len}", 4)
        body = len(data) - hdr_len
        if type_off + type_len > body or type_off % 4:
            raise err(
                f"type section {type_off:#x}+{type_len:#x} outside the {body:#x}-byte body", 8
            )
        if str_off + str_len > body:
            raise err(
                f"string section {str_off:#x}+{str_len:#x} outside the {body:#x}-byte body", 16
            )
        strings = data[hdr_len + str_off : hdr_len + str_off + str_len]
        if str_len and (strings[0] != 0 or strings[-1] != 0):
            raise err("string table must start and end with NUL", hdr_len + str_off)

        def name_at(off: int, where: int) -> str:
            if off >= len(strings) and not (off == 0 and not strings):
                raise err(f"name offset {off:#x} outside the string table", where)
            end = strings.find(b"\0", off)
            return strings[off:end].decode("utf-8", "replace")

        types: list[BtfType] = [BtfType(0, BTF_KIND_UNKN, "void")]
        pos = hdr_len + type_off
        end = pos + type_len
        while pos < end:
            here = pos
            if pos + 12 > end:
                raise err("truncated type record", here)
            name_off, info, size_type = _TYPE.unpack_from(data, pos)
            pos += 12
            kind = (info >> 24) & 0x1F
            vlen = info & 0xFFFF
            kflag = bool(info >> 31)
            if kind == 0 or kind >= len(KIND_NAMES):
                raise err(f"type [{len(types)}]: unknown kind {kind}", here)
            t = BtfType(
                len(types), kind, name_at(name_off, here), vlen=vlen, kind_flag=kflag, pos=here
            )
            if kind in (
                BTF_KIND_INT,
                BTF_KIND_STRUCT,
                BTF_KIND_UNION,
                BTF_KIND_ENUM,
                BTF_KIND_DATASEC,
                BTF_KIND_FLOAT,
                BTF_KIND_ENUM64,
            ):
                t.size = size_type
            else:
                t.ref = size_type

            trailer = {
                BTF_KIND_INT: 4,
                BTF_KIND_ARRAY: 12,
                BTF_KIND_STRUCT: 12 * vlen,
                BTF_KIND_UNION: 12 * vlen,
                BTF_KIND_ENUM: 8 * vlen,
                BTF_KIND_ENUM64: 12 * vlen,
                BTF_KIND_FUNC_PROTO: 8 * vlen,
                BTF_KIND_VAR: 4,
                BTF_KIND_DATASEC: 12 * vlen,
                BTF_KIND_DECL_TAG: 4,
            }.get(kind, 0)
            if pos + trailer > end:
                raise err(f"type [{t.id}] {KIND_NAMES[kind]}: truncated trailer", here)
            if kind == BTF_KIND_INT:
                (v,) = struct.unpack_from("<I", data, pos)
                pos += 4
                t.int_encoding, t.int_offset, t.int_bits = (
                    (v >> 24) & 0xF,
                    (v >> 16) & 0xFF,
                    v & 0xFF,
                )
            elif kind == BTF_KIND_ARRAY:
                t.elem_type, t.index_type, t.nelems = struct.unpack_from("<III", data, pos)
                pos += 12
            elif kind in (BTF_KIND_STRUCT, BTF_KIND_UNION):
                for _ in range(vlen):
                    mn, mt, moff = struct.unpack_from("<III", data, pos)
                    if kflag:
                        t.members.append(
                            BtfMember(name_at(mn, pos), mt, moff & 0xFFFFFF, moff >> 24)
                        )
                    else:
                        t.members.append(BtfMember(name_at(mn, pos), mt, moff))
                    pos += 12
            elif kind == BTF_KIND_ENUM:
                for _ in range(vlen):
                    en, ev = struct.unpack_from("<Ii" if kflag else "<II", data, pos)
                    t.enums.append((name_at(en, pos), ev))
                    pos += 8
            elif kind == BTF_KIND_ENUM64:
                for _ in range(vlen):
                    en, lo, hi = struct.unpack_from("<III", data, pos)
                    v = (hi << 32) | lo
                    if kflag and v >> 63:
                        v -= 1 << 64
                    t.enums.append((name_at(en, pos), v))
                    pos += 12
            elif kind == BTF_KIND_FUNC_PROTO:
                for _ in range(vlen):
                    pn, pt = struct.unpack_from("<II", data, pos)
                    t.members.append(BtfMember(name_at(pn, pos), pt, 0))
                    pos += 8
            elif kind == BTF_KIND_FUNC:
                t.linkage = vlen
            elif kind == BTF_KIND_VAR:
                (t.linkage,) = struct.unpack_from("<I", data, pos)
                pos += 4
            elif kind == BTF_KIND_DATASEC:
                for _ in range(vlen):
                    t.secinfos.append(struct.unpack_from("<III", data, pos))
                    pos += 12
            elif kind == BTF_KIND_DECL_TAG:
                (t.component_idx,) = struct.unpack_from("<i", data, pos)
                pos += 4
            types.append(t)
        btf = cls(data, types, strings, section=section)
        btf._check_refs()
        return btf

    def _check_refs(self) -> None:
        n = len(self.types)
        for t in self.types[1:]:
            refs = [t.ref]
            if t.kind == BTF_KIND_ARRAY:
                refs = [t.elem_type, t.index_type]
            elif t.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_FUNC_PROTO):
                refs = [m.type for m in t.members] + (
                    [t.ref] if t.kind == BTF_KIND_FUNC_PROTO else []
                )
            elif t.kind == BTF_KIND_DATASEC:
                refs = [s[0] for s in t.secinfos]
            for r in refs:
                if r >= n:
                    raise BtfError(
                        f"type [{t.id}] {t.kind_name} refers to type [{r}] "
                        f"beyond the last type [{n - 1}]",
                        where=f"section {self.section}",
                    )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BTF) and self.raw == other.raw

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<BTF {len(self.types) - 1} types, {len(self.strings)} bytes of strings>"

    def fixup_datasecs(self, sizes: dict[str, int], offsets: dict[tuple[str, str], int]) -> None:
        """Fill in what clang leaves zero in an object: DATASEC sizes and variable offsets.

        libbpf does the same (btf_fixup_datasec) from the ELF section sizes and
        symbol values before loading BTF; the kernel wants the variables sorted
        by offset. ``offsets`` maps (section name, variable name) to offset.
        """
        raw = bytearray(self.raw)
        for t in self.types:
            if t.kind != BTF_KIND_DATASEC:
                continue
            if t.size == 0 and t.name in sizes:
                t.size = sizes[t.name]
                struct.pack_into("<I", raw, t.pos + 8, t.size)
            fixed = []
            for ti, off, sz in t.secinfos:
                var = self.types[ti] if ti < len(self.types) else None
                if var is not None and var.kind == BTF_KIND_VAR:
                    off = offsets.get((t.name, var.name), off)
                fixed.append((ti, off, sz))
            fixed.sort(key=lambda x: x[1])
            t.secinfos = fixed
            for i, rec in enumerate(fixed):
                struct.pack_into("<III", raw, t.pos + 12 + 12 * i, *rec)
        self.raw = bytes(raw)

    # ---- lookups --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.types)

    def type(self, type_id: int) -> BtfType:
        if not 0 <= type_id < len(self.types):
            raise BtfError(f"no BTF type [{type_id}]", where=f"section {self.section}")
        return self.types[type_id]

    def string(self, off: int) -> str:
        if off >= len(self.strings) and off:
            raise BtfError(
                f"string offset {off:#x} outside the string table", where=f"section {self.section}"
            )
        end = self.strings.find(b"\0", off)
        return self.strings[off : end if end >= 0 else None].decode("utf-8", "replace")

    def find(self, name: str, kind: int | None = None) -> int | None:
        """The first type id named ``name`` (of ``kind`` when given), or None."""
        for tid in self._by_name.get(name, ()):
            if kind is None or self.types[tid].kind == kind:
                return tid
        return None

    def resolve(self, type_id: int) -> BtfType:
        """Skip typedefs and qualifiers."""
        t = self.type(type_id)
        for _ in range(_MAX_RESOLVE_DEPTH):
            if t.kind not in _MODIFIERS:
                return t
            t = self.type(t.ref)
        raise BtfError(
            f"type [{type_id}]: modifier chain too long or looping", where=f"section {self.section}"
        )

    def size(self, type_id: int) -> int:
        """sizeof the type (resolving typedefs, arrays, pointers as 8 bytes)."""
        t = self.resolve(type_id)
        for _ in range(_MAX_RESOLVE_DEPTH):
            if t.kind in (
                BTF_KIND_INT,
                BTF_KIND_STRUCT,
                BTF_KIND_UNION,
                BTF_KIND_ENUM,
                BTF_KIND_ENUM64,
                BTF_KIND_FLOAT,
                BTF_KIND_DATASEC,
            ):
                return t.size
            if t.kind == BTF_KIND_PTR:
                return 8
            if t.kind == BTF_KIND_ARRAY:
                return t.nelems * self.size(t.elem_type)
            if t.kind == BTF_KIND_VAR:
                t = self.resolve(t.ref)
                continue
            raise BtfError(
                f"type [{type_id}] {t.kind_name} has no size", where=f"section {self.section}"
            )
        raise BtfError(f"type [{type_id}]: cannot size", where=f"section {self.section}")

    def type_str(self, type_id: int, _depth: int = 0) -> str:
        """A C-like spelling of the type: ``__u32``, ``struct pair``, ``long *``, ``int[4]``."""
        if _depth > _MAX_RESOLVE_DEPTH:
            return "..."
        t = self.type(type_id)
        k = t.kind
        if type_id == 0:
            return "void"
        if k in (BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_ENUM, BTF_KIND_ENUM64):
            word = {BTF_KIND_STRUCT: "struct", BTF_KIND_UNION: "union"}.get(k, "enum")
            return f"{word} {t.name}" if t.name else f"{word} {{...}}"
        if k == BTF_KIND_FWD:
            return f"{'union' if t.kind_flag else 'struct'} {t.name}"
        if k == BTF_KIND_PTR:
            return self.type_str(t.ref, _depth + 1) + " *"
        if k == BTF_KIND_ARRAY:
            return f"{self.type_str(t.elem_type, _depth + 1)}[{t.nelems}]"
        if k in (BTF_KIND_CONST, BTF_KIND_VOLATILE, BTF_KIND_RESTRICT):
            return f"{KIND_NAMES[k].lower()} {self.type_str(t.ref, _depth + 1)}"
        if k == BTF_KIND_TYPE_TAG:
            return self.type_str(t.ref, _depth + 1)
        if k == BTF_KIND_FUNC_PROTO:
            args = ", ".join(self.type_str(m.type, _depth + 1) for m in t.members)
            return f"{self.type_str(t.ref, _depth + 1)} (*)({args})"
        return t.name or KIND_NAMES[k].lower()

    # ---- values ---------------------------------------------------------------------------
    def value(self, type_id: int, data: bytes, _depth: int = 0) -> Any:
        """Decode ``data`` as the type: int/bool/float, dict for structs, list for arrays."""
        if _depth > _MAX_RESOLVE_DEPTH:
            raise BtfError(f"type [{type_id}] nests too deeply", where=f"section {self.section}")
        t = self.resolve(type_id)
        k = t.kind
        if k == BTF_KIND_VAR:
            return self.value(t.ref, data, _depth + 1)
        if k == BTF_KIND_INT:
            n = t.size
            v = int.from_bytes(data[:n], "little", signed=bool(t.int_encoding & BTF_INT_SIGNED))
            if t.int_encoding & BTF_INT_BOOL:
                return bool(v)
            return v
        if k in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
            signed = t.kind_flag
            v = int.from_bytes(data[: t.size], "little", signed=signed)
            return v
        if k == BTF_KIND_PTR:
            return int.from_bytes(data[:8], "little")
        if k == BTF_KIND_FLOAT:
            fmt = {4: "<f", 8: "<d"}.get(t.size)
            return struct.unpack(fmt, data[: t.size])[0] if fmt else bytes(data[: t.size])
        if k == BTF_KIND_ARRAY:
            es = self.size(t.elem_type)
            et = self.resolve(t.elem_type)
            if et.kind == BTF_KIND_INT and et.size == 1 and et.int_encoding & BTF_INT_CHAR:
                return bytes(data[: t.nelems]).split(b"\0", 1)[0].decode("latin-1")
            return [
                self.value(t.elem_type, data[i * es : (i + 1) * es], _depth + 1)
                for i in range(t.nelems)
            ]
        if k in (BTF_KIND_STRUCT, BTF_KIND_UNION):
            out: dict[str, Any] = {}
            for i, m in enumerate(t.members):
                name = m.name or f"__anon{i}"
                if m.bitfield_size:
                    raw = int.from_bytes(data[: t.size], "little")
                    out[name] = (raw >> m.bit_offset) & ((1 << m.bitfield_size) - 1)
                    continue
                mt = self.resolve(m.type)
                if mt.kind == BTF_KIND_INT and mt.int_bits and mt.int_bits != mt.size * 8:
                    raw = int.from_bytes(data[: t.size], "little")
                    out[name] = (raw >> (m.bit_offset + mt.int_offset)) & ((1 << mt.int_bits) - 1)
                    continue
                off = m.bit_offset // 8
                sz = self.size(m.type)
                out[name] = self.value(m.type, data[off : off + sz], _depth + 1)
            return out
        if k == BTF_KIND_DATASEC:
            return {
                self.type(ti).name: self.value(ti, data[o : o + s], _depth + 1)
                for ti, o, s in t.secinfos
            }
        return bytes(data)

    def format(self, type_id: int, data: bytes) -> str:
        """A C-initializer-like rendering: ``{.packets = 3, .bytes = 180}``, ``[1, 2]``."""
        return _fmt(self.value(type_id, data))


def _fmt(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f".{k} = {_fmt(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


# ---- .BTF.ext ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FuncInfo:
    insn_off: int  # byte offset in the ELF section
    type_id: int


@dataclass(frozen=True)
class LineRecord:
    insn_off: int  # byte offset in the ELF section
    file: str
    line: int
    col: int
    text: str
    #: the raw record fields, as the kernel's struct bpf_line_info wants them
    file_name_off: int = 0
    line_off: int = 0
    line_col: int = 0


@dataclass(frozen=True)
class CoreRelo:
    """A CO-RE relocation (struct bpf_core_relo): what the instruction at ``insn_off`` needs
    recomputed against the target kernel's types. ``access`` is the access string
    ("0:1:2": an index into the root type, then member or element indexes)."""

    insn_off: int  # byte offset in the ELF section
    type_id: int  # the root type, in the object's BTF
    access: str
    kind: int  # enum bpf_core_relo_kind


@dataclass
class BtfExt:
    """func_info, line_info and CO-RE relocations of a ``.BTF.ext`` section, by ELF section."""

    func_info: dict[str, list[FuncInfo]] = field(default_factory=dict)
    line_info: dict[str, list[LineRecord]] = field(default_factory=dict)
    core_relo: dict[str, list[CoreRelo]] = field(default_factory=dict)
    func_info_rec_size: int = 8
    line_info_rec_size: int = 16

    @classmethod
    def parse(cls, data: bytes, btf: BTF, *, section: str = ".BTF.ext") -> BtfExt:
        data = bytes(data)

        def err(msg: str, off: int) -> BtfError:
            return BtfError(msg, where=f"section {section} offset {off:#x}")

        if len(data) < 24:
            raise err(f"truncated header ({len(data)} bytes)", 0)
        magic, version, _flags, hdr_len = struct.unpack_from("<HBBI", data)
        if magic != BTF_MAGIC:
            raise err(f"bad magic {magic:#06x}", 0)
        if version != 1:
            raise err(f"unsupported version {version}", 2)
        if hdr_len < 24 or hdr_len > len(data):
            raise err(f"bad header length {hdr_len}", 4)
        fi_off, fi_len, li_off, li_len = struct.unpack_from("<IIII", data, 8)
        ext = cls()

        def blocks(off: int, length: int, min_rec: int, what: str):
            start = hdr_len + off
            if length == 0:
                return ext_rec(0), []
            if start + length > len(data) or length < 4:
                raise err(f"{what} {off:#x}+{length:#x} outside the section", start)
            (rec_size,) = struct.unpack_from("<I", data, start)
            if rec_size < min_rec or rec_size % 4:
                raise err(f"{what} record size {rec_size} is invalid", start)
            out = []
            pos, end = start + 4, start + length
            while pos < end:
                if pos + 8 > end:
                    raise err(f"{what}: truncated block header", pos)
                sec_off, num = struct.unpack_from("<II", data, pos)
                if num == 0:
                    raise err(f"{what}: empty block", pos)
                try:
                    sec = btf.string(sec_off)
                except BtfError:
                    raise err(
                        f"{what}: section name offset {sec_off:#x} is outside the BTF strings", pos
                    ) from None
                pos += 8
                if pos + num * rec_size > end:
                    raise err(f"{what}: {num} records of {rec_size} bytes overrun the section", pos)
                recs = [(pos + i * rec_size) for i in range(num)]
                out.append((sec, recs))
                pos += num * rec_size
            return rec_size, out

        def ext_rec(n: int) -> int:
            return n

        ext.func_info_rec_size, fblocks = blocks(fi_off, fi_len, 8, "func_info")
        for sec, recs in fblocks:
            lst = ext.func_info.setdefault(sec, [])
            for p in recs:
                off, tid = struct.unpack_from("<II", data, p)
                lst.append(FuncInfo(off, tid))
        ext.line_info_rec_size, lblocks = blocks(li_off, li_len, 16, "line_info")
        for sec, recs in lblocks:
            lst2 = ext.line_info.setdefault(sec, [])
            for p in recs:
                off, file_off, line_off, line_col = struct.unpack_from("<IIII", data, p)
                try:
                    fname, text = btf.string(file_off), btf.string(line_off)
                except BtfError:
                    raise err("line_info: string offset outside the BTF strings", p) from None
                lst2.append(
                    LineRecord(
                        off,
                        fname,
                        line_col >> 10,
                        line_col & 0x3FF,
                        text,
                        file_off,
                        line_off,
                        line_col,
                    )
                )
        if hdr_len >= 32:  # the CO-RE relocation block came with LLVM 11 (libbpf_internal.h)
            co_off, co_len = struct.unpack_from("<II", data, 24)
            _rec, cblocks = blocks(co_off, co_len, 16, "core_relo")
            for sec, recs in cblocks:
                lst3 = ext.core_relo.setdefault(sec, [])
                for p in recs:
                    off, tid, acc_off, kind = struct.unpack_from("<IIII", data, p)
                    try:
                        access = btf.string(acc_off)
                    except BtfError:
                        raise err("core_relo: access string outside the BTF strings", p) from None
                    if not 0 < tid < len(btf.types):
                        raise err(f"core_relo: type [{tid}] is not in the BTF", p)
                    lst3.append(CoreRelo(off, tid, access, kind))
        return ext
