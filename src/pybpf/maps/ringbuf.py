"""BPF_MAP_TYPE_RINGBUF (kernel/bpf/ringbuf.c): a multi-producer, single-consumer byte ring.

Each record starts with the kernel's 8-byte header ``struct bpf_ringbuf_hdr``
(u32 len with BPF_RINGBUF_BUSY_BIT while reserved and BPF_RINGBUF_DISCARD_BIT
when discarded, u32 pg_off) and is padded to 8 bytes.  The kernel maps the
data pages twice so a record crossing the end is contiguous; ``storage`` is
likewise two ring sizes long, and a commit copies the part written past the
end back to the start.  Producer, consumer and pending positions grow without
bound and are masked, exactly as in __bpf_ringbuf_reserve().

The producer side (reserve, submit, discard, output, query) is C (ringbuf.c),
shared with natively run programs; the consumer side here reads the same
storage and advances ``consumer_pos`` in the positions C keeps, as libbpf's
ring_buffer__consume() does over the kernel's consumer page.
"""

from __future__ import annotations

import errno as E
import struct
from collections.abc import Iterator
from typing import Any

from ..uapi import BPF_F_NUMA_NODE, BPF_MAP_TYPE_RINGBUF
from . import clib
from .base import PAGE_SIZE, Map, map_err, round_up
from .native_map import NativeMap

BPF_RINGBUF_BUSY_BIT = 1 << 31
BPF_RINGBUF_DISCARD_BIT = 1 << 30
BPF_RINGBUF_HDR_SZ = 8
RINGBUF_MAX_RECORD_SZ = 0xFFFFFFFF // 4
#: pages before the data in struct bpf_ringbuf (header page, consumer page, producer page)
RINGBUF_DATA_PGOFF = 3
ENOTSUPP = 524
_HDR = struct.Struct("<II")


