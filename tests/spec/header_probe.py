"""Compare two sets of C headers by what a compiler sees, not by their text.

A *header set* is a list of include directories. For one header of a set this
module finds (with the bundled clang, for the BPF target):

* the names it defines: macros (``-dM``), enumerators, struct/union/enum tags
  and typedefs (parsed from the preprocessed text, keeping only what comes from
  the files that are the set's own -- glibc's, pulled in by ``linux/if.h``, are
  not part of the kernel's ABI);
* the value of every name that is an integer constant expression: value, size
  and signedness, read back from a compiled probe object;
* the layout of every struct and union (size, and each member's offset,
  bitfield width and type shape, anonymous members flattened) and the size of
  every enum, from the BTF of a probe object;
* for ``bpf/bpf_helper_defs.h``, each helper's id (the ``call`` clang emits)
  and its prototype (the FUNC_PROTO in BTF).

``compare`` then says, for every name of a reference set, whether another set
has it with the same value or layout -- or a compatible extension of it (a newer
kernel appends enumerators and struct members, so a *MAX* sentinel may be larger
and an extensible struct may have grown).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pybpf import isa
from pybpf.spec.btf import (
    BTF,
    BTF_INT_SIGNED,
    BTF_KIND_ARRAY,
    BTF_KIND_CONST,
    BTF_KIND_ENUM,
    BTF_KIND_ENUM64,
    BTF_KIND_FLOAT,
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
)
from pybpf.spec.cc import compiler_command
from pybpf.spec.elffile import STT_FUNC, ElfFile

_SKIP_QUALS = (BTF_KIND_CONST, BTF_KIND_VOLATILE, BTF_KIND_RESTRICT, BTF_KIND_TYPE_TAG)


@dataclass(frozen=True)
class HeaderSet:
    """Include directories, searched as system directories, nothing else."""

    name: str
    dirs: tuple[Path, ...]
    #: the files whose definitions count (a directory prefix each); others are libc
    own: tuple[Path, ...] = ()
    defines: tuple[str, ...] = ()

    def flags(self) -> list[str]:
        out = ["-nostdlibinc"]
        for d in self.dirs:
            out += ["-isystem", str(d)]
        out += [f"-D{d}" for d in self.defines]
        return out

    def owns(self, path: str) -> bool:
        roots = self.own or self.dirs
        p = os.path.normpath(path)
        return any(p.startswith(os.path.normpath(str(r)) + os.sep) for r in roots)


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=600)


def _cc(hs: HeaderSet, extra: Sequence[str]) -> list[str]:
    return [
        *compiler_command(),
        "-target",
        "bpfel-freestanding",
        "-fno-unwind-tables",
        "-fno-asynchronous-unwind-tables",
        "-Wno-everything",
        "-ferror-limit=0",
        *hs.flags(),
        *extra,
    ]


class ProbeError(Exception):
    pass


# ---- names ------------------------------------------------------------------------------------


@dataclass
class Names:
    """What one header defines, for one header set."""

    #: name -> (parameters or None for object-like, body)
    macros: dict[str, tuple[tuple[str, ...] | None, str]] = field(default_factory=dict)
    enumerators: set[str] = field(default_factory=set)
    structs: set[str] = field(default_factory=set)
    unions: set[str] = field(default_factory=set)
    enums: set[str] = field(default_factory=set)
    typedefs: set[str] = field(default_factory=set)
    helpers: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    files: list[str] = field(default_factory=list)


_DEFINE = re.compile(r"^#define (\w+)(\(([^)]*)\))? ?(.*)$")
_TEXT_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)", re.M)
_LINEMARK = re.compile(r'^# (\d+) "([^"]*)"')
_TAG = re.compile(r"\b(struct|union|enum)\s+(\w+)\s*(?:__attribute__\s*\(\(.*?\)\)\s*)?\{")
_GUARD = re.compile(r"^[ \t]*#[ \t]*ifndef[ \t]+(\w+)\s*\n[ \t]*#[ \t]*define[ \t]+(\w+)", re.M)
_FUNCTION = re.compile(r"\bstatic\b[^;{}=]*?\b(\w+)\s*\([^;{}]*\)\s*\{")
_HELPER = re.compile(r"\bstatic\b[^;]*?\(\s*\*\s*(?:const\s+)?(bpf_\w+)\s*\)\s*\(")


def _own_text(hs: HeaderSet, pre: str) -> str:
    """The preprocessed text that comes from the set's own files (line markers dropped)."""
    keep: list[str] = []
    mine = False
    for line in pre.splitlines():
        m = _LINEMARK.match(line)
        if m:
            mine = hs.owns(m.group(2))
            continue
        if mine:
            keep.append(line)
    return "\n".join(keep)


