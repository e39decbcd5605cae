"""Map helpers: lookup, update, delete, per-cpu lookup, queue/stack, tail calls (kernel/bpf/helpers.c)."""

from __future__ import annotations

import errno as E
from typing import Any

from .. import uapi
from ..errors import MapError
from . import timers as _timers
from .proto import HelperFn
from .util import _errno_of, _map, _neg, _select_cpu, _value_addr

# --- maps ------------------------------------------------------------------------------------


def map_lookup_elem(env: Any, r1: int, r2: int, *_: int) -> int:
    """Pointer to the value in the map's storage region, 0 when absent."""
    m = _map(env, r1)
    key = env.mem.read(r2, m.key_size)
    _select_cpu(m, env.cpu)
    prog_lookup = getattr(m, "prog_lookup", None)
    try:
        off = prog_lookup(key) if prog_lookup is not None else m.value_offset(key)
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
        upd = getattr(m, "prog_update", None)
        if upd is not None:
            upd(key, value, r4)
        elif getattr(m, "percpu", False):
            _percpu_update(m, key, value, r4)
        else:
            m._update(key, value, r4)
    except MapError as exc:
        return _neg(_errno_of(exc))
    _timers.free_fields(m, timed, env)
    return 0


def _percpu_update(m: Any, key: bytes, value: bytes, flags: int) -> None:
    """A program updates only its own cpu's copy; a new element's other copies are zero."""
    from ..maps.base import round_up

    off = m.value_offset(key)
    if off is not None and flags != uapi.BPF_NOEXIST:
        if flags > uapi.BPF_EXIST:
            raise MapError("bad update flags", errno=E.EINVAL)
        m.storage[off : off + m.value_size] = value
        return
    stride = round_up(m.value_size, 8)
    blob = bytearray(stride * m.ncpus)
    blob[m.cpu * stride : m.cpu * stride + m.value_size] = value
    m._update(key, bytes(blob), flags)


def map_delete_elem(env: Any, r1: int, r2: int, *_: int) -> int:
    m = _map(env, r1)
    key = env.mem.read(r2, m.key_size)
    timed = _timers.element_of(m, key) if _timers.has_timers(m, env) else None
    try:
        m._delete(key)
    except MapError as exc:
        return _neg(_errno_of(exc))
    _timers.free_fields(m, timed, env)
    return 0


def map_lookup_percpu_elem(env: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    m = _map(env, r1)
    if not getattr(m, "percpu", False):
        return 0
    cpu = r3 & 0xFFFF_FFFF
    if cpu >= m.ncpus:
        return 0
    key = env.mem.read(r2, m.key_size)
    try:
        off = m.value_offset(key, cpu)
    except (MapError, TypeError):
        saved, m.cpu = m.cpu, cpu
        try:
            off = m.value_offset(key)
        finally:
            m.cpu = saved
    return _value_addr(env, m, off)


def _queue_op(op: str) -> HelperFn:
    """map_push_elem / map_pop_elem / map_peek_elem on a QUEUE or STACK map."""

    def fn(env: Any, r1: int, r2: int, r3: int = 0, *_: int) -> int:
        m = _map(env, r1)
        try:
            if op == "push":
                m._push(env.mem.read(r2, m.value_size), r3)
                return 0
            value = m._peek_pop(op == "pop")
        except MapError as exc:
            if op != "push":
                env.mem.write(r2, bytes(m.value_size))
            return _neg(_errno_of(exc))
        env.mem.write(r2, value)
        return 0

    return fn


def tail_call(env: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """Jump to the program in slot ``r3`` of prog array ``r2`` (empty slot: fall through)."""
    from ..vm.interp import TailCall  # interp imports this module's users

    m = _map(env, r2)
    index = r3 & 0xFFFF_FFFF
    if index >= m.max_entries:
        raise TailCall(None)
    raise TailCall(m.get_prog(index))
