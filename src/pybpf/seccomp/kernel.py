"""Seccomp policies in the real kernel: install them in a forked child, make the call, watch.

:func:`run_in_kernel` forks a child that installs the filters with
seccomp(2) — on one thread, as a program would — and makes one system call
(``runner.c``, built on first use by :func:`pybpf.native.library`). What the
kernel did is an :class:`Outcome`:

========================  ===============================================================
``returned``              the call ran or was failed: its return value and errno (ALLOW,
                          LOG; ERRNO gives -1/errno; TRACE and USER_NOTIF with no tracer
                          or listener give ENOSYS)
``trapped``               SIGSYS was delivered (TRAP): ``data`` is its si_errno
``killed_thread``         the calling thread died (KILL_THREAD)
``killed_process``        the whole process died of SIGSYS (KILL_PROCESS, unknown actions)
``install_failed``        seccomp(2) refused filter ``installed`` (errno: EINVAL for a bad
                          program, ENOMEM past the instruction cap, ...)
========================  ===============================================================

:meth:`Outcome.consistent_with` says whether an emulated :class:`Action`
explains it. The child cannot dump core (PR_SET_DUMPABLE 0) and is killed
when done; a call that blocks is reported after ``timeout`` seconds.
"""

from __future__ import annotations

import ctypes
import errno as E
import mmap
import os
import select
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..cbpf.insn import SockFilter, as_filters, decode, encode
from ..errors import BpfError, NotSupportedError
from .actions import MAX_ERRNO, Action
from .data import AUDIT_ARCH_I386, arch_value

__all__ = ["Outcome", "run_in_kernel", "unfiltered"]

_STATUS = {1: "returned", 2: "trapped", 3: "killed_thread", 4: "install_failed", 5: "setup_failed"}
PR_SET_DUMPABLE = 4