def _strip_attrs(text: str) -> str:
    out = []
    i = 0
    while True:
        j = text.find("__attribute__", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        k = text.find("(", j)
        depth = 0
        while k < len(text):
            if text[k] == "(":
                depth += 1
            elif text[k] == ")":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        i = k + 1


def _enumerators(text: str) -> set[str]:
    out: set[str] = set()
    for m in re.finditer(r"\benum\b\s*\w*\s*\{", text):
        depth, k = 1, m.end()
        start = k
        while k < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[k], 0)
            k += 1
        body = text[start : k - 1]
        depth = 0
        item = []
        for ch in body + ",":
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            if ch == "," and depth == 0:
                name = "".join(item).strip().split("=")[0].strip()
                if re.fullmatch(r"[A-Za-z_]\w*", name):
                    out.add(name)
                item = []
            else:
                item.append(ch)
    return out


def _typedefs(text: str) -> set[str]:
    out: set[str] = set()
    for m in re.finditer(r"\btypedef\b", text):
        k, depth = m.end(), 0
        while k < len(text):
            c = text[k]
            if c in "{(":
                depth += 1
            elif c in "})":
                depth -= 1
            elif c == ";" and depth == 0:
                break
            k += 1
        decl = text[m.end() : k]
        fp = re.search(r"\(\s*\*\s*(\w+)\s*\)\s*\(", decl)
        if fp:
            out.add(fp.group(1))
            continue
        decl = re.sub(r"\[[^\]]*\]", "", decl)
        # the name is the last identifier outside braces
        flat, depth = [], 0
        for c in decl:
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif depth == 0:
                flat.append(c)
        ids = re.findall(r"[A-Za-z_]\w*", "".join(flat))
        if ids:
            out.add(ids[-1])
    return out


#: what a header needs included before it (libbpf's headers assume <linux/types.h>)
PRELUDE = {
    "bpf/bpf_helper_defs.h": ("linux/types.h",),
    "bpf/bpf_helpers.h": ("linux/types.h",),
    "bpf/bpf_endian.h": ("linux/types.h",),
    "linux/hdlc/ioctl.h": ("linux/if.h",),  # takes IFNAMSIZ from where it is included
}


def includes(header: str) -> list[str]:
    """The headers a probe of ``header`` includes, in order."""
    return [*PRELUDE.get(header, ()), header]


def names(hs: HeaderSet, header: str, workdir: Path) -> Names:
    """Everything ``#include <header>`` defines from the set's own files."""
    src = workdir / f"names_{_slug(header)}.c"
    src.write_text("".join(f"#include <{h}>\n" for h in includes(header)))
    res = _run(_cc(hs, ["-E", "-dM", str(src)]), workdir)
    if res.returncode:
        raise ProbeError(f"{hs.name}: #include <{header}> does not preprocess:\n{res.stderr}")
    defined: dict[str, tuple[tuple[str, ...] | None, str]] = {}
    for line in res.stdout.splitlines():
        m = _DEFINE.match(line)
        if m:
            params = None
            if m.group(2) is not None:
                params = tuple(p.strip() for p in m.group(3).split(",") if p.strip())
            defined[m.group(1)] = (params, m.group(4))
    res2 = _run(_cc(hs, ["-E", "-H", str(src)]), workdir)
    if res2.returncode:
        raise ProbeError(f"{hs.name}: #include <{header}> does not preprocess:\n{res2.stderr}")
    files = _own_files(hs, res2.stderr)
    own_macros: set[str] = set()
    guards: set[str] = set()
    for f in files:
        text = Path(f).read_text(errors="replace")
        own_macros |= set(_TEXT_DEFINE.findall(text))
        g = _GUARD.search(text)
        if g and g.group(1) == g.group(2):
            guards.add(g.group(1))
    out = Names(files=files)
    out.macros = {n: v for n, v in defined.items() if n in own_macros and n not in guards}
    text = _strip_attrs(_own_text(hs, res2.stdout))
    for kind, name in _TAG.findall(text):
        {"struct": out.structs, "union": out.unions, "enum": out.enums}[kind].add(name)
    out.enumerators = _enumerators(text)
    out.typedefs = _typedefs(text)
    out.helpers = set(_HELPER.findall(text))
    out.functions = set(_FUNCTION.findall(text)) - out.helpers
    return out


