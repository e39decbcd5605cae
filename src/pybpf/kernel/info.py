"""What the kernel says about a loaded object: BPF_OBJ_GET_INFO_BY_FD, ids, translated code."""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import re
import sys

from .. import uapi
from ..errors import KernelError
from .attr import (
    BpfBtfInfo,
    BpfMapInfo,
    BpfProgInfo,
    BtfInfo,
    GetIdAttr,
    InfoAttr,
    MapInfo,
    ProgInfo,
)
from .syscall import _error, bpf, sys_bpf

_LITTLE = sys.byteorder == "little"


def _cstr(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def _info(fd: int, info: ctypes.Structure) -> None:
    a = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    bpf(uapi.BPF_OBJ_GET_INFO_BY_FD, a, f"fd {fd}")


def prog_get_info(fd: int) -> ProgInfo:
    """BPF_OBJ_GET_INFO_BY_FD on a program (map ids fetched in a second call)."""
    info = BpfProgInfo()
    _info(fd, info)
    map_ids: list[int] = []
    if info.nr_map_ids:
        n = info.nr_map_ids
        ids = (ctypes.c_uint32 * n)()
        info2 = BpfProgInfo(nr_map_ids=n, map_ids=ctypes.addressof(ids))
        _info(fd, info2)
        map_ids = list(ids[: min(n, info2.nr_map_ids)])
    gpl = bool(info.gpl_flags & (1 if _LITTLE else 1 << 31))
    return ProgInfo(
        info.type,
        info.id,
        bytes(info.tag),
        _cstr(bytes(info.name)),
        info.jited_prog_len,
        info.xlated_prog_len,
        info.load_time,
        info.created_by_uid,
        map_ids,
        gpl,
        info.btf_id,
        info.run_time_ns,
        info.run_cnt,
        info.verified_insns,
        info.ifindex,
        info.nr_func_info,
        info.nr_line_info,
    )


def prog_get_xlated(fd: int) -> bytes:
    """The program as the kernel rewrote it (bpftool prog dump xlated), as wire bytes."""
    info = BpfProgInfo()
    _info(fd, info)
    n = info.xlated_prog_len
    buf = ctypes.create_string_buffer(max(n, 1))
    _info(fd, BpfProgInfo(xlated_prog_len=n, xlated_prog_insns=ctypes.addressof(buf)))
    return buf.raw[:n]


def map_get_info(fd: int) -> MapInfo:
    """BPF_OBJ_GET_INFO_BY_FD on a map."""
    info = BpfMapInfo()
    _info(fd, info)
    return MapInfo(
        info.type,
        info.id,
        info.key_size,
        info.value_size,
        info.max_entries,
        info.map_flags,
        _cstr(bytes(info.name)),
        info.btf_id,
        info.btf_key_type_id,
        info.btf_value_type_id,
        info.map_extra,
        info.ifindex,
    )


def btf_get_info(fd: int) -> BtfInfo:
    """BPF_OBJ_GET_INFO_BY_FD on a BTF object."""
    name = ctypes.create_string_buffer(64)
    info = BpfBtfInfo(name=ctypes.addressof(name), name_len=64)
    _info(fd, info)
    return BtfInfo(
        info.id, info.btf_size, name.value.decode("utf-8", "replace"), bool(info.kernel_btf)
    )


def fd_kind(fd: int) -> str:
    """'prog', 'map', 'btf', 'link' (or '') from the anon inode name of the fd."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""
    m = re.match(r"anon_inode:\[?(bpf[-_](prog|map|link)|btf)\]?", target)
    if not m:
        return ""
    return m.group(2) or "btf"


def obj_get_info_by_fd(fd: int) -> ProgInfo | MapInfo | BtfInfo:
    """BPF_OBJ_GET_INFO_BY_FD, choosing the info struct by what kind of object fd is."""
    kind = fd_kind(fd)
    if kind == "prog":
        return prog_get_info(fd)
    if kind == "map":
        return map_get_info(fd)
    if kind == "btf":
        return btf_get_info(fd)
    raise KernelError(
        f"BPF_OBJ_GET_INFO_BY_FD failed: EINVAL: fd {fd} is not a bpf program, map or BTF object",
        errno=_errno.EINVAL,
    )


def _next_id(cmd: int, start: int) -> int | None:
    a = GetIdAttr(start_id=start)
    ret, err = sys_bpf(cmd, a)
    if ret < 0:
        if err == _errno.ENOENT:
            return None
        raise _error(cmd, err, f"after id {start}")
    return a.next_id


def prog_get_next_id(start: int = 0) -> int | None:
    return _next_id(uapi.BPF_PROG_GET_NEXT_ID, start)


def map_get_next_id(start: int = 0) -> int | None:
    return _next_id(uapi.BPF_MAP_GET_NEXT_ID, start)


def prog_get_fd_by_id(prog_id: int) -> int:
    return bpf(uapi.BPF_PROG_GET_FD_BY_ID, GetIdAttr(start_id=prog_id), f"prog id {prog_id}")


def map_get_fd_by_id(map_id: int) -> int:
    return bpf(uapi.BPF_MAP_GET_FD_BY_ID, GetIdAttr(start_id=map_id), f"map id {map_id}")


__all__ = [
    "prog_get_info",
    "prog_get_xlated",
    "map_get_info",
    "btf_get_info",
    "fd_kind",
    "obj_get_info_by_fd",
    "prog_get_next_id",
    "map_get_next_id",
    "prog_get_fd_by_id",
    "map_get_fd_by_id",
]
