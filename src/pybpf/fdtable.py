"""File descriptors for user-space BPF objects: a table per backend, as the kernel has per process.

In the kernel a map or program is reached from user space through a file
descriptor, and ``BPF_LD_MAP_FD(reg, fd)`` names a map by one. pybpf's
user-space maps and programs get numbers from an :class:`FdTable` the same
way: each :class:`pybpf.user.UserBackend` owns one, so two backends never see
each other's objects. Objects made on their own (``pybpf.Map(...)``,
``pybpf.Program(...)``) join the process's default table. Numbers start far
above any real descriptor so that a fake fd never aliases an open file.
"""

from __future__ import annotations

import errno as E
import weakref
from typing import Any

from .errors import BpfError

__all__ = ["FIRST_FD", "FdTable", "default_table"]

#: the first number a table hands out
FIRST_FD = 1 << 20


class FdTable:
    """fd -> object, weakly held: an object that is garbage-collected closes its fd."""

    def __init__(self) -> None:
        self._next = FIRST_FD
        self._objects: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()

    def install(self, obj: Any) -> int:
        """Give ``obj`` the next fd (its ``fd`` attribute is set too) and return it."""
        fd = self._next
        self._next += 1
        self._objects[fd] = obj
        obj.fd = fd
        obj.fdtable = self
        return fd

    def get(
        self, fd: int, kind: type | tuple[type, ...] | None = None, what: str = "object"
    ) -> Any:
        """The object behind ``fd``; EBADF when there is none (or it is not a ``kind``)."""
        obj = self._objects.get(fd) if isinstance(fd, int) else None
        if obj is None or (kind is not None and not isinstance(obj, kind)):
            raise BpfError(f"fd {fd} is not a pybpf {what}", errno=E.EBADF)
        return obj

    def lookup(self, fd: int) -> Any:
        """The object behind ``fd`` or None."""
        return self._objects.get(fd) if isinstance(fd, int) else None

    def close(self, obj: Any) -> None:
        """Forget ``obj``'s fd (what close(fd) does); a second close is harmless."""
        fd = getattr(obj, "fd", None)
        if isinstance(fd, int) and self._objects.get(fd) is obj:
            del self._objects[fd]

    def __len__(self) -> int:
        return len(self._objects)

    def __repr__(self) -> str:
        return f"<FdTable {len(self)} open>"


_DEFAULT = FdTable()


def default_table() -> FdTable:
    """The table of objects made outside any backend (the process's own)."""
    return _DEFAULT
