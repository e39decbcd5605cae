"""The iov_iter API piece by piece: user memory faults, imports, page copies, queries,
page extraction, cursor quirks."""

from __future__ import annotations

import errno
import struct
import warnings

import pytest

from pybpf.errors import IovError
from pybpf.iov import (
    ITER_BVEC,
    ITER_DEST,
    ITER_IOVEC,
    ITER_KVEC,
    ITER_SOURCE,
    ITER_UBUF,
    MAX_RW_COUNT,
    PAGE_SIZE,
    PROT_NONE,
    PROT_READ,
    READ,
    TASK_SIZE_MAX,
    UIO_MAXIOV,
    WRITE,
    BioVec,
    Iovec,
    IovIter,
    IovWarning,
    Kvec,
    Page,
    UserMemory,
    access_ok,
    alloc_pages,
    alloc_pages_bulk,
    copy_from_iter,
    copy_page_from_iter,
    copy_page_from_iter_atomic,
    copy_page_to_iter,
    copy_to_iter,
    dup_iter,
    fault_in_iov_iter_readable,
    import_iovec,
    import_ubuf,
    iov_iter_advance,
    iov_iter_alignment,
    iov_iter_bvec,
    iov_iter_copy_from_user_atomic,
    iov_iter_discard,
    iov_iter_extract_pages,
    iov_iter_gap_alignment,
    iov_iter_get_pages2,
    iov_iter_get_pages_alloc2,
    iov_iter_init,
    iov_iter_is_aligned,
    iov_iter_kvec,
    iov_iter_npages,
    iov_iter_restore,
    iov_iter_revert,
    iov_iter_save_state,
    iov_iter_single_seg_count,
    iov_iter_ubuf,
    iov_iter_zero,
    iov_length,
    iter_read,
    iter_write,
    kthread_use_mm,
    vmap,
)


@pytest.fixture
def mm():
    m = UserMemory()
    with kthread_use_mm(m):
        yield m


# -- user memory -------------------------------------------------------------------


def test_copy_to_user_stops_at_first_faulting_byte(mm):
    base = mm.mmap(3 * PAGE_SIZE)
    mm.mprotect(base + PAGE_SIZE, PAGE_SIZE, PROT_READ)
    left = mm.copy_to_user(base + PAGE_SIZE - 7, b"A" * 20)
    assert left == 13
    assert mm.peek(base + PAGE_SIZE - 7, 7) == b"A" * 7
    assert mm.peek(base + PAGE_SIZE, 1) == b"\0"


def test_copy_from_user_zero_fills_the_rest(mm):
    base = mm.mmap(2 * PAGE_SIZE)
    mm.poke(base + PAGE_SIZE - 4, b"wxyz")
    mm.munmap(base + PAGE_SIZE, PAGE_SIZE)
    dst = bytearray(b"\xff" * 10)
    assert mm.copy_from_user(dst, base + PAGE_SIZE - 4, 10) == 6
    assert bytes(dst) == b"wxyz" + bytes(6)


def test_access_ok_is_task_size():
    assert access_ok(TASK_SIZE_MAX - 10, 10)
    assert not access_ok(TASK_SIZE_MAX - 10, 11)
    assert not access_ok(0xFFFF888000000000, 1)


def test_copy_to_iter_iovec_partial_fault(mm):
    base = mm.mmap(4 * PAGE_SIZE)
    mm.mprotect(base + 2 * PAGE_SIZE, PAGE_SIZE, PROT_NONE)
    it = iov_iter_init(READ, [(base, 100), (base + 2 * PAGE_SIZE - 30, 60), (base, 5)])
    assert copy_to_iter(bytes(range(165)), 165, it) == 130
    assert it.count == 35 and it.seg_index == 1 and it.iov_offset == 30 and it.nr_segs == 2


def test_atomic_copy_fails_on_non_resident_page(mm):
    base = mm.mmap(2 * PAGE_SIZE)
    mm.poke(base, b"q" * (2 * PAGE_SIZE))
    mm.evict(base + PAGE_SIZE, PAGE_SIZE)
    page = Page()
    it = iov_iter_ubuf(WRITE, base + PAGE_SIZE - 100, 200)
    assert copy_page_from_iter_atomic(page, 0, 200, it) == 100
    assert it.count == 100 and not mm.is_resident(base + PAGE_SIZE)
    # the non-atomic copy faults the page in and completes
    assert copy_page_from_iter(page, 100, 100, it) == 100
    assert mm.is_resident(base + PAGE_SIZE) and mm.faults == 1
    assert bytes(page.data[:200]) == b"q" * 200


