"""Property tests: every iterator type against a plain reference model.

The model is a flat byte list per segment plus a position and a count; any
segment layout and any sequence of copy / advance / revert / zero / truncate /
reexpand / save+restore must leave the iterator and the memory exactly as the
model says.
"""

from __future__ import annotations

import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.iov import (
    ITER_BVEC,
    ITER_DEST,
    ITER_IOVEC,
    ITER_KVEC,
    ITER_SOURCE,
    ITER_UBUF,
    ITER_XARRAY,
    PAGE_SIZE,
    BioVec,
    IovWarning,
    Kvec,
    UserMemory,
    XArray,
    alloc_pages_bulk,
    copy_from_iter,
    copy_from_iter_full,
    copy_to_iter,
    copy_to_iter_full,
    dup_iter,
    iov_iter_advance,
    iov_iter_bvec,
    iov_iter_init,
    iov_iter_kvec,
    iov_iter_reexpand,
    iov_iter_restore,
    iov_iter_revert,
    iov_iter_save_state,
    iov_iter_single_seg_count,
    iov_iter_truncate,
    iov_iter_ubuf,
    iov_iter_xarray,
    iov_iter_zero,
)

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KINDS = ["kvec", "bvec", "iovec", "ubuf", "xarray"]


class Built:
    """An iterator of some kind plus a way to read each segment's memory back."""

    def __init__(self, kind, lens, direction, init):
        self.kind = kind
        self.lens = lens
        self.readers = []
        if kind == "kvec":
            bufs = [bytearray(b) for b in init]
            self.readers = [lambda b=b: bytes(b) for b in bufs]
            self.it = iov_iter_kvec(direction, [Kvec(b) for b in bufs], len(bufs), sum(lens))
        elif kind == "bvec":
            pages = alloc_pages_bulk(64)
            bvecs, page = [], 0
            for n, data in zip(lens, init, strict=True):
                off = (n * 7 + 13) % PAGE_SIZE if n < PAGE_SIZE else (n % 97)
                bv = BioVec(pages[page], n, off)
                bv.view()[:] = data
                bvecs.append(bv)
                self.readers.append(lambda bv=bv: bytes(bv.view()))
                page += (off + n) // PAGE_SIZE + 1
            self.it = iov_iter_bvec(direction, bvecs, len(bvecs), sum(lens))
        elif kind in ("iovec", "ubuf"):
            mm = UserMemory()
            total = sum(lens) + 64 * len(lens) + PAGE_SIZE
            base = mm.mmap(total)
            iov, at = [], base + 5
            for n, data in zip(lens, init, strict=True):
                mm.poke(at, data)
                iov.append((at, n))
                self.readers.append(lambda at=at, n=n: mm.peek(at, n))
                at += n + 37
            if kind == "ubuf":
                self.it = iov_iter_ubuf(direction, iov[0][0], lens[0], mm=mm)
            else:
                self.it = iov_iter_init(direction, iov, len(iov), sum(lens), mm=mm)
        else:  # xarray over consecutive pages, one "segment"
            n = lens[0]
            pages = alloc_pages_bulk(n // PAGE_SIZE + 2)
            xa = XArray()
            for k, p in enumerate(pages):
                xa[10 + k] = p
            start = 10 * PAGE_SIZE + 123
            flat = bytearray(len(pages) * PAGE_SIZE)
            flat[123 : 123 + n] = init[0]
            for k, p in enumerate(pages):
                p.data[:] = flat[k * PAGE_SIZE : (k + 1) * PAGE_SIZE]

            def read(pages=pages, n=n):
                allb = b"".join(bytes(p.data) for p in pages)
                return allb[123 : 123 + n]

            self.readers = [read]
            self.it = iov_iter_xarray(direction, xa, start, n)

    def memory(self):
        return b"".join(r() for r in self.readers)


ops = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "copy",
                "copy_full",
                "advance",
                "revert",
                "zero",
                "truncate",
                "reexpand",
                "save",
                "restore",
                "wrongdir",
                "single",
            ]
        ),
        st.integers(0, 9000),
    ),
    max_size=25,
)


