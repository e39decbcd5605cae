"""The kernel backend: specs become maps and programs in the running kernel, through bpf(2).

``KernelBackend()`` follows libbpf's bpf_object__load order when
:func:`pybpf.load` drives it: the object's BTF first (BPF_BTF_LOAD, once per
object, :func:`pybpf.kernel.btf.btf_handle`), so that BTF-defined maps name
their key and value types and programs carry func_info/line_info; then the
maps with their initial contents (``.rodata`` frozen); then the programs,
whose map references get the new fds. The kernel's verifier decides; its log
is the program's ``log``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..spec.types import MapSpec, ProgramSpec
from .maps import create_map
from .program import KernelProgram

__all__ = ["KernelBackend"]


class KernelBackend:
    """Specs to kernel objects (the :class:`pybpf.api.Backend` protocol)."""

    name = "kernel"

    def create_map(self, spec: MapSpec, *, btf: Any = None) -> Any:
        """BPF_MAP_CREATE (with BTF type ids when the object has BTF), filled and frozen."""
        return create_map(spec, btf)

    def load_program(
        self, spec: ProgramSpec, maps: Mapping[str, Any], *, log_level: int = 0
    ) -> KernelProgram:
        """BPF_PROG_LOAD with the map fds relocated in; KernelError carries the log."""
        return KernelProgram.from_spec(spec, maps, log_level=log_level)

    def verifier_result(self, prog: Any) -> str:
        """The kernel verifier's log (empty unless loaded with log_level > 0)."""
        return str(getattr(prog, "log", ""))

    def __repr__(self) -> str:
        return "<KernelBackend>"
