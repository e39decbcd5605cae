"""The native batch path against the interpreter: the same answers, packet for packet.

Reference: every packet of a capture read by pybpf.net.capture and delivered to a
pybpf.net.socket.PacketSocket whose filter is the program run by the
interpreter. Native: the same program JIT-compiled, run by
pybpf.vm.batch.PacketRunner over the same file with the per-packet loop in C.
Compared: every packet's verdict, the socket's counts, every map's bytes, and
errors (the same message, naming the same packet, pc and address). The capture
reading and presentation are compared on their own too, record by record,
including damage, over the shared captures and (slow) the tcpdump test suite.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pybpf
from pybpf.errors import CaptureError, MemoryAccessError
from pybpf.net.capture import open_capture
from pybpf.net.skb import SkBuff, Sock
from pybpf.net.socket import PacketSocket
from pybpf.vm.batch import FrameMeta, PacketRunner, _MappedCapture
from pybpf.vm.jit import JitEngine
from support.paths import DATA, EXAMPLES, captures

SUITE = Path(
    os.environ.get("PYBPF_TCPDUMP_TESTS", Path.home() / ".cache" / "pybpf" / "tcpdump-tests")
)
SUITE_FILES = sorted(SUITE.glob("*.pcap*")) if SUITE.is_dir() else []
MODES = ("ethernet", "device", "raw")
PROGRAMS = {
    "sockex1": EXAMPLES / "sockex1_kern.c",
    "sockex2": EXAMPLES / "sockex2_kern.c",
    "sockex1_macros": EXAMPLES / "sockex1_macros.py",
    "sockex3_btf": EXAMPLES / "sockex3_btf_kern.c",
    "helpers": DATA / "batch_helpers.c",
    "ringbuf": DATA / "batch_ringbuf.c",
}


@pytest.fixture(autouse=True, scope="module")
def _private_jit_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    mp = pytest.MonkeyPatch()
    mp.setenv("PYBPF_JIT_CACHE_DIR", str(tmp_path_factory.mktemp("jit-cache")))
    yield
    mp.undo()


# --- reading and presenting captures ---------------------------------------------------------


def python_presentation(path: Path, mode: str, untag: bool) -> tuple[list[Any], Any]:
    out: list[Any] = []
    err = None
    try:
        with open_capture(path) as r:
            for p in r.iter_packets(strict=False, mode=mode, vlan_untag=untag):
                meta = (p.protocol, p.pkt_type, p.hatype, p.mac_len, p.ifindex)
                out.append((bytes(p.data), (*meta, int(p.vlan_present), p.vlan_tci, p.vlan_proto)))
            err = r.error
    except CaptureError as e:
        err = e
    return out, (err.message, err.offset) if err else None


def native_presentation(path: Path, mode: str, untag: bool) -> tuple[list[Any], Any]:
    try:
        with _MappedCapture(path) as cap:
            cap.c.mode = MODES.index(mode)
            cap.c.vlan_untag = int(untag)
            out = list(cap.scan())
            err = (cap.c.err.decode(), cap.c.err_offset) if cap.c.failed else None
    except CaptureError as e:
        return [], (e.message, e.offset)
    return out, err


def _same_presentation(files: list[Path]) -> None:
    for f in files:
        for mode in MODES:
            for untag in (False, True):
                want = python_presentation(f, mode, untag)
                got = native_presentation(f, mode, untag)
                assert got[1] == want[1], (f.name, mode, untag)
                assert len(got[0]) == len(want[0]), (f.name, mode, untag)
                for i, (g, w) in enumerate(zip(got[0], want[0], strict=True)):
                    assert g == w, (f.name, mode, untag, i)


def test_captures_are_read_and_presented_as_pybpf_net_does() -> None:
    _same_presentation(captures())


@pytest.mark.slow
@pytest.mark.skipif(not SUITE_FILES, reason=f"tcpdump test suite not found in {SUITE}")
def test_tcpdump_suite_is_read_and_presented_as_pybpf_net_does() -> None:
    assert len(SUITE_FILES) >= 600
    _same_presentation(SUITE_FILES)


def test_damage_and_non_captures(tmp_path: Path) -> None:
    good = captures()[0].read_bytes()
    cases = {
        "truncated.pcap": good[:-3],
        "header.pcap": good[:10],
        "empty.pcap": b"",
        "junk.pcap": b"not a capture at all",
        "tiny.pcap": b"\xd4\xc3",
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        for mode in MODES:
            assert native_presentation(p, mode, False) == python_presentation(p, mode, False)


# --- programs over captures ------------------------------------------------------------------


def _load(source: Path, engine: str) -> Any:
    coll = pybpf.load(source, engine=engine)
    if "jmp" in coll.maps:
        coll.maps["jmp"][0] = coll.programs["udp_tail"].fd
    prog = coll.programs["prog"] if "prog" in coll.programs else coll.program()
    prog.state.rng.seed(7)
    return coll, prog


def contents(coll: Any) -> dict[str, Any]:
    """Every map's elements (hash maps: a random seed places them, so not their bytes);
    a ring buffer's records (consumed) and its storage."""
    out: dict[str, Any] = {}
    for n, m in coll.maps.items():
        if n == "jmp":
            continue
        if hasattr(m, "consume"):
            out[n] = (m.consume(), bytes(m.storage))
        else:
            out[n] = sorted(m.items())
    return out


