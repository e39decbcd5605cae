"""pybpf's verifier without the kernel: corpus verdicts and messages, log, statistics, CLI.

The verdicts recorded in tests/verifier_corpus.py are the kernel's (checked
by tests/test_verifier_kernel.py); here every case must get them from pybpf
alone, with the recorded message substring in the error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pybpf.errors import VerifierError
from pybpf.verifier.check import Verifier
from pybpf.verifier.explain import explain
from support import verifier_corpus as vc

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CASES = {c.name: c for c in vc.ALL_CASES}


@pytest.mark.parametrize("name", [vc.param(n) for n in CASES])
def test_case_root(name: str) -> None:
    case = CASES[name]
    r = vc.pybpf_case_result(case, True)
    assert r["ok"] == case.priv, f"{name}: {r['line']}"
    if not case.priv and case.msg:
        assert case.msg in r["line"] or case.msg in r["log"], r["log"]


@pytest.mark.parametrize("name", list(CASES))
def test_case_unprivileged(name: str) -> None:
    case = CASES[name]
    r = vc.pybpf_case_result(case, False)
    assert r["ok"] == case.unpriv_verdict, f"{name}: {r['line']}"


def test_corpus_size_and_rules() -> None:
    assert len(vc.ALL_CASES) >= 150
    assert len({c.name for c in vc.ALL_CASES}) == len(vc.ALL_CASES)
    rules = " ".join(c.rule for c in vc.ALL_CASES)
    for rule in (
        "call depth",
        "combined stack",
        "subprogram",
        "R10",
        "PTR_TO_MEM",
        "spill",
        "JMP32",
        "signed",
        "unprivileged",
        "GPL",
        "LD_ABS",
    ):
        assert rule in rules, rule


def _case(name: str, privileged: bool = True, log_level: int = 0) -> dict:
    return vc.pybpf_case_result(CASES[name], privileged, log_level)


def test_error_carries_index_message_log() -> None:
    r = _case("null_deref_hash")
    assert r["index"] == 6
    assert r["line"] == "R0 invalid mem access 'map_value_or_null'"
    assert "R0 invalid mem access 'map_value_or_null'" in r["log"]
    assert "test it against 0" in r["log"].lower() or "against 0" in r["log"]


def test_verifier_error_api() -> None:
    insns = CASES["r0_not_set"].build({})
    with pytest.raises(VerifierError) as ei:
        Verifier(insns).verify()
    e = ei.value
    assert e.index == 0 and e.message == "R0 !read_ok" and e.errno == 13
    assert "R0 !read_ok" in e.log and "pybpf:" in e.log


def test_log_level_0_has_only_the_error() -> None:
    log = _case("value_bounded_off_by_one", log_level=0)["log"]
    assert not re.search(r"^\d+: \(", log, re.M)
    assert log.startswith("invalid access to map value")


def test_statistics() -> None:
    r = _case("loop_1000")
    st = r["stats"]
    assert st.insns_processed == 3003
    assert st.total_states > 0 and st.peak_states >= 1
    assert st.stack_depth == [0]
    assert st.line().startswith("processed 3003 insns (limit 1000000) max_states_per_insn ")
    r = _case("stack_rw_ok")
    assert r["stats"].stack_depth == [512]


@pytest.mark.slow
def test_complexity_limit() -> None:
    r = _case("loop_never_ends_counter")
    assert r["errno"] == 7 and r["line"] == "BPF program is too large. Processed 1000001 insn"
    assert explain(r["line"]) is not None


@pytest.mark.parametrize(
    "msg,words",
    [
        ("R0 invalid mem access 'map_value_or_null'", "bpf_map_lookup_elem"),
        ("R0 invalid mem access 'ringbuf_mem_or_null'", "bpf_ringbuf_reserve"),
        ("R2 !read_ok", "R2 is read before"),
        ("invalid access to map value, value_size=16 off=9 size=8", "16 bytes long"),
        ("combined stack size of 2 calls is 544. Too large", "544 bytes"),
        ("infinite loop detected at insn 1", "instruction 1"),
    ],
)
def test_explanations(msg: str, words: str) -> None:
    text = explain(msg)
    assert text is not None and words in text


def test_every_refusal_in_corpus_is_explained() -> None:
    missing = []
    for c in vc.ALL_CASES:
        for priv in (True, False):
            if priv and c.name in vc.SLOW:
                continue  # test_complexity_limit
            r = vc.pybpf_case_result(c, priv)
            if not r["ok"] and explain(r["line"]) is None:
                missing.append(f"{c.name}: {r['line']}")
    assert not missing, missing


def test_examples_accepted_and_fast() -> None:
    for name in ("sockex1_kern.c", "sockex2_kern.c", "sockex3_btf_kern.c", "sockex1_macros.py"):
        r = vc.pybpf_example_result(str(EXAMPLES / name), True)
        assert r["ok"], (name, r.get("line"))
        for st in r["stats"].values():
            assert st.seconds < 5.0


def test_source_line_in_refusal() -> None:
    """sockex3 calls a subprogram; unprivileged it is refused, naming the C line."""
    r = vc.pybpf_example_result(str(EXAMPLES / "sockex3_btf_kern.c"), False)
    assert not r["ok"]
    assert "loading/calling other bpf or kernel functions are allowed" in r["line"]
    assert re.search(r"pybpf: at insn \d+, .*sockex3_btf_kern\.c:\d+: ", r["log"])


# --------------------------------------------------------------------- CLI
BAD_MODULE = """
from pybpf.spec.types import MapSpec
from pybpf.asm.builder import *  # noqa
from pybpf.isa import Insn
MAPS = {"m": MapSpec(name="m", type=1, key_size=4, value_size=8, max_entries=4)}
def build(maps):
    m = maps["m"]
    return [Insn(0x62, 10, 0, -4, 0), Insn(0xbf, 2, 10), Insn(0x07, 2, 0, 0, -4),
            Insn(0x18, 1, 1, 0, m.fd), Insn(0x85, 0, 0, 0, 1), Insn(0x79, 0, 0, 0, 0),
            Insn(0x95)]
