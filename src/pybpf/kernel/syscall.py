"""The bpf(2) system call from pure Python (ctypes, no libbpf).

One function per command, taking and returning plain Python values (bytes,
ints, small dataclasses). Every refusal raises :class:`pybpf.errors.KernelError`
carrying the kernel's errno, the command name (``err.cmd``) and, for program
and BTF loads, the kernel's verifier log (``err.log``). The attribute layouts
are in :mod:`pybpf.kernel.attr`; the semantics are the kernel's
(kernel/bpf/syscall.c, include/uapi/linux/bpf.h).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import platform
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .. import uapi
from ..api import TestRunResult
from ..errors import KernelError
from ..isa import Insn, encode
from ..uapi import ENOTSUPP
from .attr import (
    BtfInfo,
    BtfLoadAttr,
    MapBatchAttr,
    MapCreateAttr,
    MapElemAttr,
    MapInfo,
    ProgAttachAttr,
    ProgInfo,
    ProgLoadAttr,
    TestRunAttr,
)

# __NR_bpf per architecture (arch/*/include/uapi/asm/unistd*.h, and the generic
# table include/uapi/asm-generic/unistd.h for arm64, riscv, loongarch).
_NR_BPF = {
    "x86_64": 321,
    "amd64": 321,
    "i386": 357,
    "i486": 357,
    "i586": 357,
    "i686": 357,
    "aarch64": 280,
    "arm64": 280,
    "riscv64": 280,
    "loongarch64": 280,
    "armv6l": 386,
    "armv7l": 386,
    "armv8l": 386,
    "arm": 386,
    "ppc64": 361,
    "ppc64le": 361,
    "ppc": 361,
    "s390x": 351,
    "mips64": 5315,
}

CMD_NAMES: dict[int, str] = {
    getattr(uapi, n): n
    for n in dir(uapi)
    if n.startswith("BPF_")
    and not n.startswith(
        (
            "BPF_MAP_TYPE_",
            "BPF_PROG_TYPE_",
            "BPF_FUNC_",
            "BPF_F_",
            "BPF_RB_",
            "BPF_RINGBUF_",
            "BPF_HDR_",
            "BPF_OBJ_NAME",
            "BPF_TAG",
            "BPF_MAXINSNS",
            "BPF_COMPLEXITY",
        )
    )
    and n not in ("BPF_ANY", "BPF_NOEXIST", "BPF_EXIST")
}

BPF_FS_MAGIC = 0xCAFE4A11
DEFAULT_BPFFS = "/sys/fs/bpf"
#: The kernel refuses log buffers above UINT_MAX >> 2 (kernel/bpf/log.c); 64 MiB is plenty.
LOG_SIZE_MAX = 64 << 20
LOG_SIZE_DEFAULT = 64 << 10


def _nr_bpf() -> int | None:
    return _NR_BPF.get(platform.machine().lower())


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


#: The kernel-internal ENOTSUPP (include/linux/errno.h) leaks out of some bpf() commands.


def errno_text(err: int) -> str:
    """'ENAME (strerror)', naming the kernel-internal ENOTSUPP too."""
    if err == ENOTSUPP:
        return "ENOTSUPP (Operation is not supported)"
    return f"{_errno.errorcode.get(err, f'errno {err}')} ({os.strerror(err)})"


def _errmsg(cmd: int, err: int, detail: str = "") -> str:
    msg = f"{CMD_NAMES.get(cmd, f'bpf cmd {cmd}')} failed: {errno_text(err)}"
    return f"{msg}: {detail}" if detail else msg


def _error(cmd: int, err: int, detail: str = "", log: str = "") -> KernelError:
    exc = KernelError(_errmsg(cmd, err, detail), errno=err, log=log)
    exc.cmd = CMD_NAMES.get(cmd, str(cmd))  # type: ignore[attr-defined]
    return exc


def sys_bpf(cmd: int, attr: ctypes.Structure) -> tuple[int, int]:
    """Issue bpf(cmd, &attr, sizeof(attr)); return (result, errno) without raising."""
    nr = _nr_bpf()
    if nr is None:
        return -1, _errno.ENOSYS
    ctypes.set_errno(0)
    ret = _libc.syscall(
        ctypes.c_long(nr), ctypes.c_int(cmd), ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr))
    )
    if ret < 0:
        return -1, ctypes.get_errno()
    return ret, 0


def bpf(cmd: int, attr: ctypes.Structure, detail: str = "") -> int:
    """Issue a bpf() command; raise KernelError naming the command and errno on failure.

    EINTR and EAGAIN are retried, as libbpf does for PROG_LOAD.
    """
    for _ in range(5):
        ret, err = sys_bpf(cmd, attr)
        if ret >= 0:
            return ret
        if err not in (_errno.EINTR, _errno.EAGAIN) or cmd != uapi.BPF_PROG_LOAD:
            break
    raise _error(cmd, err, detail)


def close(fd: int) -> None:
    """Close a bpf object file descriptor (the kernel frees the object with its last ref)."""
    os.close(fd)


def _buf(data: bytes | bytearray | memoryview | None) -> tuple[object, int]:
    """A ctypes buffer for data (kept alive by the caller) and its address (0 for None)."""
    if data is None:
        return None, 0
    b = ctypes.create_string_buffer(bytes(data), len(data) or 1)
    return b, ctypes.addressof(b)


def obj_name(name: str) -> bytes:
    """A name the kernel accepts: up to 15 chars of [A-Za-z0-9_.] (bpf_obj_name_cpy).

    Other characters become ``_`` and long names are cut, as libbpf does, so
    that ``bpftool prog show`` lists the object by (a form of) its name.
    """
    clean = re.sub(r"[^A-Za-z0-9_.]", "_", name or "")[: uapi.BPF_OBJ_NAME_LEN - 1]
    return clean.encode()


# --- maps --------------------------------------------------------------------------------


def map_create(
    map_type: int,
    key_size: int,
    value_size: int,
    max_entries: int,
    map_flags: int = 0,
    name: str = "",
    btf_fd: int = 0,
    btf_key_type_id: int = 0,
    btf_value_type_id: int = 0,
    inner_map_fd: int = 0,
    *,
    numa_node: int = 0,
    map_extra: int = 0,
    map_ifindex: int = 0,
    btf_vmlinux_value_type_id: int = 0,
) -> int:
    """BPF_MAP_CREATE: a new map; returns its fd."""
    a = MapCreateAttr(
        map_type=map_type,
        key_size=key_size,
        value_size=value_size,
        max_entries=max_entries,
        map_flags=map_flags,
        inner_map_fd=inner_map_fd,
        numa_node=numa_node,
        map_ifindex=map_ifindex,
        btf_fd=btf_fd,
        btf_key_type_id=btf_key_type_id,
        btf_value_type_id=btf_value_type_id,
        btf_vmlinux_value_type_id=btf_vmlinux_value_type_id,
        map_extra=map_extra,
    )
    a.map_name = obj_name(name)
    tname = uapi.MAP_TYPE_NAMES.get(map_type, str(map_type))
    return bpf(
        uapi.BPF_MAP_CREATE,
        a,
        f"map type {tname} key_size={key_size} value_size={value_size} "
        f"max_entries={max_entries} flags={map_flags:#x}",
    )


def _elem(cmd: int, fd: int, key: bytes | None, value_addr: int, flags: int) -> tuple[int, int]:
    kb, kaddr = _buf(key)
    a = MapElemAttr(map_fd=fd, key=kaddr, value=value_addr, flags=flags)
    ret, err = sys_bpf(cmd, a)
    del kb
    return ret, err


def map_lookup_elem(fd: int, key: bytes | None, value_size: int, flags: int = 0) -> bytes | None:
    """BPF_MAP_LOOKUP_ELEM: the value (``value_size`` bytes) or None for ENOENT.

    For per-CPU maps ``value_size`` must be round_up(value_size, 8) * possible CPUs
    (the kernel copies one slot per possible CPU; see bpf_map_value_size()).
    """
    vb = ctypes.create_string_buffer(max(value_size, 1))
    ret, err = _elem(uapi.BPF_MAP_LOOKUP_ELEM, fd, key, ctypes.addressof(vb), flags)
    if ret < 0:
        if err == _errno.ENOENT:
            return None
        raise _error(uapi.BPF_MAP_LOOKUP_ELEM, err, f"map fd {fd} key {_hex(key)}")
    return vb.raw[:value_size]


def map_update_elem(fd: int, key: bytes | None, value: bytes, flags: int = uapi.BPF_ANY) -> None:
    """BPF_MAP_UPDATE_ELEM (also queue/stack push with key None)."""
    vb, vaddr = _buf(value)
    ret, err = _elem(uapi.BPF_MAP_UPDATE_ELEM, fd, key, vaddr, flags)
    del vb
    if ret < 0:
        raise _error(uapi.BPF_MAP_UPDATE_ELEM, err, f"map fd {fd} key {_hex(key)} flags {flags:#x}")


def map_delete_elem(fd: int, key: bytes | None, flags: int = 0) -> None:
    """BPF_MAP_DELETE_ELEM; a missing key raises KernelError(ENOENT)."""
    ret, err = _elem(uapi.BPF_MAP_DELETE_ELEM, fd, key, 0, flags)
    if ret < 0:
        raise _error(uapi.BPF_MAP_DELETE_ELEM, err, f"map fd {fd} key {_hex(key)}")


def map_get_next_key(fd: int, key: bytes | None, key_size: int) -> bytes | None:
    """BPF_MAP_GET_NEXT_KEY: the key after ``key`` (first key for None); None at the end."""
    nb = ctypes.create_string_buffer(max(key_size, 1))
    ret, err = _elem(uapi.BPF_MAP_GET_NEXT_KEY, fd, key, ctypes.addressof(nb), 0)
    if ret < 0:
        if err == _errno.ENOENT:
            return None
        raise _error(uapi.BPF_MAP_GET_NEXT_KEY, err, f"map fd {fd} key {_hex(key)}")
    return nb.raw[:key_size]


def map_lookup_and_delete_elem(
    fd: int, key: bytes | None, value_size: int, flags: int = 0
) -> bytes | None:
    """BPF_MAP_LOOKUP_AND_DELETE_ELEM: queue/stack pop (key None) or hash take; None if empty."""
    vb = ctypes.create_string_buffer(max(value_size, 1))
    ret, err = _elem(uapi.BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, key, ctypes.addressof(vb), flags)
    if ret < 0:
        if err == _errno.ENOENT:
            return None
        raise _error(uapi.BPF_MAP_LOOKUP_AND_DELETE_ELEM, err, f"map fd {fd} key {_hex(key)}")
    return vb.raw[:value_size]


def map_freeze(fd: int) -> None:
    """BPF_MAP_FREEZE: make the map read-only from user space from now on."""
    bpf(uapi.BPF_MAP_FREEZE, MapElemAttr(map_fd=fd), f"map fd {fd}")


@dataclass
class BatchResult:
    """One BPF_MAP_LOOKUP[_AND_DELETE]_BATCH call: the elements and where to resume."""

    keys: list[bytes]
    values: list[bytes]
    next_batch: bytes | None  #: pass as ``in_batch`` to continue; None when the map is done
    done: bool


def map_lookup_batch(
    fd: int,
    key_size: int,
    value_size: int,
    count: int,
    in_batch: bytes | None = None,
    *,
    delete: bool = False,
    elem_flags: int = 0,
    flags: int = 0,
) -> BatchResult:
    """BPF_MAP_LOOKUP_BATCH (or ..._AND_DELETE_BATCH with ``delete``): up to ``count`` elements.

    ENOENT from the kernel means iteration finished (possibly with some elements);
    it is reported as ``done`` rather than raised. ``value_size`` is per element
    (per-CPU maps: round_up(value_size, 8) * possible CPUs).
    """
    cmd = uapi.BPF_MAP_LOOKUP_AND_DELETE_BATCH if delete else uapi.BPF_MAP_LOOKUP_BATCH
    tok = max(key_size, 8)
    inb, in_addr = _buf(in_batch.ljust(tok, b"\0") if in_batch is not None else None)
    outb = ctypes.create_string_buffer(tok)
    kb = ctypes.create_string_buffer(max(key_size * count, 1))
    vb = ctypes.create_string_buffer(max(value_size * count, 1))
    a = MapBatchAttr(
        in_batch=in_addr,
        out_batch=ctypes.addressof(outb),
        keys=ctypes.addressof(kb),
        values=ctypes.addressof(vb),
        count=count,
        map_fd=fd,
        elem_flags=elem_flags,
        flags=flags,
    )
    ret, err = sys_bpf(cmd, a)
    del inb
    if ret < 0 and err != _errno.ENOENT:
        raise _error(cmd, err, f"map fd {fd} count {count}")
    n = a.count
    keys = [kb.raw[i * key_size : (i + 1) * key_size] for i in range(n)]
    values = [vb.raw[i * value_size : (i + 1) * value_size] for i in range(n)]
    done = ret < 0
    return BatchResult(keys, values, None if done else outb.raw, done)


def map_update_batch(
    fd: int, keys: Sequence[bytes], values: Sequence[bytes], elem_flags: int = 0, flags: int = 0
) -> int:
    """BPF_MAP_UPDATE_BATCH: returns the number updated.

    On failure the KernelError carries ``count``: how many elements the kernel
    processed before the failing one.
    """
    if len(keys) != len(values):
        raise KernelError(
            f"map_update_batch: {len(keys)} keys but {len(values)} values", errno=_errno.EINVAL
        )
    kb, kaddr = _buf(b"".join(keys))
    vb, vaddr = _buf(b"".join(values))
    a = MapBatchAttr(
        keys=kaddr, values=vaddr, count=len(keys), map_fd=fd, elem_flags=elem_flags, flags=flags
    )
    ret, err = sys_bpf(uapi.BPF_MAP_UPDATE_BATCH, a)
    del kb, vb
    if ret < 0:
        exc = _error(uapi.BPF_MAP_UPDATE_BATCH, err, f"map fd {fd} after {a.count} elements")
        exc.count = a.count  # type: ignore[attr-defined]
        raise exc
    return a.count


def map_delete_batch(fd: int, keys: Sequence[bytes], elem_flags: int = 0, flags: int = 0) -> int:
    """BPF_MAP_DELETE_BATCH: returns the number deleted (KernelError.count on failure)."""
    kb, kaddr = _buf(b"".join(keys))
    a = MapBatchAttr(keys=kaddr, count=len(keys), map_fd=fd, elem_flags=elem_flags, flags=flags)
    ret, err = sys_bpf(uapi.BPF_MAP_DELETE_BATCH, a)
    del kb
    if ret < 0:
        exc = _error(uapi.BPF_MAP_DELETE_BATCH, err, f"map fd {fd} after {a.count} elements")
        exc.count = a.count  # type: ignore[attr-defined]
        raise exc
    return a.count


def _hex(b: bytes | None) -> str:
    if b is None:
        return "(none)"
    return b.hex() if len(b) <= 32 else b[:32].hex() + "..."


# --- programs ----------------------------------------------------------------------------


@dataclass
class LoadResult:
    """A loaded program: its fd and the verifier's log (empty when log_level was 0)."""

    fd: int
    log: str = ""
    log_true_size: int = 0