def _own_files(hs: HeaderSet, tree: str) -> list[str]:
    """The set's own files in clang's -H include tree, reached through own files only.

    ``linux/if.h`` includes glibc's ``sys/socket.h``, which includes ``asm/socket.h``:
    what comes that way is libc's business, not the header's.
    """
    out: list[str] = []
    chain: list[bool] = []
    for ln in tree.splitlines():
        if not ln.startswith("."):
            continue
        depth = len(ln) - len(ln.lstrip("."))
        path = ln[depth:].strip()
        del chain[depth - 1 :]
        ok = hs.owns(path) and all(chain)
        chain.append(ok)
        if ok and path not in out:
            out.append(path)
    return out


def _slug(s: str) -> str:
    return re.sub(r"\W", "_", s)


# ---- values -----------------------------------------------------------------------------------

#: arguments tried on function-like macros (the first n)
SAMPLE_ARGS = ("0x12345678", "0x3", "0x7", "0x1", "0x5", "0x2")


@dataclass(frozen=True)
class Value:
    value: int
    size: int
    signed: bool


def macro_expr(name: str, params: tuple[str, ...] | None) -> str:
    if params is None:
        return name
    if params and params[-1] == "...":
        return ""
    return f"{name}({', '.join(SAMPLE_ARGS[: len(params)])})"


def evaluate(
    hs: HeaderSet, headers: Sequence[str], exprs: dict[str, str], workdir: Path
) -> dict[str, Value]:
    """The integer value of every expression that is a constant one (others are left out)."""
    todo = {k: e for k, e in exprs.items() if e}
    for _ in range(6):
        if not todo:
            return {}
        keys = list(todo)
        head = "".join(f"#include <{h}>\n" for h in headers)
        lines = [
            head,
            "#define __P(e) { (unsigned long long)(e), sizeof(e), "
            "((__typeof__(e))-1 < (__typeof__(e))0) }\n",
        ]
        first = head.count("\n") + 2
        for i, k in enumerate(keys):
            lines.append(
                f'__attribute__((used, section("probe"))) const unsigned long long '
                f"__pv{i}[3] = __P({todo[k]});\n"
            )
        digest = hashlib.sha1("".join(lines).encode()).hexdigest()[:12]
        src = workdir / f"values_{digest}.c"
        obj = src.with_suffix(".o")
        src.write_text("".join(lines))
        res = _run(_cc(hs, ["-c", "-O0", str(src), "-o", str(obj)]), workdir)
        if res.returncode == 0:
            return _read_values(obj, keys)
        bad = set()
        for m in re.finditer(re.escape(src.name) + r":(\d+):", res.stderr):
            idx = int(m.group(1)) - first
            if 0 <= idx < len(keys):
                bad.add(keys[idx])
        if not bad:
            raise ProbeError(f"{hs.name}: value probe failed:\n{res.stderr[:3000]}")
        for k in bad:
            del todo[k]
    raise ProbeError(f"{hs.name}: value probe did not converge")


def _read_values(obj: Path, keys: list[str]) -> dict[str, Value]:
    elf = ElfFile(obj.read_bytes())
    out: dict[str, Value] = {}
    for s in elf.symbols:
        if s.name.startswith("__pv") and s.name[4:].isdigit():
            data = elf.sections[s.shndx].data[s.value : s.value + 24]
            v, size, signed = (int.from_bytes(data[i : i + 8], "little") for i in (0, 8, 16))
            if 0 < size < 8:
                v &= (1 << (size * 8)) - 1
            if signed and size and v >> (size * 8 - 1) & 1:
                v -= 1 << (size * 8)
            out[keys[int(s.name[4:])]] = Value(v, size, bool(signed))
    return out


# ---- layouts ----------------------------------------------------------------------------------


