"""Plain, deterministic descriptions of programs and maps ("spec before load").

Parsing an object file, assembling text or typing macros yields these specs;
they never touch a kernel. ``load`` (user-space or kernel backend) turns them
into live Program and Map objects. Modelled on cilium/ebpf's CollectionSpec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..isa import Insn


@dataclass
class MapSpec:
    """What a map is, before it exists: the fields of bpf(BPF_MAP_CREATE)."""

    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    #: initial contents (global data sections): bytes of the single value, or key->value
    initial: bytes | dict[bytes, bytes] | None = None
    #: frozen after creation (.rodata), as libbpf does with BPF_MAP_FREEZE
    frozen: bool = False
    #: BTF type ids / type objects of key and value when the object had BTF
    key_type: Any = None
    value_type: Any = None
    #: for PROG_ARRAY / map-in-map: inner spec or program names
    inner: MapSpec | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LineInfo:
    """A .BTF.ext line_info record resolved to text: which C line an instruction came from."""

    insn: int  # slot index in the program
    file: str
    line: int
    col: int
    text: str


@dataclass(frozen=True)
class MapRef:
    """A relocation target left in an LDDW by the loader: map ``name`` (+ value offset)."""

    name: str
    value_offset: int | None = None  # None: map pointer (PSEUDO_MAP_FD); int: map value


@dataclass
class ProgramSpec:
    """A program before load: instructions plus what the kernel needs to load it."""

    name: str
    insns: list[Insn]
    prog_type: int = 1  # BPF_PROG_TYPE_SOCKET_FILTER
    license: str = "GPL"
    section: str = ""
    expected_attach_type: int = 0
    line_info: list[LineInfo] = field(default_factory=list)
    #: raw BTF blobs (func_info/line_info) for the kernel backend, when the object had them
    btf: Any = None
    func_info: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class ObjectSpec:
    """Everything one object file (or one assembled module) describes."""

    programs: dict[str, ProgramSpec] = field(default_factory=dict)
    maps: dict[str, MapSpec] = field(default_factory=dict)
    license: str = "GPL"
    btf: Any = None
    path: str | None = None
    #: a macro module's ``build(maps) -> instructions``: its programs' instructions exist
    #: only once the maps do (BPF_LD_MAP_FD names a live map), so load() calls it
    builder: Callable[[Any], Any] | None = field(default=None, compare=False, repr=False)
