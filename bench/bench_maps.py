"""Map operations: pybpf's C maps against the kernel's maps, in the same run.

    python bench/bench_maps.py [--n N] [--json FILE]

Per map type (HASH, PERCPU_HASH, ARRAY, PERCPU_ARRAY, LRU_HASH, LPM_TRIE), with
half the entries present, the ns per operation of:

* pybpf API: ``Map.lookup`` / ``Map.update`` (BPF_ANY on a present key) from
  Python -- the argument checks plus one ctypes call into the C map; and that
  ctypes call alone (lookup);
* pybpf native: the map's ``ops->map_lookup_elem`` / ``map_update_elem`` called
  from C in a loop on one key (what the JIT and the batch engine pay; a small
  harness built here with the bundled zig clang);
* kernel bpf(): ``KernelMap.lookup`` / ``update``, the same MapFace API over the
  bpf() system call;
* kernel helper: bpf_map_lookup_elem / update_elem inside a program, from
  BPF_PROG_TEST_RUN's per-run duration with repeat (the same key every run),
  minus that of an empty program.

Ratios compare the two sides measured in this run; the machine is shared, so
read ratios, not absolutes.  Kernel columns need bpf() (root).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

HARNESS = r"""
#include <stdint.h>
#include <time.h>
#include "bpf_map.h"

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* ns per op over `iters` passes of the n keys (key_size bytes each) */
uint64_t bench_lookup(struct pybpf_map *map, const uint8_t *keys, uint32_t n, uint32_t iters)
{
    uint64_t t0 = now_ns(), sink = 0;

    for (uint32_t it = 0; it < iters; it++)
        for (uint32_t i = 0; i < n; i++)
            sink += (uintptr_t)map->ops->map_lookup_elem(map, keys + (uint64_t)i * map->key_size, 0);
    __asm__ volatile("" : : "r"(sink));
    return (now_ns() - t0) / ((uint64_t)n * iters);
}