"""


def _cli(args: list[str]) -> tuple[int, str]:
    from pybpf.cli import main

    res = CliRunner().invoke(main, args)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output


def test_cli_accepts() -> None:
    code, out = _cli(["verify", str(EXAMPLES / "sockex1_macros.py")])
    assert code == 0
    assert re.search(r"processed \d+ insns \(limit 1000000\)", out)
    assert "verification time" in out


def test_cli_refuses_with_log(tmp_path: Path) -> None:
    mod = tmp_path / "bad.py"
    mod.write_text(BAD_MODULE)
    code, out = _cli(["verify", str(mod), "--log-level", "1"])
    assert code == 1
    assert "R0 invalid mem access 'map_value_or_null'" in out
    assert "5: (85) call bpf_map_lookup_elem#1" in out
    assert "Traceback" not in out


def test_cli_unpriv_and_section() -> None:
    code, out = _cli(["verify", str(EXAMPLES / "sockex3_btf_kern.c"), "--unpriv"])
    assert code == 1 and "CAP_BPF" in out
    code, out = _cli(["verify", str(EXAMPLES / "sockex3_btf_kern.c"), "--section", "nope"])
    assert code == 1 and "no program in section" in out


BAD_C = r"""
#include <bpf_net.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
} counts SEC(".maps");

SEC("socket")
int count(struct __sk_buff *skb)
{
	__u32 key = skb->protocol;
	__u64 *value = bpf_map_lookup_elem(&counts, &key);
	return *value;  /* no NULL check */
}

char _license[] SEC("license") = "GPL";
"""


def test_c_source_line_in_refusal(tmp_path: Path) -> None:
    """A compiled program's refusal names the C line of the failing instruction."""
    src = tmp_path / "bad_null.c"
    src.write_text(BAD_C)
    code, out = _cli(["verify", str(src)])
    assert code == 1
    assert "invalid mem access 'map_value_or_null'" in out
    assert "bpf_map_lookup_elem" in out  # the explanation
    assert re.search(r"bad_null\.c:16: .*return \*value;", out), out