def reference(source: Path, files: list[Path], **sock: Any) -> tuple[Any, list[int], dict, Any]:
    """Counts, verdicts and maps after the interpreter ran every packet (the Python path)."""
    coll, prog = _load(source, "interp")
    verdicts: list[int] = []

    def f(skb: SkBuff) -> int:
        v = prog.run(skb)
        verdicts.append(v)
        return int(v)

    s = PacketSocket(**sock)
    s.attach(f)
    damage = []
    for path in files:
        with open_capture(path) as r:
            s.deliver_all(r.iter_packets(strict=False))
            damage.append(r.error and (r.error.message, r.error.offset))
    maps = contents(coll)
    coll.close()
    return s.stats(), verdicts, maps, damage


def ctx_factory(sock: Sock) -> Callable[[bytes, FrameMeta], SkBuff]:
    def make(data: bytes, meta: FrameMeta) -> SkBuff:
        skb = SkBuff(
            head=bytearray(data),
            mac_off=meta.mac_off,
            network_off=meta.net_off,
            protocol=meta.protocol,
            pkt_type=meta.pkt_type,
            ifindex=meta.ifindex,
            sk=sock,
        )
        if meta.vlan_present:
            skb.vlan_present, skb.vlan_tci, skb.vlan_proto = 1, meta.vlan_tci, meta.vlan_proto
        return skb

    return make


def native(source: Path, files: list[Path], **kw: Any) -> tuple[Any, list[int], dict, Any]:
    coll, prog = _load(source, "jit")
    runner = PacketRunner(
        prog._interp,
        prog._memory(),
        prog._ctx_region,
        ctx_factory=ctx_factory(Sock()),
        rng=prog.state.rng,
    )
    verdicts: list[int] = []
    counts = dict.fromkeys(("received", "accepted", "dropped_by_filter", "delivered_bytes"), 0)
    damage = []
    for path in files:
        res = runner.run_capture(path, verdicts=True, **kw)
        assert res.verdicts is not None
        verdicts += list(res.verdicts)
        counts["received"] += res.packets
        counts["accepted"] += res.accepted
        counts["dropped_by_filter"] += res.dropped
        counts["delivered_bytes"] += res.delivered_bytes
        damage.append(res.damage and (res.damage.message, res.damage.offset))
    maps = contents(coll)
    coll.close()
    return counts, verdicts, maps, damage


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_programs_over_every_capture_agree(name: str) -> None:
    files = captures()
    want_stats, want_v, want_maps, want_damage = reference(PROGRAMS[name], files)
    got_counts, got_v, got_maps, got_damage = native(PROGRAMS[name], files)
    assert got_v == want_v
    for k, v in got_counts.items():
        assert want_stats[k] == v, k
    assert got_maps == want_maps
    assert got_damage == want_damage
    assert len(got_v) > 80


def test_records_are_counted_by_link_type() -> None:
    coll, prog = _load(PROGRAMS["sockex1"], "jit")
    runner = PacketRunner(prog._interp, prog._memory(), prog._ctx_region)
    for path in captures():
        want: dict[int, int] = {}
        try:
            with open_capture(path) as r:
                for p in r.iter_packets(strict=False):
                    want[p.linktype] = want.get(p.linktype, 0) + 1
        except CaptureError:
            continue
        assert runner.run_capture(path).linktypes == want, path.name
    coll.close()


