"""CO-RE relocations: what pybpf can honour, and a clear refusal for the rest.

A program compiled with ``__builtin_preserve_access_index`` (bpf_core_read.h,
or any struct of a bpftool-made vmlinux.h, whose types carry the
``preserve_access_index`` attribute) records in ``.BTF.ext`` which field,
type or enumerator each instruction depends on; libbpf recomputes those
numbers against the running kernel's BTF before loading
(tools/lib/bpf/relo_core.c, bpf_core_calc_relo_insn).

pybpf's target types are the kernel ABI of its own headers (linux/bpf.h,
linux/ip.h ... -- tests check them against the kernel's BTF). For a relocation
against one of those types, pybpf computes the value the kernel's layout gives,
as relo_core.c does (fields matched by name through anonymous members, the
same byte offset/size/shift arithmetic for bitfields), and accepts the
instruction when that is the value it was compiled with -- as it is whenever
the program's type is the ABI's, e.g. ``skb->len`` through vmlinux.h. Anything
else (a type pybpf does not model, such as ``struct task_struct``; a type
whose layout in the program differs from the kernel's; a kernel BTF type id)
is refused with the construct and the C line it came from.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import BtfError
from .btf import (
    BTF,
    BTF_INT_SIGNED,
    BTF_KIND_ARRAY,
    BTF_KIND_ENUM,
    BTF_KIND_ENUM64,
    BTF_KIND_FWD,
    BTF_KIND_INT,
    BTF_KIND_STRUCT,
    BTF_KIND_TYPEDEF,
    BTF_KIND_UNION,
    CoreRelo,
)

# enum bpf_core_relo_kind (include/uapi/linux/bpf.h)
FIELD_BYTE_OFFSET = 0
FIELD_BYTE_SIZE = 1
FIELD_EXISTS = 2
FIELD_SIGNED = 3
FIELD_LSHIFT_U64 = 4
FIELD_RSHIFT_U64 = 5
TYPE_ID_LOCAL = 6
TYPE_ID_TARGET = 7
TYPE_EXISTS = 8
TYPE_SIZE = 9
ENUMVAL_EXISTS = 10
ENUMVAL_VALUE = 11
TYPE_MATCHES = 12

KIND_NAMES = {
    FIELD_BYTE_OFFSET: "byte offset of",
    FIELD_BYTE_SIZE: "byte size of",
    FIELD_EXISTS: "existence of",
    FIELD_SIGNED: "signedness of",
    FIELD_LSHIFT_U64: "left shift for",
    FIELD_RSHIFT_U64: "right shift for",
    TYPE_ID_LOCAL: "local type id of",
    TYPE_ID_TARGET: "kernel type id of",
    TYPE_EXISTS: "existence of",
    TYPE_SIZE: "size of",
    ENUMVAL_EXISTS: "existence of",
    ENUMVAL_VALUE: "value of",
    TYPE_MATCHES: "match of",
}

_FIELD_KINDS = range(FIELD_BYTE_OFFSET, FIELD_RSHIFT_U64 + 1)
_TYPE_KINDS = (TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES)
_ENUM_KINDS = (ENUMVAL_EXISTS, ENUMVAL_VALUE)
_TAG_RE = re.compile(r"\b(struct|union|enum)\s+(\w+)\s*(?:__attribute__\s*\(\(.*?\)\)\s*)?\{")


class Unsupported(Exception):
    """A relocation pybpf cannot honour; the message says why."""


@lru_cache(maxsize=1)
def model_btf() -> BTF:
    """The BTF of every struct, union and enum pybpf's headers define (compiled once, cached)."""
    from .cc import INCLUDE_DIR, cache_dir, compile_c
    from .elffile import ElfFile

    headers = sorted(p.relative_to(INCLUDE_DIR).as_posix() for p in INCLUDE_DIR.glob("linux/*.h"))
    tags: dict[str, str] = {}
    for h in headers:
        text = re.sub(r"/\*.*?\*/", "", (INCLUDE_DIR / h).read_text(), flags=re.S)
        for word, name in _TAG_RE.findall(text):
            tags.setdefault(f"{word} {name}", name)
    lines = [f"#include <{h}>\n" for h in headers]
    lines += [f"{t} *__pybpf_model_{i};\n" for i, t in enumerate(sorted(tags))]
    text = "".join(lines)
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    src = d / f"core-model-{hashlib.sha256(text.encode()).hexdigest()[:16]}.c"
    if not src.is_file():
        src.write_text(text)
    elf = ElfFile(compile_c(src).read_bytes())
    sec = elf.by_name(".BTF")
    if sec is None:  # pragma: no cover - clang always emits BTF with -g
        raise BtfError("the model of pybpf's headers has no BTF")
    return BTF.parse(sec.data, section="pybpf headers")


