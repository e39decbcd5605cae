"""The helper table: kernel id, name, prototype (for the verifier), implementation (for the VM).

Prototypes follow ``struct bpf_func_proto`` (include/linux/bpf.h): a return
type and up to five argument types, each a base type optionally or-ed with
type flags (``ARG_PTR_TO_MEM | MEM_RDONLY``), plus ``gpl_only``. The table
covers every helper Linux 6.18 lets a socket filter call (the set is in
:mod:`pybpf.progtypes`, probed on the kernel; ``gpl_only`` was probed too).

Implementations take ``(env, r1, r2, r3, r4, r5)`` and return the u64 R0
(:class:`pybpf.vm.interp.RunEnv` is ``env``). Like the kernel's, they report
failure as a negative errno in R0, never as an exception; a bad pointer
passed to a helper raises MemoryAccessError as the VM's own loads do.
Callback helpers (bpf_loop, for_each_map_elem, find_vma) live in
:mod:`pybpf.helpers.callbacks`, dynptrs in :mod:`pybpf.helpers.dynptr`, timers in
:mod:`pybpf.helpers.timers`, the current task and socket casts in :mod:`pybpf.helpers.tasks`.
Helpers that need kernel objects user space cannot have are listed with
their prototypes, ``implemented=False`` and a ``reason`` (:data:`REFUSED`):
calling one raises NotSupportedError naming it and the reason.
"""

from __future__ import annotations

import errno as E
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Any

from .. import uapi
from ..errors import MapError, NotSupportedError, VmError
from . import callbacks as _cb
from . import dynptr as _dyn
from . import tasks as _task
from . import timers as _timers
from . import trace as _trace
from .kstrtox import BPF_STRTOX_BASE_MASK, strncmp, strtol, strtoul  # noqa: F401 - re-exported
from .tasks import (
    get_cgroup_classid,
    get_current_ancestor_cgroup_id,
    get_current_cgroup_id,
    get_current_comm,
    get_current_pid_tgid,
    get_current_uid_gid,
    get_ns_current_pid_tgid,
)

__all__ = [
    "ArgType",
    "Helper",
    "HELPERS",
    "Proto",
    "RetType",
    "TypeFlag",
    "arg_type_name",
    "base_type",
    "helper_by_name",
    "helpers_for",
    "ret_type_name",
    "REFUSED",
]

M64 = (1 << 64) - 1


class TypeFlag(IntFlag):
    """enum bpf_type_flag: modifiers or-ed into argument and return types."""

    PTR_MAYBE_NULL = 1 << 8
    MEM_RDONLY = 1 << 9
    MEM_RINGBUF = 1 << 10
    MEM_USER = 1 << 11
    MEM_PERCPU = 1 << 12
    OBJ_RELEASE = 1 << 13
    PTR_UNTRUSTED = 1 << 14
    MEM_UNINIT = 1 << 15
    DYNPTR_TYPE_LOCAL = 1 << 16
    DYNPTR_TYPE_RINGBUF = 1 << 17
    MEM_FIXED_SIZE = 1 << 18
    MEM_ALLOC = 1 << 19
    PTR_TRUSTED = 1 << 20
    MEM_RCU = 1 << 21
    MEM_ALIGNED = 1 << 22
    MEM_WRITE = 1 << 23


PTR_MAYBE_NULL = TypeFlag.PTR_MAYBE_NULL
MEM_RDONLY = TypeFlag.MEM_RDONLY
MEM_RINGBUF = TypeFlag.MEM_RINGBUF
OBJ_RELEASE = TypeFlag.OBJ_RELEASE
MEM_UNINIT = TypeFlag.MEM_UNINIT
MEM_FIXED_SIZE = TypeFlag.MEM_FIXED_SIZE
MEM_ALIGNED = TypeFlag.MEM_ALIGNED
MEM_WRITE = TypeFlag.MEM_WRITE
PTR_TRUSTED = TypeFlag.PTR_TRUSTED
DYNPTR_TYPE_LOCAL = TypeFlag.DYNPTR_TYPE_LOCAL
DYNPTR_TYPE_RINGBUF = TypeFlag.DYNPTR_TYPE_RINGBUF
_BASE_MASK = 0xFF


