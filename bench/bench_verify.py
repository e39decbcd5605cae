"""Verification per program: pybpf's verifier beside the running kernel's, one table.

For each program of the examples (the compiled C and the macro module) and of
the verifier corpus (tests/support/verifier_corpus), the table shows:

- ``insns``: the program's length;
- ``pybpf n`` / ``pybpf ms``: pybpf's "processed N insns" and its verification
  time (best of --repeat runs, log level 0);
- ``kernel n``: the running kernel's "processed N insns" (its log, level 4:
  statistics only);
- ``verify ms``: the kernel's own "verification time N usec" (same log);
- ``load ms``: the wall time of the BPF_PROG_LOAD system call (best of
  --repeat; it includes the kernel's verification, fixups and JIT);
- ``x load``: pybpf's time over the load time.

Programs the kernel refuses show their counts up to the refusal (marked ``!``).
By default the corpus part lists the cases the kernel needs 100 or more
processed instructions for (``--all``: every case). Needs root for the kernel
columns (without them they stay empty).

    python bench/bench_verify.py [--repeat 3] [--all]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import pybpf  # noqa: E402
from pybpf.errors import BpfError, KernelError, VerifierError  # noqa: E402
from pybpf.kernel import syscall as sc  # noqa: E402
from pybpf.maps import Map  # noqa: E402
from pybpf.verifier.check import Verifier  # noqa: E402
from support import verifier_corpus as vc  # noqa: E402

BPF_LOG_STATS = 4
#: corpus cases that take pybpf more than a second (a million processed instructions)
SLOW = {"loop_never_ends_counter"}


@dataclass
class Row:
    label: str
    insns: int
    pybpf_n: int | None = None
    pybpf_s: float | None = None
    kernel_n: int | None = None
    verify_s: float | None = None
    load_s: float | None = None
    refused: bool = False


def _stats(log: str) -> tuple[int | None, float | None]:
    n = re.search(r"processed (\d+) insns", log)
    t = re.search(r"verification time (\d+) usec", log)
    return (int(n.group(1)) if n else None), (int(t.group(1)) / 1e6 if t else None)


def _best(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _kernel_load(prog_type: int, insns: Sequence[Any], license: str, **kw: Any) -> Any:
    try:
        res = sc.prog_load_result(
            prog_type, insns, license, log_level=BPF_LOG_STATS, log_size=1 << 16, **kw
        )
        sc.close(res.fd)
        return res.log, False
    except KernelError as e:
        return e.log or "", True


def _pybpf(verifier: Callable[[], Verifier], repeat: int) -> tuple[int, float, bool]:
    best, n, refused = float("inf"), 0, False
    for _ in range(repeat):
        v = verifier()
        try:
            v.verify()
        except VerifierError:
            refused = True
        best, n = min(best, v.env.stats.seconds), v.env.stats.insns_processed
    return n, best, refused


def kernel_loads(path: str, repeat: int) -> dict[str, tuple[str, float]]:
    """Load an object into the kernel ``repeat`` times: program -> (log, best load time)."""
    real = sc.prog_load_result
    loads: dict[str, tuple[str, float]] = {}

    def timed(*a: Any, **kw: Any) -> Any:
        args = list(a)
        for i, (key, val) in enumerate((("log_level", BPF_LOG_STATS), ("log_size", 1 << 16)), 3):
            if len(args) > i:
                args[i] = val
            else:
                kw[key] = val
        name = args[5] if len(args) > 5 else kw.get("name", "")
        t0 = time.perf_counter()
        res = real(*args, **kw)
        secs = time.perf_counter() - t0
        if name not in loads or secs < loads[name][1]:
            loads[name] = (res.log, secs)
        return res

    sc.prog_load_result = timed  # type: ignore[assignment]
    try:
        for _ in range(repeat):
            pybpf.load(path, backend="kernel").close()
    except BpfError as e:
        print(f"{path}: the kernel refuses it: {e}", file=sys.stderr)
    finally:
        sc.prog_load_result = real  # type: ignore[assignment]
    return loads


def example_rows(repeat: int, kernel: bool) -> list[Row]:
    """Every program of every example: pybpf through the user backend, the kernel as loaded."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as d:
        for name, path in vc.example_objects(d).items():
            loads = kernel_loads(path, repeat) if kernel else {}
            coll = pybpf.load(path, backend="user", verify=False)
            for pname, prog in coll.programs.items():
                ps = coll.spec.programs[pname]

                def make(prog: Any = prog, ps: Any = ps) -> Verifier:
                    return Verifier(
                        prog.insns,
                        prog_type=prog.prog_type,
                        license=prog.license,
                        map_resolver=lambda insn: (
                            insn.ref if insn.ref is not None else prog._resolve_map(insn.imm)
                        ),
                        line_info=ps.line_info,
                        func_info=ps.func_info,
                        btf=ps.btf.btf if ps.btf is not None else None,
                    )

                n, secs, refused = _pybpf(make, repeat)
                row = Row(f"{name}:{pname}", len(prog.insns), n, secs, refused=refused)
                hit = loads.get(pname)
                if hit is not None:
                    row.kernel_n, row.verify_s = _stats(hit[0])
                    row.load_s = hit[1]
                rows.append(row)
    return rows


