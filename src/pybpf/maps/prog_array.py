"""BPF_MAP_TYPE_PROG_ARRAY (kernel/bpf/arraymap.c, the fd-array part): tail-call targets.

User space stores a program by writing its fd (a u32) at an index; a lookup
gives the program's id back (here: its fake fd).  Programs call
``bpf_tail_call(ctx, map, index)`` and the helper asks :meth:`get_prog`.
"""

from __future__ import annotations

import errno as E
import itertools
from collections.abc import Callable
from typing import Any

from ..uapi import BPF_ANY, BPF_F_MMAPABLE, BPF_MAP_TYPE_PROG_ARRAY
from .array import ArrayBase
from .base import Map, map_err

_prog_fd_counter = itertools.count(1 << 21)
_prog_fds: dict[int, Any] = {}


def prog_fd(prog: Any) -> int:
    """A fake fd for a program object (the same object always gets the same fd)."""
    fd = getattr(prog, "fd", None)
    if isinstance(fd, int) and (
        _prog_fds.get(fd) is prog or any(fn(fd) is prog for fn in _resolvers)
    ):
        return fd
    for k, v in _prog_fds.items():
        if v is prog:
            return k
    fd = next(_prog_fd_counter)
    _prog_fds[fd] = prog
    return fd


_resolvers: list[Callable[[int], Any]] = []


def register_prog_resolver(fn: Callable[[int], Any]) -> None:
    """Let another fd table (e.g. the Program class's) resolve program fds: fn(fd) -> prog|None."""
    if fn not in _resolvers:
        _resolvers.append(fn)


def prog_by_fd(fd: int) -> Any:
    """Resolve a program fd (from :func:`prog_fd` or a registered resolver); EBADF if unknown."""
    p = _prog_fds.get(fd)
    for fn in _resolvers:
        if p is not None:
            break
        p = fn(fd)
    if p is None:
        raise map_err(E.EBADF, f"fd {fd} is not a pybpf program")
    return p


@Map.register
class ProgArrayMap(ArrayBase):
    map_types = (BPF_MAP_TYPE_PROG_ARRAY,)

    def check_create(self) -> None:
        # fd_array_map_alloc_check()
        if self.value_size != 4 or self.flags & BPF_F_MMAPABLE:
            raise map_err(E.EINVAL, "prog_array value_size must be 4 (a program fd)")
        super().check_create()

    def _init_storage(self) -> None:
        self.progs: list[Any] = [None] * self.max_entries
        self._alloc_storage(0)

    def value_offset(self, key: bytes) -> int | None:
        return None

    def _lookup(self, key: bytes) -> bytes | None:
        i = self.index(key)
        if i >= self.max_entries or self.progs[i] is None:
            return None
        return prog_fd(self.progs[i]).to_bytes(4, "little")

    def update(self, key: Any, value: Any, flags: int = 0) -> None:
        if not isinstance(value, bytes | bytearray | memoryview | int):
            value = prog_fd(value)  # a program object
        super().update(key, value, flags)

    def _update(self, key: bytes, value: bytes, flags: int) -> None:
        # bpf_fd_array_map_update_elem()
        if flags != BPF_ANY:
            raise map_err(E.EINVAL, "prog_array updates take BPF_ANY only")
        i = self.index(key)
        if i >= self.max_entries:
            raise map_err(E.E2BIG, f"index {i} >= max_entries {self.max_entries}")
        self.progs[i] = prog_by_fd(int.from_bytes(value, "little"))

    def _delete(self, key: bytes) -> None:
        # fd_array_map_delete_elem()
        i = self.index(key)
        if i >= self.max_entries:
            raise map_err(E.E2BIG, f"index {i} >= max_entries {self.max_entries}")
        if self.progs[i] is None:
            raise map_err(E.ENOENT, f"no program at index {i}")
        self.progs[i] = None

    def get_prog(self, index: int) -> Any:
        """The program a tail call to ``index`` jumps to, or None (the call falls through)."""
        if 0 <= index < self.max_entries:
            return self.progs[index]
        return None

    def set_prog(self, index: int, prog: Any) -> None:
        self.update(index, prog)

    def __len__(self) -> int:
        return sum(p is not None for p in self.progs)

    def _pin_state(self):
        raise map_err(E.EOPNOTSUPP, "a prog_array holds live programs and cannot be pinned")
