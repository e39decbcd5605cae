"""The JIT (pybpf.vm.jit): the same results as the interpreter, program by program.

Every check here is differential: a program runs under
:class:`pybpf.vm.interp.Interpreter` and under :class:`pybpf.vm.jit.JitEngine`
(or a Program with ``engine="jit"``) and both must give the same R0 — or the same error,
type, message and errno — and leave maps and memory in the same state.

The conformance suite's programs are JIT-compiled without verification (the
"unverified" test mode: ``JitEngine`` never verifies, ``Program(engine="jit")`` does);
the native code still checks every memory access, so a bad program faults
exactly as in the interpreter.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import pybpf
from conftest import require_bpf
from pybpf import isa, uapi
from pybpf.asm.macros import (
    BPF_ALU32_REG,
    BPF_ALU64_IMM,
    BPF_ALU64_REG,
    BPF_ATOMIC_OP,
    BPF_EXIT_INSN,
    BPF_JMP32_IMM,
    BPF_JMP32_REG,
    BPF_JMP_IMM,
    BPF_JMP_REG,
    BPF_LD_IMM64,
    BPF_LD_MAP_FD,
    BPF_LDX_MEM,
    BPF_LDX_MEMSX,
    BPF_MOV64_IMM,
    BPF_MOV64_REG,
    BPF_RAW_INSN,
    BPF_ST_MEM,
    BPF_STX_MEM,
)
from pybpf.asm.text import assemble
from pybpf.errors import BpfError, VerifierError
from pybpf.isa import Insn
from pybpf.maps import Map
from pybpf.net.capture import open_capture
from pybpf.net.skb import SkBuff
from pybpf.user.program import Program
from pybpf.vm.conformance import CONFORMANCE_HELPERS, load_test
from pybpf.vm.interp import MAX_TAIL_CALL_CNT, Interpreter, ProgramExit, TailCall
from pybpf.vm.jit import JitEngine, compile_program, jit_cache_clear
from pybpf.vm.memory import Memory

M64 = (1 << 64) - 1
ROOT = Path(__file__).resolve().parents[2]


from support.paths import CONFORMANCE_MISSING, PCAPS, conformance_files  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _private_jit_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Compiled objects go to a temporary cache, not the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PYBPF_JIT_CACHE_DIR", str(tmp_path_factory.mktemp("jit-cache")))
    yield
    mp.undo()


@dataclass
class H:
    id: int
    name: str
    fn: Any
    proto: Any = None


def unverified_jit(prog: Program) -> Program:
    """``prog`` run by the JIT without verification (Program(engine="jit") verifies):
    for programs pybpf's verifier does not take, and unverified-mode tests."""
    prog._interp = JitEngine(
        prog.insns,
        helpers=prog.helpers,
        maps=prog._resolve_map,
        budget=prog._interp.budget,
        prog=prog,
    )
    prog.engine = "jit"
    return prog


def outcome(engine: Any, **run_kw: Any) -> tuple[Any, ...]:
    """("ok", r0) or ("err", type name, message, errno) of one run."""
    try:
        return ("ok", engine.run(**run_kw))
    except BpfError as e:
        return ("err", type(e).__name__, str(e), e.errno)


def both(insns: list[Insn], *, mem_bytes: bytes | None = None, **kw: Any) -> tuple[Any, ...]:
    """Run ``insns`` under both engines on equal fresh memories; assert they agree."""
    results = []
    for cls in (Interpreter, JitEngine):
        engine = cls(insns, **kw)
        mem = Memory()
        run_kw: dict[str, Any] = {"mem": mem}
        if mem_bytes is not None:
            region = mem.add_region(bytearray(mem_bytes), name="mem")
            run_kw.update(r1=region.base, r2=len(mem_bytes))
        results.append((outcome(engine, **run_kw), engine.steps, mem_bytes and bytes(region.buf)))
    interp, jit = results
    assert jit[0] == interp[0]
    if interp[0][0] == "ok":
        assert jit[1] == interp[1], "executed-instruction counts differ"
        assert jit[2] == interp[2], "memory differs after the run"
    return interp[0]


# --- the conformance suite ----------------------------------------------------------------

CONFORMANCE = conformance_files()


@pytest.mark.skipif(not CONFORMANCE, reason=CONFORMANCE_MISSING)
@pytest.mark.parametrize("path", CONFORMANCE, ids=lambda p: p.name)
def test_conformance_program_same_under_jit(path: Path) -> None:
    test = load_test(path)
    try:
        insns = test.program()
    except BpfError as e:  # not even assemblable: nothing to JIT
        pytest.skip(f"does not assemble: {e}")
    got = both(insns, mem_bytes=test.mem if test.has_mem else None, helpers=CONFORMANCE_HELPERS)
    if test.error is None and test.result is not None:
        assert got[0] == "ok" and (got[1] & 0xFFFF_FFFF) == (test.result & 0xFFFF_FFFF)
    if test.error is not None:
        assert got[0] == "err"


