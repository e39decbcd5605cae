"""The interpreter: every instruction kind, the kernel's edge cases, faults, limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf import isa
from pybpf.asm.text import assemble
from pybpf.errors import BpfError, MemoryAccessError, VmError
from pybpf.isa import Insn
from pybpf.vm.interp import (
    MAX_CALL_FRAMES,
    MAX_TAIL_CALL_CNT,
    Interpreter,
    ProgramExit,
    RunEnv,
    SubprogRef,
    TailCall,
    run,
)
from pybpf.vm.memory import Memory

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
INT64_MIN = 1 << 63


def r0(text: str, **kw: Any) -> int:
    return run(assemble(text), **kw)


@dataclass
class H:
    """A helper as the brief's contract shapes it."""

    id: int
    name: str
    fn: Any
    proto: Any = None


# --- ALU --------------------------------------------------------------------------------------

ALU_CASES = [
    # (program, expected r0)
    ("lddw %r0, 0xffffffffffffffff\nadd %r0, 1", 0),
    ("mov %r0, -1\nadd32 %r0, 1", 0),
    ("lddw %r0, 0x1ffffffff\nadd32 %r0, 0", 0xFFFF_FFFF),  # 32-bit ops zero-extend
    ("mov %r0, 0\nsub %r0, 1", M64),
    ("mov %r0, 0\nsub32 %r0, 1", M32),
    ("lddw %r0, 0x100000001\nmul %r0, %r0", 0x2_0000_0001),
    ("mov %r0, -1\nmul32 %r0, -1", 1),
    ("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1", 0),  # division by zero gives 0
    ("mov %r0, 7\nmov %r1, 0\ndiv32 %r0, %r1", 0),
    ("lddw %r0, 0x100000007\nmov %r1, 0\nmod %r0, %r1", 0x1_0000_0007),  # mod 0 keeps dst
    ("lddw %r0, 0x100000007\nmov %r1, 0\nmod32 %r0, %r1", 7),  # ... zero-extended (32)
    ("lddw %r0, 0x100000007\nlddw %r1, 0x100000000\nmod32 %r0, %r1", 7),  # low half is 0
    ("mov %r0, -1\ndiv %r0, -1", 1),  # unsigned 64-bit: imm sign-extends
    ("mov %r0, -1\ndiv32 %r0, 2", 0x7FFF_FFFF),
    ("mov %r0, 10\nmod %r0, 3", 1),
    ("lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1", INT64_MIN),  # wraps
    ("lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1", 0),
    ("mov32 %r0, 0x80000000\nsdiv32 %r0, -1", 0x8000_0000),
    ("mov %r0, -7\nsdiv %r0, 2", (-3) & M64),  # truncates toward zero
    ("mov %r0, -7\nsmod %r0, 2", (-1) & M64),  # remainder has the dividend's sign
    ("mov %r0, 7\nsmod %r0, -2", 1),
    ("mov %r0, -7\nsmod32 %r0, 2", M32),
    ("mov %r0, -7\nmov %r1, 0\nsdiv %r0, %r1", 0),
    ("mov %r0, -7\nmov %r1, 0\nsmod %r0, %r1", (-7) & M64),
    ("mov %r0, -7\nmov %r1, 0\nsmod32 %r0, %r1", (-7) & M32),
    ("mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1", 2),  # shift amounts are masked (& 63)
    ("mov %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1", 2),  # ... (& 31)
    ("mov %r0, 1\nlsh %r0, 63", INT64_MIN),
    ("mov %r0, 1\nlsh32 %r0, 31", 0x8000_0000),
    ("mov %r0, -1\nrsh %r0, 60", 0xF),
    ("mov %r0, -1\nrsh32 %r0, 28", 0xF),
    ("mov %r0, -16\narsh %r0, 2", (-4) & M64),
    ("mov32 %r0, 0x80000000\narsh32 %r0, 4", 0xF800_0000),
    ("mov %r0, -16\nmov %r1, 66\narsh %r0, %r1", (-4) & M64),
    ("mov %r0, 5\nneg %r0", (-5) & M64),
    ("mov %r0, 5\nneg32 %r0", (-5) & M32),
    ("mov %r0, 0\nneg %r0", 0),
    ("lddw %r0, 0x8000000000000000\nneg %r0", INT64_MIN),
    ("mov %r0, -1", M64),  # mov imm sign-extends ...
    ("mov32 %r0, -1", M32),  # ... mov32 zero-extends
    ("lddw %r1, 0x123456789\nmov32 %r0, %r1", 0x2345_6789),
    ("mov %r1, 0x80\nmovsx864 %r0, %r1", (-0x80) & M64),
    ("mov %r1, 0x80\nmovsx832 %r0, %r1", 0xFFFF_FF80),
    ("mov %r1, 0x8000\nmovsx1664 %r0, %r1", (-0x8000) & M64),
    ("mov %r1, 0x8000\nmovsx1632 %r0, %r1", 0xFFFF_8000),
    ("mov32 %r1, 0x80000000\nmovsx3264 %r0, %r1", (-0x8000_0000) & M64),
    ("mov %r1, 0x7f\nmovsx864 %r0, %r1", 0x7F),
    ("lddw %r0, 0xf0f0f0f0f0f0f0f0\nor %r0, 0xf", 0xF0F0_F0F0_F0F0_F0FF),
    ("lddw %r0, 0xf0f0f0f0f0f0f0f0\nor32 %r0, 0xf", 0xF0F0_F0FF),
    ("lddw %r0, 0xf0f0f0f0f0f0f0f0\nand %r0, -1", 0xF0F0_F0F0_F0F0_F0F0),
    ("lddw %r0, 0xf0f0f0f0f0f0f0f0\nxor32 %r0, -1", 0x0F0F_0F0F),
    ("lddw %r0, 0x0102030405060708\nle16 %r0", 0x0708),
    ("lddw %r0, 0x0102030405060708\nle32 %r0", 0x0506_0708),
    ("lddw %r0, 0x0102030405060708\nle64 %r0", 0x0102_0304_0506_0708),
    ("lddw %r0, 0x0102030405060708\nbe16 %r0", 0x0807),
    ("lddw %r0, 0x0102030405060708\nbe32 %r0", 0x0807_0605),
    ("lddw %r0, 0x0102030405060708\nbe64 %r0", 0x0807_0605_0403_0201),
    ("lddw %r0, 0x0102030405060708\nbswap16 %r0", 0x0807),
    ("lddw %r0, 0x0102030405060708\nbswap32 %r0", 0x0807_0605),
    ("lddw %r0, 0x0102030405060708\nbswap64 %r0", 0x0807_0605_0403_0201),
]


