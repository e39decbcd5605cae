"""pybpf: Linux eBPF socket filters and the kernel's iov_iter, in Python.

Assemble (kernel macros, text), disassemble, verify and run eBPF programs in
user space, or load the same programs and maps into the running kernel.
"""

from __future__ import annotations

from .errors import (
    AsmError,
    BpfError,
    InsnError,
    MapError,
    MemoryAccessError,
    VerifierError,
    VmError,
)
from .isa import Insn, decode, encode

__version__ = "0.1.0"

__all__ = [
    "AsmError",
    "BpfError",
    "Insn",
    "InsnError",
    "MapError",
    "MemoryAccessError",
    "VerifierError",
    "VmError",
    "decode",
    "encode",
]
