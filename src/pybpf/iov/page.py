"""struct page analogues: PAGE_SIZE frames of real, page-aligned memory.

Pages come from anonymous ``mmap`` chunks, so a page's address is a real
address of this process, page-aligned, and pages allocated together are
physically (here: virtually) contiguous, which lets a bio_vec span several of
them as the kernel's multi-page bvecs do (include/linux/bvec.h).  Kernel
buffers used by ITER_KVEC are ordinary Python buffers: their "kernel virtual
address" is their real address, and ``virt_to_page`` finds (or stands up) the
page that holds it, as mm/ does for the direct map and vmalloc space.
"""

from __future__ import annotations

import ctypes
import mmap
import weakref
from collections.abc import Sequence
from typing import Any

from ..errors import IovError

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1) & 0xFFFFFFFFFFFFFFFF

_CHUNK_PAGES = 64


class _Py_buffer(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.py_object),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_Py_buffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_Py_buffer)]
_release_buffer.restype = None


def buffer_address(buf: Any) -> int:
    """The real address of the first byte of any C-contiguous buffer (read-only too)."""
    view = _Py_buffer()
    if _get_buffer(buf, ctypes.byref(view), 0x8) != 0:  # PyBUF_ND: contiguous
        raise IovError(f"{type(buf).__name__} does not expose a contiguous buffer")
    try:
        return view.buf or 0
    finally:
        _release_buffer(ctypes.byref(view))


class _Chunk:
    """One mmap of contiguous pages; the unit pages are carved from."""

    __slots__ = ("mm", "view", "addr", "npages", "pages", "__weakref__")

    def __init__(self, npages: int):
        self.mm = mmap.mmap(-1, npages * PAGE_SIZE)
        self.view = memoryview(self.mm)
        self.addr = buffer_address(self.view)
        self.npages = npages
        self.pages: list[Page] = []


# pfn -> chunk holding it (weak: a chunk lives while any of its pages or views do)
_chunks_by_pfn: weakref.WeakValueDictionary[int, _Chunk] = weakref.WeakValueDictionary()
# pfn -> page stood up by virt_to_page over memory that no allocator here owns
_foreign: weakref.WeakValueDictionary[int, Page] = weakref.WeakValueDictionary()


class Page:
    """A struct page: one PAGE_SIZE frame with a stable identity.

    ``data`` is a writable memoryview of the frame, ``addr`` its (real,
    page-aligned) address and ``pfn`` its frame number.  ``page + n`` is
    nth_page(): the frame n pages further on, when it is contiguous with this
    one.  Pages are order-0 unless made by ``alloc_pages(order)``, whose head
    page carries the compound order (page_size(head) = PAGE_SIZE << order).

    ``Page()`` allocates a fresh zeroed page, like alloc_page(GFP_KERNEL).
    """

    __slots__ = (
        "_chunk",
        "_index",
        "data",
        "addr",
        "pfn",
        "head",
        "order",
        "_owner",
        "__weakref__",
    )
    _chunk: _Chunk | None
    _index: int
    data: memoryview
    addr: int
    pfn: int
    head: Page
    order: int
    _owner: Any

    def __new__(cls, *args: Any, **kwargs: Any) -> Page:
        if args or kwargs:
            return super().__new__(cls)
        return alloc_pages_bulk(1)[0]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    @classmethod
    def _make(
        cls, chunk: _Chunk | None, index: int, data: memoryview, addr: int, owner: Any = None
    ) -> Page:
        page = super().__new__(cls)
        page._chunk = chunk
        page._index = index
        page.data = data
        page.addr = addr
        page.pfn = addr >> PAGE_SHIFT
        page.head = page
        page.order = 0
        page._owner = owner
        return page

    def __add__(self, n: int) -> Page:
        return pfn_to_page(self.pfn + n)

    def __sub__(self, other: Page) -> int:
        return self.pfn - other.pfn

    def __repr__(self) -> str:
        return f"<Page pfn={self.pfn:#x}>"

    @property
    def compound_head(self) -> Page:
        return self.head

    def span(self, offset: int, length: int) -> memoryview:
        """A view of ``length`` bytes from ``offset`` into this page and the pages after it.

        Multi-page spans need the pages to be contiguous (same chunk), as a
        multi-page bio_vec requires physically contiguous pages.
        """
        if offset < 0 or length < 0:
            raise IovError(f"bad page span offset={offset} length={length}")
        if offset + length <= PAGE_SIZE:
            return self.data[offset : offset + length]
        chunk = self._chunk
        if chunk is None:
            raise IovError(
                f"span of {length} bytes at offset {offset:#x} leaves {self!r}, "
                "which is not part of a contiguous allocation"
            )
        start = self._index * PAGE_SIZE + offset
        if start + length > chunk.npages * PAGE_SIZE:
            raise IovError(
                f"span of {length} bytes at offset {offset:#x} runs past the pages "
                f"contiguous with {self!r}"
            )
        return chunk.view[start : start + length]