@pytest.mark.parametrize("text,expected", ALU_CASES, ids=[c[0].split("\n")[-1] for c in ALU_CASES])
def test_alu(text: str, expected: int) -> None:
    assert r0(text + "\nexit") == expected


# --- jumps ------------------------------------------------------------------------------------

JMP_CASES = [
    ("lddw %r1, 0xffffffffffffffff", "jgt %r1, 1", True),
    ("lddw %r1, 0xffffffffffffffff", "jsgt %r1, 1", False),
    ("lddw %r1, 0xffffffffffffffff", "jslt %r1, 0", True),
    ("lddw %r1, 0xffffffffffffffff", "jeq %r1, -1", True),  # imm sign-extends to 64 bits
    ("lddw %r1, 0x00000000ffffffff", "jeq %r1, -1", False),
    ("lddw %r1, 0x00000000ffffffff", "jeq32 %r1, -1", True),
    ("lddw %r1, 0x1ffffffff", "jslt32 %r1, 0", True),  # JMP32 looks at the low half
    ("lddw %r1, 0x100000000", "jne32 %r1, 0", False),
    ("mov %r1, 6", "jset %r1, 2", True),
    ("lddw %r1, 0x100000000", "jset32 %r1, -1", False),
    ("mov %r1, 5", "jge %r1, 5", True),
    ("mov %r1, 5", "jlt %r1, 5", False),
    ("mov %r1, 5", "jle %r1, 5", True),
    ("mov %r1, -5", "jsge %r1, -5", True),
    ("mov %r1, -5", "jsle %r1, -6", False),
    ("mov %r1, 3\nmov %r2, 3", "jeq %r1, %r2", True),
    ("mov %r1, -1\nmov %r2, 1", "jsgt %r2, %r1", True),
    ("mov %r1, -1\nmov %r2, 1", "jgt %r2, %r1", False),
]


