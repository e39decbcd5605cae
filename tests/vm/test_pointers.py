"""Pointer values look like the kernel's, and the frame rules every engine shares.

A pointer's low 32 bits are never 0 (regions start REGION_BIAS bytes into their
4 GiB slot), so a pointer tested with a 32-bit compare, or used as a tail-call
index, behaves as in Linux; checked against the kernel where bpf() works.
Each 512-byte frame is zeroed when entered, in both engines alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import pybpf
from conftest import require_bpf
from pybpf import isa
from pybpf.asm.text import assemble
from pybpf.errors import MemoryAccessError, VmError
from pybpf.isa import Insn
from pybpf.maps import Map
from pybpf.vm.interp import Interpreter
from pybpf.vm.jit import JitEngine
from pybpf.vm.memory import HANDLE_BASE, REGION_BIAS, Memory

M32 = (1 << 32) - 1

HEADER = """#include <bpf_helpers.h>
char _license[] SEC("license") = "GPL";
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32);
         __type(value, __u64); } arr SEC(".maps");
"""

#: a map value pointer as a tail-call index: out of range in Linux, so the call falls through
TAIL_INDEX_C = (
    HEADER
    + """
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4); __type(key, __u32);
         __type(value, __u32); } jmp SEC(".maps");
SEC("socket") int target(struct __sk_buff *skb) { return 2; }
SEC("socket") int prog(struct __sk_buff *skb)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&arr, &k);
    if (!v)
        return 0;
    bpf_tail_call(skb, &jmp, (__u32)(unsigned long)v);
    return 1;
}
"""
)

#: the low half of a valid pointer is never 0
LOW_HALF_C = (
    HEADER
    + """
SEC("socket") int prog(struct __sk_buff *skb)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&arr, &k);
    if (!v)
        return 0;
    if ((__u32)(unsigned long)v == 0)
        return 3;
    return 4;
}
"""
)

FRAME = bytes(14) + bytes(40)


def _retval(src: Path, backend: str, engine: str) -> int:
    coll = pybpf.load(src, backend=backend, engine=engine)
    try:
        if "jmp" in coll.maps:
            coll.maps["jmp"][0] = coll.programs["target"].fd
        return int(coll.programs["prog"].test_run(FRAME).retval)
    finally:
        coll.close()


@pytest.mark.parametrize(
    "name,source,want", [("tail_index", TAIL_INDEX_C, 1), ("low_half", LOW_HALF_C, 4)]
)
@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_pointers_behave_as_in_linux(
    tmp_path: Path, name: str, source: str, want: int, engine: str
) -> None:
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    assert _retval(src, "user", engine) == want


@pytest.mark.kernel
@pytest.mark.parametrize("name,source", [("tail_index", TAIL_INDEX_C), ("low_half", LOW_HALF_C)])
def test_pointers_agree_with_the_kernel(tmp_path: Path, name: str, source: str) -> None:
    require_bpf()
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    assert _retval(src, "user", "interp") == _retval(src, "kernel", "interp")


def test_every_address_a_program_gets_has_a_nonzero_low_half() -> None:
    m = Memory()
    regions = [m.add_region(bytearray(16), name=f"r{i}") for i in range(3)]
    assert all(r.base & M32 == REGION_BIAS for r in regions)
    assert m.handle(object()) & M32 != 0
    assert m.handle(Map(2, 4, 8, 1)) & M32 != 0 and m.handle(Map(2, 4, 8, 1)) >= HANDLE_BASE
    for cls in (Interpreter, JitEngine):
        assert cls(assemble("mov %r0, %r10\nexit")).run() & M32 != 0


def test_an_access_below_a_region_start_names_it() -> None:
    m = Memory()
    r = m.add_region(bytearray(8), name="mem")
    with pytest.raises(MemoryAccessError, match="2 bytes before the start of mem"):
        m.load(r.base - 2, 4, pc=0)
    for cls in (Interpreter, JitEngine):
        mem = Memory()
        reg = mem.add_region(bytearray(8), name="mem")
        with pytest.raises(MemoryAccessError, match="before the start of mem") as ei:
            cls(assemble("ldxw %r0, [%r1-4]\nexit")).run(mem=mem, r1=reg.base)
        assert ei.value.pc == 0 and ei.value.addr == reg.base - 4


CALLEE_READS_ITS_FRAME = """
    call local f
    stdw [%r10-8], 0
    call local f
    exit
f:
    ldxdw %r0, [%r10-8]
    stdw [%r10-8], 77
    exit
"""


@pytest.mark.parametrize("cls", [Interpreter, JitEngine])
def test_each_frame_is_zeroed_when_entered(cls: Any) -> None:
    """A second call of f sees a zero where the first left 77 (the kernel leaves
    garbage; pybpf gives every engine the same zeros)."""
    engine = cls(assemble(CALLEE_READS_ITS_FRAME))
    mem = Memory()
    assert engine.run(mem=mem) == 0
    assert engine.run(mem=mem) == 0


def _loop_with_callback() -> list[Insn]:
    """bpf_loop(50, cb, 0, 0) with a 2-instruction callback, then a 100-round loop."""
    head = assemble("mov %r1, 50")
    lddw = Insn(
        isa.BPF_LD | isa.BPF_IMM | isa.BPF_DW, 2, isa.BPF_PSEUDO_FUNC, 0, 9
    )  # -> cb (slot 11)
    rest = assemble(
        "mov %r3, 0\nmov %r4, 0\ncall 181\nmov %r6, 0\nl:\nadd %r6, 1\njlt %r6, 100, l\n"
        "mov %r0, %r6\nexit\nmov %r0, 0\nexit"
    )
    return head + [lddw] + rest


@pytest.mark.parametrize("cls", [Interpreter, JitEngine])
def test_callbacks_count_against_the_runs_budget(cls: Any) -> None:
    from pybpf.helpers import helpers_for

    insns = _loop_with_callback()
    engine = cls(insns, helpers=helpers_for(1))
    assert engine.run() == 100
    total = engine.steps
    assert total == 5 + 50 * 2 + 1 + 100 * 2 + 2
    assert engine.run(budget=total) == 100
    with pytest.raises(VmError, match="budget exhausted") as ei:
        engine.run(budget=total - 1)
    assert ei.value.pc is not None


@pytest.mark.parametrize("cls", [Interpreter, JitEngine])
def test_a_bad_pointer_given_to_a_helper_names_the_call(cls: Any) -> None:
    from pybpf import uapi
    from pybpf.helpers import helpers_for
    from pybpf.maps import Map

    m = Map(uapi.BPF_MAP_TYPE_HASH, 8, 8, 4)
    text = "mov %r2, 16\ncall 1\nexit"  # the key pointer is the number 16
    insns = [Insn(isa.BPF_LD | isa.BPF_IMM | isa.BPF_DW, 1, isa.BPF_PSEUDO_MAP_FD, 0, 0, ref=m)]
    engine = cls(insns + assemble(text), helpers=helpers_for(1))
    with pytest.raises(MemoryAccessError) as ei:
        engine.run()
    assert ei.value.pc == 3 and ei.value.addr == 16
    assert str(ei.value).startswith("pc 3: invalid read of 8 bytes at 0x10")
