"""Classic filters on real sockets: SO_ATTACH_FILTER, SO_DETACH_FILTER, SO_GET_FILTER, SO_LOCK_FILTER.

``setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &(struct sock_fprog){len, filter})``
hands the kernel a classic program (net/core/sock.c -> sk_attach_filter in
net/core/filter.c): it runs ``bpf_check_classic`` and refuses a bad program
with EINVAL, converts it to eBPF and runs it on every packet the socket
receives. SO_GET_FILTER (the same option number, via getsockopt) returns the
classic program as attached. No bpf() is involved, so this works for
programs the converter gives kernel-internal calls (:mod:`pybpf.cbpf.convert`).
"""

from __future__ import annotations

import ctypes
import errno as E
import os
import socket
from collections.abc import Sequence
from typing import Any

from .. import uapi
from ..errors import KernelError, NotSupportedError
from ..uapi import SO_ATTACH_FILTER, SO_DETACH_FILTER
from .insn import SOCK_FILTER_SIZE, SockFilter, decode, encode

__all__ = ["KernelClassicFilter", "attach_filter", "detach_filter", "get_filter", "lock_filter"]

SO_GET_FILTER = SO_ATTACH_FILTER
SO_LOCK_FILTER = 44

_libc = ctypes.CDLL(None, use_errno=True)


