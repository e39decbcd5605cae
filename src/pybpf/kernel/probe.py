"""What this kernel supports: map types, program types, helpers per program type.

Each probe creates the smallest valid object of its kind and classifies the
kernel's answer, the way libbpf's libbpf_probe_bpf_*() and bpftool feature do:
a map type the kernel does not know (or has compiled out) fails MAP_CREATE with
EINVAL even for valid attributes (find_and_alloc_map() in kernel/bpf/syscall.c);
an unknown program type fails PROG_LOAD with EINVAL before the verifier writes a
word; a helper the type may not call makes the verifier say "unknown func" or
"program of this type cannot use helper". Results are cached per process.

Callers that want a plain refusal use ``require_map_type`` / ``require_prog_type``
/ ``require_helper``, which raise :class:`NotSupportedError` saying so.
"""

from __future__ import annotations

import errno as E
import os
import struct
from dataclasses import dataclass
from functools import cache

from .. import uapi
from ..errors import KernelError, NotSupportedError
from ..isa import Insn
from . import syscall as sc

# Attributes of the smallest valid map of each type (key_size, value_size, max_entries, flags).
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MAP_SHAPES: dict[int, tuple[int, int, int, int]] = {
    uapi.BPF_MAP_TYPE_STACK_TRACE: (4, 8, 1, 0),
    uapi.BPF_MAP_TYPE_LPM_TRIE: (8, 4, 1, uapi.BPF_F_NO_PREALLOC),
    uapi.BPF_MAP_TYPE_CGROUP_STORAGE: (16, 4, 0, 0),
    uapi.BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE: (16, 4, 0, 0),
    uapi.BPF_MAP_TYPE_QUEUE: (0, 4, 1, 0),
    uapi.BPF_MAP_TYPE_STACK: (0, 4, 1, 0),
    uapi.BPF_MAP_TYPE_RINGBUF: (0, 0, _PAGE, 0),
    uapi.BPF_MAP_TYPE_USER_RINGBUF: (0, 0, _PAGE, 0),
    uapi.BPF_MAP_TYPE_BLOOM_FILTER: (0, 4, 1, 0),
    uapi.BPF_MAP_TYPE_ARENA: (0, 0, 1, uapi.BPF_F_MMAPABLE),
}
#: local-storage maps need BTF for key and value and BPF_F_NO_PREALLOC, no max_entries
_STORAGE_MAPS = (
    uapi.BPF_MAP_TYPE_SK_STORAGE,
    uapi.BPF_MAP_TYPE_INODE_STORAGE,
    uapi.BPF_MAP_TYPE_TASK_STORAGE,
    uapi.BPF_MAP_TYPE_CGRP_STORAGE,
)
_MAP_OF_MAPS = (uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS, uapi.BPF_MAP_TYPE_HASH_OF_MAPS)
#: need a kernel struct's BTF id (bpf_struct_ops) to be created at all
_NOT_PROBED_MAPS = (uapi.BPF_MAP_TYPE_STRUCT_OPS,)

# Program types that need an expected_attach_type to load (enum bpf_attach_type values).
_ATTACH_FOR_PROG = {
    uapi.BPF_PROG_TYPE_CGROUP_SOCK_ADDR: 10,  # BPF_CGROUP_INET4_CONNECT
    uapi.BPF_PROG_TYPE_SK_LOOKUP: 36,  # BPF_SK_LOOKUP
    uapi.BPF_PROG_TYPE_CGROUP_SOCKOPT: 21,  # BPF_CGROUP_GETSOCKOPT
    uapi.BPF_PROG_TYPE_NETFILTER: 45,  # BPF_NETFILTER
}
#: need an attach target (BTF id of a kernel function or another program)
_NOT_PROBED_PROGS = (
    uapi.BPF_PROG_TYPE_TRACING,
    uapi.BPF_PROG_TYPE_EXT,
    uapi.BPF_PROG_TYPE_LSM,
    uapi.BPF_PROG_TYPE_STRUCT_OPS,
)


@dataclass(frozen=True)
class Probe:
    """One probe's verdict: supported True/False, or None when it cannot be told here."""

    supported: bool | None
    errno: int = 0
    reason: str = ""

    def __bool__(self) -> bool:
        return bool(self.supported)


def _int_btf() -> bytes:
    """A BTF blob with one type, id 1: a 4-byte signed int (include/uapi/linux/btf.h)."""
    strings = b"\0int\0"
    types = struct.pack("<III", 1, 1 << 24, 4) + struct.pack("<I", (1 << 24) | 32)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return hdr + types + strings


def _classify_refusal(err: KernelError, what: str) -> Probe:
    if err.errno == E.EPERM:
        return Probe(None, err.errno, f"cannot probe {what}: EPERM (not privileged)")
    if err.errno in (E.EINVAL, E.EOPNOTSUPP, sc.ENOTSUPP):
        return Probe(False, err.errno, f"{what} is not supported by this kernel")
    return Probe(None, err.errno, f"cannot tell whether {what} is supported: {err}")


