"""BPF_MAP_TYPE_RINGBUF (kernel/bpf/ringbuf.c): a multi-producer, single-consumer byte ring.

Each record starts with the kernel's 8-byte header ``struct bpf_ringbuf_hdr``
(u32 len with BPF_RINGBUF_BUSY_BIT while reserved and BPF_RINGBUF_DISCARD_BIT
when discarded, u32 pg_off) and is padded to 8 bytes.  The kernel maps the
data pages twice so a record crossing the end is contiguous; ``storage`` is
likewise two ring sizes long, and a commit copies the part written past the
end back to the start.  Producer, consumer and pending positions grow without
bound and are masked, exactly as in __bpf_ringbuf_reserve().
"""

from __future__ import annotations

import errno as E
import struct
from collections.abc import Iterator
from typing import Any

from ..uapi import (
    BPF_F_NUMA_NODE,
    BPF_MAP_TYPE_RINGBUF,
    BPF_RB_AVAIL_DATA,
    BPF_RB_CONS_POS,
    BPF_RB_FORCE_WAKEUP,
    BPF_RB_NO_WAKEUP,
    BPF_RB_PROD_POS,
    BPF_RB_RING_SIZE,
)
from .base import PAGE_SIZE, Map, map_err, round_up

BPF_RINGBUF_BUSY_BIT = 1 << 31
BPF_RINGBUF_DISCARD_BIT = 1 << 30
BPF_RINGBUF_HDR_SZ = 8
RINGBUF_MAX_RECORD_SZ = 0xFFFFFFFF // 4
#: pages before the data in struct bpf_ringbuf (header page, consumer page, producer page)
RINGBUF_DATA_PGOFF = 3
ENOTSUPP = 524
_HDR = struct.Struct("<II")


@Map.register
class RingBufMap(Map):
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
        self.mask = self.max_entries - 1
        self._alloc_storage(2 * self.max_entries)
        self.consumer_pos = 0
        self.producer_pos = 0
        self.pending_pos = 0
        self.wakeups = 0

    # -- producer side (the helpers) ------------------------------------------------------

    def _hdr_len(self, pos: int) -> int:
        return _HDR.unpack_from(self.storage, pos & self.mask)[0]

    def reserve(self, size: int, flags: int = 0) -> int | None:
        """bpf_ringbuf_reserve(): offset of the sample in ``storage``; None when there is no
        room, the size is too large, or ``flags`` is not 0 (the helper then returns NULL).
        """
        if flags or size > RINGBUF_MAX_RECORD_SZ or size < 0:
            return None
        length = round_up(size + BPF_RINGBUF_HDR_SZ, 8)
        if length > self.max_entries:
            return None
        pend = self.pending_pos
        while pend < self.producer_pos:
            hl = self._hdr_len(pend)
            if hl & BPF_RINGBUF_BUSY_BIT:
                break
            pend += round_up((hl & ~BPF_RINGBUF_DISCARD_BIT) + BPF_RINGBUF_HDR_SZ, 8)
        self.pending_pos = pend
        new_prod = self.producer_pos + length
        if new_prod - self.consumer_pos > self.mask or new_prod - pend > self.mask:
            return None
        off = self.producer_pos & self.mask
        pg_off = RINGBUF_DATA_PGOFF + off // PAGE_SIZE
        _HDR.pack_into(self.storage, off, size | BPF_RINGBUF_BUSY_BIT, pg_off)
        self.producer_pos = new_prod
        return off + BPF_RINGBUF_HDR_SZ

    def _commit(self, sample_off: int, flags: int, discard: bool) -> None:
        """bpf_ringbuf_commit(): clear BUSY (set DISCARD), fold the wrapped tail back."""
        hoff = sample_off - BPF_RINGBUF_HDR_SZ
        if not 0 <= hoff < self.max_entries or hoff % 8:
            raise map_err(E.EINVAL, f"offset {sample_off} is not a reserved ringbuf sample")
        hl, pg = _HDR.unpack_from(self.storage, hoff)
        if not hl & BPF_RINGBUF_BUSY_BIT:
            raise map_err(E.EINVAL, f"ringbuf sample at {sample_off} is not reserved")
        new_len = hl ^ BPF_RINGBUF_BUSY_BIT
        if discard:
            new_len |= BPF_RINGBUF_DISCARD_BIT
        end = hoff + round_up((new_len & 0x3FFFFFFF) + BPF_RINGBUF_HDR_SZ, 8)
        if end > self.max_entries:
            over = end - self.max_entries
            self.storage[0:over] = self.storage[self.max_entries : self.max_entries + over]
        _HDR.pack_into(self.storage, hoff, new_len, pg)
        cons = self.consumer_pos & self.mask
        if flags & BPF_RB_FORCE_WAKEUP or (cons == hoff and not flags & BPF_RB_NO_WAKEUP):
            self.wakeups += 1

    def submit(self, sample_off: int, flags: int = 0) -> None:
        self._commit(sample_off, flags, False)

    def discard(self, sample_off: int, flags: int = 0) -> None:
        self._commit(sample_off, flags, True)

    def output(self, data: bytes, flags: int = 0) -> int:
        """bpf_ringbuf_output(): 0, -EINVAL for bad flags, -EAGAIN when there is no room."""
        if flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP):
            return -E.EINVAL
        off = self.reserve(len(data))
        if off is None:
            return -E.EAGAIN
        self.storage[off : off + len(data)] = data
        self._commit(off, flags, False)
        return 0

    def query(self, flags: int) -> int:
        """bpf_ringbuf_query()."""
        if flags == BPF_RB_AVAIL_DATA:
            return self.producer_pos - self.consumer_pos
        if flags == BPF_RB_RING_SIZE:
            return self.max_entries
        if flags == BPF_RB_CONS_POS:
            return self.consumer_pos
        if flags == BPF_RB_PROD_POS:
            return self.producer_pos
        return 0

    # -- consumer side (what libbpf's ring_buffer__consume does) -----------------------------

    def records(self) -> Iterator[bytes]:
        """Yield committed records in order, skipping discarded ones; stop at a busy one."""
        while self.consumer_pos < self.producer_pos:
            off = self.consumer_pos & self.mask
            hl = _HDR.unpack_from(self.storage, off)[0]
            if hl & BPF_RINGBUF_BUSY_BIT:
                return
            size = hl & ~BPF_RINGBUF_DISCARD_BIT
            data = bytes(self.storage[off + BPF_RINGBUF_HDR_SZ : off + BPF_RINGBUF_HDR_SZ + size])
            self.consumer_pos += round_up(size + BPF_RINGBUF_HDR_SZ, 8)
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

    def value_offset(self, key: bytes) -> int | None:
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
        self.consumer_pos = int(extra["consumer_pos"])
        self.producer_pos = int(extra["producer_pos"])
        self.pending_pos = int(extra["pending_pos"])
        if records:
            self.storage[:] = records[0][1]
