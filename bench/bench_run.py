"""Throughput of ``pybpf run``: packets per second beside tcpdump on the same capture.

    python bench/bench_run.py [--count N] [--program sockex1|sockex2|PATH] [--engine interp|jit]

Builds (or reuses) the large capture of bench/make_capture.py (default 1,000,000
records cycling the Ethernet packets of ../shared/pcaps), then in this one run:

* ``read``: the capture reader alone (open_capture + iter_packets), the floor;
* ``pybpf run``: each program attached to a PacketSocket and run over every
  packet, in process (the same code as the command, without printing maps);
* ``tcpdump -r FILE -w /dev/null FILTER``: libpcap's classic-BPF filter
  (``ip proto 17`` by default; compiled to cBPF and run by libpcap's own
  interpreter in user space), as a subprocess, wall time.

It prints packets/s of each and pybpf's ratio to tcpdump. Measured, not
asserted: the machine is shared, so compare ratios from the same run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from make_capture import BENCH_OUT, _count_ok, build_capture  # noqa: E402

PROGRAMS = {
    "sockex1": ROOT / "examples" / "sockex1_kern.c",
    "sockex2": ROOT / "examples" / "sockex2_kern.c",
}


def capture(count: int) -> Path:
    out = BENCH_OUT / f"cycle-{count}.pcap"
    if not (out.exists() and _count_ok(out, count)):
        out.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        build_capture(out, count)
        print(f"built {out} ({count} records) in {time.perf_counter() - t:.1f} s")
    return out


def time_read(path: Path) -> tuple[int, float]:
    from pybpf.net.capture import open_capture

    t = time.perf_counter()
    n = 0
    with open_capture(path) as r:
        for _ in r.iter_packets():
            n += 1
    return n, time.perf_counter() - t


def time_pybpf(prog_path: Path, path: Path, engine: str) -> tuple[int, float, dict]:
    from pybpf.cli.run import load_collection, run_captures, select_program, with_engine

    coll = load_collection(prog_path)
    name, prog = select_program(coll, None)
    prog = with_engine(prog, engine, "user")
    t = time.perf_counter()
    res, _ = run_captures(prog, [str(path)], name=name)
    dt = time.perf_counter() - t
    return res.packets, dt, res.counters


def time_tcpdump(path: Path, expr: str) -> tuple[int | None, float] | None:
    exe = shutil.which("tcpdump")
    if exe is None:
        return None
    t = time.perf_counter()
    p = subprocess.run(
        [exe, "-r", str(path), "-w", "/dev/null", expr], capture_output=True, text=True
    )
    dt = time.perf_counter() - t
    if p.returncode != 0:
        print(f"tcpdump failed: {p.stderr.strip()}")
        return None
    return None, dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000, help="records in the capture")
    ap.add_argument(
        "--program",
        action="append",
        default=None,
        help="sockex1, sockex2 or a program path (repeatable; default both)",
    )
    ap.add_argument(
        "--engine",
        choices=("interp", "jit"),
        action="append",
        default=None,
        help="engine(s) to measure (repeatable; default interp and jit)",
    )
    ap.add_argument("--filter", default="ip proto 17", help="tcpdump filter expression")
    args = ap.parse_args(argv)

    path = capture(args.count)
    n, dt = time_read(path)
    rows = [("read only (pybpf.net.capture)", n, dt)]
    td = time_tcpdump(path, args.filter)
    from pybpf.errors import BpfError

    for prog in args.program or ["sockex1", "sockex2"]:
        prog_path = PROGRAMS.get(prog, Path(prog))
        for engine in args.engine or ["interp", "jit"]:
            try:
                pn, pdt, _counters = time_pybpf(prog_path, path, engine)
            except BpfError as e:
                print(f"{prog} ({engine}): not measured: {e}")
                continue
            rows.append((f"pybpf run {prog} ({engine})", pn, pdt))
    print(f"\ncapture: {path} ({n} packets)")
    print(f"{'what':44} {'packets':>10} {'seconds':>9} {'pkts/s':>12}")
    for what, cnt, secs in rows:
        print(f"{what:44} {cnt:>10} {secs:>9.2f} {cnt / secs:>12,.0f}")
    if td is not None:
        _, tsecs = td
        print(
            f"{'tcpdump -r FILE -w /dev/null ' + repr(args.filter):44} {n:>10} "
            f"{tsecs:>9.2f} {n / tsecs:>12,.0f}"
        )
        for what, cnt, secs in rows[1:]:
            print(f"ratio tcpdump / {what}: {(n / tsecs) / (cnt / secs):.1f}x")
    else:
        print("tcpdump not available: no reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
