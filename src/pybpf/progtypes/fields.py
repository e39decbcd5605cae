"""A member of a context struct, and finding the member at an offset."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["NARROW_POINTER", "CtxField", "field_at"]

#: the narrow-load table code of a context word holding a packet pointer
#: (pybpf.vm.memory.narrow_load): the kernel's rewrite loads an 8-byte member there
NARROW_POINTER = 8


@dataclass(frozen=True)
class CtxField:
    """One member of a context struct: ``name`` at ``offset``, ``size`` bytes in all.

    ``elem`` is the element size of an array member (``cb[5]`` has elem 4).
    """

    name: str
    offset: int
    size: int
    elem: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.size


def field_at(off: int, fields: Iterable[CtxField]) -> CtxField | None:
    """The member of ``fields`` containing byte ``off`` (None inside padding or past the end)."""
    for f in fields:
        if f.offset <= off < f.end:
            return f
    return None