def test_conformance_suite_is_all_there() -> None:
    if not CONFORMANCE:
        pytest.skip(CONFORMANCE_MISSING)
    assert len(CONFORMANCE) >= 313


# --- hand-picked edge cases ------------------------------------------------------------------

EDGE = [
    "lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1",  # INT_MIN / -1 wraps
    "lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1",
    "mov32 %r0, 0x80000000\nmov %r1, -1\nsdiv32 %r0, %r1",
    "mov32 %r0, 0x80000000\nsmod32 %r0, -1",
    "lddw %r0, 0x100000007\nmov %r1, 0\nmod32 %r0, %r1",  # mod 0 zero-extends
    "lddw %r0, 0x100000007\nmov %r1, 0\nmod %r0, %r1",
    "mov %r0, 7\nmov %r1, 0\nsdiv %r0, %r1",
    "mov %r0, -7\nsmod %r0, 0",
    "mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1",  # shift masked to 63
    "mov %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1",
    "mov %r0, -1\narsh32 %r0, 35",
    "lddw %r0, 0x0102030405060708\nbe16 %r0",
    "lddw %r0, 0x0102030405060708\nle32 %r0",
    "lddw %r0, 0x0102030405060708\nbswap64 %r0",
    "mov %r1, 0x80\nmovsx864 %r0, %r1",
]


def _edge_programs() -> list[list[Insn]]:
    out = [assemble(text + "\nexit") for text in EDGE]
    out.append(
        [
            BPF_LD_IMM64(1, 0xFFFF_FF80),
            BPF_RAW_INSN(isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_X, 0, 1, 8, 0),  # movsx8
            BPF_EXIT_INSN(),
        ]
    )
    out.append(
        [
            BPF_LD_IMM64(1, 0x1_0000_8000),
            BPF_RAW_INSN(isa.BPF_ALU | isa.BPF_MOV | isa.BPF_X, 0, 1, 16, 0),  # movsx32 16
            BPF_EXIT_INSN(),
        ]
    )
    return out


@pytest.mark.parametrize("insns", _edge_programs())
def test_alu_edge_cases(insns: list[Insn]) -> None:
    assert both(insns)[0] == "ok"


def test_faults_match_the_interpreter() -> None:
    # a load past the end of the memory region
    assert (
        both(assemble("ldxdw %r0, [%r1+60]\nexit"), mem_bytes=bytes(64))[1] == "MemoryAccessError"
    )
    # a store into a map handle, a read of NULL
    assert both(assemble("stw [%r1+0], 1\nmov %r0, 0\nexit"))[1] == "MemoryAccessError"
    # a stack access outside the frame is caught at translation, reported at run time
    assert both(assemble("ldxdw %r0, [%r10+8]\nexit"))[1] == "MemoryAccessError"
    # writing the frame pointer
    assert both(assemble("mov %r10, 0\nexit"))[2].endswith("frame pointer is read only")
    # a runaway loop hits the budget at the same place
    got = both(assemble("mov %r0, 0\nloop:\nadd %r0, 1\nja loop\nexit"), budget=1000)
    assert got[1] == "VmError" and "budget" in got[2] and got[3] == errno.E2BIG
    # falling off the end, jumping outside the program
    assert "past the last" in both(assemble("mov %r0, 1"))[2]
    assert both([BPF_JMP_IMM(isa.BPF_JEQ, 0, 0, 5), BPF_EXIT_INSN()])[0] == "err"


def test_local_calls_and_depth_limit() -> None:
    text = """
    mov %r6, 6
    mov %r1, 3
    call local f
    add %r0, %r6
    exit
    f:
    mov %r6, 100
    stxdw [%r10-8], %r1
    ldxdw %r0, [%r10-8]
    mul %r0, 10
    exit
    """
    assert both(assemble(text)) == ("ok", 36)
    deep = "call local f\nexit\nf:\ncall local f\nexit"
    got = both(assemble(deep))
    assert got[1] == "VmError" and got[3] == errno.E2BIG


def test_helpers_program_exit_and_callx() -> None:
    def unwind(env: Any, a: int, *rest: int) -> int:
        if a == 0:
            raise ProgramExit(0)
        return a

    helpers = {5: H(5, "unwind", unwind)}
    assert both(assemble("mov %r1, 0\ncall 5\nmov %r0, 2\nexit"), helpers=helpers) == ("ok", 0)
    assert both(assemble("mov %r1, 3\ncall 5\nexit"), helpers=helpers) == ("ok", 3)
    prog = "call local f\nmov %r0, 2\nexit\nf:\nmov %r1, 0\ncall 5\nexit"
    assert both(assemble(prog), helpers=helpers) == ("ok", 0)
    assert both(assemble("mov %r3, 5\nmov %r1, 9\ncall %r3\nexit"), helpers=helpers) == ("ok", 9)
    assert both(assemble("mov %r3, 6\ncall %r3\nexit"), helpers=helpers)[0] == "err"
    assert both(assemble("call 99\nexit"), helpers=helpers)[2].endswith("call to unknown helper 99")