def page_size(page: Page) -> int:
    """Size of the (compound) page whose head is ``page``."""
    return PAGE_SIZE << page.head.order


def page_address(page: Page) -> int:
    return page.addr


def _new_chunk(npages: int) -> _Chunk:
    chunk = _Chunk(npages)
    for k in range(npages):
        addr = chunk.addr + k * PAGE_SIZE
        page = Page._make(chunk, k, chunk.view[k * PAGE_SIZE : (k + 1) * PAGE_SIZE], addr)
        chunk.pages.append(page)
        _chunks_by_pfn[page.pfn] = chunk
    return chunk


_pool: list[Page] = []


def alloc_pages_bulk(npages: int) -> list[Page]:
    """Allocate ``npages`` zeroed pages, contiguous and in address order (mm/page_alloc.c).

    Large requests get one chunk of their own, so that a vmap() of the result
    is a single contiguous buffer (the kunit tests rely on that).
    """
    if npages < 0:
        raise IovError(f"cannot allocate {npages} pages")
    if npages >= _CHUNK_PAGES:
        return list(_new_chunk(npages).pages)
    out = []
    for _ in range(npages):
        if not _pool:
            _pool.extend(reversed(_new_chunk(_CHUNK_PAGES).pages))
        out.append(_pool.pop())
    return out


def alloc_page() -> Page:
    return alloc_pages_bulk(1)[0]


def alloc_pages(order: int = 0) -> Page:
    """A compound page of 2**order frames; returns the head (mm/page_alloc.c)."""
    if not 0 <= order <= 10:
        raise IovError(f"bad page order {order}", where="alloc_pages")
    pages = _new_chunk(1 << order).pages
    head = pages[0]
    head.order = order
    for p in pages[1:]:
        p.head = head
    return head


def pfn_to_page(pfn: int) -> Page:
    chunk = _chunks_by_pfn.get(pfn)
    if chunk is not None:
        return chunk.pages[pfn - (chunk.addr >> PAGE_SHIFT)]
    page = _foreign.get(pfn)
    if page is None:
        raise IovError(f"no page at pfn {pfn:#x}", errno=14)
    return page


def virt_to_page(addr: int, owner: Any = None) -> Page:
    """The page holding real address ``addr``.

    Memory not allocated here (a bytearray's storage, say) gets a page stood
    up over the real frame; ``owner`` is kept alive by it.  Such a page shares
    its frame with whatever else Python keeps there: write only to the bytes
    your buffer owns.
    """
    pfn = addr >> PAGE_SHIFT
    chunk = _chunks_by_pfn.get(pfn)
    if chunk is not None:
        return chunk.pages[pfn - (chunk.addr >> PAGE_SHIFT)]
    page = _foreign.get(pfn)
    if page is None:
        base = pfn << PAGE_SHIFT
        frame = (ctypes.c_char * PAGE_SIZE).from_address(base)
        page = Page._make(None, 0, memoryview(frame).cast("B"), base, owner)
        _foreign[pfn] = page
    return page


class VmArea:
    """vmap(): a virtually contiguous kernel buffer made of pages."""

    def __init__(self, pages: Sequence[Page]):
        self.pages = list(pages)
        if not self.pages:
            raise IovError("vmap of no pages")
        first = self.pages[0]
        for k, p in enumerate(self.pages):
            if p._chunk is None or p._chunk is not first._chunk or p._index != first._index + k:
                raise IovError(
                    f"vmap needs pages that are contiguous in one allocation (page {k} is {p!r})"
                )
        self.addr = first.addr
        self.buf = first.span(0, len(self.pages) * PAGE_SIZE)

    def __len__(self) -> int:
        return len(self.buf)


def vmap(pages: Sequence[Page]) -> VmArea:
    return VmArea(pages)