@st.composite
def layouts(draw):
    kind = draw(st.sampled_from(KINDS))
    if kind in ("ubuf", "xarray"):
        lens = [draw(st.integers(0, 3 * PAGE_SIZE))]
    else:
        lens = draw(st.lists(st.integers(0, 3 * PAGE_SIZE), min_size=0, max_size=8))
    if kind == "bvec":
        lens = lens[:6]
    direction = draw(st.sampled_from([ITER_DEST, ITER_SOURCE]))
    return kind, lens, direction


def _cursor_position(it, lens):
    """Bytes before the cursor, from the kernel fields alone."""
    if it.iter_type in (ITER_UBUF, ITER_XARRAY):
        return it.iov_offset
    return sum(lens[: it.seg_index]) + it.iov_offset


@SETTINGS
@given(layouts(), ops, st.randoms(use_true_random=False))
def test_iterator_matches_reference_model(layout, oplist, rnd):
    kind, lens, direction = layout
    init = [bytes(rnd.randrange(256) for _ in range(n)) for n in lens]
    b = Built(kind, lens, direction, init)
    it = b.it
    flat = bytearray(b"".join(init))
    total = len(flat)
    pos, count = 0, total
    cut = None
    saved = None
    assert it.count == total

    for op, n in oplist:
        if op in ("copy", "copy_full"):
            k = min(n, count)
            if direction == ITER_DEST:
                data = bytes((pos + j * 31 + n) & 0xFF for j in range(n))
                if op == "copy":
                    got = copy_to_iter(data, n, it)
                    assert got == k
                    flat[pos : pos + k] = data[:k]
                else:
                    ok = copy_to_iter_full(data, n, it)
                    assert ok == (k == n)
                    flat[pos : pos + k] = data[:k]  # written, then the cursor is reverted
                    if not ok:
                        k = 0
            else:
                out = bytearray(n)
                if op == "copy":
                    got = copy_from_iter(out, n, it)
                    assert got == k
                else:
                    ok = copy_from_iter_full(out, n, it)
                    assert ok == (k == n)
                    if not ok:
                        k = 0
                assert bytes(out[:k]) == bytes(flat[pos : pos + k])
            pos += k
            count -= k
        elif op == "advance":
            k = min(n, count)
            iov_iter_advance(it, n)
            pos += k
            count -= k
        elif op == "revert":
            k = min(n, pos)
            iov_iter_revert(it, k)
            pos -= k
            count += k
        elif op == "zero":
            k = min(n, count)
            assert iov_iter_zero(n, it) == k
            flat[pos : pos + k] = bytes(k)
            pos += k
            count -= k
        elif op == "truncate":
            cut = (cut or 0) + count - min(count, n)
            iov_iter_truncate(it, n)
            count = min(count, n)
        elif op == "reexpand":
            if cut is not None:
                iov_iter_reexpand(it, count + cut)
                count += cut
                cut = None
        elif op == "save":
            saved = (iov_iter_save_state(it), pos, count, cut)
        elif op == "restore" and saved is not None and kind != "xarray":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", IovWarning)
                iov_iter_restore(it, saved[0])
            pos, count, cut = saved[1], saved[2], saved[3]
        elif op == "wrongdir":
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                if direction == ITER_DEST:
                    assert copy_from_iter(bytearray(n), n, it) == 0
                else:
                    assert copy_to_iter(bytes(n), n, it) == 0
            assert any(issubclass(x.category, IovWarning) for x in w)
        elif op == "single":
            s = iov_iter_single_seg_count(it)
            assert 0 <= s <= it.count
            if it.nr_segs <= 1:
                assert s == it.count
        # invariants after every step
        assert it.count == count, (op, n)
        assert _cursor_position(it, lens) == pos, (op, n)
        if it.iter_type in (ITER_KVEC, ITER_BVEC, ITER_IOVEC):
            assert it.nr_segs == len(lens) - it.seg_index
            assert 0 <= it.seg_index <= len(lens)
        dup = dup_iter(it)
        assert dup.count == it.count and dup.nr_segs == it.nr_segs
    assert b.memory() == bytes(flat)
    if kind in ("kvec", "bvec", "iovec", "ubuf"):
        assert pos + count <= total
