"""The VM against its references, in one run: one table, one JSON file.

    python bench/bench_vm.py [--count N] [--runs R] [--ubpf DIR] [--json PATH] [--quick]

Every ratio is between figures measured in this same run (the machine is
shared: compare ratios, not absolutes); times are medians of ``--runs``.

1. Capture throughput: ``pybpf run PROG --pcap F --engine jit --json`` as a
   process, on the N-frame capture of bench/make_capture.py (cycling the Ethernet
   frames of tests/data/pcaps) and on a 1-frame capture; steady state is the
   difference (start-up, compilation and output cancel out). Reference:
   ``tcpdump -r F -w /dev/null FILTER``, whole process. Target: >= 1.0x.
2. Per-packet test run: ``Program.test_run(frame, repeat)`` with the JIT (the
   repeat loop native, mean ns per run) against the kernel's BPF_PROG_TEST_RUN
   repeat on the same program and frame: the seed's 12-instruction program
   (examples/sockex1_macros.py) and the flow dissector (examples/sockex2_kern.c),
   a 150-byte TCP frame given with its Ethernet header twice so that both see it
   from the MAC header as on a socket. Target: <= 2x the kernel. Also the fixed
   cost of one ``Program.run(frame)`` on the JIT.
3. ns per instruction on a byte-sum loop over 1,500 bytes (a load, two adds and a
   compare per byte): pybpf's interpreter against uBPF's C interpreter (target <=
   10x), pybpf's JIT against uBPF's x86-64 JIT. uBPF is built from its sources
   with the bundled zig clang when ``--ubpf DIR`` (a checkout of
   github.com/iovisor/ubpf) is given; otherwise that column says so. The JIT's
   per-instruction cost and its fixed cost per run come from two loop lengths.
4. Memory: peak RSS of each ``pybpf run`` process.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from make_capture import BENCH_OUT, _count_ok, build_capture, ethernet_frames  # noqa: E402

EXAMPLES = ROOT / "examples"
CAPTURE_PROGRAMS = {
    "sockex1": EXAMPLES / "sockex1_kern.c",
    "sockex2": EXAMPLES / "sockex2_kern.c",
}
TEST_RUN_PROGRAMS = {
    "sockex1_macros": EXAMPLES / "sockex1_macros.py",
    "sockex2 flow dissector": EXAMPLES / "sockex2_kern.c",
}
SUM_LOOP = """
mov %r0, 0
mov %r3, %r1
add %r3, %r2
jge %r1, %r3, out
loop:
ldxb %r4, [%r1]
add %r0, %r4
add %r1, 1
jlt %r1, %r3, loop
out:
exit
"""


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


# --- 1. capture throughput ---------------------------------------------------------------------


def capture(count: int) -> Path:
    out = BENCH_OUT / f"cycle-{count}.pcap"
    if not (out.exists() and _count_ok(out, count)):
        build_capture(out, count)
    return out


def _peak_rss(cmd: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in KiB, stdout) of a child process (wait4's rusage)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read() if p.stdout else b""
    err = p.stderr.read() if p.stderr else b""
    _pid, status, usage = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.decode().strip()[-300:]}")
    return dt, int(usage.ru_maxrss), out.decode()


def bench_capture(count: int, runs: int) -> list[dict[str, Any]]:
    big = capture(count)
    one = BENCH_OUT / "cycle-1.pcap"
    build_capture(one, 1, ethernet_frames()[:1])
    # the pybpf command of this checkout (PYTHONPATH decides which pybpf it is)
    env_cmd = [sys.executable, "-c", "from pybpf.cli import main; main()"]
    rows = []
    tcpdump = shutil.which("tcpdump")
    t_dump = None
    if tcpdump:
        times = [
            _peak_rss([tcpdump, "-r", str(big), "-w", "/dev/null", "ip proto 6"])[0]
            for _ in range(runs)
        ]
        t_dump = median(times)
    for name, src in CAPTURE_PROGRAMS.items():
        cmd = [*env_cmd, "run", str(src), "--engine", "jit", "--json", "--pcap"]
        _peak_rss([*cmd, str(one)])  # warm the JIT's disk cache
        # interleaved pairs: start-up noise hits both runs of a pair alike
        pairs = [(_peak_rss([*cmd, str(big)]), _peak_rss([*cmd, str(one)])) for _ in range(runs)]
        t_big = [b[0] for b, _o in pairs]
        t_one = [o[0] for _b, o in pairs]
        res = json.loads(pairs[-1][0][2])
        steady = max(median([b[0] - o[0] for b, o in pairs]), 1e-9)
        fps = count / steady
        inproc = _in_process(src, big)
        rows.append(
            {
                "program": name,
                "frames": count,
                "packets_reported": res.get("packets"),
                "seconds_whole": median(t_big),
                "seconds_one_frame": median(t_one),
                "frames_per_s_steady": fps,
                "frames_per_s_in_process": count / inproc,
                "tcpdump_seconds": t_dump,
                "tcpdump_frames_per_s": count / t_dump if t_dump else None,
                "ratio_vs_tcpdump": fps / (count / t_dump) if t_dump else None,
                "peak_rss_kib": max(b[1] for b, _o in pairs),
                "peak_rss_one_frame_kib": max(o[1] for _b, o in pairs),
            }
        )
    return rows


def _in_process(src: Path, capture_path: Path) -> float:
    """Seconds of the replay alone (PacketRunner.run_capture), best of three."""
    import pybpf

    coll = pybpf.load(src, engine="jit")
    runner = coll.program().packet_runner()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        runner.run_capture(capture_path)
        best = min(best, time.perf_counter() - t)
    coll.close()
    return best


# --- 2. per-packet test run ----------------------------------------------------------------


def _frame() -> bytes:
    """A 150-byte TCP/IPv4 frame from the test captures, Ethernet header given twice."""
    from pybpf.kernel.program import twice_mac_header

    for f in ethernet_frames():
        if len(f) >= 54 and f[12:14] == b"\x08\x00" and f[23] == 6:
            frame = f[:150].ljust(150, b"\0")
            return twice_mac_header(frame)
    raise SystemExit("no TCP frame in tests/data/pcaps")


def bench_test_run(repeat: int, runs: int) -> list[dict[str, Any]]:
    import pybpf

    data = _frame()
    rows = []
    for name, src in TEST_RUN_PROGRAMS.items():
        cu = pybpf.load(src, engine="jit")
        pu = cu.program()
        row: dict[str, Any] = {"program": name, "insns": len(pu.insns), "repeat": repeat}
        ours = [float(pu.test_run(data, repeat=repeat).duration) for _ in range(runs)]
        row["pybpf_ns_per_run"] = median(ours)
        t = time.perf_counter()
        n = 20_000
        frame = data[14:]
        for _ in range(n):
            pu.run(frame)
        row["pybpf_run_us"] = (time.perf_counter() - t) / n * 1e6
        try:
            ck = pybpf.load(src, backend="kernel")
        except Exception as e:  # noqa: BLE001 - no bpf() here: say why
            row["kernel"] = f"not measured: {e}"
        else:
            pk = ck.program()
            k = [float(pk.test_run(data, repeat=repeat).duration) for _ in range(runs)]
            row["kernel_ns_per_run"] = median(k)
            row["ratio_vs_kernel"] = row["pybpf_ns_per_run"] / max(row["kernel_ns_per_run"], 1)
            ck.close()
        cu.close()
        rows.append(row)
    return rows


# --- 3. ns per instruction ----------------------------------------------------------------


def build_ubpf(src: Path, out: Path) -> ctypes.CDLL:
    """uBPF's vm/ built with the bundled zig clang, with a timing harness beside it."""
    vm = src / "vm"
    if not (vm / "ubpf_vm.c").is_file():
        raise FileNotFoundError(f"{src} is not a uBPF checkout (no vm/ubpf_vm.c)")
    out.mkdir(parents=True, exist_ok=True)
    (out / "ubpf_config.h").write_text("#pragma once\n#define UBPF_HAS_ELF_H 1\n")
    (out / "harness.c").write_text(HARNESS)
    sources = [
        vm / n
        for n in (
            "ubpf_vm.c",
            "ubpf_jit.c",
            "ubpf_jit_x86_64.c",
            "ubpf_jit_arm64.c",
            "ubpf_jit_support.c",
            "ubpf_instruction_valid.c",
            "ubpf_safe.c",
            "ubpf_loader.c",
        )
    ]
    so = out / "libubpf_bench.so"
    cmd = [
        sys.executable, "-m", "ziglang", "cc", "-O2", "-shared", "-fPIC",
        f"-I{vm}", f"-I{vm / 'inc'}", f"-I{out}", "-o", str(so),
        *map(str, sources), str(out / "harness.c"), "-lm",
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    lib = ctypes.CDLL(str(so))
    lib.bench.restype = ctypes.c_double
    lib.bench.argtypes = [
        ctypes.c_char_p,
        ctypes.c_uint32,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_uint64,
        ctypes.POINTER(ctypes.c_uint64),
    ]
    return lib


HARNESS = r"""
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <ubpf.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
                          return t.tv_sec * 1e9 + t.tv_nsec; }
/* mean ns per run: the interpreter (jit 0) or the JIT (jit 1) */
double bench(const void *code, uint32_t len, void *mem, size_t mem_len, int jit,
             uint64_t reps, uint64_t *ret)
{
    struct ubpf_vm *vm = ubpf_create();
    char *err = NULL;
    double t0, t1;
    if (ubpf_load(vm, code, len, &err) < 0) { fprintf(stderr, "%s\n", err); return -1; }
    if (jit) {
        ubpf_jit_fn fn = ubpf_compile(vm, &err);
        if (!fn) { fprintf(stderr, "%s\n", err); return -1; }
        t0 = now();
        for (uint64_t i = 0; i < reps; i++) *ret = fn(mem, mem_len);
        t1 = now();
    } else {
        t0 = now();
        for (uint64_t i = 0; i < reps; i++) ubpf_exec(vm, mem, mem_len, ret);
        t1 = now();
    }
    ubpf_destroy(vm);
    return (t1 - t0) / reps;
}
"""


def _best(fn: Callable[[], float], runs: int) -> float:
    return min(fn() for _ in range(runs))


def bench_ns_per_insn(ubpf_dir: Path | None, runs: int) -> dict[str, Any]:
    """The byte-sum loop at two lengths in every engine (uBPF's when it can be built)."""
    from pybpf import isa
    from pybpf.asm.text import assemble
    from pybpf.vm.interp import Interpreter
    from pybpf.vm.jit import JitEngine
    from pybpf.vm.memory import Memory

    out: dict[str, Any] = {}
    lib = None
    if ubpf_dir is None:
        out["ubpf"] = "not measured: no --ubpf checkout given"
    else:
        try:
            lib = build_ubpf(ubpf_dir, Path(tempfile.mkdtemp(prefix="ubpf-")))
        except (OSError, subprocess.CalledProcessError) as e:
            out["ubpf"] = f"not built: {e}"
    insns = assemble(SUM_LOOP)
    code = isa.encode(insns)
    results: dict[int, dict[str, float]] = {}
    for n in (150, 1500):
        data = bytearray((i * 7) & 0xFF for i in range(n))
        res: dict[str, float] = {}
        for name, cls, reps in (("interp", Interpreter, 30), ("jit", JitEngine, 3000)):
            engine = cls(insns)
            mem = Memory()
            region = mem.add_region(data, name="mem")

            def once(
                e: Any = engine, m: Any = mem, r: Any = region, k: int = reps, size: int = n
            ) -> float:
                t = time.perf_counter_ns()
                for _ in range(k):
                    e.run(mem=m, r1=r.base, r2=size)
                return (time.perf_counter_ns() - t) / k

            res[name] = _best(once, runs)
            res["steps"] = engine.steps
        if lib is not None:
            buf = (ctypes.c_char * n).from_buffer(data)
            ret = ctypes.c_uint64()
            for name, jit, reps in (("ubpf_interp", 0, 300), ("ubpf_jit", 1, 30000)):
                res[name] = _best(
                    lambda j=jit, k=reps, b=buf, r=ret, size=n: lib.bench(
                        code, len(code), b, size, j, k, ctypes.byref(r)
                    ),
                    runs,
                )
        results[n] = res
    return _summarise(out, results)


def _summarise(out: dict[str, Any], results: dict[int, dict[str, float]]) -> dict[str, Any]:
    small, large = results[150], results[1500]
    insns = large["steps"] - small["steps"]
    summary: dict[str, Any] = {"insns_per_run_1500": large["steps"]}
    for name in ("interp", "jit", "ubpf_interp", "ubpf_jit"):
        if name in large:
            per_insn = (large[name] - small[name]) / insns
            summary[name] = {
                "ns_per_run_1500": large[name],
                "ns_per_insn": per_insn,
                "fixed_ns_per_run": large[name] - per_insn * large["steps"],
            }
    if "ubpf_interp" in summary:
        summary["interp_vs_ubpf_interp"] = (
            summary["interp"]["ns_per_insn"] / summary["ubpf_interp"]["ns_per_insn"]
        )
        summary["jit_vs_ubpf_jit"] = (
            summary["jit"]["ns_per_insn"] / summary["ubpf_jit"]["ns_per_insn"]
        )
    if "ubpf" in out:
        summary["ubpf"] = out["ubpf"]
    return summary


# --- the report ---------------------------------------------------------------------------


def _fmt(v: Any, unit: str = "", nd: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:,.{nd}f}{unit}"


def report(results: dict[str, Any]) -> str:
    lines = ["| what | pybpf | reference | ratio | target |", "|---|---|---|---|---|"]
    for r in results.get("capture", []):
        lines.append(
            f"| `pybpf run {r['program']} --engine jit`, {r['frames']:,} frames, steady state "
            f"| {_fmt(r['frames_per_s_steady'] / 1e6, ' Mframes/s', 2)} "
            f"| tcpdump -r: {_fmt((r['tcpdump_frames_per_s'] or 0) / 1e6, ' Mframes/s', 2)} "
            f"| {_fmt(r['ratio_vs_tcpdump'], 'x', 2)} | >= 1.0x |"
        )
        lines.append(
            f"| … whole process (1 frame / {r['frames']:,} frames); replay alone in process; "
            f"peak RSS (1 frame / {r['frames']:,}) "
            f"| {r['seconds_one_frame']:.2f} s / {r['seconds_whole']:.2f} s; "
            f"{r['frames_per_s_in_process'] / 1e6:.1f} Mframes/s; "
            f"{r['peak_rss_one_frame_kib'] / 1024:.0f} / {r['peak_rss_kib'] / 1024:.0f} MiB "
            f"| tcpdump: {_fmt(r['tcpdump_seconds'], ' s', 2)} | | |"
        )
    for r in results.get("test_run", []):
        lines.append(
            f"| `test_run` repeat {r['repeat']:,}, {r['program']} ({r['insns']} insns), JIT "
            f"| {_fmt(r['pybpf_ns_per_run'], ' ns/run', 0)} "
            f"| kernel JIT: {_fmt(r.get('kernel_ns_per_run', r.get('kernel')), ' ns/run', 0)} "
            f"| {_fmt(r.get('ratio_vs_kernel'), 'x', 2)} | <= 2x |"
        )
        lines.append(
            f"| `Program.run(frame)`, {r['program']}, JIT, one call "
            f"| {_fmt(r['pybpf_run_us'], ' us', 2)} | | | a few us |"
        )
    ins = results.get("ns_per_insn")
    if ins:
        ub = ins.get("ubpf_interp")
        lines.append(
            f"| byte-sum loop ({ins['insns_per_run_1500']:,} insns/run), interpreter "
            f"| {_fmt(ins['interp']['ns_per_insn'], ' ns/insn', 2)} "
            f"| uBPF interpreter: {_fmt(ub['ns_per_insn'] if ub else ins.get('ubpf'), ' ns/insn', 2)} "
            f"| {_fmt(ins.get('interp_vs_ubpf_interp'), 'x', 1)} | <= 10x |"
        )
        uj = ins.get("ubpf_jit")
        lines.append(
            f"| same loop, JIT (per insn; fixed per run) "
            f"| {_fmt(ins['jit']['ns_per_insn'], ' ns/insn', 3)}; "
            f"{_fmt(ins['jit']['fixed_ns_per_run'] / 1e3, ' us', 2)} "
            f"| uBPF JIT: {_fmt(uj['ns_per_insn'] if uj else '-', ' ns/insn', 3)}; "
            f"{_fmt(uj['fixed_ns_per_run'] / 1e3 if uj else None, ' us', 2)} "
            f"| {_fmt(ins.get('jit_vs_ubpf_jit'), 'x', 1)} | |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000, help="frames in the capture")
    ap.add_argument("--runs", type=int, default=5, help="repetitions per figure (median)")
    ap.add_argument("--repeat", type=int, default=1_000_000, help="test_run repeat")
    ap.add_argument("--ubpf", type=Path, default=None, help="a uBPF source checkout")
    ap.add_argument("--json", type=Path, default=BENCH_OUT / "bench_vm.json")
    ap.add_argument("--quick", action="store_true", help="a small capture and fewer repeats")
    args = ap.parse_args(argv)
    if args.quick:
        args.count, args.repeat, args.runs = 100_000, 100_000, 1
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
        "capture": bench_capture(args.count, args.runs),
        "test_run": bench_test_run(args.repeat, args.runs),
        "ns_per_insn": bench_ns_per_insn(args.ubpf, args.runs),
    }
    results["ns_per_insn"].pop("lib", None)
    table = report(results)
    print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({**results, "table": table}, indent=2, default=str))
    print(f"\n(written to {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