def _insn_bytes(insns: bytes | bytearray | Sequence[Insn]) -> bytes:
    if isinstance(insns, (bytes, bytearray, memoryview)):
        return bytes(insns)
    return encode(insns)


def _log_text(buf: ctypes.Array) -> str:
    return buf.value.decode("utf-8", "replace")


def verifier_reason(log: str) -> str:
    """The line of a verifier log that says why: the last line before the statistics."""
    lines = [ln for ln in log.splitlines() if ln.strip()]
    while lines and re.match(
        r"(processed \d+ insns|verification time|stack depth|"
        r"-- END PROG LOAD LOG --)",
        lines[-1],
    ):
        lines.pop()
    return lines[-1].strip() if lines else ""


def prog_load_result(
    prog_type: int,
    insns: bytes | bytearray | Sequence[Insn],
    license: str = "GPL",
    log_level: int = 0,
    log_size: int = LOG_SIZE_DEFAULT,
    name: str = "",
    expected_attach_type: int = 0,
    prog_flags: int = 0,
    prog_btf_fd: int = 0,
    func_info: bytes | None = None,
    func_info_rec_size: int = 8,
    line_info: bytes | None = None,
    line_info_rec_size: int = 16,
    *,
    kern_version: int = 0,
    fd_array: Sequence[int] | None = None,
    prog_ifindex: int = 0,
    attach_btf_id: int = 0,
    attach_prog_fd: int = 0,
) -> LoadResult:
    """BPF_PROG_LOAD returning the fd and the verifier log.

    A truncated log (ENOSPC; the kernel fails the load even when the program
    passes) is retried with a larger buffer, sized from ``log_true_size`` when
    the kernel reports it (Linux >= 6.4) or doubled otherwise. If the load fails
    with ``log_level`` 0 it is retried at level 1 so that the KernelError
    carries the verifier's explanation, as libbpf does.
    """
    code = _insn_bytes(insns)
    if len(code) % 8:
        raise KernelError(
            f"BPF_PROG_LOAD: program length {len(code)} is not a multiple of 8", errno=_errno.EINVAL
        )
    ib, iaddr = _buf(code)
    lic = ctypes.create_string_buffer(license.encode())
    fib, fiaddr = _buf(func_info)
    lib_, liaddr = _buf(line_info)
    fda = (ctypes.c_int32 * max(len(fd_array or ()), 1))(*(fd_array or ()))
    size = max(int(log_size), 128)
    level = log_level
    while True:
        logbuf = ctypes.create_string_buffer(size) if level else None
        a = ProgLoadAttr(
            prog_type=prog_type,
            insn_cnt=len(code) // 8,
            insns=iaddr,
            license=ctypes.addressof(lic),
            log_level=level,
            log_size=size if level else 0,
            log_buf=ctypes.addressof(logbuf) if logbuf is not None else 0,
            kern_version=kern_version,
            prog_flags=prog_flags,
            prog_ifindex=prog_ifindex,
            expected_attach_type=expected_attach_type,
            prog_btf_fd=prog_btf_fd,
            func_info_rec_size=func_info_rec_size if func_info else 0,
            func_info=fiaddr,
            func_info_cnt=len(func_info) // func_info_rec_size if func_info else 0,
            line_info_rec_size=line_info_rec_size if line_info else 0,
            line_info=liaddr,
            line_info_cnt=len(line_info) // line_info_rec_size if line_info else 0,
            attach_btf_id=attach_btf_id,
            attach_prog_fd=attach_prog_fd,
            fd_array=ctypes.addressof(fda) if fd_array else 0,
        )
        a.prog_name = obj_name(name)
        for _ in range(5):
            ret, err = sys_bpf(uapi.BPF_PROG_LOAD, a)
            if ret >= 0 or err not in (_errno.EINTR, _errno.EAGAIN):
                break
        log = _log_text(logbuf) if logbuf is not None else ""
        if ret >= 0:
            del ib, fib, lib_
            return LoadResult(ret, log, a.log_true_size)
        if err == _errno.ENOSPC and level and size < LOG_SIZE_MAX:
            want = a.log_true_size if a.log_true_size > size else size * 4
            size = min(max(want, size * 2), LOG_SIZE_MAX)
            continue
        if not level and err not in (_errno.EPERM, _errno.ENOSYS):
            level = 1
            continue
        what = uapi.PROG_TYPE_NAMES.get(prog_type, str(prog_type))
        reason = verifier_reason(log)
        detail = f"{what} program {name!r} ({len(code) // 8} insns)"
        if reason:
            detail += f": {reason}"
        raise _error(uapi.BPF_PROG_LOAD, err, detail, log)