class _SockFprog(ctypes.Structure):
    """struct sock_fprog (include/uapi/linux/filter.h)."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _fd(sock: socket.socket | int) -> int:
    return sock if isinstance(sock, int) else sock.fileno()


def _fail(what: str, sock: socket.socket | int) -> KernelError:
    num = ctypes.get_errno() or E.EINVAL
    return KernelError(f"{what} on socket fd {_fd(sock)}: {os.strerror(num)}", errno=num)


def attach_filter(sock: socket.socket | int, prog: Sequence[SockFilter]) -> None:
    """SO_ATTACH_FILTER: the kernel checks ``prog`` (EINVAL if bad) and filters with it."""
    raw = encode(prog)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = _SockFprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    rc = _libc.setsockopt(
        _fd(sock), socket.SOL_SOCKET, SO_ATTACH_FILTER, ctypes.byref(fprog), ctypes.sizeof(fprog)
    )
    if rc != 0:
        raise _fail(f"SO_ATTACH_FILTER of a {len(prog)}-insn classic program", sock)


def detach_filter(sock: socket.socket | int) -> None:
    """SO_DETACH_FILTER (ENOENT when the socket has no filter)."""
    zero = ctypes.c_int(0)
    rc = _libc.setsockopt(
        _fd(sock), socket.SOL_SOCKET, SO_DETACH_FILTER, ctypes.byref(zero), ctypes.sizeof(zero)
    )
    if rc != 0:
        raise _fail("SO_DETACH_FILTER", sock)


def lock_filter(sock: socket.socket | int) -> None:
    """SO_LOCK_FILTER: later attach/detach fail with EPERM."""
    one = ctypes.c_int(1)
    rc = _libc.setsockopt(
        _fd(sock), socket.SOL_SOCKET, SO_LOCK_FILTER, ctypes.byref(one), ctypes.sizeof(one)
    )
    if rc != 0:
        raise _fail("SO_LOCK_FILTER", sock)


def get_filter(sock: socket.socket | int) -> list[SockFilter]:
    """SO_GET_FILTER: the classic program attached to the socket ([] when none).

    The kernel answers in instructions, not bytes: a zero-length query returns
    the count, the second call fills the buffer (sk_get_filter).
    """
    n = ctypes.c_uint(0)
    rc = _libc.getsockopt(_fd(sock), socket.SOL_SOCKET, SO_GET_FILTER, None, ctypes.byref(n))
    if rc != 0:
        raise _fail("SO_GET_FILTER", sock)
    if n.value == 0:
        return []
    buf = ctypes.create_string_buffer(n.value * SOCK_FILTER_SIZE)
    rc = _libc.getsockopt(_fd(sock), socket.SOL_SOCKET, SO_GET_FILTER, buf, ctypes.byref(n))
    if rc != 0:
        raise _fail("SO_GET_FILTER", sock)
    return decode(buf.raw[: n.value * SOCK_FILTER_SIZE])


class KernelClassicFilter:
    """A classic filter run by the kernel itself, on a real packet socket.

    The kernel backend's form of a classic program: every frame given to
    :meth:`run` is sent into a veth pair in a private network namespace
    (:class:`pybpf.kernel.netns.VethRig`, one per process unless ``rig`` is
    given) whose receiving packet socket has this program attached with
    SO_ATTACH_FILTER; :meth:`run` returns the bytes that socket received,
    ``min(ret, len)`` (0: dropped). The receive path untags one outer VLAN tag
    and sets ``pkt_type`` against the veth's address, as on any Ethernet device.
    :meth:`test_run` runs the converted eBPF with BPF_PROG_TEST_RUN instead.
    """

    def __init__(self, prog: Sequence[SockFilter], *, name: str = "", rig: object = None):
        from .check import check_classic
        from .convert import convert_filter

        self.filter = list(prog)
        check_classic(self.filter)
        self.insns = convert_filter(self.filter)
        self.name = name
        self.prog_type = 1  # BPF_PROG_TYPE_SOCKET_FILTER: what it converts to
        self.fd = -1
        self._rig = rig
        self._kp: object = None

    def attach(self, sock: socket.socket | int) -> None:
        attach_filter(sock, self.filter)

    def run(self, data_or_skb: object) -> int:
        """Bytes of the frame the filtered socket received (raises KernelError when the
        receive path dropped the frame before any socket)."""
        from ..kernel.netns import shared_rig

        frame_of = getattr(data_or_skb, "frame", None)
        frame = frame_of() if callable(frame_of) else bytes(data_or_skb)  # type: ignore[call-overload]
        rig = self._rig or shared_rig()
        rig.attach(self)  # type: ignore[attr-defined]
        kept = rig.deliver(frame)  # type: ignore[attr-defined]
        if kept is None:
            raise KernelError(
                f"the veth receive path dropped a {len(frame)}-byte frame before any socket",
                errno=E.EIO,
            )
        return int(kept)

    def test_run(self, data: bytes, repeat: int = 1, ctx_in: bytes | None = None) -> object:
        """BPF_PROG_TEST_RUN of the converted eBPF (loaded with bpf() on first use)."""
        if self._kp is None:
            from .convert import convert_filter

            self._kp = load_converted(convert_filter(self.filter))
        return self._kp.test_run(data, repeat, ctx_in)  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._kp is not None:
            self._kp.close()  # type: ignore[attr-defined]
            self._kp = None

    def __repr__(self) -> str:
        return f"<KernelClassicFilter {self.name or '(anonymous)'} {len(self.filter)} insns>"


def load_converted(insns: Any, **kw: Any) -> Any:
    """A converted classic filter loaded into the running kernel as a socket filter.

    The kernel verifies it. A program that uses SKF_AD_PAY_OFFSET,
    SKF_AD_NLATTR[_NEST] or SKF_AD_HATYPE needs a kernel-internal call that
    bpf() cannot express: NotSupportedError, naming it (attach the classic
    program with SO_ATTACH_FILTER instead).
    """
    from ..kernel.program import KernelProgram
    from .convert import internal_calls_in

    internal = internal_calls_in(insns)
    if internal:
        pc, what = internal[0]
        raise NotSupportedError(
            f"the converted program calls the kernel-internal {what} (insn {pc}); "
            "bpf() cannot load that: attach the classic filter with SO_ATTACH_FILTER",
            errno=E.EOPNOTSUPP,
        )
    return KernelProgram(insns, uapi.BPF_PROG_TYPE_SOCKET_FILTER, **kw)
