"""Interpreter speed: executed eBPF instructions per second, with references from the same run.

    python bench/bench_interp.py [--repeat N] [--no-kernel]

For each program it prints the interpreter's instructions/s, the time of an
equivalent plain-Python function (the same loop written directly in Python,
with the same 64-bit masking) and the ratio between the two, and -- when
bpf() works here -- the kernel's BPF_PROG_TEST_RUN time for the very same
program (JIT or kernel interpreter, whichever the kernel uses) and the ratio.
Best of N runs each; the machine is shared, so compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from pybpf.asm.text import assemble
from pybpf.isa import Insn
from pybpf.vm.interp import Interpreter
from pybpf.vm.memory import Memory

M64 = (1 << 64) - 1
ROOT = Path(__file__).resolve().parents[1]

SUM_N = 100_000
SUM_LOOP = f"""
mov %r0, 0
mov %r1, 0
loop:
add %r0, %r1
add %r1, 1
jlt %r1, {SUM_N}, loop
exit
"""


def py_sum() -> int:
    acc = i = 0
    while True:
        acc = (acc + i) & M64
        i = (i + 1) & M64
        if not i < SUM_N:
            return acc


STACK_N = 50_000
STACK_LOOP = f"""
mov %r0, 0
mov %r1, 0
stdw [%r10-8], 0
loop:
ldxdw %r2, [%r10-8]
add %r2, %r1
stxdw [%r10-8], %r2
add %r1, 1
jlt %r1, {STACK_N}, loop
ldxdw %r0, [%r10-8]
exit
"""


def py_stack() -> int:
    stack = bytearray(512)
    stack[504:512] = bytes(8)
    i = 0
    while True:
        v = int.from_bytes(stack[504:512], "little")
        v = (v + i) & M64
        stack[504:512] = v.to_bytes(8, "little")
        i = (i + 1) & M64
        if not i < STACK_N:
            return int.from_bytes(stack[504:512], "little")


PRIME_P = 10_007  # a prime: the loop runs to the end


def prime_program() -> str:
    """The bpf_conformance prime test (tests/prime.data) with a larger argument."""
    text = (ROOT.parent / "shared" / "conformance" / "prime.data").read_text()
    asm = text.split("-- asm", 1)[1].split("-- result", 1)[0]
    return asm.replace("mov %r1, 67", f"mov %r1, {PRIME_P}")


def py_prime() -> int:
    arg = PRIME_P
    r0, r2 = 1, 2
    if not arg > 2:
        return r0
    while True:
        r3 = (arg // r2 * r2) & M64
        r4 = (arg - r3) & M64
        r0 = 0
        if r4 == 0:
            return r0
        r2 += 1
        r0 = 1
        if r2 >= arg:
            return r0


def best(fn: Callable[[], object], repeat: int) -> float:
    t_best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        t_best = min(t_best, time.perf_counter() - t)
    return t_best


def kernel_ns(insns: list[Insn], repeat: int) -> float | None:
    """Mean ns per run of BPF_PROG_TEST_RUN, or None when bpf() is not available."""
    try:
        from pybpf import uapi
        from pybpf.kernel import syscall
    except ImportError:
        return None
    if syscall.bpf_refusal() is not None:
        return None
    fd = syscall.prog_load(uapi.BPF_PROG_TYPE_SOCKET_FILTER, insns, name="bench")
    try:
        res = syscall.prog_test_run(fd, bytes(64), repeat=max(repeat, 10))
        return float(res.duration)
    finally:
        syscall.close(fd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-kernel", action="store_true")
    args = ap.parse_args()

    cases = [
        ("sum loop", SUM_LOOP, py_sum),
        ("stack loop", STACK_LOOP, py_stack),
        ("prime (conformance)", prime_program(), py_prime),
    ]
    print(
        f"{'program':<22}{'insns/run':>11}{'interp insn/s':>15}{'python ref':>12}"
        f"{'interp/py':>11}{'kernel ns':>12}{'interp/kernel':>15}"
    )
    for name, text, ref in cases:
        insns = assemble(text)
        it = Interpreter(insns)
        mem = Memory()
        r_vm = it.run(mem=mem)
        r_py = ref()
        assert r_vm == r_py, f"{name}: interpreter {r_vm:#x} != python {r_py:#x}"
        steps = it.steps
        t_vm = best(lambda it=it, mem=mem: it.run(mem=mem), args.repeat)
        t_py = best(ref, args.repeat)
        k = None if args.no_kernel else kernel_ns(insns, args.repeat)
        kcol = f"{k / 1e3:>10.1f}us" if k else f"{'-':>12}"
        kratio = f"{t_vm * 1e9 / k:>14.0f}x" if k else f"{'-':>15}"
        print(
            f"{name:<22}{steps:>11,}{steps / t_vm:>15,.0f}{t_py * 1e3:>10.1f}ms"
            f"{t_vm / t_py:>10.2f}x{kcol}{kratio}"
        )

    # per-run overhead: the conformance subnet test, a short packet program
    text = (ROOT.parent / "shared" / "conformance" / "subnet.data").read_text()
    asm = text.split("-- asm", 1)[1].split("-- mem", 1)[0]
    mem_hex = text.split("-- mem", 1)[1].split("-- result", 1)[0]
    data = bytearray(bytes.fromhex(" ".join(mem_hex.split())))
    it = Interpreter(assemble(asm))
    mem = Memory()
    region = mem.add_region(data, name="mem")
    n = 20_000
    t = time.perf_counter()
    for _ in range(n):
        it.run(mem=mem, r1=region.base, r2=len(data))
    dt = time.perf_counter() - t
    print(
        f"subnet (conformance): {n / dt:,.0f} runs/s, {it.steps} insns/run, "
        f"{dt / n * 1e6:.2f} us/run"
    )


if __name__ == "__main__":
    main()
