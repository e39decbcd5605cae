"""BPF_MAP_TYPE_PROG_ARRAY (kernel/bpf/arraymap.c, the fd-array part): tail-call targets.

User space stores a program by writing its fd (a u32) at an index; a lookup
gives the program's id back (here: its fd). The fd is looked up in the map's
own fd table (its backend's), as the kernel looks it up in the caller's.  Programs call
``bpf_tail_call(ctx, map, index)`` and the helper asks :meth:`get_prog`.
"""

from __future__ import annotations

import errno as E
from typing import Any

from ..uapi import BPF_ANY, BPF_F_MMAPABLE, BPF_MAP_TYPE_PROG_ARRAY
from .array import ArrayBase
from .base import Map, map_err


@Map.register
class ProgArrayMap(ArrayBase):
    map_types = (BPF_MAP_TYPE_PROG_ARRAY,)
    #: no struct pybpf_map: its values are programs, tail calls are the VM's business
    native = 0

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
        return int(self.progs[i].fd).to_bytes(4, "little")

    def update(self, key: Any, value: Any, flags: int = 0) -> None:
        if not isinstance(value, bytes | bytearray | memoryview | int):
            value = int(value.fd)  # a program object
        super().update(key, value, flags)

    def _update(self, key: bytes, value: bytes, flags: int) -> None:
        # bpf_fd_array_map_update_elem()
        if flags != BPF_ANY:
            raise map_err(E.EINVAL, "prog_array updates take BPF_ANY only")
        i = self.index(key)
        if i >= self.max_entries:
            raise map_err(E.E2BIG, f"index {i} >= max_entries {self.max_entries}")
        fd = int.from_bytes(value, "little")
        prog = self.fdtable.lookup(fd)
        if prog is None or not hasattr(prog, "insns"):
            raise map_err(E.EBADF, f"fd {fd} is not a pybpf program")
        self.progs[i] = prog

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