def _shape(btf: BTF, tid: int, depth: int = 0) -> tuple:
    t = btf.type(tid)
    while t.kind in (*_SKIP_QUALS, BTF_KIND_TYPEDEF):
        t = btf.type(t.ref)
    k = t.kind
    if t.id == 0:
        return ("void",)
    if k == BTF_KIND_INT:
        if t.name == "char":  # signed or not is the compiler's choice (the kernel: unsigned)
            return ("char",)
        return ("int", t.size, bool(t.int_encoding & BTF_INT_SIGNED))
    if k in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
        return ("enum", t.size)
    if k == BTF_KIND_FLOAT:
        return ("float", t.size)
    if k == BTF_KIND_PTR:
        if depth > 3:
            return ("ptr",)
        return ("ptr", _shape(btf, t.ref, depth + 1))
    if k == BTF_KIND_ARRAY:
        return ("array", t.nelems, _shape(btf, t.elem_type, depth))
    if k == BTF_KIND_FWD:
        return ("union" if t.kind_flag else "struct", _essential(t.name))
    if k in (BTF_KIND_STRUCT, BTF_KIND_UNION):
        word = "struct" if k == BTF_KIND_STRUCT else "union"
        if t.name:
            return (word, _essential(t.name))
        return (word, None, t.size, tuple(flat_members(btf, t.id)))
    if k == BTF_KIND_FUNC_PROTO:
        return (
            "fn",
            _shape(btf, t.ref, depth + 1),
            tuple(_shape(btf, m.type, depth + 1) for m in t.members),
        )
    return (t.kind_name,)


def _essential(name: str) -> str:
    """A name without the ``___N`` a C dump adds to the second type of the same name."""
    return re.sub(r"___\d+$", "", name)


def flat_members(btf: BTF, tid: int, base: int = 0) -> list[tuple[str, int, int, tuple]]:
    """(name, bit offset, bitfield width, shape) of every member, anonymous members flattened."""
    t = btf.type(tid)
    while t.kind in (*_SKIP_QUALS, BTF_KIND_TYPEDEF):
        t = btf.type(t.ref)
    out = []
    for m in t.members:
        mt = btf.resolve(m.type)
        if not m.name:
            if mt.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION):
                out += flat_members(btf, mt.id, base + m.bit_offset)
            continue  # unnamed padding bitfield
        out.append((m.name, base + m.bit_offset, m.bitfield_size, _shape(btf, m.type)))
    return out


@dataclass(frozen=True)
class Layout:
    kind: str  # struct, union, enum, typedef
    size: int
    members: tuple[tuple[str, int, int, tuple], ...] = ()


def layout_of(btf: BTF, tid: int, kind: str) -> Layout:
    t = btf.type(tid)
    if kind == "typedef":
        return Layout("typedef", _safe_size(btf, tid), (("", 0, 0, _shape(btf, tid)),))
    t = btf.resolve(tid)
    if t.kind in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
        return Layout("enum", t.size)
    if t.kind == BTF_KIND_FWD:
        return Layout(kind, -1)
    return Layout(kind, t.size, tuple(flat_members(btf, t.id)))


def _safe_size(btf: BTF, tid: int) -> int:
    try:
        return btf.size(tid)
    except Exception:
        return -1


def layouts(
    hs: HeaderSet, headers: Sequence[str], want: dict[str, str], workdir: Path
) -> dict[str, Layout]:
    """Layouts of ``want`` (key -> C type spelling: ``struct iphdr``, ``__u32``), from BTF.

    Types the set does not declare are left out (found by the compiler's errors).
    """
    todo = dict(want)
    for _ in range(6):
        if not todo:
            return {}
        keys = list(todo)
        head = "".join(f"#include <{h}>\n" for h in headers)
        first = head.count("\n")
        lines = [head] + [f"{todo[k]} *__pl{i};\n" for i, k in enumerate(keys)]
        digest = hashlib.sha1("".join(lines).encode()).hexdigest()[:12]
        src = workdir / f"layout_{digest}.c"
        obj = src.with_suffix(".o")
        src.write_text("".join(lines))
        res = _run(_cc(hs, ["-g", "-c", "-O0", str(src), "-o", str(obj)]), workdir)
        if res.returncode == 0:
            return _read_layouts(obj, keys, todo)
        bad = set()
        for m in re.finditer(re.escape(src.name) + r":(\d+):", res.stderr):
            idx = int(m.group(1)) - first - 1
            if 0 <= idx < len(keys):
                bad.add(keys[idx])
        if not bad:
            raise ProbeError(f"{hs.name}: layout probe failed:\n{res.stderr[:3000]}")
        for k in bad:
            del todo[k]
    raise ProbeError(f"{hs.name}: layout probe did not converge")