def prog_load(
    prog_type: int,
    insns: bytes | bytearray | Sequence[Insn],
    license: str = "GPL",
    log_level: int = 0,
    log_size: int = LOG_SIZE_DEFAULT,
    name: str = "",
    expected_attach_type: int = 0,
    prog_flags: int = 0,
    prog_btf_fd: int = 0,
    func_info: bytes | None = None,
    func_info_rec_size: int = 8,
    line_info: bytes | None = None,
    line_info_rec_size: int = 16,
    **kw: Any,
) -> int:
    """BPF_PROG_LOAD: returns the program fd (see prog_load_result for the log)."""
    return prog_load_result(
        prog_type,
        insns,
        license,
        log_level,
        log_size,
        name,
        expected_attach_type,
        prog_flags,
        prog_btf_fd,
        func_info,
        func_info_rec_size,
        line_info,
        line_info_rec_size,
        **kw,
    ).fd


def prog_test_run(
    fd: int,
    data_in: bytes = b"",
    repeat: int = 1,
    ctx_in: bytes | None = None,
    data_size_out: int | None = None,
    ctx_size_out: int | None = None,
    flags: int = 0,
    cpu: int = 0,
    batch_size: int = 0,
) -> TestRunResult:
    """BPF_PROG_TEST_RUN: run the program ``repeat`` times on ``data_in``.

    ``data_size_out`` defaults to ``len(data_in) + 4096``; if the output is
    larger the kernel copies what fits and returns ENOSPC, which is not raised
    here (the program did run; rerunning would repeat its map side effects):
    ``data_size_out`` on the result tells the full size. For socket filters
    the kernel pulls the 14-byte Ethernet header before running the program
    (net/bpf/test_run.c), so ``data_in`` must hold at least that.
    """
    db, daddr = _buf(data_in)
    out_size = len(data_in) + 4096 if data_size_out is None else data_size_out
    ob = ctypes.create_string_buffer(out_size) if out_size else None
    cb, caddr = _buf(ctx_in)
    csize = (len(ctx_in) if ctx_in else 0) if ctx_size_out is None else ctx_size_out
    cob = ctypes.create_string_buffer(csize) if csize else None
    a = TestRunAttr(
        prog_fd=fd,
        data_size_in=len(data_in),
        data_size_out=out_size,
        data_in=daddr,
        data_out=ctypes.addressof(ob) if ob is not None else 0,
        repeat=repeat,
        ctx_size_in=len(ctx_in) if ctx_in else 0,
        ctx_size_out=csize,
        ctx_in=caddr,
        ctx_out=ctypes.addressof(cob) if cob is not None else 0,
        flags=flags,
        cpu=cpu,
        batch_size=batch_size,
    )
    ret, err = sys_bpf(uapi.BPF_PROG_TEST_RUN, a)
    del db, cb
    if ret < 0 and not (err == _errno.ENOSPC and a.data_size_out > out_size):
        raise _error(
            uapi.BPF_PROG_TEST_RUN, err, f"prog fd {fd} data {len(data_in)} bytes repeat {repeat}"
        )
    dout = ob.raw[: min(a.data_size_out, out_size)] if ob is not None else b""
    cout = cob.raw[: min(a.ctx_size_out, csize)] if cob is not None else b""
    return TestRunResult(a.retval, a.duration, dout, cout, a.data_size_out)


