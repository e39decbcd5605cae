"""copy_to_iter throughput over kvec / bvec against a plain memoryview slice copy.

Run: python bench/bench_iov.py [--mib N] [--repeat R]
Prints MiB/s for each and the ratio to the plain copy measured in the same run.
"""

from __future__ import annotations

import argparse
import time

from pybpf.iov import (
    ITER_DEST,
    ITER_SOURCE,
    PAGE_SIZE,
    BioVec,
    Kvec,
    UserMemory,
    alloc_pages_bulk,
    copy_from_iter,
    copy_to_iter,
    iov_iter_bvec,
    iov_iter_init,
    iov_iter_kvec,
)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mib", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    size = args.mib << 20
    src = memoryview(bytes((k * 7) & 0xFF for k in range(256)) * (size // 256))
    dst = bytearray(size)
    dmv = memoryview(dst)

    def plain():
        dmv[:] = src

    cases = {"memoryview slice copy (reference)": plain}

    for segsize in (64 << 10, PAGE_SIZE):
        kv = [Kvec(dmv[k : k + segsize]) for k in range(0, size, segsize)]

        def kvec(kv=kv):
            it = iov_iter_kvec(ITER_DEST, kv, len(kv), size)
            assert copy_to_iter(src, size, it) == size

        cases[f"copy_to_iter kvec x{len(kv)} ({segsize >> 10} KiB segs)"] = kvec

    pages = alloc_pages_bulk(size // PAGE_SIZE)
    per_page = [BioVec(p, PAGE_SIZE, 0) for p in pages]
    multi = [BioVec(pages[k], 64 << 10, 0) for k in range(0, len(pages), 16)]
    for name, bv in (("4 KiB page bvecs", per_page), ("64 KiB multi-page bvecs", multi)):

        def bvec(bv=bv):
            it = iov_iter_bvec(ITER_DEST, bv, len(bv), size)
            assert copy_to_iter(src, size, it) == size

        cases[f"copy_to_iter bvec x{len(bv)} ({name})"] = bvec

    kvs = [Kvec(src[k : k + (64 << 10)]) for k in range(0, size, 64 << 10)]

    def kvec_from():
        it = iov_iter_kvec(ITER_SOURCE, kvs, len(kvs), size)
        assert copy_from_iter(dmv, size, it) == size

    cases["copy_from_iter kvec (64 KiB segs)"] = kvec_from

    mm = UserMemory()
    base = mm.mmap(size)

    def user():
        it = iov_iter_init(ITER_DEST, [(base, size)], 1, size, mm=mm)
        assert copy_to_iter(src, size, it) == size

    cases["copy_to_iter iovec (model user memory, per-page walk)"] = user

    ref = None
    print(f"{args.mib} MiB per copy, best of {args.repeat}")
    for name, fn in cases.items():
        t = best(fn, args.repeat)
        rate = size / t / (1 << 20)
        ref = ref or t
        print(f"  {name:58s} {rate:9.0f} MiB/s   {t / ref:6.2f}x the reference time")


if __name__ == "__main__":
    main()