@pytest.mark.parametrize("setup,jump,taken", JMP_CASES, ids=[c[1] for c in JMP_CASES])
def test_conditional_jumps(setup: str, jump: str, taken: bool) -> None:
    text = f"{setup}\nmov %r0, 1\n{jump}, yes\nmov %r0, 0\nyes:\nexit"
    assert r0(text) == int(taken)


def test_ja_and_gotol() -> None:
    assert r0("mov %r0, 1\nja +1\nmov %r0, 2\nexit") == 1
    assert r0("mov %r0, 1\nja32 +1\nmov %r0, 2\nexit") == 1
    prog = [
        Insn(0xB7, 0, 0, 0, 1),
        Insn(isa.BPF_JMP32 | isa.BPF_JA, 0, 0, 0, 1),
        Insn(0xB7, 0, 0, 0, 2),
        Insn(0x95),
    ]
    assert run(prog) == 1


def test_backward_loop_and_step_count() -> None:
    it = Interpreter(
        assemble("mov %r0, 0\nmov %r1, 0\nl:\nadd %r0, %r1\nadd %r1, 1\njlt %r1, 100, l\nexit")
    )
    assert it.run() == sum(range(100))
    assert it.steps == 2 + 3 * 100 + 1


# --- memory -----------------------------------------------------------------------------------


def test_stack_store_load_all_sizes() -> None:
    text = """
    lddw %r1, 0x8877665544332211
    stxdw [%r10-8], %r1
    ldxb %r2, [%r10-8]
    ldxh %r3, [%r10-8]
    ldxw %r4, [%r10-8]
    ldxdw %r5, [%r10-8]
    stb [%r10-16], 0x1ff
    sth [%r10-14], -1
    stw [%r10-12], 0x12345678
    ldxdw %r0, [%r10-16]
    exit
    """
    it = Interpreter(assemble(text))
    assert it.run() == 0x1234_5678_FFFF_00FF
    env = it._instances[next(iter(it._instances))].env
    assert env.regs[2:6] == [0x11, 0x2211, 0x4433_2211, 0x8877_6655_4433_2211]


def test_sign_extending_loads() -> None:
    base = "lddw %r1, 0x8877665544332211\nstxdw [%r10-8], %r1\n"
    assert r0(base + "ldxsb %r0, [%r10-1]\nexit") == (0x88 - 0x100) & M64
    assert r0(base + "ldxsh %r0, [%r10-2]\nexit") == (0x8877 - 0x10000) & M64
    assert r0(base + "ldxsw %r0, [%r10-4]\nexit") == (0x8877_6655 - (1 << 32)) & M64
    assert r0(base + "ldxsb %r0, [%r10-8]\nexit") == 0x11


def test_caller_memory_in_r1() -> None:
    m = Memory()
    buf = bytearray(b"\x01\x02\x03\x04\x05\x06\x07\x08")
    reg = m.add_region(buf, name="mem")
    it = Interpreter(assemble("ldxw %r0, [%r1+4]\nstw [%r1], 0x41424344\nexit"))
    assert it.run(mem=m, r1=reg.base, r2=len(buf)) == 0x0807_0605
    assert buf[:4] == b"DCBA"


