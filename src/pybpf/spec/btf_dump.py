"""BTF -> C: the types of a BTF blob as a C header (how a vmlinux.h is made).

``pybpf btf dump /sys/kernel/btf/vmlinux`` prints every struct, union, enum
and typedef of the running kernel so that a program can ``#include
"vmlinux.h"`` instead of kernel headers -- what ``bpftool btf dump file ...
format c`` does (libbpf's btf_dump.c). The rules that make the output compile
to the same layouts:

* order: a type is printed after everything it needs complete (a struct after
  the structs it contains by value, a typedef after what it names when that
  is an array); a struct only pointed to gets a forward declaration;
* anonymous structs, unions and enums are printed inline where they are used;
  an anonymous enum nothing uses is printed on its own (its enumerators are
  the constants);
* layout: BTF gives every member's bit offset but no alignment. A member the
  compiler would place elsewhere gets explicit padding before it (unnamed
  bitfields), a struct whose members or size defy natural alignment is
  ``__attribute__((packed))``, and an enum of other than 4 bytes gets a
  ``mode`` attribute;
* names: a name defined twice (two CUs' ``struct console``) is printed as
  ``name___2`` the second time, which CO-RE relocations treat as the same name.

Every struct of the kernel gets ``preserve_access_index`` (the pragma at the
top), so a program's field accesses become CO-RE relocations, as with bpftool.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import BtfError
from .btf import (
    BTF,
    BTF_KIND_ARRAY,
    BTF_KIND_CONST,
    BTF_KIND_DATASEC,
    BTF_KIND_DECL_TAG,
    BTF_KIND_ENUM,
    BTF_KIND_ENUM64,
    BTF_KIND_FLOAT,
    BTF_KIND_FUNC,
    BTF_KIND_FUNC_PROTO,
    BTF_KIND_FWD,
    BTF_KIND_INT,
    BTF_KIND_PTR,
    BTF_KIND_RESTRICT,
    BTF_KIND_STRUCT,
    BTF_KIND_TYPE_TAG,
    BTF_KIND_TYPEDEF,
    BTF_KIND_UNION,
    BTF_KIND_VAR,
    BTF_KIND_VOLATILE,
    BtfType,
)

PTR_SIZE = 8
_QUALS = {BTF_KIND_CONST: "const", BTF_KIND_VOLATILE: "volatile", BTF_KIND_RESTRICT: "restrict"}
_MODIFIERS = (BTF_KIND_CONST, BTF_KIND_VOLATILE, BTF_KIND_RESTRICT, BTF_KIND_TYPE_TAG)
_TAGGED = (BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_ENUM, BTF_KIND_ENUM64, BTF_KIND_FWD)
_NOT_C = (BTF_KIND_FUNC, BTF_KIND_VAR, BTF_KIND_DATASEC, BTF_KIND_DECL_TAG)
#: enum sizes other than int's, as a mode attribute
_ENUM_MODE = {1: "byte", 2: "HI", 8: "DI"}
#: unnamed bitfields that fill a gap, widest first: (type, bits)
_PADS = (("long", 64), ("int", 32), ("short", 16), ("char", 8))

HEADER = """#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif
"""
FOOTER = """
#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
"""


class CDumper:
    """Prints the types of one BTF as C (see the module docstring for the rules)."""

    def __init__(self, btf: BTF):
        self.btf = btf
        self.types = btf.types
        self._align: dict[int, int] = {}
        self._packed: dict[int, bool] = {}
        self._names = self._assign_names()
        self._enum_names = self._assign_enumerator_names()
        self._done: set[int] = set()  # definitions printed or being printed
        self._printed: set[int] = set()  # definitions printed
        self._declared: set[int] = set()  # forward declarations printed
        self._out: list[str] = []

    # ---- names ------------------------------------------------------------------------------
    def _assign_names(self) -> dict[int, str]:
        """The printed name of every named type: ``name``, then ``name___2`` ... for repeats."""
        tags: dict[str, int] = {}
        idents: dict[str, int] = {}
        out: dict[int, str] = {}
        for t in self.types[1:]:
            if not t.name or t.kind in _NOT_C:
                continue
            if t.kind == BTF_KIND_FWD:
                out[t.id] = t.name
                continue
            if t.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_ENUM, BTF_KIND_ENUM64):
                seen = tags
            elif t.kind == BTF_KIND_TYPEDEF:
                seen = idents
            else:
                out[t.id] = t.name
                continue
            n = seen.get(t.name, 0) + 1
            seen[t.name] = n
            out[t.id] = t.name if n == 1 else f"{t.name}___{n}"
        return out

    def _assign_enumerator_names(self) -> dict[tuple[int, int], str]:
        seen: dict[str, int] = {}
        out: dict[tuple[int, int], str] = {}
        for t in self.types[1:]:
            if t.kind in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
                for i, (name, _v) in enumerate(t.enums):
                    n = seen.get(name, 0) + 1
                    seen[name] = n
                    out[(t.id, i)] = name if n == 1 else f"{name}___{n}"
        return out

    def name(self, tid: int) -> str:
        return self._names.get(tid, self.types[tid].name)

    # ---- layout -----------------------------------------------------------------------------
    def align(self, tid: int) -> int:
        """The alignment the compiler will give the printed type."""
        if tid in self._align:
            return self._align[tid]
        t = self.types[tid]
        k = t.kind
        if k in (BTF_KIND_INT, BTF_KIND_FLOAT, BTF_KIND_ENUM, BTF_KIND_ENUM64):
            a = min(max(t.size, 1), 8)
        elif k == BTF_KIND_PTR:
            a = PTR_SIZE
        elif k == BTF_KIND_ARRAY:
            a = self.align(t.elem_type)
        elif k in (BTF_KIND_STRUCT, BTF_KIND_UNION):
            a = 1 if self.packed(tid) else self._natural_align(t)
        elif k in (BTF_KIND_TYPEDEF, *_MODIFIERS):
            a = self.align(t.ref)
        else:
            a = 1
        self._align[tid] = a
        return a

    def _natural_align(self, t: BtfType) -> int:
        return max([1] + [self.align(m.type) for m in t.members])

    def packed(self, tid: int) -> bool:
        """Whether the struct defies natural alignment (a member off its alignment, or its size)."""
        if tid in self._packed:
            return self._packed[tid]
        t = self.types[tid]
        a = self._natural_align(t)
        res = t.size % a != 0 or any(
            not m.bitfield_size and m.bit_offset % (8 * self.align(m.type)) for m in t.members
        )
        self._packed[tid] = res
        return res

    def size(self, tid: int) -> int:
        return self.btf.size(tid)

    # ---- ordering ---------------------------------------------------------------------------
    def require(self, tid: int, complete: bool) -> None:
        """Print what must come before a use of ``tid`` (``complete``: a use by value)."""
        t = self.types[tid]
        k = t.kind
        if tid == 0 or k in (BTF_KIND_INT, BTF_KIND_FLOAT):
            return
        if k == BTF_KIND_PTR:
            self.require(t.ref, False)
        elif k in _MODIFIERS:
            self.require(t.ref, complete)
        elif k == BTF_KIND_ARRAY:
            self.require(t.elem_type, complete)
        elif k == BTF_KIND_FUNC_PROTO:
            self.require(t.ref, False)
            for p in t.members:
                self.require(p.type, False)
        elif k in (BTF_KIND_STRUCT, BTF_KIND_UNION):
            if not t.name:
                for m in t.members:
                    self.require(m.type, True)
            elif complete:
                self.define(tid)
            else:
                self.declare(tid)
        elif k in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
            if t.name:
                self.define(tid)
        elif k == BTF_KIND_TYPEDEF:
            if _builtin(t):
                self.require(t.ref, complete)
                return
            self.define(tid)
            if complete:
                self.require(t.ref, True)
        elif k == BTF_KIND_FWD:
            self.declare(tid)

    def declare(self, tid: int) -> None:
        if tid in self._printed or tid in self._declared:
            return
        self._declared.add(tid)
        t = self.types[tid]
        word = (
            "union"
            if (t.kind == BTF_KIND_UNION or (t.kind == BTF_KIND_FWD and t.kind_flag))
            else "struct"
        )
        self._out.append(f"{word} {self.name(tid)};\n\n")

    def define(self, tid: int) -> None:
        """Print the definition of a named struct, union or enum, or a typedef (once)."""
        if tid in self._done:
            return
        self._done.add(tid)
        t = self.types[tid]
        if t.kind == BTF_KIND_TYPEDEF:
            if _builtin(t):
                return
            target = self.btf.resolve(t.ref) if t.ref else self.types[0]
            inline = target.id and not target.name and target.kind in (*_TAGGED, BTF_KIND_ARRAY)
            self.require(t.ref, bool(inline) or self._is_array(t.ref))
            self._out.append(f"typedef {self.decl(t.ref, self.name(tid), 0)};\n\n")
        elif t.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION):
            for m in t.members:
                self.require(m.type, True)
            self._out.append(self.composite(tid, 0) + ";\n\n")
        elif t.kind in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
            self._out.append(self.enum(tid, 0) + ";\n\n")
        self._printed.add(tid)

    def _is_array(self, tid: int) -> bool:
        t = self.types[tid]
        while t.kind in _MODIFIERS:
            t = self.types[t.ref]
        return t.kind == BTF_KIND_ARRAY

    # ---- printing ---------------------------------------------------------------------------
    def enum(self, tid: int, level: int) -> str:
        t = self.types[tid]
        head = f"enum {self.name(tid)}" if t.name else "enum"
        if not t.enums:
            return head
        ind = "\t" * (level + 1)
        lines = []
        unsigned64 = t.kind == BTF_KIND_ENUM64 and not t.kind_flag
        for i, (_n, v) in enumerate(t.enums):
            val = f"{v}ULL" if unsigned64 and v > 0x7FFFFFFFFFFFFFFF else str(v)
            if t.kind == BTF_KIND_ENUM64 and not unsigned64 and v < -0x7FFFFFFFFFFFFFFF:
                val = f"{v}LL"
            lines.append(f"{ind}{self._enum_names[(tid, i)]} = {val},")
        text = head + " {\n" + "\n".join(lines) + "\n" + "\t" * level + "}"
        fits_int = all(-(1 << 31) <= v < (1 << 32) for _n, v in t.enums)
        if t.size != 4 and t.size in _ENUM_MODE and (t.size != 8 or fits_int):
            text += f" __attribute__((mode({_ENUM_MODE[t.size]})))"
        return text

    def composite(self, tid: int, level: int) -> str:
        t = self.types[tid]
        is_union = t.kind == BTF_KIND_UNION
        word = "union" if is_union else "struct"
        head = f"{word} {self.name(tid)}" if t.name else word
        packed = self.packed(tid)
        ind = "\t" * (level + 1)
        lines: list[str] = []
        cur = 0  # bit offset where the compiler's next member would go, before alignment
        for m in t.members:
            mt = self.btf.resolve(m.type)
            width = m.bitfield_size
            if not is_union:
                natural = self._place(cur, m.type, width, packed)
                if m.bit_offset != natural:
                    if m.bit_offset < cur:
                        raise BtfError(
                            f"type [{tid}] {word} {t.name or '(anon)'}: member {m.name!r} "
                            "overlaps the previous one",
                            where=f"section {self.btf.section}",
                        )
                    lines += self._padding(cur, m.bit_offset, ind)
                    cur = m.bit_offset
            decl = self.decl(m.type, m.name, level + 1)
            if width:
                decl += f": {width}"
            lines.append(f"{ind}{decl};")
            if not is_union:
                cur = m.bit_offset + (width if width else 8 * self._sized(mt.id))
        a = 1 if packed else self._natural_align(t)
        if not is_union:
            end = -(-cur // (8 * a)) * 8 * a
            if t.size * 8 > end:
                lines += self._padding(cur, t.size * 8, ind)
        else:
            widest = max([0] + [8 * self._sized(self.btf.resolve(m.type).id) for m in t.members])
            if t.size * 8 > -(-widest // (8 * a)) * 8 * a:
                # members that lost their types (a transparent union) or a larger alignment:
                # an unnamed struct of padding gives the union its size
                pad = self._padding(0, t.size * 8, ind + "\t")
                lines.append(f"{ind}struct {{\n" + "\n".join(pad) + f"\n{ind}}};")
        body = " {\n" + "\n".join(lines) + "\n" + "\t" * level + "}" if lines else " {}"
        return head + body + (" __attribute__((packed))" if packed else "")

    def _sized(self, tid: int) -> int:
        t = self.types[tid]
        if t.kind == BTF_KIND_FWD or t.kind == BTF_KIND_FUNC_PROTO:
            return 0
        return self.size(tid)

    def _place(self, cur: int, tid: int, width: int, packed: bool) -> int:
        """Where the compiler puts a member of ``tid`` (a ``width``-bit bitfield) after ``cur``."""
        if packed:
            return cur
        if not width:
            a = 8 * self.align(tid)
            return -(-cur // a) * a
        unit = 8 * self.size(tid)
        if cur // unit == (cur + width - 1) // unit:
            return cur
        return -(-cur // unit) * unit

    @staticmethod
    def _padding(cur: int, to: int, ind: str) -> list[str]:
        """Unnamed bitfields that move the next member from bit ``cur`` to bit ``to``."""
        out = []
        while cur < to:
            gap = to - cur
            fits = [(nm, b) for nm, b in _PADS if cur % b == 0 and gap >= b]
            if fits:
                name, n = fits[0]
            else:  # up to the next byte (or the end), inside the byte that holds cur
                name, n = "char", min(gap, 8 - cur % 8) if cur % 8 else min(gap, 8)
            out.append(f"{ind}{name}: {n};")
            cur += n
        return out

    def decl(self, tid: int, inner: str, level: int) -> str:
        """The C declaration of ``inner`` (a name, or a declarator) as type ``tid``."""
        t = self.types[tid]
        k = t.kind
        if tid == 0:
            return _join("void", inner)
        if k in (BTF_KIND_INT, BTF_KIND_FLOAT):
            return _join(t.name, inner)
        if k == BTF_KIND_TYPEDEF:
            if _builtin(t):  # spelled out: the BPF target's __builtin_va_list is not x86's
                return self.decl(t.ref, inner, level)
            return _join(self.name(tid), inner)
        if k == BTF_KIND_FWD:
            word = "union" if t.kind_flag else "struct"
            return _join(f"{word} {self.name(tid)}", inner)
        if k in (BTF_KIND_STRUCT, BTF_KIND_UNION):
            if t.name:
                word = "union" if k == BTF_KIND_UNION else "struct"
                return _join(f"{word} {self.name(tid)}", inner)
            return _join(self.composite(tid, level), inner)
        if k in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
            if t.name:
                return _join(f"enum {self.name(tid)}", inner)
            return _join(self.enum(tid, level), inner)
        if k in _MODIFIERS:
            quals = []
            while t.kind in _MODIFIERS:
                if t.kind in _QUALS and _QUALS[t.kind] not in quals:
                    quals.append(_QUALS[t.kind])
                t = self.types[t.ref]
            if t.kind == BTF_KIND_PTR:  # the qualifiers apply to the pointer itself
                return self._pointer(t, f"{' '.join(quals)} {inner}".strip(), level)
            if t.kind == BTF_KIND_ARRAY:  # a qualified array is an array of qualified elements
                quals = [q for q in quals if q not in self._element_quals(t)]
            base = self.decl(t.id, inner, level)
            if not quals or t.kind == BTF_KIND_FUNC_PROTO:
                return base
            return f"{' '.join(quals)} {base}"
        if k == BTF_KIND_PTR:
            return self._pointer(t, inner, level)
        if k == BTF_KIND_ARRAY:
            return self.decl(t.elem_type, f"{inner}[{t.nelems}]", level)
        if k == BTF_KIND_FUNC_PROTO:
            params = []
            for p in t.members:
                params.append("..." if p.type == 0 else self.decl(p.type, "", level))
            return self.decl(t.ref, f"{inner}({', '.join(params) or 'void'})", level)
        raise BtfError(f"type [{tid}] {t.kind_name} has no C spelling", where=self.btf.section)

    def _element_quals(self, t: BtfType) -> set[str]:
        while t.kind == BTF_KIND_ARRAY:
            t = self.types[t.elem_type]
        out = set()
        while t.kind in _MODIFIERS:
            if t.kind in _QUALS:
                out.add(_QUALS[t.kind])
            t = self.types[t.ref]
        return out

    def _pointer(self, ptr: BtfType, inner: str, level: int) -> str:
        target = self.types[ptr.ref]
        while target.kind in _MODIFIERS:
            target = self.types[target.ref]
        star = f"*{inner}"
        if target.kind in (BTF_KIND_ARRAY, BTF_KIND_FUNC_PROTO):
            star = f"({star})"
        return self.decl(ptr.ref, star, level)

    # ---- the whole file ---------------------------------------------------------------------
    def _used(self) -> set[int]:
        """Type ids some printed type refers to (an anonymous enum among them is printed inline)."""
        used: set[int] = set()
        for t in self.types[1:]:
            if t.kind in _NOT_C:
                continue
            if t.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_FUNC_PROTO):
                used.update(m.type for m in t.members)
                if t.kind == BTF_KIND_FUNC_PROTO:
                    used.add(t.ref)
            elif t.kind == BTF_KIND_ARRAY:
                used.add(t.elem_type)
            elif t.ref:
                used.add(t.ref)
        return used

    def chunks(self) -> Iterator[str]:
        yield HEADER + "\n"
        used = self._used()
        for t in self.types[1:]:
            if t.kind in _NOT_C or t.kind in (BTF_KIND_PTR, BTF_KIND_ARRAY, BTF_KIND_FUNC_PROTO):
                continue
            if t.kind in (BTF_KIND_ENUM, BTF_KIND_ENUM64) and not t.name:
                if t.id not in used:
                    self._done.add(t.id)
                    self._out.append(self.enum(t.id, 0) + ";\n\n")
            elif t.kind == BTF_KIND_FWD:
                self.declare(t.id)
            elif t.name:
                if t.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_ENUM, BTF_KIND_ENUM64):
                    self.require(t.id, True)
                elif t.kind == BTF_KIND_TYPEDEF:
                    self.define(t.id)
            if self._out:
                yield "".join(self._out)
                self._out.clear()
        yield FOOTER


def _builtin(t: BtfType) -> bool:
    """A typedef the compiler predefines (``__builtin_va_list``): never printed as such."""
    return t.name.startswith("__builtin_")


def _join(base: str, inner: str) -> str:
    return f"{base} {inner}" if inner else base


def dump_c(btf: BTF) -> str:
    """The whole BTF as a C header."""
    return "".join(CDumper(btf).chunks())


_LINKAGE = {0: "static", 1: "global", 2: "extern"}


def dump_raw(btf: BTF) -> Iterator[str]:
    """One line per type (and one per member, enumerator or variable), as bpftool's raw format."""
    for t in btf.types[1:]:
        k = t.kind
        head = f"[{t.id}] {t.kind_name} '{t.name or '(anon)'}'"
        if k == BTF_KIND_INT:
            enc = (
                "BOOL"
                if t.int_encoding & 4
                else "CHAR"
                if t.int_encoding & 2
                else "SIGNED"
                if t.int_encoding & 1
                else "(none)"
            )
            yield (
                f"{head} size={t.size} bits_offset={t.int_offset} nr_bits={t.int_bits} "
                f"encoding={enc}"
            )
        elif k in (BTF_KIND_PTR, BTF_KIND_TYPEDEF, *_MODIFIERS):
            yield f"{head} type_id={t.ref}"
        elif k == BTF_KIND_ARRAY:
            yield f"{head} type_id={t.elem_type} index_type_id={t.index_type} nr_elems={t.nelems}"
        elif k in (BTF_KIND_STRUCT, BTF_KIND_UNION):
            yield f"{head} size={t.size} vlen={t.vlen}"
            for m in t.members:
                bf = f" bitfield_size={m.bitfield_size}" if m.bitfield_size else ""
                yield f"\t'{m.name or '(anon)'}' type_id={m.type} bits_offset={m.bit_offset}{bf}"
        elif k in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
            enc = "SIGNED" if t.kind_flag else "UNSIGNED"
            yield f"{head} encoding={enc} size={t.size} vlen={t.vlen}"
            for name, v in t.enums:
                yield f"\t'{name}' val={v}"
        elif k == BTF_KIND_FWD:
            yield f"{head} fwd_kind={'union' if t.kind_flag else 'struct'}"
        elif k == BTF_KIND_FUNC:
            yield f"{head} type_id={t.ref} linkage={_LINKAGE.get(t.linkage, t.linkage)}"
        elif k == BTF_KIND_FUNC_PROTO:
            yield f"{head} ret_type_id={t.ref} vlen={t.vlen}"
            for p in t.members:
                yield f"\t'{p.name or '(anon)'}' type_id={p.type}"
        elif k == BTF_KIND_VAR:
            yield f"{head} type_id={t.ref}, linkage={_LINKAGE.get(t.linkage, t.linkage)}"
        elif k == BTF_KIND_DATASEC:
            yield f"{head} size={t.size} vlen={t.vlen}"
            for vt, off, sz in t.secinfos:
                var = btf.types[vt] if vt < len(btf.types) else None
                what = f" ({var.kind_name} '{var.name}')" if var is not None else ""
                yield f"\ttype_id={vt} offset={off} size={sz}{what}"
        elif k == BTF_KIND_FLOAT:
            yield f"{head} size={t.size}"
        elif k == BTF_KIND_DECL_TAG:
            yield f"{head} type_id={t.ref} component_idx={t.component_idx}"
        else:
            yield head


BTF_RAW_MAGIC = b"\x9f\xeb"  # 0xEB9F, little-endian


def read_btf(path: str | os.PathLike[str]) -> BTF:
    """The BTF of a file: a raw BTF blob (/sys/kernel/btf/vmlinux) or an ELF object's .BTF."""
    from .elffile import ElfFile

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise BtfError(f"cannot read {p}: {e.strerror}", errno=e.errno or None) from None
    if data[:4] == b"\x7fELF":
        elf = ElfFile(data)
        sec = elf.by_name(".BTF")
        if sec is None:
            raise BtfError(f"{p}: the object has no .BTF section (compile with -g)")
        return BTF.parse(sec.data, section=f"{p.name} .BTF")
    if data[:2] != BTF_RAW_MAGIC:
        raise BtfError(f"{p}: neither raw BTF (magic 0xeb9f) nor an ELF object")
    try:
        return BTF.parse(data, section=p.name)
    except BtfError as e:
        if "beyond the last type" in str(e) and p.parent == Path("/sys/kernel/btf"):
            raise BtfError(
                f"{p}: a kernel module's BTF extends vmlinux's (split BTF); "
                "pybpf dumps whole BTF blobs only"
            ) from None
        raise
