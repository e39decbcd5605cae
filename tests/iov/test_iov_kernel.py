"""pybpf's user-memory model against the real kernel.

The same iovec layout is handed to the real preadv/pwritev/readv/writev
(through ctypes, over real mmap'ed memory with PROT_NONE / read-only /
unmapped pages) and to pybpf's model (UserMemory at the same addresses,
import_iovec + copy_to_iter / copy_from_iter).  Short counts, EFAULT, EINVAL
and the bytes that land in memory or in the file must agree.  Needs no bpf().
"""

from __future__ import annotations

import ctypes
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.iov import PAGE_SIZE, PROT_NONE, PROT_READ, PROT_WRITE, UserMemory
from pybpf.iov.rw import do_preadv, do_pwritev

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


class IOVEC(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


for _name in ("preadv", "pwritev"):
    getattr(libc, _name).argtypes = [
        ctypes.c_int,
        ctypes.POINTER(IOVEC),
        ctypes.c_int,
        ctypes.c_long,
    ]
    getattr(libc, _name).restype = ctypes.c_ssize_t
for _name in ("readv", "writev"):
    getattr(libc, _name).argtypes = [ctypes.c_int, ctypes.POINTER(IOVEC), ctypes.c_int]
    getattr(libc, _name).restype = ctypes.c_ssize_t

MAP_PRIVATE_ANON = 0x02 | 0x20
NPAGES = 6
FILE = bytes((k * 7 + 3) & 0xFF for k in range(NPAGES * PAGE_SIZE + 777))
UNMAPPED = -1
EXAMPLES = int(os.environ.get("PYBPF_IOV_EXAMPLES", "120"))  # raise for a longer soak


def _iov_array(segs):
    return (IOVEC * max(1, len(segs)))(*[IOVEC(b, ln) for b, ln in segs])


def _ret(r: int) -> int:
    return r if r >= 0 else -ctypes.get_errno()


class Region:
    """NPAGES real pages with per-page protection, mirrored in a UserMemory model."""

    def __init__(self, prots):
        # PROT_NONE guard pages on both sides, in the process and in the model, so that
        # whatever the process has mapped next to the region cannot be reached
        outer = libc.mmap(None, (NPAGES + 2) * PAGE_SIZE, 3, MAP_PRIVATE_ANON, -1, 0)
        assert outer not in (None, ctypes.c_void_p(-1).value)
        self.outer = outer
        self.base = outer + PAGE_SIZE
        self.prots = prots
        self.mm = UserMemory()
        self.mm.mmap((NPAGES + 2) * PAGE_SIZE, addr=outer)
        for at in (outer, self.base + NPAGES * PAGE_SIZE):
            assert libc.mprotect(at, PAGE_SIZE, PROT_NONE) == 0
            self.mm.mprotect(at, PAGE_SIZE, PROT_NONE)
        fill = bytes((k * 13 + 5) & 0xFF for k in range(NPAGES * PAGE_SIZE))
        ctypes.memmove(self.base, fill, len(fill))
        self.mm.poke(self.base, fill)
        for k, prot in enumerate(prots):
            at = self.base + k * PAGE_SIZE
            if prot == UNMAPPED:
                assert libc.munmap(at, PAGE_SIZE) == 0
                self.mm.munmap(at, PAGE_SIZE)
            else:
                assert libc.mprotect(at, PAGE_SIZE, prot) == 0
                self.mm.mprotect(at, PAGE_SIZE, prot)

    def contents_agree(self) -> bool:
        for k, prot in enumerate(self.prots):
            if prot == UNMAPPED:
                continue
            at = self.base + k * PAGE_SIZE
            libc.mprotect(at, PAGE_SIZE, PROT_READ)
            real = ctypes.string_at(at, PAGE_SIZE)
            if real != self.mm.peek(at, PAGE_SIZE):
                return False
        return True

    def close(self):
        libc.munmap(self.outer, (NPAGES + 2) * PAGE_SIZE)


def _memfd(data=FILE) -> int:
    fd = os.memfd_create("pybpf-iov")
    os.write(fd, data)
    return fd


def compare_preadv(prots, layout, pos=0):
    reg = Region(prots)
    fd = _memfd()
    try:
        segs = [(reg.base + off, ln) for off, ln in layout]
        real = _ret(libc.preadv(fd, _iov_array(segs), len(segs), pos))
        model = do_preadv(reg.mm, FILE, segs, len(segs), pos)
        assert real == model, (prots, layout)
        assert reg.contents_agree(), (prots, layout)
        return real
    finally:
        os.close(fd)
        reg.close()


def compare_pwritev(prots, layout, pos=0):
    reg = Region(prots)
    fd = _memfd()
    try:
        segs = [(reg.base + off, ln) for off, ln in layout]
        real = _ret(libc.pwritev(fd, _iov_array(segs), len(segs), pos))
        model_file = bytearray(FILE)
        model = do_pwritev(reg.mm, model_file, segs, len(segs), pos)
        assert real == model, (prots, layout)
        size = os.fstat(fd).st_size
        assert os.pread(fd, size, 0) == bytes(model_file), (prots, layout)
        return real
    finally:
        os.close(fd)
        reg.close()


RW = PROT_READ | PROT_WRITE
P = PAGE_SIZE


@pytest.mark.parametrize("prot", [PROT_NONE, PROT_READ, UNMAPPED])
def test_later_segment_in_bad_page_gives_short_read(prot):
    prots = [RW, prot, RW, RW, RW, RW]
    n = compare_preadv(prots, [(100, 1000), (P - 96, 500), (2 * P, 50)])
    assert n == 1000 + 96


def test_first_byte_faulting_is_efault():
    assert compare_preadv([RW, PROT_NONE, RW, RW, RW, RW], [(P, 10), (0, 10)]) == -14
    assert compare_pwritev([RW, PROT_NONE, RW, RW, RW, RW], [(P + 5, 10), (0, 10)]) == -14


def test_write_stops_at_unreadable_page():
    n = compare_pwritev([RW, RW, PROT_NONE, RW, RW, RW], [(10, P), (P + 10, 2 * P)], pos=3)
    assert n == P + (P - 10)


def test_x86_write_only_pages_are_readable():
    assert compare_pwritev([PROT_WRITE] * 6, [(0, 100), (P, 100)]) == 200


def test_single_segment_clamped_to_max_rw_count():
    # one segment: imported as ITER_UBUF, length clamped to MAX_RW_COUNT, access_ok passes
    assert compare_preadv([RW, PROT_NONE, RW, RW, RW, RW], [(0, 1 << 62)]) == P


@pytest.mark.parametrize(
    "seg1",
    [
        (0xFFFF888000000000, 10),  # kernel address
        (0x800000000000, 10),  # just above TASK_SIZE_MAX
        (0x7FFFFFFFF000 - 5, 10),  # crossing TASK_SIZE_MAX
    ],
)
def test_segment_outside_user_space_is_efault_at_import(seg1):
    reg = Region([RW] * 6)
    fd = _memfd()
    try:
        segs = [(reg.base, 10), seg1]
        real = _ret(libc.preadv(fd, _iov_array(segs), 2, 0))
        assert real == do_preadv(reg.mm, FILE, segs, 2) == -14
    finally:
        os.close(fd)
        reg.close()


def test_unmapped_segment_below_task_size_is_a_short_read():
    reg = Region([RW] * 6)
    fd = _memfd()
    try:
        segs = [(reg.base, 10), (0x7FFFFFFFF000 - 10, 10)]
        real = _ret(libc.preadv(fd, _iov_array(segs), 2, 0))
        assert real == do_preadv(reg.mm, FILE, segs, 2) == 10
    finally:
        os.close(fd)
        reg.close()


@pytest.mark.parametrize(
    "segs,expect",
    [
        ([(0, 10), (0, 1 << 63)], -22),  # negative as ssize_t
        ([(0, 1)] * 1025, -22),  # more than UIO_MAXIOV
        ([(0, 1)] * 1024, 1024),  # exactly UIO_MAXIOV
        ([], 0),  # no segments
        ([(0, 1 << 62), (0, 1 << 62)], -14),  # access_ok fails before any clamping
    ],
)
def test_import_iovec_validation_matches(segs, expect):
    reg = Region([RW] * 6)
    fd = _memfd()
    try:
        real_segs = [(reg.base + off, ln) for off, ln in segs]
        real = _ret(libc.preadv(fd, _iov_array(real_segs), len(real_segs), 0))
        assert real == do_preadv(reg.mm, FILE, real_segs, len(real_segs)) == expect
    finally:
        os.close(fd)
        reg.close()


def test_readv_writev_follow_the_same_rules():
    reg = Region([RW, PROT_NONE, RW, RW, RW, RW])
    fd = _memfd()
    try:
        segs = [(reg.base + 7, P - 7 + 3), (reg.base + 3 * P, 10)]
        arr = _iov_array(segs)
        os.lseek(fd, 0, os.SEEK_SET)
        real = _ret(libc.readv(fd, arr, 2))
        assert real == do_preadv(reg.mm, FILE, segs, 2) == P - 7
        os.lseek(fd, 0, os.SEEK_SET)
        real_w = _ret(libc.writev(fd, arr, 2))
        assert real_w == do_pwritev(reg.mm, bytearray(FILE), segs, 2) == P - 7
    finally:
        os.close(fd)
        reg.close()


prot_st = st.sampled_from([RW, RW, RW, PROT_NONE, PROT_READ, PROT_WRITE, UNMAPPED])
seg_st = st.tuples(st.integers(-64, NPAGES * P), st.integers(0, 2 * P + 100))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(prot_st, min_size=NPAGES, max_size=NPAGES),
    st.lists(seg_st, min_size=0, max_size=7),
    st.integers(0, 3 * P),
)
def test_random_layouts_preadv(prots, layout, pos):
    compare_preadv(prots, layout, pos)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(prot_st, min_size=NPAGES, max_size=NPAGES),
    st.lists(seg_st, min_size=0, max_size=7),
    st.integers(0, 3 * P),
)
def test_random_layouts_pwritev(prots, layout, pos):
    compare_pwritev(prots, layout, pos)