@pytest.mark.parametrize(
    "text,pc,size,kind",
    [
        ("ldxw %r0, [%r10]\nexit", 0, 4, "read"),  # R10 is one past the frame
        ("mov %r0, 0\nstxdw [%r0+16], %r0\nexit", 1, 8, "write"),  # NULL + 16
        ("mov %r0, 1\nldxb %r0, [%r10-4097]\nexit", 1, 1, "read"),  # below all frames
    ],
)
def test_bad_access_names_pc_address_size(text: str, pc: int, size: int, kind: str) -> None:
    with pytest.raises(MemoryAccessError) as ei:
        r0(text)
    e = ei.value
    assert e.pc == pc and e.size == size
    assert str(e).startswith(f"pc {pc}: invalid {kind} of {size} byte")
    assert f"{e.addr:#x}" in str(e)


@pytest.mark.parametrize(
    "text",
    [
        "stdw [%r10-520], 1\nmov %r0, 0\nexit",  # below the 512-byte frame
        "ldxdw %r0, [%r10-516]\nexit",
        "ldxw %r0, [%r10-2]\nexit",  # straddles the top
        "call local f\nexit\nf:\nldxdw %r0, [%r10+8]\nexit",  # R10-relative into the caller
    ],
)
def test_r10_access_outside_the_frame(text: str) -> None:
    with pytest.raises(MemoryAccessError, match="outside the 512-byte stack frame"):
        r0(text)


@pytest.mark.parametrize(
    "text",
    [
        "mov %r10, 0\nexit",
        "add %r10, 8\nexit",
        "ldxdw %r10, [%r10-8]\nexit",
        "lddw %r10, 1\nexit",
        "lock fetch add [%r1], %r10\nexit",
    ],
)
def test_frame_pointer_is_read_only(text: str) -> None:
    with pytest.raises(VmError, match="frame pointer is read only") as ei:
        r0(text)
    assert ei.value.pc == 0


def test_store_to_read_only_region() -> None:
    m = Memory()
    ro = m.add_region(b"\x00" * 8, name="ctx")
    with pytest.raises(MemoryAccessError, match="read-only"):
        Interpreter(assemble("stw [%r1], 1\nexit")).run(mem=m, r1=ro.base)


# --- atomics ----------------------------------------------------------------------------------


def _atomic(op: str, init: int, operand: int, r0_init: int = 0) -> tuple[int, int, int]:
    text = f"""
    lddw %r1, {init:#x}
    stxdw [%r10-8], %r1
    lddw %r2, {operand:#x}
    lddw %r0, {r0_init:#x}
    lock {op} [%r10-8], %r2
    ldxdw %r3, [%r10-8]
    exit
    """
    it = Interpreter(assemble(text))
    r = it.run()
    regs = next(iter(it._instances.values())).regs
    return r, regs[2], regs[3]


def test_atomic_ops_without_fetch_leave_src() -> None:
    init, opd = 0xF0F0_0000_0000_00F0, 0x0000_0001_0000_000F
    assert _atomic("add", init, opd)[1:] == (opd, (init + opd) & M64)
    assert _atomic("or", init, opd)[2] == init | opd
    assert _atomic("and", init, opd)[2] == init & opd
    assert _atomic("xor", init, opd)[2] == init ^ opd
    # 32-bit: only the low word changes
    assert _atomic("add32", 0x1_FFFF_FFFF, 1)[2] == 0x1_0000_0000


def test_atomic_fetch_returns_old_value_zero_extended_for_32_bits() -> None:
    init = 0xAAAA_BBBB_CCCC_DDDD
    assert _atomic("fetch add", init, 1)[1:] == (init, init + 1)
    assert _atomic("fetch add32", init, 1)[1:] == (0xCCCC_DDDD, 0xAAAA_BBBB_CCCC_DDDE)
    assert _atomic("fetch or32", init, 0x10)[1] == 0xCCCC_DDDD
    assert _atomic("xchg", init, 5)[1:] == (init, 5)
    assert _atomic("xchg32", init, 5)[1:] == (0xCCCC_DDDD, 0xAAAA_BBBB_0000_0005)


