"""The map interface shared by every map type, as bpf(2) presents it to user space.

A map is one ``bytearray`` (``storage``) laid out the way the kernel lays the
values out, plus the bookkeeping each type needs (hash buckets, LRU lists,
trie nodes).  Every type but PROG_ARRAY keeps both in C (native_map.py,
bpf_map.h), so programs run natively use the same memory and algorithms; this
module is the Python face.  The public operations mirror the bpf() commands
(BPF_MAP_LOOKUP_ELEM, _UPDATE_ELEM, _DELETE_ELEM, _GET_NEXT_KEY,
_LOOKUP_AND_DELETE_ELEM) and fail with the errno the kernel returns
(kernel/bpf/syscall.c does the common checks, each type's file the rest).

A map gets a number from an fd table (:mod:`pybpf.fdtable`): its backend's,
or the process's default table for a map made on its own, so that
``BPF_LD_MAP_FD(reg, map.fd)`` resolves as the kernel's fd table does.
"""

from __future__ import annotations

import ctypes
import errno as E
import os
import re
import struct
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

from ..errors import BpfError, MapError, NotSupportedError
from ..fdtable import FdTable, default_table
from ..uapi import (
    BPF_EXIST,
    BPF_F_LOCK,
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY,
    BPF_F_WRONLY_PROG,
    MAP_TYPE_NAMES,
)
from .pin import pin_map, read_pinned

#: BPF_OBJ_NAME_LEN in include/uapi/linux/bpf.h (the name keeps a NUL byte).
BPF_OBJ_NAME_LEN = 16
#: KMALLOC_MAX_SIZE on x86-64 (PAGE_SIZE << MAX_PAGE_ORDER): the kernel's cap on one allocation.
KMALLOC_MAX_SIZE = 4096 << 10
#: PCPU_MIN_UNIT_SIZE (include/linux/percpu.h): the cap on a per-cpu value.
PCPU_MIN_UNIT_SIZE = 32 << 10
PAGE_SIZE = 4096
#: ENOTSUPP (524), the kernel-internal errno bpf() returns for unsupported map ops
ENOTSUPP = 524
BPF_F_ACCESS_MASK = BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG
#: Storage this simulation refuses to allocate (the kernel would fail with ENOMEM too).
MAX_STORAGE = 1 << 30
#: NR_CPUS of the largest kernel configurations: the most cpus a map may be sized for
MAX_CPUS = 8192

_NAME_RE = re.compile(r"[A-Za-z0-9_.]*")
#: the ctypes objects a key or value may be given as
_CTYPES = (ctypes._SimpleCData, ctypes.Structure, ctypes.Union, ctypes.Array)


