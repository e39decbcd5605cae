"""The kernel's own eBPF samples and selftest programs, compiled by pybpf and run in both backends.

See tests/spec/kernel_corpus.py for what is done to each program; the corpus is
fetched by .ci/fetch-kernel-samples (Debian's linux-source package) and every
test here skips, naming that script, when it is absent. One test per file:

* a file pybpf cannot compile or read must say what it lacks and where (a header
  pybpf does not ship, a kfunc, a CO-RE relocation ...), at a C line;
* a socket filter both backends load must get the same verdict from pybpf's
  verifier as from the kernel's, and where it runs, the same results.

Disagreements pybpf has today are listed in KNOWN with what each side says, so
that the list shrinks as the verifier improves: a listed case that starts to
agree fails too, to be struck off. ``python tests/spec/kernel_corpus.py`` prints
the figures.
"""

from __future__ import annotations

import re

import kernel_corpus as kc
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.kernel]

_S = "tools/testing/selftests/bpf/progs/"
_DEAD_R10 = (
    "the kernel's range deduction proves the branch that writes r10 dead; pybpf's verifier "
    "explores it and refuses: frame pointer is read only"
)
_DEAD_R1 = (
    "the kernel's range deduction proves the branch that reads r1 after a call dead; pybpf's "
    "verifier explores it and refuses: R1 !read_ok"
)
#: (file, program) -> why pybpf and the kernel disagree today (Linux 6.18, pybpf's verifier)
KNOWN: dict[tuple[str, str], str] = {
    (
        _S + "loop4.c",
        "combinations",
    ): "pybpf's verifier walks 1,000,001 instructions (the complexity limit) where the kernel's state pruning accepts the loop",
    (
        _S + "verifier_array_access.c",
        "a_write_only_array_1_2",
    ): "pybpf accepts a read from a BPF_F_WRONLY_PROG array's value; the kernel refuses it: read from map forbidden",
    (_S + "verifier_bounds.c", "bounds_deduct_positive_overlap"): _DEAD_R10,
    (_S + "verifier_bounds.c", "signed_unsigned_intersection32_case1"): _DEAD_R10,
    (_S + "verifier_bounds.c", "signed_unsigned_intersection32_case2"): _DEAD_R10,
    (_S + "verifier_bounds_deduction_non_const.c", "deducing_bounds_from_non_const_5"): _DEAD_R1,
    (_S + "verifier_bounds_deduction_non_const.c", "deducing_bounds_from_non_const_6"): _DEAD_R1,
    (_S + "verifier_bounds_deduction_non_const.c", "deducing_bounds_from_non_const_7"): _DEAD_R1,
    (_S + "verifier_bounds_deduction_non_const.c", "deducing_bounds_from_non_const_8"): _DEAD_R1,
    (_S + "verifier_bounds_deduction_non_const.c", "deducing_bounds_from_non_const_21"): _DEAD_R1,
    (_S + "verifier_bounds_deduction_non_const.c", "deducing_bounds_from_non_const_22"): _DEAD_R1,
    (_S + "verifier_bounds_deduction_non_const.c", "deducing_bounds_from_non_const_23"): _DEAD_R1,
    (_S + "verifier_bounds_deduction_non_const.c", "deducing_bounds_from_non_const_24"): _DEAD_R1,
    (_S + "verifier_bounds_deduction_non_const.c", "deducing_bounds_from_non_const_25"): _DEAD_R1,
    (_S + "verifier_bounds_deduction_non_const.c", "deducing_bounds_from_non_const_30"): _DEAD_R1,
    (
        _S + "verifier_ld_ind.c",
        "ld_abs_subprog_early_exit",
    ): "pybpf accepts LD_ABS/LD_IND in a subprogram that leaves R9 unset; the kernel refuses: R9 !read_ok",
    (
        _S + "verifier_ld_ind.c",
        "ld_ind_subprog_early_exit",
    ): "pybpf accepts LD_ABS/LD_IND in a subprogram that leaves R9 unset; the kernel refuses: R9 !read_ok",
    (
        _S + "verifier_ld_ind.c",
        "ld_abs_void_subprog_reject",
    ): "pybpf accepts LD_ABS/LD_IND in a void subprogram; the kernel refuses: LD_ABS is only allowed in functions that return 'int'",
    (
        _S + "verifier_ld_ind.c",
        "ld_ind_void_subprog_reject",
    ): "pybpf accepts LD_ABS/LD_IND in a void subprogram; the kernel refuses: LD_ABS is only allowed in functions that return 'int'",
    (
        _S + "verifier_map_ptr.c",
        "ptr_read_ops_field_accepted",
    ): "the program reads map->ops from the kernel's struct bpf_map, which pybpf does not have (EFAULT at run time)",
    (_S + "verifier_movsx.c", "mov64sx_s32_varoff_2"): _DEAD_R10,
    (_S + "verifier_movsx.c", "mov64sx_s32_varoff_3"): _DEAD_R10,
    (_S + "verifier_reg_equal.c", "subreg_equality_1"): _DEAD_R1,
    (
        _S + "verifier_unpriv.c",
        "pass_pointer_to_tail_call",
    ): "the tail-call index is the context pointer's low 32 bits: 0 for pybpf's context address (slot 0 runs, 42), no slot for the kernel's (falls through, 0)",
}

_PARAMS = (
    [pytest.param(p, id=kc.rel(p)) for p in kc.sources()]
    if kc.present()
    else [pytest.param(None, marks=pytest.mark.skip(reason=kc.MISSING), id="absent")]
)
_OUTCOMES: list[kc.Outcome] = []


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return kc.build_env(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def frames():
    return kc.corpus_frames(), kc.corpus_frames(None)


_AT_LINE = re.compile(r"\.(c|h):\d+: ")


@pytest.mark.parametrize("src", _PARAMS)
def test_corpus_file(src, env, frames):
    from conftest import require_bpf

    require_bpf()
    outcomes = list(kc.run_file(src, env, *frames))
    _OUTCOMES.extend(outcomes)
    problems = []
    for o in outcomes:
        key = (o.file, o.program)
        known = KNOWN.get(key)
        if o.status in ("verdicts differ", "results differ"):
            if known is None:
                why = "; ".join(o.mismatches[:3]) or f"pybpf {o.user}; kernel {o.kernel}"
                problems.append(f"{o.program}: {o.status}: {why}")
        elif known is not None:
            problems.append(f"{o.program}: listed in KNOWN ({known}) but now {o.status}")
        if o.status in ("does not compile", "object refused") and not o.reason:
            problems.append(f"{o.status} without a reason")
        if o.status == "object refused" and not _AT_LINE.search(o.reason):
            problems.append(f"refused without naming the C line: {o.reason}")
    assert not problems, "\n".join(problems)


def test_figures():
    """Prints the corpus figures (after the per-file tests ran in this session)."""
    if not kc.present():
        pytest.skip(kc.MISSING)
    if not _OUTCOMES:
        pytest.skip("no corpus file ran in this session")
    text = kc.figures(_OUTCOMES)
    print("\n" + text)
    assert "programs:" in text