def test_cmpxchg_compares_with_r0() -> None:
    init = 0xAAAA_BBBB_CCCC_DDDD
    r, _, mem = _atomic("cmpxchg", init, 7, r0_init=init)
    assert (r, mem) == (init, 7)
    r, _, mem = _atomic("cmpxchg", init, 7, r0_init=1)
    assert (r, mem) == (init, init)
    # 32-bit: compares the low halves, R0 gets the zero-extended old word
    r, _, mem = _atomic("cmpxchg32", init, 7, r0_init=0xFFFF_FFFF_CCCC_DDDD)
    assert (r, mem) == (0xCCCC_DDDD, 0xAAAA_BBBB_0000_0007)


# --- LDDW pseudo sources ----------------------------------------------------------------------


class FakeMap:
    def __init__(self, name: str, size: int = 16) -> None:
        self.name = name
        self.storage = bytearray(size)


def test_lddw_map_fd_map_idx_and_ref_give_handles() -> None:
    m1, m2, m3 = FakeMap("a"), FakeMap("b"), FakeMap("c")
    mem = Memory()
    prog = [Insn(0x18, 0, isa.BPF_PSEUDO_MAP_FD, 0, 3), Insn(0x95)]
    assert mem.object_at(run(prog, mem=mem, maps={3: m1})) is m1
    prog = [Insn(0x18, 0, isa.BPF_PSEUDO_MAP_IDX, 0, 1), Insn(0x95)]
    assert mem.object_at(run(prog, mem=mem, maps=lambda i: [m1, m2][i])) is m2
    prog = [Insn(0x18, 0, isa.BPF_PSEUDO_MAP_FD, 0, 99, ref=m3), Insn(0x95)]
    assert mem.object_at(run(prog, mem=mem)) is m3
    with pytest.raises(VmError, match="map fd 7"):
        run([Insn(0x18, 0, isa.BPF_PSEUDO_MAP_FD, 0, 7), Insn(0x95)], maps={})


def test_lddw_map_value_points_into_storage() -> None:
    mp = FakeMap("arr", 16)
    mp.storage[4:8] = (0x11223344).to_bytes(4, "little")
    prog = [
        Insn(0x18, 1, isa.BPF_PSEUDO_MAP_VALUE, 0, 3, 4),
        Insn(isa.BPF_LDX | isa.BPF_MEM | isa.BPF_W, 0, 1, 0, 0),
        Insn(isa.BPF_ST | isa.BPF_MEM | isa.BPF_B, 1, 0, 8, 0x7F),
        Insn(0x95),
    ]
    assert run(prog, maps={3: mp}) == 0x11223344
    assert mp.storage[12] == 0x7F


def test_lddw_pseudo_func_loads_a_subprog_reference() -> None:
    mem = Memory()
    # the target is relative to the first LDDW slot, as add_subprog_and_kfunc counts it
    prog = [Insn(0x18, 0, isa.BPF_PSEUDO_FUNC, 0, 2), Insn(0x95), Insn(0xB7), Insn(0x95)]
    ref = mem.object_at(run(prog, mem=mem))
    assert isinstance(ref, SubprogRef) and ref.pc == 3


# --- LD_ABS / LD_IND --------------------------------------------------------------------------


class Skb:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []

    def load_abs(self, off: int, size: int) -> int | None:
        self.calls.append((off, size))
        if off < 0 or off + size > len(self.data):
            return None
        return int.from_bytes(self.data[off : off + size], "big")


