"""A model of a user address space (struct mm_struct) with 4 KiB pages.

Pages can be mapped, unmapped, write-protected and evicted (mapped but not
resident, as after swap-out).  The uaccess primitives behave like the
kernel's (include/linux/uaccess.h, arch/x86/lib/usercopy): a copy stops at the
first byte it cannot touch and returns how many bytes it did *not* copy.  With
``nofault=True`` (pagefault_disable(), the "atomic" copies) a page that is
mapped but not resident stops the copy instead of being faulted in.

Permissions follow x86: any of PROT_READ, PROT_WRITE or PROT_EXEC makes a page
readable; only PROT_WRITE makes it writable.
"""

from __future__ import annotations

import contextlib
import errno
import mmap as _mmap
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import IovError
from .page import PAGE_SHIFT, PAGE_SIZE, Page, alloc_page

PROT_NONE = 0
PROT_READ = _mmap.PROT_READ
PROT_WRITE = _mmap.PROT_WRITE
PROT_EXEC = getattr(_mmap, "PROT_EXEC", 4)

#: x86-64 with 4-level paging: the highest user address + 1 (arch/x86/include/asm/page_64_types.h)
TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE

_MMAP_BASE = 0x7F0000000000


@dataclass
class UserPage:
    """A page table entry: the frame, its protection and whether it is resident."""

    page: Page
    prot: int
    resident: bool = True

    @property
    def readable(self) -> bool:
        return bool(self.prot & (PROT_READ | PROT_WRITE | PROT_EXEC))

    @property
    def writable(self) -> bool:
        return bool(self.prot & PROT_WRITE)


def access_ok(addr: int, size: int) -> bool:
    """The range lies wholly below TASK_SIZE_MAX without wrapping (arch/x86 uaccess_64.h)."""
    if addr < 0 or size < 0:
        return False
    return addr + size <= TASK_SIZE_MAX


