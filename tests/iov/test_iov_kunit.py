"""lib/kunit_iov_iter.c re-expressed: copy to/from kvec, bvec and xarray iterators
over a 1 MiB buffer, and page extraction with offset and page-identity checks."""

from __future__ import annotations

import pytest

from pybpf.iov import (
    ITER_DEST,
    ITER_SOURCE,
    PAGE_SIZE,
    READ,
    WRITE,
    BioVec,
    Kvec,
    XArray,
    alloc_pages_bulk,
    copy_from_iter,
    copy_to_iter,
    iov_iter_bvec,
    iov_iter_count,
    iov_iter_extract_pages,
    iov_iter_kvec,
    iov_iter_xarray,
    vmap,
    xa_store,
)

BUFSIZE = 0x100000
NPAGES = BUFSIZE // PAGE_SIZE

KVEC_RANGES = [
    (0x00002, 0x00002),
    (0x00027, 0x03000),
    (0x05193, 0x18794),
    (0x20000, 0x20000),
    (0x20000, 0x24000),
    (0x24000, 0x27001),
    (0x29000, 0xFFFFB),
    (0xFFFFD, 0xFFFFE),
]

BVEC_RANGES = [
    (0, 0x0002, 0x0002),
    (1, 0x0027, 0x0893),
    (2, 0x0193, 0x0794),
    (3, 0x0000, 0x1000),
    (4, 0x0000, 0x1000),
    (5, 0x0000, 0x1000),
    (6, 0x0000, 0x0FFB),
    (6, 0x0FFD, 0x0FFE),
]

