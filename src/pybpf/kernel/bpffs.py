"""Pinning BPF objects in the BPF filesystem (BPF_OBJ_PIN / BPF_OBJ_GET), mounting it if needed."""

from __future__ import annotations

import ctypes
import os

from .. import uapi
from ..errors import KernelError
from .attr import ObjAttr
from .syscall import DEFAULT_BPFFS, _libc, bpf, errno_text


def _mount_type(path: str) -> str | None:
    """The filesystem type mounted exactly at path, from /proc/self/mounts."""
    real = os.path.realpath(path)
    found = None
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1].replace("\\040", " ") == real:
                    found = parts[2]  # the last mount on a point wins
    except OSError:
        return None
    return found


def bpffs_mounted(path: str = DEFAULT_BPFFS) -> bool:
    return _mount_type(path) == "bpf"


def ensure_bpffs(path: str = DEFAULT_BPFFS) -> str:
    """Mount bpffs at path (default /sys/fs/bpf) when absent; needs CAP_SYS_ADMIN.

    Raises KernelError with the errno of mount(2) when it cannot be mounted.
    """
    if bpffs_mounted(path):
        return path
    os.makedirs(path, exist_ok=True)
    libc_mount = _libc.mount
    libc_mount.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_void_p,
    ]
    if libc_mount(b"bpf", os.fsencode(path), b"bpf", 0, None) != 0:
        err = ctypes.get_errno()
        raise KernelError(f"mounting bpffs at {path} failed: {errno_text(err)}", errno=err)
    return path


def _auto_mount(path: str) -> None:
    """Mount bpffs at /sys/fs/bpf when a path under it is used and it is absent (as
    libbpf-based tools expect it there); a failure is left to the bpf() call to report."""
    if os.path.realpath(path).startswith(DEFAULT_BPFFS + "/") and not bpffs_mounted():
        try:
            ensure_bpffs(DEFAULT_BPFFS)
        except (KernelError, OSError):
            pass


def obj_pin(fd: int, path: str, file_flags: int = 0) -> None:
    """BPF_OBJ_PIN: pin a map/program/link fd at path (which must be on a bpffs)."""
    _auto_mount(path)
    pb = ctypes.create_string_buffer(os.fsencode(path))
    bpf(
        uapi.BPF_OBJ_PIN,
        ObjAttr(pathname=ctypes.addressof(pb), bpf_fd=fd, file_flags=file_flags),
        f"fd {fd} at {path}",
    )


def obj_get(path: str, file_flags: int = 0) -> int:
    """BPF_OBJ_GET: open a pinned object; returns a new fd."""
    _auto_mount(path)
    pb = ctypes.create_string_buffer(os.fsencode(path))
    return bpf(
        uapi.BPF_OBJ_GET, ObjAttr(pathname=ctypes.addressof(pb), file_flags=file_flags), path
    )


__all__ = ["bpffs_mounted", "ensure_bpffs", "obj_pin", "obj_get"]
