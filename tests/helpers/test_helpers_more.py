"""Callback, dynptr, timer, task and socket-cast helpers (pybpf.helpers.callbacks, pybpf.helpers.dynptr,
pybpf.helpers.timers, pybpf.helpers.tasks) and the interpreter's call_subprog / run_subprog.

The C programs here are also run in the kernel by tests/test_helpers_more_kernel.py,
which requires the same map contents from both backends.
"""

from __future__ import annotations

import errno
import os
import signal
import time
import types
from pathlib import Path

import pytest

import pybpf
from pybpf import isa, uapi
from pybpf.asm.macros import (
    BPF_ALU64_IMM,
    BPF_DW,
    BPF_EMIT_CALL,
    BPF_EXIT_INSN,
    BPF_JMP_IMM,
    BPF_LD_IMM64,
    BPF_LD_IMM64_RAW,
    BPF_LD_MAP_FD,
    BPF_LDX_MEM,
    BPF_MOV64_IMM,
    BPF_MOV64_REG,
    BPF_REG_0,
    BPF_REG_1,
    BPF_REG_2,
    BPF_REG_3,
    BPF_REG_4,
    BPF_REG_5,
    BPF_REG_6,
    BPF_REG_7,
    BPF_REG_10,
    BPF_ST_MEM,
    BPF_STX_MEM,
    BPF_W,
)
from pybpf.errors import BpfError, MemoryAccessError, NotSupportedError, VmError
from pybpf.helpers import HELPERS, REFUSED, helper_by_name, timers
from pybpf.helpers.callbacks import BPF_MAX_LOOPS
from pybpf.helpers.dynptr import (
    BPF_DYNPTR_TYPE_LOCAL,
    BPF_DYNPTR_TYPE_RINGBUF,
    DYNPTR_MAX_SIZE,
    read_dynptr,
)
from pybpf.helpers.tasks import Task, VmArea, current_task
from pybpf.maps.base import Map
from pybpf.progtypes import SOCKET_FILTER_HELPERS
from pybpf.spec.cc import compile_c
from pybpf.user.program import Program
from pybpf.vm.interp import RunEnv
from pybpf.vm.memory import Memory

M64 = (1 << 64) - 1
#: an Ethernet + IPv4 frame long enough for BPF_PROG_TEST_RUN
FRAME = bytes(12) + b"\x08\x00" + bytes([0x45]) + bytes(63)


def neg(e: int) -> int:
    return (-e) & M64


# --- the C programs (shared with the kernel test) ---------------------------------------------

HEADER = """#include <bpf_helpers.h>
char _license[] SEC("license") = "GPL";
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 24);
} out SEC(".maps");
static void put(__u32 k, __u64 v)
{
	bpf_map_update_elem(&out, &k, &v, 0);
}
"""