def round_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def possible_cpus() -> int:
    """num_possible_cpus(): what per-cpu maps size their values by (cpu_possible_mask)."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
        count = 0
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            count += (int(hi) if hi else int(lo)) - int(lo) + 1
        return max(count, 1)
    except (OSError, ValueError):
        return os.cpu_count() or 1


def map_err(errno: int, message: str, where: str | None = None) -> MapError:
    return MapError(message, errno=errno, where=where)


def flags_access_ok(flags: int) -> bool:
    """bpf_map_flags_access_ok(): a program may not be both read-only and write-only."""
    return (flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) != (
        BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG
    )


# ----------------------------------------------------------------------------- fd table


def map_by_fd(fd: int, table: FdTable | None = None) -> Map:
    """Resolve a map fd as the kernel resolves BPF_PSEUDO_MAP_FD (EBADF when unknown), in
    ``table`` (default: the process's table of maps made outside a backend)."""
    try:
        return (table or default_table()).get(fd, Map, "map")
    except BpfError as e:
        raise map_err(E.EBADF, str(e)) from None


# ----------------------------------------------------------------------------- typed codecs


class _Codec:
    """Converts between raw bytes and a struct format, a ctypes type, or raw bytes."""

    def __init__(self, spec: Any, size: int, what: str):
        self.spec = spec
        self.size = size
        if spec is None:
            self.kind = "raw"
        elif isinstance(spec, str):
            self.kind = "struct"
            try:
                self.st = struct.Struct(spec)
            except struct.error as e:
                raise map_err(
                    E.EINVAL, f"{what} format {spec!r} is not a struct format: {e}"
                ) from None
            if self.st.size != size:
                raise map_err(
                    E.EINVAL, f"{what} format {spec!r} is {self.st.size} bytes, map has {size}"
                )
        elif isinstance(spec, type) and issubclass(
            spec, ctypes._SimpleCData | ctypes.Structure | ctypes.Union | ctypes.Array
        ):
            self.kind = "ctypes"
            if ctypes.sizeof(spec) != size:
                raise map_err(
                    E.EINVAL,
                    f"{what} type {spec.__name__} is {ctypes.sizeof(spec)} bytes, map has {size}",
                )
        else:
            raise map_err(E.EINVAL, f"{what} type must be a struct format or ctypes type")

    def encode(self, obj: Any) -> bytes:
        try:
            return self._encode(obj)
        except (struct.error, TypeError, ValueError, OverflowError) as e:
            raise map_err(E.EINVAL, f"cannot encode {obj!r} as {self.spec!r}: {e}") from None

    def _encode(self, obj: Any) -> bytes:
        if self.kind == "struct":
            if isinstance(obj, bytes | bytearray | memoryview):
                return bytes(obj)
            if isinstance(obj, tuple):
                return self.st.pack(*obj)
            return self.st.pack(obj)
        if self.kind == "ctypes":
            if isinstance(obj, bytes | bytearray | memoryview):
                return bytes(obj)
            if isinstance(
                obj, ctypes._SimpleCData | ctypes.Structure | ctypes.Union | ctypes.Array
            ):
                return bytes(obj)
            return bytes(self.spec(obj))
        return obj

    def decode(self, raw: bytes) -> Any:
        if self.kind == "struct":
            vals = self.st.unpack(raw)
            return vals[0] if len(vals) == 1 else vals
        if self.kind == "ctypes":
            obj = self.spec.from_buffer_copy(raw)
            if isinstance(obj, ctypes._SimpleCData):
                return obj.value
            return obj
        return raw


class TypedView:
    """A map seen through key/value types: ints, tuples or ctypes objects instead of bytes.

    Per-cpu maps decode each cpu's value and return a list, as the kernel hands
    user space one value per possible cpu.
    """

    def __init__(self, m: MapFace, key: Any = None, value: Any = None):
        self._percpu = bool(getattr(m, "percpu", False))
        self.map = m
        self._k = _Codec(key, m.key_size, "key")
        self._v = _Codec(value, m.value_size, "value")

    def _dv(self, raw: bytes | None) -> Any:
        if raw is None:
            return None
        m = self.map
        if self._percpu:
            stride = round_up(m.value_size, 8)
            return [
                self._v.decode(raw[i * stride : i * stride + m.value_size]) for i in range(m.ncpus)
            ]
        return self._v.decode(raw)

    def _ev(self, value: Any) -> bytes:
        m = self.map
        if not self._percpu:
            return self._v.encode(value)
        stride = round_up(m.value_size, 8)

        def one(v: Any) -> bytes:
            return m._as_bytes(self._v.encode(v), m.value_size, "value").ljust(stride, b"\0")

        if isinstance(value, list) and len(value) == m.ncpus:
            return b"".join(one(v) for v in value)
        return one(value) * m.ncpus  # the same value on every cpu

    def lookup(self, key: Any) -> Any:
        return self._dv(self.map.lookup(self._k.encode(key)))

    def update(self, key: Any, value: Any, flags: int = 0) -> None:
        self.map.update(self._k.encode(key), self._ev(value), flags)

    def delete(self, key: Any) -> None:
        self.map.delete(self._k.encode(key))

    def next_key(self, key: Any = None) -> Any:
        raw = self.map.next_key(None if key is None else self._k.encode(key))
        return None if raw is None else self._k.decode(raw)

    def __getitem__(self, key: Any) -> Any:
        raw = self.map.lookup(self._k.encode(key))
        if raw is None:
            raise KeyError(key)
        return self._dv(raw)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, value)

    def __delitem__(self, key: Any) -> None:
        try:
            self.delete(key)
        except MapError as e:
            if e.errno == E.ENOENT:
                raise KeyError(key) from None
            raise

    def __contains__(self, key: Any) -> bool:
        return self.map.lookup(self._k.encode(key)) is not None

    def __iter__(self) -> Iterator[Any]:
        for k in self.map.keys():
            yield self._k.decode(k)

    def __len__(self) -> int:
        return len(self.map)

    def keys(self) -> list[Any]:
        return list(self)

    def values(self) -> list[Any]:
        return [v for _, v in self.items()]

    def items(self) -> list[tuple[Any, Any]]:
        return [(self._k.decode(k), self._dv(v)) for k, v in self.map.items()]

    def __repr__(self) -> str:
        def name(c: _Codec) -> str:
            return "bytes" if c.kind == "raw" else getattr(c.spec, "__name__", repr(c.spec))

        m = self.map
        return (
            f"<TypedView of map {m.name or '(unnamed)'} ({len(m)} entries): "
            f"key {name(self._k)}, value {name(self._v)}>"
        )


