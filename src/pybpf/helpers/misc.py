"""Memory probes, spin locks and the perf helpers a socket filter may call but that have nothing to read here."""

from __future__ import annotations

import errno as E
from typing import Any

from . import trace as _trace
from .proto import HelperFn
from .util import _neg

# --- reading "kernel" and "user" memory: in pybpf both are the VM's memory ------------------------


def _probe_read(str_: bool) -> HelperFn:
    def fn(env: Any, r1: int, r2: int, r3: int, *_: int) -> int:
        size = r2 & 0xFFFF_FFFF
        if not size:
            return 0
        read = _trace.nofault_reader(env)
        if not str_:
            data = read(r3, size)
            if data is None:
                env.mem.write(r1, bytes(size))
                return _neg(E.EFAULT)
            env.mem.write(r1, data)
            return 0
        out = bytearray()
        while len(out) < size - 1:
            ch = read(r3 + len(out), 1)
            if ch is None:
                env.mem.write(r1, bytes(size))
                return _neg(E.EFAULT)
            if ch == b"\0":
                break
            out += ch
        out += b"\0"
        env.mem.write(r1, bytes(out))
        return len(out)

    return fn


def spin_lock(env: Any, *_: int) -> int:
    """One program runs at a time in the interpreter: the lock is always free."""
    return 0


def get_branch_snapshot(env: Any, r1: int, r2: int, *_: int) -> int:
    return _neg(E.ENOENT)


def perf_event_read(env: Any, *_: int) -> int:
    return _neg(E.ENOENT)


def perf_event_read_value(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    env.mem.write(r3, bytes(r4 & 0xFFFF_FFFF))
    return _neg(E.ENOENT)
