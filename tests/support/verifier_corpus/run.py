"""Running the corpus: in the kernel (this process's credentials) and in pybpf."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from .builders import MAPS, Case

#: compiled examples and macro modules checked like the cases (examples/ of the repository)
EXAMPLES = ("sockex1_kern.c", "sockex2_kern.c", "sockex3_btf_kern.c", "sockex1_macros.py")
EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "examples"


def example_objects(outdir: str | os.PathLike[str]) -> dict[str, str]:
    """Compile the C examples into ``outdir``; name -> object path."""
    from pybpf.spec.cc import compile_c

    out: dict[str, str] = {}
    for name in EXAMPLES:
        src = EXAMPLES_DIR / name
        if name.endswith(".c"):
            obj = Path(outdir) / (Path(name).stem + ".o")
            compile_c(src, out_path=obj)
            out[name] = str(obj)
        else:
            out[name] = str(src)
    return out


class _Fds(dict):
    """Map fds by name; naming a map that could not be created skips the case."""

    def __init__(self, fds: dict[str, int], missing: dict[str, str]):
        super().__init__(fds)
        self.missing = missing

    def __missing__(self, key: str) -> int:
        raise LookupError(self.missing.get(key, f"no map {key!r}"))


def error_line(log: str) -> str:
    """The kernel's error: the lines after the last instruction of the trail, joined by ' | '."""
    # a message the kernel logs without its newline runs into the statistics line
    log = re.sub(r"(?<=\S)(processed \d+ insns \(limit)", r"\n\1", log)
    lines = [ln for ln in log.splitlines() if ln.strip()]
    last = -1
    for i, ln in enumerate(lines):
        head = ln.split(":", 1)[0]
        if head.isdigit() and ln[len(head) :].startswith(": ("):
            last = i
    tail = [
        ln
        for ln in lines[last + 1 :]
        if not ln.startswith(("processed ", "verification time", "cur state", "old state"))
    ]
    return " | ".join(tail) if tail else (lines[-1] if lines else "")


def kernel_verdicts(examples: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Load every case and example into the running kernel with this process's credentials.

    Returns name -> {"ok": bool, "errno": int, "line": kernel error line} or
    {"skip": reason} when a map the case needs cannot be created by this user.
    """
    import errno as E

    from pybpf.errors import BpfError, KernelError
    from pybpf.kernel import syscall as sc

    from . import ALL_CASES

    fds: dict[str, int] = {}
    missing: dict[str, str] = {}
    for name, (t, ks, vs, n, fl) in MAPS.items():
        try:
            fds[name] = sc.map_create(t, ks, vs, n, fl, name=name)
        except KernelError as e:
            missing[name] = f"map {name!r} cannot be created here: {E.errorcode.get(e.errno)}"
    m = _Fds(fds, missing)
    out: dict[str, dict[str, Any]] = {}
    for case in ALL_CASES:
        try:
            insns = case.build(m)
        except LookupError as e:
            out[case.name] = {"skip": str(e.args[0])}
            continue
        try:
            res = sc.prog_load_result(
                case.prog_type, insns, license=case.license, log_level=1, log_size=1 << 24
            )
            sc.close(res.fd)
            out[case.name] = {"ok": True, "errno": 0, "line": ""}
        except KernelError as e:
            out[case.name] = {"ok": False, "errno": e.errno, "line": error_line(e.log)}
    import pybpf

    for name, path in examples.items():
        try:
            coll = pybpf.load(path, backend="kernel")
            coll.close()
            out[name] = {"ok": True, "errno": 0, "line": ""}
        except KernelError as e:
            if getattr(e, "cmd", "") == "BPF_PROG_LOAD" or "BPF_PROG_LOAD" in str(e):
                out[name] = {"ok": False, "errno": e.errno, "line": error_line(e.log) or str(e)}
            else:
                out[name] = {"skip": f"a map cannot be created here: {e}"}
        except BpfError as e:
            out[name] = {"skip": f"{type(e).__name__}: {e}"}
    for fd in fds.values():
        sc.close(fd)
    return out


def pybpf_case_result(case: Case, privileged: bool, log_level: int = 0) -> dict[str, Any]:
    """pybpf's verdict on one case: {"ok", "errno", "line", "log", "index"}."""
    from pybpf.errors import VerifierError
    from pybpf.maps import Map
    from pybpf.verifier.check import Verifier

    maps = {name: Map(t, ks, vs, n, fl, name=name) for name, (t, ks, vs, n, fl) in MAPS.items()}
    insns = case.build({k: v.fd for k, v in maps.items()})
    try:
        res = Verifier(
            insns,
            prog_type=case.prog_type,
            privileged=privileged,
            license=case.license,
            log_level=log_level,
        ).verify()
        return {"ok": True, "errno": 0, "line": "", "log": res.log, "stats": res.stats}
    except VerifierError as e:
        return {"ok": False, "errno": e.errno, "line": e.message, "log": e.log, "index": e.index}


def pybpf_example_result(path: str, privileged: bool, log_level: int = 0) -> dict[str, Any]:
    """pybpf's verdict on every program of one example object (refused if any is)."""
    import pybpf
    from pybpf.errors import VerifierError

    coll = pybpf.load(path, backend="user", verify=False)
    stats = {}
    for name, prog in coll.programs.items():
        ps = coll.spec.programs[name]
        try:
            stats[name] = prog.verify(
                log_level=log_level, line_info=ps.line_info, privileged=privileged
            ).stats
        except VerifierError as e:
            return {
                "ok": False,
                "errno": e.errno,
                "line": e.message,
                "log": e.log,
                "index": e.index,
                "prog": name,
            }
    return {"ok": True, "errno": 0, "line": "", "stats": stats}


if __name__ == "__main__":  # run by tests/verifier/test_verifier_kernel.py without capabilities
    import json
    import sys

    json.dump(kernel_verdicts(json.loads(sys.argv[1])), sys.stdout)
