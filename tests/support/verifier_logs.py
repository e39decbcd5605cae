"""Verifier logs from the running kernel and from pybpf, made comparable line by line.

The one thing normalised: the immediate of an LD_IMM64 that loads a map
(``(18) r1 = 0xffff8881b74c5000``). As root the kernel prints the kernel
address of the map, which pybpf cannot know; both logs get ``<map>`` there,
and the alignment padding after it (which depends on the address's width)
becomes one space. Everything else must be equal.

``python -m support.verifier_logs`` (from tests/, as root) records the
kernel's logs of the cases in :data:`LOG_CASES` and of the examples into
tests/data/verifier/kernel_logs.json.gz, which test_verifier_log.py compares
with pybpf's without needing the kernel.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path
from typing import Any

from . import verifier_corpus as vc

DATA = Path(__file__).resolve().parents[1] / "data" / "verifier" / "kernel_logs.json.gz"
LEVELS = (1, 2)
_MAP_IMM = re.compile(r"(\(18\) r\d+ = )0x[0-9a-f]+( *;)?")
#: cases whose level-2 logs are too long to keep (a million processed instructions)
_TOO_BIG = frozenset(c.name for c in vc.BIG_CASES) | {
    "loop_never_ends_counter",
    "infinite_loop_self",
    "infinite_loop_unknown",
}
LOG_CASES = [c.name for c in vc.ALL_CASES if c.name not in _TOO_BIG]


def normalise(log: str) -> list[str]:
    """The log's lines with map addresses replaced (and pybpf's explanation dropped)."""
    log = log.split("\npybpf:", 1)[0]

    def sub(m: re.Match[str]) -> str:
        return m.group(1) + "<map>" + (" ;" if m.group(2) else "")

    return [_MAP_IMM.sub(sub, line) for line in log.splitlines()]


def pybpf_case_log(name: str, level: int) -> str:
    """pybpf's log (root) for the corpus case ``name`` (refused or not)."""
    case = {c.name: c for c in vc.ALL_CASES}[name]
    return str(vc.pybpf_case_result(case, True, level)["log"])


def pybpf_example_log(path: str, prog: str, level: int) -> str:
    """pybpf's log (root) for program ``prog`` of an example object or module."""
    from pybpf.errors import VerifierError
    from pybpf.loader import load
    from pybpf.verifier.check import Verifier

    coll = load(path, backend="user", verify=False)
    p = coll.programs[prog]
    ps = coll.spec.programs[prog]

    def resolve(insn: Any) -> Any:
        return insn.ref if insn.ref is not None else p._resolve_map(insn.imm)

    try:
        return (
            Verifier(
                p.insns,
                prog_type=p.prog_type,
                license=p.license,
                log_level=level,
                map_resolver=resolve,
                line_info=ps.line_info,
                func_info=ps.func_info,
                btf=ps.btf.btf if ps.btf is not None else None,
            )
            .verify()
            .log
        )
    except VerifierError as e:
        return e.log


def kernel_case_logs(names: list[str]) -> dict[str, dict[str, str]]:
    """The running kernel's logs (this process's credentials) for corpus cases."""
    from pybpf.errors import KernelError
    from pybpf.kernel import syscall as sc

    fds: dict[str, int] = {}
    for name, (t, ks, vs, n, fl) in vc.MAPS.items():
        try:
            fds[name] = sc.map_create(t, ks, vs, n, fl, name=name)
        except KernelError:
            pass
    cases = {c.name: c for c in vc.ALL_CASES}
    out: dict[str, dict[str, str]] = {}
    try:
        for name in names:
            case = cases[name]
            try:
                insns = case.build(fds)
            except KeyError:
                continue
            logs = {}
            for level in LEVELS:
                try:
                    res = sc.prog_load_result(
                        case.prog_type,
                        insns,
                        license=case.license,
                        log_level=level,
                        log_size=1 << 24,
                    )
                    sc.close(res.fd)
                    logs[str(level)] = res.log
                except KernelError as e:
                    logs[str(level)] = e.log or ""
            out[name] = logs
    finally:
        for fd in fds.values():
            sc.close(fd)
    return out


def kernel_example_logs(path: str) -> dict[str, dict[str, str]]:
    """The running kernel's logs for every program of an example (object or module)."""
    from pybpf.errors import KernelError
    from pybpf.loader import load

    out: dict[str, dict[str, str]] = {}
    for level in LEVELS:
        try:
            coll = load(path, backend="kernel", log_level=level)
        except KernelError as e:
            name = str(getattr(e, "prog", "") or "")
            out.setdefault(name, {})[str(level)] = getattr(e, "log", "") or ""
            continue
        try:
            for name, log in coll.verifier.items():
                out.setdefault(name, {})[str(level)] = str(log)
        finally:
            coll.close()
    return out


def record(outdir: str) -> None:
    """Record the kernel's logs of LOG_CASES and the examples into DATA."""
    examples = vc.example_objects(outdir)
    data = {
        "kernel": Path("/proc/version").read_text().split()[2],
        "cases": kernel_case_logs(LOG_CASES),
        "examples": {name: kernel_example_logs(path) for name, path in examples.items()},
    }
    DATA.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(DATA, "wt", encoding="utf-8") as f:
        json.dump(data, f, indent=0, sort_keys=True)


def recorded() -> dict[str, Any]:
    """The recorded kernel logs: {"kernel": release, "cases": ..., "examples": ...}."""
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        return dict(json.load(f))


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        record(d)
    print(f"recorded {DATA}", file=sys.stderr)
