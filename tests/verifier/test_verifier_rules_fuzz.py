"""Differential fuzzing against the running kernel, on programs made of the issue-13 rules.

support/verifier_rulegen.py builds random programs from the rules pybpf once
got wrong (map access flags, JSET/JMP32 bounds, spilled pointers and atomics,
linked scalars, Spectre v1 paths, tail calls through two prog arrays, struct
bpf_map reads ...). Each is loaded into the kernel as root (here) and as an
unprivileged user (no capabilities, see support/unprivileged.py), and checked by pybpf in the same mode. pybpf must never accept what the
kernel refuses, must give the same verdict and, when both refuse, the kernel's
reason. The one tolerated difference: struct bpf_map reads beyond the
members pybpf models (offset 152 on) raise NotSupportedError.
"""

from __future__ import annotations

import pytest

from conftest import require_bpf
from pybpf.errors import NotSupportedError, VerifierError
from pybpf.maps import Map
from pybpf.verifier.check import Verifier
from support import unprivileged
from support import verifier_rulegen as rg

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

SEED, COUNT = 3, 10000


def _unprivileged(seed: int, count: int) -> list[dict] | str:
    res = unprivileged.run_module("support.verifier_rulegen", str(seed), str(count), timeout=1800)
    return res if isinstance(res, str) else list(res)


def _compare(kernel: list[dict], privileged: bool) -> None:
    maps = {n: Map(t, ks, vs, me, fl, name=n) for n, (t, ks, vs, me, fl) in rg.FUZZ_MAPS.items()}
    fds = {n: m.fd for n, m in maps.items()}
    gen = rg.RuleGen(SEED)
    problems: list[str] = []
    accepted = unmodelled = 0
    for i, k in enumerate(kernel):
        prog = rg.build(gen.program(), fds)
        try:
            Verifier(prog, privileged=privileged).verify()
            mine, why = True, ""
        except VerifierError as e:
            mine, why = False, e.message
        except NotSupportedError as e:
            assert "struct bpf_" in str(e) and "not modelled" in str(e), (i, str(e))
            unmodelled += 1
            continue
        accepted += k["ok"]
        if mine and not k["ok"]:
            problems.append(f"#{i} UNSAFE: kernel refuses ({k['line']!r}), pybpf accepts")
        elif mine != k["ok"]:
            problems.append(f"#{i}: kernel accepts, pybpf refuses ({why!r})")
        elif not mine and k["line"] and why not in k["line"].split(" | "):
            problems.append(f"#{i}: kernel says {k['line']!r}, pybpf {why!r}")
    assert accepted > COUNT // 20  # the generator reaches accepted programs too
    assert unmodelled < COUNT // 20
    assert not problems, f"{len(problems)} of {len(kernel)}:\n" + "\n".join(problems[:10])


def test_rules_agree_with_kernel_as_root() -> None:
    require_bpf()
    _compare(rg.kernel_verdicts(SEED, COUNT), privileged=True)


def test_rules_agree_with_kernel_unprivileged() -> None:
    require_bpf()
    kernel = _unprivileged(SEED, COUNT)
    if isinstance(kernel, str):
        pytest.skip(kernel)
    _compare(kernel, privileged=False)
