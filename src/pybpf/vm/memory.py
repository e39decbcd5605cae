"""The address space a program sees in the user-space VM.

The kernel trusts its verifier and lets a program dereference raw pointers.
pybpf checks every access instead, the way uBPF does: memory is a set of
regions (stack, context, packet, map storage, caller memory), each mapped at
its own 64-bit base address, and a pointer in a register is a plain int. A
load, store or helper access that does not fall entirely inside one region
raises MemoryAccessError naming the pc, the address and the size.

Each region owns a 4 GiB slot of the address space and starts
:data:`REGION_BIAS` bytes into it (``base = slot << 32 | REGION_BIAS``), so
finding the region of an address is one dict lookup on ``addr >> 32``; the
slots start far from 0 so that NULL and small integers never resolve. The bias
makes pointers look like the kernel's: their low 32 bits are never 0, so a
pointer tested with a 32-bit ``if w0 != 0`` is true and a pointer used as a
tail-call index is out of range, as in Linux. Objects that programs hold
as pointers (maps loaded by ``BPF_LD_MAP_FD``) get *handles*: addresses in a
slot of their own (also biased) that :meth:`Memory.object_at` turns back into
the object. Reading through a map handle gives what the kernel lets a program
read through a map pointer, the first bytes of ``struct bpf_map`` at the
kernel's offsets, from a read-only region all engines share.

A region may carry a *narrow-load table* (``narrow``): for the context
struct, the kernel rewrites a program's loads into loads of the real object's
members (convert_ctx_accesses in kernel/bpf/verifier.c), so a load narrower
than a member reads part of the member's value rather than the bytes at that
offset. ``narrow[i]`` is the size of the member behind 4-byte word ``i``
(0: plain memory); :meth:`Memory.load` applies the rewrite, and the JIT reads
the same table. A word marked :data:`NARROW_POINTER` (8, the kernel loads an
8-byte pointer there) is a packet pointer (``data``, ``data_end`` of
``__sk_buff`` or ``xdp_md``): the word holds the pointer's low half, and a
4-byte load of it gives the whole pointer, whose high half is the last four
bytes of the table (the packet region's slot) — what the kernel's rewrite of
that load into an 8-byte one gives the program.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from ..errors import MemoryAccessError
from ..progtypes.bpf_map import render_bpf_map
from ..progtypes.fields import NARROW_POINTER

__all__ = [
    "HANDLE_BASE",
    "HANDLE_IMAGES",
    "HANDLE_SLOT",
    "HANDLE_STRIDE",
    "Memory",
    "REGION_BIAS",
    "Region",
    "SLOT_SHIFT",
]

SLOT_SHIFT = 32
#: where a region starts inside its 4 GiB slot (see module doc)
REGION_BIAS = 0x1000_0000
#: the largest region a slot holds
MAX_REGION = (1 << SLOT_SHIFT) - REGION_BIAS
_FIRST_SLOT = 0x10
#: handles live in a slot of their own, below the regions'; its read-only region holds,
#: at each handle, the bytes a program may read through it: a map's struct bpf_map
HANDLE_SLOT = _FIRST_SLOT - 1
HANDLE_BASE = (HANDLE_SLOT << SLOT_SHIFT) | REGION_BIAS
HANDLE_STRIDE = 0x100
_HANDLE_STRIDE = HANDLE_STRIDE
#: handles whose image is readable (the first ones given; later handles fault when read)
HANDLE_IMAGES = 255
#: handles of objects a program may hold but never read (tasks, sockets, vmas ...):
#: the slot below, where no region lives, so every access faults
_OPAQUE_BASE = ((HANDLE_SLOT - 1) << SLOT_SHIFT) | REGION_BIAS
#: slots a 64-bit address holds
_SLOT_LIMIT = 1 << (64 - SLOT_SHIFT)

_UNPACK = {
    1: struct.Struct("<B").unpack_from,
    2: struct.Struct("<H").unpack_from,
    4: struct.Struct("<I").unpack_from,
    8: struct.Struct("<Q").unpack_from,
}
_PACK = {
    1: struct.Struct("<B").pack_into,
    2: struct.Struct("<H").pack_into,
    4: struct.Struct("<I").pack_into,
    8: struct.Struct("<Q").pack_into,
}
_MASK = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: 0xFFFF_FFFF_FFFF_FFFF}


class Region:
    """One contiguous range of program-visible memory.

    ``buf`` is the backing object itself (a bytearray, a writable memoryview,
    or bytes for read-only data), so that a map's storage bytearray and the
    program see the very same bytes.
    """

    __slots__ = ("base", "size", "name", "buf", "writable", "slot", "narrow")

    def __init__(
        self,
        base: int,
        buf: Any,
        name: str,
        writable: bool,
        slot: int,
        narrow: bytes | None = None,
    ) -> None:
        self.base = base
        self.size = len(buf)
        self.name = name
        self.buf = buf
        self.writable = writable
        self.slot = slot
        #: the context's narrow-load table (see module doc), or None for plain memory
        self.narrow = narrow

    @property
    def end(self) -> int:
        return self.base + self.size

    def __contains__(self, addr: int) -> bool:
        return self.base <= addr < self.base + self.size

    def __repr__(self) -> str:
        rw = "rw" if self.writable else "ro"
        return f"<Region {self.name} [{self.base:#x}, {self.end:#x}) {rw}>"

    def describe(self) -> str:
        return f"{self.name} [{self.base:#x}, {self.end:#x})"


class Memory:
    """Regions at distinct bases plus handles for opaque objects (see module doc)."""

    def __init__(self) -> None:
        self._slots: dict[int, Region] = {}
        self._by_buf: dict[int, Region] = {}
        self._next_slot = _FIRST_SLOT
        self._handles: dict[int, Any] = {}
        self._handle_of: dict[int, int] = {}
        #: the engines' stack region in this memory (made on the first run, then reused)
        self.stack: Region | None = None
        #: bumped whenever a region is added or removed (engines cache what they looked up)
        self.generation = 0
        #: bumped whenever a region is removed (a cached region may be gone)
        self.unmapped = 0

    # --- regions ----------------------------------------------------------------------
    def add_region(
        self,
        buf: bytearray | memoryview | bytes,
        *,
        name: str,
        writable: bool = True,
        narrow: bytes | bytearray | None = None,
    ) -> Region:
        """Map ``buf`` at a fresh base. ``bytes`` (immutable) always maps read-only.

        ``narrow`` is the region's narrow-load table (the context struct's; see
        the module doc): one byte per 4-byte word, the size of the member the
        kernel really loads there, 0 for plain memory.
        """
        if isinstance(buf, memoryview):
            if buf.readonly:
                writable = False
            if buf.format != "B" or buf.ndim != 1:
                buf = buf.cast("B")
        elif isinstance(buf, bytes):
            writable = False
        elif not isinstance(buf, bytearray):
            raise TypeError(
                f"region {name!r}: expected bytes, bytearray or memoryview, "
                f"not {type(buf).__name__}"
            )
        if len(buf) > MAX_REGION:
            raise ValueError(f"region {name!r} is larger than {MAX_REGION} bytes")
        # slots are never reused, so a stale pointer into a removed region keeps faulting
        slot = self._next_slot
        if slot >= _SLOT_LIMIT:
            raise ValueError("address space exhausted (too many regions mapped)")
        self._next_slot += 1
        table = bytes(narrow) if narrow is not None else None
        region = Region((slot << SLOT_SHIFT) | REGION_BIAS, buf, name, writable, slot, table)
        self._slots[slot] = region
        self._by_buf[id(buf)] = region
        self.generation += 1
        return region

    def remove_region(self, region: Region) -> None:
        if self._slots.get(region.slot) is not region:
            raise ValueError(f"{region!r} is not mapped in this memory")
        del self._slots[region.slot]
        if self._by_buf.get(id(region.buf)) is region:
            del self._by_buf[id(region.buf)]
        self.generation += 1
        self.unmapped += 1

    def region_for(
        self, buf: bytearray | memoryview | bytes, *, name: str | None = None, writable: bool = True
    ) -> Region:
        """The region mapping ``buf``, mapping it on first use (a map's storage, say)."""
        region = self._by_buf.get(id(buf))
        if region is not None and region.buf is buf:
            return region
        return self.add_region(buf, name=name or f"buf@{id(buf):#x}", writable=writable)

    def region_at(self, addr: int) -> Region | None:
        """The region containing ``addr``, or None."""
        region = self._slots.get(addr >> SLOT_SHIFT)
        if region is not None and 0 <= addr - region.base < region.size:
            return region
        return None

    @property
    def regions(self) -> Iterator[Region]:
        return iter(sorted(self._slots.values(), key=lambda r: r.base))

    def slots(self) -> dict[int, Region]:
        """The mapped regions by slot number (``addr >> SLOT_SHIFT``); a copy."""
        return dict(self._slots)

    # --- handles ------------------------------------------------------------------------
    def handle(self, obj: Any) -> int:
        """An address standing for ``obj`` (stable per object), as a map pointer does.

        A program may read through a map's handle what the kernel lets it read
        through a map pointer — the first bytes of ``struct bpf_map``
        (pybpf.progtypes.bpf_map), at the kernel's offsets — and nothing more: the
        bytes live in the handle slot's read-only region, so every engine reads
        them the same way. Other objects' handles (tasks, sockets) fault when read.
        """
        h = self._handle_of.get(id(obj))
        if h is not None and self._handles[h] is obj:
            return h
        n = len(self._handles) + 1
        is_map = all(hasattr(obj, a) for a in ("key_size", "value_size", "max_entries"))
        h = (HANDLE_BASE if is_map else _OPAQUE_BASE) + _HANDLE_STRIDE * n
        self._handles[h] = obj
        self._handle_of[id(obj)] = h
        if is_map and n <= HANDLE_IMAGES:
            self._handle_image(h - HANDLE_BASE, obj)
        return h

    def _handle_image(self, off: int, obj: Any) -> None:
        region = self._slots.get(HANDLE_SLOT)
        if region is None:
            buf = bytearray(_HANDLE_STRIDE * (HANDLE_IMAGES + 1))
            region = Region(HANDLE_BASE, buf, "map pointers (struct bpf_map)", False, HANDLE_SLOT)
            self._slots[HANDLE_SLOT] = region
            self.generation += 1
        image = render_bpf_map(obj, max(int(getattr(obj, "fd", 0) or 0), 0) & 0xFFFF_FFFF)
        region.buf[off : off + len(image)] = image

    @property
    def handle_count(self) -> int:
        """How many handles were given (they are never taken back)."""
        return len(self._handles)

    def objects(self) -> list[tuple[int, Any]]:
        """Every (handle, object) pair, in the order the handles were given."""
        return sorted(self._handles.items())

    def object_at(self, addr: int, pc: int | None = None) -> Any:
        """The object whose handle is ``addr``; MemoryAccessError if there is none."""
        try:
            return self._handles[addr]
        except (KeyError, TypeError):
            raise MemoryAccessError(
                f"{addr:#x} is not a handle of any object (map pointer expected)",
                pc=pc,
                addr=addr if isinstance(addr, int) else 0,
                size=0,
            ) from None

    # --- access -------------------------------------------------------------------------
    def load(self, addr: int, size: int, pc: int | None = None) -> int:
        """A program's little-endian unsigned load of 1, 2, 4 or 8 bytes (the narrow-load
        rewrite applied in a region that has one)."""
        region = self._slots.get(addr >> SLOT_SHIFT)
        if region is not None:
            off = addr - region.base
            if 0 <= off and off + size <= region.size:
                if region.narrow is not None and size <= 4:
                    return narrow_load(region.buf, region.narrow, off, size)
                return _UNPACK[size](region.buf, off)[0]
        raise self.fault("read", addr, size, pc)

    def store(self, addr: int, size: int, value: int, pc: int | None = None) -> None:
        """Little-endian store of the low ``size`` bytes of ``value``."""
        region = self._slots.get(addr >> SLOT_SHIFT)
        if region is not None and region.writable:
            off = addr - region.base
            if 0 <= off and off + size <= region.size:
                _PACK[size](region.buf, off, value & _MASK[size])
                return
        raise self.fault("write", addr, size, pc)

    def read(self, addr: int, n: int, pc: int | None = None) -> bytes:
        return bytes(self.view(addr, n, pc, write=False))

    def write(self, addr: int, data: bytes | bytearray | memoryview, pc: int | None = None) -> None:
        n = len(data)
        self.view(addr, n, pc, write=True)[:] = data

    def view(self, addr: int, n: int, pc: int | None = None, *, write: bool = False) -> memoryview:
        """A memoryview of ``n`` bytes at ``addr`` (checked; writable if the region is)."""
        if n < 0:
            raise MemoryAccessError(
                f"invalid access of negative size {n} at {addr:#x}", pc=pc, addr=addr, size=n
            )
        region = self._slots.get(addr >> SLOT_SHIFT) if addr >= 0 else None
        if region is not None and (region.writable or not write):
            off = addr - region.base
            if 0 <= off and off + n <= region.size:
                mv = memoryview(region.buf)
                return mv[off : off + n] if region.writable else mv.toreadonly()[off : off + n]
        raise self.fault("write" if write else "read", addr, n, pc)

    # --- diagnostics --------------------------------------------------------------------
    def fault(self, kind: str, addr: int, size: int, pc: int | None = None) -> MemoryAccessError:
        """The MemoryAccessError for a bad ``kind`` ("read"/"write") access, explained."""
        what = f"invalid {kind} of {size} byte{'s' if size != 1 else ''} at {addr:#x}"
        region = self._slots.get(addr >> SLOT_SHIFT) if addr >= 0 else None
        if region is not None:
            off = addr - region.base
            if off < 0:
                before = -off
                why = (
                    f"{before} byte{'s' if before != 1 else ''} before the start of "
                    f"{region.describe()}"
                )
            elif kind == "write" and not region.writable and off + size <= region.size:
                why = f"{region.name} is read-only"
            else:
                past = off + size - region.size
                why = (
                    f"{past} byte{'s' if past != 1 else ''} past the end of "
                    f"{region.describe()}, offset {off}"
                )
        elif addr in self._handles or (addr & ~(_HANDLE_STRIDE - 1)) in self._handles:
            obj = self._handles.get(addr & ~(_HANDLE_STRIDE - 1))
            why = f"a handle for {type(obj).__name__}, which cannot be dereferenced"
        else:
            nearest = self._nearest(addr)
            why = "outside every region" + (f"; nearest: {nearest.describe()}" if nearest else "")
        return MemoryAccessError(f"{what} ({why})", pc=pc, addr=addr, size=size)

    def _nearest(self, addr: int) -> Region | None:
        best, dist = None, None
        for r in self._slots.values():
            d = r.base - addr if addr < r.base else max(0, addr - (r.end - 1))
            if dist is None or d < dist:
                best, dist = r, d
        return best

    def __repr__(self) -> str:
        return f"<Memory {len(self._slots)} regions, {len(self._handles)} handles>"


def narrow_load(buf: Any, narrow: bytes, off: int, size: int) -> int:
    """A ``size``-byte load at ``off`` of a region with the narrow-load table ``narrow``.

    The kernel loads the member behind the 4-byte word (``narrow[off // 4]`` bytes,
    its ``target_size``). A load at least that wide returns the member whole,
    wherever in the word it points; a narrower one is shifted by its offset within
    the word and masked (convert_ctx_accesses in kernel/bpf/verifier.c). Words
    without a member (0) read as plain little-endian memory.
    """
    w = off >> 2
    tsize = narrow[w] if w < len(narrow) else 0
    if not tsize:
        return _UNPACK[size](buf, off)[0]
    value: int = _UNPACK[4](buf, off & ~3)[0]
    if tsize == NARROW_POINTER:  # a packet pointer: its high half ends the table
        value |= _UNPACK[4](narrow, len(narrow) - 4)[0] << 32
        tsize = 4
    if size >= tsize:
        return value
    return (value >> ((off & 3) * 8)) & _MASK[size]
