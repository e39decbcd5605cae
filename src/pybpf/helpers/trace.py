"""trace_printk's output: the kernel's format rules and a user-space trace pipe.

``bpf_trace_printk``, ``bpf_trace_vprintk`` and ``bpf_snprintf`` all go through
``bpf_bprintf_prepare()`` (kernel/bpf/helpers.c), which refuses a format the
kernel would refuse (-EINVAL): a non-printable character, an unknown
conversion, more conversions than arguments. The accepted conversions are
``%d %i %u %x %X`` with an optional ``l`` or ``ll`` (int is 32 bits, long and
long long 64), ``%c``, ``%s``, ``%p`` with ``K x B S s i4 I4 i6 I6 ks us``
suffixes and ``%%``; an optional ``[0 +-]`` flag run and a width may precede
the conversion letter (no precision).

What the program prints is collected here, one :class:`TraceEvent` per call,
and can be read back the way ``/sys/kernel/tracing/trace_pipe`` is read:
:func:`read_trace_pipe` returns the pending lines and consumes them.

Differences from the kernel, on purpose: ``%p`` and ``%pK`` print the raw
value (the kernel prints a hashed pointer that user space cannot reproduce);
``%pS``/``%pB`` print the raw value in hex (there are no kernel symbols here).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FormatError",
    "MAX_BPRINTF_BUF",
    "MAX_BPRINTF_STR_LEN",
    "MAX_BPRINTF_VARARGS",
    "TraceEvent",
    "TracePipe",
    "bprintf",
    "clear_trace",
    "default_pipe",
    "emit",
    "pipe_of",
    "read_trace_pipe",
    "snprintf",
    "trace_events",
    "trace_printk",
    "trace_vprintk",
]

#: kernel/bpf/helpers.c: the output buffer of one bprintf call
MAX_BPRINTF_BUF = 1024
#: include/linux/bpf.h: at most 12 arguments for snprintf/trace_vprintk
MAX_BPRINTF_VARARGS = 12
#: the longest string a %s / %pks copies (bounded by the per-call scratch buffer)
MAX_BPRINTF_STR_LEN = 512

_MASK32 = 0xFFFF_FFFF
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


class FormatError(ValueError):
    """The format is one the kernel refuses; ``errno`` is what the helper returns."""

    def __init__(self, message: str, err: int = errno.EINVAL):
        super().__init__(message)
        self.errno = err


def _printable(c: int) -> bool:
    # isascii(c) && (isprint(c) || isspace(c)) as the kernel's ctype table has it
    return c < 0x80 and (0x20 <= c < 0x7F or c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D))


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _pad(text: str, flags: str, width: int) -> str:
    if width <= len(text):
        return text
    if "-" in flags:
        return text.ljust(width)
    return text.rjust(width)


def _int_conv(value: int, conv: str, bits: int, flags: str, width: int) -> str:
    """vsnprintf's integer output for one of d i u x X with the given flags and width."""
    if conv in "di":
        v = _signed(value, bits)
        digits = str(abs(v))
        sign = "-" if v < 0 else ("+" if "+" in flags else (" " if " " in flags else ""))
    else:
        v = value & ((1 << bits) - 1)
        digits = {"u": f"{v}", "x": f"{v:x}", "X": f"{v:X}"}[conv]
        sign = ""
    body = sign + digits
    if "0" in flags and "-" not in flags and width > len(body):
        body = sign + digits.rjust(width - len(sign), "0")
    return _pad(body, flags, width)


def _ip4(raw: bytes, leading_zeros: bool) -> str:
    return ".".join(f"{b:03d}" if leading_zeros else str(b) for b in raw)


def _ip6(raw: bytes, colons: bool) -> str:
    if not colons:
        return raw.hex()
    return ":".join(raw[i : i + 2].hex() for i in range(0, 16, 2))


#: reads ``n`` bytes of program memory at an address; None when unreadable
ReadMem = Callable[[int, int], "bytes | None"]


def _read_str(read: ReadMem, addr: int) -> str:
    """copy_from_kernel_nofault_str(): bytes up to the NUL; a fault prints nothing."""
    out = bytearray()
    while len(out) < MAX_BPRINTF_STR_LEN - 1:
        chunk = read(addr + len(out), 1)
        if chunk is None or chunk == b"\0":
            break
        out += chunk
    return out.decode("latin-1")


