"""bpf_timer: timers in map values, fired on a simulated clock (kernel/bpf/helpers.c).

A ``struct bpf_timer`` (16 bytes in a map value) is the handle of an hrtimer
the kernel allocates on bpf_timer_init. pybpf keeps that hidden state here,
keyed by the map storage and the timer's offset in it, and leaves the 16
bytes zero, as a user-space lookup of a kernel map shows them (special fields
are never copied out).

Time does not pass on its own (so runs are reproducible): the simulated
clocks start at the real clocks' readings when the first timer module state
is made, and :func:`advance_time` moves them forward and runs, in expiry order, the callback of every timer that
falls due, as bpf_timer_cb does in softirq context: ``callback(map, key,
value)`` with the key computed the kernel's way (an array's u32 index, a hash
element's key in front of its value). A callback may re-arm its timer; one
that becomes due again within the same advance fires again.

The module API (``Program.advance_time(ns)`` and ``UserBackend.advance_time(ns)``
forward to it, on the backend's own wheel)::

    pybpf.helpers.timers.advance_time(ns, prog=None) -> int    # callbacks run
    pybpf.helpers.timers.now(clockid=CLOCK_MONOTONIC) -> int   # simulated ns
    pybpf.helpers.timers.catch_up(prog=None) -> int            # advance to the real clocks' time
    pybpf.helpers.timers.pending(prog=None) -> list[BpfTimer]  # armed timers, by expiry
    pybpf.helpers.timers.reset()                                # forget every timer (tests)
"""

from __future__ import annotations

import errno as E
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import BpfError, VmError
from ..uapi import U64_MAX as M64

__all__ = [
    "BPF_F_TIMER_ABS",
    "BPF_F_TIMER_CPU_PIN",
    "CLOCK_BOOTTIME",
    "CLOCK_MONOTONIC",
    "CLOCK_REALTIME",
    "BpfTimer",
    "TimerWheel",
    "advance_time",
    "catch_up",
    "element_of",
    "free_fields",
    "has_timers",
    "now",
    "pending",
    "reset",
    "timer_cancel",
    "timer_init",
    "timer_of",
    "timer_set_callback",
    "timer_start",
    "wheel_of",
]

CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1
CLOCK_BOOTTIME = 7
MAX_CLOCKS = 16
BPF_F_TIMER_ABS = 1 << 0
BPF_F_TIMER_CPU_PIN = 1 << 1
#: callbacks one advance_time may run before it decides a timer re-arms itself forever
MAX_FIRINGS = 100_000

_CLOCK_SOURCES = {
    CLOCK_REALTIME: time.CLOCK_REALTIME,
    CLOCK_MONOTONIC: time.CLOCK_MONOTONIC,
    CLOCK_BOOTTIME: getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC),
}


def _neg(err: int) -> int:
    return (-err) & M64


@dataclass(eq=False)
class BpfTimer:
    """struct bpf_hrtimer: the state behind one initialised ``struct bpf_timer``."""

    map: Any
    value_off: int  # offset of the map value holding the timer, in map.storage
    timer_off: int  # offset of the timer itself, in map.storage
    clockid: int
    flags: int
    prog: Any = None  # the Program whose callback is set (bpf_async_cb.prog)
    callback: Any = None  # SubprogRef
    expires: int | None = None  # armed: ns on the timer's clock
    seq: int = 0
    cpu: int = 0
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    wheel: TimerWheel | None = field(default=None, repr=False)


class TimerWheel:
    """Every initialised timer of one backend, and the simulated clocks they run on.

    Each user backend has its own (:class:`pybpf.user.state.UserState`);
    programs made outside a backend use the process's default wheel.
    """

    def __init__(self) -> None:
        self.timers: dict[tuple[int, int], BpfTimer] = {}
        self.owners: dict[int, Any] = {}  # id(storage) -> map (keeps both alive)
        self.offset = 0  # ns the simulated clocks are ahead of the real ones at start
        self.base = {c: time.clock_gettime_ns(s) for c, s in _CLOCK_SOURCES.items()}
        self.seq = 0
        self.running: BpfTimer | None = None  # hrtimer_running

    def now(self, clockid: int) -> int:
        return self.base[clockid] + self.offset


_DEFAULT = TimerWheel()


def wheel_of(prog: Any) -> TimerWheel:
    """The timer wheel of ``prog``'s backend (the default wheel for None)."""
    wheel = getattr(getattr(prog, "state", None), "timers", None)
    return wheel if isinstance(wheel, TimerWheel) else _DEFAULT


def reset() -> None:
    """Forget every timer of the default wheel and restart its simulated clocks."""
    _DEFAULT.__init__()  # type: ignore[misc]