def test_helpers_see_the_registers_and_pc_of_the_call() -> None:
    seen = []

    def look(env: Any, *a: int) -> int:
        seen.append((env.pc, list(env.regs[1:7]), len(env.regs)))
        return 0

    text = "mov %r6, 66\nmov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, -1\ncall 9\nexit"
    for cls in (Interpreter, JitEngine):
        cls(assemble(text), helpers={9: H(9, "look", look)}).run()
    assert seen[0] == seen[1] == (6, [1, 2, 3, 4, M64, 66], 11)


CALLBACKS_C = r"""
#include <bpf_helpers.h>
char _license[] SEC("license") = "GPL";
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64);
         __uint(max_entries, 8); } out SEC(".maps");
struct elem { __u64 fired; struct bpf_timer t; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, struct elem);
         __uint(max_entries, 2); } tmr SEC(".maps");
struct ctx { __u64 sum; __u32 stop; };
static void put(__u32 k, __u64 v) { bpf_map_update_elem(&out, &k, &v, 0); }
static long inner(__u32 i, void *data) { *(__u64 *)data += i; return 0; }
static long outer(__u32 i, void *data)
{
    struct ctx *c = data;
    __u64 acc = 0;
    bpf_loop(i, inner, &acc, 0);            /* a callback calling back */
    c->sum += acc * 7 + i;
    return i == c->stop;
}
static long visit(void *map, __u32 *key, __u64 *val, void *data)
{
    *(__u64 *)data += *key * 100 + *val;
    *val += 1;
    return 0;
}
static int tick(void *map, __u32 *key, struct elem *e)
{
    e->fired += 10;
    return 0;
}
SEC("socket")
int prog(struct __sk_buff *skb)
{
    struct ctx c = { .sum = 0, .stop = skb->len & 7 };
    __u64 seen = 0;
    __u32 k = 1;
    put(0, bpf_loop(12, outer, &c, 0));
    put(1, c.sum);
    put(2, bpf_for_each_map_elem(&out, visit, &seen, 0));
    put(3, seen);
    struct elem *e = bpf_map_lookup_elem(&tmr, &k);
    if (e) {
        bpf_timer_init(&e->t, &tmr, 1);
        bpf_timer_set_callback(&e->t, tick);
        put(4, bpf_timer_start(&e->t, 1000, 0));
    }
    return skb->len;
}
"""


def test_callbacks_bpf_loop_for_each_and_timers(tmp_path: Path) -> None:
    """Helpers that call back into the program (RunEnv.call_subprog, run_subprog)."""
    from pybpf.spec.cc import compile_c

    src = tmp_path / "callbacks.c"
    src.write_text(CALLBACKS_C)
    obj = compile_c(src)
    results = []
    for jit in (False, True):
        # pybpf's verifier does not take BPF_PSEUDO_FUNC yet (the kernel's does)
        coll = pybpf.load(obj, verify=False)
        prog = coll.program()
        runner: Any = unverified_jit(prog) if jit else prog
        rets = [runner.run(bytes(14 + n) + b"\x45" * 20) for n in range(0, 40, 3)]
        fired = coll.backend.advance_time(5_000)
        results.append(
            (rets, fired, bytes(coll.maps["out"].storage), bytes(coll.maps["tmr"].storage))
        )
        coll.close()
    assert results[0] == results[1]
    assert results[0][1] >= 1  # the timer fired (under each engine)


def _loop_program(nr_loops: int, cb_body: list[Insn]) -> list[Insn]:
    """r0 = bpf_loop(nr_loops, cb, fp-8, 0) + *(fp-8); cb is ``cb_body``."""
    main = [
        BPF_ST_MEM(isa.BPF_DW, 10, -8, 0),
        BPF_LD_IMM64(1, nr_loops),
        Insn(isa.BPF_LD | isa.BPF_IMM | isa.BPF_DW, 2, isa.BPF_PSEUDO_FUNC, 0, 8),  # -> cb
        BPF_MOV64_REG(3, 10),
        BPF_ALU64_IMM(isa.BPF_ADD, 3, -8),
        BPF_MOV64_IMM(4, 0),
        BPF_RAW_INSN(isa.BPF_JMP | isa.BPF_CALL, 0, 0, 0, uapi.BPF_FUNC_loop),
        BPF_LDX_MEM(isa.BPF_DW, 1, 10, -8),
        BPF_ALU64_REG(isa.BPF_ADD, 0, 1),
        BPF_EXIT_INSN(),
    ]
    return main + cb_body


