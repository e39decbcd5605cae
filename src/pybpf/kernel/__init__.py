"""The kernel backend: the same maps and programs, living in the running kernel.

``syscall`` is the ctypes bpf() layer (one function per command, attribute
layouts in ``attr``; pinning in ``bpffs``, object info and ids in ``info``);
``KernelMap`` and ``KernelProgram`` give kernel objects the
:mod:`pybpf.api` Map and Program interfaces; ``KernelBackend`` loads specs
the way libbpf does (BTF first, ``btf``); ``link`` attaches programs to XDP,
tc (tcx) and cgroup hooks; ``netns`` runs frames through a real packet socket
on a private veth pair; ``probe`` says what this kernel supports.
"""

from __future__ import annotations

from . import probe, syscall
from .backend import KernelBackend
from .maps import KernelMap
from .program import KernelProgram
from .syscall import bpf_available

__all__ = ["KernelBackend", "KernelMap", "KernelProgram", "bpf_available", "probe", "syscall"]