@Map.register
class RingBufMap(NativeMap):
    map_types = (BPF_MAP_TYPE_RINGBUF,)

    def check_create(self) -> None:
        # ringbuf_map_alloc()
        if self.flags & ~BPF_F_NUMA_NODE:
            raise map_err(E.EINVAL, f"bad ringbuf map_flags {self.flags:#x}")
        n = self.max_entries
        if self.key_size or self.value_size or n == 0 or n & (n - 1) or n % PAGE_SIZE:
            raise map_err(
                E.EINVAL,
                "ringbuf needs key_size 0, value_size 0 and max_entries a "
                f"power of 2 multiple of {PAGE_SIZE} (got {n})",
            )

    def _init_storage(self) -> None:
        super()._init_storage()
        lib = clib.lib()
        self.mask = self.max_entries - 1
        self._pos = lib.pybpf_ringbuf_pos(self.native).contents
        self._c_reserve = lib.pybpf_ringbuf_reserve
        self._c_submit = lib.pybpf_ringbuf_submit
        self._c_discard = lib.pybpf_ringbuf_discard
        self._c_output = lib.pybpf_ringbuf_output
        self._c_query = lib.pybpf_ringbuf_query

    # -- the positions (the kernel's consumer and producer pages) ---------------------------

    @property
    def consumer_pos(self) -> int:
        """How far the consumer has read; user space advances it (the consumer page)."""
        return int(self._pos.consumer_pos)

    @consumer_pos.setter
    def consumer_pos(self, pos: int) -> None:
        if not isinstance(pos, int) or not 0 <= pos < 1 << 64:
            raise map_err(E.EINVAL, f"consumer position {pos!r} is not a u64")
        self._pos.consumer_pos = pos

    @property
    def producer_pos(self) -> int:
        return int(self._pos.producer_pos)

    @property
    def pending_pos(self) -> int:
        return int(self._pos.pending_pos)

    @property
    def wakeups(self) -> int:
        """How many commits would have woken a waiting consumer."""
        return int(self._pos.wakeups)

    # -- producer side (the helpers) ------------------------------------------------------

    def reserve(self, size: int, flags: int = 0) -> int | None:
        """bpf_ringbuf_reserve(): offset of the sample in ``storage``; None when there is no
        room, the size is too large, or ``flags`` is not 0 (the helper then returns NULL).
        """
        if not isinstance(size, int) or not isinstance(flags, int) or size < 0 or flags:
            return None
        if size >= 1 << 64:
            return None
        p = self._c_reserve(self.native, size, 0)
        return None if p is None else p - self._base

    def _sample_addr(self, sample_off: Any) -> int:
        if (
            not isinstance(sample_off, int)
            or isinstance(sample_off, bool)
            or not BPF_RINGBUF_HDR_SZ <= sample_off < self.max_entries + BPF_RINGBUF_HDR_SZ
        ):
            raise map_err(E.EINVAL, f"offset {sample_off!r} is not a reserved ringbuf sample")
        return self._base + sample_off

    def submit(self, sample_off: int, flags: int = 0) -> None:
        """bpf_ringbuf_submit(): commit a sample from :meth:`reserve`."""
        if self._c_submit(self.native, self._sample_addr(sample_off), self._flags(flags)):
            raise map_err(E.EINVAL, f"ringbuf sample at {sample_off} is not reserved")

    def discard(self, sample_off: int, flags: int = 0) -> None:
        """bpf_ringbuf_discard(): commit a sample from :meth:`reserve` as discarded."""
        if self._c_discard(self.native, self._sample_addr(sample_off), self._flags(flags)):
            raise map_err(E.EINVAL, f"ringbuf sample at {sample_off} is not reserved")

    def output(self, data: bytes, flags: int = 0) -> int:
        """bpf_ringbuf_output(): 0, -EINVAL for bad flags, -EAGAIN when there is no room."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise map_err(E.EINVAL, f"ringbuf output takes bytes, not {type(data).__name__}")
        data = bytes(data)
        return int(self._c_output(self.native, data, len(data), self._flags(flags)))

    def query(self, flags: int) -> int:
        """bpf_ringbuf_query(): available data, ring size, consumer or producer position."""
        return int(self._c_query(self.native, self._flags(flags)))

    # -- consumer side (what libbpf's ring_buffer__consume does) -----------------------------

    def records(self) -> Iterator[bytes]:
        """Yield committed records in order, skipping discarded ones; stop at a busy one."""
        pos = self._pos
        while pos.consumer_pos < pos.producer_pos:
            off = pos.consumer_pos & self.mask
            hl = _HDR.unpack_from(self.storage, off)[0]
            if hl & BPF_RINGBUF_BUSY_BIT:
                return
            size = hl & ~BPF_RINGBUF_DISCARD_BIT
            data = bytes(self.storage[off + BPF_RINGBUF_HDR_SZ : off + BPF_RINGBUF_HDR_SZ + size])
            pos.consumer_pos += round_up(size + BPF_RINGBUF_HDR_SZ, 8)
            if not hl & BPF_RINGBUF_DISCARD_BIT:
                yield data

    def consume(self) -> list[bytes]:
        return list(self.records())

    def __iter__(self) -> Iterator[bytes]:  # type: ignore[override]
        return self.records()

    def __len__(self) -> int:
        return self.producer_pos - self.consumer_pos

    # -- what bpf() says about a ringbuf --------------------------------------------------

    def lookup(self, key: Any = None) -> bytes | None:
        raise map_err(ENOTSUPP, "ringbuf has no elements to look up (ENOTSUPP)")

    def update(self, key: Any, value: Any = None, flags: int = 0) -> None:
        raise map_err(ENOTSUPP, "ringbuf has no elements to update (ENOTSUPP)")

    def delete(self, key: Any = None) -> None:
        raise map_err(ENOTSUPP, "ringbuf has no elements to delete (ENOTSUPP)")

    def next_key(self, key: Any = None) -> bytes | None:
        raise map_err(ENOTSUPP, "ringbuf has no keys (ENOTSUPP)")

    def lookup_and_delete(self, key: Any = None) -> bytes:
        raise map_err(ENOTSUPP, "ringbuf has no elements to look up (ENOTSUPP)")

    def value_offset(self, key: bytes, cpu: int | None = None) -> int | None:
        return None

    def _pin_state(self):
        return (
            {
                "consumer_pos": self.consumer_pos,
                "producer_pos": self.producer_pos,
                "pending_pos": self.pending_pos,
            },
            [(b"", bytes(self.storage))],
        )

    def _unpin_state(self, extra, records):
        try:
            cons, prod, pend = (
                int(extra["consumer_pos"]),
                int(extra["producer_pos"]),
                int(extra["pending_pos"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise map_err(E.EINVAL, f"ringbuf positions missing or bad: {e}") from None
        if records:
            data = records[0][1]
            if len(data) != len(self.storage):
                raise map_err(
                    E.EINVAL, f"ringbuf data is {len(data)} bytes, the ring has {len(self.storage)}"
                )
            self.storage[:] = data
        if not all(
            0 <= p < 1 << 64 for p in (cons, prod, pend)
        ) or clib.lib().pybpf_ringbuf_restore(self.native, cons, prod, pend):
            raise map_err(E.EINVAL, f"ringbuf positions {cons}, {prod}, {pend} do not fit the ring")