def corpus_rows(repeat: int, kernel: bool, every: bool) -> list[Row]:
    maps = {n: Map(t, ks, vs, me, fl, name=n) for n, (t, ks, vs, me, fl) in vc.MAPS.items()}
    mine = {k: m.fd for k, m in maps.items()}
    kfds: dict[str, int] = {}
    if kernel:
        for n, (t, ks, vs, me, fl) in vc.MAPS.items():
            try:
                kfds[n] = sc.map_create(t, ks, vs, me, fl, name=n)
            except KernelError:
                pass
    rows: list[Row] = []
    try:
        for case in vc.ALL_CASES:
            insns = case.build(mine)
            row = Row(f"corpus:{case.name}", len(insns))
            if kernel:
                try:
                    kinsns = case.build(kfds)
                except KeyError:
                    continue
                reps = 1 if case.name in SLOW else repeat
                secs, (log, _) = _best(
                    reps,
                    lambda case=case, kinsns=kinsns: _kernel_load(
                        case.prog_type, kinsns, case.license
                    ),
                )
                row.kernel_n, row.verify_s = _stats(log)
                row.load_s = secs
                if not every and (row.kernel_n or 0) < 100:
                    continue
            elif not every and case.name not in SLOW and len(insns) < 50:
                continue

            def make(insns: list[Any] = insns, case: Any = case) -> Verifier:
                return Verifier(insns, prog_type=case.prog_type, license=case.license)

            row.pybpf_n, row.pybpf_s, row.refused = _pybpf(make, 1 if case.name in SLOW else repeat)
            rows.append(row)
    finally:
        for fd in kfds.values():
            sc.close(fd)
    return rows


def _fmt(v: float | int | None, spec: str, width: int) -> str:
    return f"{v:{width}{spec}}" if v is not None else " " * (width - 1) + "-"


def table(rows: list[Row]) -> str:
    head = (
        f"{'program':<58} {'insns':>6} {'pybpf n':>8} {'pybpf ms':>9} "
        f"{'kernel n':>8} {'verify ms':>9} {'load ms':>8} {'x load':>7}"
    )
    out = [head, "-" * len(head)]
    for r in rows:
        ratio = r.pybpf_s / r.load_s if r.pybpf_s is not None and r.load_s else None
        label = r.label + (" !" if r.refused else "")
        out.append(
            f"{label[:58]:<58} {r.insns:>6} {_fmt(r.pybpf_n, 'd', 8)} "
            f"{_fmt(r.pybpf_s and r.pybpf_s * 1e3, '.2f', 9)} {_fmt(r.kernel_n, 'd', 8)} "
            f"{_fmt(r.verify_s and r.verify_s * 1e3, '.3f', 9)} "
            f"{_fmt(r.load_s and r.load_s * 1e3, '.3f', 8)} {_fmt(ratio, '.0f', 7)}"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--all", action="store_true", help="every corpus case")
    args = ap.parse_args()
    try:
        sc.close(sc.map_create(2, 4, 4, 1, 0))
        kernel = True
    except (KernelError, OSError):
        kernel = False
        print("no bpf() here: the kernel columns stay empty", file=sys.stderr)
    rows = example_rows(args.repeat, kernel) + corpus_rows(args.repeat, kernel, args.all)
    print(table(rows))


if __name__ == "__main__":
    main()
