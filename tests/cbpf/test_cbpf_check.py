"""bpf_check_classic: pybpf refuses what the kernel refuses (SO_ATTACH_FILTER is the oracle)."""

from __future__ import annotations

import errno
import socket
from collections import Counter

import pytest
from classic_cases import any_sock_filters, classic_programs
from hypothesis import given, settings

from pybpf.cbpf import ClassicError, ClassicProgram, SockFilter, check_classic
from pybpf.cbpf.asm import assemble
from pybpf.cbpf.kernel import attach_filter, detach_filter, get_filter, lock_filter
from pybpf.errors import KernelError

STATS: Counter[str] = Counter()


def kernel_verdict(prog: list[SockFilter]) -> int:
    """0 when the kernel attaches ``prog`` to a socket, else its errno."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            attach_filter(s, prog)
        except KernelError as e:
            return e.errno
    return 0


def pybpf_verdict(prog: list[SockFilter]) -> int:
    try:
        check_classic(prog)
    except ClassicError as e:
        return e.errno
    return 0


# each of the kernel's reasons, with the instruction pybpf must name
REFUSED = {
    "division by a zero constant": ("ld #1\ndiv #0\nret a", 1, "division by the constant zero"),
    "modulo by a zero constant": ("ld #1\nmod #0\nret a", 1, "modulo by the constant zero"),
    "constant shift of 32": ("ld #1\nlsh #32\nret a", 1, "below 32"),
    "scratch word 16": ("ld #1\nst M[16]\nret a", 1, "M[16] is out of range"),
    "scratch read before write": ("ld M[3]\nret a", 0, "M[3] may be read before"),
    "scratch written on one path only": (
        "ld [0]\njeq #1, wr, rd\nwr: st M[1]\nrd: ld M[1]\nret a",
        3,
        "M[1] may be read before",
    ),
    "unknown ancillary": ("ld [-4032]\nret a", 0, "unknown ancillary"),
    "misaligned ancillary": ("ldh [-4095]\nret a", 0, "unknown ancillary"),
    "last insn not ret": ("ld #1\nld #2", 1, "must be a ret"),
    "ret x": ("ret x", 0, "not a classic BPF instruction"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_the_kernels_verdict_and_a_reason(name: str) -> None:
    src, index, reason = REFUSED[name]
    prog = assemble(src)
    with pytest.raises(ClassicError) as ei:
        check_classic(prog)
    assert ei.value.errno == errno.EINVAL
    assert ei.value.index == index
    assert reason in str(ei.value)
    assert kernel_verdict(prog) == errno.EINVAL


def test_bad_jumps_are_refused_like_the_kernel() -> None:
    cases = [
        [SockFilter(0x05, 0, 0, 1), SockFilter(0x06)],  # ja past the end
        [SockFilter(0x05, 0, 0, 0xFFFFFFFF), SockFilter(0x06)],  # ja far (u32 k)
        [SockFilter(0x15, 1, 0, 0), SockFilter(0x06)],  # jt past the end
        [SockFilter(0x15, 0, 2, 0), SockFilter(0x06), SockFilter(0x06)],  # jf past the end
    ]
    for prog in cases:
        with pytest.raises(ClassicError, match="past the last insn") as ei:
            check_classic(prog)
        assert ei.value.index == 0
        assert kernel_verdict(prog) == errno.EINVAL
    assert pybpf_verdict([SockFilter(0x15, 0, 1, 0), SockFilter(0x06), SockFilter(0x06)]) == 0


def test_length_limits() -> None:
    with pytest.raises(ClassicError, match="at least one"):
        check_classic([])
    big = [SockFilter(0x00, 0, 0, 1)] * 4096 + [SockFilter(0x06)]
    with pytest.raises(ClassicError, match="BPF_MAXINSNS"):
        check_classic(big)
    assert kernel_verdict(big) == errno.EINVAL
    assert kernel_verdict(big[-4096:]) == 0 == pybpf_verdict(big[-4096:])


@settings(max_examples=1500, deadline=None)
@given(any_sock_filters())
def test_same_verdict_as_the_kernel_on_arbitrary_programs(prog: list[SockFilter]) -> None:
    k, u = kernel_verdict(prog), pybpf_verdict(prog)
    STATS["arbitrary programs compared"] += 1
    STATS["refused by the kernel" if k else "accepted by the kernel"] += 1
    assert k == u, f"kernel {k}, pybpf {u}: {prog}"


@settings(max_examples=500, deadline=None)
@given(classic_programs())
def test_generated_programs_are_accepted_by_both(prog: list[SockFilter]) -> None:
    assert kernel_verdict(prog) == 0
    assert pybpf_verdict(prog) == 0


def test_kernel_checks_off_keeps_what_cannot_run() -> None:
    uninit = assemble("ld M[0]\nret a")
    p = ClassicProgram(uninit, kernel_checks=False, engine="classic")
    assert "M[0] may be read" in p.kernel_refusal
    assert p.run(bytes(60)) == 0
    with pytest.raises(ClassicError, match="constant zero"):
        ClassicProgram(assemble("div #0\nret a"), kernel_checks=False)


def test_socket_options_round_trip() -> None:
    prog = assemble("ldh [12]\njeq #0x800, ok\nret #0\nok: ret #-1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        assert get_filter(s) == []
        ClassicProgram(prog).attach(s)
        assert get_filter(s) == prog
        detach_filter(s)
        assert get_filter(s) == []
        with pytest.raises(KernelError) as ei:
            detach_filter(s)
        assert ei.value.errno == errno.ENOENT
        attach_filter(s, prog)
        lock_filter(s)
        with pytest.raises(KernelError) as ei:
            attach_filter(s, prog)
        assert ei.value.errno == errno.EPERM