PATTERN = bytes(range(256)) * (BUFSIZE // 256)  # pattern(x) = x & 0xff


def create_buffer():
    """iov_kunit_create_buffer: npages pages vmapped into one buffer."""
    pages = alloc_pages_bulk(NPAGES)
    area = vmap(pages)
    return area.buf, pages


def load_kvec(direction, buffer):
    kvec = [Kvec(buffer[f:t]) for f, t in KVEC_RANGES]
    size = sum(t - f for f, t in KVEC_RANGES)
    assert size <= BUFSIZE
    return iov_iter_kvec(direction, kvec, len(kvec), size)


def load_bvec(direction, pages):
    """iov_kunit_load_bvec, including the merge of page-contiguous ranges."""
    bvec: list[BioVec] = []
    can_merge = None
    size = 0
    for pg, f, t in BVEC_RANGES:
        page = pages[pg]
        if f == 0 and f != t and can_merge is not None and page is can_merge:
            bvec[-1].bv_len += t
        else:
            bvec.append(BioVec(page, t - f, f))
        size += t - f
        can_merge = page + t // PAGE_SIZE if t % PAGE_SIZE == 0 else None
    return iov_iter_bvec(direction, bvec, len(bvec), size), len(bvec)


def test_copy_to_kvec():
    scratch = bytearray(PATTERN)
    buffer, _ = create_buffer()
    it = load_kvec(READ, buffer)
    size = it.count
    copied = copy_to_iter(scratch, size, it)
    assert copied == size
    assert it.count == 0
    assert it.nr_segs == 0
    expect = bytearray(BUFSIZE)
    patt = 0
    for f, t in KVEC_RANGES:
        for k in range(f, t):
            expect[k] = patt & 0xFF
            patt += 1
    assert buffer.tobytes() == bytes(expect)


def test_copy_from_kvec():
    buffer, _ = create_buffer()
    buffer[:] = PATTERN
    scratch = bytearray(BUFSIZE)
    it = load_kvec(WRITE, buffer)
    size = min(it.count, BUFSIZE)
    copied = copy_from_iter(scratch, size, it)
    assert copied == size
    assert it.count == 0
    assert it.nr_segs == 0
    expect = b"".join(PATTERN[f:t] for f, t in KVEC_RANGES)
    expect = expect + bytes(BUFSIZE - len(expect))
    assert bytes(scratch) == expect


def test_bvec_merges_contiguous_pages():
    _, pages = create_buffer()
    it, nsegs = load_bvec(READ, pages)
    # pages 3..6 are contiguous: four ranges become one multi-page bio_vec
    assert nsegs == 5
    assert it.segments[3].bv_len == 3 * PAGE_SIZE + 0xFFB


def test_copy_to_bvec():
    scratch = bytearray(PATTERN)
    buffer, pages = create_buffer()
    it, _ = load_bvec(READ, pages)
    size = it.count
    copied = copy_to_iter(scratch, size, it)
    assert copied == size
    assert it.count == 0
    assert it.nr_segs == 0
    expect = bytearray(BUFSIZE)
    patt = 0
    for pg, f, t in BVEC_RANGES:
        base = pg * PAGE_SIZE
        for k in range(f, t):
            expect[base + k] = patt & 0xFF
            patt += 1
    assert buffer.tobytes() == bytes(expect)


def test_copy_from_bvec():
    buffer, pages = create_buffer()
    buffer[:] = PATTERN
    scratch = bytearray(BUFSIZE)
    it, _ = load_bvec(WRITE, pages)
    size = it.count
    copied = copy_from_iter(scratch, size, it)
    assert copied == size
    assert it.count == 0
    assert it.nr_segs == 0
    expect = b"".join(PATTERN[pg * PAGE_SIZE + f : pg * PAGE_SIZE + t] for pg, f, t in BVEC_RANGES)
    assert bytes(scratch) == expect + bytes(BUFSIZE - len(expect))


def load_xarray(pages):
    xa = XArray()
    for k, p in enumerate(pages):
        xa_store(xa, k, p)
    return xa


def test_copy_to_xarray():
    scratch = bytearray(PATTERN)
    buffer, pages = create_buffer()
    xa = load_xarray(pages)
    i = 0
    for f, t in KVEC_RANGES:
        size = t - f
        it = iov_iter_xarray(READ, xa, f, size)
        copied = copy_to_iter(memoryview(scratch)[i:], size, it)
        assert copied == size
        assert it.count == 0
        assert it.iov_offset == size
        i += size
    expect = bytearray(BUFSIZE)
    patt = 0
    for f, t in KVEC_RANGES:
        for k in range(f, t):
            expect[k] = patt & 0xFF
            patt += 1
    assert buffer.tobytes() == bytes(expect)


def test_copy_from_xarray():
    buffer, pages = create_buffer()
    buffer[:] = PATTERN
    scratch = bytearray(BUFSIZE)
    xa = load_xarray(pages)
    i = 0
    for f, t in KVEC_RANGES:
        size = t - f
        it = iov_iter_xarray(WRITE, xa, f, size)
        copied = copy_from_iter(memoryview(scratch)[i:], size, it)
        assert copied == size
        assert it.count == 0
        assert it.iov_offset == size
        i += size
    expect = b"".join(PATTERN[f:t] for f, t in KVEC_RANGES)
    assert bytes(scratch) == expect + bytes(BUFSIZE - len(expect))


def _check_extraction(it, ranges, page_of):
    """The shared loop of iov_kunit_extract_pages_{kvec,bvec}."""
    size = it.count
    pr = iter(ranges)
    cur = next(pr)
    frm = cur[-2]
    calls = 0
    while True:
        length, pagelist, offset0 = iov_iter_extract_pages(it, 100 * 1024, 8, 0)
        calls += 1
        assert length >= 0
        assert 0 <= offset0 < PAGE_SIZE
        assert length <= size
        assert it.count == size - length
        size -= length
        if length == 0:
            break
        assert len(pagelist) <= 8
        for k in range(8):
            part = min(length, PAGE_SIZE - offset0)
            assert part >= 0
            while frm == cur[-1]:
                cur = next(pr, None)
                if cur is None:
                    assert size == 0 and it.count == 0
                    return calls
                frm = cur[-2]
            assert pagelist[k] is page_of(cur, frm)
            assert offset0 == frm % PAGE_SIZE
            frm += part
            length -= part
            assert length >= 0
            if length == 0:
                break
            offset0 = 0
        if iov_iter_count(it) == 0:
            break
    assert size == 0
    assert it.count == 0
    return calls


def test_extract_pages_kvec():
    buffer, pages = create_buffer()
    it = load_kvec(READ, buffer)
    calls = _check_extraction(it, KVEC_RANGES, lambda cur, frm: pages[frm // PAGE_SIZE])
    assert calls > 1


def test_extract_pages_bvec():
    _, pages = create_buffer()
    it, _ = load_bvec(READ, pages)
    calls = _check_extraction(it, BVEC_RANGES, lambda cur, frm: pages[cur[0] + frm // PAGE_SIZE])
    assert calls > 1


def test_extract_pages_xarray():
    _, pages = create_buffer()
    xa = load_xarray(pages)
    for f, t in KVEC_RANGES:
        size = t - f
        it = iov_iter_xarray(WRITE, xa, f, size)
        frm = f
        while True:
            length, pagelist, offset0 = iov_iter_extract_pages(it, 100 * 1024, 8, 0)
            assert 0 <= length <= size
            assert it.count == size - length
            if length == 0:
                break
            size -= length
            assert 0 <= offset0 < PAGE_SIZE
            for k in range(8):
                part = min(length, PAGE_SIZE - offset0)
                assert pagelist[k] is pages[frm // PAGE_SIZE]
                assert offset0 == frm % PAGE_SIZE
                frm += part
                length -= part
                if length == 0:
                    break
                offset0 = 0
            if it.count == 0:
                break
        assert size == 0
        assert it.count == 0
        assert it.iov_offset == t - f


@pytest.mark.parametrize("direction", [ITER_DEST, ITER_SOURCE])
def test_kvec_over_plain_bytearray_extracts_real_pages(direction):
    """A kvec over ordinary Python memory maps to the page holding its real address."""
    buf = bytearray(3 * PAGE_SIZE)
    it = iov_iter_kvec(direction, [Kvec(buf)], 1, len(buf))
    length, pagelist, offset0 = iov_iter_extract_pages(it, len(buf), 8)
    assert length == len(buf)
    assert offset0 == Kvec(buf).addr % PAGE_SIZE
    buf[0] = 0xAB
    assert pagelist[0].data[offset0] == 0xAB