def test_old_copy_from_user_atomic_does_not_advance(mm):
    base = mm.mmap(PAGE_SIZE)
    mm.poke(base, b"abcdef")
    it = iov_iter_ubuf(WRITE, base, 6)
    page = Page()
    assert iov_iter_copy_from_user_atomic(page, it, 10, 6) == 6
    assert bytes(page.data[10:16]) == b"abcdef"
    assert it.count == 6 and it.iov_offset == 0


# -- import_iovec / import_ubuf ------------------------------------------------------------


def test_import_iovec_reads_user_array_and_single_becomes_ubuf(mm):
    base = mm.mmap(2 * PAGE_SIZE)
    arr = base + PAGE_SIZE
    mm.poke(arr, struct.pack("<QQQQ", base, 10, base + 100, 20))
    it = import_iovec(READ, arr, 2)
    assert it.iter_type == ITER_IOVEC and it.count == 30 and it.nr_segs == 2
    one = import_iovec(WRITE, arr, 1)
    assert one.iter_type == ITER_UBUF and one.count == 10 and one.ubuf == base
    with pytest.raises(IovError) as e:
        import_iovec(READ, base + 2 * PAGE_SIZE, 2)  # the array itself is unmapped
    assert e.value.errno == errno.EFAULT


def test_import_iovec_validation(mm):
    base = mm.mmap(PAGE_SIZE)
    with pytest.raises(IovError) as e:
        import_iovec(READ, [(base, 1)] * (UIO_MAXIOV + 1), UIO_MAXIOV + 1)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(IovError) as e:
        import_iovec(READ, [(base, 1), (base, -1)], 2)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(IovError) as e:
        import_iovec(READ, [(base, 1), (TASK_SIZE_MAX, 1)], 2)
    assert e.value.errno == errno.EFAULT
    it = import_iovec(READ, [(base, MAX_RW_COUNT - 5), (base, 100), (base, 7)], 3)
    assert it.count == MAX_RW_COUNT
    assert [s.iov_len for s in it.all_segments] == [MAX_RW_COUNT - 5, 5, 0]
    assert import_ubuf(READ, base, 1 << 40).count == MAX_RW_COUNT
    with pytest.raises(IovError):
        import_ubuf(READ, TASK_SIZE_MAX, 1)


# -- page copies ------------------------------------------------------------------------


def test_page_copy_refuses_range_beyond_order0_page():
    page = Page()
    it = IovIter.from_buffers([bytearray(100)])
    with pytest.warns(IovWarning):
        assert copy_page_to_iter(page, PAGE_SIZE - 10, 20, it) == 0
    assert it.count == 100
    head = alloc_pages(1)  # a compound page of two frames may be copied across
    head.span(0, 2 * PAGE_SIZE)[:] = bytes(range(256)) * 32
    assert copy_page_to_iter(head, PAGE_SIZE - 10, 20, it) == 20
    with pytest.warns(IovWarning):
        assert copy_page_to_iter(head + 1, 10, PAGE_SIZE, it) == 0


def test_wrong_direction_warns_and_copies_nothing():
    it = IovIter.from_buffers([bytearray(8)], ITER_SOURCE)
    with pytest.warns(IovWarning):
        assert copy_to_iter(b"x" * 8, 8, it) == 0
    it2 = IovIter.from_buffers([bytearray(8)], ITER_DEST)
    with pytest.warns(IovWarning):
        assert copy_from_iter(bytearray(8), 8, it2) == 0
    with pytest.warns(IovWarning):  # check_copy_size: more bytes than the source holds
        assert copy_to_iter(b"abc", 4, it2) == 0


def test_discard_and_zero():
    it = iov_iter_discard(READ, 10)
    assert copy_to_iter(b"x" * 30, 30, it) == 10 and it.count == 0
    with pytest.raises(IovError):
        iov_iter_discard(WRITE, 10)
    bufs = [bytearray(b"\xff" * 5), bytearray(b"\xff" * 5)]
    z = iov_iter_kvec(ITER_DEST, bufs)
    assert iov_iter_zero(7, z) == 7
    assert bufs == [bytearray(5), bytearray(b"\0\0\xff\xff\xff")]


# -- cursor quirks --------------------------------------------------------------------------


