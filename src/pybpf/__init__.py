"""pybpf: Linux eBPF socket filters and the kernel's iov_iter, in Python.

Assemble (kernel macros, text), disassemble, verify and run eBPF programs in
user space, or load the same programs and maps into the running kernel::

    import pybpf
    coll = pybpf.load("prog.c")                 # compile, verify, load in user space
    coll.program().run(frame)                    # run on one Ethernet frame
    dict(coll.maps["my_map"].items())            # read what it counted
    pybpf.load("prog.o", backend="kernel")       # the same, in the running kernel

Heavier parts are imported lazily so that ``import pybpf`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AsmError,
    BpfError,
    CaptureError,
    CompileError,
    ElfError,
    InsnError,
    IovError,
    KernelError,
    MapError,
    MemoryAccessError,
    NotSupportedError,
    VerifierError,
    VmError,
)
from .isa import Insn, decode, encode

if TYPE_CHECKING:
    from .api import TestRunResult
    from .asm.disasm import disassemble
    from .asm.text import assemble
    from .kernel.backend import KernelBackend
    from .loader import Collection, load
    from .maps import Map, create_map
    from .spec.read import read_spec
    from .user.backend import UserBackend
    from .user.program import Program
    from .verifier.check import verify

__version__ = "0.1.0"

_LAZY = {
    "load": ("loader", "load"),
    "read_spec": ("spec.read", "read_spec"),
    "Collection": ("loader", "Collection"),
    "UserBackend": ("user.backend", "UserBackend"),
    "KernelBackend": ("kernel.backend", "KernelBackend"),
    "TestRunResult": ("api", "TestRunResult"),
    "Map": ("maps", "Map"),
    "create_map": ("maps", "create_map"),
    "Program": ("user.program", "Program"),
    "assemble": ("asm.text", "assemble"),
    "disassemble": ("asm.disasm", "disassemble"),
    "verify": ("verifier.check", "verify"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{mod}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pybpf' has no attribute {name!r}")


__all__ = [
    "AsmError",
    "BpfError",
    "CaptureError",
    "Collection",
    "CompileError",
    "ElfError",
    "Insn",
    "InsnError",
    "KernelBackend",
    "IovError",
    "KernelError",
    "Map",
    "MapError",
    "MemoryAccessError",
    "NotSupportedError",
    "Program",
    "TestRunResult",
    "UserBackend",
    "VerifierError",
    "VmError",
    "assemble",
    "create_map",
    "decode",
    "disassemble",
    "encode",
    "load",
    "read_spec",
    "verify",
]
