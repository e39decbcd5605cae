"""The kernel's own eBPF samples and selftest programs, compiled by pybpf and run in both backends.

See tests/spec/kernel_corpus.py for what is done to each program; the corpus is
fetched by .ci/fetch-kernel-samples (Debian's linux-source package) and every
test here skips, naming that script, when it is absent. One test per file:

* a file pybpf cannot compile or read must say what it lacks and where (a header
  pybpf does not ship, a kfunc, a CO-RE relocation ...), at a C line;
* a socket filter, XDP, tc or cgroup_skb program both backends load must get the
  same verdict from pybpf's verifier as from the kernel's, and where it runs, the
  same results.

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
#: (file, program) -> why pybpf and the kernel disagree today (Linux 6.18, pybpf's verifier)
KNOWN: dict[tuple[str, str], str] = {
    (_S + "verifier_helper_access_var_len.c", "ptr_to_mem_or_null_7"): (
        "on frames whose first 8 bytes exceed 8 it returns a packet pointer (data + 8): "
        "pointer bits, which no second implementation reproduces"
    ),
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