uint64_t bench_update(struct pybpf_map *map, const uint8_t *keys, const uint8_t *value,
              uint32_t n, uint32_t iters)
{
    uint64_t t0 = now_ns();
    long err = 0;

    for (uint32_t it = 0; it < iters; it++)
        for (uint32_t i = 0; i < n; i++)
            err |= map->ops->map_update_elem(map, keys + (uint64_t)i * map->key_size, value, 0, 0);
    return err ? 0 : (now_ns() - t0) / ((uint64_t)n * iters);
}
"""


def cases():
    from pybpf import uapi as u

    return [
        ("HASH", u.BPF_MAP_TYPE_HASH, 4, 8, 1024, 0),
        ("PERCPU_HASH", u.BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 1024, 0),
        ("ARRAY", u.BPF_MAP_TYPE_ARRAY, 4, 8, 1024, 0),
        ("PERCPU_ARRAY", u.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1024, 0),
        ("LRU_HASH", u.BPF_MAP_TYPE_LRU_HASH, 4, 8, 1024, 0),
        ("LPM_TRIE", u.BPF_MAP_TYPE_LPM_TRIE, 8, 8, 1024, u.BPF_F_NO_PREALLOC),
    ]


def keys_for(mtype: int, ks: int, n: int) -> list[bytes]:
    from pybpf import uapi as u

    if mtype == u.BPF_MAP_TYPE_LPM_TRIE:
        return [(32).to_bytes(4, "little") + bytes([10, 1, i >> 8, i & 255]) for i in range(n)]
    return [i.to_bytes(ks, "little") for i in range(n)]


def per_op(fn, keys: list[bytes], rounds: int = 5) -> float:
    """Median over ``rounds`` of the ns per call of ``fn(key)`` over all keys."""
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for k in keys:
            fn(k)
        out.append((time.perf_counter_ns() - t0) / len(keys))
    return median(out)


def harness():
    from pybpf import native
    from pybpf.maps import clib

    d = Path(tempfile.mkdtemp(prefix="pybpf-bench-maps-"))
    src = d / "bench_maps_harness.c"
    src.write_text(HARNESS)
    _, headers = clib.library_paths()
    lib = native.library("pybpf_bench_maps", [src], [h for h in headers if h.name == "bpf_map.h"])
    lib.bench_lookup.restype = ctypes.c_uint64
    lib.bench_lookup.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint32]
    lib.bench_update.restype = ctypes.c_uint64
    lib.bench_update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p] + [
        ctypes.c_uint32
    ] * 2
    return lib


def prog_duration(map_fd: int, key: bytes, value: bytes | None, repeat: int) -> float:
    """Per-run ns of a socket filter calling lookup (or update) once, by BPF_PROG_TEST_RUN."""
    from pybpf.asm.macros import (
        BPF_ALU64_IMM,
        BPF_EMIT_CALL,
        BPF_EXIT_INSN,
        BPF_LD_MAP_FD,
        BPF_MOV64_IMM,
        BPF_MOV64_REG,
        BPF_ST_MEM,
    )
    from pybpf.isa import BPF_ADD, BPF_W
    from pybpf.kernel import syscall as sc
    from pybpf.uapi import (
        BPF_PROG_TYPE_SOCKET_FILTER,
        BPF_FUNC_map_lookup_elem,
        BPF_FUNC_map_update_elem,
    )

    insns = []
    if map_fd >= 0:
        for i in range(0, len(key), 4):
            insns.append(BPF_ST_MEM(BPF_W, 10, -16 + i, int.from_bytes(key[i : i + 4], "little")))
        if value is not None:
            for i in range(0, len(value), 4):
                w = int.from_bytes(value[i : i + 4], "little")
                insns.append(BPF_ST_MEM(BPF_W, 10, -32 + i, w))
        insns += [BPF_LD_MAP_FD(1, map_fd), BPF_MOV64_REG(2, 10), BPF_ALU64_IMM(BPF_ADD, 2, -16)]
        if value is None:
            insns.append(BPF_EMIT_CALL(BPF_FUNC_map_lookup_elem))
        else:
            insns += [
                BPF_MOV64_REG(3, 10),
                BPF_ALU64_IMM(BPF_ADD, 3, -32),
                BPF_MOV64_IMM(4, 0),
                BPF_EMIT_CALL(BPF_FUNC_map_update_elem),
            ]
    insns += [BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()]
    fd = sc.prog_load(BPF_PROG_TYPE_SOCKET_FILTER, insns)
    try:
        return median(sc.prog_test_run(fd, bytes(64), repeat=repeat).duration for _ in range(5))
    finally:
        sc.close(fd)


def bench(case, n: int, lib, kernel_ok: bool, repeat: int) -> dict[str, object]:
    from pybpf.kernel.maps import KernelMap
    from pybpf.maps import Map, clib

    name, mtype, ks, vs, me, flags = case
    m = Map(mtype, ks, vs, me, flags)
    keys = keys_for(mtype, ks, me)[: me // 2]
    uvalue = bytes(range(1, m.user_value_size + 1))
    pvalue = bytes(range(1, vs + 1))
    for k in keys:
        m.update(k, uvalue)
    sample = (keys * (n // len(keys) + 1))[:n]
    row: dict[str, object] = {"map": name}
    row["api_lookup"] = per_op(m.lookup, sample)
    row["api_update"] = per_op(lambda k: m.update(k, uvalue), sample)
    # the bare ctypes call the API makes (its own cost, without the argument checks)
    out = ctypes.create_string_buffer(m.user_value_size)
    call = clib.lib().pybpf_map_lookup_sys
    row["ctypes_lookup"] = per_op(lambda k: call(m.native, k, out, 0), sample)
    # native ops and the kernel's helper both on one key, repeated
    one = keys[1]
    row["native_lookup"] = median(lib.bench_lookup(m.native, one, 1, n * 20) for _ in range(5))
    row["native_update"] = median(
        lib.bench_update(m.native, one, pvalue, 1, n * 20) for _ in range(5)
    )
    if kernel_ok:
        km = KernelMap(mtype, ks, vs, me, flags)
        try:
            for k in keys:
                km.update(k, uvalue)
            row["bpf_lookup"] = per_op(km.lookup, sample)
            row["bpf_update"] = per_op(lambda k: km.update(k, uvalue), sample)
            empty = prog_duration(-1, b"", None, repeat)
            row["helper_lookup"] = max(prog_duration(km.fd, keys[1], None, repeat) - empty, 0.0)
            row["helper_update"] = max(prog_duration(km.fd, keys[1], pvalue, repeat) - empty, 0.0)
        finally:
            km.close()
    m.close()
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="operations per timed round")
    ap.add_argument("--repeat", type=int, default=100000, help="test-run repeat (kernel helper)")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    from pybpf.kernel import bpf_available

    kernel_ok, why = bpf_available()
    if not kernel_ok:
        print(f"(no kernel columns: {why})", file=sys.stderr)
    lib = harness()
    rows = [bench(c, args.n, lib, kernel_ok, args.repeat) for c in cases()]

    def cell(r, k):
        v = r.get(k)
        return f"{v:>9.0f}" if isinstance(v, float | int) else f"{'-':>9}"

    def ratio(r, a, b):
        x, y = r.get(a), r.get(b)
        return f"{x / y:>7.1f}x" if isinstance(x, float | int) and y else f"{'-':>8}"

    print("ns per operation (median of 5 rounds); ratio = pybpf / kernel")
    print(
        f"{'map':<14}{'op':<8}{'pybpf API':>10}{'(ctypes)':>10}{'bpf()':>10}{'ratio':>8}"
        f"{'pybpf C op':>12}{'kernel helper':>15}{'ratio':>8}"
    )
    for r in rows:
        for op in ("lookup", "update"):
            print(
                f"{r['map']:<14}{op:<8}{cell(r, 'api_' + op)} {cell(r, 'ctypes_' + op)}"
                f" {cell(r, 'bpf_' + op)}{ratio(r, 'api_' + op, 'bpf_' + op)}"
                f"   {cell(r, 'native_' + op)}      {cell(r, 'helper_' + op)}"
                f"{ratio(r, 'native_' + op, 'helper_' + op)}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