def test_callback_budget_and_depth_match_the_interpreter() -> None:
    helpers = Program([BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()]).helpers
    add_index = [  # *(u64 *)r2 += r1; return 0
        BPF_LDX_MEM(isa.BPF_DW, 3, 2, 0),
        BPF_ALU64_REG(isa.BPF_ADD, 3, 1),
        BPF_STX_MEM(isa.BPF_DW, 2, 3, 0),
        BPF_MOV64_IMM(0, 0),
        BPF_EXIT_INSN(),
    ]
    assert both(_loop_program(100, add_index), helpers=helpers) == ("ok", 100 + 4950)
    # callbacks share the run's budget: exhausted inside one, or only by the sum
    for budget in (30, 480, 505, 510):
        both(_loop_program(100, add_index), helpers=helpers, budget=budget)
    # a callback that calls bpf_loop again with itself: the call depth limit
    recurse = [
        BPF_MOV64_REG(6, 2),
        BPF_MOV64_IMM(1, 2),
        Insn(isa.BPF_LD | isa.BPF_IMM | isa.BPF_DW, 2, isa.BPF_PSEUDO_FUNC, 0, -3),  # itself
        BPF_MOV64_REG(3, 6),
        BPF_MOV64_IMM(4, 0),
        BPF_RAW_INSN(isa.BPF_JMP | isa.BPF_CALL, 0, 0, 0, uapi.BPF_FUNC_loop),
        BPF_MOV64_IMM(0, 0),
        BPF_EXIT_INSN(),
    ]
    got = both(_loop_program(1, recurse), helpers=helpers)
    assert got[0] == "err" and got[3] == errno.E2BIG


def test_any_exception_from_a_helper_reaches_the_caller() -> None:
    class Boom(RuntimeError):
        pass

    for cls in (Interpreter, JitEngine):
        calls = [0]

        def once(env: Any, *a: int, calls: list[int] = calls) -> int:
            calls[0] += 1
            if calls[0] == 1:
                raise Boom("from a helper")
            return 42

        engine = cls(assemble("call 7\nexit"), helpers={7: H(7, "once", once)})
        with pytest.raises(Boom, match="from a helper"):
            engine.run()
        assert engine.run() == 42  # the engine is still usable afterwards


def test_tail_calls_and_their_limit() -> None:
    target = assemble("mov %r0, %r1\nadd %r0, 1\nexit")
    helpers = {12: H(12, "tail_call", lambda env, *a: (_ for _ in ()).throw(TailCall(target)))}
    for cls in (Interpreter, JitEngine):
        prog = cls(assemble("mov %r6, %r1\nmov %r1, 5\ncall 12\nmov %r0, 7\nexit"), helpers=helpers)
        assert prog.run(r1=41) == 42
    empty = {12: H(12, "tail_call", lambda env, *a: (_ for _ in ()).throw(TailCall(None)))}
    assert both(assemble("mov %r0, 3\ncall 12\nexit"), helpers=empty) == ("ok", 3)

    @dataclass
    class Prog:
        insns: list[Insn]

    prog = Prog(assemble("mov %r0, 5\ncall 12\nmov %r0, 99\nexit"))
    counts = []
    for cls in (Interpreter, JitEngine):
        count = [0]

        def tail(env: Any, *a: int, count: list[int] = count) -> int:
            count[0] += 1
            raise TailCall(prog)

        engine = cls(prog.insns, helpers={12: H(12, "tail_call", tail)}, prog=prog)
        assert engine.run() == 99
        counts.append(count[0])
    assert counts == [MAX_TAIL_CALL_CNT + 1] * 2


def test_prog_array_tail_call_in_programs() -> None:
    pa = Map(uapi.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2)
    target = Program([BPF_MOV64_IMM(0, 77), BPF_EXIT_INSN()])
    caller = Program(
        [
            BPF_LD_MAP_FD(2, pa),
            BPF_MOV64_IMM(3, 1),
            BPF_RAW_INSN(isa.BPF_JMP | isa.BPF_CALL, 0, 0, 0, uapi.BPF_FUNC_tail_call),
            BPF_MOV64_IMM(0, 5),
            BPF_EXIT_INSN(),
        ]
    )
    jit = unverified_jit(Program(caller.insns, maps=caller._maps_arg, state=caller.state))
    frame = bytes(14) + bytes(20)
    assert jit.run(frame) == caller.run(frame) == 5  # empty slot: falls through
    pa[1] = target.fd
    assert jit.run(frame) == caller.run(frame) == 77


# --- memory shared with maps ----------------------------------------------------------------


