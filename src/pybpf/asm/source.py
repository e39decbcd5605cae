"""Which C line each instruction came from, found the way ``llvm-objdump -S`` finds it.

llvm-objdump reads the object's DWARF line table (``.debug_line``) and the
source files it names; before an instruction whose (file, line) differs from
the previous instruction's, it prints that line of the file as it is, after
``"; "``. In a relocatable object each sequence of the line table starts with
a ``DW_LNE_set_address`` that a relocation (R_BPF_64_ABS64 in
``.rel.debug_line``) points at its section: the k-th such relocation, by
offset, belongs to the k-th ``DW_LNE_set_address`` of the program.

Two additions, each announced once on stderr: an object without DWARF is
interleaved from its ``.BTF.ext`` line_info (the rows the kernel gets), and a
source file that cannot be read gives its lines from the text ``.BTF.ext``
carries. llvm-objdump prints nothing in both cases.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SourceLines"]

R_BPF_64_ABS64 = 2
_DW_LNE_SET_ADDRESS = 2


@dataclass
class _Sequence:
    """Rows of one line-table sequence: addresses [start, end) of one section."""

    addrs: list[int] = field(default_factory=list)
    rows: list[tuple[str, int]] = field(default_factory=list)  # (file, line)
    end: int = 0


class SourceLines:
    """The ``; line`` comments to print before each instruction of an object."""

    def __init__(self, elf: Any, objname: str):
        self._objname = objname
        self._seqs: dict[int, list[_Sequence]] = {}
        self._files: dict[str, list[str] | None] = {}
        #: (basename, line) -> the line's text, from .BTF.ext
        self._btf_text: dict[tuple[str, int], str] = {}
        self._old: tuple[str, int] | None = None
        self.warnings: list[str] = []
        self._btf_rows(elf)
        if not self._dwarf_rows(elf) and self._seqs:
            self._warn("no DWARF line table; source lines from the object's .BTF.ext line_info")

    # --- rows ---------------------------------------------------------------------------
    def _dwarf_rows(self, elf: Any) -> bool:
        """Read .debug_line; False when the object has none."""
        if elf.get_section_by_name(".debug_line") is None:
            return False
        from elftools.common.exceptions import DWARFError, ELFError

        try:
            dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
            starts = self._sequence_sections(elf)
            seqs: dict[int, list[_Sequence]] = {}
            k = 0
            for cu in dwarf.iter_CUs():
                prog = dwarf.line_program_for_CU(cu)
                if prog is None:
                    continue
                names = _file_names(prog, cu)
                shndx, seq = -1, _Sequence()
                for entry in prog.get_entries():
                    if entry.is_extended and entry.command == _DW_LNE_SET_ADDRESS:
                        shndx = starts[k] if k < len(starts) else -1
                        k += 1
                    st = entry.state
                    if st is None:
                        continue
                    if st.end_sequence:
                        seq.end = st.address
                        if seq.addrs:
                            seqs.setdefault(shndx, []).append(seq)
                        seq = _Sequence()
                        continue
                    seq.addrs.append(st.address)
                    seq.rows.append((names.get(st.file, "<invalid>"), st.line))
        except (DWARFError, ELFError, KeyError, IndexError, ValueError, AttributeError) as e:
            self._warn(f"unreadable DWARF line table ({e}); source lines from .BTF.ext")
            return False
        self._seqs = seqs
        return True

    @staticmethod
    def _sequence_sections(elf: Any) -> list[int]:
        """The section each DW_LNE_set_address points at, in the order they appear."""
        rel = elf.get_section_by_name(".rel.debug_line")
        if rel is None:
            return []
        symtab = elf.get_section(rel["sh_link"])
        out = []
        for r in sorted(rel.iter_relocations(), key=lambda r: r["r_offset"]):
            if r["r_info_type"] == R_BPF_64_ABS64:
                out.append(symtab.get_symbol(r["r_info_sym"])["st_shndx"])
        return out

    def _btf_rows(self, elf: Any) -> None:
        """.BTF.ext line_info: the texts, and rows for an object without DWARF."""
        from ..errors import BtfError
        from ..spec.btf import BTF, BtfExt

        btf_sec, ext_sec = elf.get_section_by_name(".BTF"), elf.get_section_by_name(".BTF.ext")
        if btf_sec is None or ext_sec is None:
            return
        try:
            ext = BtfExt.parse(ext_sec.data(), BTF.parse(btf_sec.data()))
        except BtfError:
            return
        for secname, recs in ext.line_info.items():
            sec = elf.get_section_by_name(secname)
            if sec is None:
                continue
            shndx = next(i for i, s in enumerate(elf.iter_sections()) if s.name == secname)
            seq = _Sequence(end=sec["sh_size"])
            for r in sorted(recs, key=lambda r: r.insn_off):
                seq.addrs.append(r.insn_off)
                seq.rows.append((r.file, r.line))
                self._btf_text.setdefault((os.path.basename(r.file), r.line), r.text)
            self._seqs[shndx] = [seq]

    # --- printing -----------------------------------------------------------------------
    def before(self, shndx: int, addr: int) -> str | None:
        """The comment to print before the instruction at ``addr`` of section ``shndx``."""
        info = self._lookup(shndx, addr)
        old, self._old = self._old, info
        if info is None or info[1] == 0 or info == old:
            return None
        text = self._text(*info)
        return None if text is None else f"; {text}"

    def _lookup(self, shndx: int, addr: int) -> tuple[str, int] | None:
        for seq in self._seqs.get(shndx, ()):
            if seq.addrs[0] <= addr < seq.end:
                return seq.rows[bisect.bisect_right(seq.addrs, addr) - 1]
        return None

    def _text(self, path: str, line: int) -> str | None:
        if path not in self._files:
            self._files[path] = _read_lines(path)
            if self._files[path] is None:
                self._warn(f"cannot read source {path}; its lines come from the object's .BTF.ext")
        lines = self._files[path]
        if lines is None:
            return self._btf_text.get((os.path.basename(path), line))
        if line > len(lines):
            self._warn(f"debug info line number {line} exceeds the number of lines in {path}")
            return None
        return lines[line - 1]

    def _warn(self, msg: str) -> None:
        text = f"warning: '{self._objname}': {msg}"
        if text not in self.warnings:
            self.warnings.append(text)


def _read_lines(path: str) -> list[str] | None:
    """The file's lines as llvm-objdump splits them (``\\n``, a ``\\r`` before it dropped)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [ln.removesuffix(b"\r").decode("utf-8", "replace") for ln in lines]


def _file_names(prog: Any, cu: Any) -> dict[int, str]:
    """File index -> path, joined with its directory and the unit's DW_AT_comp_dir."""
    version = prog.header["version"]
    top = cu.get_top_DIE()
    comp = top.attributes.get("DW_AT_comp_dir")
    comp_dir = _text(comp.value) if comp is not None else ""
    dirs = [_text(d) for d in prog.header["include_directory"]]
    out: dict[int, str] = {}
    for i, f in enumerate(prog.header["file_entry"]):
        name = _text(f.name)
        di = f.dir_index
        if version >= 5:
            directory = dirs[di] if di < len(dirs) else ""
            index = i
        else:
            directory = comp_dir if di == 0 else (dirs[di - 1] if di - 1 < len(dirs) else "")
            index = i + 1
        if not os.path.isabs(directory):
            directory = os.path.join(comp_dir, directory)
        out[index] = name if os.path.isabs(name) else os.path.join(directory, name)
    return out


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
