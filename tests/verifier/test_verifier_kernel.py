"""pybpf's verifier against the running kernel's: the same verdict and reason on every case.

Each case of tests/support/verifier_corpus, each compiled example and the seed's macro
program is loaded into the kernel twice: as root, and as an unprivileged user
(no capabilities, see support/unprivileged.py). pybpf's verifier must give the same
verdict in both modes with the kernel's reason line, and the corpus's recorded
expectations must match too.
"""

from __future__ import annotations

import json

import pytest

from conftest import require_bpf
from support import unprivileged
from support import verifier_corpus as vc

pytestmark = pytest.mark.kernel

SYSCTL = unprivileged.SYSCTL
SYSCTL_BEFORE = SYSCTL.read_text().strip() if SYSCTL.exists() else None
CASES = {c.name: c for c in vc.ALL_CASES}


def _unprivileged_verdicts(examples: dict[str, str]) -> dict[str, dict] | str:
    """The corpus in the kernel without capabilities; a string is why it cannot be done."""
    return unprivileged.run_module("support.verifier_corpus.run", json.dumps(examples), timeout=600)


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return vc.example_objects(tmp_path_factory.mktemp("examples"))


@pytest.fixture(scope="module")
def kernel(examples: dict[str, str]) -> dict[str, dict]:
    require_bpf()
    root = vc.kernel_verdicts(examples)
    unpriv = _unprivileged_verdicts(examples)
    return {"root": root, "unpriv": unpriv}


NAMES = [c.name for c in vc.ALL_CASES] + list(vc.EXAMPLES)


def _pybpf(name: str, examples: dict[str, str], privileged: bool) -> dict:
    if name in CASES:
        return vc.pybpf_case_result(CASES[name], privileged)
    return vc.pybpf_example_result(examples[name], privileged)


def _compare(name: str, mode: str, kernel: dict, examples: dict[str, str]) -> None:
    verdicts = kernel[mode]
    if isinstance(verdicts, str):
        pytest.skip(verdicts)
    k = verdicts[name]
    if "skip" in k:
        pytest.skip(k["skip"])
    privileged = mode == "root"
    p = _pybpf(name, examples, privileged)
    assert p["ok"] == k["ok"], (
        f"{name} ({mode}): kernel {'accepts' if k['ok'] else 'refuses'} "
        f"({k['line']!r}), pybpf {'accepts' if p['ok'] else 'refuses'} ({p['line']!r})"
    )
    if not k["ok"] and k["line"] and not k["line"].startswith("BPF_PROG_LOAD failed"):
        # the reason: pybpf's message is one of the lines the kernel logged after the trail
        # (a refusal before the verifier runs, such as the size limit, leaves no log)
        assert p["line"] in k["line"].split(" | "), (
            f"{name} ({mode}): kernel says {k['line']!r}, pybpf {p['line']!r}"
        )
    if name in CASES:
        case = CASES[name]
        expected = case.priv if privileged else case.unpriv_verdict
        assert expected == k["ok"], f"{name}: the corpus records {expected} for {mode}"


@pytest.mark.parametrize("name", [vc.param(n) for n in NAMES])
def test_root_agrees(name: str, kernel: dict, examples: dict[str, str]) -> None:
    _compare(name, "root", kernel, examples)


@pytest.mark.parametrize("name", NAMES)
def test_unprivileged_agrees(name: str, kernel: dict, examples: dict[str, str]) -> None:
    _compare(name, "unpriv", kernel, examples)


def test_sysctl_restored(kernel: dict) -> None:
    """The unprivileged run must leave the sysctl as it found it."""
    assert SYSCTL.read_text().strip() == SYSCTL_BEFORE


def test_random_programs_agree_with_kernel() -> None:
    """Differential fuzzing: random and mutated programs get the kernel's verdict (root)."""
    require_bpf()
    from test_verifier_fuzz import Fuzzer

    from pybpf.errors import BpfError, KernelError, VerifierError
    from pybpf.isa import Insn
    from pybpf.kernel import syscall as sc
    from pybpf.verifier.check import Verifier

    f = Fuzzer(seed=77)
    kfds = {n: sc.map_create(t, ks, vs, me, fl) for n, (t, ks, vs, me, fl) in vc.MAPS.items()}
    to_kernel = {f.fds[n]: fd for n, fd in kfds.items()}
    corpus = f.corpus_programs()
    disagree: list[str] = []
    compared = 0
    try:
        for i in range(400):
            prog = f.mutate(f.rng.choice(corpus)) if i % 2 else f.random_program()
            try:
                Verifier(prog).verify()
                mine, why = True, ""
            except (VerifierError, BpfError) as e:
                mine, why = False, str(e)
            kprog = [
                Insn(x.code, x.dst, x.src, x.off, to_kernel.get(x.imm, x.imm), x.imm_hi)
                if x.is_lddw and x.src in (1, 2)
                else x
                for x in prog
            ]
            try:
                res = sc.prog_load_result(1, kprog, log_level=1, log_size=1 << 22)
                sc.close(res.fd)
                theirs, kwhy = True, ""
            except KernelError as e:
                theirs, kwhy = False, vc.error_line(e.log) or str(e)
            compared += 1
            if mine != theirs:
                disagree.append(f"kernel {theirs} ({kwhy}) pybpf {mine} ({why}): {prog!r}")
    finally:
        for fd in kfds.values():
            sc.close(fd)
    assert compared == 400
    assert not disagree, f"{len(disagree)} of {compared} disagree:\n" + "\n".join(disagree[:3])
