"""A classic filter gives the same result in every engine: classic VM, interpreter, JIT, libpcap.

The classic VM runs the classic instructions; the interpreter and the JIT run
the eBPF ``bpf_convert_filter`` makes of them; libpcap's own ``bpf_filter``
(pcap_offline_filter) judges the programs it compiled. Random programs run on
real frames with random sk_buff metadata.
"""

from __future__ import annotations

from collections import Counter

import pytest
from classic_cases import EXPRESSIONS, classic_programs, ethernet_frames
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.cbpf import ClassicProgram, SockFilter
from pybpf.cbpf.asm import assemble
from pybpf.cbpf.convert import INTERNAL_CALLS, convert_filter, internal_calls_in, scratch_offset
from pybpf.cbpf.libpcap import compile_expression
from pybpf.errors import BpfError
from pybpf.helpers.time import seed_prandom
from pybpf.net.skb import SkBuff

FRAMES = ethernet_frames()
STATS: Counter[str] = Counter()


def outcome(prog: ClassicProgram, frame: bytes, meta: dict, seed: int) -> object:
    seed_prandom(seed)
    meta = dict(meta)
    if meta.get("linear") is not None:
        meta["linear"] = min(meta["linear"], len(frame) - 4)  # after untagging too
    skb = SkBuff.from_frame(frame, **meta) if len(frame) >= 14 else None
    try:
        if skb is None:
            return prog.run(frame)
        return prog.run_skb(skb, cpu=meta.get("_cpu", 0))
    except BpfError as e:  # the same refusal (e.g. an unmodelled flow dissection) everywhere
        return type(e).__name__


_meta = st.fixed_dictionaries(
    {
        "pkt_type": st.integers(0, 7),
        "mark": st.integers(0, 0xFFFF_FFFF),
        "hash": st.integers(0, 0xFFFF_FFFF),
        "ifindex": st.integers(1, 1000),
        "untag_vlan": st.booleans(),
        "linear": st.none() | st.integers(14, 120),
        "frag_size": st.integers(1, 200),
    }
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    classic_programs(),
    st.sampled_from(range(len(FRAMES))),
    _meta,
    st.integers(0, 1 << 30),
)
def test_classic_vm_and_interpreter_agree(prog, i, meta, seed) -> None:
    frame = FRAMES[i][1]
    vm = ClassicProgram(prog, engine="classic")
    interp = ClassicProgram(prog, engine="interp")
    a, b = outcome(vm, frame, meta, seed), outcome(interp, frame, meta, seed)
    STATS["random programs x frames: classic vs interp"] += 1
    assert a == b, f"{FRAMES[i][0]}: classic {a} interp {b}"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    classic_programs(size=40),
    st.lists(st.sampled_from(range(len(FRAMES))), min_size=5, max_size=5),
    _meta,
)
def test_jit_agrees_with_the_interpreter(prog, idx, meta) -> None:
    interp = ClassicProgram(prog, engine="interp")
    jit = ClassicProgram(prog, engine="jit")
    for i in idx:
        frame = FRAMES[i][1]
        assert outcome(jit, frame, meta, 7) == outcome(interp, frame, meta, 7), FRAMES[i][0]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_engines_agree_with_libpcap_on_its_programs(expr: str) -> None:
    pc = compile_expression(expr, 1)
    engines = {e: ClassicProgram(pc.filter, engine=e) for e in ("classic", "interp")}
    for where, frame in FRAMES:
        for cut in (len(frame), 60, 34):  # captured bytes shorter than the wire length
            data = frame[:cut]
            want = pc.matches(data, len(frame))
            for name, p in engines.items():
                got = p.run_captured(data, len(frame))
                assert bool(got) == bool(want), f"{where} cut {cut}: {name} {got} libpcap {want}"
                STATS["libpcap programs x frames x engines"] += 1


def test_jit_runs_libpcap_programs() -> None:
    pc = compile_expression("tcp[tcpflags] & tcp-syn != 0 or (vlan and udp port 53)", 1)
    jit = ClassicProgram(pc.filter, engine="jit")
    for where, frame in FRAMES:
        assert bool(jit.run_captured(frame)) == bool(pc.matches(frame)), where


