"""KernelMap: a map living in the running kernel, with the user-space Map's interface.

Every operation is one bpf() command on the map's fd; the kernel decides and
its errno comes back as :class:`MapError` (kernel/bpf/syscall.c map_* commands).
Only what the kernel cannot check is checked here: the size of the key and
value buffers (the kernel copies ``key_size`` bytes from whatever pointer it is
given). Typed views are the user-space maps' own :class:`TypedView`, so a user's
code reads both backends the same way.
"""

from __future__ import annotations

import ctypes
import errno as E
import os
from collections.abc import Iterator
from typing import Any

from .. import uapi
from ..errors import KernelError, MapError, NotSupportedError
from ..maps.base import MapFace
from . import bpffs, probe
from . import info as kinfo
from . import syscall as sc
from .btf import btf_handle, map_btf_ids
from .fd import FdObject

_PERCPU_TYPES = (
    uapi.BPF_MAP_TYPE_PERCPU_HASH,
    uapi.BPF_MAP_TYPE_PERCPU_ARRAY,
    uapi.BPF_MAP_TYPE_LRU_PERCPU_HASH,
    uapi.BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE,
)
#: maps whose values user space writes as fds (a program's, a map's ...) and reads back as
#: object ids (bpf_fd_array_map_lookup_elem / bpf_fd_htab_map_lookup_elem)
FD_VALUE_TYPES = (
    uapi.BPF_MAP_TYPE_PROG_ARRAY,
    uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS,
    uapi.BPF_MAP_TYPE_HASH_OF_MAPS,
    uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    uapi.BPF_MAP_TYPE_CGROUP_ARRAY,
)


def _round8(n: int) -> int:
    return (n + 7) & ~7


def _map_error(err: KernelError, what: str = "") -> MapError:
    exc = MapError(str(err) if not what else f"{what}: {err}", errno=err.errno)
    exc.cmd = getattr(err, "cmd", "")  # type: ignore[attr-defined]
    return exc


