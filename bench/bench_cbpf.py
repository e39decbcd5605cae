"""Classic BPF speed: ``pybpf run --filter`` beside tcpdump, and seccomp emulation per call.

    python bench/bench_cbpf.py [--count N] [--filter EXPR] [--calls N]

1. Builds (or reuses) a capture of N records (default 1,000,000) cycling the
   Ethernet frames of tests/data/pcaps (bench/make_capture.py), then times, in
   this one run, ``tcpdump -r FILE -w /dev/null EXPR`` (libpcap's filter in C,
   wall time of the subprocess) and pybpf's ``run --filter`` path
   (:func:`pybpf.cbpf.capture.filter_captures`, in process) in each engine:
   the classic VM, the interpreter and the JIT running the converted eBPF. It
   checks that every engine matched as many packets as tcpdump, and prints
   packets/s and the ratio to tcpdump.
2. Times the seccomp emulation of one system call (a libseccomp-compiled
   policy with argument comparisons) per engine, in microseconds per call,
   beside the real kernel's answer (a forked child per call).

Measured, not asserted: the machine is shared; compare ratios from one run.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from make_capture import BENCH_OUT, _count_ok, build_capture, ethernet_frames  # noqa: E402

PCAPS = ROOT / "tests" / "data" / "pcaps"


def capture(count: int) -> Path:
    out = BENCH_OUT / f"cycle-tests-{count}.pcap"
    if not (out.exists() and _count_ok(out, count)):
        t = time.perf_counter()
        build_capture(out, count, ethernet_frames(PCAPS))
        print(f"built {out} ({count} records) in {time.perf_counter() - t:.1f} s")
    return out


def time_tcpdump(path: Path, expr: str) -> tuple[int, float] | None:
    exe = shutil.which("tcpdump")
    if exe is None:
        return None
    t = time.perf_counter()
    p = subprocess.run([exe, "-r", str(path), "-w", "/dev/null", expr], capture_output=True)
    dt = time.perf_counter() - t
    if p.returncode:
        print(f"tcpdump failed: {p.stderr.decode().strip()}")
        return None
    out = subprocess.run([exe, "-r", str(path), "--count", expr], capture_output=True, text=True)
    m = re.search(r"(\d+) packets?", out.stdout + out.stderr)
    return (int(m.group(1)) if m else -1), dt


def bench_filter(path: Path, count: int, expr: str) -> None:
    from pybpf.cbpf.capture import filter_captures

    td = time_tcpdump(path, expr)
    rows = []
    for engine in ("classic", "interp", "jit"):
        filter_captures(expr, [PCAPS / "ntp.pcap"], engine=engine)  # compile (JIT cache) first
        t = time.perf_counter()
        res = filter_captures(expr, [path], engine=engine)
        rows.append((engine, res.packets, res.accepted, time.perf_counter() - t))
    print(f"\ncapture: {path} ({count} packets), filter {expr!r}")
    print(f"{'what':40} {'matched':>9} {'seconds':>9} {'pkts/s':>12} {'x slower':>9}")
    if td is not None:
        matched, tsecs = td
        print(f"{'tcpdump -r FILE -w /dev/null':40} {matched:>9} {tsecs:>9.2f} "
              f"{count / tsecs:>12,.0f} {1:>9.1f}")  # fmt: skip
    for engine, n, acc, secs in rows:
        ratio = f"{secs / td[1]:>9.1f}" if td else f"{'-':>9}"
        print(f"{'pybpf run --filter (' + engine + ')':40} {acc:>9} {secs:>9.2f} "
              f"{n / secs:>12,.0f} {ratio}")  # fmt: skip
        if td is not None and acc != td[0]:
            print(f"  MISMATCH: {engine} matched {acc}, tcpdump {td[0]}")


def bench_seccomp(calls: int) -> None:
    from pybpf.seccomp import SeccompData, SeccompFilter, resolve_syscall
    from pybpf.seccomp.libseccomp import Arg, Policy

    with Policy("KILL_PROCESS") as p:
        for name in ("read", "write", "openat", "fstat", "mmap", "munmap", "brk", "exit_group",
                     "futex", "rt_sigaction", "rt_sigprocmask", "getpid", "clock_gettime"):  # fmt: skip
            p.add("ALLOW", name)
        p.add("ERRNO(1)", "close", Arg(0) == 5)
        p.add("ALLOW", "lseek", Arg(1) > 1 << 40)
        p.add("ERRNO(13)", "ioctl", Arg(1).masked(0xFF00) == 0x5400)
        raw = p.export()
    cases = [SeccompData(resolve_syscall(n), args=a) for n, a in
             (("read", ()), ("close", (5,)), ("lseek", (0, 1 << 41)), ("ioctl", (0, 0x5401)),
              ("execve", ()), ("clock_gettime", ()))]  # fmt: skip
    print(
        f"\nseccomp emulation: a {len(raw) // 8}-insn libseccomp policy, {calls} calls per engine"
    )
    print(f"{'engine':24} {'us/call':>10}")
    for engine in ("classic", "interp", "jit"):
        f = SeccompFilter(raw, engine=engine)
        t = time.perf_counter()
        for i in range(calls):
            f.evaluate(cases[i % len(cases)])
        print(f"{engine:24} {(time.perf_counter() - t) / calls * 1e6:>10.2f}")
    try:
        from pybpf.seccomp.kernel import run_in_kernel

        n = 50
        t = time.perf_counter()
        for i in range(n):
            d = cases[i % 4]
            run_in_kernel([raw], d.nr, d.args)
        print(f"{'kernel (forked child)':24} {(time.perf_counter() - t) / n * 1e6:>10.2f}")
    except Exception as e:  # noqa: BLE001 - the kernel comparison is optional here
        print(f"kernel runner not measured: {e}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000, help="records in the capture")
    ap.add_argument("--filter", default="tcp port 80 or (udp and port 53)", help="expression")
    ap.add_argument("--calls", type=int, default=20_000, help="seccomp calls per engine")
    args = ap.parse_args(argv)
    bench_filter(capture(args.count), args.count, args.filter)
    bench_seccomp(args.calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
