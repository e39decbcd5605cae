"""A map whose storage and algorithms are C (``bpf_map.h``): what every native type shares.

The map is one ``struct pybpf_map`` (``native``: its address) and one ``storage``
bytearray the struct points into; the Python Map API, the interpreter's helpers
and native code (the JIT, the batch engine) all go through the same ops on the
same memory.  Python is the boundary: every key, value, flag, size and cpu is
checked here before it reaches C, so C only ever sees exact-size buffers and
in-range numbers.  Per call this costs the checks and one ctypes call.
"""

from __future__ import annotations

import ctypes
import errno as E
import os
import weakref
from typing import Any, ClassVar

from ..errors import MapError
from ..uapi import BPF_EXIST, BPF_F_RDONLY, BPF_F_WRONLY
from . import clib
from .base import MAX_STORAGE, Map, map_err

#: private bookkeeping (buckets, LRU lists, trie nodes) this simulation refuses to allocate
MAX_PRIVATE = 2 * MAX_STORAGE

_M64 = 1 << 64

#: what a failed op says, by errno, when the type has nothing more specific
_GENERIC = {
    E.ENOENT: "no such element",
    E.EEXIST: "element exists (BPF_NOEXIST)",
    E.E2BIG: "map is full ({max_entries} entries)",
    E.EINVAL: "invalid argument",
    E.ENOMEM: "out of memory",
    E.ENOSPC: "map is full ({max_entries} entries)",
    524: "operation not supported by this map type (ENOTSUPP)",
}


