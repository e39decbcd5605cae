"""Disassembler printing llvm-objdump's BPF syntax.

The text is what ``llvm-objdump -d`` (LLVM 14) prints for the same bytes, so
that pybpf's output can be diffed against the reference tool: decimal
immediates, ``goto +N`` offsets in slots, ``r1 = 0 ll`` for LDDW, the
``<sym+0xNN>`` annotation after jumps. For encodings LLVM 14 cannot decode
(``<unknown>`` there: MOD, JSET, BPF_ST, sign-extending loads and moves, SDIV/
SMOD, BSWAP, ``gotol``, 32-bit fetch atomics) the syntax of LLVM 19 is used,
still with decimal numbers; ``hex=True`` prints numbers the way LLVM 19 does
(``-0x5``, ``goto +0x4``).

llvm-objdump's text loses information in three places; by default pybpf
prints them losslessly so that ``assemble(disassemble(insns)) == insns``:
a local call (src = BPF_PSEUDO_CALL) prints as the kernel's verifier log
prints it, ``call pc+N`` (llvm: ``call N``, same as a helper call); an LDDW
with a pseudo source prints ``r1 = map[fd:3] ll``, ``map_value[fd:3]+8``,
``map[idx:0]``, ``btf_id[N]``, ``func[pc+N]`` (llvm: ``ld_pseudo r1, 1, 3``,
without the second slot), a
kfunc call ``call kfunc[ID]`` (or ``call kfunc[ID][BTF_FD_IDX]``); an
LD_IND with a non-zero immediate prints ``skb[r1 + 4]`` (llvm drops it).
``exact=True`` prints llvm-objdump's text instead.

``objdump(path)`` renders a whole ELF object like ``llvm-objdump -d``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ElfError, InsnError, NotSupportedError
from ..isa import (
    BPF_ADD,
    BPF_AND,
    BPF_ARSH,
    BPF_CMPXCHG,
    BPF_DIV,
    BPF_FETCH,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JLE,
    BPF_JLT,
    BPF_JNE,
    BPF_JSET,
    BPF_JSGE,
    BPF_JSGT,
    BPF_JSLE,
    BPF_JSLT,
    BPF_LSH,
    BPF_MOD,
    BPF_MOV,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_PSEUDO_BTF_ID,
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_FUNC,
    BPF_PSEUDO_KFUNC_CALL,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_IDX,
    BPF_PSEUDO_MAP_IDX_VALUE,
    BPF_PSEUDO_MAP_VALUE,
    BPF_RSH,
    BPF_SUB,
    BPF_TO_BE,
    BPF_XCHG,
    BPF_XOR,
    INSN_SIZE,
    OPCODES,
    SIZE_CTYPE,
    Insn,
    decode,
    iter_slots,
    malformed,
)

_ALU_OP = {
    BPF_ADD: "+=",
    BPF_SUB: "-=",
    BPF_MUL: "*=",
    BPF_DIV: "/=",
    BPF_OR: "|=",
    BPF_AND: "&=",
    BPF_LSH: "<<=",
    BPF_RSH: ">>=",
    BPF_MOD: "%=",
    BPF_XOR: "^=",
    BPF_ARSH: "s>>=",
}
_JMP_OP = {
    BPF_JEQ: "==",
    BPF_JNE: "!=",
    BPF_JGT: ">",
    BPF_JGE: ">=",
    BPF_JLT: "<",
    BPF_JLE: "<=",
    BPF_JSGT: "s>",
    BPF_JSGE: "s>=",
    BPF_JSLT: "s<",
    BPF_JSLE: "s<=",
    BPF_JSET: "&",
}
_ATOMIC_OP = {BPF_ADD: "+=", BPF_OR: "|=", BPF_AND: "&=", BPF_XOR: "^="}
_ATOMIC_FETCH = {BPF_ADD: "add", BPF_OR: "or", BPF_AND: "and", BPF_XOR: "xor"}
_SIGNED = {1: "s8", 2: "s16", 4: "s32"}


def _s64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


@dataclass(frozen=True)
class _Fmt:
    hex: bool = False

    def num(self, v: int) -> str:
        if not self.hex:
            return str(v)
        return f"-{-v:#x}" if v < 0 else f"{v:#x}"

    def rel(self, v: int) -> str:
        """A signed jump offset: +N / -N."""
        return ("-" if v < 0 else "+") + self.num(abs(v))

    def mem(self, reg: int, off: int) -> str:
        return f"r{reg} {'-' if off < 0 else '+'} {self.num(abs(off))}"


def format_insn(
    insn: Insn, pc: int = 0, *, hex: bool = False, exact: bool = False, target: str | None = None
) -> str:
    """One instruction in llvm-objdump syntax (no address, no bytes).

    ``pc`` is the slot index of the instruction (offsets print relative, so it
    matters to nothing but the caller's bookkeeping). ``target``, when
    given, is appended to jumps as llvm-objdump's ``<sym+0xNN>`` annotation.
    """
    f = _Fmt(hex)
    info = OPCODES.get(insn.code)
    if info is None:
        return "<unknown>"
    k = info.kind
    R = "r" if info.is64 else "w"
    d, s = insn.dst, insn.src
    if k == "alu":
        op = info.op
        if op == BPF_NEG:
            return f"{R}{d} = -{R}{d}"
        if op == BPF_MOV:
            if not info.use_src_reg:
                return f"{R}{d} = {f.num(insn.imm)}"
            if insn.off in (8, 16, 32):
                return f"{R}{d} = (s{insn.off}){R}{s}"
            return f"{R}{d} = {R}{s}"
        sym = _ALU_OP[op]
        if insn.off == 1 and op in (BPF_DIV, BPF_MOD):
            sym = "s" + sym
        rhs = f"{R}{s}" if info.use_src_reg else f.num(insn.imm)
        return f"{R}{d} {sym} {rhs}"
    if k == "end":
        if info.is64:
            kind = "bswap"
        else:
            kind = "be" if insn.code & 0x08 == BPF_TO_BE else "le"
        return f"r{d} = {kind}{insn.imm} r{d}"
    if k == "jcond":
        rhs = f"{R}{s}" if info.use_src_reg else f.num(insn.imm)
        text = f"if {R}{d} {_JMP_OP[info.op]} {rhs} goto {f.rel(insn.off)}"
        return f"{text} <{target}>" if target else text
    if k == "ja":
        text = f"goto {f.rel(insn.off)}" if info.is64 else f"gotol {f.rel(insn.imm)}"
        return f"{text} <{target}>" if target else text
    if k == "call":
        if s == BPF_PSEUDO_CALL and not exact:
            return f"call pc{insn.imm:+d}"
        if s == BPF_PSEUDO_KFUNC_CALL and not exact:
            return f"call kfunc[{insn.imm}]" + (f"[{insn.off}]" if insn.off else "")
        return f"call {f.num(insn.imm)}"
    if k == "callx":
        return f"callx r{d}"
    if k == "exit":
        return "exit"
    if k == "lddw":
        if insn.src:
            if exact:  # llvm's form, which drops the second slot's immediate
                # llvm prints the pseudo immediate unsigned (ld_pseudo r0, 1, 4294967295)
                return f"ld_pseudo\tr{d}, {f.num(insn.src)}, {f.num(insn.uimm)}"
            return f"r{d} = {_pseudo_imm64(f, insn)} ll"
        return f"r{d} = {f.num(_s64(insn.imm64))} ll"
    if k == "ldabs":
        return f"r0 = *({SIZE_CTYPE[insn.code & 0x18]} *)skb[{f.num(insn.imm)}]"
    if k == "ldind":
        idx = f"r{s}"
        if insn.imm and not exact:
            idx = f"r{s} {'-' if insn.imm < 0 else '+'} {f.num(abs(insn.imm))}"
        return f"r0 = *({SIZE_CTYPE[insn.code & 0x18]} *)skb[{idx}]"
    ctype = SIZE_CTYPE[insn.code & 0x18]
    if k == "ldx":
        return f"r{d} = *({ctype} *)({f.mem(s, insn.off)})"
    if k == "ldxsx":
        return f"r{d} = *({_SIGNED[info.size]} *)({f.mem(s, insn.off)})"
    if k == "st":
        return f"*({ctype} *)({f.mem(d, insn.off)}) = {f.num(insn.imm)}"
    if k == "stx":
        return f"*({ctype} *)({f.mem(d, insn.off)}) = r{s}"
    if k == "atomic":
        return _format_atomic(f, insn, info.size == 8, ctype)
    return "<unknown>"


def _pseudo_imm64(f: _Fmt, insn: Insn) -> str:
    """LDDW with a pseudo source, in the spirit of the kernel's verifier log."""
    src, imm, hi = insn.src, insn.imm, insn.imm_hi
    if src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX) and not hi:
        return f"map[{'fd' if src == BPF_PSEUDO_MAP_FD else 'idx'}:{imm}]"
    if src in (BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_MAP_IDX_VALUE):
        kind = "fd" if src == BPF_PSEUDO_MAP_VALUE else "idx"
        return f"map_value[{kind}:{imm}]{hi:+d}"
    if src == BPF_PSEUDO_BTF_ID and not hi:
        return f"btf_id[{imm}]"
    if src == BPF_PSEUDO_FUNC and not hi:
        return f"func[pc{imm:+d}]"
    return f"pseudo[src:{src}][{imm}][{hi}]"


