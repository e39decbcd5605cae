"""Per-packet time: pybpf's user-space interpreter against the kernel, in the same run.

    python bench/bench_kernel.py [--frames N] [--repeat R] [--pcap FILE]

For sockex1 and sockex2 (examples/*.c, loaded with pybpf.load in both
backends) it runs every frame of a capture (default: all Ethernet frames of
../shared/pcaps) and prints, per program:

* user: ``Program.run(frame)`` wall time per packet (best of 3 passes);
* kernel: BPF_PROG_TEST_RUN with ``repeat`` R on the same frame, the kernel's
  own per-run ``duration`` (ns, JIT or interpreter as the kernel has it), and
  the wall time of one ``KernelProgram.run`` call (syscall included);
* the ratios user/kernel.

The frame is presented from the MAC header in both backends
(``KernelProgram.run`` duplicates the Ethernet header for test-run, see there).
The machine is shared: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def frames_from(pcap: str | None, limit: int) -> list[bytes]:
    from pybpf.net.capture import open_capture

    shared = Path(os.environ.get("PYBPF_SHARED", ROOT.parent / "shared"))
    paths = [Path(pcap)] if pcap else sorted((shared / "pcaps").glob("*.pcap*"))
    out: list[bytes] = []
    for p in paths:
        try:
            for pkt in open_capture(p).iter_packets(strict=False, mode="ethernet"):
                if pkt.linktype == 1 and 14 <= len(pkt.data) <= 3000:
                    out.append(bytes(pkt.data))
        except Exception:  # noqa: BLE001 - a damaged capture just contributes fewer frames
            continue
    return out[:limit]


def bench(name: str, frames: list[bytes], repeat: int) -> dict[str, float]:
    import pybpf

    src = ROOT / "examples" / name
    user = pybpf.load(src, backend="user")
    kern = pybpf.load(src, backend="kernel")
    up, kp = user.program(), kern.program()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter_ns()
        for f in frames:
            up.run(f)
        best = min(best, (time.perf_counter_ns() - t0) / len(frames))
    k_dur = []
    for f in frames:
        data = f[:14] + f  # what KernelProgram.run passes (MAC header first)
        k_dur.append(kp.test_run(data, repeat=repeat).duration)
    k_ns = sum(k_dur) / len(k_dur)
    t0 = time.perf_counter_ns()
    for f in frames:
        kp.run(f)
    k_call = (time.perf_counter_ns() - t0) / len(frames)
    same = all(up.run(f) == kp.run(f) for f in frames)
    kern.close()
    return {
        "user_ns": best,
        "kernel_ns": max(k_ns, 1.0),
        "kernel_call_ns": k_call,
        "agree": float(same),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200, help="at most this many frames")
    ap.add_argument("--repeat", type=int, default=10000, help="test-run repeat per frame")
    ap.add_argument("--pcap", help="a capture instead of ../shared/pcaps")
    args = ap.parse_args()
    from pybpf.kernel import bpf_available

    ok, why = bpf_available()
    if not ok:
        print(f"bpf() is not available here: {why}", file=sys.stderr)
        return 1
    frames = frames_from(args.pcap, args.frames)
    if not frames:
        print("no Ethernet frames found", file=sys.stderr)
        return 1
    print(f"{len(frames)} frames, test-run repeat {args.repeat}")
    print(
        f"{'program':<18}{'user ns/pkt':>13}{'kernel ns/pkt':>15}{'ratio':>10}"
        f"{'kernel call ns':>16}{'ratio':>8}  same results"
    )
    for name in ("sockex1_kern.c", "sockex2_kern.c"):
        r = bench(name, frames, args.repeat)
        print(
            f"{name:<18}{r['user_ns']:>13.0f}{r['kernel_ns']:>15.1f}"
            f"{r['user_ns'] / r['kernel_ns']:>9.0f}x{r['kernel_call_ns']:>16.0f}"
            f"{r['user_ns'] / r['kernel_call_ns']:>7.1f}x  {bool(r['agree'])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