def essential_name(name: str) -> str:
    """A type or field name without its ``___flavor`` suffix (libbpf's bpf_core_essential_name_len)."""
    i = name.find("___")
    return name[:i] if i > 0 else name


def _skip_mods(btf: BTF, tid: int) -> int:
    t = btf.resolve(tid)
    return t.id


def _find_type(btf: BTF, kind: int, name: str) -> int | None:
    kinds = (
        (BTF_KIND_ENUM, BTF_KIND_ENUM64) if kind in (BTF_KIND_ENUM, BTF_KIND_ENUM64) else (kind,)
    )
    for k in kinds:
        tid = btf.find(name, k)
        if tid is not None:
            return tid
    return None


@dataclass
class _Field:
    bit_off: int
    bitfield: int  # 0: not a bitfield
    type_id: int  # the field's type (modifiers skipped)
    exists: bool = True


def _member_by_name(btf: BTF, tid: int, name: str, base: int = 0) -> tuple[int, int, int] | None:
    """(bit offset, bitfield size, type id) of member ``name``, looking inside anonymous members."""
    for m in btf.type(tid).members:
        if m.name and essential_name(m.name) == essential_name(name):
            return base + m.bit_offset, m.bitfield_size, m.type
        if not m.name:
            inner = btf.resolve(m.type)
            if inner.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION):
                hit = _member_by_name(btf, inner.id, name, base + m.bit_offset)
                if hit is not None:
                    return hit
    return None


def _walk(local: BTF, target: BTF | None, relo: CoreRelo) -> tuple[_Field, _Field | None, str]:
    """The field the access string reaches, in the program's type and in the target's."""
    idx = [int(x) for x in relo.access.split(":")]
    lt = _skip_mods(local, relo.type_id)
    root = local.type(lt)
    spelled = f"{'union' if root.kind == BTF_KIND_UNION else 'struct'} {root.name or '(anon)'}"
    tt = None
    if target is not None:
        tt = _find_type(target, root.kind, essential_name(root.name)) if root.name else None
        if tt is None:
            raise Unsupported(f"{spelled} is not a type pybpf models")
        tt = _skip_mods(target, tt)
    lbit = idx[0] * 8 * local.size(lt)
    tbit = idx[0] * 8 * target.size(tt) if target is not None and tt is not None else 0
    path = []
    lbf = tbf = 0
    exists = True
    for i in idx[1:]:
        cur = local.type(lt)
        if cur.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION):
            if i >= len(cur.members):
                raise BtfError(f"CO-RE access string {relo.access!r} runs past {spelled}")
            m = cur.members[i]
            if not m.name:
                raise Unsupported(
                    f"an access through an anonymous member of {spelled} (pybpf matches fields by name)"
                )
            path.append(m.name)
            lbit += m.bit_offset
            lbf = m.bitfield_size
            lt = _skip_mods(local, m.type)
            if tt is not None and target is not None and exists:
                hit = _member_by_name(target, tt, m.name)
                if hit is None:
                    exists = False
                else:
                    tbit += hit[0]
                    tbf = hit[1]
                    tt = _skip_mods(target, hit[2])
        elif cur.kind == BTF_KIND_ARRAY:
            path[-1:] = [f"{path[-1] if path else ''}[{i}]"]
            esz = local.size(cur.elem_type)
            lbit += i * 8 * esz
            lt = _skip_mods(local, cur.elem_type)
            lbf = 0
            if tt is not None and target is not None and exists:
                tcur = target.type(tt)
                if tcur.kind != BTF_KIND_ARRAY:
                    raise Unsupported(f"{spelled}.{'.'.join(path)} is not an array in the kernel")
                tbit += i * 8 * target.size(tcur.elem_type)
                tt = _skip_mods(target, tcur.elem_type)
                tbf = 0
        else:
            raise BtfError(f"CO-RE access string {relo.access!r} indexes a {cur.kind_name}")
    desc = f"{spelled}.{'.'.join(path)}" if path else spelled
    lf = _Field(lbit, lbf, lt)
    tf = _Field(tbit, tbf, tt, exists) if tt is not None else None
    return lf, tf, desc


