"""Everything before load: object files, C sources and macro modules read into plain specs.

An :class:`ObjectSpec` (maps and programs as data, never touching a kernel) is
what every source becomes: an ELF object (:mod:`.elf`, with :mod:`.reloc`,
:mod:`.sections`, :mod:`.btf`), a C file compiled by the bundled clang
(:mod:`.cc`), or a Python module of kernel macros (:mod:`.macros`). Loading a
spec into a backend is :func:`pybpf.load`'s business; :mod:`.linker` holds the
steps that join a spec to the live maps of either backend.
"""

from __future__ import annotations

from .types import LineInfo, MapRef, MapSpec, ObjectSpec, ProgramSpec

__all__ = ["LineInfo", "MapRef", "MapSpec", "ObjectSpec", "ProgramSpec"]