def bprintf(fmt: bytes, args: list[int], read: ReadMem) -> str:
    """Format ``fmt`` (bytes up to the first NUL) with 64-bit ``args`` as the kernel does.

    Raises :class:`FormatError` where ``bpf_bprintf_prepare()`` returns an error.
    """
    end = fmt.find(b"\0")
    if end < 0:
        raise FormatError("format string is not NUL-terminated")
    f = fmt[:end]
    out: list[str] = []
    nspec = 0
    i = 0
    n = len(f)
    while i < n:
        c = f[i]
        if not _printable(c):
            raise FormatError(f"non-printable character {c:#x} at format offset {i}")
        if c != 0x25:  # '%'
            out.append(chr(c))
            i += 1
            continue
        if i + 1 < n and f[i + 1] == 0x25:
            out.append("%")
            i += 2
            continue
        if nspec >= len(args):
            raise FormatError(f"more conversions than the {len(args)} arguments given")
        i += 1
        flags = ""
        while i < n and chr(f[i]) in "0+- ":
            flags += chr(f[i])
            i += 1
        width = 0
        if i < n and 0x31 <= f[i] <= 0x39:
            j = i
            while i < n and 0x30 <= f[i] <= 0x39:
                i += 1
            width = int(f[j:i])
        if i >= n:
            raise FormatError("format ends inside a conversion")
        conv = chr(f[i])
        arg = args[nspec] & _MASK64
        nxt = chr(f[i + 1]) if i + 1 < n else ""
        nxt2 = chr(f[i + 2]) if i + 2 < n else ""
        if conv == "p":
            if nxt in ("K", "x") and not nxt2.isalnum():
                text = f"{arg:016x}"
                i += 2
            elif (
                nxt in ("B", "S")
                or (nxt in ("k", "u") and nxt2 == "s")
                or (nxt in ("i", "I") and nxt2 in ("4", "6"))
            ):
                if nxt in ("B", "S"):
                    text = f"{arg:#x}"
                    i += 2
                elif nxt2 == "s":
                    text = _read_str(read, arg)
                    i += 3
                else:
                    size = 4 if nxt2 == "4" else 16
                    raw = read(arg, size)
                    if raw is None:
                        raise FormatError(
                            f"%p{nxt}{nxt2} argument {arg:#x} is unreadable", errno.EFAULT
                        )
                    text = _ip4(raw, nxt == "i") if size == 4 else _ip6(raw, nxt == "I")
                    i += 3
            elif nxt.isalnum() and nxt:
                raise FormatError(f"unsupported pointer conversion %p{nxt}")
            else:
                text = f"{arg:016x}"
                i += 1
            out.append(_pad(text, flags, width))
        elif conv == "s":
            out.append(_pad(_read_str(read, arg), flags, width))
            i += 1
        elif conv == "c":
            out.append(_pad(chr(arg & 0xFF), flags, width))
            i += 1
        else:
            bits = 32
            if conv == "l":
                bits = 64
                i += 1
                if i < n and f[i] == 0x6C:  # 'l'
                    i += 1
                conv = chr(f[i]) if i < n else ""
            if conv not in ("d", "i", "u", "x", "X"):
                raise FormatError(f"unsupported conversion %{conv or '<end>'}")
            out.append(_int_conv(arg, conv, bits, flags, width))
            i += 1
        nspec += 1
    return "".join(out)


@dataclass(frozen=True)
class TraceEvent:
    """One bpf_trace_printk line: what the program printed and where it ran."""

    message: str
    cpu: int
    pid: int
    comm: str
    timestamp_ns: int

    def line(self) -> str:
        """The line as trace_pipe shows it (``comm-pid [cpu] flags ts: bpf_trace_printk: msg``;
        the flags are what a test run shows: softirq off, preempt depth 1)."""
        secs = self.timestamp_ns / 1e9
        return (
            f"{self.comm:>16}-{self.pid:<7} [{self.cpu:03d}] b..11 {secs:12.6f}: "
            f"bpf_trace_printk: {self.message}"
        )


def _comm() -> str:
    try:
        with open("/proc/self/comm") as fh:
            return fh.read().strip()[:15]
    except OSError:
        return "python"