def prog_attach(prog_fd: int, target_fd: int, attach_type: int, attach_flags: int = 0) -> None:
    """BPF_PROG_ATTACH (cgroup, sockmap, flow dissector ... attachments)."""
    bpf(
        uapi.BPF_PROG_ATTACH,
        ProgAttachAttr(
            target_fd=target_fd,
            attach_bpf_fd=prog_fd,
            attach_type=attach_type,
            attach_flags=attach_flags,
        ),
        f"prog fd {prog_fd} to fd {target_fd} type {attach_type}",
    )


def prog_detach(prog_fd: int, target_fd: int, attach_type: int) -> None:
    """BPF_PROG_DETACH."""
    bpf(
        uapi.BPF_PROG_DETACH,
        ProgAttachAttr(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type),
        f"prog fd {prog_fd} from fd {target_fd} type {attach_type}",
    )


# --- BTF ---------------------------------------------------------------------------------


def btf_load(blob: bytes, log_level: int = 0, log_size: int = LOG_SIZE_DEFAULT) -> int:
    """BPF_BTF_LOAD: returns the BTF object fd; a refusal carries the kernel's BTF log."""
    return btf_load_result(blob, log_level, log_size).fd


def btf_load_result(
    blob: bytes, log_level: int = 0, log_size: int = LOG_SIZE_DEFAULT
) -> LoadResult:
    """BPF_BTF_LOAD with the log (retried at level 1 on failure, grown on ENOSPC)."""
    bb, baddr = _buf(blob)
    size, level = max(log_size, 128), log_level
    while True:
        logbuf = ctypes.create_string_buffer(size) if level else None
        a = BtfLoadAttr(
            btf=baddr,
            btf_size=len(blob),
            btf_log_level=level,
            btf_log_size=size if level else 0,
            btf_log_buf=ctypes.addressof(logbuf) if logbuf is not None else 0,
        )
        ret, err = sys_bpf(uapi.BPF_BTF_LOAD, a)
        log = _log_text(logbuf) if logbuf is not None else ""
        if ret >= 0:
            del bb
            return LoadResult(ret, log, a.btf_log_true_size)
        if err == _errno.ENOSPC and level and size < LOG_SIZE_MAX:
            size = min(max(a.btf_log_true_size, size * 4), LOG_SIZE_MAX)
            continue
        if not level and err not in (_errno.EPERM, _errno.ENOSYS):
            level = 1
            continue
        raise _error(uapi.BPF_BTF_LOAD, err, f"{len(blob)} bytes: {verifier_reason(log)}", log)


