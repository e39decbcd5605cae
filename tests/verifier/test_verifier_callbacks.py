"""pybpf's verifier on callbacks passed to helpers (bpf_loop, bpf_for_each_map_elem).

The kernel refuses ld_imm64 BPF_PSEUDO_FUNC without BTF func_info ("missing btf
func_info"), so the cases are small C programs compiled with ``pybpf cc``: each
has the verdict Linux 6.18 gives (checked by the kernel tests below, root
only) and a substring both verifiers' logs must contain when they refuse.
pybpf's side runs without the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

import pybpf
from conftest import require_bpf
from pybpf.errors import BpfError, VerifierError
from pybpf.spec.cc import compile_c

HEADER = """#include <bpf_helpers.h>
char _license[] SEC("license") = "GPL";
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} arr SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} hsh SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} out SEC(".maps");
static void put(__u32 k, __u64 v)
{
	bpf_map_update_elem(&out, &k, &v, 0);
}
struct acc { __u64 sum; __u64 n; };
"""

MAIN_LOOP = """
SEC("socket")
int prog(struct __sk_buff *skb)
{
	struct acc a = { 0, 0 };
	long r = bpf_loop(NLOOPS, cb, &a, 0);
	put(0, r); put(1, a.sum); put(2, a.n);
	return 0;
}
"""

MAIN_FOREACH = """
SEC("socket")
int prog(struct __sk_buff *skb)
{
	struct acc a = { 0, 0 };
	__u32 k = 1; __u64 v = 5;
	bpf_map_update_elem(&MAP, &k, &v, 0);
	long r = bpf_for_each_map_elem(&MAP, cb, &a, 0);
	put(0, r); put(1, a.sum); put(2, a.n);
	return 0;
}
"""


@dataclass(frozen=True)
class CbCase:
    name: str
    body: str  # the callback ``cb`` and anything it needs, then a main
    accept: bool
    msg: str = ""  # substring of both logs when refused


def _loop(cb: str, n: str = "10") -> str:
    return cb + MAIN_LOOP.replace("NLOOPS", n)


def _foreach(cb: str, m: str = "arr") -> str:
    return cb + MAIN_FOREACH.replace("MAP", m)


CB_LOOP_OK = """
static long cb(__u32 i, struct acc *a)
{
	a->sum += i;
	a->n++;
	return 0;
}
"""

CB_FOREACH_OK = """
static long cb(void *map, __u32 *key, __u64 *val, struct acc *a)
{
	a->sum += *key + *val;
	a->n++;
	return 0;
}
"""

CASES = [
    CbCase("loop_ret0", _loop(CB_LOOP_OK), True),
    CbCase(
        "loop_ret2",
        _loop("static long cb(__u32 i, void *c) { return 2; }\n"),
        False,
        "At callback return the register R0 has smin=2 smax=2 should have been in [0, 1]",
    ),
    CbCase(
        "loop_ret_index",
        _loop("static long cb(__u32 i, void *c) { return i; }\n"),
        False,
        "should have been in [0, 1]",
    ),
    CbCase(
        "loop_stop_early",
        _loop(
            "static long cb(__u32 i, struct acc *a) { a->n++; return a->n >= 3; }\n",
            "1000",
        ),
        True,
    ),
    CbCase(
        "loop_ctx_stack_index",
        _loop(
            """
static long cb(__u64 i, struct acc *a)
{
	__u64 *p = (__u64 *)a;
	if (i < 2)
		p[i] += 7;
	return 0;
}
""",
        ),
        True,
    ),
    CbCase(
        "loop_ctx_stack_oob",
        _loop(
            """
static long cb(__u64 i, struct acc *a)
{
	__u64 *p = (__u64 *)a;
	if (i < 5)
		p[i] += 7;
	return 0;
}
""",
        ),
        False,
        "variable-offset",
    ),
    CbCase("loop_unknown_count", _loop(CB_LOOP_OK, "skb->len"), True),
    CbCase(
        "loop_not_a_function",
        """