SOURCES: dict[str, str] = {
    "loop": """
struct ctx { __u64 sum; __u32 stop; };
static long cb(__u32 i, void *data)
{
	struct ctx *c = data;
	c->sum += i * 3 + 1;
	return i == c->stop ? 1 : 0;
}
SEC("socket")
int prog(struct __sk_buff *skb)
{
	struct ctx c = { .sum = 0, .stop = 1000 };
	long r = bpf_loop(10, cb, &c, 0);
	put(0, r); put(1, c.sum);
	c.stop = 4; c.sum = 0;
	r = bpf_loop(10, cb, &c, 0);
	put(2, r); put(3, c.sum);
	put(4, bpf_loop(1, cb, &c, 1));
	put(5, bpf_loop((1 << 23) + 1, cb, &c, 0));
	put(6, bpf_loop(0, cb, &c, 0));
	return 7;
}
""",
    "foreach": """
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 6);
} arr SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
	__uint(map_flags, 64); /* BPF_F_ZERO_SEED: the same bucket order in both backends */
} hsh SEC(".maps");
struct walk { __u64 keysum; __u64 valsum; __u64 order; __u32 stop_after; __u32 seen; };
static long visit(void *map, __u32 *key, __u64 *val, struct walk *w)
{
	w->keysum += *key;
	w->valsum += *val;
	w->order = w->order * 31 + *key;
	*val += 100;
	w->seen++;
	return w->seen == w->stop_after ? 1 : 0;
}
#define ASET(i) do { __u32 kk = (i); __u64 vv = (i) * (i); \\
	bpf_map_update_elem(&arr, &kk, &vv, 0); } while (0)
#define HSET(i) do { __u32 kk = (i) * 7 + 3; __u64 vv = (i) + 1000; \\
	bpf_map_update_elem(&hsh, &kk, &vv, 0); } while (0)
SEC("socket")
int prog(struct __sk_buff *skb)
{
	struct walk w = {};
	ASET(0); ASET(1); ASET(2); ASET(3); ASET(4); ASET(5);
	HSET(0); HSET(1); HSET(2); HSET(3); HSET(4); HSET(5); HSET(6); HSET(7); HSET(8);
	put(0, bpf_for_each_map_elem(&arr, visit, &w, 0));
	put(1, w.keysum); put(2, w.valsum); put(3, w.order);
	w = (struct walk){ .stop_after = 3 };
	put(4, bpf_for_each_map_elem(&arr, visit, &w, 0));
	put(5, w.valsum);
	w = (struct walk){};
	put(6, bpf_for_each_map_elem(&hsh, visit, &w, 0));
	put(7, w.keysum); put(8, w.valsum); put(9, w.order);
	w = (struct walk){ .stop_after = 4 };
	put(10, bpf_for_each_map_elem(&hsh, visit, &w, 0));
	put(11, w.order);
	put(12, bpf_for_each_map_elem(&hsh, visit, &w, 1));
	return 1;
}
""",
    "foreach_delete": """
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
	__uint(map_flags, 64); /* BPF_F_ZERO_SEED */
} hsh SEC(".maps");
struct walk { __u64 order; __u32 seen; };
static long visit(void *map, __u32 *key, __u64 *val, struct walk *w)
{
	__u32 k = *key;
	w->order = w->order * 131 + k;
	w->seen++;
	if (k & 1)
		bpf_map_delete_elem(&hsh, &k);   /* the element being visited */
	else {
		__u32 other = k ^ 1;             /* maybe one further on */
		bpf_map_delete_elem(&hsh, &other);
	}
	return 0;
}
#define HSET(i) do { __u32 kk = (i); __u64 vv = (i) + 1000; \\
	bpf_map_update_elem(&hsh, &kk, &vv, 0); } while (0)
SEC("socket")
int prog(struct __sk_buff *skb)
{
	struct walk w = {};
	HSET(0); HSET(1); HSET(2); HSET(3); HSET(5); HSET(6); HSET(7); HSET(8); HSET(9);
	put(0, bpf_for_each_map_elem(&hsh, visit, &w, 0));
	put(1, w.order);
	put(2, w.seen);
	return 1;
}
""",
    "dynptr": """
struct scratch { char b[16]; };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct scratch);
	__uint(max_entries, 1);
} mem SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");
SEC("socket")
int prog(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&mem, &zero);
	char dst[8] = {};
	struct bpf_dynptr d, r;
	char *buf, *p;
	__u64 x;

	if (!sc)
		return 0;
	buf = sc->b;
	__builtin_memcpy(buf, "abcdefghijklmno", 16);
	put(0, bpf_dynptr_from_mem(buf, 16, 0, &d));
	put(1, bpf_dynptr_read(dst, 4, &d, 3, 0));
	__builtin_memcpy(&x, dst, 8);
	put(2, x);
	put(3, bpf_dynptr_read(dst, 8, &d, 9, 0));
	put(4, bpf_dynptr_read(dst, 4, &d, 0, 1));
	put(5, bpf_dynptr_write(&d, 10, "XYZ", 3, 0));
	put(6, bpf_dynptr_write(&d, 14, "XYZ", 3, 0));
	put(7, bpf_dynptr_write(&d, 0, "XYZ", 3, 2));
	__builtin_memcpy(&x, buf + 8, 8);
	put(8, x);
	p = bpf_dynptr_data(&d, 4, 4);
	put(9, p ? (__u64)(p[0] + 1000) : 0);
	if (p) p[1] = '!';
	p = bpf_dynptr_data(&d, 14, 4);
	put(10, p ? 1 : 0);
	__builtin_memcpy(&x, buf, 8);
	put(11, x);
	put(12, bpf_dynptr_from_mem(buf, 16, 1, &d));
	put(13, bpf_dynptr_read(dst, 1, &d, 0, 0));
	put(15, bpf_ringbuf_reserve_dynptr(&rb, 16, 0, &r));
	bpf_dynptr_write(&r, 0, "record-one......", 16, 0);
	p = bpf_dynptr_data(&r, 0, 8);
	put(16, p ? (__u64)p[0] : 0);
	bpf_ringbuf_submit_dynptr(&r, 0);
	put(17, bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &r));
	bpf_dynptr_write(&r, 0, "discard.", 8, 0);
	bpf_ringbuf_discard_dynptr(&r, 0);
	put(18, bpf_ringbuf_reserve_dynptr(&rb, 8, 1, &r));
	bpf_ringbuf_discard_dynptr(&r, 0);
	put(19, bpf_ringbuf_reserve_dynptr(&rb, 8192, 0, &r));
	bpf_ringbuf_discard_dynptr(&r, 0);
	put(20, bpf_ringbuf_reserve_dynptr(&rb, 1 << 24, 0, &r));
	bpf_ringbuf_discard_dynptr(&r, 0);
	put(21, bpf_ringbuf_query(&rb, 0));
	return 1;
}
""",
    "timer": """
struct elem { __u64 fired; struct bpf_timer t; };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct elem);
	__uint(max_entries, 2);
} tarr SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct elem);
	__uint(max_entries, 4);
} thash SEC(".maps");
static int fire(void *map, __u32 *key, struct elem *e)
{
	e->fired += 1 + *key * 10;
	return 0;
}
SEC("socket")
int prog(struct __sk_buff *skb)
{
	__u32 k0 = 0, k1 = 1, hk = 7;
	struct elem init = {};
	struct elem *a0 = bpf_map_lookup_elem(&tarr, &k0);
	struct elem *a1 = bpf_map_lookup_elem(&tarr, &k1);
	struct elem *h;

	if (!a0 || !a1)
		return 0;
	bpf_map_update_elem(&thash, &hk, &init, 0);
	h = bpf_map_lookup_elem(&thash, &hk);
	if (!h)
		return 0;
	put(0, bpf_timer_set_callback(&a0->t, fire));
	put(1, bpf_timer_start(&a0->t, 1000, 0));
	put(2, bpf_timer_cancel(&a0->t));
	put(3, bpf_timer_init(&a0->t, &tarr, 3));
	put(4, bpf_timer_init(&a0->t, &tarr, 16));
	put(5, bpf_timer_init(&a0->t, &tarr, 1));
	put(6, bpf_timer_init(&a0->t, &tarr, 1));
	put(7, bpf_timer_start(&a0->t, 1000, 0));
	put(8, bpf_timer_set_callback(&a0->t, fire));
	put(9, bpf_timer_start(&a0->t, 1000, 4));
	put(10, bpf_timer_start(&a0->t, 1000000000000ULL, 0));
	put(11, bpf_timer_cancel(&a0->t));
	put(12, bpf_timer_cancel(&a0->t));
	put(13, bpf_timer_start(&a0->t, 1000, 0));
	put(14, bpf_timer_init(&a1->t, &tarr, 7));
	put(15, bpf_timer_set_callback(&a1->t, fire));
	put(16, bpf_timer_start(&a1->t, 0, 1));
	put(17, bpf_timer_init(&h->t, &thash, 0));
	put(18, bpf_timer_set_callback(&h->t, fire));
	put(19, bpf_timer_start(&h->t, 5000, 2));
	put(20, a0->fired + a1->fired + h->fired);
	return 1;
}
""",
    "timer_update": """
struct elem { __u64 fired; struct bpf_timer t; };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct elem);
	__uint(max_entries, 2);
} tarr SEC(".maps");
static int fire(void *map, __u32 *key, struct elem *e)
{
	e->fired += 1;
	return 0;
}
SEC("socket")
int prog(struct __sk_buff *skb)
{
	__u32 k0 = 0, k1 = 1;
	struct elem init = { .fired = 100 };
	struct elem *a0 = bpf_map_lookup_elem(&tarr, &k0);
	struct elem *a1 = bpf_map_lookup_elem(&tarr, &k1);
	if (!a0 || !a1)
		return 0;
	put(0, bpf_timer_init(&a0->t, &tarr, 1));
	put(1, bpf_timer_set_callback(&a0->t, fire));
	put(2, bpf_timer_start(&a0->t, 20000000, 0));
	put(3, bpf_timer_init(&a1->t, &tarr, 1));
	put(4, bpf_timer_set_callback(&a1->t, fire));
	put(5, bpf_timer_start(&a1->t, 20000000, 0));
	/* updating the element frees its timer: it never fires, and init works again */
	put(6, bpf_map_update_elem(&tarr, &k0, &init, 0));
	put(7, bpf_timer_start(&a0->t, 1000, 0));
	put(8, bpf_timer_init(&a0->t, &tarr, 1));
	return 1;
}
""",
    "task": """
static long vma_cb(struct task_struct *task, void *vma, __u64 *n)
{
	*n += 1;
	return 0;
}
SEC("socket")
int prog(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct task_struct *t;
	__u64 r = 0, n = 0;

	if (sk) {
		if (bpf_skc_to_tcp6_sock(sk)) r |= 1;
		if (bpf_skc_to_tcp_sock(sk)) r |= 2;
		if (bpf_skc_to_tcp_timewait_sock(sk)) r |= 4;
		if (bpf_skc_to_tcp_request_sock(sk)) r |= 8;
		if (bpf_skc_to_udp6_sock(sk)) r |= 16;
		if (bpf_skc_to_unix_sock(sk)) r |= 32;
		if (bpf_skc_to_mptcp_sock(sk)) r |= 64;
	}
	put(0, r);
	put(1, bpf_get_current_task() != 0);
	t = bpf_get_current_task_btf();
	put(2, t != 0);
	put(3, bpf_task_pt_regs(t) != 0);
	put(4, bpf_find_vma(t, 0, vma_cb, &n, 0));
	put(5, bpf_find_vma(t, 0, vma_cb, &n, 1));
	put(6, n);
	put(7, bpf_send_signal(0));
	put(8, bpf_send_signal_thread(0));
	put(9, bpf_send_signal(65));
	put(10, bpf_get_current_task() == (__u64)t);
	return 1;
}
""",
    "copy_from_user": """
SEC("socket")
int prog(struct __sk_buff *skb)
{
	char buf[8];
	put(0, bpf_copy_from_user(buf, sizeof(buf), (void *)0));
	return 1;
}
""",
}

