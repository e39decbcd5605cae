"""BPF_MAP_TYPE_QUEUE and BPF_MAP_TYPE_STACK (kernel/bpf/queue_stack_maps.c; C: queue_stack.c).

A ring of ``max_entries + 1`` value slots with head/tail indices, as
``struct bpf_queue_stack`` keeps it.  There are no keys: push is
BPF_MAP_UPDATE_ELEM with a NULL key, peek is LOOKUP_ELEM, pop is
LOOKUP_AND_DELETE_ELEM.  Push with BPF_EXIST on a full map drops the oldest
element to make room.
"""

from __future__ import annotations

import ctypes
import errno as E
from typing import Any

from ..uapi import BPF_F_NUMA_NODE, BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK
from . import clib
from .base import BPF_F_ACCESS_MASK, KMALLOC_MAX_SIZE, Map, flags_access_ok, map_err
from .native_map import NativeMap

QUEUE_STACK_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK


@Map.register
class QueueStackMap(NativeMap):
    map_types = (BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK)
    messages = {
        ("push", E.EINVAL): "bad push flags {flags:#x}",
        ("push", E.E2BIG): "{name} full ({max_entries} entries)",
        ("pop", E.ENOENT): "{name} is empty",
    }

    def check_create(self) -> None:
        # queue_stack_map_alloc_check()
        if (
            self.max_entries == 0
            or self.key_size != 0
            or self.value_size == 0
            or self.flags & ~QUEUE_STACK_CREATE_FLAG_MASK
            or not flags_access_ok(self.flags)
        ):
            raise map_err(
                E.EINVAL,
                f"bad {self.type_name} attributes: key_size must be 0, "
                f"value_size and max_entries > 0, flags {self.flags:#x}",
            )
        if self.value_size > KMALLOC_MAX_SIZE:
            raise map_err(E.E2BIG, f"value_size {self.value_size} > KMALLOC_MAX_SIZE")

    def _init_storage(self) -> None:
        super()._init_storage()
        lib = clib.lib()
        self._c_push = lib.pybpf_map_push_elem
        self._c_pop = lib.pybpf_map_pop_elem
        self._c_peek = lib.pybpf_map_peek_elem

    @property
    def is_stack(self) -> bool:
        return self.type == BPF_MAP_TYPE_STACK

    def _state(self) -> tuple[int, int, int]:
        """head, tail and the ring size (max_entries + 1)."""
        st = (ctypes.c_uint32 * 3)()
        clib.lib().pybpf_queue_stack_state(self.native, st)
        return st[0], st[1], st[2]

    def _slot(self, i: int) -> bytes:
        return bytes(self.storage[i * self.value_size : (i + 1) * self.value_size])

    # -- kernel ops ----------------------------------------------------------------------

    def _push(self, v: bytes, flags: int) -> None:
        v = self._exact(v, self.value_size, "value")
        err = self._c_push(self.native, v, self._flags(flags))
        if err:
            raise self._error("push", -err, flags=flags)

    def _peek_pop(self, delete: bool) -> bytes:
        """The next value (popped if ``delete``); MapError(ENOENT) when empty."""
        err = (self._c_pop if delete else self._c_peek)(self.native, self._vout)
        if err:
            raise self._error("pop", -err)
        return self._vout.raw

    def push(self, value: Any, flags: int = 0) -> None:
        """map_push_elem (BPF_MAP_UPDATE_ELEM with a NULL key)."""
        self._check_write()
        self._push(self._as_bytes(value, self.value_size, "value"), flags)

    def peek(self) -> bytes | None:
        """map_peek_elem (BPF_MAP_LOOKUP_ELEM); None when empty (ENOENT)."""
        self._check_read()
        return None if not len(self) else self._peek_pop(False)

    def pop(self) -> bytes | None:
        """map_pop_elem (BPF_MAP_LOOKUP_AND_DELETE_ELEM); None when empty (ENOENT)."""
        self._check_read()
        self._check_write()
        return None if not len(self) else self._peek_pop(True)

    # -- the program side: bpf_map_push_elem / pop_elem / peek_elem ----------------------------

    def prog_push(self, value: bytes, flags: int = 0) -> None:
        self._push(self._as_bytes(value, self.value_size, "value"), flags)

    def prog_pop(self) -> bytes:
        """The popped value; MapError(ENOENT) when empty."""
        return self._peek_pop(True)

    def prog_peek(self) -> bytes:
        return self._peek_pop(False)

    # -- the generic face -----------------------------------------------------------------

    def lookup(self, key: Any = None) -> bytes | None:
        self._check_read()
        if key not in (None, b""):
            raise map_err(E.EINVAL, f"{self.type_name} has no keys")
        return None if not len(self) else self._peek_pop(False)

    def update(self, key: Any, value: Any = None, flags: int = 0) -> None:
        if value is None and key is not None:
            key, value = None, key
        if key not in (None, b""):
            raise map_err(E.EINVAL, f"{self.type_name} has no keys")
        self.push(value, flags)

    def _lookup_and_delete(self, key: bytes) -> bytes:
        return self._peek_pop(True)

    def lookup_and_delete(self, key: Any = None) -> bytes:
        self._check_read()
        self._check_write()
        return self._peek_pop(True)

    def delete(self, key: Any = None) -> None:
        raise map_err(E.EINVAL, f"{self.type_name} elements cannot be deleted by key")

    def next_key(self, key: Any = None) -> bytes | None:
        raise map_err(E.EINVAL, f"{self.type_name} has no keys to iterate")

    def __iter__(self):
        raise map_err(E.EINVAL, f"{self.type_name} has no keys to iterate")

    def values(self) -> list[bytes]:
        """Contents from the next to pop to the last."""
        head, tail, size = self._state()
        n = (head - tail) % size
        if self.is_stack:
            return [self._slot((head - 1 - i) % size) for i in range(n)]
        return [self._slot((tail + i) % size) for i in range(n)]

    def items(self):
        raise map_err(E.EINVAL, f"{self.type_name} has no keys")

    def value_offset(self, key: bytes, cpu: int | None = None) -> int | None:
        return None

    def _pin_state(self):
        head, tail, size = self._state()
        n = (head - tail) % size
        oldest_first = [self._slot((tail + i) % size) for i in range(n)]
        return {}, [(b"", v) for v in oldest_first]

    def _unpin_state(self, extra, records):
        for _, v in records:
            self._push(v, 0)
