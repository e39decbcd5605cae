"""Running a support module in the kernel's unprivileged mode, for the verifier comparisons.

The child keeps uid 0 but has no capability at all (an empty bounding set, so exec
grants none): bpf() sees exactly what an unprivileged user gets, because the kernel
decides on CAP_BPF/CAP_SYS_ADMIN/CAP_PERFMON/CAP_NET_ADMIN, never on the uid, while
the child can still read a clone that sits in a private (0700) directory and the
venv it was installed into. /proc/sys/kernel/unprivileged_bpf_disabled is lowered to
0 for the run and put back afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

SYSCTL = Path("/proc/sys/kernel/unprivileged_bpf_disabled")
TESTS = Path(__file__).resolve().parents[1]


def run_module(module: str, *args: str, timeout: float) -> Any:
    """``python -m module args`` without capabilities; its JSON stdout, or a reason string."""
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    try:
        old = SYSCTL.read_text().strip()
    except OSError as e:
        return f"cannot read {SYSCTL}: {e}"
    env = {**os.environ, "PYTHONPATH": f"{TESTS.parent / 'src'}{os.pathsep}{TESTS}"}
    try:
        if old != "0":
            try:
                SYSCTL.write_text("0")
            except OSError as e:
                return f"cannot enable unprivileged bpf() ({SYSCTL}={old}): {e}"
        res = subprocess.run(
            [
                "setpriv",
                "--inh-caps=-all",
                "--ambient-caps=-all",
                "--bounding-set=-all",
                sys.executable,
                "-m",
                module,
                *args,
            ],
            capture_output=True,
            text=True,
            cwd="/",
            env=env,
            timeout=timeout,
        )
    finally:
        if SYSCTL.read_text().strip() != old:
            SYSCTL.write_text(old)
    assert res.returncode == 0, f"the unprivileged run failed: {res.stderr.strip()[-2000:]}"
    return json.loads(res.stdout)