def test_map_values_written_by_native_code_are_the_maps_bytes() -> None:
    m = Map(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 4, name="counts")
    prog = [
        BPF_ST_MEM(isa.BPF_W, 10, -4, 2),  # key 2
        BPF_MOV64_REG(2, 10),
        BPF_ALU64_IMM(isa.BPF_ADD, 2, -4),
        BPF_LD_MAP_FD(1, m),
        BPF_RAW_INSN(isa.BPF_JMP | isa.BPF_CALL, 0, 0, 0, uapi.BPF_FUNC_map_lookup_elem),
        BPF_JMP_IMM(isa.BPF_JEQ, 0, 0, 3),
        BPF_MOV64_IMM(1, 5),
        BPF_ATOMIC_OP(isa.BPF_DW, isa.BPF_ADD, 0, 1, 0),
        BPF_LDX_MEM(isa.BPF_DW, 0, 0, 0),
        BPF_EXIT_INSN(),
    ]
    engine = JitEngine(prog, helpers=Program(prog).helpers)
    mem = Memory()
    assert engine.run(mem=mem) == 5
    assert engine.run(mem=mem) == 10
    assert m[2] == (10).to_bytes(8, "little")
    m[2] = (100).to_bytes(8, "little")  # and the program sees what Python wrote
    assert engine.run(mem=mem) == 105


def test_equal_programs_with_different_maps_share_code_not_maps() -> None:
    """The code cache ignores what LDDW refers to; each engine binds its own maps."""
    maps = [Map(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 4) for _ in range(2)]
    engines = []
    for m in maps:
        prog = [
            BPF_ST_MEM(isa.BPF_W, 10, -4, 1),
            BPF_MOV64_REG(2, 10),
            BPF_ALU64_IMM(isa.BPF_ADD, 2, -4),
            BPF_LD_MAP_FD(1, m).replace(imm=0),  # as a loader leaves it: the map in ref
            BPF_RAW_INSN(isa.BPF_JMP | isa.BPF_CALL, 0, 0, 0, uapi.BPF_FUNC_map_lookup_elem),
            BPF_JMP_IMM(isa.BPF_JEQ, 0, 0, 2),
            BPF_MOV64_IMM(1, 1),
            BPF_ATOMIC_OP(isa.BPF_DW, isa.BPF_ADD, 0, 1, 0),
            BPF_MOV64_IMM(0, 0),
            BPF_EXIT_INSN(),
        ]
        engines.append(JitEngine(prog, helpers=Program(prog).helpers))
    assert engines[0].code is engines[1].code
    for n, engine in enumerate(engines):
        for _ in range(n + 2):
            engine.run()
    assert [int.from_bytes(m[1], "little") for m in maps] == [2, 3]


def test_compiled_once_per_program() -> None:
    insns = assemble("mov %r0, 12345\nexit")
    assert compile_program(insns) is compile_program(list(insns))
    assert JitEngine(insns).code is JitEngine(insns).code


def test_machine_code_is_cached_on_disk() -> None:
    """A program compiled by an earlier process loads its object file instead of compiling."""
    insns = assemble("mov %r0, 777\nmov %r1, 3\nmul %r0, %r1\nexit")
    jit_cache_clear()
    first = JitEngine(insns)
    jit_cache_clear()  # as in a new process: only the disk cache is left
    second = JitEngine(insns)
    assert not first.code.from_disk and second.code.from_disk
    assert first.run() == second.run() == 2331


def test_jit_program_runs_only_verified_programs() -> None:
    unverifiable = Program([BPF_MOV64_REG(0, 3), BPF_EXIT_INSN()])  # R3 !read_ok
    with pytest.raises(VerifierError):
        Program(unverifiable.insns, engine="jit")
    assert unverified_jit(unverifiable).run(bytes(60)) == 0


# --- random ALU/JMP programs ----------------------------------------------------------------

_ALU_OPS = [
    isa.BPF_ADD, isa.BPF_SUB, isa.BPF_MUL, isa.BPF_DIV, isa.BPF_OR, isa.BPF_AND,
    isa.BPF_LSH, isa.BPF_RSH, isa.BPF_MOD, isa.BPF_XOR, isa.BPF_MOV, isa.BPF_ARSH,
]  # fmt: skip
_JMP_OPS = [
    isa.BPF_JEQ, isa.BPF_JGT, isa.BPF_JGE, isa.BPF_JSET, isa.BPF_JNE, isa.BPF_JSGT,
    isa.BPF_JSGE, isa.BPF_JLT, isa.BPF_JLE, isa.BPF_JSLT, isa.BPF_JSLE,
]  # fmt: skip
_IMM = st.one_of(
    st.sampled_from([0, 1, -1, 2, 31, 32, 63, 64, 0x7FFF_FFFF, -0x8000_0000]),
    st.integers(-(2**31), 2**31 - 1),
)
_REG = st.integers(0, 8)  # r9 holds a stack pointer, r10 is the frame