def _btf_of(obj: Path) -> BTF:
    elf = ElfFile(obj.read_bytes())
    sec = elf.by_name(".BTF")
    if sec is None:
        raise ProbeError(f"{obj}: no .BTF")
    return BTF.parse(sec.data)


def _read_layouts(obj: Path, keys: list[str], spell: dict[str, str]) -> dict[str, Layout]:
    btf = _btf_of(obj)
    out: dict[str, Layout] = {}
    for t in btf.types:
        if t.kind == BTF_KIND_VAR and t.name.startswith("__pl") and t.name[4:].isdigit():
            key = keys[int(t.name[4:])]
            ptr = btf.type(t.ref)
            assert ptr.kind == BTF_KIND_PTR
            kind = spell[key].split()[0] if " " in spell[key] else "typedef"
            out[key] = layout_of(btf, ptr.ref, kind)
    return out


# ---- helpers (bpf_helper_defs.h) ----------------------------------------------------------------


@dataclass(frozen=True)
class HelperDef:
    id: int
    proto: tuple


def helpers(
    hs: HeaderSet, header: str, names_: Iterable[str], workdir: Path
) -> dict[str, HelperDef]:
    """Each helper's id (the call clang emits for it) and prototype shape."""
    names_ = sorted(names_)
    lines = [f"#include <{h}>\n" for h in includes(header)]
    for i, n in enumerate(names_):
        lines.append(f"__typeof__({n}) __hp{i};\n")
        lines.append(f"long __hc{i}(void) {{ return ((long (*)(void)){n})(); }}\n")
    src = workdir / f"helpers_{_slug(hs.name)}.c"
    obj = src.with_suffix(".o")
    src.write_text("".join(lines))
    res = _run(_cc(hs, ["-g", "-O2", "-c", str(src), "-o", str(obj)]), workdir)
    if res.returncode:
        raise ProbeError(f"{hs.name}: helper probe failed:\n{res.stderr[:3000]}")
    btf = _btf_of(obj)
    protos: dict[int, tuple] = {}
    for t in btf.types:
        if t.kind == BTF_KIND_VAR and t.name.startswith("__hp"):
            protos[int(t.name[4:])] = _shape(btf, t.ref)
    elf = ElfFile(obj.read_bytes())
    ids: dict[int, int] = {}
    for s in elf.symbols:
        if s.type == STT_FUNC and s.name.startswith("__hc"):
            code = elf.sections[s.shndx].data[s.value : s.value + s.size]
            calls = [i.imm for i in isa.decode(code, check=False) if isa.is_helper_call(i)]
            if len(calls) == 1:
                ids[int(s.name[4:])] = calls[0]
    return {n: HelperDef(ids.get(i, -1), protos.get(i, ())) for i, n in enumerate(names_)}


# ---- comparison -------------------------------------------------------------------------------


def is_sentinel(name: str) -> bool:
    """An enumerator or macro that counts the others (``__MAX_BPF_MAP_TYPE``, ``TCA_BPF_MAX``,
    ``__TCA_TAPRIO_TC_ENTRY_CNT``): a newer kernel's has a larger value."""
    parts = name.upper().split("_")
    return "MAX" in parts or parts[-1] == "CNT"


def extends(ref: Layout, new: Layout) -> bool:
    """``new`` keeps every member of ``ref`` where it was, and is at least as large."""
    if ref.kind != new.kind or new.size < ref.size:
        return False
    have = {m[0]: m for m in new.members}
    for m in ref.members:
        n = have.get(m[0])
        if n is None or n[1:3] != m[1:3]:
            return False
        if n[3] != m[3] and not _shape_extends(m[3], n[3]):
            return False
    return True


def _shape_extends(ref: tuple, new: tuple) -> bool:
    if ref[0] in ("struct", "union") and new[0] == ref[0] and ref[1] is None and new[1] is None:
        return extends(Layout(ref[0], ref[2], ref[3]), Layout(new[0], new[2], new[3]))
    return False


def tmpdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="pybpf-hdr-"))