#: what the user backend must leave in ``out`` (the kernel test requires the same)
EXPECTED_OUT: dict[str, list[int]] = {
    "loop": [10, 145, 5, 35, neg(errno.EINVAL), 0xFFFF_FFF9, 0],
    "foreach": [6, 15, 55, 986115, 3, 305, 9, 279, 9036, None, 4, None, neg(errno.EINVAL)],
    "foreach_delete": [6, None, 6],
    "dynptr": [
        0,
        0,
        int.from_bytes(b"defg", "little"),
        neg(errno.E2BIG),
        neg(errno.EINVAL),
        0,
        neg(errno.E2BIG),
        neg(errno.EINVAL),
        int.from_bytes(b"ijXYZno\0", "little"),
        1000 + ord("e"),
        0,
        int.from_bytes(b"abcde!gh", "little"),
        neg(errno.EINVAL),
        neg(errno.EINVAL),
        0,
        0,
        ord("r"),
        0,
        neg(errno.EINVAL),
        neg(errno.EINVAL),
        neg(errno.E2BIG),
        40,
    ],
    "timer": [
        *[neg(errno.EINVAL)] * 5,
        0,
        neg(errno.EBUSY),
        neg(errno.EINVAL),
        0,
        neg(errno.EINVAL),
        0,
        1,
        0,
        neg(errno.EINVAL),
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ],
    "timer_update": [0, 0, 0, 0, 0, 0, 0, neg(errno.EINVAL), 0],
    "task": [0, 1, 1, 1, neg(errno.ENOENT), neg(errno.EINVAL), 0, 0, 0, neg(errno.EINVAL), 1],
}