@st.composite
def _body_insn(draw: Any, remaining: int) -> Insn:
    kind = draw(st.sampled_from(["alu64", "alu32", "alu64", "alu32", "neg", "end", "sx",
                                 "jmp", "jmp32", "mem", "atomic", "movsx"]))  # fmt: skip
    d, s = draw(_REG), draw(_REG)
    if kind in ("alu64", "alu32"):
        op = draw(st.sampled_from(_ALU_OPS))
        off = 1 if op in (isa.BPF_DIV, isa.BPF_MOD) and draw(st.booleans()) else 0
        reg = draw(st.booleans())
        cls = isa.BPF_ALU64 if kind == "alu64" else isa.BPF_ALU
        if reg:
            return Insn(cls | op | isa.BPF_X, d, s, off, 0)
        imm = draw(_IMM)
        if op in (isa.BPF_LSH, isa.BPF_RSH, isa.BPF_ARSH):  # the kernel refuses others
            imm &= 63 if cls == isa.BPF_ALU64 else 31
        return Insn(cls | op | isa.BPF_K, d, 0, off, imm)
    if kind == "neg":
        cls = draw(st.sampled_from([isa.BPF_ALU64, isa.BPF_ALU]))
        return Insn(cls | isa.BPF_NEG, d)
    if kind == "movsx":
        bits = draw(st.sampled_from([8, 16, 32]))
        if bits == 32 or draw(st.booleans()):
            return Insn(isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_X, d, s, bits, 0)
        return Insn(isa.BPF_ALU | isa.BPF_MOV | isa.BPF_X, d, s, bits, 0)
    if kind == "end":
        code = draw(st.sampled_from([isa.BPF_ALU | isa.BPF_END | isa.BPF_TO_LE,
                                     isa.BPF_ALU | isa.BPF_END | isa.BPF_TO_BE,
                                     isa.BPF_ALU64 | isa.BPF_END]))  # fmt: skip
        return Insn(code, d, 0, 0, draw(st.sampled_from([16, 32, 64])))
    if kind == "sx":  # sign-extending load of what an earlier store left on the stack
        size = draw(st.sampled_from([isa.BPF_B, isa.BPF_H, isa.BPF_W]))
        return BPF_LDX_MEMSX(size, d, 9, -8 * draw(st.integers(0, 7)))
    if kind in ("jmp", "jmp32"):
        op = draw(st.sampled_from(_JMP_OPS))
        off = draw(st.integers(0, max(remaining - 1, 0)))
        if kind == "jmp":
            if draw(st.booleans()):
                return BPF_JMP_REG(op, d, s, off)
            return BPF_JMP_IMM(op, d, draw(_IMM), off)
        if draw(st.booleans()):
            return BPF_JMP32_REG(op, d, s, off)
        return BPF_JMP32_IMM(op, d, draw(_IMM), off)
    if kind == "mem":
        size = draw(st.sampled_from([isa.BPF_B, isa.BPF_H, isa.BPF_W, isa.BPF_DW]))
        slot = -8 * draw(st.integers(1, 8))
        which = draw(st.sampled_from(["stx", "st", "ldx", "stx10", "ldx10"]))
        if which == "stx":
            return BPF_STX_MEM(size, 9, s, slot)
        if which == "st":
            return BPF_ST_MEM(size, 9, slot, draw(_IMM))
        if which == "stx10":
            return BPF_STX_MEM(size, 10, s, slot - 256)
        if which == "ldx10":
            return BPF_LDX_MEM(size, d, 10, slot - 256)
        return BPF_LDX_MEM(size, d, 9, slot)
    size = draw(st.sampled_from([isa.BPF_W, isa.BPF_DW]))
    op = draw(st.sampled_from([isa.BPF_ADD, isa.BPF_OR, isa.BPF_AND, isa.BPF_XOR,
                               isa.BPF_ADD | isa.BPF_FETCH, isa.BPF_XOR | isa.BPF_FETCH,
                               isa.BPF_XCHG, isa.BPF_CMPXCHG]))  # fmt: skip
    return BPF_ATOMIC_OP(size, op, 9, s, -8 * draw(st.integers(1, 8)))


@st.composite
def alu_jmp_programs(draw: Any) -> list[Insn]:
    n = draw(st.integers(1, 24))
    prog: list[Insn] = [BPF_LD_IMM64(r, draw(st.integers(0, M64))) for r in range(9)]
    prog += [BPF_MOV64_REG(9, 10), BPF_ALU64_IMM(isa.BPF_ADD, 9, -128)]
    # the kernel does not zero the stack: initialise every slot the body may read
    prog += [BPF_ST_MEM(isa.BPF_DW, 9, -8 * k, 0) for k in range(9)]
    prog += [BPF_ST_MEM(isa.BPF_DW, 10, -256 - 8 * k, 0) for k in range(1, 9)]
    for i in range(n):
        prog.append(draw(_body_insn(n - i)))
    # fold every register into R0 so that a difference anywhere shows
    for r in range(1, 9):
        prog.append(BPF_ALU64_IMM(isa.BPF_MUL, 0, 31))
        prog.append(BPF_ALU64_REG(isa.BPF_XOR, 0, r))
    prog.append(
        BPF_ALU32_REG(isa.BPF_ADD, 0, 0)
        if draw(st.booleans())
        else BPF_ALU64_IMM(isa.BPF_ADD, 0, 0)
    )
    prog.append(BPF_LDX_MEM(isa.BPF_DW, 1, 9, -8))
    prog.append(BPF_ALU64_REG(isa.BPF_XOR, 0, 1))
    prog.append(BPF_EXIT_INSN())
    return prog


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alu_jmp_programs())
def test_random_alu_jmp_programs_agree(prog: list[Insn]) -> None:
    assert both(prog)[0] == "ok"