# ----------------------------------------------------------------------------- Map


class MapFace(ABC):
    """The dict-like face of a map, over lookup/update/delete/next_key.

    pybpf's maps and the kernel backend's KernelMap both inherit it, so that a
    test written against one behaves the same against the other.
    """

    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    ncpus: int

    @abstractmethod
    def lookup(self, key: Any) -> bytes | None: ...

    @abstractmethod
    def update(self, key: Any, value: Any, flags: int = 0) -> None: ...

    @abstractmethod
    def delete(self, key: Any) -> None: ...

    @abstractmethod
    def next_key(self, key: Any = None) -> bytes | None: ...

    @abstractmethod
    def _as_bytes(self, obj: Any, size: int, what: str) -> bytes:
        """A key or value as the map's bytes (ints, bytes, ctypes objects)."""

    def lookup_percpu(self, key: Any) -> list[bytes] | None:
        """One value per possible CPU, as bpf(2) lays them out (one element for other maps)."""
        raw = self.lookup(key)
        if raw is None:
            return None
        if not getattr(self, "percpu", False):
            return [raw]
        stride = round_up(self.value_size, 8)
        return [raw[i * stride : i * stride + self.value_size] for i in range(self.ncpus)]

    def update_percpu(self, key: Any, values: list[Any], flags: int = 0) -> None:
        """Set a per-CPU map's value on every CPU at once (``values``: one per CPU)."""
        if not getattr(self, "percpu", False):
            raise MapError("not a per-cpu map", errno=E.EINVAL)
        if not isinstance(values, list | tuple):
            raise MapError("per-cpu values must be a list, one per cpu", errno=E.EINVAL)
        if len(values) != self.ncpus:
            raise MapError(f"{len(values)} values for {self.ncpus} cpus", errno=E.EINVAL)
        stride = round_up(self.value_size, 8)
        blob = b"".join(
            self._as_bytes(v, self.value_size, "value").ljust(stride, b"\0") for v in values
        )
        self.update(key, blob, flags)

    def __getitem__(self, key: Any) -> bytes:
        v = self.lookup(key)
        if v is None:
            raise KeyError(key)
        return v

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, value)

    def __delitem__(self, key: Any) -> None:
        try:
            self.delete(key)
        except MapError as e:
            if e.errno == E.ENOENT:
                raise KeyError(key) from None
            raise

    def __contains__(self, key: Any) -> bool:
        try:
            return self.lookup(key) is not None
        except MapError:
            return False

    def __iter__(self) -> Iterator[bytes]:
        """Keys in get_next_key order (bounded, so a map changing underneath cannot loop)."""
        key = self.next_key(None)
        seen = 0
        while key is not None and seen <= self.max_entries:
            yield key
            seen += 1
            key = self.next_key(key)

    def keys(self) -> list[bytes]:
        return list(self)

    def values(self) -> list[bytes]:
        return [v for _, v in self.items()]

    def items(self) -> list[tuple[bytes, bytes]]:
        out = []
        for k in self.keys():
            v = self.lookup(k)
            if v is not None:
                out.append((k, v))
        return out

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        return True

    def typed(self, key: Any = None, value: Any = None) -> TypedView:
        """A view converting keys/values with struct formats or ctypes types."""
        return TypedView(self, key, value)


