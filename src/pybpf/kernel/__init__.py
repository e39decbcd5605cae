"""The kernel backend: the same maps and programs, living in the running kernel.

``syscall`` is the ctypes bpf() layer (one function per command, attribute
layouts in ``attr``); ``KernelMap`` and ``KernelProgram`` give kernel objects
the user-space Map and Program interfaces; ``loader`` loads a whole ObjectSpec
as libbpf does (BTF first, then maps with their contents, programs, prog
arrays); ``netns`` runs frames through a real packet socket on a private veth
pair; ``probe`` says what this kernel supports.
"""

from __future__ import annotations

from . import probe, syscall
from .maps import KernelMap
from .program import KernelProgram
from .syscall import bpf_available

__all__ = ["KernelMap", "KernelProgram", "bpf_available", "probe", "syscall"]