def now(clockid: int = CLOCK_MONOTONIC, prog: Any = None) -> int:
    """The simulated time of ``clockid`` in ns (on ``prog``'s backend's clocks)."""
    return wheel_of(prog).now(clockid)


def _locate(env: Any, addr: int) -> tuple[Any, int] | None:
    """(storage buffer, offset) of the map value memory ``addr`` points into."""
    region = env.mem.region_at(addr)
    if region is None:
        return None
    return region.buf, addr - region.base


def timer_of(env: Any, addr: int) -> BpfTimer | None:
    """The initialised timer at ``addr`` (a program's ``struct bpf_timer *``), if any."""
    loc = _locate(env, addr)
    if loc is None:
        return None
    t = wheel_of(env.prog).timers.get((id(loc[0]), loc[1]))
    if t is not None and not _element_alive(t):
        _drop(t)
        return None
    return t


def _element_alive(t: BpfTimer) -> bool:
    """A hash element's delete frees its timer (bpf_obj_free_fields -> cancel_and_free)."""
    m = t.map
    slot_key = getattr(m, "slot_key", None)
    if slot_key is None:
        return True
    elem = getattr(m, "elem_size", 0)
    if not elem:
        return True
    slot = t.value_off // elem
    return 0 <= slot < len(slot_key) and slot_key[slot] == t.extra.get("key")


def _drop(t: BpfTimer) -> None:
    wheel = t.wheel or _DEFAULT
    wheel.timers.pop((id(t.map.storage), t.timer_off), None)


def has_timers(m: Any, env: Any = None) -> bool:
    """Whether any initialised timer lives in ``m`` (a cheap test for the map helpers)."""
    wheel = wheel_of(getattr(env, "prog", None))
    return id(getattr(m, "storage", None)) in wheel.owners and bool(wheel.timers)


def element_of(m: Any, key: bytes) -> int | None:
    """The offset of ``key``'s value in ``m.storage`` (None when absent or bad)."""
    try:
        off = m.value_offset(key)
    except Exception:  # noqa: BLE001 - a bad key names no element
        return None
    return off if isinstance(off, int) else None


def free_fields(m: Any, value_off: int | None, env: Any = None) -> None:
    """bpf_obj_free_fields() for the element whose value is at ``value_off``: a program's
    successful update or delete of an array or hash element cancels and frees the
    timers in its value (arraymap.c array_map_update_elem, hashtab.c
    check_and_free_fields). The caller finds the offset before the operation.
    """
    if value_off is None:
        return
    wheel = wheel_of(getattr(env, "prog", None))
    for t in [t for t in wheel.timers.values() if t.map is m and t.value_off == value_off]:
        _drop(t)


def _value_off(m: Any, timer_off: int) -> int:
    """The offset of the map value a timer at ``timer_off`` belongs to."""
    elem = getattr(m, "elem_size", 0)
    if not elem:
        return timer_off
    slot = timer_off // elem
    return slot * elem + getattr(m, "key_stride", 0)


