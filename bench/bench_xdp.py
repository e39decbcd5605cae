"""XDP, tc and cgroup_skb programs on the native path, against socket filters and the kernel.

    python bench/bench_xdp.py [--count N] [--runs R] [--repeat K] [--json PATH]

Every ratio is between figures measured in this same run (the machine is shared:
compare ratios, not absolutes); times are medians of ``--runs``.

1. Capture throughput, in process: the N-frame capture of bench/make_capture.py
   (cycling the Ethernet frames of tests/data/pcaps) through each example's
   native runner (``pybpf.vm.actions.run_capture``: every frame copied into
   the packet buffer, run, its action counted), without and with the packets
   that leave collected for ``--write-pcap``. Reference: the seed's socket filter
   (examples/sockex1_kern.c) through ``PacketRunner.run_capture`` on the same
   capture. Target: the same speed (ratio >= 1.0 is as fast).
2. The same capture through the kernel: one BPF_PROG_TEST_RUN per frame
   (``replay_actions`` with the kernel backend) against pybpf's JIT.
3. Per-packet test run: ``Program.test_run(frame, repeat)`` with the JIT (the
   repeat loop native, mean ns per run) against the kernel's BPF_PROG_TEST_RUN
   repeat, on an ICMP echo request (the XDP example answers it with XDP_TX: a
   checksum recomputed through bpf_csum_diff) and on the same frame through the
   tc example (bpf_skb_vlan_push) and the cgroup_skb example. Target: <= 2x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from make_capture import BENCH_OUT, _count_ok, build_capture  # noqa: E402

EXAMPLES = ROOT / "examples"
PROGRAMS = {
    "xdp_proto_count": ROOT / "bench" / "xdp_proto_count.c",
    "xdp_firewall": EXAMPLES / "xdp_firewall_kern.c",
    "tc_vlan": EXAMPLES / "tc_vlan_kern.c",
    "cgroup_skb_bytes": EXAMPLES / "cgroup_skb_bytes_kern.c",
}
REFERENCE = EXAMPLES / "sockex1_kern.c"
ECHO = ROOT / "tests" / "data" / "pcaps" / "icmp_echo_veth.pcap"


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def capture(count: int) -> Path:
    out = BENCH_OUT / f"cycle-{count}.pcap"
    if not (out.exists() and _count_ok(out, count)):
        build_capture(out, count)
    return out


def _best(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return median(times)


def bench_capture(count: int, runs: int) -> list[dict[str, Any]]:
    import pybpf
    from pybpf.vm.actions import run_capture

    big = capture(count)
    ref = pybpf.load(REFERENCE, engine="jit")
    ref_runner = ref.program().packet_runner()
    ref_runner.run_capture(big)  # warm up
    rows = []
    for name, src in PROGRAMS.items():
        coll = pybpf.load(src, engine="jit")
        runner = coll.program().packet_runner()
        run_capture(runner, big)  # warm up
        kept: list[int] = []

        def sink(left: list[Any], kept: list[int] = kept) -> None:  # what a writer gets
            kept.append(len(left))

        def ref_run() -> None:
            ref_runner.run_capture(big)

        def act_run(r: Any = runner) -> None:
            run_capture(r, big)

        def out_run(r: Any = runner) -> None:
            run_capture(r, big, sink)

        pairs = [(_best(ref_run, 1), _best(act_run, 1), _best(out_run, 1)) for _ in range(runs)]
        t_ref, t_act, t_out = (median([p[i] for p in pairs]) for i in range(3))
        res = run_capture(runner, big)
        rows.append(
            {
                "program": name,
                "frames": count,
                "packets": res.packets,
                "retvals": {str(k): v for k, v in res.retvals.items()},
                "frames_per_s": count / t_act,
                "frames_per_s_writing": count / t_out,
                "socket_filter_frames_per_s": count / t_ref,
                "ratio_vs_socket_filter": t_ref / t_act,
                "ratio_writing_vs_socket_filter": t_ref / t_out,
            }
        )
        coll.close()
    ref.close()
    return rows


def bench_kernel_capture(count: int) -> list[dict[str, Any]]:
    """A whole capture through BPF_PROG_TEST_RUN, frame by frame, against the JIT."""
    import pybpf
    from pybpf.net.replay import replay_actions

    path = capture(count)
    rows = []
    for name, src in PROGRAMS.items():
        row: dict[str, Any] = {"program": name, "frames": count}
        coll = pybpf.load(src, engine="jit")
        row["pybpf_seconds"] = _best(lambda c=coll: replay_actions(c.program(), [path]), 1)
        coll.close()
        try:
            kc = pybpf.load(src, backend="kernel")
        except Exception as e:  # noqa: BLE001 - no bpf() here: say why
            row["kernel"] = f"not measured: {e}"
        else:
            row["kernel_seconds"] = _best(lambda c=kc: replay_actions(c.program(), [path]), 1)
            row["ratio_kernel_vs_pybpf"] = row["kernel_seconds"] / row["pybpf_seconds"]
            kc.close()
        rows.append(row)
    return rows


def bench_test_run(repeat: int, runs: int) -> list[dict[str, Any]]:
    import pybpf
    from pybpf.net.capture import read_packets

    frame = next(p.data for p in read_packets(ECHO) if p.data[34:35] == b"\x08")
    rows = []
    for name, src in PROGRAMS.items():
        pu = pybpf.load(src, engine="jit").program()
        row: dict[str, Any] = {"program": name, "repeat": repeat, "frame": len(frame)}
        row["pybpf_ns_per_run"] = median(
            [float(pu.test_run(frame, repeat=repeat).duration) for _ in range(runs)]
        )
        try:
            pk = pybpf.load(src, backend="kernel").program()
        except Exception as e:  # noqa: BLE001
            row["kernel"] = f"not measured: {e}"
        else:
            row["kernel_ns_per_run"] = median(
                [float(pk.test_run(frame, repeat=repeat).duration) for _ in range(runs)]
            )
            row["ratio_vs_kernel"] = row["pybpf_ns_per_run"] / max(row["kernel_ns_per_run"], 1)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--kernel-count", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=100_000)
    ap.add_argument("--json", type=Path, default=BENCH_OUT / "bench_xdp.json")
    args = ap.parse_args(argv)
    out = {
        "capture": bench_capture(args.count, args.runs),
        "kernel_capture": bench_kernel_capture(args.kernel_count),
        "test_run": bench_test_run(args.repeat, args.runs),
    }
    for r in out["capture"]:
        print(
            f"{r['program']:18} {r['frames_per_s'] / 1e6:6.2f} M frames/s "
            f"({r['frames_per_s_writing'] / 1e6:5.2f} collecting what leaves); "
            f"sockex1 {r['socket_filter_frames_per_s'] / 1e6:5.2f} M/s: "
            f"ratio {r['ratio_vs_socket_filter']:.2f} ({r['ratio_writing_vs_socket_filter']:.2f})"
        )
    for r in out["kernel_capture"]:
        if "kernel_seconds" in r:
            print(
                f"{r['program']:18} {r['frames']} frames: pybpf {r['pybpf_seconds']:.3f} s, "
                f"kernel test-run per frame {r['kernel_seconds']:.3f} s "
                f"(kernel/pybpf {r['ratio_kernel_vs_pybpf']:.1f}x)"
            )
    for r in out["test_run"]:
        k = r.get("kernel_ns_per_run")
        print(
            f"{r['program']:18} test_run repeat {r['repeat']}: pybpf "
            f"{r['pybpf_ns_per_run']:.0f} ns/run"
            + (f", kernel {k:.0f} ns/run, ratio {r['ratio_vs_kernel']:.2f}" if k else "")
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
