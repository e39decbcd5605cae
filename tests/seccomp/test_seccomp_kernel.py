"""The emulator against the real kernel: every action, stacked filters, 64-bit arguments.

Each policy is installed with seccomp(2) in a forked child that then makes
the system call (:func:`pybpf.seccomp.kernel.run_in_kernel`); what the kernel
did must be what the emulated action means (``Outcome.consistent_with``):
ALLOW/LOG let the call run (same errno as the call made without a filter),
ERRNO fails it with the errno (capped at 4095), TRACE and USER_NOTIF with no
tracer or listener fail it with ENOSYS, TRAP delivers SIGSYS carrying the
data, KILL_THREAD kills the thread, KILL_PROCESS (and an unknown action) the
process. The calls are harmless whatever happens: file descriptors far
above any open one, a pid that does not exist.
"""

from __future__ import annotations

import errno
import os
from collections import Counter

import pytest

from pybpf.cbpf import ClassicError
from pybpf.cbpf.asm import assemble as bpf_asm
from pybpf.seccomp import FilterStack, SeccompData, SeccompFilter, assemble, resolve_syscall
from pybpf.seccomp.data import AUDIT_ARCH_I386, AUDIT_ARCH_X86_64
from pybpf.seccomp.kernel import Outcome, run_in_kernel, unfiltered
from pybpf.seccomp.libseccomp import Arg, Policy

pytestmark = pytest.mark.skipif(
    os.uname().machine != "x86_64", reason="the kernel comparisons make x86_64 system calls"
)
STATS: Counter[str] = Counter()
FD = 0x3E8  # 1000: no descriptor that high is open in the child

#: (name, args) of harmless x86_64 calls; high argument halves exercise 64-bit comparisons
CALLS = [
    ("getppid", ()),
    ("getuid", ()),
    ("getpgrp", ()),
    ("close", (FD,)),
    ("close", (FD | 1 << 32,)),
    ("close", (FD | 0xFFFFFFFF << 32,)),
    ("dup", (FD + 5,)),
    ("lseek", (FD, 1 << 40, 0)),
    ("lseek", (FD, (1 << 40) + 1, 0)),
    ("lseek", (FD, 2**64 - 1, 2)),
    ("fcntl", (FD, 1, 0)),
    ("kill", (0x7FFFFFFF, 0)),
]


def _libseccomp(default: str, rules: list[tuple]) -> bytes:
    with Policy(default) as p:
        for action, name, *cmps in rules:
            p.add(action, name, *cmps)
        return p.export()


POLICIES = {
    "libseccomp allow-list": _libseccomp(
        "KILL_PROCESS", [("ALLOW", "getppid"), ("ALLOW", "getuid"), ("ALLOW", "fcntl")]
    ),
    "libseccomp 64-bit args": _libseccomp(
        "ERRNO(95)",
        [
            ("ERRNO(1)", "close", Arg(0) == FD),
            ("KILL_THREAD", "close", Arg(0) == FD | 1 << 32),
            ("ALLOW", "lseek", Arg(1) > 1 << 40),
            ("TRAP", "lseek", Arg(1) == 1 << 40),
            ("ERRNO(4000)", "lseek", Arg(1) >= 2**63),
            ("ALLOW", "dup", Arg(0).masked(0xFFFF) == FD + 5),
            ("LOG", "getppid"),
            ("TRACE(5)", "getuid"),
            ("ALLOW", "kill", Arg(1) == 0, Arg(0) != 1),
        ],
    ),
    "hand-written actions": assemble(
        """
        A = arch
        if (A != ARCH_X86_64) goto kill
        A = sys_number
        if (A == getppid) goto trap
        if (A == getuid) goto notif
        if (A == getpgrp) goto unknown
        if (A == close) goto capped
        if (A == dup) goto kthread
        A = args[1] >> 32
        if (A > 0xff) goto trace
        return ALLOW
        trap: return TRAP(77)
        notif: return USER_NOTIF
        unknown: return 0x00010005
        capped: return ERRNO(5000)
        kthread: return KILL_THREAD
        trace: return TRACE(9)
        kill: return KILL_PROCESS
        """
    ),
    "arithmetic on arguments": assemble(
        """
        A = args[0]
        A -= 1000
        X = A
        A = args[0] >> 32
        A += X
        M[3] = A
        if (A == 0) goto zero
        A = M[3]
        A &= 0xffffff00
        if (A == 0) goto small
        return ERRNO(3)
        small: return ERRNO(2)
        zero: return ERRNO(1)
        """
    ),
}


def stacked(action: str):
    """A filter returning ``action`` for everything but seccomp(2), which it allows, so that
    the filters installed after it can be (the kernel runs each install through it)."""
    return assemble(f"A = nr\nif (A == seccomp) goto ok\nreturn {action}\nok: return ALLOW")