@pytest.fixture(scope="session")
def objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("helpers_more")
    out = {}
    for name, body in SOURCES.items():
        src = d / f"{name}.c"
        src.write_text(HEADER + body)
        out[name] = compile_c(src)
    return out


def out_values(m, n: int) -> list[int]:
    return [int.from_bytes(m.lookup(i.to_bytes(4, "little")), "little") for i in range(n)]


def matches(got: list[int], want: list[int | None]) -> bool:
    return len(got) == len(want) and all(
        w is None or g == w for g, w in zip(got, want, strict=True)
    )


def run_user(obj: Path, n: int):
    coll = pybpf.load(obj, backend="user", verify=False)
    res = coll.program().test_run(FRAME)
    return coll, res.retval, out_values(coll.maps["out"], n)


# --- the table -------------------------------------------------------------------------------


def test_all_but_the_refused_socket_filter_helpers_are_implemented():
    allowed = {HELPERS[h].name for h in SOCKET_FILTER_HELPERS}
    missing = {n for n in allowed if not helper_by_name(n).implemented}
    assert missing == set(REFUSED) & allowed  # REFUSED also names XDP/tc helpers
    assert len(allowed) == 88 and len(allowed) - len(missing) == 76
    for name, why in REFUSED.items():
        h = helper_by_name(name)
        assert h.reason == why
        with pytest.raises(NotSupportedError, match=f"bpf_{name}#{h.id}.*not modelled"):
            h.fn(RunEnv(Memory()), 0, 0, 0, 0, 0)


def test_refused_helper_is_refused_at_program_creation(objects):
    with pytest.raises(NotSupportedError, match="copy_from_user"):
        pybpf.load(objects["copy_from_user"], backend="user", verify=False)


# --- bpf_loop ----------------------------------------------------------------------------------


def test_bpf_loop_program(objects):
    _, ret, got = run_user(objects["loop"], 7)
    assert ret == 7
    assert got == EXPECTED_OUT["loop"]


def _ld_func(reg: int, at: int, target: int):
    """BPF_LD_IMM64 with BPF_PSEUDO_FUNC at slot ``at`` naming the subprogram at ``target``."""
    return BPF_LD_IMM64_RAW(reg, isa.BPF_PSEUDO_FUNC, target - (at + 1))


def loop_prog(nr_loops: int, flags: int = 0, *, ret_expr=None):
    """main: r0 = bpf_loop(nr_loops, cb, &ctx(fp-8), flags); exit.  cb: *ctx += idx + 1."""
    body = [
        BPF_ST_MEM(BPF_DW, BPF_REG_10, -8, 0),  # 0
        BPF_LD_IMM64(BPF_REG_1, nr_loops),  # 1-2
        _ld_func(BPF_REG_2, 3, 11),  # 3-4
        BPF_MOV64_REG(BPF_REG_3, BPF_REG_10),  # 5
        BPF_ALU64_IMM(0x00, BPF_REG_3, -8),  # 6
        BPF_MOV64_IMM(BPF_REG_4, flags),  # 7
        BPF_EMIT_CALL(uapi.BPF_FUNC_loop),  # 8
        BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, -8),  # 9  (r1 = ctx, unused)
        BPF_EXIT_INSN(),  # 10
        # cb(index=r1, ctx=r2)
        BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_2, 0),  # 11
        BPF_ALU64_IMM(0x00, BPF_REG_3, 1),  # 12
        BPF_ALU64_IMM(0x00, BPF_REG_3, 0),  # 13
        BPF_MOV64_REG(BPF_REG_0, BPF_REG_1),  # 14
        BPF_ALU64_IMM(0x00, BPF_REG_0, 0),  # 15
        BPF_STX_MEM(BPF_DW, BPF_REG_2, BPF_REG_3, 0),  # 16
        BPF_MOV64_IMM(BPF_REG_0, 0),  # 17
        BPF_EXIT_INSN(),  # 18
    ]
    return body


def test_bpf_loop_errors_and_budget():
    assert Program(loop_prog(5)).run(FRAME) == 5
    assert Program(loop_prog(5, flags=1)).run(FRAME) == neg(errno.EINVAL) & 0xFFFF_FFFF
    # inline_bpf_loop compares all 64 bits and loads -E2BIG with a 32-bit move
    assert Program(loop_prog(BPF_MAX_LOOPS + 1)).run(FRAME) == 0xFFFF_FFF9
    assert Program(loop_prog(1 << 32)).run(FRAME) == 0xFFFF_FFF9
    p = Program(loop_prog(1000))
    assert p.run(FRAME) == 1000
    assert p._interp.steps == 9 + 1000 * 8  # callbacks count in the run's steps
    with pytest.raises(VmError, match="budget") as ei:
        Program(loop_prog(BPF_MAX_LOOPS), budget=50_000).run(FRAME)
    assert ei.value.errno == errno.E2BIG


