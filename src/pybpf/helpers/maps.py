"""Map helpers: lookup, update, delete, per-cpu lookup, queue/stack, tail calls (kernel/bpf/helpers.c)."""

from __future__ import annotations

from typing import Any

from ..errors import MapError
from . import timers as _timers
from .proto import HelperFn
from .util import _errno_of, _map, _neg, _select_cpu, _value_addr

# --- maps ---------------------------------------------------------------------------------------
#
# Every user-space map is a pybpf.maps.Map; its program-side methods (prog_lookup,
# prog_update, prog_delete, prog_push/pop/peek) call the same C ops natively run
# programs call, on the same storage.  Keys and values are read from the program's
# memory at the map's exact sizes; errors come back as MapError carrying the errno
# the kernel's helper returns.


def map_lookup_elem(env: Any, r1: int, r2: int, *_: int) -> int:
    """Pointer to the value in the map's storage region, 0 when absent."""
    m = _map(env, r1)
    key = env.mem.read(r2, m.key_size)
    _select_cpu(m, env.cpu)
    try:
        off = m.prog_lookup(key)
    except MapError:
        return 0
    return _value_addr(env, m, off)


def map_update_elem(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    m = _map(env, r1)
    key = env.mem.read(r2, m.key_size)
    value = env.mem.read(r3, m.value_size)
    _select_cpu(m, env.cpu)
    timed = _timers.element_of(m, key) if _timers.has_timers(m, env) else None
    try:
        m.prog_update(key, value, r4)
    except MapError as exc:
        return _neg(_errno_of(exc))
    _timers.free_fields(m, timed, env)
    return 0


def map_delete_elem(env: Any, r1: int, r2: int, *_: int) -> int:
    m = _map(env, r1)
    key = env.mem.read(r2, m.key_size)
    _select_cpu(m, env.cpu)
    timed = _timers.element_of(m, key) if _timers.has_timers(m, env) else None
    try:
        m.prog_delete(key)
    except MapError as exc:
        return _neg(_errno_of(exc))
    _timers.free_fields(m, timed, env)
    return 0


def map_lookup_percpu_elem(env: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_map_lookup_percpu_elem(): the value of cpu ``r3``; 0 for a cpu past the last."""
    m = _map(env, r1)
    if not getattr(m, "percpu", False):
        return 0
    cpu = r3 & 0xFFFF_FFFF
    if cpu >= m.ncpus:
        return 0
    key = env.mem.read(r2, m.key_size)
    try:
        off = m.value_offset(key, cpu)
    except MapError:
        return 0
    return _value_addr(env, m, off)


def _queue_op(op: str) -> HelperFn:
    """map_push_elem / map_pop_elem / map_peek_elem on a QUEUE or STACK map."""

    def fn(env: Any, r1: int, r2: int, r3: int = 0, *_: int) -> int:
        m = _map(env, r1)
        try:
            if op == "push":
                m.prog_push(env.mem.read(r2, m.value_size), r3)
                return 0
            value = m.prog_pop() if op == "pop" else m.prog_peek()
        except MapError as exc:
            if op != "push":
                env.mem.write(r2, bytes(m.value_size))
            return _neg(_errno_of(exc))
        env.mem.write(r2, value)
        return 0

    return fn


def tail_call(env: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """Jump to the program in slot ``r3`` of prog array ``r2`` (empty slot: fall through)."""
    from ..vm.api import TailCall

    m = _map(env, r2)
    index = r3 & 0xFFFF_FFFF
    if index >= m.max_entries:
        raise TailCall(None)
    raise TailCall(m.get_prog(index))


#: exactly the kernel's helpers: a native back end may run its own version (pybpf.vm.api)
for _fn in (map_lookup_elem, map_update_elem, map_delete_elem, tail_call):
    setattr(_fn, "native", _fn.__name__)  # noqa: B010 - an attribute of a function
