"""Time, cpu and randomness helpers: ktime_get_*_ns, jiffies64, prandom, cpu and node ids."""

from __future__ import annotations

import random
import time
from typing import Any

# --- time, cpu, randomness ---------------------------------------------------------------------

_CLOCK_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
_CLOCK_COARSE = getattr(time, "CLOCK_MONOTONIC_COARSE", time.CLOCK_MONOTONIC)
_CLOCK_TAI = getattr(time, "CLOCK_TAI", time.CLOCK_REALTIME)
#: jiffies per second assumed for bpf_jiffies64 (CONFIG_HZ is not visible from user space)
HZ = 1000
_rng = random.Random()


def default_rng() -> random.Random:
    """The generator of programs made outside any backend."""
    return _rng


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
    """From the running program's backend's generator (the default one outside a backend)."""
    rng = getattr(getattr(getattr(env, "prog", None), "state", None), "rng", None)
    return (rng if isinstance(rng, random.Random) else _rng).getrandbits(32)


def get_smp_processor_id(env: Any, *_: int) -> int:
    return env.cpu & 0xFFFF_FFFF


def get_numa_node_id(env: Any, *_: int) -> int:
    return 0


#: exactly the kernel's helpers: a native back end may run its own version (pybpf.vm.api)
for _fn in (ktime_get_ns, get_prandom_u32, get_smp_processor_id):
    setattr(_fn, "native", _fn.__name__)  # noqa: B010 - an attribute of a function