class NativeMap(Map):
    """A :class:`Map` whose elements live in C: ``native`` and ``storage`` per bpf_map.h."""

    #: per (operation, errno): a message template ({key}, {index}, {flags}, {max_entries},
    #: {name})
    messages: ClassVar[dict[tuple[str, int], str]] = {}

    #: address of the map's struct pybpf_map (bpf_map.h), for the map's whole life
    native: int
    _cpu: int

    # -- creation ---------------------------------------------------------------------------

    def _hashrnd(self) -> int:
        """The jhash seed creation passes to C (hash maps override)."""
        return 0

    def _init_storage(self) -> None:
        lib = clib.lib()
        attr = clib.MapAttr(
            self.type,
            self.key_size,
            self.value_size,
            self.max_entries,
            self.flags,
            self.ncpus,
            self._hashrnd(),
            0,
        )
        ssize, psize = ctypes.c_uint64(), ctypes.c_uint64()
        err = lib.pybpf_map_mem_usage(ctypes.byref(attr), ctypes.byref(ssize), ctypes.byref(psize))
        if err:
            raise map_err(
                -err, f"{self.type_name} attributes do not give a map ({os.strerror(-err)})"
            )
        if psize.value > MAX_PRIVATE:
            raise map_err(E.ENOMEM, f"map bookkeeping of {psize.value} bytes is too large")
        self._alloc_storage(ssize.value)
        # the exported buffer pins the bytearray: it can never be resized (moved)
        self._pinned = (ctypes.c_char * len(self.storage)).from_buffer(self.storage)
        self._base = ctypes.addressof(self._pinned)
        addr = lib.pybpf_map_create(ctypes.byref(attr), self._base, len(self.storage))
        if not addr:
            raise map_err(E.ENOMEM, f"cannot allocate the {self.type_name} map")
        self.native = addr
        weakref.finalize(self, lib.pybpf_map_free, addr)
        st = clib.BpfMap.from_address(addr)
        #: bytes per element slot in storage; per-cpu copies are ``stride`` apart
        self.elem_size = st.slot_size
        self.stride = st.value_stride
        self.key_stride = st.key_stride
        self._uvs = self.user_value_size
        # out-buffers for the value and key a call copies back (exactly the user sizes)
        self._vout = (ctypes.c_char * max(self.user_value_size, 1))()
        self._kout = (ctypes.c_char * max(self.key_size, 1))()
        # bound once: the per-call cost is the ctypes call itself
        self._c_lookup_elem = lib.pybpf_map_lookup_elem
        self._c_update_elem = lib.pybpf_map_update_elem
        self._c_delete_elem = lib.pybpf_map_delete_elem
        self._c_lookup_sys = lib.pybpf_map_lookup_sys
        self._c_update_sys = lib.pybpf_map_update_sys
        self._c_lookup_and_delete = lib.pybpf_map_lookup_and_delete_sys
        self._c_next_key = lib.pybpf_map_get_next_key
        self._c_count = lib.pybpf_map_count

    # -- the simulated cpu ----------------------------------------------------------------------

    @property
    def cpu(self) -> int:
        """The cpu a program runs on (per-cpu values, LRU lists); 0 <= cpu < ncpus."""
        return self._cpu

    @cpu.setter
    def cpu(self, cpu: int) -> None:
        if not isinstance(cpu, int) or isinstance(cpu, bool) or not 0 <= cpu < self.ncpus:
            raise map_err(E.EINVAL, f"cpu {cpu!r} out of range (ncpus {self.ncpus})")
        self._cpu = cpu

    def _cpu_arg(self, cpu: Any) -> int:
        if cpu is None:
            return self._cpu
        if not isinstance(cpu, int) or isinstance(cpu, bool) or not 0 <= cpu < self.ncpus:
            raise map_err(E.EINVAL, f"cpu {cpu!r} out of range (ncpus {self.ncpus})")
        return cpu

    # -- errors ---------------------------------------------------------------------------------

    def _error(self, op: str, errno: int, key: bytes | None = None, flags: int = 0) -> MapError:
        text = self.messages.get((op, errno)) or _GENERIC.get(errno) or os.strerror(errno)
        msg = text.format(
            key=key.hex() if key is not None else "",
            index=int.from_bytes(key[:4], "little") if key else 0,
            flags=flags,
            max_entries=self.max_entries,
            name=self.name or self.type_name,
        )
        return map_err(errno, msg)

    def _exact(self, b: Any, size: int, what: str) -> bytes:
        """The last check before C: exactly ``size`` bytes."""
        if type(b) is not bytes:
            if not isinstance(b, bytes | bytearray | memoryview):
                raise map_err(E.EINVAL, f"{what} must be bytes, not {type(b).__name__}")
            b = bytes(b)
        if len(b) != size:
            raise map_err(E.EINVAL, f"{what} is {len(b)} bytes, the map takes {size}")
        return b

    @staticmethod
    def _flags(flags: Any) -> int:
        if not isinstance(flags, int) or isinstance(flags, bool) or not 0 <= flags < _M64:
            raise map_err(E.EINVAL, f"bad update flags {flags!r}")
        return flags

    # -- the bpf() commands: a fast path for exact-size bytes, Map's checks otherwise ----------------

    def lookup(self, key: Any) -> bytes | None:
        """BPF_MAP_LOOKUP_ELEM: the value (all cpus for per-cpu maps), None for ENOENT."""
        if type(key) is not bytes or len(key) != self.key_size or self.flags & BPF_F_WRONLY:
            return super().lookup(key)
        err = self._c_lookup_sys(self.native, key, self._vout, self._cpu)
        if err:
            if err == -E.ENOENT:
                return None
            raise self._error("lookup", -err, key)
        return self._vout.raw

    def update(self, key: Any, value: Any, flags: int = 0) -> None:
        """BPF_MAP_UPDATE_ELEM with BPF_ANY / BPF_NOEXIST / BPF_EXIST."""
        if (
            type(key) is not bytes
            or len(key) != self.key_size
            or type(value) is not bytes
            or len(value) != self._uvs
            or type(flags) is not int
            or not 0 <= flags <= BPF_EXIST
            or self.frozen
            or self.flags & BPF_F_RDONLY
        ):
            return super().update(key, value, flags)
        err = self._c_update_sys(self.native, key, value, flags, self._cpu)
        if err:
            raise self._error("update", -err, key, flags)
        return None

    # -- Map's hooks ----------------------------------------------------------------------------

    def _lookup(self, key: bytes) -> bytes | None:
        if type(key) is not bytes or len(key) != self.key_size:
            key = self._exact(key, self.key_size, "key")
        err = self._c_lookup_sys(self.native, key, self._vout, self._cpu)
        if err:
            if err == -E.ENOENT:
                return None
            raise self._error("lookup", -err, key)
        return self._vout.raw

    def _update(self, key: bytes, value: bytes, flags: int) -> None:
        if type(key) is not bytes or len(key) != self.key_size:
            key = self._exact(key, self.key_size, "key")
        if type(value) is not bytes or len(value) != self._uvs:
            value = self._exact(value, self._uvs, "value")
        err = self._c_update_sys(self.native, key, value, self._flags(flags), self._cpu)
        if err:
            raise self._error("update", -err, key, flags)

    def _delete(self, key: bytes) -> None:
        if type(key) is not bytes or len(key) != self.key_size:
            key = self._exact(key, self.key_size, "key")
        err = self._c_delete_elem(self.native, key, self._cpu)
        if err:
            raise self._error("delete", -err, key)

    def _next_key(self, key: bytes | None) -> bytes | None:
        if key is not None and (type(key) is not bytes or len(key) != self.key_size):
            key = self._exact(key, self.key_size, "key")
        err = self._c_next_key(self.native, key, self._kout)
        if err:
            if err == -E.ENOENT:
                return None
            raise self._error("next_key", -err, key)
        return self._kout.raw

    def _lookup_and_delete(self, key: bytes) -> bytes:
        if type(key) is not bytes or len(key) != self.key_size:
            key = self._exact(key, self.key_size, "key")
        err = self._c_lookup_and_delete(self.native, key, self._vout, self._cpu)
        if err:
            raise self._error("lookup_and_delete", -err, key)
        return self._vout.raw

    def __len__(self) -> int:
        return int(self._c_count(self.native))

    # -- the program side (what the map helpers call) ---------------------------------------------

    def value_offset(self, key: bytes, cpu: int | None = None) -> int | None:
        """bpf_map_lookup_elem(): offset of the value in ``storage`` for ``cpu`` (default
        ``self.cpu``), None when absent.  LRU maps set the element's ref bit, as a
        program's lookup does."""
        if type(key) is not bytes or len(key) != self.key_size:
            key = self._exact(key, self.key_size, "key")
        p = self._c_lookup_elem(self.native, key, self._cpu_arg(cpu))
        return None if p is None else p - self._base

    def prog_update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        """bpf_map_update_elem(): ``value_size`` bytes; per-cpu maps change this cpu's copy."""
        k = self._as_bytes(key, self.key_size, "key")
        v = self._as_bytes(value, self.value_size, "value")
        err = self._c_update_elem(self.native, k, v, self._flags(flags), self._cpu)
        if err:
            raise self._error("update", -err, k, flags)

    def prog_delete(self, key: bytes) -> None:
        """bpf_map_delete_elem()."""
        k = self._as_bytes(key, self.key_size, "key")
        err = self._c_delete_elem(self.native, k, self._cpu)
        if err:
            raise self._error("delete", -err, k)