def _format_atomic(f: _Fmt, insn: Insn, is64: bool, ctype: str) -> str:
    d, s, imm = insn.dst, insn.src, insn.imm
    R = "r" if is64 else "w"
    addr = f.mem(d, insn.off)
    op = imm & ~BPF_FETCH
    if imm in _ATOMIC_OP:
        # LLVM 14 prints the 32-bit non-fetch add with an r register; the other 32-bit
        # forms exist only in LLVM's alu32 syntax, with w registers.
        reg = "r" if is64 or imm == BPF_ADD else "w"
        return f"lock *({ctype} *)({addr}) {_ATOMIC_OP[imm]} {reg}{s}"
    if imm & BPF_FETCH and op in _ATOMIC_FETCH:
        return f"{R}{s} = atomic_fetch_{_ATOMIC_FETCH[op]}(({ctype} *)({addr}), {R}{s})"
    sfx = "_64" if is64 else "32_32"
    if imm == BPF_XCHG:
        return f"{R}{s} = xchg{sfx}({addr}, {R}{s})"
    if imm == BPF_CMPXCHG:
        return f"{R}0 = cmpxchg{sfx}({addr}, {R}0, {R}{s})"
    return "<unknown>"


def _is_jump(insn: Insn) -> bool:
    info = OPCODES.get(insn.code)
    return info is not None and info.kind in ("jcond", "ja")