class _ProbeResult(ctypes.Structure):
    _fields_ = [
        ("status", ctypes.c_int32),
        ("err", ctypes.c_int32),
        ("ret", ctypes.c_int64),
        ("sig_errno", ctypes.c_int32),
        ("sig_syscall", ctypes.c_int32),
        ("sig_arch", ctypes.c_uint32),
        ("installed", ctypes.c_int32),
        ("sig_call_addr", ctypes.c_uint64),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


@cache
def _runner() -> ctypes.CDLL:
    from ..native import library

    lib = library("pybpf_seccomp_runner", [Path(__file__).with_name("runner.c")])
    lib.pybpf_seccomp_probe.restype = ctypes.c_int
    lib.pybpf_seccomp_probe.argtypes = [
        ctypes.POINTER(_SockFprog), ctypes.c_int, ctypes.c_uint, ctypes.c_long,
        ctypes.POINTER(ctypes.c_long), ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
    ]  # fmt: skip
    return lib


@dataclass(frozen=True)
class Outcome:
    """What the kernel did with one system call under the installed filters (module doc)."""

    kind: str
    ret: int = 0
    errno: int = 0
    data: int = 0
    syscall: int | None = None
    arch: int | None = None
    installed: int = 0

    def __str__(self) -> str:
        if self.kind == "returned":
            if self.errno:
                return f"returned -1, errno {self.errno} ({E.errorcode.get(self.errno, '?')})"
            return f"returned {self.ret}"
        if self.kind == "trapped":
            return f"SIGSYS (si_errno {self.data}, syscall {self.syscall})"
        if self.kind == "killed_thread":
            return "the thread was killed (SIGSYS)"
        if self.kind == "killed_process":
            return "the process was killed (SIGSYS)"
        if self.kind == "install_failed":
            return (
                f"seccomp(2) refused filter {self.installed + 1}: errno {self.errno} "
                f"({E.errorcode.get(self.errno, '?')})"
            )
        return self.kind

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "returned":
            out.update(ret=self.ret, errno=self.errno)
        elif self.kind == "trapped":
            out.update(data=self.data, syscall=self.syscall, arch=self.arch)
        elif self.kind == "install_failed":
            out.update(errno=self.errno, installed=self.installed)
        return out

    def consistent_with(self, action: Action, unfiltered: Outcome | None = None) -> bool:
        """Whether ``action`` (emulated) explains this outcome.

        ALLOW and LOG run the call: with ``unfiltered`` (the same call made with
        no filter) it must fail with the same errno, or succeed when that did
        (return values such as pids differ between the two children).
        """
        name = action.effective
        if name in ("ALLOW", "LOG"):
            if self.kind != "returned":
                return False
            return unfiltered is None or self.errno == unfiltered.errno
        if name == "ERRNO":
            return (
                self.kind == "returned"
                and self.ret == -1
                and self.errno == min(action.data, MAX_ERRNO)
            )
        if name in ("TRACE", "USER_NOTIF"):
            return self.kind == "returned" and self.ret == -1 and self.errno == E.ENOSYS
        if name == "TRAP":
            return self.kind == "trapped" and self.data == action.data
        if name == "KILL_THREAD":
            return self.kind == "killed_thread"
        return self.kind == "killed_process"


def _fprogs(filters: Sequence[Any]) -> tuple[Any, list[Any]]:
    progs = []
    keep = []
    for f in filters:
        if isinstance(f, (bytes, bytearray)):
            insns = decode(bytes(f))
        elif hasattr(f, "filter"):
            insns = list(f.filter)
        else:
            insns = as_filters(f)
        raw = encode(insns)
        buf = ctypes.create_string_buffer(raw, max(len(raw), 1))
        keep.append(buf)
        progs.append(_SockFprog(len(insns), ctypes.cast(buf, ctypes.c_void_p)))
    arr = (_SockFprog * max(len(progs), 1))(*progs)
    return arr, keep


def run_in_kernel(
    filters: Sequence[bytes | Sequence[SockFilter] | Any],
    nr: int,
    args: Sequence[int] = (),
    *,
    arch: str | int = "x86_64",
    flags: int = 0,
    timeout: float = 5.0,
) -> Outcome:
    """Install ``filters`` (oldest first) in a forked child and make system call ``nr``.

    ``filters`` are raw bytes, instruction lists or SeccompFilters; ``args`` the
    64-bit arguments. ``arch="i386"`` makes the call through ``int $0x80`` (x86_64
    hosts with IA-32 emulation), so the filters see AUDIT_ARCH_I386. One thread
    installs the filters one after the other, as a program stacking them does,
    so each install is a seccomp(2) call the filters before it judge: a filter
    that does not allow seccomp(2) stops the rest (``install_failed``, or the
    action it takes on the install).
    """
    if sys.platform != "linux":
        raise NotSupportedError("seccomp(2) exists on Linux only", errno=E.ENOSYS)
    a = arch_value(arch) if isinstance(arch, str) else arch
    machine = os.uname().machine
    native = arch_value(machine) if machine in ("x86_64", "aarch64", "i386", "i686") else None
    if a != native and not (machine == "x86_64" and a == AUDIT_ARCH_I386):
        raise NotSupportedError(
            f"this {machine} host cannot make {arch} system calls", errno=E.ENOSYS
        )
    lib = _runner()
    arr, keep = _fprogs(filters)
    argv = (ctypes.c_long * 6)(*[_as_long(v) for v in (list(args) + [0] * 6)[:6]])
    shared = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_SHARED)
    res = _ProbeResult.from_buffer(shared)
    i386 = int(a == AUDIT_ARCH_I386 and machine == "x86_64")
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(rfd)
            ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
            rc = lib.pybpf_seccomp_probe(
                arr, len(filters), flags, nr, argv, i386, ctypes.addressof(res), wfd
            )
            os._exit(100 + min(-rc, 100) if rc < 0 else 99)
        except BaseException:  # noqa: BLE001
            os._exit(98)
    os.close(wfd)
    status = None
    try:
        # a byte: the child recorded an outcome; end of file: the child died
        ready, _, _ = select.select([rfd], [], [], timeout)
        if ready and not res.status:
            _, status = os.waitpid(pid, 0)
        outcome = _read(res, status, timeout)
    finally:
        os.close(rfd)
        if status is None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
        del res
        shared.close()
        del keep
    return outcome


def _as_long(v: int) -> int:
    v &= 0xFFFF_FFFF_FFFF_FFFF
    return v - (1 << 64) if v & (1 << 63) else v


def _read(res: _ProbeResult, status: int | None, timeout: float) -> Outcome:
    kind = _STATUS.get(res.status)
    if kind == "returned":
        return Outcome("returned", ret=res.ret, errno=res.err)
    if kind == "trapped":
        return Outcome(
            "trapped", data=res.sig_errno & 0xFFFF, syscall=res.sig_syscall, arch=res.sig_arch
        )
    if kind == "killed_thread":
        return Outcome("killed_thread", installed=res.installed)
    if kind == "install_failed":
        return Outcome("install_failed", errno=res.err, installed=res.installed)
    if kind == "setup_failed":
        raise BpfError(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(res.err)}", errno=res.err)
    if status is not None:
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS:
            return Outcome("killed_process")
        code = os.waitstatus_to_exitcode(status)
        if code >= 100:
            raise BpfError(f"the seccomp probe could not start: {os.strerror(code - 100)}")
        raise BpfError(f"the seccomp probe child ended unexpectedly (exit status {code})")
    raise BpfError(
        f"the system call did not return within {timeout:g} s (it blocks); no outcome",
        errno=E.ETIMEDOUT,
    )


def unfiltered(nr: int, args: Sequence[int] = (), *, arch: str | int = "x86_64") -> Outcome:
    """The same call made with no filter installed (what ALLOW must reproduce)."""
    return run_in_kernel([], nr, args, arch=arch)