def _field_value(btf: BTF, f: _Field, kind: int) -> int:
    """relo_core.c's bpf_core_calc_field_relo, for a little-endian target."""
    if kind == FIELD_EXISTS:
        return int(f.exists)
    if not f.exists:
        raise Unsupported("the field does not exist in the kernel's type")
    t = btf.type(f.type_id)
    byte_sz = btf.size(f.type_id)
    bit_off = f.bit_off
    if f.bitfield:
        bit_sz = f.bitfield
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise Unsupported("a bitfield that straddles 8 bytes")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        bit_sz = byte_sz * 8
        byte_off = bit_off // 8
    if kind == FIELD_BYTE_OFFSET:
        return byte_off
    if kind == FIELD_BYTE_SIZE:
        return byte_sz
    if kind == FIELD_SIGNED:
        if t.kind in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
            return int(t.kind_flag)
        return int(t.kind == BTF_KIND_INT and bool(t.int_encoding & BTF_INT_SIGNED))
    if kind == FIELD_LSHIFT_U64:
        return 64 - (bit_off + bit_sz - byte_off * 8)
    return 64 - bit_sz  # FIELD_RSHIFT_U64


def check(local: BTF, relo: CoreRelo, target: BTF | None = None) -> str:
    """Check one relocation; returns what it is about ("byte offset of struct __sk_buff.len").

    Raises Unsupported when the kernel's value cannot be had or differs from the
    compiled one.
    """
    target = target if target is not None else model_btf()
    what = KIND_NAMES.get(relo.kind)
    if what is None:
        raise Unsupported(f"CO-RE relocation kind {relo.kind} is unknown")
    if relo.kind in _FIELD_KINDS:
        lf, tf, desc = _walk(local, target, relo)
        assert tf is not None
        have = _field_value(local, lf, relo.kind)
        want = _field_value(target, tf, relo.kind)
        about = f"{what} {desc}"
    else:
        lt = local.type(_skip_mods(local, relo.type_id))
        if lt.kind == BTF_KIND_TYPEDEF:
            lt = local.type(lt.ref)
        word = {BTF_KIND_UNION: "union", BTF_KIND_ENUM: "enum", BTF_KIND_ENUM64: "enum"}
        spelled = f"{word.get(lt.kind, 'struct')} {lt.name or '(anon)'}"
        if lt.kind == BTF_KIND_FWD or not lt.name:
            raise Unsupported(f"{what} {spelled}: pybpf matches types by name")
        tid = _find_type(target, lt.kind, essential_name(lt.name))
        if relo.kind in _TYPE_KINDS:
            about = f"{what} {spelled}"
            if relo.kind == TYPE_ID_TARGET:
                raise Unsupported(f"{about}: a kernel BTF type id, which pybpf does not have")
            if relo.kind == TYPE_ID_LOCAL:
                return about
            if tid is None:
                raise Unsupported(f"{about}: {spelled} is not a type pybpf models")
            if relo.kind == TYPE_SIZE:
                have, want = local.size(lt.id), target.size(tid)
            else:
                return about  # exists / matches: it does, by name
        else:
            idx = int(relo.access.split(":")[0])
            if idx >= len(lt.enums):
                raise BtfError(f"CO-RE access string {relo.access!r} runs past {spelled}")
            name, have = lt.enums[idx]
            about = f"{what} {name} of {spelled}"
            if tid is None:
                raise Unsupported(f"{about}: {spelled} is not a type pybpf models")
            values = dict(target.type(tid).enums)
            if relo.kind == ENUMVAL_EXISTS:
                have, want = 1, int(name in values)
            else:
                if name not in values:
                    raise Unsupported(f"{about}: the kernel's {spelled} has no {name}")
                want = values[name]
    if have != want:
        raise Unsupported(
            f"{about} is {want} in the kernel's ABI but the program was compiled with {have}; "
            "pybpf applies CO-RE relocations only where they change nothing"
        )
    return about
