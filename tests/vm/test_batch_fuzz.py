"""Random verified programs: the native batch path against the interpreter.

The verifier fuzzer's generator (tests/verifier/test_verifier_fuzz.py: stack,
context and map-value accesses, pointer arithmetic, branches, helper calls,
LD_ABS) makes programs; each one pybpf's verifier accepts runs on real frames
in the interpreter (Program.run) and natively (PacketRunner, the JIT with
native helpers), each engine with its own copy of the maps. Every frame's
verdict or error, and every map's contents after each program, must be equal.
"""

from __future__ import annotations

from typing import Any

import pytest

from pybpf import isa, uapi
from pybpf.errors import BpfError, VerifierError
from pybpf.net.skb import SkBuff, eth_type_trans
from pybpf.user.program import Program
from pybpf.user.state import UserState
from pybpf.verifier.check import Verifier
from pybpf.vm.batch import FrameMeta, PacketRunner
from pybpf.vm.jit import JitEngine
from verifier.test_verifier_fuzz import Fuzzer

BUDGET = 200_000
#: helpers whose answer depends on when they run: a program calling one is skipped
CLOCKS = frozenset(
    hid for hid, name in uapi.FUNC_NAMES.items() if "ktime" in name or "jiffies" in name
)


def _meta(frame: bytes) -> FrameMeta:
    proto, ptype = eth_type_trans(frame)
    return FrameMeta(0, 14, proto, ptype, 1)


def _outcome(fn: Any) -> tuple[Any, ...]:
    try:
        return ("ok", fn())
    except BpfError as e:
        return ("err", type(e).__name__, e.message, getattr(e, "pc", None))


def _contents(f: Fuzzer) -> dict[str, Any]:
    """Every keyed map's elements; queues and stacks by their storage."""
    out: dict[str, Any] = {}
    for n, m in f.maps.items():
        try:
            out[n] = sorted(m.items())
        except BpfError:
            out[n] = bytes(m.storage)
    return out


def campaign(seed: int, n: int) -> tuple[int, int]:
    """Programs tried and accepted; asserts agreement on each accepted one."""
    fa, fb = Fuzzer(seed=seed), Fuzzer(seed=seed)  # the same programs, separate maps
    corpus_a, corpus_b = fa.corpus_programs(), fb.corpus_programs()
    frames = [f for f in fa.frames if len(f) >= 14]
    by_fd_a = {m.fd: m for m in fa.maps.values()}
    by_fd_b = {m.fd: m for m in fb.maps.values()}
    accepted = 0
    for i in range(n):
        if i % 3 == 2:
            k = fa.rng.randrange(len(corpus_a))
            fb.rng.randrange(len(corpus_b))
            pa, pb = fa.mutate(corpus_a[k]), fb.mutate(corpus_b[k])
        else:
            pa, pb = fa.random_program(), fb.random_program()
        privileged = fa.rng.random() < 0.7
        fb.rng.random()
        if any(isa.is_helper_call(x) and x.imm in CLOCKS for x in pa):
            continue
        # each engine its own generator, seeded alike (bpf_get_prandom_u32)
        sa, sb = UserState(), UserState()
        sa.rng.seed(i)
        sb.rng.seed(i)
        try:
            Verifier(pa, privileged=privileged).verify()
            interp = Program(pa, budget=BUDGET, state=sa, maps=by_fd_a)
            other = Program(pb, budget=BUDGET, state=sb, maps=by_fd_b)
        except (VerifierError, BpfError):
            continue
        accepted += 1
        jit = JitEngine(
            other.insns,
            helpers=other.helpers,
            maps=other._resolve_map,
            budget=BUDGET,
            prog=other,
        )

        def ctx(data: bytes, meta: FrameMeta, sock: Any = other.sock) -> SkBuff:
            return SkBuff(
                head=bytearray(data),
                mac_off=meta.mac_off,
                network_off=meta.net_off,
                protocol=meta.protocol,
                pkt_type=meta.pkt_type,
                ifindex=meta.ifindex,
                sk=sock,
            )

        runner = PacketRunner(jit, other._memory(), other._ctx_region, ctx_factory=ctx)
        for frame in frames:
            want = _outcome(lambda f=frame, p=interp: p.run(f))
            got = _outcome(lambda f=frame, r=runner: r.run_packet(f, _meta(f)))
            assert got == want, (pa, frame.hex())
        assert _contents(fb) == _contents(fa), pa
    return n, accepted


def test_random_verified_programs_agree() -> None:
    tried, accepted = campaign(seed=11, n=40)
    assert accepted > 3, (tried, accepted)


@pytest.mark.slow
def test_random_verified_programs_agree_long() -> None:
    tried, accepted = campaign(seed=12, n=4000)
    assert accepted > 200, (tried, accepted)