class ArgType(IntEnum):
    """enum bpf_arg_type base types (a prototype's argument is one of these | flags)."""

    ARG_DONTCARE = 0
    ARG_CONST_MAP_PTR = 1
    ARG_PTR_TO_MAP_KEY = 2
    ARG_PTR_TO_MAP_VALUE = 3
    ARG_PTR_TO_MEM = 4
    ARG_PTR_TO_ARENA = 5
    ARG_CONST_SIZE = 6
    ARG_CONST_SIZE_OR_ZERO = 7
    ARG_PTR_TO_CTX = 8
    ARG_ANYTHING = 9
    ARG_PTR_TO_SPIN_LOCK = 10
    ARG_PTR_TO_SOCK_COMMON = 11
    ARG_PTR_TO_SOCKET = 12
    ARG_PTR_TO_BTF_ID = 13
    ARG_PTR_TO_RINGBUF_MEM = 14
    ARG_CONST_ALLOC_SIZE_OR_ZERO = 15
    ARG_PTR_TO_BTF_ID_SOCK_COMMON = 16
    ARG_PTR_TO_PERCPU_BTF_ID = 17
    ARG_PTR_TO_FUNC = 18
    ARG_PTR_TO_STACK = 19
    ARG_PTR_TO_CONST_STR = 20
    ARG_PTR_TO_TIMER = 21
    ARG_KPTR_XCHG_DEST = 22
    ARG_PTR_TO_DYNPTR = 23


class RetType(IntEnum):
    """enum bpf_return_type base types."""

    RET_INTEGER = 0
    RET_VOID = 1
    RET_PTR_TO_MAP_VALUE = 2
    RET_PTR_TO_SOCKET = 3
    RET_PTR_TO_TCP_SOCK = 4
    RET_PTR_TO_SOCK_COMMON = 5
    RET_PTR_TO_MEM = 6
    RET_PTR_TO_MEM_OR_BTF_ID = 7
    RET_PTR_TO_BTF_ID = 8


A = ArgType
R = RetType
# the composite names include/linux/bpf.h defines
ARG_PTR_TO_MAP_VALUE_OR_NULL = A.ARG_PTR_TO_MAP_VALUE | PTR_MAYBE_NULL
ARG_PTR_TO_MEM_OR_NULL = A.ARG_PTR_TO_MEM | PTR_MAYBE_NULL
ARG_PTR_TO_CTX_OR_NULL = A.ARG_PTR_TO_CTX | PTR_MAYBE_NULL
ARG_PTR_TO_STACK_OR_NULL = A.ARG_PTR_TO_STACK | PTR_MAYBE_NULL
ARG_PTR_TO_BTF_ID_OR_NULL = A.ARG_PTR_TO_BTF_ID | PTR_MAYBE_NULL
ARG_PTR_TO_UNINIT_MEM = A.ARG_PTR_TO_MEM | MEM_WRITE | MEM_UNINIT
ARG_PTR_TO_FIXED_SIZE_MEM = A.ARG_PTR_TO_MEM | MEM_FIXED_SIZE
RET_PTR_TO_MAP_VALUE_OR_NULL = R.RET_PTR_TO_MAP_VALUE | PTR_MAYBE_NULL
RET_PTR_TO_MEM_OR_NULL = R.RET_PTR_TO_MEM | PTR_MAYBE_NULL
RET_PTR_TO_RINGBUF_MEM_OR_NULL = R.RET_PTR_TO_MEM | MEM_RINGBUF | PTR_MAYBE_NULL
RET_PTR_TO_BTF_ID_OR_NULL = R.RET_PTR_TO_BTF_ID | PTR_MAYBE_NULL
RET_PTR_TO_DYNPTR_MEM_OR_NULL = R.RET_PTR_TO_MEM | PTR_MAYBE_NULL


def base_type(t: int) -> int:
    """The base type of an argument or return type (flags stripped)."""
    return t & _BASE_MASK


def _type_name(t: int, enum: type[IntEnum]) -> str:
    parts = [enum(base_type(t)).name]
    parts += [f.name for f in TypeFlag if t & f and f.name]
    return "|".join(parts)


def arg_type_name(t: int) -> str:
    """``"ARG_PTR_TO_MEM|MEM_RDONLY"`` for an argument type."""
    return _type_name(t, ArgType)


def ret_type_name(t: int) -> str:
    return _type_name(t, RetType)