def test_callback_keeps_callee_saved_registers_and_stack():
    prog = [
        BPF_MOV64_IMM(BPF_REG_6, 66),  # 0
        BPF_MOV64_IMM(BPF_REG_7, 77),  # 1
        BPF_ST_MEM(BPF_DW, BPF_REG_10, -8, 5),  # 2
        BPF_MOV64_IMM(BPF_REG_1, 3),  # 3
        _ld_func(BPF_REG_2, 4, 16),  # 4-5
        BPF_MOV64_REG(BPF_REG_3, BPF_REG_10),  # 6
        BPF_ALU64_IMM(0x00, BPF_REG_3, -8),  # 7
        BPF_MOV64_IMM(BPF_REG_4, 0),  # 8
        BPF_EMIT_CALL(uapi.BPF_FUNC_loop),  # 9
        BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_10, -8),  # 10  r0 = ctx (5 + 3 * 10)
        BPF_JMP_IMM(0x50, BPF_REG_6, 66, 3),  # 11 JNE -> 15
        BPF_JMP_IMM(0x50, BPF_REG_7, 77, 2),  # 12
        BPF_ALU64_IMM(0x00, BPF_REG_0, 1000),  # 13
        BPF_EXIT_INSN(),  # 14
        BPF_EXIT_INSN(),  # 15
        # callback: clobbers r6/r7 and its own stack, adds 10 to *ctx
        BPF_MOV64_IMM(BPF_REG_6, 1),  # 16
        BPF_MOV64_IMM(BPF_REG_7, 2),  # 17
        BPF_ST_MEM(BPF_DW, BPF_REG_10, -8, 999),  # 18
        BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_2, 0),  # 19
        BPF_ALU64_IMM(0x00, BPF_REG_3, 10),  # 20
        BPF_STX_MEM(BPF_DW, BPF_REG_2, BPF_REG_3, 0),  # 21
        BPF_MOV64_IMM(BPF_REG_0, 0),  # 22
        BPF_EXIT_INSN(),  # 23
    ]
    assert Program(prog).run(FRAME) == 1035


def test_recursive_callbacks_hit_the_frame_limit():
    # cb calls bpf_loop(1, cb, ...) again: each level is a frame
    prog = [
        BPF_MOV64_IMM(BPF_REG_1, 1),  # 0
        _ld_func(BPF_REG_2, 1, 6),  # 1-2
        BPF_MOV64_IMM(BPF_REG_3, 0),  # 3
        BPF_MOV64_IMM(BPF_REG_4, 0),  # 4
        BPF_EMIT_CALL(uapi.BPF_FUNC_loop),  # 5 -> falls into the callback body, fine
        BPF_MOV64_IMM(BPF_REG_1, 1),  # 6  callback
        _ld_func(BPF_REG_2, 7, 6),  # 7-8
        BPF_MOV64_IMM(BPF_REG_3, 0),  # 9
        BPF_MOV64_IMM(BPF_REG_4, 0),  # 10
        BPF_EMIT_CALL(uapi.BPF_FUNC_loop),  # 11
        BPF_MOV64_IMM(BPF_REG_0, 0),  # 12
        BPF_EXIT_INSN(),  # 13
    ]
    with pytest.raises(VmError, match="MAX_CALL_FRAMES") as ei:
        Program(prog).run(FRAME)
    assert ei.value.errno == errno.E2BIG


def test_call_subprog_needs_a_subprogram():
    mem = Memory()
    env = RunEnv(mem)
    with pytest.raises(VmError, match="interpreter"):
        env.call_subprog(0)
    p = Program(loop_prog(1))
    p.run(FRAME)
    env = next(iter(p._interp._instances.values())).env
    with pytest.raises(VmError, match="not a BPF subprogram"):
        env.call_subprog(env.mem.handle(object()))


# --- bpf_for_each_map_elem ---------------------------------------------------------------------


def test_for_each_map_elem_program(objects):
    coll, ret, got = run_user(objects["foreach"], 13)
    assert ret == 1 and matches(got, EXPECTED_OUT["foreach"])
    hsh = coll.maps["hsh"]
    # the walk visits the hash in its own iteration order (what get_next_key gives)
    keys = [int.from_bytes(k, "little") for k in hsh.keys()]
    order = 0
    for k in keys:
        order = (order * 31 + k) & M64
    assert got[9] == order
    order4 = 0
    for k in keys[:4]:
        order4 = (order4 * 31 + k) & M64
    assert got[11] == order4
    # every value saw +100 (all) and +100 again (the first four)
    vals = {int.from_bytes(k, "little"): int.from_bytes(v, "little") for k, v in hsh.items()}
    for i, k in enumerate(keys):
        assert vals[k] == (k - 3) // 7 + 1000 + (200 if i < 4 else 100)
    arr = [int.from_bytes(v, "little") for v in coll.maps["arr"].values()]
    assert arr == [i * i + (200 if i < 3 else 100) for i in range(6)]


def test_for_each_map_elem_survives_deletes(objects):
    coll, ret, got = run_user(objects["foreach_delete"], 3)
    assert ret == 1 and matches(got, EXPECTED_OUT["foreach_delete"])
    # odd keys delete themselves, even keys delete their odd neighbour: evens remain
    assert sorted(int.from_bytes(k, "little") for k in coll.maps["hsh"].keys()) == [0, 2, 6, 8]