class Map(MapFace):
    """A BPF map in user space.  ``Map(type, ...)`` returns the subclass for ``type``.

    Subclasses implement ``_lookup``, ``_update``, ``_delete`` and ``_next_key``
    on exact-size byte strings; this class does the checks kernel/bpf/syscall.c
    does before calling a map's ops, and the Python conveniences.
    """

    #: map types a subclass implements (filled by register())
    _registry: ClassVar[dict[int, type[Map]]] = {}
    map_types: ClassVar[tuple[int, ...]] = ()
    #: values are per cpu (user space sees ncpus * round_up(value_size, 8) bytes)
    percpu: ClassVar[bool] = False

    def __new__(cls, type: int = 0, *args: Any, **kwargs: Any) -> Map:  # noqa: A002
        if cls is Map:
            sub = Map._registry.get(type) if isinstance(type, int) else None
            if sub is None:
                known = isinstance(type, int) and not isinstance(type, bool) and type > 0
                if known and type in MAP_TYPE_NAMES:  # a type the kernel has
                    raise NotSupportedError(
                        f"map type {MAP_TYPE_NAMES[type]} is not modelled in user space yet; "
                        "use the kernel backend"
                    )
                name = str(type) if isinstance(type, int) else repr(type)
                raise map_err(E.EINVAL, f"map type {name} is not supported in user space")
            return super().__new__(sub)
        return super().__new__(cls)

    def __init__(
        self,
        type: int,
        key_size: int,
        value_size: int,
        max_entries: int,  # noqa: A002
        flags: int = 0,
        name: str = "",
        *,
        ncpus: int | None = None,
        fds: FdTable | None = None,
    ):
        if (
            not isinstance(name, str)
            or len(name) >= BPF_OBJ_NAME_LEN
            or not _NAME_RE.fullmatch(name)
        ):
            raise map_err(E.EINVAL, f"map name {name!r}: at most 15 of [A-Za-z0-9_.]")
        for v, what in (
            (key_size, "key_size"),
            (value_size, "value_size"),
            (max_entries, "max_entries"),
            (flags, "map_flags"),
        ):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 32:
                raise map_err(E.EINVAL, f"{what} {v!r} does not fit a u32")
        if flags & BPF_F_RDONLY and flags & BPF_F_WRONLY:
            raise map_err(E.EINVAL, "BPF_F_RDONLY and BPF_F_WRONLY together")
        self.type = type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.name = name
        ncpus = ncpus if ncpus is not None else possible_cpus()
        if not isinstance(ncpus, int) or isinstance(ncpus, bool) or not 1 <= ncpus <= MAX_CPUS:
            raise map_err(E.EINVAL, f"ncpus {ncpus!r}: 1 to {MAX_CPUS} cpus")
        self.ncpus = ncpus
        #: the simulated cpu a program runs on (selects the per-cpu value)
        self.cpu = 0
        self.frozen = False
        self.check_create()
        self.storage = bytearray()
        self._init_storage()
        self.fd = -1
        self.fdtable: FdTable = fds if fds is not None else default_table()
        self.fdtable.install(self)

    @classmethod
    def register(cls, sub: type[Map]) -> type[Map]:
        for t in sub.map_types:
            Map._registry[t] = sub
        return sub

    # -- per-type hooks ---------------------------------------------------------------

    def check_create(self) -> None:
        """The type's map_alloc_check(): raise MapError(EINVAL/E2BIG) for bad attributes."""

    def _init_storage(self) -> None:
        pass

    def _alloc_storage(self, size: int) -> None:
        if size > MAX_STORAGE:
            raise map_err(E.ENOMEM, f"map storage of {size} bytes is too large")
        self.storage = bytearray(size)

    def _lookup(self, key: bytes) -> bytes | None:
        raise map_err(E.EOPNOTSUPP, f"{self.type_name} maps have no lookup")

    def _update(self, key: bytes, value: bytes, flags: int) -> None:
        raise map_err(E.EOPNOTSUPP, f"{self.type_name} maps have no update")

    def _delete(self, key: bytes) -> None:
        raise map_err(E.EOPNOTSUPP, f"{self.type_name} maps have no delete")

    def _next_key(self, key: bytes | None) -> bytes | None:
        raise map_err(E.EOPNOTSUPP, f"{self.type_name} maps have no get_next_key")

    def _lookup_and_delete(self, key: bytes) -> bytes:
        # BPF_MAP_LOOKUP_AND_DELETE_ELEM exists only for queue/stack and the hash family
        raise map_err(ENOTSUPP, f"{self.type_name} maps have no lookup_and_delete (ENOTSUPP)")

    def value_offset(self, key: bytes) -> int | None:
        """Offset in ``storage`` of the value for ``key`` (for ``self.cpu`` if per-cpu)."""
        raise map_err(E.EOPNOTSUPP, f"{self.type_name} maps have no values in storage")

    # -- helpers ------------------------------------------------------------------------

    @property
    def type_name(self) -> str:
        return MAP_TYPE_NAMES.get(self.type, str(self.type))

    @property
    def user_value_size(self) -> int:
        """bpf_map_value_size(): per-cpu maps copy one 8-byte-aligned value per cpu."""
        if self.percpu:
            return round_up(self.value_size, 8) * self.ncpus
        return self.value_size

    def _as_bytes(self, obj: Any, size: int, what: str) -> bytes:
        if type(obj) is bytes and len(obj) == size:
            return obj
        if isinstance(obj, int) and not isinstance(obj, bool):
            if size not in (1, 2, 4, 8) or not -(1 << (8 * size - 1)) <= obj < 1 << (8 * size):
                raise map_err(E.EINVAL, f"{what} {obj} does not fit {size} bytes")
            return (obj & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        if isinstance(obj, _CTYPES):
            obj = bytes(obj)
        if not isinstance(obj, bytes | bytearray | memoryview):
            raise map_err(E.EINVAL, f"{what} must be bytes, an int or a ctypes object")
        b = bytes(obj)
        if len(b) != size:
            raise map_err(
                E.EINVAL,
                f"{what} is {len(b)} bytes, {self.name or self.type_name} map takes {size}",
            )
        return b

    def _key(self, key: Any) -> bytes:
        return self._as_bytes(key, self.key_size, "key")

    def _check_read(self) -> None:
        if self.flags & BPF_F_WRONLY:
            raise map_err(E.EPERM, "map was created BPF_F_WRONLY: user space cannot read it")

    def _check_write(self) -> None:
        if self.flags & BPF_F_RDONLY:
            raise map_err(E.EPERM, "map was created BPF_F_RDONLY: user space cannot write it")
        if self.frozen:
            raise map_err(E.EPERM, "map is frozen")

    # -- the bpf() commands -------------------------------------------------------------

    def lookup(self, key: Any) -> bytes | None:
        """BPF_MAP_LOOKUP_ELEM: the value (all cpus for per-cpu maps), None for ENOENT."""
        self._check_read()
        return self._lookup(self._key(key))

    def update(self, key: Any, value: Any, flags: int = 0) -> None:
        """BPF_MAP_UPDATE_ELEM with BPF_ANY / BPF_NOEXIST / BPF_EXIST."""
        self._check_write()
        k = self._key(key)
        v = self._as_bytes(value, self.user_value_size, "value")
        if not isinstance(flags, int) or isinstance(flags, bool):
            raise map_err(E.EINVAL, f"update flags must be an int, not {type(flags).__name__}")
        if flags & BPF_F_LOCK:
            # syscall.c: BPF_F_LOCK needs a bpf_spin_lock in the value (BTF); we have none
            raise map_err(E.EINVAL, "BPF_F_LOCK on a map value without bpf_spin_lock")
        if not 0 <= flags < 1 << 64:
            raise map_err(E.EINVAL, f"bad update flags {flags:#x}")
        self._update(k, v, flags)

    def delete(self, key: Any) -> None:
        """BPF_MAP_DELETE_ELEM."""
        self._check_write()
        self._delete(self._key(key))

    def next_key(self, key: Any = None) -> bytes | None:
        """BPF_MAP_GET_NEXT_KEY: the key after ``key`` (the first for None), None at the end."""
        self._check_read()
        return self._next_key(None if key is None else self._key(key))

    def lookup_and_delete(self, key: Any = None) -> bytes:
        """BPF_MAP_LOOKUP_AND_DELETE_ELEM (pop for queue/stack); ENOENT when missing."""
        self._check_read()
        self._check_write()
        return self._lookup_and_delete(self._key(key) if self.key_size else b"")

    # -- the program side (what the map helpers call) -------------------------------------
    #
    # A program passes exact-size byte strings read from its memory and gets the
    # kernel's errno back as a MapError (the helper returns -errno).  User-space
    # access flags and BPF_MAP_FREEZE do not apply to programs (the verifier
    # enforces BPF_F_RDONLY_PROG / BPF_F_WRONLY_PROG).

    def prog_lookup(self, key: bytes) -> int | None:
        """bpf_map_lookup_elem(): offset of the value in ``storage`` (cpu ``self.cpu``)."""
        return self.value_offset(bytes(key))

    def prog_update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        """bpf_map_update_elem(): ``value_size`` bytes (per-cpu maps change this cpu's value)."""
        k = self._as_bytes(key, self.key_size, "key")
        v = self._as_bytes(value, self.value_size, "value")
        self._update(k, v, flags)

    def prog_delete(self, key: bytes) -> None:
        """bpf_map_delete_elem()."""
        self._delete(self._as_bytes(key, self.key_size, "key"))

    def freeze(self) -> None:
        """BPF_MAP_FREEZE: user space may no longer write the map."""
        self.frozen = True

    def close(self) -> None:
        """Drop the fd (as close(map_fd) would)."""
        self.fdtable.close(self)

    # -- per-cpu conveniences -----------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.type_name} name={self.name!r} fd={self.fd} "
            f"key_size={self.key_size} value_size={self.value_size} "
            f"max_entries={self.max_entries} flags={self.flags:#x}>"
        )

    # -- persistence hooks (pin.py) -------------------------------------------------------

    def _pin_state(self) -> tuple[dict[str, Any], list[tuple[bytes, bytes]]]:
        """Extra header fields and (key, value) records that recreate this map."""
        return {}, list(reversed(self.items()))

    def _unpin_state(self, extra: dict[str, Any], records: list[tuple[bytes, bytes]]) -> None:
        for k, v in records:
            self._update(k, v, 0)

    def pin(self, path: str | os.PathLike[str]) -> None:
        """Save to a self-describing file, atomically (the user-space analogue of bpffs)."""
        pin_map(self, path)

    @classmethod
    def open_pinned(cls, path: str | os.PathLike[str], fds: FdTable | None = None) -> Map:
        """Recreate a map saved by :meth:`pin` (ENOENT when there is none)."""
        pinned = read_pinned(path)
        h = pinned.header
        m = Map(
            h["type"],
            h["key_size"],
            h["value_size"],
            h["max_entries"],
            h["flags"],
            h["name"],
            ncpus=h.get("ncpus"),
            fds=fds,
        )
        try:
            m._unpin_state(h.get("extra", {}), pinned.records)
        except MapError as e:
            raise pinned.fail(f"records do not fit the map: {e}") from None
        m.frozen = bool(h.get("frozen", False))
        return m


def check_update_flags(flags: int) -> None:
    """The common ``flags > BPF_EXIST`` test of every *_update_elem (EINVAL)."""
    if flags > BPF_EXIST:
        raise map_err(E.EINVAL, f"unknown update flags {flags:#x}")