@pytest.mark.kernel
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alu_jmp_programs())
def test_random_alu_jmp_programs_agree_with_the_kernel(prog: list[Insn]) -> None:
    """The oracle: the kernel runs the same program (BPF_PROG_TEST_RUN); u32 R0 matches."""
    require_bpf()
    from pybpf.kernel import KernelProgram

    try:
        kprog = KernelProgram(prog)
    except BpfError:  # the kernel's verifier may refuse a random program
        reject()
    try:
        want = kprog.test_run(bytes(64)).retval
    finally:
        kprog.close()
    assert JitEngine(prog).run(r1=0) & 0xFFFF_FFFF == want


_CODES = sorted(isa.OPCODES)


@st.composite
def any_programs(draw: Any) -> list[Insn]:
    """Arbitrary instructions from the opcode table, fields mostly in range: malformed
    encodings, wild pointers, loops and bad jumps included."""
    n = draw(st.integers(1, 12))
    prog = []
    for _ in range(n):
        code = draw(st.sampled_from(_CODES))
        reg = st.integers(0, 10) | st.integers(0, 15)
        off = draw(st.integers(-4, 4) | st.integers(-0x8000, 0x7FFF) | st.sampled_from([8, 16, 32]))
        imm = draw(_IMM | st.sampled_from([1, 5, 6, 12, 16, 32, 64]))
        hi = draw(st.integers(-(2**31), 2**31 - 1)) if code == 0x18 else 0
        src = draw(reg)
        if code == 0x18 and draw(st.booleans()):
            src = 0
        prog.append(Insn(code, draw(reg), src, off, imm, hi))
    if draw(st.booleans()):
        prog.append(BPF_EXIT_INSN())
    return prog


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_programs(), st.binary(min_size=0, max_size=24))
def test_arbitrary_instruction_streams_agree(prog: list[Insn], data: bytes) -> None:
    """Whatever the program does — faults, budget, malformed code — both engines say so alike."""
    both(prog, mem_bytes=data or None, helpers=CONFORMANCE_HELPERS, budget=5000)


# --- the seed's programs on every captured frame ------------------------------------------


def _frames() -> list[bytes]:
    frames = []
    for p in sorted(PCAPS.glob("*.pcap*")):
        try:
            with open_capture(p) as reader:
                frames += [bytes(pk.data) for pk in reader.iter_packets(strict=False)]
        except BpfError:
            continue
    return frames


SEED_PROGRAMS = [
    ROOT / "examples" / n
    for n in ("sockex1_kern.c", "sockex2_kern.c", "sockex1_macros.py", "sockex3_btf_kern.c")
]


@pytest.mark.skipif(not PCAPS.is_dir(), reason=f"no captures at {PCAPS}")
@pytest.mark.parametrize("source", SEED_PROGRAMS, ids=lambda p: p.name)
def test_seed_programs_on_every_frame(source: Path) -> None:
    frames = _frames()
    assert len(frames) > 50
    interp_coll = pybpf.load(source)
    jit_coll = pybpf.load(source, engine="jit")
    interp_prog = interp_coll.program()
    jit = jit_coll.program()
    interp_rets = [interp_prog.run(f) for f in frames]
    jit_rets = [jit.run(f) for f in frames]
    assert jit_rets == interp_rets
    for f in frames[::7]:  # BPF_PROG_TEST_RUN's view of the frame, too
        try:
            want: Any = interp_prog.test_run(f, repeat=2)
            want = (want.retval, want.data_out)
        except BpfError as e:
            want = (type(e), str(e))
        try:
            got: Any = jit.test_run(f, repeat=2)
            got = (got.retval, got.data_out)
        except BpfError as e:
            got = (type(e), str(e))
        assert got == want
    assert jit.name == interp_prog.name and len(jit.maps) == len(interp_prog.maps)
    assert set(interp_coll.maps) == set(jit_coll.maps)
    for name, m in interp_coll.maps.items():
        assert dict(jit_coll.maps[name].items()) == dict(m.items()), name
        assert bytes(jit_coll.maps[name].storage) == bytes(m.storage), name
    assert any(v != bytes(len(v)) for m in jit_coll.maps.values() for v in m.values())


