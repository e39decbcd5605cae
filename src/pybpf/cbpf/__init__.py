"""Classic BPF: the filters eBPF grew from, as the kernel still accepts and runs them.

* :mod:`~pybpf.cbpf.insn` — ``struct sock_filter``, opcodes, ancillary loads, encoding;
* :mod:`~pybpf.cbpf.check` — the kernel's ``bpf_check_classic``;
* :mod:`~pybpf.cbpf.convert` — the kernel's ``bpf_convert_filter`` (classic to eBPF);
* :mod:`~pybpf.cbpf.vm` — classic BPF run directly (the reference);
* :mod:`~pybpf.cbpf.program` — :class:`ClassicProgram`: checked, converted, run
  in pybpf's interpreter or JIT, loaded into the kernel;
* :mod:`~pybpf.cbpf.ancillary` — what ancillary loads read (payload offset,
  netlink attributes ...);
* :mod:`~pybpf.cbpf.forms`, :mod:`~pybpf.cbpf.asm`, :mod:`~pybpf.cbpf.printer` —
  ``tcpdump -d/-dd/-ddd``, bpf_asm syntax, raw bytes in and out;
* :mod:`~pybpf.cbpf.libpcap` — filter expressions compiled by libpcap (ctypes);
* :mod:`~pybpf.cbpf.capture` — an expression over captures, counted as tcpdump counts;
* :mod:`~pybpf.cbpf.kernel` — SO_ATTACH_FILTER and friends on real sockets.
"""

from __future__ import annotations

from .check import ClassicError, check_classic
from .convert import convert_filter
from .forms import read_classic
from .insn import BPF_JUMP, BPF_STMT, SockFilter, decode, encode
from .program import ClassicProgram, load_classic

__all__ = [
    "BPF_JUMP",
    "BPF_STMT",
    "ClassicError",
    "ClassicProgram",
    "SockFilter",
    "check_classic",
    "convert_filter",
    "decode",
    "encode",
    "load_classic",
    "read_classic",
]