def test_advance_skips_empty_segments_copy_does_not():
    a = iov_iter_kvec(ITER_DEST, [bytearray(5), bytearray(0), bytearray(3)])
    b = dup_iter(a)
    iov_iter_advance(a, 5)
    assert (a.seg_index, a.nr_segs) == (2, 1)
    copy_to_iter(b"12345", 5, b)
    assert (b.seg_index, b.nr_segs) == (1, 2)


def test_revert_across_segments_and_beyond_ubuf_start(mm):
    it = iov_iter_kvec(ITER_DEST, [bytearray(4), bytearray(4), bytearray(4)])
    iov_iter_advance(it, 10)
    iov_iter_revert(it, 7)
    assert (it.seg_index, it.iov_offset, it.count, it.nr_segs) == (0, 3, 9, 3)
    base = mm.mmap(PAGE_SIZE)
    u = iov_iter_ubuf(READ, base, 10)
    iov_iter_advance(u, 4)
    with pytest.raises(IovError):
        iov_iter_revert(u, 5)


def test_restore_on_kvec_warns_but_restores():
    it = iov_iter_kvec(ITER_DEST, [bytearray(4), bytearray(4)])
    st = iov_iter_save_state(it)
    iov_iter_advance(it, 6)
    with pytest.warns(IovWarning):
        iov_iter_restore(it, st)
    assert (it.count, it.seg_index, it.nr_segs, it.iov_offset) == (8, 0, 2, 0)
    bv = iov_iter_bvec(ITER_DEST, [BioVec(Page(), 10, 0)])
    st = iov_iter_save_state(bv)
    iov_iter_advance(bv, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        iov_iter_restore(bv, st)
    assert bv.count == 10


def test_single_seg_count_quirk():
    it = iov_iter_kvec(ITER_DEST, [bytearray(10), bytearray(20), bytearray(30)])
    assert iov_iter_single_seg_count(it) == 10
    iov_iter_advance(it, 35)
    # one segment left: the whole count is returned, whatever the segment holds
    assert it.nr_segs == 1 and iov_iter_single_seg_count(it) == 25
    it2 = iov_iter_kvec(ITER_DEST, [bytearray(10), bytearray(20)], 2, 25)
    assert iov_iter_single_seg_count(it2) == 10


def test_iov_length_no_silent_overflow():
    assert iov_length([Iovec(0, 5), Iovec(0, 7)]) == 12
    big = [Iovec(0, 1 << 63), Iovec(0, 1 << 63)]
    with pytest.raises(IovError):
        iov_length(big)
    assert iov_length(big, saturate=True) == (1 << 64) - 1


# -- queries ----------------------------------------------------------------------


def test_npages_and_alignment_kvec():
    area = vmap(alloc_pages_bulk(64))
    it = iov_iter_kvec(
        ITER_DEST,
        [
            Kvec(area.buf[PAGE_SIZE - 1 : PAGE_SIZE + 1]),
            Kvec(area.buf[8 * PAGE_SIZE : 9 * PAGE_SIZE]),
        ],
    )
    assert iov_iter_npages(it, 100) == 3
    assert iov_iter_npages(it, 2) == 2
    assert iov_iter_alignment(it) & (PAGE_SIZE - 1) == (PAGE_SIZE - 1) | 2
    assert not iov_iter_is_aligned(it, 511, 0)
    iov_iter_advance(it, 2)
    assert iov_iter_is_aligned(it, PAGE_SIZE - 1, PAGE_SIZE - 1)
    with pytest.warns(IovWarning):
        assert iov_iter_gap_alignment(it) == 0xFFFFFFFF


def test_gap_alignment_iovec(mm):
    it = iov_iter_init(READ, [(0x10000, 0x200), (0x10400, 0x100), (0x20000, 0x1000)])
    assert iov_iter_gap_alignment(it) == (0x10400 | 0x10200) | (0x20000 | 0x10500)
    assert iov_iter_alignment(it) == 0x10000 | 0x200 | 0x10400 | 0x100 | 0x20000 | 0x1000


def test_bvec_is_aligned_uses_full_bv_len():
    it = iov_iter_bvec(ITER_DEST, [BioVec(Page(), 1024, 0), BioVec(Page(), 512, 0)])
    iov_iter_advance(it, 512)  # 512 + 512 bytes left
    # kept quirk: the first length tested is bv_len (1024), not the 512 left in it
    assert iov_iter_is_aligned(it, 511, 1023)
    assert not iov_iter_is_aligned(it, 1023, 0)


# -- pages ---------------------------------------------------------------------------------


def test_get_pages2_user_pages_identity_and_advance(mm):
    base = mm.mmap(4 * PAGE_SIZE)
    it = iov_iter_init(READ, [(base + 100, 2 * PAGE_SIZE), (base + 3 * PAGE_SIZE, 10)])
    n, pages, start = iov_iter_get_pages2(it, 1 << 20, 8)
    assert (n, start) == (2 * PAGE_SIZE, 100)
    assert pages == [mm.pages[(base >> 12) + k].page for k in range(3)]
    assert it.seg_index == 1 and it.count == 10
    n, pages, start = iov_iter_get_pages_alloc2(it, 1 << 20)
    assert (n, start, len(pages)) == (10, 0, 1)
    mm.mprotect(base, PAGE_SIZE, PROT_READ)
    w = iov_iter_init(READ, [(base, 10), (base + PAGE_SIZE, 10)])
    assert iov_iter_get_pages2(w, 100, 4)[0] == -errno.EFAULT  # READ iterator needs FOLL_WRITE
    r = iov_iter_init(WRITE, [(base, 10), (base + PAGE_SIZE, 10)])
    assert iov_iter_get_pages2(r, 100, 4)[0] == 10


def test_get_pages2_kvec_is_efault_extract_is_not():
    it = IovIter.from_buffers([bytearray(100)])
    assert iov_iter_get_pages2(it, 100, 4)[0] == -errno.EFAULT
    assert iov_iter_extract_pages(it, 100, 4)[0] == 100


def test_bvec_get_pages_and_extract_multi_page():
    pages = alloc_pages_bulk(64)
    it = iov_iter_bvec(ITER_DEST, [BioVec(pages[2], 3 * PAGE_SIZE, 0x10)])
    n, got, start = iov_iter_get_pages2(it, 1 << 20, 2)
    assert (n, start) == (2 * PAGE_SIZE - 0x10, 0x10) and got == pages[2:4]
    n, got, off0 = iov_iter_extract_pages(it, 1 << 20, 8)
    assert (n, off0) == (PAGE_SIZE + 0x10, 0) and got == pages[4:6]
    assert it.count == 0 and it.iter_type == ITER_BVEC


def test_from_buffers_kvec_over_mmap():
    import mmap

    m = mmap.mmap(-1, PAGE_SIZE)
    it = IovIter.from_buffers([m, memoryview(bytearray(4))])
    assert it.iter_type == ITER_KVEC and it.count == PAGE_SIZE + 4
    assert iter_write(it, b"z" * (PAGE_SIZE + 2)) == PAGE_SIZE + 2
    assert m[:3] == b"zzz"
    src = IovIter.from_buffers([b"ab", bytearray(b"cd")], ITER_SOURCE)
    assert iter_read(src) == b"abcd"


def test_bad_segments_refused_at_construction():
    with pytest.raises(IovError) as e:
        IovIter.from_buffers([b"read-only"], ITER_DEST)
    assert e.value.errno == errno.EFAULT
    assert iter_read(IovIter.from_buffers([b"read-only"], ITER_SOURCE)) == b"read-only"
    with pytest.raises(IovError):  # count larger than the segments hold
        iov_iter_kvec(ITER_DEST, [bytearray(4)], 1, 5)
    with pytest.raises(IovError):  # a bvec running off the end of its contiguous pages
        iov_iter_bvec(ITER_DEST, [BioVec(alloc_pages(0), 2 * PAGE_SIZE, 0)])


def test_fault_in_then_atomic_copy_like_generic_perform_write(mm):
    base = mm.mmap(3 * PAGE_SIZE, populate=False)
    mm.poke(base, b"k" * (3 * PAGE_SIZE))
    mm.evict(base, 3 * PAGE_SIZE)
    mm.mprotect(base + 2 * PAGE_SIZE, PAGE_SIZE, PROT_NONE)
    it = iov_iter_init(WRITE, [(base + 10, PAGE_SIZE), (base + PAGE_SIZE + 10, 2 * PAGE_SIZE)])
    assert fault_in_iov_iter_readable(it, 3 * PAGE_SIZE) == 3 * PAGE_SIZE - (2 * PAGE_SIZE - 10)
    page = alloc_pages(1)
    # everything before the PROT_NONE page is resident now: the atomic copy gets that far
    assert copy_page_from_iter_atomic(page, 0, 2 * PAGE_SIZE, it) == 2 * PAGE_SIZE - 10
    assert fault_in_iov_iter_readable(it, 100) == 100
    assert fault_in_iov_iter_readable(IovIter.from_buffers([bytearray(4)]), 4) == 0