def _walk_env(m, cb_ret=0, write_key=False):
    """Run bpf_for_each_map_elem over ``m`` from a program; the callback records keys
    into an ARRAY 'seen' (key = visit number)."""
    seen = Map(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 64, name="seen")
    cnt = Map(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 1, name="cnt")
    prog = [
        BPF_LD_MAP_FD(BPF_REG_1, m),  # 0-1
        _ld_func(BPF_REG_2, 2, 9),  # 2-3
        BPF_MOV64_IMM(BPF_REG_3, 0),  # 4
        BPF_MOV64_IMM(BPF_REG_4, 0),  # 5
        BPF_EMIT_CALL(uapi.BPF_FUNC_for_each_map_elem),  # 6
        BPF_EXIT_INSN(),  # 7
        BPF_EXIT_INSN(),  # 8
        # cb(map, key, value, ctx)
        BPF_LDX_MEM(BPF_W, BPF_REG_6, BPF_REG_2, 0),  # 9  r6 = *(u32 *)key
    ]
    if write_key:
        prog.append(BPF_ST_MEM(BPF_W, BPF_REG_2, 0, 1))  # *key = 1: read-only
    prog += [
        BPF_ST_MEM(BPF_W, BPF_REG_10, -4, 0),
        BPF_LD_MAP_FD(BPF_REG_1, cnt),
        BPF_MOV64_REG(BPF_REG_2, BPF_REG_10),
        BPF_ALU64_IMM(0x00, BPF_REG_2, -4),
        BPF_EMIT_CALL(uapi.BPF_FUNC_map_lookup_elem),
        BPF_JMP_IMM(0x10, BPF_REG_0, 0, 11),  # JEQ r0, 0 -> exit
        BPF_LDX_MEM(BPF_DW, BPF_REG_7, BPF_REG_0, 0),
        BPF_ALU64_IMM(0x00, BPF_REG_7, 1),
        BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_7, 0),
        BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_7, -8),
        BPF_LD_MAP_FD(BPF_REG_1, seen),
        BPF_MOV64_REG(BPF_REG_2, BPF_REG_10),
        BPF_ALU64_IMM(0x00, BPF_REG_2, -8),
        BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_6, -16),
        BPF_MOV64_REG(BPF_REG_3, BPF_REG_10),
        BPF_ALU64_IMM(0x00, BPF_REG_3, -16),
        BPF_MOV64_IMM(BPF_REG_4, 0),
        BPF_EMIT_CALL(uapi.BPF_FUNC_map_update_elem),
        BPF_MOV64_IMM(BPF_REG_0, cb_ret),
        BPF_EXIT_INSN(),
    ]
    p = Program(prog)
    ret = p.run(FRAME)
    visits = int.from_bytes(cnt[0], "little")
    keys = [int.from_bytes(seen[i], "little") for i in range(1, visits + 1)]
    return ret, keys


def test_for_each_map_elem_hash_percpu_and_lru_orders():
    for t in (
        uapi.BPF_MAP_TYPE_HASH,
        uapi.BPF_MAP_TYPE_PERCPU_HASH,
        uapi.BPF_MAP_TYPE_LRU_HASH,
    ):
        m = Map(t, 4, 8, 32, name="h")
        for k in (5, 9, 100, 7, 33, 2):
            m.update(k, bytes(m.user_value_size))
        ret, keys = _walk_env(m)
        assert ret == 6
        assert keys == [int.from_bytes(k, "little") for k in m.keys()]
        ret, keys = _walk_env(m, cb_ret=1)
        assert ret == 1 and len(keys) == 1


def test_for_each_map_elem_array_key_is_read_only():
    m = Map(uapi.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 3, name="pa")
    ret, keys = _walk_env(m)
    assert (ret, keys) == (3, [0, 1, 2])
    with pytest.raises(MemoryAccessError):
        _walk_env(Map(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 3, name="a"), write_key=True)


def test_for_each_map_elem_refuses_other_maps():
    q = Map(uapi.BPF_MAP_TYPE_QUEUE, 0, 8, 4, name="q")
    with pytest.raises(VmError, match="map_for_each_callback"):
        _walk_env(q)


# --- dynptrs --------------------------------------------------------------------------------------


def test_dynptr_program(objects):
    coll, ret, got = run_user(objects["dynptr"], 22)
    assert ret == 1 and got == EXPECTED_OUT["dynptr"]
    assert coll.maps["rb"].consume() == [b"record-one......"]


class Env:
    """A RunEnv with a scratch region (a stack frame stand-in)."""

    def __init__(self) -> None:
        self.mem = Memory()
        self.buf = bytearray(256)
        self.base = self.mem.add_region(self.buf, name="scratch").base
        self.env = RunEnv(self.mem)

    def call(self, name: str, *regs: int) -> int:
        regs = tuple(r & M64 for r in regs) + (0,) * (5 - len(regs))
        return helper_by_name(name).fn(self.env, *regs) & M64


def test_dynptr_layout_is_the_kernels():
    e = Env()
    data, dp = e.base, e.base + 128
    assert e.call("dynptr_from_mem", data, 40, 0, dp) == 0
    raw = bytes(e.buf[128:144])
    assert int.from_bytes(raw[0:8], "little") == data
    assert int.from_bytes(raw[8:12], "little") == 40 | BPF_DYNPTR_TYPE_LOCAL << 28
    assert raw[12:16] == bytes(4)
    d = read_dynptr(e.mem, dp)
    assert (d.size, d.type, d.rdonly, d.offset) == (40, BPF_DYNPTR_TYPE_LOCAL, False, 0)
    # too big: -E2BIG and a null dynptr
    assert e.call("dynptr_from_mem", data, DYNPTR_MAX_SIZE + 1, 0, dp) == neg(errno.E2BIG)
    assert bytes(e.buf[128:144]) == bytes(16)
    assert e.call("dynptr_data", dp, 0, 1) == 0
    assert e.call("dynptr_write", dp, 0, data, 1, 0) == neg(errno.EINVAL)
    # a read-only dynptr (bit 31) can be read but not written or exposed
    e.buf[128:144] = raw
    e.buf[139] |= 0x80
    assert read_dynptr(e.mem, dp).rdonly
    assert e.call("dynptr_read", e.base + 200, 4, dp, 0, 0) == 0
    assert e.call("dynptr_write", dp, 0, data, 1, 0) == neg(errno.EINVAL)
    assert e.call("dynptr_data", dp, 0, 1) == 0