@dataclass(frozen=True)
class Proto:
    """struct bpf_func_proto: what the verifier checks a call against.

    ``arg_size`` gives the byte size of MEM_FIXED_SIZE arguments (index -> size);
    ``btf`` names the kernel type of BTF-id arguments/returns, for messages.
    """

    ret: int = R.RET_INTEGER
    args: tuple[int, ...] = ()
    gpl_only: bool = False
    might_sleep: bool = False
    arg_size: tuple[tuple[int, int], ...] = ()
    btf: str = ""

    def arg(self, i: int) -> int:
        """The type of argument ``i`` (0-based), ARG_DONTCARE past the last."""
        return self.args[i] if i < len(self.args) else A.ARG_DONTCARE

    @property
    def nargs(self) -> int:
        return len(self.args)

    def describe(self) -> str:
        args = ", ".join(arg_type_name(a) for a in self.args) or "void"
        return f"{ret_type_name(self.ret)} ({args})"


HelperFn = Callable[..., int]


@dataclass(frozen=True)
class Helper:
    """One helper: kernel id and name, prototype, implementation."""

    id: int
    name: str
    proto: Proto
    fn: HelperFn = field(compare=False, repr=False)
    implemented: bool = True
    #: why an unimplemented helper is refused (empty when implemented)
    reason: str = ""

    @property
    def kernel_name(self) -> str:
        return f"bpf_{self.name}"


# --- shared pieces ---------------------------------------------------------------------------


def _neg(err: int) -> int:
    return (-err) & M64