def test_ld_abs_is_big_endian_and_zero_extended() -> None:
    skb = Skb(bytes(range(0x80, 0xA0)))
    assert r0("ldabsw 4\nexit", ctx=skb) == 0x8485_8687
    assert r0("ldabsh 4\nexit", ctx=skb) == 0x8485
    assert r0("ldabsb 31\nexit", ctx=skb) == 0x9F


def test_ld_ind_adds_the_register_as_32_bits() -> None:
    skb = Skb(bytes(range(32)))
    assert r0("mov %r2, 3\nldindb %r2, 4\nexit", ctx=skb) == 7
    r0("lddw %r2, 0x1fffffffe\nldindb %r2, 4\nexit", ctx=skb)
    assert skb.calls[-1] == (2, 1)
    r0("mov %r2, 0\nldindh %r2, -2\nexit", ctx=skb)
    assert skb.calls[-1] == (-2, 2)


def test_ld_abs_out_of_bounds_ends_program_with_zero() -> None:
    skb = Skb(bytes(8))
    assert r0("mov %r0, 5\nldabsw 6\nmov %r0, 9\nexit", ctx=skb) == 0


def test_ld_abs_without_socket_buffer_context() -> None:
    with pytest.raises(VmError, match="load_abs"):
        r0("ldabsb 0\nexit")


# --- helpers, callx, unwind, tail calls -------------------------------------------------------


def test_helper_gets_env_and_arguments() -> None:
    seen: dict[str, Any] = {}

    def fn(env: RunEnv, a: int, b: int, c: int, d: int, e: int) -> int:
        seen.update(env=env, args=(a, b, c, d, e))
        env.trace.append("hi")
        return -2

    ctx = object()
    it = Interpreter(
        assemble("mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, -1\ncall 9\nexit"),
        helpers={9: H(9, "h", fn)},
    )
    assert it.run(ctx=ctx, cpu=1) == (-2) & M64
    env = seen["env"]
    assert seen["args"] == (1, 2, 3, 4, M64)
    assert env.ctx is ctx and env.cpu == 1 and isinstance(env.mem, Memory)
    assert env.pc == 5 and env.regs[1:6] == [1, 2, 3, 4, M64]
    assert it.trace == ["hi"]


def test_unknown_helper_fails_only_when_called() -> None:
    assert r0("mov %r0, 1\nja +1\ncall 77\nexit") == 1
    with pytest.raises(VmError) as ei:
        r0("mov %r0, 1\ncall 77\nexit")
    assert ei.value.pc == 1 and "unknown helper 77" in str(ei.value)


def test_callx_calls_the_helper_in_the_register() -> None:
    helpers = {5: H(5, "five", lambda env, *a: a[0] + 100)}
    assert r0("mov %r1, 1\nmov %r3, 5\ncall %r3\nexit", helpers=helpers) == 101
    with pytest.raises(VmError, match="callx to unknown helper 6"):
        r0("mov %r3, 6\ncall %r3\nexit", helpers=helpers)


def test_program_exit_from_helper_ends_at_once() -> None:
    def unwind(env: RunEnv, a: int, *rest: int) -> int:
        if a == 0:
            raise ProgramExit(0)
        return a

    helpers = {5: H(5, "unwind", unwind)}
    assert r0("mov %r1, 0\ncall 5\nmov %r0, 2\nexit", helpers=helpers) == 0
    assert r0("mov %r1, 3\ncall 5\nexit", helpers=helpers) == 3
    # from inside a local call, too
    assert r0("call local f\nmov %r0, 2\nexit\nf:\nmov %r1, 0\ncall 5\nexit", helpers=helpers) == 0