def test_ringbuf_dynptr_records():
    e = Env()
    rb = Map(uapi.BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, name="rb")
    dp = e.base + 64
    assert e.call("ringbuf_reserve_dynptr", e.mem.handle(rb), 5, 0, dp) == 0
    d = read_dynptr(e.mem, dp)
    assert (d.type, d.size) == (BPF_DYNPTR_TYPE_RINGBUF, 5)
    e.buf[0:5] = b"hello"
    assert e.call("dynptr_write", dp, 0, e.base, 5, 0) == 0
    e.call("ringbuf_submit_dynptr", dp, 0)
    assert bytes(e.buf[64:80]) == bytes(16)  # released: null
    e.call("ringbuf_submit_dynptr", dp, 0)  # a null dynptr: no-op
    assert rb.consume() == [b"hello"]
    assert e.call("ringbuf_reserve_dynptr", e.mem.handle(rb), 5000, 0, dp) == neg(errno.EINVAL)
    assert bytes(e.buf[64:80]) == bytes(16)


# --- timers ---------------------------------------------------------------------------------------


def test_timer_program_return_codes_and_firing(objects):
    coll, ret, got = run_user(objects["timer"], 21)
    assert ret == 1 and got == EXPECTED_OUT["timer"]
    tarr, thash = coll.maps["tarr"], coll.maps["thash"]
    # armed: tarr[1] (absolute 0, due now) and thash[7] (5 us, realtime clock)
    armed = timers.pending(wheel=coll.backend.state.timers)
    assert [t.map.name for t in armed] == ["tarr", "thash"]
    # the timer bytes stay zero, as a user-space lookup of a kernel map shows them
    assert tarr.lookup(1)[8:24] == bytes(16)
    assert coll.backend.advance_time(0) == 1  # only the one already due
    assert int.from_bytes(tarr.lookup(1)[:8], "little") == 11
    assert coll.backend.advance_time(4_000) == 0
    assert coll.backend.advance_time(1_000) == 1
    assert int.from_bytes(thash.lookup(7)[:8], "little") == 71
    assert int.from_bytes(tarr.lookup(0)[:8], "little") == 0  # cancelled, never fired
    assert timers.pending(wheel=coll.backend.state.timers) == []
    with pytest.raises(BpfError, match="time only moves forward"):
        coll.backend.advance_time(-1)


TIMER_SELF = """
struct elem { __u64 fired; struct bpf_timer t; };
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct elem);
	__uint(max_entries, 4);
} th SEC(".maps");
static int tick(void *map, __u32 *key, struct elem *e)
{
	__u32 slot = 2;
	e->fired++;
	put(slot + e->fired, bpf_timer_cancel(&e->t));     /* own timer: -EDEADLK */
	if (e->fired < 3)
		bpf_timer_start(&e->t, 100, 0);            /* periodic, three times */
	return 0;
}
SEC("socket")
int prog(struct __sk_buff *skb)
{
	__u32 k = skb->len;
	struct elem init = {};
	struct elem *e;

	bpf_map_update_elem(&th, &k, &init, 0);
	e = bpf_map_lookup_elem(&th, &k);
	if (!e)
		return 0;
	put(0, bpf_timer_init(&e->t, &th, 1));
	put(1, bpf_timer_set_callback(&e->t, tick));
	put(2, bpf_timer_start(&e->t, 1000, 0));
	return 1;
}
"""


def test_timer_periodic_self_cancel_and_element_delete(tmp_path):
    src = tmp_path / "tself.c"
    src.write_text(HEADER + TIMER_SELF)
    coll = pybpf.load(compile_c(src), backend="user", verify=False)
    p = coll.program()
    p.test_run(FRAME)
    key = (len(FRAME) - 14).to_bytes(4, "little")
    out = coll.maps["out"]
    assert out_values(out, 3) == [0, 0, 0]
    assert coll.backend.advance_time(999) == 0
    assert coll.backend.advance_time(1) == 1
    assert coll.backend.advance_time(10_000) == 2  # re-armed twice within the advance
    assert int.from_bytes(coll.maps["th"][key][:8], "little") == 3
    assert out_values(out, 6)[3:] == [neg(errno.EDEADLK)] * 3
    # a deleted element takes its armed timer with it (bpf_obj_free_fields)
    p.test_run(FRAME)
    assert len(timers.pending(wheel=coll.backend.state.timers)) == 1
    del coll.maps["th"][key]
    assert coll.backend.advance_time(10_000) == 0
    assert timers.pending(wheel=coll.backend.state.timers) == []


def test_timer_freed_by_a_program_update(objects):
    coll, ret, got = run_user(objects["timer_update"], 9)
    assert ret == 1 and got == EXPECTED_OUT["timer_update"]
    assert coll.backend.advance_time(10**8) == 1
    fired = [int.from_bytes(v[:8], "little") for v in coll.maps["tarr"].values()]
    assert fired == [100, 1]


def test_timer_now_moves_with_advance():
    t0 = timers.now()
    timers.advance_time(12345)
    assert timers.now() - t0 == 12345
    assert timers.now(timers.CLOCK_BOOTTIME) >= timers.now(timers.CLOCK_MONOTONIC)
    timers.catch_up()
    assert timers.now() >= time.monotonic_ns() - 10**9


# --- tasks, signals, vmas, socket casts --------------------------------------------------------