SEC("socket")
int prog(struct __sk_buff *skb)
{
	struct acc a = { 0, 0 };
	return bpf_loop(1, (void *)0, &a, 0);
}
""",
        False,
        "R2 type=scalar expected=func",
    ),
    CbCase(
        "loop_ctx_scalar",
        """
static long cb(__u32 i, void *c) { return 0; }
SEC("socket")
int prog(struct __sk_buff *skb)
{
	return bpf_loop(1, cb, (void *)(long)skb->len, 0);
}
""",
        False,
        "R3 type=scalar expected=fp",
    ),
    CbCase("foreach_array_ok", _foreach(CB_FOREACH_OK), True),
    CbCase("foreach_hash_ok", _foreach(CB_FOREACH_OK, "hsh"), True),
    CbCase(
        "foreach_value_oob",
        _foreach(
            """
static long cb(void *map, __u32 *key, __u64 *val, struct acc *a)
{
	a->sum += val[1];
	return 0;
}
"""
        ),
        False,
        "invalid access to map value, value_size=8 off=8 size=8",
    ),
    CbCase(
        "foreach_key_oob",
        _foreach(
            """
static long cb(void *map, __u64 *key, __u64 *val, struct acc *a)
{
	a->sum += *key;
	return 0;
}
""",
            "hsh",
        ),
        False,
        "invalid access to map key, key_size=4 off=0 size=8",
    ),
    CbCase(
        "foreach_key_write",
        _foreach(
            """
static long cb(void *map, __u32 *key, __u64 *val, struct acc *a)
{
	*key = 3;
	return 0;
}
"""
        ),
        False,
        "write to change key",
    ),
    CbCase(
        "foreach_value_write",
        _foreach(
            """
static long cb(void *map, __u32 *key, __u64 *val, struct acc *a)
{
	*val += 1;
	a->n++;
	return 0;
}
"""
        ),
        True,
    ),
    CbCase(
        "foreach_ret2",
        _foreach(
            """
static long cb(void *map, __u32 *key, __u64 *val, void *c) { return 2; }
"""
        ),
        False,
        "At callback return the register R0 has smin=2 smax=2 should have been in [0, 1]",
    ),
]

CASES += [
    CbCase(
        "loop_zero_count_bad_callback",
        _loop("static long cb(__u32 i, void *c) { return 2; }\n", "0"),
        True,  # nr_loops 0: the callback is never visited (callback_depth >= umax)
    ),
    CbCase(
        "loop_nested",
        """
static long inner(__u32 i, struct acc *a)
{
	a->sum += 2;
	return 0;
}
static long cb(__u32 i, struct acc *a)
{
	a->n++;
	bpf_loop(3, inner, a, 0);
	return 0;
}
"""
        + MAIN_LOOP.replace("NLOOPS", "4"),
        True,
    ),
    CbCase(
        "foreach_prog_array",
        """
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 4);
} jmp SEC(".maps");
static long cb(void *map, __u32 *key, __u32 *val, void *c) { return 0; }
SEC("socket")
int prog(struct __sk_buff *skb)
{
	return bpf_for_each_map_elem(&jmp, cb, (void *)0, 0);
}
""",
        False,
        "callback function not allowed for map",
    ),
    CbCase(
        "foreach_null_ctx",
        """
static long cb(void *map, __u32 *key, __u64 *val, void *c) { return *val > 3; }
SEC("socket")
int prog(struct __sk_buff *skb)
{
	return bpf_for_each_map_elem(&hsh, cb, (void *)0, 0);
}
""",
        True,
    ),
    CbCase(
        "loop_callback_reads_uninit_r3",
        """