def test_tail_call_runs_the_other_program_with_the_same_context() -> None:
    target = assemble("mov %r0, %r1\nadd %r0, 1\nexit")
    helpers = {12: H(12, "tail_call", lambda env, *a: (_ for _ in ()).throw(TailCall(target)))}
    # R1 in the new program is the context pointer the run started with
    assert r0("mov %r6, %r1\nmov %r1, 5\ncall 12\nmov %r0, 7\nexit", helpers=helpers, r1=41) == 42
    # an empty slot falls through with R0 unchanged
    helpers = {12: H(12, "tail_call", lambda env, *a: (_ for _ in ()).throw(TailCall(None)))}
    assert r0("mov %r0, 3\ncall 12\nexit", helpers=helpers) == 3


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_tail_call_from_a_subprogram_is_refused_not_misrun(engine: str) -> None:
    """The kernel's JIT replaces the subprogram's frame; pybpf says it does not model that
    (it used to end the whole run with the target's R0)."""
    from pybpf.errors import NotSupportedError
    from pybpf.vm.jit import JitEngine

    target = assemble("mov %r0, 1\nexit")
    helpers = {12: H(12, "tail_call", lambda env, *a: (_ for _ in ()).throw(TailCall(target)))}
    text = "call local f\nmov %r0, 2\nexit\nf:\ncall 12\nmov %r0, 3\nexit"
    cls = Interpreter if engine == "interp" else JitEngine
    with pytest.raises(NotSupportedError, match=r"pc 3: a tail call from a BPF-to-BPF subprogram"):
        cls(assemble(text), helpers=helpers).run()


def test_tail_call_limit() -> None:
    count = [0]

    @dataclass
    class Prog:
        insns: list[Insn]

    prog = Prog(assemble("mov %r0, 5\ncall 12\nmov %r0, 99\nexit"))

    def tail(env: RunEnv, *a: int) -> int:
        count[0] += 1
        raise TailCall(prog)

    it = Interpreter(prog.insns, helpers={12: H(12, "tail_call", tail)}, prog=prog)
    assert it.run() == 99
    assert count[0] == MAX_TAIL_CALL_CNT + 1  # the 34th attempt falls through


# --- local calls ------------------------------------------------------------------------------


def test_local_call_saves_r6_r9_and_gets_its_own_frame() -> None:
    text = """
    mov %r6, 6
    mov %r7, 7
    stdw [%r10-8], 100
    mov %r1, 20
    call local f
    ldxdw %r1, [%r10-8]
    add %r0, %r1
    add %r0, %r6
    add %r0, %r7
    exit
    f:
    mov %r6, 0
    mov %r7, 0
    stdw [%r10-8], 5
    mov %r0, %r1
    exit
    """
    assert r0(text) == 20 + 100 + 6 + 7


def test_callee_may_use_callers_stack_through_a_pointer() -> None:
    text = """
    stdw [%r10-8], 40
    mov %r1, %r10
    add %r1, -8
    call local f
    ldxdw %r0, [%r10-8]
    exit
    f:
    ldxdw %r2, [%r1]
    add %r2, 2
    stxdw [%r1], %r2
    exit
    """
    assert r0(text) == 42


def _nested(depth: int) -> str:
    lines = []
    for i in range(depth):
        lines += [f"f{i}:", f"call local f{i + 1}" if i + 1 < depth else "mov %r0, 1", "exit"]
    return "call local f0\nexit\n" + "\n".join(lines)


def test_call_depth_limit() -> None:
    assert r0(_nested(MAX_CALL_FRAMES - 1)) == 1
    with pytest.raises(VmError, match="call depth") as ei:
        r0(_nested(MAX_CALL_FRAMES))
    assert ei.value.pc is not None


def test_unbounded_recursion_is_stopped() -> None:
    with pytest.raises(VmError, match="call depth"):
        r0("f:\ncall local f\nexit")


# --- control-flow faults and the budget --------------------------------------------------------


def test_budget_stops_a_runaway_loop() -> None:
    with pytest.raises(VmError, match="budget exhausted") as ei:
        run(assemble("l:\nja l\nexit"), budget=1000)
    assert ei.value.pc == 0
    it = Interpreter(assemble("mov %r0, 0\nl:\nadd %r0, 1\njlt %r0, 100, l\nexit"), budget=50)
    with pytest.raises(VmError, match="budget"):
        it.run()
    assert it.run(budget=1000) == 100