@pytest.mark.slow
@pytest.mark.skipif(not SUITE_FILES, reason=f"tcpdump test suite not found in {SUITE}")
@pytest.mark.parametrize("name", ["sockex1", "sockex2", "helpers"])
def test_programs_over_the_tcpdump_suite_agree(name: str) -> None:
    readable = []
    for f in SUITE_FILES:
        try:
            open_capture(f).close()
        except (CaptureError, OSError):
            continue
        readable.append(f)
    want = reference(PROGRAMS[name], readable)
    got = native(PROGRAMS[name], readable)
    assert got[1] == want[1]
    assert got[2] == want[2]
    assert got[3] == want[3]


# --- frames, single packets, test_run ------------------------------------------------------


def _frames() -> list[bytes]:
    out = []
    for f in captures():
        try:
            with open_capture(f) as r:
                out += [bytes(p.data) for p in r.iter_packets(strict=False) if p.mac_len == 14]
        except CaptureError:
            continue
    return out


def _eth_meta(frame: bytes) -> FrameMeta:
    from pybpf.net.skb import eth_type_trans

    proto, ptype = eth_type_trans(frame)
    return FrameMeta(0, 14 if len(frame) >= 14 else len(frame), proto, ptype, 1)


@pytest.mark.parametrize("name", ["sockex2", "helpers"])
def test_single_packets_and_frame_lists_agree_with_program_run(name: str) -> None:
    frames = [f for f in _frames() if len(f) >= 14]
    c_int, p_int = _load(PROGRAMS[name], "interp")
    want = [p_int.run(f) for f in frames]
    c_jit, p_jit = _load(PROGRAMS[name], "jit")
    sock = p_jit.sock
    runner = PacketRunner(
        p_jit._interp, p_jit._memory(), p_jit._ctx_region, ctx_factory=ctx_factory(sock)
    )
    half = len(frames) // 2
    got = [runner.run_packet(f, _eth_meta(f)) for f in frames[:half]]
    res = runner.run_frames(frames[half:], [_eth_meta(f) for f in frames[half:]], verdicts=True)
    assert res.verdicts is not None
    got += list(res.verdicts)
    assert got == want
    assert contents(c_jit) == contents(c_int)


@pytest.mark.parametrize("name", ["sockex1", "sockex2", "helpers"])
def test_test_run_repeat_agrees(name: str) -> None:
    frames = [f for f in _frames() if 34 <= len(f) <= 1500][::5]
    c_int, p_int = _load(PROGRAMS[name], "interp")
    c_jit, p_jit = _load(PROGRAMS[name], "jit")
    runner = PacketRunner(p_jit._interp, p_jit._memory(), p_jit._ctx_region, rng=p_jit.state.rng)
    for f in frames:
        want = p_int.test_run(f, repeat=3)
        skb = SkBuff.for_test_run(f, sk=Sock(cookie=p_jit.state.next_cookie(), uid=0))
        skb.ifindex = 1
        retval, duration = runner.test_run(skb, repeat=3)
        assert retval == want.retval
        assert duration >= 0
    assert contents(c_jit) == contents(c_int)


# --- errors ----------------------------------------------------------------------------------

FAULTING = r"""
#include <bpf_helpers.h>
char _license[] SEC("license") = "GPL";
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32);
         __type(value, __u64); } seen SEC(".maps");
SEC("socket") int prog(struct __sk_buff *skb)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&seen, &k);
    if (!v)
        return 0;
    *v += 1;
    if (*v == 5) {
        volatile __u64 *p = (void *)(long)(*v * 8);
        return *p;   /* a wild read on the fifth packet */
    }
    return skb->len;
}
"""


def test_a_fault_names_the_packet_pc_and_address(tmp_path: Path) -> None:
    src = tmp_path / "faulting.c"
    src.write_text(FAULTING)
    files = [p for p in captures() if p.name == "IGMP_V2.pcap"]
    errors = []
    for engine in ("interp", "jit"):
        coll = pybpf.load(src, verify=False)  # the JIT itself runs unverified programs too
        prog = coll.program()
        if engine == "interp":
            s = PacketSocket()
            s.attach(prog)
            with open_capture(files[0]) as r:
                for i, pkt in enumerate(r.iter_packets()):
                    try:
                        s.deliver(pkt)
                    except MemoryAccessError as e:
                        errors.append(
                            (i, e.pc, e.addr, e.message, bytes(coll.maps["seen"].storage))
                        )
                        break
        else:
            jit = JitEngine(prog.insns, helpers=prog.helpers, maps=prog._resolve_map, prog=prog)
            runner = PacketRunner(jit, prog._memory(), prog._ctx_region)
            with pytest.raises(MemoryAccessError) as ei:
                runner.run_capture(files[0])
            e = ei.value
            errors.append((e.packet, e.pc, e.addr, e.message, bytes(coll.maps["seen"].storage)))
            assert str(e).startswith(f"packet 4, pc {e.pc}: invalid read of 8 bytes at 0x28")
            assert e.batch.packets == 4  # type: ignore[attr-defined]
        coll.close()
    assert errors[0] == errors[1]
    assert errors[0][0] == 4 and errors[0][2] == 40