@cache
def probe_map_type(map_type: int) -> Probe:
    """Can this kernel create a map of ``map_type``?"""
    what = f"map type {uapi.MAP_TYPE_NAMES.get(map_type, map_type)}"
    if map_type in _NOT_PROBED_MAPS:
        return Probe(None, 0, f"{what} needs a kernel struct's BTF; not probed")
    fds: list[int] = []
    try:
        key, value, entries, flags = _MAP_SHAPES.get(map_type, (4, 4, 1, 0))
        kw: dict[str, int] = {}
        if map_type in _STORAGE_MAPS:
            btf = sc.btf_load(_int_btf())
            fds.append(btf)
            key, value, entries, flags = 4, 4, 0, uapi.BPF_F_NO_PREALLOC
            kw = {"btf_fd": btf, "btf_key_type_id": 1, "btf_value_type_id": 1}
        elif map_type in _MAP_OF_MAPS:
            inner = sc.map_create(uapi.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
            fds.append(inner)
            kw = {"inner_map_fd": inner}
        fds.append(sc.map_create(map_type, key, value, entries, flags, "probe", **kw))
        return Probe(True, 0, f"{what} is supported")
    except KernelError as err:
        return _classify_refusal(err, what)
    finally:
        for fd in fds:
            os.close(fd)


_RET0 = [Insn(0xB7, 0, 0, 0, 0), Insn(0x95)]


@cache
def probe_prog_type(prog_type: int) -> Probe:
    """Can this kernel load a program of ``prog_type``?"""
    what = f"program type {uapi.PROG_TYPE_NAMES.get(prog_type, prog_type)}"
    if prog_type in _NOT_PROBED_PROGS:
        return Probe(None, 0, f"{what} needs an attach target; not probed")
    flags = uapi.BPF_F_SLEEPABLE if prog_type == uapi.BPF_PROG_TYPE_SYSCALL else 0
    try:
        fd = sc.prog_load(
            prog_type,
            _RET0,
            expected_attach_type=_ATTACH_FOR_PROG.get(prog_type, 0),
            prog_flags=flags,
            name="probe",
        )
    except KernelError as err:
        if err.log.strip():  # the verifier ran: the type exists, this program was refused
            return Probe(True, err.errno, f"{what} is supported")
        return _classify_refusal(err, what)
    os.close(fd)
    return Probe(True, 0, f"{what} is supported")


@cache
def probe_helper(prog_type: int, helper_id: int) -> Probe:
    """May a program of ``prog_type`` call helper ``helper_id`` on this kernel?

    The probe calls the helper with zero arguments; argument-type complaints
    mean the call itself was allowed, as libbpf_probe_bpf_helper() reasons.
    """
    pname = uapi.PROG_TYPE_NAMES.get(prog_type, prog_type)
    what = f"helper {uapi.FUNC_NAMES.get(helper_id, helper_id)} in {pname} programs"
    prog = [Insn(0xB7, r, 0, 0, 0) for r in range(1, 6)] + [Insn(0x85, 0, 0, 0, helper_id), *_RET0]
    try:
        fd = sc.prog_load(
            prog_type, prog, expected_attach_type=_ATTACH_FOR_PROG.get(prog_type, 0), name="probe"
        )
    except KernelError as err:
        log = err.log
        if "unknown func" in log or "invalid func" in log:
            return Probe(False, err.errno, f"{what} is not supported by this kernel")
        if "cannot use helper" in log or "cannot call" in log:
            return Probe(False, err.errno, f"{what} is not allowed for this program type")
        if log.strip():
            return Probe(True, err.errno, f"{what} is supported")
        return _classify_refusal(err, what)
    os.close(fd)
    return Probe(True, 0, f"{what} is supported")


def require_map_type(map_type: int) -> None:
    """Raise NotSupportedError when this kernel cannot create ``map_type`` maps."""
    p = probe_map_type(map_type)
    if p.supported is False:
        raise NotSupportedError(p.reason, errno=p.errno or E.EOPNOTSUPP)


def require_prog_type(prog_type: int) -> None:
    p = probe_prog_type(prog_type)
    if p.supported is False:
        raise NotSupportedError(p.reason, errno=p.errno or E.EOPNOTSUPP)


def require_helper(prog_type: int, helper_id: int) -> None:
    p = probe_helper(prog_type, helper_id)
    if p.supported is False:
        raise NotSupportedError(p.reason, errno=p.errno or E.EOPNOTSUPP)


def supported_map_types() -> dict[str, bool | None]:
    """Every map type uapi knows -> supported (None: could not tell)."""
    return {
        name: probe_map_type(t).supported
        for t, name in sorted(uapi.MAP_TYPE_NAMES.items())
        if t != uapi.BPF_MAP_TYPE_UNSPEC
    }


def supported_prog_types() -> dict[str, bool | None]:
    return {
        name: probe_prog_type(t).supported
        for t, name in sorted(uapi.PROG_TYPE_NAMES.items())
        if t != uapi.BPF_PROG_TYPE_UNSPEC
    }


def supported_helpers(prog_type: int = uapi.BPF_PROG_TYPE_SOCKET_FILTER) -> list[str]:
    """Names of the helpers a program of ``prog_type`` may call on this kernel."""
    return [
        name
        for hid, name in sorted(uapi.FUNC_NAMES.items())
        if hid and probe_helper(prog_type, hid).supported
    ]


__all__ = [
    "Probe",
    "probe_helper",
    "probe_map_type",
    "probe_prog_type",
    "require_helper",
    "require_map_type",
    "require_prog_type",
    "supported_helpers",
    "supported_map_types",
    "supported_prog_types",
]