def test_falling_off_the_end() -> None:
    with pytest.raises(VmError, match="past the last instruction"):
        r0("mov %r0, 1")


def test_jump_outside_the_program_fails_when_taken() -> None:
    prog = [
        Insn(0xB7, 0, 0, 0, 1),
        Insn(isa.BPF_JMP | isa.BPF_JEQ | isa.BPF_K, 0, 0, 10, 2),
        Insn(0x95),
    ]
    assert run(prog) == 1
    prog[0] = Insn(0xB7, 0, 0, 0, 2)
    with pytest.raises(VmError, match="outside the program") as ei:
        run(prog)
    assert ei.value.pc == 1


def test_jump_into_the_middle_of_lddw() -> None:
    prog = [Insn(isa.BPF_JMP | isa.BPF_JA, 0, 0, 1, 0), Insn(0x18, 0, 0, 0, 1, 2), Insn(0x95)]
    with pytest.raises(VmError, match="middle of an LDDW"):
        run(prog)


def test_unknown_opcode_fails_only_when_reached() -> None:
    prog = [
        Insn(0xB7, 0, 0, 0, 1),
        Insn(isa.BPF_JMP | isa.BPF_JA, 0, 0, 1, 0),
        Insn(0xFF),
        Insn(0x95),
    ]
    assert run(prog) == 1
    with pytest.raises(VmError, match="unknown opcode") as ei:
        run([Insn(0xFF), Insn(0x95)])
    assert ei.value.pc == 0


# --- reuse ------------------------------------------------------------------------------------


def test_interpreter_reuse_zeroes_the_stack_and_keeps_memory() -> None:
    it = Interpreter(assemble("ldxdw %r0, [%r10-8]\nstdw [%r10-8], 9\nexit"))
    m = Memory()
    assert it.run(mem=m) == 0
    assert it.run(mem=m) == 0
    assert it.run() == 0
    assert len(list(m.regions)) == 1  # one stack region, reused


def test_bytes_input_is_decoded() -> None:
    code = isa.encode(assemble("mov %r0, 3\nexit"))
    assert run(code) == 3


def test_every_error_is_a_bpf_error() -> None:
    for text in ("ldxw %r0, [%r10]\nexit", "mov %r0, 1", "call 1\nexit"):
        with pytest.raises(BpfError):
            r0(text)


# --- robustness -------------------------------------------------------------------------------

_CODES = sorted(isa.OPCODES)


@st.composite
def _random_program(draw: st.DrawFn) -> list[Insn]:
    n = draw(st.integers(1, 24))
    out = []
    for _ in range(n):
        code = draw(st.sampled_from(_CODES + [0xFF]))
        out.append(
            Insn(
                code,
                draw(st.integers(0, 10)),
                draw(st.integers(0, 10)),
                draw(st.sampled_from([0, 1, 8, 16, 32, -8, -1, 3, n])),
                draw(st.sampled_from([0, 1, -1, 5, 16, 32, 64, 0x7FFF_FFFF, -0x8000_0000, 2])),
                draw(st.integers(-(1 << 31), (1 << 31) - 1)),
            )
        )
    return out


@settings(max_examples=300, deadline=None)
@given(_random_program())
def test_random_programs_only_raise_pybpf_errors(prog: list[Insn]) -> None:
    """Whatever the program, a run ends with R0 or a BpfError, never a Python crash."""
    helpers = {5: H(5, "unwind", lambda env, a, *r: a)}
    mem = Memory()
    region = mem.add_region(bytearray(64), name="mem")
    try:
        v = Interpreter(prog, helpers=helpers, budget=2000).run(
            mem=mem, r1=region.base, r2=64, ctx=Skb(bytes(32))
        )
    except BpfError:
        return
    assert 0 <= v <= M64