@dataclass
class Diff:
    """How one header set answers for the names of a reference set."""

    header: str
    checked: int = 0
    #: name -> why it differs (missing, another value, another layout)
    problems: dict[str, str] = field(default_factory=dict)
    #: names that are larger in the new set as a newer kernel made them (sentinels, grown structs)
    grown: list[str] = field(default_factory=list)
    #: names the reference set's definitions are known to get wrong for the BPF target
    excused: dict[str, str] = field(default_factory=dict)


#: what the host's headers say that is wrong for a BPF target, and why
EXCUSED = {
    "__arch_swab32": "x86 inline assembly (bswapl); eBPF programs use __builtin_bswap32",
    "__arch_swab64": "x86 inline assembly (bswapq); eBPF programs use __builtin_bswap64",
}


def compare(ref: HeaderSet, new: HeaderSet, header: str, wd: Path) -> Diff:
    """Every name ``#include <header>`` gives in ``ref``, looked up in ``new``."""
    d = Diff(header)
    rn = names(ref, header, wd)
    nn = names(new, header, wd)
    for name in sorted(rn.macros):
        if name in EXCUSED:
            d.excused[name] = EXCUSED[name]
        elif name not in nn.macros and name not in nn.enumerators:
            d.problems[name] = "macro missing"
        elif (rn.macros[name][0] is None) != (nn.macros.get(name, (None,))[0] is None):
            d.problems[name] = "object-like in one set, function-like in the other"
    for kind, rs, ns in (
        ("enumerator", rn.enumerators, nn.enumerators | set(nn.macros)),
        ("struct", rn.structs, nn.structs),
        ("union", rn.unions, nn.unions),
        ("enum", rn.enums, nn.enums),
        ("typedef", rn.typedefs, nn.typedefs | set(nn.macros)),
        ("helper", rn.helpers, nn.helpers),
        ("function", rn.functions, nn.functions | set(nn.macros)),
    ):
        for name in sorted(rs - ns):
            if name not in EXCUSED:
                d.problems[f"{kind} {name}"] = f"{kind} missing"
            else:
                d.excused[name] = EXCUSED[name]
    # values of everything that is an integer constant in the reference
    exprs = {n: macro_expr(n, p) for n, (p, _) in rn.macros.items() if n not in EXCUSED}
    exprs.update({n: n for n in rn.enumerators})
    rv = evaluate(ref, includes(header), exprs, wd)
    nv = evaluate(new, includes(header), {k: exprs[k] for k in rv}, wd)
    for k, v in sorted(rv.items()):
        d.checked += 1
        w = nv.get(k)
        if w == v:
            continue
        if w is None:
            d.problems.setdefault(
                k, f"{exprs[k]} is {v.value:#x} in {ref.name}, not a constant here"
            )
        elif is_sentinel(k) and w.value >= v.value and w.size == v.size:
            d.grown.append(k)
        elif w.value == v.value >= 0 and w.size == v.size:
            # a macro that became an enumerator (or back): (1U << 0) is unsigned, the
            # enumerator an int; the same non-negative value either way
            d.grown.append(k)
        else:
            d.problems[k] = f"{exprs[k]} is {_fmt(w)} here, {_fmt(v)} in {ref.name}"
    # layouts
    want = {f"struct {n}": f"struct {n}" for n in rn.structs}
    want.update({f"union {n}": f"union {n}" for n in rn.unions})
    want.update({f"enum {n}": f"enum {n}" for n in rn.enums})
    want.update({n: n for n in rn.typedefs})
    rl = layouts(ref, includes(header), want, wd)
    nl = layouts(new, includes(header), {k: want[k] for k in rl}, wd)
    for k, lay in sorted(rl.items()):
        d.checked += 1
        m = nl.get(k)
        if m == lay:
            continue
        if m is None:
            d.problems.setdefault(k, "type missing")
        elif extends(lay, m):
            d.grown.append(k)
        else:
            d.problems[k] = _layout_diff(lay, m)
    if rn.helpers:
        rh = helpers(ref, header, rn.helpers, wd)
        nh = helpers(new, header, rn.helpers & nn.helpers, wd)
        for k, h in sorted(rh.items()):
            d.checked += 1
            if k in nh and nh[k] != h:
                d.problems[k] = f"helper: {nh[k]} here, {h} in {ref.name}"
    return d


