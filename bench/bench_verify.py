"""Verification time per program: pybpf's verifier beside the running kernel's.

For every program of the examples (compiled C and the seed's macro module) and
the larger corpus cases, pybpf's verification time (best of --repeat runs) is
printed next to the kernel's own "verification time N usec" (BPF_PROG_LOAD
with log_level=BPF_LOG_STATS, measured in the same run), with the ratio and
both "processed N insns" counts.

    python bench/bench_verify.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import verifier_corpus as vc  # noqa: E402

from pybpf.verifier.check import Verifier  # noqa: E402

BPF_LOG_STATS = 4
LARGE = (
    "seed_macro_program",
    "loop_1000",
    "many_branches_pruned",
    "right_shift_bounds",
    "bounded_loop",
    "bounded_loop_jlt",
    "call_depth_8_ok",
    "value_var_index_ok",
    "size_4096_ok",
    "ringbuf_reserve_submit",
    "spill_bounded_fill",
    "jmp32_signed",
    "loop_never_ends_counter",
)


def _kernel_stats(log: str) -> tuple[float | None, int | None]:
    t = re.search(r"verification time (\d+) usec", log)
    n = re.search(r"processed (\d+) insns", log)
    return (int(t.group(1)) / 1e6 if t else None), (int(n.group(1)) if n else None)


def kernel_case(case: vc.Case) -> tuple[float | None, int | None]:
    from pybpf.errors import KernelError
    from pybpf.kernel import syscall as sc

    fds = {
        n: sc.map_create(t, ks, vs, me, fl)
        for n, (t, ks, vs, me, fl) in vc.MAPS.items()
        if n != "queue"
    }
    try:
        res = sc.prog_load_result(
            case.prog_type,
            case.build(fds),
            license=case.license,
            log_level=BPF_LOG_STATS,
            log_size=1 << 20,
        )
        sc.close(res.fd)
        return _kernel_stats(res.log)
    except KernelError as e:
        return _kernel_stats(e.log)
    finally:
        for fd in fds.values():
            sc.close(fd)


def pybpf_case(case: vc.Case, repeat: int) -> tuple[float, int]:
    from pybpf.errors import VerifierError
    from pybpf.maps import Map

    maps = {n: Map(t, ks, vs, me, fl, name=n) for n, (t, ks, vs, me, fl) in vc.MAPS.items()}
    insns = case.build({k: v.fd for k, v in maps.items()})
    best, n = float("inf"), 0
    for _ in range(repeat):
        v = Verifier(insns, prog_type=case.prog_type, license=case.license)
        try:
            v.verify()
        except VerifierError:
            pass
        best = min(best, v.stats.seconds)
        n = v.stats.insns_processed
    return best, n


def examples(outdir: str, repeat: int) -> list[tuple[str, float, int, float | None, int | None]]:
    import pybpf

    rows = []
    for name, path in vc.example_objects(outdir).items():
        kc = pybpf.load(path, backend="kernel", log_level=BPF_LOG_STATS)
        klog = dict(kc.verifier)
        kc.close()
        uc = pybpf.load(path, backend="user", verify=False)
        for pname, prog in uc.programs.items():
            ps = uc.spec.programs[pname]
            best, n = float("inf"), 0
            for _ in range(repeat):
                st = prog.verify(line_info=ps.line_info, func_info=ps.func_info).stats
                best, n = min(best, st.seconds), st.insns_processed
            kt, kn = _kernel_stats(klog.get(pname, ""))
            rows.append((f"{name}:{pname} ({len(prog.insns)} insns)", best, n, kt, kn))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        rows += examples(d, args.repeat)
    cases = {c.name: c for c in vc.ALL_CASES}
    for name in LARGE:
        c = cases[name]
        best, n = pybpf_case(c, 1 if name == "loop_never_ends_counter" else args.repeat)
        kt, kn = kernel_case(c)
        rows.append((f"corpus:{name}", best, n, kt, kn))
    print(
        f"{'program':<52} {'pybpf ms':>9} {'insns':>8} {'kernel ms':>9} {'insns':>8} {'ratio':>8}"
    )
    for label, pt, pn, kt, kn in rows:
        ratio = f"{pt / kt:8.0f}x" if kt else "       -"
        kts = f"{kt * 1e3:9.3f}" if kt is not None else "        -"
        print(
            f"{label:<52} {pt * 1e3:9.2f} {pn:>8} {kts} {kn if kn is not None else '-':>8} {ratio}"
        )


if __name__ == "__main__":
    main()