class UserMemory:
    """An address space: a page table from virtual page number to UserPage.

    ``faults`` counts pages faulted in by ordinary (non-atomic) accesses.
    """

    def __init__(self) -> None:
        self.pages: dict[int, UserPage] = {}
        self._next = _MMAP_BASE
        self.faults = 0

    # -- mapping --------------------------------------------------------------
    def mmap(
        self,
        length: int,
        prot: int = PROT_READ | PROT_WRITE,
        *,
        addr: int | None = None,
        populate: bool = True,
    ) -> int:
        """Map ``length`` bytes (rounded up to pages) of zeroed anonymous memory.

        With ``addr`` the mapping is placed there (MAP_FIXED, replacing what was
        mapped); otherwise below the previous mapping, leaving a guard page.
        ``populate=False`` leaves the pages non-resident until first touched.
        """
        if length <= 0:
            raise IovError(f"mmap of {length} bytes", errno=errno.EINVAL)
        npages = (length + PAGE_SIZE - 1) >> PAGE_SHIFT
        if addr is None:
            self._next -= (npages + 1) * PAGE_SIZE
            addr = self._next
        if addr % PAGE_SIZE or not access_ok(addr, npages * PAGE_SIZE):
            raise IovError(f"mmap at bad address {addr:#x}", errno=errno.EINVAL)
        for k in range(npages):
            self.pages[(addr >> PAGE_SHIFT) + k] = UserPage(alloc_page(), prot, populate)
        return addr

    def _range(self, addr: int, length: int) -> range:
        if addr % PAGE_SIZE or length < 0:
            raise IovError(f"unaligned range {addr:#x}+{length:#x}", errno=errno.EINVAL)
        first = addr >> PAGE_SHIFT
        return range(first, first + ((length + PAGE_SIZE - 1) >> PAGE_SHIFT))

    def munmap(self, addr: int, length: int) -> None:
        for vpn in self._range(addr, length):
            self.pages.pop(vpn, None)

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        vpns = self._range(addr, length)
        if any(v not in self.pages for v in vpns):
            raise IovError(f"mprotect of unmapped range at {addr:#x}", errno=errno.ENOMEM)
        for vpn in vpns:
            self.pages[vpn].prot = prot

    def evict(self, addr: int, length: int) -> None:
        """Make mapped pages non-resident (their contents survive, as in swap)."""
        for vpn in self._range(addr, length):
            if vpn in self.pages:
                self.pages[vpn].resident = False

    def is_resident(self, addr: int) -> bool:
        pte = self.pages.get(addr >> PAGE_SHIFT)
        return bool(pte and pte.resident)

    # -- debugger access (ignores protection, like /proc/pid/mem) ---------------
    def peek(self, addr: int, n: int) -> bytes:
        out = bytearray()
        for chunk, pte in self._walk(addr, n):
            if pte is None:
                raise IovError(f"peek of unmapped address {addr + len(out):#x}", errno=errno.EFAULT)
            out += chunk
        return bytes(out)

    def poke(self, addr: int, data: bytes) -> None:
        done = 0
        for chunk, pte in self._walk(addr, len(data)):
            if pte is None:
                raise IovError(f"poke of unmapped address {addr + done:#x}", errno=errno.EFAULT)
            chunk[:] = data[done : done + len(chunk)]
            done += len(chunk)

    def _walk(self, addr: int, n: int) -> Iterator[tuple[memoryview, UserPage | None]]:
        end = addr + n
        while addr < end:
            off = addr & (PAGE_SIZE - 1)
            part = min(end - addr, PAGE_SIZE - off)
            pte = self.pages.get(addr >> PAGE_SHIFT)
            yield (pte.page.data[off : off + part] if pte else memoryview(b"")), pte
            addr += part

    # -- faults --------------------------------------------------------------
    def _pte(self, addr: int, write: bool, nofault: bool) -> UserPage | None:
        """The entry for a permitted access at ``addr``, faulting it in; None = -EFAULT."""
        pte = self.pages.get(addr >> PAGE_SHIFT)
        if pte is None or not (pte.writable if write else pte.readable):
            return None
        if not pte.resident:
            if nofault:
                return None
            pte.resident = True
            self.faults += 1
        return pte

    def _copy(self, uaddr: int, n: int, write: bool, nofault: bool, fn) -> int:  # noqa: ANN001 - fn(view, done) on each page piece
        done = 0
        while done < n:
            addr = uaddr + done
            off = addr & (PAGE_SIZE - 1)
            part = min(n - done, PAGE_SIZE - off)
            pte = self._pte(addr, write, nofault)
            if pte is None:
                break
            fn(pte.page.data[off : off + part], done)
            done += part
        return n - done

    # -- uaccess ---------------------------------------------------------------
    def raw_copy_to_user(self, uaddr: int, src, n: int, *, nofault: bool = False) -> int:
        """Copy ``n`` bytes of ``src`` to user ``uaddr``; returns bytes NOT copied."""
        src = memoryview(src).cast("B")

        def put(view: memoryview, done: int) -> None:
            view[:] = src[done : done + len(view)]

        return self._copy(uaddr, n, True, nofault, put)

    def raw_copy_from_user(self, dst, uaddr: int, n: int, *, nofault: bool = False) -> int:
        """Copy ``n`` bytes from user ``uaddr`` into ``dst``; returns bytes NOT copied."""
        dst = memoryview(dst).cast("B")

        def get(view: memoryview, done: int) -> None:
            dst[done : done + len(view)] = view

        return self._copy(uaddr, n, False, nofault, get)

    def copy_to_user(self, uaddr: int, src, n: int | None = None) -> int:
        """copy_to_user(): access_ok, then copy up to the first fault."""
        if n is None:
            n = len(memoryview(src).cast("B"))
        if not access_ok(uaddr, n):
            return n
        return self.raw_copy_to_user(uaddr, src, n)

    def copy_from_user(self, dst, uaddr: int, n: int | None = None) -> int:
        """copy_from_user(): like raw_copy_from_user, but zero-fills what it could not copy."""
        dst = memoryview(dst).cast("B")
        if n is None:
            n = len(dst)
        left = self.raw_copy_from_user(dst, uaddr, n) if access_ok(uaddr, n) else n
        if left:
            dst[n - left : n] = bytes(left)
        return left

    def clear_user(self, uaddr: int, n: int) -> int:
        """Zero ``n`` user bytes; returns bytes NOT cleared."""
        if not access_ok(uaddr, n):
            return n

        def zero(view: memoryview, done: int) -> None:
            view[:] = bytes(len(view))

        return self._copy(uaddr, n, True, False, zero)

    def fault_in_readable(self, uaddr: int, n: int) -> int:
        """Fault in pages for reading; returns bytes NOT faulted in (mm/gup.c)."""
        return self._copy(uaddr, n, False, False, lambda v, d: None)

    def fault_in_writeable(self, uaddr: int, n: int) -> int:
        return self._copy(uaddr, n, True, False, lambda v, d: None)

    def get_user_pages_fast(
        self, start: int, nr_pages: int, write: bool, nofault: bool = False
    ) -> list[Page]:
        """Pin up to ``nr_pages`` pages from page-aligned ``start``; stops at the first failure."""
        out: list[Page] = []
        if not access_ok(start, nr_pages * PAGE_SIZE):
            return out
        for k in range(nr_pages):
            pte = self._pte(start + k * PAGE_SIZE, write, nofault)
            if pte is None:
                break
            out.append(pte.page)
        return out


_current: list[UserMemory] = [UserMemory()]


def current_mm() -> UserMemory:
    """The address space user pointers resolve against (current->mm)."""
    return _current[-1]


@contextlib.contextmanager
def kthread_use_mm(mm: UserMemory) -> Iterator[UserMemory]:
    """Make ``mm`` current for the block, as kthread_use_mm() does for a kernel thread."""
    _current.append(mm)
    try:
        yield mm
    finally:
        _current.pop()