# --- environment -------------------------------------------------------------------------

_LITTLE = sys.byteorder == "little"


def parse_cpu_list(text: str) -> list[int]:
    """Parse the kernel's cpulist format ('0-3,5,7-8')."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


@lru_cache(maxsize=1)
def num_possible_cpus() -> int:
    """How many value slots a per-CPU map has (num_possible_cpus(), not online CPUs)."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            return len(parse_cpu_list(f.read()))
    except OSError:
        return os.cpu_count() or 1


def percpu_value_size(value_size: int) -> int:
    """User-visible size of one per-CPU value: round_up(value_size, 8) * possible CPUs."""
    return ((value_size + 7) & ~7) * num_possible_cpus()


@lru_cache(maxsize=1)
def bpf_refusal() -> tuple[int, str] | None:
    """None when bpf() works here, else (errno, reason); probed once with a 1-entry array."""
    if _nr_bpf() is None:
        return _errno.ENOSYS, (
            f"bpf() syscall number unknown for architecture {platform.machine()!r}"
        )
    a = MapCreateAttr(map_type=uapi.BPF_MAP_TYPE_ARRAY, key_size=4, value_size=4, max_entries=1)
    ret, err = sys_bpf(uapi.BPF_MAP_CREATE, a)
    if ret >= 0:
        os.close(ret)
        return None
    if err == _errno.ENOSYS:
        return err, (
            "bpf() refused: ENOSYS (kernel built without CONFIG_BPF_SYSCALL, or blocked by seccomp)"
        )
    if err == _errno.EPERM:
        hint = ""
        try:
            with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
                hint = f"; kernel.unprivileged_bpf_disabled={f.read().strip()}"
        except OSError:
            pass
        return err, f"bpf() refused: EPERM (needs CAP_BPF or root; euid {os.geteuid()}{hint})"
    return err, f"bpf() refused: {errno_text(err)}"


def bpf_available() -> tuple[bool, str]:
    """Whether bpf() works here, and why not."""
    r = bpf_refusal()
    return (True, "bpf() works") if r is None else (False, r[1])


__all__ = [
    "BatchResult",
    "BtfInfo",
    "CMD_NAMES",
    "LoadResult",
    "MapInfo",
    "ProgInfo",
    "TestRunResult",
    "bpf",
    "bpf_available",
    "bpf_refusal",
    "errno_text",
    "btf_load",
    "btf_load_result",
    "close",
    "map_create",
    "map_delete_batch",
    "map_delete_elem",
    "map_freeze",
    "map_get_next_key",
    "map_lookup_and_delete_elem",
    "map_lookup_batch",
    "map_lookup_elem",
    "map_update_batch",
    "map_update_elem",
    "num_possible_cpus",
    "obj_name",
    "parse_cpu_list",
    "percpu_value_size",
    "prog_attach",
    "prog_detach",
    "prog_load",
    "prog_load_result",
    "prog_test_run",
    "sys_bpf",
    "verifier_reason",
]