def test_native_prandom_continues_the_backends_generator() -> None:
    """get_prandom_u32 natively is the next output of the backend's random.Random."""
    rng_a, rng_b = random.Random(3), random.Random(3)
    coll, prog = _load(PROGRAMS["helpers"], "jit")
    runner = PacketRunner(
        prog._interp, prog._memory(), prog._ctx_region, rng=rng_a, ctx_factory=ctx_factory(Sock())
    )
    frames = [f for f in _frames() if len(f) >= 14][:50]
    runner.run_frames(frames, [_eth_meta(f) for f in frames])
    for _ in range(len(frames)):
        rng_b.getrandbits(32)
    assert rng_a.getrandbits(32) == rng_b.getrandbits(32)
    coll.close()


def test_bad_capture_raises_capture_error(tmp_path: Path) -> None:
    coll, prog = _load(PROGRAMS["sockex1"], "jit")
    runner = PacketRunner(prog._interp, prog._memory(), prog._ctx_region)
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"garbage garbage garbage")
    with pytest.raises(CaptureError, match="not a pcap or pcapng capture"):
        runner.run_capture(bad)
    with pytest.raises(OSError):  # as open_capture: the caller words it
        runner.run_capture(tmp_path / "missing.pcap")
    coll.close()


def test_program_run_on_the_jit_builds_the_skb_as_from_frame() -> None:
    """Program.run(frame) with the JIT presents the frame natively (eth_type_trans on a
    device whose address is all zeros): every destination kind, 802.3 and runts."""
    body = bytes(range(60))
    frames = [
        bytes(6) + bytes(6) + b"\x08\x00" + body,  # to the device: PACKET_HOST
        b"\xff" * 6 + bytes(6) + b"\x86\xdd" + body,  # broadcast
        b"\x01\x00\x5e\x00\x00\x01" + bytes(6) + b"\x08\x00" + body,  # multicast
        b"\x02" * 6 + bytes(6) + b"\x08\x06" + body,  # another host
        b"\x02" * 6 + bytes(6) + b"\x00\x40" + b"\xff\xff" + body,  # 802.3, raw IPX
        b"\x02" * 6 + bytes(6) + b"\x00\x40" + body,  # 802.2
        b"\x02" * 6 + bytes(6) + b"\x00\x40\xff",  # 802.2, 15 bytes
        b"\x02" * 6 + bytes(6) + b"\x08\x00",  # the header alone
    ]
    text = (  # pkt_type, protocol, ifindex and len folded into the 32-bit verdict
        "mov %r6, %r1\nldxw %r0, [%r6+4]\nldxw %r2, [%r6+16]\nlsh %r2, 3\nxor %r0, %r2\n"
        "ldxw %r2, [%r6+40]\nlsh %r2, 20\nxor %r0, %r2\nldxw %r2, [%r6+0]\nlsh %r2, 22\n"
        "xor %r0, %r2\nexit"
    )
    from pybpf.asm.text import assemble
    from pybpf.user.program import Program

    interp, jit = Program(assemble(text)), Program(assemble(text), engine="jit")
    assert jit.packet_runner() is not None
    for f in frames:
        assert jit.run(f) == interp.run(f), f.hex()


def test_replay_names_the_failing_packet_under_both_engines(tmp_path: Path) -> None:
    """pybpf run's replay: the same error, naming the packet, pc and address, either way."""
    from pybpf.net.replay import replay_captures

    src = tmp_path / "faulting.c"
    src.write_text(FAULTING)
    path = next(p for p in captures() if p.name == "IGMP_V2.pcap")
    messages = []
    for engine in ("interp", "jit"):
        coll = pybpf.load(src, verify=False)
        prog = coll.program()
        if engine == "jit":  # Program(engine="jit") verifies: this one must run unverified
            prog.engine = "jit"
            prog._interp = JitEngine(
                prog.insns, helpers=prog.helpers, maps=prog._resolve_map, prog=prog
            )
        with pytest.raises(MemoryAccessError) as ei:
            replay_captures(prog, [path])
        messages.append(str(ei.value))
        coll.close()
    assert messages[0] == messages[1]
    assert messages[0].startswith("packet 4, pc ")