class TracePipe:
    """One trace ring: what the kernel's /sys/kernel/tracing/trace and trace_pipe show.

    Each user backend has its own (:class:`pybpf.user.state.UserState`); programs
    made outside a backend write to the process's default pipe, which the
    module functions below read.
    """

    def __init__(self, size: int = 65536) -> None:
        self._lock = threading.Lock()
        self._pipe: deque[TraceEvent] = deque(maxlen=size)
        self._all: deque[TraceEvent] = deque(maxlen=size)

    def emit(self, message: str, cpu: int = 0) -> TraceEvent:
        """Record one trace line (what bpf_trace_printk does after formatting)."""
        ev = TraceEvent(message.rstrip("\n"), cpu, os.getpid(), _comm(), time.monotonic_ns())
        with self._lock:
            self._pipe.append(ev)
            self._all.append(ev)
        return ev

    def read(self) -> list[str]:
        """Pending lines, consumed as reading trace_pipe consumes them."""
        with self._lock:
            lines = [ev.line() for ev in self._pipe]
            self._pipe.clear()
        return lines

    def events(self) -> list[TraceEvent]:
        """Every event since the last :meth:`clear`, oldest first (reading does not remove them)."""
        with self._lock:
            return list(self._all)

    def clear(self) -> None:
        """Empty the ring and the pipe (like writing to /sys/kernel/tracing/trace)."""
        with self._lock:
            self._pipe.clear()
            self._all.clear()


_DEFAULT = TracePipe()


def default_pipe() -> TracePipe:
    """The pipe of programs made outside any backend."""
    return _DEFAULT


def pipe_of(env: Any) -> TracePipe:
    """The trace pipe of the program running in ``env`` (its backend's state)."""
    state = getattr(getattr(env, "prog", None), "state", None)
    pipe = getattr(state, "trace", None)
    return pipe if isinstance(pipe, TracePipe) else _DEFAULT


def emit(message: str, cpu: int = 0) -> TraceEvent:
    """Record one line in the default pipe."""
    return _DEFAULT.emit(message, cpu)


def read_trace_pipe() -> list[str]:
    """Pending lines of the default pipe, consumed as reading trace_pipe consumes them."""
    return _DEFAULT.read()


def trace_events() -> list[TraceEvent]:
    """Every event of the default pipe since the last :func:`clear_trace`."""
    return _DEFAULT.events()


def clear_trace() -> None:
    """Empty the default pipe."""
    _DEFAULT.clear()


# --- the helpers (registered in pybpf.helpers) -------------------------------------------------


def nofault_reader(env: Any) -> ReadMem:
    """Program memory reads that report a fault as None (copy_from_kernel_nofault)."""
    from ..errors import MemoryAccessError

    mem = env.mem

    def read(addr: int, n: int) -> bytes | None:
        try:
            return mem.read(addr, n)
        except MemoryAccessError:
            return None

    return read


def _emit(env: Any, text: str) -> None:
    env.trace.append(text.rstrip("\n"))
    pipe_of(env).emit(text, env.cpu)


def trace_printk(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_trace_printk(fmt, fmt_size, a1, a2, a3): at most three arguments."""
    size = r2 & 0xFFFF_FFFF
    fmt = env.mem.read(r1, size)
    try:
        text = bprintf(fmt, [r3, r4, r5], nofault_reader(env))
    except FormatError as exc:
        return (-exc.errno) & _MASK64
    text = text[: MAX_BPRINTF_BUF - 1]
    _emit(env, text)
    return len(text)


def _varargs(env: Any, data: int, data_len: int) -> list[int] | None:
    if data_len % 8 or data_len > 8 * MAX_BPRINTF_VARARGS:
        return None
    if not data_len:
        return []
    raw = env.mem.read(data, data_len)
    return [int.from_bytes(raw[i : i + 8], "little") for i in range(0, data_len, 8)]


def trace_vprintk(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    args = _varargs(env, r3, r4 & 0xFFFF_FFFF)
    if args is None:
        return (-errno.EINVAL) & _MASK64
    fmt = env.mem.read(r1, r2 & 0xFFFF_FFFF)
    try:
        text = bprintf(fmt, args, nofault_reader(env))
    except FormatError as exc:
        return (-exc.errno) & _MASK64
    text = text[: MAX_BPRINTF_BUF - 1]
    _emit(env, text)
    return len(text)


def snprintf(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_snprintf(str, size, fmt, data, data_len): returns the length needed plus the NUL."""
    size = r2 & 0xFFFF_FFFF
    args = _varargs(env, r4, r5 & 0xFFFF_FFFF)
    if args is None:
        return (-errno.EINVAL) & _MASK64
    fmt = bytearray()
    while True:  # ARG_PTR_TO_CONST_STR: a NUL-terminated read-only string
        ch = env.mem.read(r3 + len(fmt), 1)
        fmt += ch
        if ch == b"\0":
            break
    try:
        text = bprintf(bytes(fmt), args, nofault_reader(env)).encode("latin-1")
    except FormatError as exc:
        return (-exc.errno) & _MASK64
    if size:
        out = text[: size - 1] + b"\0"
        env.mem.write(r1, out)
    return len(text) + 1
