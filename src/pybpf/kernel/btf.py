"""An object's BTF in the kernel: loaded once, shared by its maps and programs.

libbpf loads an object's BTF first (BPF_BTF_LOAD), so that BTF-defined maps
can name their key and value types (``btf_fd``/``btf_key_type_id``/
``btf_value_type_id``) and programs can carry ``func_info``/``line_info``
(tools/lib/bpf/libbpf.c); :class:`pybpf.kernel.backend.KernelBackend` does the
same through these functions.

One BTF object is loaded per parsed :class:`~pybpf.spec.btf.BTF` and shared by the
maps and programs that refer to it (bpftool then shows the same ``btf_id`` for
all of them). The kernel keeps its own reference, so our fd may be closed as
soon as the last map or program using it exists; we keep it while the BTF
object lives so later loads reuse it.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from ..errors import KernelError
from ..spec.types import MapSpec
from . import info as kinfo
from . import syscall as sc


class BtfHandle:
    """A BTF object loaded into the kernel; the fd is closed with the handle."""

    def __init__(self, blob: bytes):
        self.fd = -1
        self.fd = sc.btf_load(blob)

    @property
    def id(self) -> int:
        return kinfo.obj_get_info_by_fd(self.fd).id  # type: ignore[union-attr]

    def close(self) -> None:
        fd, self.fd = getattr(self, "fd", -1), -1
        if fd >= 0:
            try:
                os.close(fd)
            except (OSError, TypeError, AttributeError):
                pass

    def __del__(self) -> None:
        self.close()


#: id(BTF) -> (weak reference to that BTF, its kernel handle)
_LOADED: dict[int, tuple[weakref.ref[Any], BtfHandle]] = {}


def btf_handle(btf: Any) -> BtfHandle | None:
    """The kernel BTF object for a parsed BTF (loaded once per BTF; None without one).

    A BTF the kernel refuses yields None, as libbpf carries on without BTF
    ("Error loading .BTF into kernel ... BTF is optional, ignoring").
    """
    raw = getattr(btf, "raw", None)
    if not raw:
        return None
    key = id(btf)
    hit = _LOADED.get(key)
    if hit is not None and hit[0]() is btf:
        return hit[1]
    try:
        handle = BtfHandle(bytes(raw))
    except KernelError:
        return None

    def forget(_ref: Any, k: Any = key) -> None:
        _LOADED.pop(k, None)

    _LOADED[key] = (weakref.ref(btf, forget), handle)
    return handle


def map_btf_ids(spec: MapSpec) -> tuple[int, int]:
    """(btf_key_type_id, btf_value_type_id) libbpf would pass for ``spec``.

    BTF-defined maps name both types; global-data maps have no key type and the
    DATASEC of their section as value type (array_map_check_btf accepts that).
    """
    k = spec.key_type if isinstance(spec.key_type, int) else 0
    v = spec.value_type if isinstance(spec.value_type, int) else 0
    return k, v


__all__ = ["BtfHandle", "btf_handle", "map_btf_ids"]