@pytest.mark.skipif(not PCAPS.is_dir(), reason=f"no captures at {PCAPS}")
def test_jit_program_attached_to_a_packet_socket() -> None:
    """The socket applies the JIT's verdicts as the interpreter's: same counters, same bytes."""
    from pybpf.net.socket import PacketSocket

    frames = _frames()
    source = SEED_PROGRAMS[1]  # sockex2: returns skb->len, so every frame is kept whole
    out = []
    for engine in ("interp", "jit"):
        coll = pybpf.load(source, engine=engine)
        sock = PacketSocket(rcvbuf=1 << 24)
        sock.attach(coll.program())
        sock.deliver_all(frames, drain=False)
        got = []
        while sock.pending():
            got.append(sock.recv(65536))
        out.append((sock.stats(), got, bytes(coll.maps["dst_count"].storage)))
    assert out[0] == out[1]
    assert out[0][0]["received"] == len(frames)


@pytest.mark.skipif(not PCAPS.is_dir(), reason=f"no captures at {PCAPS}")
@pytest.mark.parametrize("source", SEED_PROGRAMS[:2], ids=lambda p: p.name)
def test_jit_engine_as_the_engine_of_a_program(source: Path) -> None:
    """What ``Program(..., engine="jit")`` does: the same Program with JitEngine in place of
    its Interpreter (same constructor arguments). run() and test_run() agree everywhere."""
    frames = _frames()
    c_int, c_jit = pybpf.load(source), pybpf.load(source)
    p_int, p_jit = c_int.program(), c_jit.program()
    p_jit.verify()
    p_jit._interp = JitEngine(
        p_jit.insns,
        helpers=p_jit.helpers,
        maps=p_jit._resolve_map,
        budget=p_int._interp.budget,
        prog=p_jit,
    )
    assert [p_jit.run(f) for f in frames] == [p_int.run(f) for f in frames]
    for f in frames[:30]:
        try:
            want: Any = p_int.test_run(f, repeat=2)
        except BpfError as e:
            want = (type(e), str(e))
        try:
            got: Any = p_jit.test_run(f, repeat=2)
        except BpfError as e:
            got = (type(e), str(e))
        if isinstance(want, tuple):
            assert got == want
        else:
            assert (got.retval, got.data_out) == (want.retval, want.data_out)
    for name, m in c_int.maps.items():
        assert bytes(c_jit.maps[name].storage) == bytes(m.storage), name


def test_context_loads_use_the_kernels_narrow_rewrite() -> None:
    """Every 1/2/4/8-byte load at every offset of __sk_buff, as the interpreter's ctx_load."""
    from pybpf.progtypes import SIZEOF_SK_BUFF

    prog: list[Insn] = [BPF_MOV64_REG(6, 1), BPF_MOV64_IMM(0, 0)]
    for size, code in ((1, isa.BPF_B), (2, isa.BPF_H), (4, isa.BPF_W), (8, isa.BPF_DW)):
        for off in range(0, SIZEOF_SK_BUFF - size + 1, size):
            prog += [
                BPF_LDX_MEM(code, 2, 6, off),
                BPF_ALU64_IMM(isa.BPF_MUL, 0, 33),
                BPF_ALU64_REG(isa.BPF_XOR, 0, 2),
            ]
    prog.append(BPF_EXIT_INSN())
    interp = Program(prog)
    jit = unverified_jit(Program(prog))
    frame = bytes.fromhex("ffffffffffff0200000000020800") + bytes(range(60))
    for kw in ({}, {"mark": 0x11223344, "priority": 7, "hash": 0xABCDEF01}, {"pull_mac": True}):
        skb_a, skb_b = SkBuff.from_frame(frame, **kw), SkBuff.from_frame(frame, **kw)
        skb_a.cb[:] = skb_b.cb[:] = bytes(range(20))
        assert jit.run_skb(skb_b) == interp.run_skb(skb_a)


@pytest.mark.skipif(not PCAPS.is_dir(), reason=f"no captures at {PCAPS}")
def test_ld_abs_across_fragments_and_from_the_mac_header() -> None:
    """Loads the native head path cannot serve go to skb.load_abs, as in the interpreter."""
    text = """
    ldxw %r6, [%r1+0]
    ldabsh 12
    mov %r7, %r0
    ldabsb 40
    add %r7, %r0
    ldabsw -0x200000
    add %r7, %r0
    mov %r8, 30
    ldindw %r8, 4
    add %r7, %r0
    mov %r0, %r7
    add %r0, %r6
    exit
    """
    insns = assemble(text)
    interp = Program(insns)
    jit = unverified_jit(Program(insns))
    for f in _frames()[:40]:
        for linear in (None, 20, 38):
            a = interp.run(SkBuff.from_frame(f, linear=linear) if linear and linear < len(f) else f)
            b = jit.run(SkBuff.from_frame(f, linear=linear) if linear and linear < len(f) else f)
            assert a == b