STACKS = {
    "errno under allow": [stacked("ERRNO(11)"), stacked("ALLOW")],
    "trap beats errno": [stacked("ERRNO(11)"), stacked("TRAP(4)")],
    "kill_thread beats trap": [stacked("TRAP(4)"), stacked("KILL_THREAD")],
    "newest errno of two": [stacked("ERRNO(11)"), stacked("ERRNO(12)")],
    "oldest errno under allow": [stacked("ERRNO(12)"), stacked("ALLOW"), stacked("ALLOW")],
    "log beats allow": [stacked("LOG"), stacked("ALLOW")],
    "user_notif beats trace": [stacked("TRACE(1)"), stacked("USER_NOTIF")],
    "kill_process beats all": [
        stacked("ERRNO(1)"),
        POLICIES["hand-written actions"],
        stacked("KILL_PROCESS"),
    ],  # fmt: skip
}


def test_a_filter_that_refuses_seccomp_stops_the_stack() -> None:
    got = run_in_kernel([assemble("return ERRNO(11)"), assemble("return ALLOW")],
                        resolve_syscall("getppid"))  # fmt: skip
    assert got.kind == "install_failed" and got.errno == 11 and got.installed == 1


_plain: dict[tuple, Outcome] = {}


def plain(nr: int, args: tuple, arch: str = "x86_64") -> Outcome:
    key = (nr, args, arch)
    if key not in _plain:
        _plain[key] = unfiltered(nr, args, arch=arch)
    return _plain[key]


def check(filters: list, arch: str = "x86_64", calls=CALLS) -> list[str]:
    diffs = []
    audit = AUDIT_ARCH_X86_64 if arch == "x86_64" else AUDIT_ARCH_I386
    engines = {e: FilterStack([SeccompFilter(f, engine=e) for f in filters])
               for e in ("interp", "classic")}  # fmt: skip
    for name, args in calls:
        nr = resolve_syscall(name, arch)
        data_args = tuple(a & 0xFFFFFFFF for a in args) if arch == "i386" else args
        data = SeccompData(nr, audit, 0, data_args)
        actions = {e: s.evaluate(data) for e, s in engines.items()}
        assert actions["interp"] == actions["classic"], (name, args)
        action = actions["interp"]
        got = run_in_kernel(filters, nr, args, arch=arch)
        STATS[f"{arch} calls compared"] += 1
        STATS[f"{arch} {action.effective}"] += 1
        if not got.consistent_with(action, plain(nr, args, arch)):
            diffs.append(f"{name}{args}: emulated {action}, kernel {got}")
    return diffs


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_single_policies(name: str) -> None:
    diffs = check([POLICIES[name]])
    assert not diffs, diffs


@pytest.mark.parametrize("name", sorted(STACKS))
def test_stacked_filters(name: str) -> None:
    diffs = check(STACKS[name])
    assert not diffs, diffs


def test_i386_calls_see_the_i386_arch() -> None:
    probe = run_in_kernel([], resolve_syscall("getpid", "i386"), arch="i386")
    if probe.kind != "returned" or probe.errno:
        pytest.skip(f"no IA-32 system calls on this kernel ({probe})")
    policy = assemble(
        """
        A = arch
        if (A == ARCH_I386) goto i386
        return ALLOW
        i386: A = nr
        if (A == getppid) goto e
        if (A == close) goto t
        return ALLOW
        e: return ERRNO(42)
        t: return TRAP(1)
        """,
        arch="i386",
    )
    calls = [("getppid", ()), ("close", (FD,)), ("getuid32", ()), ("getpid", ())]
    diffs = check([policy], "i386", calls)
    diffs += check([policy], "x86_64", [("getppid", ()), ("close", (FD,))])
    assert not diffs, diffs


def test_the_kernel_refuses_what_pybpf_refuses() -> None:
    for src in ("ldh [0]\nret #0", "ld [64]\nret #0", "ld [2]\nret #0", "ld #proto\nret #0",
                "ld M[0]\nret a", "ld #1\ndiv #0\nret a", "ld #1\nmod #2\nret a"):  # fmt: skip
        prog = bpf_asm(src)
        with pytest.raises(ClassicError):
            SeccompFilter(prog)
        got = run_in_kernel([prog], resolve_syscall("getppid"))
        assert got.kind == "install_failed" and got.errno == errno.EINVAL, (src, got)
        STATS["refused policies compared"] += 1


def test_the_installed_instruction_cap() -> None:
    big = bpf_asm("ld #1\n" * 4095 + "ret #0x7fff0000")
    got = run_in_kernel([big] * 9, resolve_syscall("getppid"))
    assert got.kind == "install_failed" and got.errno == errno.ENOMEM and got.installed == 7
    stack = FilterStack()
    with pytest.raises(ClassicError) as ei:
        for _ in range(9):
            stack.install(SeccompFilter(big))
    assert ei.value.errno == errno.ENOMEM and len(stack) == 7


def test_report_seccomp_agreement() -> None:
    """Print what the comparisons above covered (pytest -s shows it)."""
    for k, v in sorted(STATS.items()):
        print(f"{k}: {v}")