static long cb(__u32 i, void *c)
{
	long r;
	asm volatile("r0 = r3" : "=r"(r));
	return 0;
}
"""
        + MAIN_LOOP.replace("NLOOPS", "2"),
        False,
        "R3 !read_ok",
    ),
]

IDS = [c.name for c in CASES]


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("verifier_cb")
    out = {}
    for c in CASES:
        src = d / f"{c.name}.c"
        src.write_text(HEADER + c.body)
        out[c.name] = compile_c(src)
    return out


def _pybpf_verdict(obj: Path) -> tuple[bool, str]:
    try:
        pybpf.load(obj, backend="user", verify=True)
    except VerifierError as e:
        return False, e.log or e.message
    return True, ""


def _kernel_verdict(obj: Path) -> tuple[bool, str]:
    try:
        coll = pybpf.load(obj, backend="kernel")
    except BpfError as e:
        return False, (getattr(e, "log", "") or "") + str(e)
    coll.close()
    return True, ""


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pybpf_verdict(case: CbCase, objects: dict[str, Path]) -> None:
    ok, log = _pybpf_verdict(objects[case.name])
    assert ok == case.accept, log
    if not ok:
        assert case.msg in log


@pytest.mark.kernel
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_kernel_agrees(case: CbCase, objects: dict[str, Path]) -> None:
    require_bpf()
    ok, log = _kernel_verdict(objects[case.name])
    assert ok == case.accept, log
    if not ok:
        assert case.msg in log


def test_missing_func_info_is_refused() -> None:
    """Raw instructions with a BPF_PSEUDO_FUNC and no BTF, as the kernel refuses them."""
    from pybpf.isa import (
        BPF_ALU64,
        BPF_CALL,
        BPF_DW,
        BPF_EXIT,
        BPF_IMM,
        BPF_JMP,
        BPF_K,
        BPF_LD,
        BPF_MOV,
        Insn,
    )
    from pybpf.verifier.check import verify

    mov = BPF_ALU64 | BPF_MOV | BPF_K
    insns = [
        Insn(mov, 1, 0, 0, 1),
        Insn(BPF_LD | BPF_IMM | BPF_DW, 2, 4, 0, 5),  # r2 = the callback at slot 7
        Insn(mov, 3, 0, 0, 0),
        Insn(mov, 4, 0, 0, 0),
        Insn(BPF_JMP | BPF_CALL, 0, 0, 0, 181),  # bpf_loop
        Insn(BPF_JMP | BPF_EXIT),
        Insn(mov, 0, 0, 0, 0),
        Insn(BPF_JMP | BPF_EXIT),
    ]
    with pytest.raises(VerifierError, match="missing btf func_info"):
        verify(insns)


@pytest.mark.parametrize("name", ["loop_ret0", "loop_stop_early", "foreach_array_ok"])
def test_accepted_callbacks_run(name: str, objects: dict[str, Path]) -> None:
    coll = pybpf.load(objects[name], backend="user", verify=True)
    res = coll.program().test_run(bytes(64))
    assert res.retval == 0
    out = coll.maps["out"]
    vals = [int.from_bytes(out.lookup(i.to_bytes(4, "little")), "little") for i in range(3)]
    want = {
        "loop_ret0": [10, 45, 10],
        "loop_stop_early": [3, 0, 3],
        "foreach_array_ok": [4, 1 + 5 + 0 + 2 + 3, 4],
    }[name]
    assert vals == want


@pytest.mark.parametrize("name", ["loop", "foreach"])
def test_helper_test_programs_verify(name: str, tmp_path: Path) -> None:
    """The bpf_loop / for_each programs of tests/helpers/test_helpers_more.py (accepted by Linux,
    see test_helpers_more_kernel.py) also pass pybpf's verifier."""
    from helpers import test_helpers_more as hm

    src = tmp_path / f"{name}.c"
    src.write_text(hm.HEADER + hm.SOURCES[name])
    coll = pybpf.load(compile_c(src), backend="user", verify=True)
    assert coll.verifier