def test_the_converted_program_passes_pybpfs_verifier() -> None:
    from pybpf.user.program import Program

    for expr in EXPRESSIONS:
        pc = compile_expression(expr, 1)
        Program(ClassicProgram(pc.filter).insns).verify()
    anc = assemble("ld #proto\nldx #2\nld #type\nld #ifidx\nld #mark\nld #queue\nld #rxhash\n"
                   "ld #cpu\nld #vlan_tci\nld #vlan_avail\nld #vlan_tpid\nld #rand\nret a")  # fmt: skip
    Program(ClassicProgram(anc).insns).verify()


def test_conversion_shape() -> None:
    """The kernel's register mapping and rewrites, as bpf_convert_filter emits them."""
    prog = assemble(
        "ldh [12]\njeq #0x800, ip, no\nip: ldxb 4*([14]&0xf)\nld [x + 16]\nst M[5]\n"
        "jgt #0x80000000, no\ndiv x\nret a\nno: ret #0"
    )
    insns = convert_filter(prog)
    text = [str(i) for i in insns]
    # prologue: A (r0) and X (r7) zeroed, ctx in r6
    assert [(i.code, i.dst, i.src) for i in insns[:3]] == [(0xB4, 0, 0), (0xB4, 7, 0), (0xBF, 6, 1)]
    stores = [i for i in insns if i.code == 0x63]
    assert stores and stores[0].off == scratch_offset(5) == -24 and stores[0].src == 0
    # a negative immediate is moved into r2 (32-bit) and compared as a register
    mov = next(j for j, i in enumerate(insns) if i.code == 0xB4 and i.dst == 2)
    assert insns[mov].imm == -0x80000000 and insns[mov + 1].code == 0x2D
    # div x: X == 0 ends the program returning 0
    div = next(j for j, i in enumerate(insns) if i.code == 0x3C)
    assert [i.code for i in insns[div - 4 : div]] == [0xBC, 0x55, 0xAC, 0x95]
    assert text  # every instruction formats


def test_internal_calls_are_named() -> None:
    prog = assemble("ld #poff\nld #nla\nld #nlan\nld #hatype\nret a")
    calls = internal_calls_in(convert_filter(prog))
    assert [name for _, name in calls] == list(INTERNAL_CALLS.values())
    with pytest.raises(BpfError, match="kernel-internal bpf_skb_get_pay_offset"):
        ClassicProgram(prog).kernel_program()


def test_ret_keeps_min_of_value_and_length() -> None:
    p = ClassicProgram(assemble("ld #len\nadd #5\nret a"), engine="classic")
    frame = FRAMES[0][1]
    assert p.run(frame) == len(frame) + 5
    assert p.run(frame, wire_len=1500) == 1505


def test_loads_past_the_end_return_zero_in_every_engine() -> None:
    for src in (
        "ld [1000]\nret #1",
        "ldx #2000\nldb [x + 0]\nret #1",
        "ldxb 4*([3000]&0xf)\nret #1",
    ):
        prog = assemble(src)
        for eng in ("classic", "interp"):
            assert ClassicProgram(prog, engine=eng).run(bytes(64)) == 0, (src, eng)


def test_header_bases_read_the_network_and_link_headers() -> None:
    frame = bytes(range(14)) + bytes([0x45]) + bytes(range(100, 160))
    for eng in ("classic", "interp"):
        net = ClassicProgram(assemble("ldb [-1048576]\nret a"), engine=eng)  # SKF_NET_OFF + 0
        ll = ClassicProgram(assemble("ldb [-2097146]\nret a"), engine=eng)  # SKF_LL_OFF + 6
        assert net.run(frame) == 0x45
        assert ll.run(frame) == 6


def test_run_refuses_what_it_cannot_run() -> None:
    with pytest.raises(BpfError, match="unknown engine"):
        ClassicProgram([SockFilter(0x06)], engine="nope")