class KernelMap(MapFace, FdObject):
    """A kernel BPF map: ``KernelMap(type, key_size, value_size, max_entries, flags, name)``.

    ``fd`` is the kernel file descriptor (usable in BPF_LD_MAP_FD); it is closed
    by :meth:`close`, on leaving a ``with`` block, or when the object is
    collected. Per-CPU maps read and write ``round_up(value_size, 8)`` bytes per
    possible CPU, as bpf(2) does; :meth:`lookup_percpu` splits them.
    """

    def __init__(
        self,
        type: int,
        key_size: int,
        value_size: int,  # noqa: A002
        max_entries: int,
        flags: int = 0,
        name: str = "",
        *,
        btf_fd: int = 0,
        btf_key_type_id: int = 0,
        btf_value_type_id: int = 0,
        inner_map_fd: int = 0,
        map_extra: int = 0,
        numa_node: int = 0,
    ):
        self.fd = -1
        try:
            fd = sc.map_create(
                type,
                key_size,
                value_size,
                max_entries,
                flags,
                name,
                btf_fd,
                btf_key_type_id,
                btf_value_type_id,
                inner_map_fd,
                numa_node=numa_node,
                map_extra=map_extra,
            )
        except KernelError as err:
            if err.errno in (E.EINVAL, E.EOPNOTSUPP, sc.ENOTSUPP):
                try:
                    probe.require_map_type(type)
                except NotSupportedError as ns:
                    raise NotSupportedError(str(ns), errno=ns.errno) from err
            raise _map_error(err) from None
        self._adopt(fd, type, key_size, value_size, max_entries, flags, name)

    def _adopt(
        self,
        fd: int,
        type: int,
        key_size: int,
        value_size: int,  # noqa: A002
        max_entries: int,
        flags: int,
        name: str,
    ) -> None:
        self.fd = fd
        self.type = type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.name = name
        self.percpu = type in _PERCPU_TYPES
        self.ncpus = sc.num_possible_cpus()
        self.frozen = False

    @classmethod
    def from_fd(cls, fd: int) -> KernelMap:
        """Wrap an existing map fd (the object takes ownership and closes it)."""
        try:
            info = kinfo.map_get_info(fd)
        except KernelError as err:
            raise _map_error(err, f"fd {fd}") from None
        self = cls.__new__(cls)
        self._adopt(
            fd,
            info.type,
            info.key_size,
            info.value_size,
            info.max_entries,
            info.map_flags,
            info.name,
        )
        return self

    @classmethod
    def from_spec(cls, spec: Any, *, inner_map_fd: int = 0, btf: Any = None) -> KernelMap:
        """Create from a :class:`pybpf.spec.types.MapSpec`, filling initial contents and freezing
        as libbpf does for global-data sections.

        ``btf`` is the object's parsed BTF (``ObjectSpec.btf``): when the spec names
        key/value types, the map is created with the loaded BTF's fd and those type
        ids, so ``bpftool map dump`` prints values by type. A kernel that refuses
        the BTF description gets the map without it, as libbpf retries.
        """
        extra = getattr(spec, "extra", {}) or {}
        kw: dict[str, int] = {
            "inner_map_fd": inner_map_fd,
            "numa_node": int(extra.get("numa_node", 0) or 0),
            "map_extra": int(extra.get("map_extra", 0) or 0),
        }
        key_id, value_id = map_btf_ids(spec)
        handle = btf_handle(btf) if btf is not None and (key_id or value_id) else None
        m = None
        if handle is not None:
            try:
                m = cls(
                    spec.type,
                    spec.key_size,
                    spec.value_size,
                    spec.max_entries,
                    spec.flags,
                    spec.name,
                    btf_fd=handle.fd,
                    btf_key_type_id=key_id,
                    btf_value_type_id=value_id,
                    **kw,
                )
            except NotSupportedError:
                raise
            except MapError as err:
                if err.errno != E.EINVAL:
                    raise
        if m is None:
            m = cls(
                spec.type,
                spec.key_size,
                spec.value_size,
                spec.max_entries,
                spec.flags,
                spec.name,
                **kw,
            )
        init = spec.initial
        if isinstance(init, dict):
            for k, v in init.items():
                m.update(k, v)
        elif init is not None:
            m.update(b"\0" * m.key_size, bytes(init).ljust(m.value_size, b"\0"))
        if spec.frozen:
            m.freeze()
        return m

    @classmethod
    def open_pinned(cls, path: str | os.PathLike[str]) -> KernelMap:
        """BPF_OBJ_GET: open a map pinned on a bpffs."""
        try:
            return cls.from_fd(bpffs.obj_get(os.fspath(path)))
        except KernelError as err:
            raise _map_error(err) from None

    def pin(self, path: str | os.PathLike[str]) -> None:
        """BPF_OBJ_PIN at ``path`` (on a bpffs; see bpffs.ensure_bpffs)."""
        try:
            bpffs.obj_pin(self._fd(), os.fspath(path))
        except KernelError as err:
            raise _map_error(err) from None

    # -- plumbing -------------------------------------------------------------------------

    def _fd(self) -> int:
        if self.fd < 0:
            raise MapError(f"map {self.name!r} is closed", errno=E.EBADF)
        return self.fd

    @property
    def type_name(self) -> str:
        return uapi.MAP_TYPE_NAMES.get(self.type, str(self.type))

    @property
    def user_value_size(self) -> int:
        """bpf_map_value_size(): what lookup returns and update takes."""
        if self.percpu:
            return _round8(self.value_size) * self.ncpus
        return self.value_size

    @property
    def id(self) -> int:
        return kinfo.map_get_info(self._fd()).id

    def info(self) -> sc.MapInfo:
        return kinfo.map_get_info(self._fd())

    def _as_bytes(self, obj: Any, size: int, what: str) -> bytes:
        if obj is None and size == 0:
            return b""
        if isinstance(obj, int) and not isinstance(obj, bool):
            if size not in (1, 2, 4, 8) or not -(1 << (8 * size - 1)) <= obj < 1 << (8 * size):
                raise MapError(f"{what} {obj} does not fit {size} bytes", errno=E.EINVAL)
            return (obj & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        if isinstance(obj, (ctypes._SimpleCData, ctypes.Structure, ctypes.Union, ctypes.Array)):
            obj = bytes(obj)
        if not isinstance(obj, (bytes, bytearray, memoryview)):
            raise MapError(f"{what} must be bytes, an int or a ctypes object", errno=E.EINVAL)
        b = bytes(obj)
        if len(b) != size:
            raise MapError(
                f"{what} is {len(b)} bytes, {self.name or self.type_name} map takes {size}",
                errno=E.EINVAL,
            )
        return b

    def _key(self, key: Any) -> bytes | None:
        return self._as_bytes(key, self.key_size, "key") if self.key_size else None

    # -- the bpf() commands ---------------------------------------------------------------

    def lookup(self, key: Any) -> bytes | None:
        """BPF_MAP_LOOKUP_ELEM: the value (all CPUs for per-CPU maps); None for ENOENT.

        Queue and stack maps (key_size 0) peek with ``key`` None.
        """
        try:
            return sc.map_lookup_elem(self._fd(), self._key(key), self.user_value_size)
        except KernelError as err:
            raise _map_error(err) from None

    def update(self, key: Any, value: Any, flags: int = uapi.BPF_ANY) -> None:
        """BPF_MAP_UPDATE_ELEM with BPF_ANY / BPF_NOEXIST / BPF_EXIST (push for queue/stack).

        For PROG_ARRAY and map-in-map maps the value may be the KernelProgram or
        KernelMap itself; its fd is what the kernel takes.
        """
        k = self._key(key)
        if (
            self.type in FD_VALUE_TYPES
            and hasattr(value, "fd")
            and isinstance(getattr(value, "fd", None), int)
        ):
            value = value.fd
        v = self._as_bytes(value, self.user_value_size, "value")
        try:
            sc.map_update_elem(self._fd(), k, v, flags)
        except KernelError as err:
            raise _map_error(err) from None

    def delete(self, key: Any) -> None:
        """BPF_MAP_DELETE_ELEM (ENOENT for a missing key, EINVAL for arrays)."""
        try:
            sc.map_delete_elem(self._fd(), self._key(key))
        except KernelError as err:
            raise _map_error(err) from None

    def next_key(self, key: Any = None) -> bytes | None:
        """BPF_MAP_GET_NEXT_KEY: the key after ``key`` (the first for None); None at the end."""
        try:
            return sc.map_get_next_key(
                self._fd(), None if key is None else self._key(key), self.key_size
            )
        except KernelError as err:
            raise _map_error(err) from None

    def lookup_and_delete(self, key: Any = None) -> bytes:
        """BPF_MAP_LOOKUP_AND_DELETE_ELEM (pop for queue/stack); MapError(ENOENT) if missing."""
        try:
            v = sc.map_lookup_and_delete_elem(self._fd(), self._key(key), self.user_value_size)
        except KernelError as err:
            raise _map_error(err) from None
        if v is None:
            raise MapError(
                f"{self.type_name} map {self.name!r}: no element (ENOENT)", errno=E.ENOENT
            )
        return v

    def push(self, value: Any, flags: int = uapi.BPF_ANY) -> None:
        """Queue/stack push (BPF_EXIST overwrites the oldest when full)."""
        self.update(None, value, flags)

    def pop(self) -> bytes | None:
        """Queue/stack pop (BPF_MAP_LOOKUP_AND_DELETE_ELEM); None when empty (ENOENT), as
        ``lookup`` gives None for a missing key."""
        try:
            return self.lookup_and_delete(None)
        except MapError as err:
            if err.errno == E.ENOENT:
                return None
            raise

    def peek(self) -> bytes | None:
        """Queue/stack peek; None when empty."""
        return self.lookup(None)

    def freeze(self) -> None:
        """BPF_MAP_FREEZE: user space may no longer write the map."""
        try:
            sc.map_freeze(self._fd())
        except KernelError as err:
            raise _map_error(err) from None
        self.frozen = True

    # -- batches --------------------------------------------------------------------------

    def lookup_batch(
        self, count: int = 64, *, delete: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Every element via BPF_MAP_LOOKUP[_AND_DELETE]_BATCH, ``count`` per call.

        A hash bucket holding more than ``count`` elements makes the kernel say
        ENOSPC (__htab_map_lookup_and_delete_batch); the call is retried with a
        larger count from the same position.
        """
        token: bytes | None = None
        while True:
            try:
                r = sc.map_lookup_batch(
                    self._fd(), self.key_size, self.user_value_size, count, token, delete=delete
                )
            except KernelError as err:
                if err.errno == E.ENOSPC and count < max(self.max_entries, 1):
                    count *= 2
                    continue
                raise _map_error(err) from None
            yield from zip(r.keys, r.values, strict=True)
            if r.done:
                return
            token = r.next_batch

    def update_batch(self, items: list[tuple[Any, Any]], flags: int = uapi.BPF_ANY) -> int:
        keys = [self._as_bytes(k, self.key_size, "key") for k, _ in items]
        vals = [self._as_bytes(v, self.user_value_size, "value") for _, v in items]
        try:
            return sc.map_update_batch(self._fd(), keys, vals, flags)
        except KernelError as err:
            raise _map_error(err) from None

    def delete_batch(self, keys: list[Any]) -> int:
        try:
            return sc.map_delete_batch(
                self._fd(), [self._as_bytes(k, self.key_size, "key") for k in keys]
            )
        except KernelError as err:
            raise _map_error(err) from None

    # -- per-CPU conveniences -------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"<KernelMap {self.type_name} name={self.name!r} fd={self.fd} "
            f"key_size={self.key_size} value_size={self.value_size} "
            f"max_entries={self.max_entries} flags={self.flags:#x}>"
        )


__all__ = ["KernelMap"]


def create_map(spec: Any, btf: Any = None) -> Any:
    """One KernelMap from its spec, with BTF type ids when ``btf`` is given."""
    inner_fd = 0
    inner = None
    if spec.inner is not None:
        inner = KernelMap.from_spec(spec.inner)
        inner_fd = inner.fd
    try:
        return KernelMap.from_spec(spec, inner_map_fd=inner_fd, btf=btf)
    finally:
        if inner is not None:
            inner.close()  # only a template: the kernel copied what it needs