def _s32(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v - (1 << 32) if v >> 31 else v


def _map(env: Any, addr: int) -> Any:
    return env.mem.object_at(addr)


def _skb(env: Any, what: str) -> Any:
    skb = env.ctx
    if skb is None or not hasattr(skb, "load_abs"):
        raise VmError(f"bpf_{what} needs a socket buffer context")
    return skb


def _errno_of(exc: MapError) -> int:
    return exc.errno or E.EINVAL


def _value_addr(env: Any, m: Any, off: int | None) -> int:
    if off is None:
        return 0
    return env.mem.region_for(m.storage, name=f"map {getattr(m, 'name', '')}".strip()).base + off


def _select_cpu(m: Any, cpu: int) -> None:
    if getattr(m, "percpu", False):
        m.cpu = cpu % max(getattr(m, "ncpus", 1), 1)


def _not_supported(hid: int, name: str, reason: str = "") -> HelperFn:
    why = reason or "it needs kernel objects pybpf does not model in user space"

    def fn(env: Any, *_a: int) -> int:
        raise NotSupportedError(f"helper bpf_{name}#{hid} is not modelled: {why}")

    return fn


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
    timed = _timers.element_of(m, key) if _timers.has_timers(m) else None
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
    _timers.free_fields(m, timed)
    return 0


def _percpu_update(m: Any, key: bytes, value: bytes, flags: int) -> None:
    """A program updates only its own cpu's copy; a new element's other copies are zero."""
    from ..maps.base import round_up  # noqa: PLC0415

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
    timed = _timers.element_of(m, key) if _timers.has_timers(m) else None
    try:
        m._delete(key)
    except MapError as exc:
        return _neg(_errno_of(exc))
    _timers.free_fields(m, timed)
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
    from ..vm.interp import TailCall  # noqa: PLC0415 - interp imports this module's users

    m = _map(env, r2)
    index = r3 & 0xFFFF_FFFF
    if index >= m.max_entries:
        raise TailCall(None)
    raise TailCall(m.get_prog(index))


# --- time, cpu, randomness ---------------------------------------------------------------------

_CLOCK_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
_CLOCK_COARSE = getattr(time, "CLOCK_MONOTONIC_COARSE", time.CLOCK_MONOTONIC)
_CLOCK_TAI = getattr(time, "CLOCK_TAI", time.CLOCK_REALTIME)
#: jiffies per second assumed for bpf_jiffies64 (CONFIG_HZ is not visible from user space)
HZ = 1000
_rng = random.Random()


def seed_prandom(seed: int) -> None:
    """Make bpf_get_prandom_u32 reproducible (tests)."""
    _rng.seed(seed)


def ktime_get_ns(env: Any, *_: int) -> int:
    return time.monotonic_ns()


def ktime_get_boot_ns(env: Any, *_: int) -> int:
    return time.clock_gettime_ns(_CLOCK_BOOTTIME)


def ktime_get_coarse_ns(env: Any, *_: int) -> int:
    return time.clock_gettime_ns(_CLOCK_COARSE)


def ktime_get_tai_ns(env: Any, *_: int) -> int:
    return time.clock_gettime_ns(_CLOCK_TAI)


def jiffies64(env: Any, *_: int) -> int:
    return time.monotonic_ns() * HZ // 1_000_000_000


def get_prandom_u32(env: Any, *_: int) -> int:
    return _rng.getrandbits(32)


def get_smp_processor_id(env: Any, *_: int) -> int:
    return env.cpu & 0xFFFF_FFFF


def get_numa_node_id(env: Any, *_: int) -> int:
    return 0


# --- the current task: pybpf.helpers.tasks (get_current_pid_tgid, uid_gid, comm, cgroup ids ...) ------

# --- packet access ---------------------------------------------------------------------------------


def skb_load_bytes(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_skb_load_bytes(skb, offset, to, len): skb_header_pointer over head and frags."""
    skb = _skb(env, "skb_load_bytes")
    offset, n = r2 & 0xFFFF_FFFF, r4 & 0xFFFF_FFFF
    data = skb.copy_bits(offset, n) if offset <= 0x7FFF_FFFF else None
    if data is None:
        env.mem.write(r3, bytes(n))
        return _neg(E.EFAULT)
    env.mem.write(r3, data)
    return 0


def skb_load_bytes_relative(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """Like skb_load_bytes but from the MAC or network header, linear part only."""
    skb = _skb(env, "skb_load_bytes_relative")
    offset, n, start_header = r2 & 0xFFFF_FFFF, r4 & 0xFFFF_FFFF, r5 & 0xFFFF_FFFF
    data = None
    if offset <= 0xFFFF:
        if start_header == uapi.BPF_HDR_START_MAC:
            start = skb.mac_off if skb.mac_header_was_set else None
        elif start_header == uapi.BPF_HDR_START_NET:
            start = skb.network_off
        else:
            start = None
        if start is not None:
            data = skb.linear_bytes(start + offset, n)
    if data is None:
        env.mem.write(r3, bytes(n))
        return _neg(E.EFAULT)
    env.mem.write(r3, data)
    return 0


def get_socket_cookie(env: Any, r1: int, *_: int) -> int:
    sk = getattr(_skb(env, "get_socket_cookie"), "sk", None)
    return sk.cookie if sk is not None else 0


def get_socket_uid(env: Any, r1: int, *_: int) -> int:
    from ..net.skb import OVERFLOWUID  # noqa: PLC0415

    sk = getattr(_skb(env, "get_socket_uid"), "sk", None)
    if sk is None or not sk.full:
        return OVERFLOWUID
    return sk.uid


def get_netns_cookie(env: Any, r1: int, *_: int) -> int:
    skb = env.ctx
    sk = getattr(skb, "sk", None)
    return sk.netns_cookie if sk is not None else 1


# --- output ---------------------------------------------------------------------------------------


def ringbuf_output(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    m = _map(env, r1)
    return m.output(env.mem.read(r2, r3 & 0xFFFF_FFFF), r4) & M64


def ringbuf_reserve(env: Any, r1: int, r2: int, r3: int, *_: int) -> int:
    """A pointer into the ring's storage region where the program writes its record, or 0."""
    m = _map(env, r1)
    if r3:
        return 0
    off = m.reserve(r2 & 0xFFFF_FFFF)
    if off is None:
        return 0
    region = env.mem.region_for(m.storage, name=f"ringbuf {m.name}".strip())
    owners = env.mem.__dict__.setdefault("_ringbuf_owner", {})
    owners[region.base] = m
    return region.base + off


def _ringbuf_commit(op: str) -> HelperFn:
    def fn(env: Any, r1: int, r2: int, *_: int) -> int:
        region = env.mem.region_at(r1)
        m = env.mem.__dict__.get("_ringbuf_owner", {}).get(region.base) if region else None
        if m is None:
            raise VmError(f"bpf_ringbuf_{op}: {r1:#x} is not a reserved ring buffer record")
        try:
            getattr(m, op)(r1 - region.base, r2)
        except MapError as exc:
            raise VmError(f"bpf_ringbuf_{op}: {exc}") from exc
        return 0

    return fn


def ringbuf_query(env: Any, r1: int, r2: int, *_: int) -> int:
    return _map(env, r1).query(r2) & M64


def perf_event_output(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_event_output: data (and, with BPF_F_CTXLEN_MASK, packet bytes) to a perf ring."""
    skb = env.ctx
    flags = r3
    if flags & ~(uapi.BPF_F_CTXLEN_MASK | uapi.BPF_F_INDEX_MASK):
        return _neg(E.EINVAL)
    ctx_len = (flags & uapi.BPF_F_CTXLEN_MASK) >> 32
    if skb is not None and ctx_len > skb.len:
        return _neg(E.EFAULT)
    m = _map(env, r2)
    data = env.mem.read(r4, r5 & 0xFFFF_FFFF)
    if ctx_len and skb is not None:
        data += skb.copy_bits(0, ctx_len) or b""
    index = flags & uapi.BPF_F_INDEX_MASK
    if index == uapi.BPF_F_CURRENT_CPU:
        index = env.cpu
    out = getattr(m, "perf_output", None)
    if out is None:
        return _neg(E.ENOENT)  # no perf event open on that slot
    try:
        out(index, data)
    except MapError as exc:
        return _neg(_errno_of(exc))
    return 0


# --- strings: bpf_strtol / bpf_strtoul / bpf_strncmp live in pybpf.helpers.kstrtox -------------------------

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


# --- the table ---------------------------------------------------------------------------------------

RO_MEM = A.ARG_PTR_TO_MEM | MEM_RDONLY
RO_MEM_OR_NULL = A.ARG_PTR_TO_MEM | PTR_MAYBE_NULL | MEM_RDONLY
MAP = A.ARG_CONST_MAP_PTR
KEY = A.ARG_PTR_TO_MAP_KEY
ANY = A.ARG_ANYTHING
CTX = A.ARG_PTR_TO_CTX
SIZE = A.ARG_CONST_SIZE
SIZE0 = A.ARG_CONST_SIZE_OR_ZERO
UNINIT = ARG_PTR_TO_UNINIT_MEM
SOCKC = A.ARG_PTR_TO_BTF_ID_SOCK_COMMON
INT = R.RET_INTEGER
VOID = R.RET_VOID
DYN = A.ARG_PTR_TO_DYNPTR
BTF = A.ARG_PTR_TO_BTF_ID
FUNC = A.ARG_PTR_TO_FUNC
TIMER = A.ARG_PTR_TO_TIMER
RB_REC = A.ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE
LONG_OUT = ARG_PTR_TO_FIXED_SIZE_MEM | MEM_UNINIT | MEM_WRITE | MEM_ALIGNED
RET_BTF_OR_NULL = RET_PTR_TO_BTF_ID_OR_NULL

# fmt: off
_TABLE: list[tuple[str, Proto, HelperFn | None]] = [
    ("map_lookup_elem", Proto(RET_PTR_TO_MAP_VALUE_OR_NULL, (MAP, KEY)), map_lookup_elem),
    ("map_update_elem", Proto(INT, (MAP, KEY, A.ARG_PTR_TO_MAP_VALUE, ANY)), map_update_elem),
    ("map_delete_elem", Proto(INT, (MAP, KEY)), map_delete_elem),
    ("ktime_get_ns", Proto(INT), ktime_get_ns),
    ("trace_printk", Proto(INT, (RO_MEM, SIZE), gpl_only=True), _trace.trace_printk),
    ("get_prandom_u32", Proto(INT), get_prandom_u32),
    ("get_smp_processor_id", Proto(INT), get_smp_processor_id),
    ("tail_call", Proto(VOID, (CTX, MAP, ANY)), tail_call),
    ("get_current_pid_tgid", Proto(INT), get_current_pid_tgid),
    ("get_current_uid_gid", Proto(INT), get_current_uid_gid),
    ("get_current_comm", Proto(INT, (UNINIT, SIZE)), get_current_comm),
    ("get_cgroup_classid", Proto(INT), get_cgroup_classid),
    ("perf_event_read", Proto(INT, (MAP, ANY), gpl_only=True), perf_event_read),
    ("perf_event_output", Proto(INT, (CTX, MAP, ANY, RO_MEM, SIZE0), gpl_only=True),
     perf_event_output),
    ("skb_load_bytes", Proto(INT, (CTX, ANY, UNINIT, SIZE)), skb_load_bytes),
    ("get_current_task", Proto(INT, gpl_only=True), _task.get_current_task),
    ("current_task_under_cgroup", Proto(INT, (MAP, ANY)), None),
    ("get_numa_node_id", Proto(INT), get_numa_node_id),
    ("get_socket_cookie", Proto(INT, (CTX,)), get_socket_cookie),
    ("get_socket_uid", Proto(INT, (CTX,)), get_socket_uid),
    ("perf_event_read_value", Proto(INT, (MAP, ANY, UNINIT, SIZE), gpl_only=True),
     perf_event_read_value),
    ("skb_load_bytes_relative", Proto(INT, (CTX, ANY, UNINIT, SIZE, ANY)),
     skb_load_bytes_relative),
    ("get_current_cgroup_id", Proto(INT), get_current_cgroup_id),
    ("map_push_elem", Proto(INT, (MAP, A.ARG_PTR_TO_MAP_VALUE, ANY)), _queue_op("push")),
    ("map_pop_elem", Proto(INT, (MAP, A.ARG_PTR_TO_MAP_VALUE | MEM_UNINIT | MEM_WRITE)),
     _queue_op("pop")),
    ("map_peek_elem", Proto(INT, (MAP, A.ARG_PTR_TO_MAP_VALUE | MEM_UNINIT | MEM_WRITE)),
     _queue_op("peek")),
    ("spin_lock", Proto(VOID, (A.ARG_PTR_TO_SPIN_LOCK,)), spin_lock),
    ("spin_unlock", Proto(VOID, (A.ARG_PTR_TO_SPIN_LOCK,)), spin_lock),
    ("strtol", Proto(INT, (RO_MEM, SIZE, ANY, LONG_OUT), arg_size=((3, 8),)), strtol),
    ("strtoul", Proto(INT, (RO_MEM, SIZE, ANY, LONG_OUT), arg_size=((3, 8),)), strtoul),
    ("send_signal", Proto(INT, (ANY,)), _task.send_signal),
    ("probe_read_user", Proto(INT, (UNINIT, SIZE0, ANY), gpl_only=True), _probe_read(False)),
    ("probe_read_kernel", Proto(INT, (UNINIT, SIZE0, ANY), gpl_only=True), _probe_read(False)),
    ("probe_read_user_str", Proto(INT, (UNINIT, SIZE0, ANY), gpl_only=True), _probe_read(True)),
    ("probe_read_kernel_str", Proto(INT, (UNINIT, SIZE0, ANY), gpl_only=True),
     _probe_read(True)),
    ("send_signal_thread", Proto(INT, (ANY,)), _task.send_signal_thread),
    ("jiffies64", Proto(INT), jiffies64),
    ("get_ns_current_pid_tgid", Proto(INT, (ANY, ANY, UNINIT, SIZE)), get_ns_current_pid_tgid),
    ("get_netns_cookie", Proto(INT, (ARG_PTR_TO_CTX_OR_NULL,)), get_netns_cookie),
    ("get_current_ancestor_cgroup_id", Proto(INT, (ANY,)), get_current_ancestor_cgroup_id),
    ("ktime_get_boot_ns", Proto(INT), ktime_get_boot_ns),
    ("ringbuf_output", Proto(INT, (MAP, RO_MEM, SIZE0, ANY)), ringbuf_output),
    ("ringbuf_reserve", Proto(RET_PTR_TO_RINGBUF_MEM_OR_NULL,
                              (MAP, A.ARG_CONST_ALLOC_SIZE_OR_ZERO, ANY)), ringbuf_reserve),
    ("ringbuf_submit", Proto(VOID, (RB_REC, ANY)), _ringbuf_commit("submit")),
    ("ringbuf_discard", Proto(VOID, (RB_REC, ANY)), _ringbuf_commit("discard")),
    ("ringbuf_query", Proto(INT, (MAP, ANY)), ringbuf_query),
    ("skc_to_tcp6_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="tcp6_sock"),
     _task.skc_to("tcp6_sock")),
    ("skc_to_tcp_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="tcp_sock"),
     _task.skc_to("tcp_sock")),
    ("skc_to_tcp_timewait_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="tcp_timewait_sock"),
     _task.skc_to("tcp_timewait_sock")),
    ("skc_to_tcp_request_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="tcp_request_sock"),
     _task.skc_to("tcp_request_sock")),
    ("skc_to_udp6_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="udp6_sock"),
     _task.skc_to("udp6_sock")),
    ("get_task_stack", Proto(INT, (BTF, UNINIT, SIZE0, ANY), btf="task_struct"), None),
    ("copy_from_user", Proto(INT, (UNINIT, SIZE0, ANY), might_sleep=True), None),
    ("snprintf_btf", Proto(INT, (A.ARG_PTR_TO_MEM | MEM_WRITE, SIZE, RO_MEM, SIZE, ANY)), None),
    ("per_cpu_ptr", Proto(R.RET_PTR_TO_MEM_OR_BTF_ID | PTR_MAYBE_NULL | MEM_RDONLY,
                          (A.ARG_PTR_TO_PERCPU_BTF_ID, ANY)), None),
    ("this_cpu_ptr", Proto(R.RET_PTR_TO_MEM_OR_BTF_ID | MEM_RDONLY,
                           (A.ARG_PTR_TO_PERCPU_BTF_ID,)), None),
    ("task_storage_get", Proto(RET_PTR_TO_MAP_VALUE_OR_NULL,
                               (MAP, ARG_PTR_TO_BTF_ID_OR_NULL, ARG_PTR_TO_MAP_VALUE_OR_NULL, ANY),
                               btf="task_struct"), None),
    ("task_storage_delete", Proto(INT, (MAP, BTF), btf="task_struct"), None),
    ("get_current_task_btf", Proto(R.RET_PTR_TO_BTF_ID | PTR_TRUSTED, gpl_only=True,
                                   btf="task_struct"), _task.get_current_task),
    ("ktime_get_coarse_ns", Proto(INT), ktime_get_coarse_ns),
    ("for_each_map_elem", Proto(INT, (MAP, FUNC, ARG_PTR_TO_STACK_OR_NULL, ANY)),
     _cb.for_each_map_elem),
    ("snprintf", Proto(INT, (ARG_PTR_TO_MEM_OR_NULL | MEM_WRITE, SIZE0, A.ARG_PTR_TO_CONST_STR,
                             RO_MEM_OR_NULL, SIZE0), gpl_only=True), _trace.snprintf),
    ("timer_init", Proto(INT, (TIMER, MAP, ANY), gpl_only=True), _timers.timer_init),
    ("timer_set_callback", Proto(INT, (TIMER, FUNC), gpl_only=True),
     _timers.timer_set_callback),
    ("timer_start", Proto(INT, (TIMER, ANY, ANY), gpl_only=True), _timers.timer_start),
    ("timer_cancel", Proto(INT, (TIMER,), gpl_only=True), _timers.timer_cancel),
    ("task_pt_regs", Proto(R.RET_PTR_TO_BTF_ID, (BTF,), gpl_only=True, btf="task_struct"),
     _task.task_pt_regs),
    ("get_branch_snapshot", Proto(INT, (UNINIT, SIZE0, ANY), gpl_only=True),
     get_branch_snapshot),
    ("trace_vprintk", Proto(INT, (RO_MEM, SIZE, RO_MEM_OR_NULL, SIZE0), gpl_only=True),
     _trace.trace_vprintk),
    ("skc_to_unix_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="unix_sock"),
     _task.skc_to("unix_sock")),
    ("find_vma", Proto(INT, (BTF, ANY, FUNC, ARG_PTR_TO_STACK_OR_NULL, ANY), btf="task_struct"),
     _task.find_vma),
    ("loop", Proto(INT, (ANY, FUNC, ARG_PTR_TO_STACK_OR_NULL, ANY)), _cb.bpf_loop),
    ("strncmp", Proto(INT, (RO_MEM, SIZE, A.ARG_PTR_TO_CONST_STR)), strncmp),
    ("copy_from_user_task", Proto(INT, (UNINIT, SIZE0, ANY, BTF, ANY), gpl_only=True,
                                  might_sleep=True), None),
    ("kptr_xchg", Proto(RET_BTF_OR_NULL | OBJ_RELEASE,
                        (A.ARG_KPTR_XCHG_DEST, ARG_PTR_TO_BTF_ID_OR_NULL | OBJ_RELEASE)),
     _task.kptr_xchg),
    ("map_lookup_percpu_elem", Proto(RET_PTR_TO_MAP_VALUE_OR_NULL, (MAP, KEY, ANY)),
     map_lookup_percpu_elem),
    ("skc_to_mptcp_sock", Proto(RET_BTF_OR_NULL, (SOCKC,), btf="mptcp_sock"),
     _task.skc_to("mptcp_sock")),
    ("dynptr_from_mem", Proto(INT, (UNINIT, SIZE0, ANY, DYN | DYNPTR_TYPE_LOCAL | MEM_UNINIT)),
     _dyn.dynptr_from_mem),
    ("ringbuf_reserve_dynptr", Proto(INT, (MAP, ANY, ANY, DYN | DYNPTR_TYPE_RINGBUF
                                           | MEM_UNINIT)), _dyn.ringbuf_reserve_dynptr),
    ("ringbuf_submit_dynptr", Proto(VOID, (DYN | DYNPTR_TYPE_RINGBUF | OBJ_RELEASE, ANY)),
     _dyn.ringbuf_submit_dynptr),
    ("ringbuf_discard_dynptr", Proto(VOID, (DYN | DYNPTR_TYPE_RINGBUF | OBJ_RELEASE, ANY)),
     _dyn.ringbuf_discard_dynptr),
    ("dynptr_read", Proto(INT, (UNINIT, SIZE0, DYN | MEM_RDONLY, ANY, ANY)),
     _dyn.dynptr_read),
    ("dynptr_write", Proto(INT, (DYN | MEM_RDONLY, ANY, RO_MEM, SIZE0, ANY)),
     _dyn.dynptr_write),
    ("dynptr_data", Proto(RET_PTR_TO_DYNPTR_MEM_OR_NULL,
                          (DYN | MEM_RDONLY, ANY, A.ARG_CONST_ALLOC_SIZE_OR_ZERO)),
     _dyn.dynptr_data),
    ("ktime_get_tai_ns", Proto(INT), ktime_get_tai_ns),
    ("user_ringbuf_drain", Proto(INT, (MAP, FUNC, ARG_PTR_TO_STACK_OR_NULL, ANY)), None),
    ("cgrp_storage_get", Proto(RET_PTR_TO_MAP_VALUE_OR_NULL,
                               (MAP, ARG_PTR_TO_BTF_ID_OR_NULL, ARG_PTR_TO_MAP_VALUE_OR_NULL, ANY),
                               btf="cgroup"), None),
    ("cgrp_storage_delete", Proto(INT, (MAP, BTF), btf="cgroup"), None),
]
# fmt: on


_SLEEPS = (
    "it might sleep (might_sleep): the kernel's verifier refuses it in a non-sleepable "
    "program, and socket filters are never sleepable"
)
#: why each helper pybpf does not implement is refused
REFUSED: dict[str, str] = {
    "copy_from_user": _SLEEPS,
    "copy_from_user_task": _SLEEPS,
    "current_task_under_cgroup": (
        "it reads a BPF_MAP_TYPE_CGROUP_ARRAY of cgroup fds, a map type pybpf does not model"
    ),
    "task_storage_get": "it needs a BPF_MAP_TYPE_TASK_STORAGE map, which pybpf does not model",
    "task_storage_delete": "it needs a BPF_MAP_TYPE_TASK_STORAGE map, which pybpf does not model",
    "cgrp_storage_get": "it needs a BPF_MAP_TYPE_CGRP_STORAGE map, which pybpf does not model",
    "cgrp_storage_delete": "it needs a BPF_MAP_TYPE_CGRP_STORAGE map, which pybpf does not model",
    "user_ringbuf_drain": (
        "it needs a BPF_MAP_TYPE_USER_RINGBUF map (user space as producer), which pybpf "
        "does not model"
    ),
    "per_cpu_ptr": (
        "its argument is a per-cpu kernel variable (a ksym loaded by BTF id), which the "
        "interpreter cannot load"
    ),
    "this_cpu_ptr": (
        "its argument is a per-cpu kernel variable (a ksym loaded by BTF id), which the "
        "interpreter cannot load"
    ),
    "get_task_stack": (
        "it writes the task's call chain, kernel or user instruction addresses pybpf cannot know"
    ),
    "snprintf_btf": (
        "it prints a kernel object in the kernel's BTF show format from vmlinux type ids, "
        "which pybpf does not reproduce"
    ),
}


def _build() -> dict[int, Helper]:
    table: dict[int, Helper] = {}
    for name, proto, fn in _TABLE:
        hid = uapi.FUNC_IDS[name]
        reason = "" if fn is not None else REFUSED.get(name, "")
        impl = fn if fn is not None else _not_supported(hid, name, reason)
        table[hid] = Helper(hid, name, proto, impl, fn is not None, reason)
    return table


#: every helper pybpf knows, by kernel id
HELPERS: dict[int, Helper] = _build()
_BY_NAME = {h.name: h for h in HELPERS.values()}


def helper_by_name(name: str) -> Helper:
    """The helper called ``name`` (with or without the ``bpf_`` prefix); KeyError if unknown."""
    return _BY_NAME[name[4:] if name.startswith("bpf_") else name]


def helpers_for(prog_type: int) -> dict[int, Helper]:
    """The helpers a program of ``prog_type`` may call (what the interpreter is given)."""
    from ..progtypes import allowed_helpers  # noqa: PLC0415

    allowed = allowed_helpers(prog_type)
    return {hid: h for hid, h in HELPERS.items() if hid in allowed}