def _fmt(v: Value) -> str:
    return f"{v.value:#x} ({'s' if v.signed else 'u'}{v.size * 8})"


def _layout_diff(ref: Layout, new: Layout) -> str:
    if ref.kind != new.kind or ref.size != new.size:
        return f"{new.kind} of {new.size} bytes here, {ref.kind} of {ref.size} in the reference"
    rm = {m[0]: m for m in ref.members}
    nm = {m[0]: m for m in new.members}
    parts = []
    for name in rm:
        if name not in nm:
            parts.append(f"no member {name!r}")
        elif rm[name] != nm[name]:
            parts.append(f"member {name!r} is {nm[name][1:]} here, {rm[name][1:]} in the reference")
    for name in nm:
        if name not in rm:
            parts.append(f"extra member {name!r}")
    return "; ".join(parts) or "members in another order"


def system_set() -> HeaderSet | None:
    """The host's uapi and libbpf headers (linux-libc-dev, libbpf-dev), if installed."""
    import platform

    inc = Path("/usr/include")
    arch = inc / f"{platform.machine()}-linux-gnu"
    if not (inc / "linux" / "bpf.h").is_file() or not (arch / "asm").is_dir():
        return None
    stub = Path(tempfile.mkdtemp(prefix="pybpf-stub-"))
    # glibc's headers, pulled in by <linux/if.h>, look for the 32-bit stubs when the
    # target is not x86-64; an empty one lets the BPF target include them
    (stub / "gnu").mkdir()
    (stub / "gnu" / "stubs-32.h").write_text("")
    # x86's asm/bitsperlong.h tests __x86_64__, which a BPF compile does not define, and
    # says long has 32 bits (so __kernel_size_t would be 4 bytes); eBPF's long has 64
    (stub / "asm").mkdir()
    (stub / "asm" / "bitsperlong.h").write_text(
        "#ifndef __ASM_X86_BITSPERLONG_H\n#define __ASM_X86_BITSPERLONG_H\n"
        "#define __BITS_PER_LONG 64\n#include <asm-generic/bitsperlong.h>\n#endif\n"
    )
    own = (stub, inc / "linux", inc / "asm-generic", arch / "asm", inc / "bpf")
    return HeaderSet("system", (stub, inc, arch), own=own)


#: libbpf's translation of kernel-internal types in documented helper prototypes
_DOC_TYPES = (
    (r"\bstruct bpf_map\b", "void"),
    (r"\bstruct sk_buff\b", "struct __sk_buff"),
    (r"\bstruct xdp_buff\b", "struct xdp_md"),
    (r"\bstruct sk_msg_buff\b", "struct sk_msg_md"),
    (r"\bsize_t\b", "unsigned long"),
    (r"\b([us])(8|16|32|64)\b", r"__\1\2"),
)
#: helpers whose libbpf declaration takes any context where the kernel documents one
_DOC_CTX = {"get_socket_cookie", "sk_assign"}


def doc_helper_defs(bpf_h: str) -> str:
    """bpf_helper_defs.h as libbpf builds it from the prototypes documented in bpf.h."""
    ids = {m.group(1): int(m.group(2)) for m in re.finditer(r"FN\((\w+), (\d+),", bpf_h)}
    out = ["#include <linux/types.h>\n"]
    seen = set()
    for m in re.finditer(r"^ \* (\S.*?)\bbpf_(\w+)\((.*?)\)\s*$", bpf_h, re.M):
        ret, name, args = m.group(1).strip(), m.group(2), m.group(3)
        if name not in ids or name in seen:
            continue
        seen.add(name)
        for pat, rep in _DOC_TYPES:
            ret, args = re.sub(pat, rep, ret), re.sub(pat, rep, args)
        if name in _DOC_CTX:
            args = re.sub(r"^[^,]*", "void *ctx", args)
        for tag in set(re.findall(r"struct (\w+)", ret + args)):
            out.append(f"struct {tag};")
        out.append(f"static {ret} (*bpf_{name})({args}) = (void *) {ids[name]};")
    return "\n".join(out) + "\n"