def timer_init(env: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_timer_init(timer, map, flags): -EINVAL for a bad clock, -EBUSY if done before."""
    flags = r3
    clockid = flags & (MAX_CLOCKS - 1)
    if flags >= MAX_CLOCKS or clockid not in _CLOCK_SOURCES:
        return _neg(E.EINVAL)
    m = env.mem.object_at(r2, env.pc)
    loc = _locate(env, r1)
    if loc is None or loc[0] is not getattr(m, "storage", None):
        raise VmError(
            f"bpf_timer_init: {r1:#x} is not a bpf_timer in the value of map "
            f"{getattr(m, 'name', m)!r}",
            pc=env.pc,
            errno=E.EINVAL,
        )
    if timer_of(env, r1) is not None:
        return _neg(E.EBUSY)
    buf, off = loc
    wheel = wheel_of(env.prog)
    t = BpfTimer(m, _value_off(m, off), off, clockid, flags, wheel=wheel)
    slot_key = getattr(m, "slot_key", None)
    if slot_key is not None and m.elem_size:
        t.extra["key"] = slot_key[t.value_off // m.elem_size]
    wheel.timers[(id(buf), off)] = t
    wheel.owners[id(buf)] = m
    return 0


def _timer_arg(env: Any, addr: int) -> BpfTimer | None:
    return timer_of(env, addr)


def timer_set_callback(env: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_timer_set_callback(timer, callback_fn): -EINVAL before bpf_timer_init."""
    t = _timer_arg(env, r1)
    if t is None:
        return _neg(E.EINVAL)
    from ..vm.interp import SubprogRef

    ref = env.mem.object_at(r2, env.pc)
    if not isinstance(ref, SubprogRef):
        raise VmError("bpf_timer_set_callback: R2 is not a BPF subprogram", pc=env.pc)
    t.prog = env.prog
    t.callback = ref
    t.extra["mem"] = env.mem
    t.extra["interp"] = env.interp
    return 0


def timer_start(env: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_timer_start(timer, nsecs, flags): arm, relative or BPF_F_TIMER_ABS."""
    if r3 & ~(BPF_F_TIMER_ABS | BPF_F_TIMER_CPU_PIN):
        return _neg(E.EINVAL)
    t = _timer_arg(env, r1)
    if t is None or t.prog is None:
        return _neg(E.EINVAL)
    nsecs = r2 if r2 < 1 << 63 else r2 - (1 << 64)  # ns_to_ktime takes an s64
    wheel = t.wheel or _DEFAULT
    t.expires = nsecs if r3 & BPF_F_TIMER_ABS else wheel.now(t.clockid) + nsecs
    wheel.seq += 1
    t.seq = wheel.seq
    t.cpu = env.cpu
    return 0


def timer_cancel(env: Any, r1: int, *_: int) -> int:
    """bpf_timer_cancel(timer): 1 if it was armed, 0 if not; -EDEADLK from its own
    callback; the callback is forgotten (drop_prog_refcnt), as the kernel does."""
    t = _timer_arg(env, r1)
    if t is None:
        return _neg(E.EINVAL)
    if (t.wheel or _DEFAULT).running is t:
        return _neg(E.EDEADLK)
    t.prog = None
    t.callback = None
    was_armed = t.expires is not None
    t.expires = None
    return 1 if was_armed else 0


def pending(prog: Any = None, wheel: TimerWheel | None = None) -> list[BpfTimer]:
    """Armed timers (of ``prog``'s callbacks, if given), soonest first, on ``wheel``
    (default: ``prog``'s backend's)."""
    wheel = wheel or wheel_of(prog)
    for t in [t for t in wheel.timers.values() if not _element_alive(t)]:
        _drop(t)
    out = [
        t
        for t in wheel.timers.values()
        if t.expires is not None and (prog is None or t.prog is prog)
    ]
    return sorted(out, key=lambda t: (_due_at(t), t.seq))


def _due_at(t: BpfTimer) -> int:
    """The simulated offset (ns past the clocks' start) at which an armed timer expires."""
    return (t.expires or 0) - (t.wheel or _DEFAULT).base[t.clockid]


def _fire(t: BpfTimer) -> None:
    """bpf_timer_cb(): callback(map, key, value) with the key the kernel computes."""
    from .callbacks import key_scratch

    m, mem, interp = t.map, t.extra["mem"], t.extra["interp"]
    t.expires = None
    ref = t.callback
    if ref is None:
        return
    base = mem.region_for(m.storage, name=f"map {getattr(m, 'name', '')}".strip()).base
    if getattr(m, "slot_key", None) is not None:  # hash or lru: key in front of the value
        key = base + t.value_off - getattr(m, "key_stride", 0)
    else:
        idx = t.value_off // m.elem_size
        key = key_scratch(mem, 4).put(idx.to_bytes(4, "little"))
    wheel = t.wheel or _DEFAULT
    wheel.running = t
    try:
        interp.run_subprog(ref, (mem.handle(m), key, base + t.value_off), mem=mem, cpu=t.cpu)
    finally:
        wheel.running = None


def catch_up(prog: Any = None) -> int:
    """Advance the simulated clocks to where the real monotonic clock is now (timers a
    program armed with BPF_F_TIMER_ABS from bpf_ktime_get_ns() are due by then)."""
    real = time.clock_gettime_ns(_CLOCK_SOURCES[CLOCK_MONOTONIC])
    return advance_time(max(0, real - now(CLOCK_MONOTONIC, prog)), prog)


def advance_time(ns: int, prog: Any = None, wheel: TimerWheel | None = None) -> int:
    """Move the simulated clocks of ``wheel`` (default: ``prog``'s backend's) ``ns``
    forward, firing every timer that falls due (only those whose callback ``prog``
    set, if given). Returns the callbacks run."""
    if ns < 0:
        raise BpfError("time only moves forward: ns must be >= 0")
    wheel = wheel or wheel_of(prog)
    target = wheel.offset + ns
    fired = 0
    while True:
        due = [
            t
            for t in pending(prog, wheel)
            if t.expires is not None and _due_at(t) <= target and _element_alive(t)
        ]
        if not due:
            break
        t = min(due, key=lambda t: (_due_at(t), t.seq))
        wheel.offset = max(wheel.offset, _due_at(t))
        _fire(t)
        fired += 1
        if fired > MAX_FIRINGS:
            raise VmError(
                f"advance_time: more than {MAX_FIRINGS} timer callbacks within {ns} ns "
                "(a timer keeps re-arming itself without delay)",
                errno=E.ELOOP,
            )
    wheel.offset = target
    return fired
