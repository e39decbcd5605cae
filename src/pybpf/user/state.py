"""What one user-space backend keeps that the kernel keeps once per boot or per process.

The kernel has one fd table per process, one set of clocks and hrtimers, one
trace ring, one socket-cookie counter and one prandom state. A
:class:`UserState` holds pybpf's model of each, so two backends (two tests,
say) never see each other's objects, timers or trace lines. Programs and maps
made outside any backend (``pybpf.Program(...)``) share the process's
default state.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

from ..fdtable import FdTable, default_table
from ..helpers.time import default_rng
from ..helpers.timers import TimerWheel, wheel_of
from ..helpers.trace import TracePipe, default_pipe

__all__ = ["UserState", "default_state"]


@dataclass
class UserState:
    """fd table, timers on simulated clocks, trace pipe, socket cookies, prandom."""

    fds: FdTable = field(default_factory=FdTable)
    timers: TimerWheel = field(default_factory=TimerWheel)
    trace: TracePipe = field(default_factory=TracePipe)
    #: sock_gen_cookie(): socket cookies are unique and start at 1
    cookies: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    rng: random.Random = field(default_factory=random.Random)

    def next_cookie(self) -> int:
        return next(self.cookies)

    def read_trace_pipe(self) -> list[str]:
        """Pending bpf_trace_printk lines of this backend's programs (consumed)."""
        return self.trace.read()

    def advance_time(self, ns: int) -> int:
        """Move this backend's simulated clocks on by ``ns``, firing due bpf_timers."""
        from ..helpers.timers import advance_time

        return advance_time(ns, wheel=self.timers)


_DEFAULT: UserState | None = None


def default_state() -> UserState:
    """The state of objects made outside any backend (the process's fd table, pipe ...)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = UserState(
            fds=default_table(),
            timers=wheel_of(None),
            trace=default_pipe(),
            rng=default_rng(),
        )
    return _DEFAULT