def source_tree_set(root: Path) -> HeaderSet | None:
    """The uapi headers of a kernel source tree and its libbpf (.ci/fetch-kernel-samples).

    A source tree's headers are not installed ones: ``make headers_install``
    strips ``__user`` and ``<linux/compiler.h>`` and writes the asm/ headers an
    architecture takes from asm-generic. A stub directory does the same here.
    """
    tree = root / "linux"
    uapi = tree / "include" / "uapi"
    arch = tree / "arch" / "x86" / "include" / "uapi"
    libbpf = tree / "tools" / "lib"  # <bpf/bpf_helpers.h> is tools/lib/bpf/bpf_helpers.h
    if not (uapi / "linux" / "bpf.h").is_file() or not (arch / "asm").is_dir():
        return None
    stub = Path(tempfile.mkdtemp(prefix="pybpf-stub-"))
    for d in ("gnu", "linux", "asm", "sys"):
        (stub / d).mkdir()
    # <linux/if.h> takes struct sockaddr from the C library
    (stub / "sys" / "socket.h").write_text(
        "struct sockaddr { unsigned short sa_family; char sa_data[14]; };\n"
    )
    (stub / "gnu" / "stubs-32.h").write_text("")
    (stub / "linux" / "compiler.h").write_text("#define __user\n#define __force\n")
    (stub / "linux" / "compiler_types.h").write_text("")
    (stub / "asm" / "bitsperlong.h").write_text(
        "#ifndef __ASM_X86_BITSPERLONG_H\n#define __ASM_X86_BITSPERLONG_H\n"
        "#define __BITS_PER_LONG 64\n#include <asm-generic/bitsperlong.h>\n#endif\n"
    )
    # libbpf generates bpf_helper_defs.h from bpf.h's documentation when it is built
    (stub / "bpf").mkdir()
    (stub / "bpf" / "bpf_helper_defs.h").write_text(
        doc_helper_defs((uapi / "linux" / "bpf.h").read_text())
    )
    (stub / "bpf_helper_defs.h").write_text("#include <bpf/bpf_helper_defs.h>\n")
    for generic in (uapi / "asm-generic").glob("*.h"):
        if not (arch / "asm" / generic.name).exists():
            (stub / "asm" / generic.name).write_text(f"#include <asm-generic/{generic.name}>\n")
    return HeaderSet(
        "linux-source",
        (stub, uapi, arch, libbpf),
        own=(stub / "asm", stub / "bpf", uapi, libbpf),
        defines=("__attribute_const__=",),
    )


if __name__ == "__main__":  # a developer's view: python tests/spec/header_probe.py linux/ip.h
    import sys

    from pybpf.spec.cc import INCLUDE_DIR

    ref = system_set()
    if sys.argv[1] == "--tree":
        ref = source_tree_set(Path(sys.argv[2]))
        del sys.argv[1:3]
    assert ref is not None
    mine = HeaderSet("pybpf", (INCLUDE_DIR,))
    wd = tmpdir()
    for h in sys.argv[1:]:
        d = compare(ref, mine, h, wd)
        print(f"== {h}: {d.checked} checked, {len(d.problems)} problems, grown {d.grown}")
        for k, v in d.problems.items():
            print(f"  {k}: {v}")


# ---- the running kernel's BTF as a reference -------------------------------------------------

VMLINUX = Path("/sys/kernel/btf/vmlinux")


def btf_layouts(btf: BTF, want: Iterable[str]) -> dict[str, Layout]:
    """Layouts of the types named (``struct X``, ``union X``, ``enum X``, typedef) in ``btf``."""
    kinds = {
        "struct": (BTF_KIND_STRUCT,),
        "union": (BTF_KIND_UNION,),
        "enum": (BTF_KIND_ENUM, BTF_KIND_ENUM64),
    }
    out: dict[str, Layout] = {}
    for key in want:
        word, _, name = key.partition(" ")
        if not name:
            tid = btf.find(key, BTF_KIND_TYPEDEF)
            if tid is not None:
                out[key] = layout_of(btf, tid, "typedef")
            continue
        for k in kinds[word]:
            tid = btf.find(name, k)
            if tid is not None:
                out[key] = layout_of(btf, tid, word)
                break
    return out


def btf_enumerators(btf: BTF) -> dict[str, Value]:
    """Every enumerator of ``btf`` (the first definition of a name wins)."""
    out: dict[str, Value] = {}
    for t in btf.types:
        if t.kind in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
            for name, v in t.enums:
                out.setdefault(name, Value(v, t.size, t.kind_flag))
    return out