def test_task_program(objects):
    _, ret, got = run_user(objects["task"], 11)
    assert ret == 1 and got == EXPECTED_OUT["task"]


def test_current_task_is_this_thread():
    e = Env()
    h = e.call("get_current_task")
    t = e.mem.object_at(h)
    assert isinstance(t, Task) and t is current_task()
    pid_tgid = e.call("get_current_pid_tgid")
    assert (t.tgid, t.pid) == (pid_tgid >> 32, pid_tgid & 0xFFFF_FFFF)
    assert e.call("get_current_task_btf") == h
    regs = e.call("task_pt_regs", h)
    assert regs and regs != h
    with pytest.raises(MemoryAccessError):
        e.mem.load(h, 8)  # opaque: not a task_struct in memory
    assert e.call("probe_read_kernel", e.base, 8, h) == neg(errno.EFAULT)


def test_send_signal_reaches_this_process(monkeypatch):
    got = []
    old = signal.signal(signal.SIGUSR2, lambda s, f: got.append(s))
    try:
        e = Env()
        assert e.call("send_signal", signal.SIGUSR2) == 0
        assert e.call("send_signal_thread", signal.SIGUSR2) == 0
    finally:
        signal.signal(signal.SIGUSR2, old)
    assert got == [signal.SIGUSR2, signal.SIGUSR2]
    assert e.call("send_signal", 65) == neg(errno.EINVAL)
    monkeypatch.setattr(os, "getpid", lambda: 1)  # is_global_init(current)
    assert e.call("send_signal", 0) == neg(errno.EPERM)


def test_find_vma_calls_back_with_the_mapping():
    anchor = bytearray(64)
    addr = id(anchor)  # an address inside this process's heap
    prog = [
        BPF_EMIT_CALL(uapi.BPF_FUNC_get_current_task_btf),  # 0
        BPF_MOV64_REG(BPF_REG_1, BPF_REG_0),  # 1
        BPF_LD_IMM64(BPF_REG_2, addr),  # 2-3
        _ld_func(BPF_REG_3, 4, 12),  # 4-5
        BPF_ST_MEM(BPF_DW, BPF_REG_10, -8, 0),  # 6
        BPF_MOV64_REG(BPF_REG_4, BPF_REG_10),  # 7
        BPF_ALU64_IMM(0x00, BPF_REG_4, -8),  # 8
        BPF_MOV64_IMM(BPF_REG_5, 0),  # 9
        BPF_EMIT_CALL(uapi.BPF_FUNC_find_vma),  # 10
        BPF_EXIT_INSN(),  # 11
        # cb(task, vma, ctx): *ctx = vma
        BPF_STX_MEM(BPF_DW, BPF_REG_3, BPF_REG_2, 0),  # 12
        BPF_MOV64_IMM(BPF_REG_0, 0),  # 13
        BPF_EXIT_INSN(),  # 14
    ]
    p = Program(prog)
    assert p.run(FRAME) == 0
    stack = p._mem.stack
    vma = p._mem.object_at(int.from_bytes(stack.buf[-8:], "little"))
    assert isinstance(vma, VmArea) and vma.vm_start <= addr < vma.vm_end
    assert "rw" in vma.perms


def test_skc_to_casts_only_matching_sockets():
    e = Env()
    for name in [n for n in uapi.FUNC_IDS if n.startswith("skc_to_")]:
        assert e.call(name, 0) == 0
    from pybpf.net.skb import Sock

    pkt = e.mem.handle(Sock(cookie=5))
    assert all(e.call(n, pkt) == 0 for n in uapi.FUNC_IDS if n.startswith("skc_to_"))
    tcp6 = e.mem.handle(types.SimpleNamespace(family=10, protocol=6, full=True, state=1))
    assert e.call("skc_to_tcp6_sock", tcp6) == tcp6
    assert e.call("skc_to_tcp_sock", tcp6) == tcp6
    assert e.call("skc_to_udp6_sock", tcp6) == 0
    assert e.call("skc_to_tcp_timewait_sock", tcp6) == 0
    tw = e.mem.handle(types.SimpleNamespace(family=2, protocol=6, full=False, state=6))
    assert e.call("skc_to_tcp_timewait_sock", tw) == tw
    assert e.call("skc_to_tcp_sock", tw) == 0  # not a full socket
    unix = e.mem.handle(types.SimpleNamespace(family=1, protocol=0, full=True))
    assert e.call("skc_to_unix_sock", unix) == unix
    conn = object()
    sub = e.mem.handle(types.SimpleNamespace(family=2, protocol=6, full=True, mptcp_conn=conn))
    assert e.mem.object_at(e.call("skc_to_mptcp_sock", sub)) is conn


def test_kptr_xchg_swaps_the_field():
    e = Env()
    e.buf[0:8] = (0x1234).to_bytes(8, "little")
    assert e.call("kptr_xchg", e.base, 0) == 0x1234
    assert bytes(e.buf[0:8]) == bytes(8)


def test_timer_helpers_need_an_initialised_timer():
    e = Env()
    assert e.call("timer_start", e.base, 10, 0) == neg(errno.EINVAL)
    assert e.call("timer_cancel", e.base) == neg(errno.EINVAL)
    assert e.call("timer_start", e.base, 10, 8) == neg(errno.EINVAL)
    m = Map(uapi.BPF_MAP_TYPE_ARRAY, 4, 24, 1, name="t")
    with pytest.raises(VmError, match="not a bpf_timer"):
        e.call("timer_init", e.base, e.mem.handle(m), 1)
