"""What every backend provides: the Program, Map and Backend protocols, and one TestRunResult.

pybpf has two backends — user space (:class:`pybpf.user.UserBackend`:
pybpf's verifier, interpreter or JIT, maps in pybpf's memory) and the running
kernel (:class:`pybpf.kernel.KernelBackend`: bpf(2)). Both turn the same
specs into objects with the interfaces below, so code written against them
(a test, a packet socket, ``pybpf run``) works with either, as cilium/ebpf's
Program and Map do for its users.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .isa import Insn
from .spec.types import MapSpec, ProgramSpec

__all__ = ["Backend", "Map", "Program", "TestRunResult"]


@dataclass
class TestRunResult:
    """What BPF_PROG_TEST_RUN returns: retval, mean ns per run, output data and context.

    ``data_size_out`` is the kernel's size of the output, which may exceed
    ``len(data_out)`` when the caller's buffer was too small (ENOSPC).
    """

    __test__ = False  # not a pytest class

    retval: int
    duration: int
    data_out: bytes = b""
    ctx_out: bytes = b""
    data_size_out: int = 0


@runtime_checkable
class Program(Protocol):
    """A loaded program, in either backend.

    ``run(frame)`` is what a packet socket does for each packet (the frame
    starts at the MAC header; the u32 return value means 0 = drop, N = keep
    ``min(N, len)`` bytes); it also takes a :class:`pybpf.net.skb.SkBuff`,
    whose ``data`` offset says where the program's packet starts (the MAC
    header on a packet socket, the transport header on a UDP socket).
    ``test_run`` is BPF_PROG_TEST_RUN exactly as the kernel defines it.
    """

    name: str
    prog_type: int
    fd: int
    insns: list[Insn]

    def run(self, data_or_skb: Any) -> int: ...

    def test_run(
        self, data: bytes, repeat: int = 1, ctx_in: bytes | None = None
    ) -> TestRunResult: ...

    def close(self) -> None: ...


@runtime_checkable
class Map(Protocol):
    """A map, in either backend: the bpf(2) map commands plus a dict face."""

    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    fd: int

    def lookup(self, key: Any) -> bytes | None: ...

    def update(self, key: Any, value: Any, flags: int = 0) -> None: ...

    def delete(self, key: Any) -> None: ...

    def next_key(self, key: Any = None) -> bytes | None: ...

    def items(self) -> Iterator[tuple[bytes, bytes]]: ...

    def close(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """Where specs become live objects: ``create_map`` then ``load_program``.

    :func:`pybpf.load` runs the same loop over any backend: every map of an
    ObjectSpec is created, then every program is loaded with its map
    references resolved against those maps; the spec itself is never changed.
    """

    #: "user" or "kernel"
    name: str

    def create_map(self, spec: MapSpec) -> Map: ...

    def load_program(
        self, spec: ProgramSpec, maps: Mapping[str, Map], *, log_level: int = 0
    ) -> Program: ...

    def verifier_result(self, prog: Program) -> Any:
        """What the verifier said about ``prog`` (statistics, or the kernel's log)."""
        ...