def _jump_slot(pc: int, insn: Insn) -> int:
    info = OPCODES[insn.code]
    if info.kind == "ja" and not info.is64:
        return pc + 1 + insn.imm
    return pc + 1 + insn.off


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
                targets[_jump_slot(pc, insn)] = f"LBB{_jump_slot(pc, insn)}"
    lines = []
    for pc, insn in iter_slots(insns):
        if pc in symbols:
            lines.append(f"{symbols[pc]}:")
        if pc in targets and pc not in symbols:
            lines.append(f"{targets[pc]}:")
        tgt = None
        if labels and _is_jump(insn):
            dest = _jump_slot(pc, insn)
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
    out.sort(key=lambda s: s.value)
    return out


def _annotation(syms: list[_Sym], secname: str, addr: int) -> str:
    best = None
    for sym in syms:
        if sym.value <= addr:
            best = sym
    name, base = (best.name, best.value) if best else (secname, 0)
    return name if addr == base else f"{name}+{(addr - base) & ((1 << 64) - 1):#x}"


def objdump(path: str | os.PathLike[str], *, section: str | None = None, hex: bool = False) -> str:
    """Render an ELF object as ``llvm-objdump -d`` does (executable sections)."""
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
            for index, sec in enumerate(elf.iter_sections()):
                if section is not None and sec.name != section:
                    continue
                if section is None and not sec["sh_flags"] & 0x4:  # SHF_EXECINSTR
                    continue
                found = True
                data = sec.data()
                if not data:
                    continue
                out.append(_objdump_section(elf, index, sec.name, data, hex))
    except ELFError as e:
        raise ElfError(f"{os.fspath(path)}: not a valid ELF object: {e}") from None
    except OSError as e:
        raise ElfError(f"{os.fspath(path)}: {e.strerror}", errno=e.errno) from None
    if section is not None and not found:
        raise ElfError(f"{os.fspath(path)}: no section named {section!r}")
    return "\n".join(out)


def _objdump_section(elf, index: int, name: str, data: bytes, hex: bool) -> str:
    syms = _section_symbols(elf, index)
    by_addr: dict[int, list[str]] = {}
    for sym in syms:
        by_addr.setdefault(sym.value, []).append(sym.name)
    lines = [f"Disassembly of section {name}:"]
    nslots = len(data) // INSN_SIZE
    pc = 0
    while pc < nslots:
        addr = pc * INSN_SIZE
        names = by_addr.get(addr) or ([name] if pc == 0 else [])
        for n in names:
            lines.append("")
            lines.append(f"{addr:016x} <{n}>:")
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
                tgt = _annotation(syms, name, _jump_slot(pc, insn) * INSN_SIZE)
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
    source: Mapping[int, Any] | None = None,
) -> str:
    """llvm-objdump's instruction lines (slot, raw bytes, text) for bare instructions.

    Encodings the kernel would refuse carry a ``; malformed: reason`` comment.
    ``source`` maps slot indices to line-info records (``.text``, ``.file``,
    ``.line``, from the object's .BTF.ext) printed as ``; C line`` comments before
    the instructions they produced, as ``llvm-objdump -S`` does.
    """
    lines = []
    last_src = None
    for pc, insn in iter_slots(insns):
        li = source.get(pc) if source else None
        if li is not None and li.text.strip() and (li.file, li.line) != last_src:
            lines.append(f"; {li.text.strip()}")
            last_src = (li.file, li.line)
        raw = " ".join(f"{b:02x}" for b in insn.encode())
        text = format_insn(insn, pc, hex=hex, exact=exact)
        bad = malformed(insn)
        if bad and text != "<unknown>":
            text += f"  ; malformed: {bad}"
        lines.append(f"{pc:8d}:\t{raw}\t{text}")
    return "\n".join(lines) + ("\n" if lines else "")
