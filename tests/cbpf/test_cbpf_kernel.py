"""Classic filters against the real kernel.

* **socket**: the classic program attached with SO_ATTACH_FILTER to an
  AF_PACKET socket on a veth pair in a private network namespace
  (:class:`pybpf.kernel.netns.VethRig`); the kernel converts and runs it in
  ``packet_rcv``, and the bytes the socket receives, ``min(ret, len)``, must
  equal what pybpf's engines return on the model sk_buff of the same frame.
* **test_run**: the eBPF pybpf converts the program to, loaded with bpf() and
  run with BPF_PROG_TEST_RUN, must return what ``ClassicProgram.test_run``
  returns.

Frames are every Ethernet frame of tests/data/pcaps, plus crafted ones for
the payload-offset and netlink-attribute ancillaries.
"""

from __future__ import annotations

import errno
import struct
from collections import Counter

import pytest
from classic_cases import EXPRESSIONS, classic_programs, ethernet_frames
from hypothesis import HealthCheck, given, settings

from conftest import require_bpf
from pybpf.cbpf import ClassicProgram, SockFilter
from pybpf.cbpf.asm import assemble
from pybpf.cbpf.convert import internal_calls_in
from pybpf.cbpf.insn import SKF_AD_CPU, SKF_AD_RANDOM, ancillary_of
from pybpf.cbpf.libpcap import compile_expression
from pybpf.errors import BpfError, KernelError, NotSupportedError
from pybpf.net.skb import SkBuff

FRAMES = ethernet_frames()
STATS: Counter[str] = Counter()
#: value ancillaries a probe can read back through the returned length, 6 bits at a time
PROBED = ["proto", "type", "ifidx", "mark", "queue", "hatype", "rxhash", "vlan_tci",
          "vlan_avail", "vlan_tpid", "poff"]  # fmt: skip


@pytest.fixture(scope="module")
def rig():
    from pybpf.kernel.netns import VethRig

    try:
        r = VethRig()
    except (KernelError, NotSupportedError) as e:
        if e.errno in (errno.EPERM, errno.ENOENT, errno.EACCES):
            pytest.skip(f"cannot create a network namespace with a veth pair here: {e}")
        raise
    yield r
    r.close()


def untagged_len(frame: bytes) -> int:
    if len(frame) >= 18 and frame[12:14] in (b"\x81\x00", b"\x88\xa8"):
        return len(frame) - 4
    return len(frame)


def model_skb(rig, frame: bytes) -> SkBuff:
    """The sk_buff packet_rcv runs the filter on, as pybpf models it for the rig."""
    return SkBuff.from_frame(frame, untag_vlan=True, dev_addr=rig.rx_mac, ifindex=rig.rx_ifindex)


def compare_on_socket(rig, prog: ClassicProgram, frames) -> list[str]:
    rig.attach(prog)
    diffs = []
    for where, frame in frames:
        k = rig.deliver(frame)
        if k is None:
            STATS["socket: frames the receive path dropped"] += 1
            continue
        try:
            u = min(prog.run(model_skb(rig, frame)), untagged_len(frame))
        except NotSupportedError:
            STATS["socket: frames pybpf cannot model (said so)"] += 1
            continue
        STATS["socket: frames x programs compared"] += 1
        if k != u:
            diffs.append(f"{where}: kernel {k} pybpf {u}")
    return diffs


def deterministic(prog: list[SockFilter]) -> bool:
    return not any(
        (a := ancillary_of(f.code, f.k)) is not None and a.number in (SKF_AD_CPU, SKF_AD_RANDOM)
        for f in prog
    )


# --- the socket ----------------------------------------------------------------------------
@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_libpcap_programs_on_a_real_socket(rig, expr: str) -> None:
    pc = compile_expression(expr, 1)
    diffs = compare_on_socket(rig, ClassicProgram(pc.filter), FRAMES)
    assert not diffs, diffs[:5]


@pytest.mark.parametrize("name", PROBED)
def test_ancillary_loads_on_a_real_socket(rig, name: str) -> None:
    """Each ancillary value read back 6 bits at a time: ld #anc; rsh; and #0x3f; add #1; ret a."""
    diffs = []
    for shift in (0, 6, 12, 18, 24, 30):
        prog = ClassicProgram(assemble(f"ld #{name}\nrsh #{shift}\nand #0x3f\nadd #1\nret a"))
        diffs += [f"shift {shift} {d}" for d in compare_on_socket(rig, prog, FRAMES)]
    assert not diffs, diffs[:5]


def _nl_frame(attrs: list[tuple[int, bytes]], pad: int = 64) -> bytes:
    body = b"".join(struct.pack("<HH", 4 + len(v), t) + v + bytes(-len(v) % 4) for t, v in attrs)
    return bytes(12) + b"\x88\xb5" + body + bytes(pad)  # a local-experimental EtherType


def test_netlink_attribute_ancillaries_on_a_real_socket(rig) -> None:
    nested = struct.pack("<HH", 8, 2) + b"abcd" + struct.pack("<HH", 6, 7) + b"xy" + bytes(2)
    frame = _nl_frame([(1, b"AAAA"), (0x8005, nested), (3, b"B" * 9), (9, b"")])
    frames = [("nl", frame), ("nl-short", frame[:30]), ("nl-broken", frame[:14] + b"\xff\xff")]
    diffs = []
    for a in (14, 15, 22, 40, 200):
        for x in (1, 3, 5, 9, 2, 7):
            for anc in ("nla", "nlan"):
                src = f"ld #{a}\nldx #{x}\nld #{anc}\nadd #1\nret a"
                diffs += compare_on_socket(rig, ClassicProgram(assemble(src)), frames)
    assert not diffs, diffs[:5]


def _ip4(proto: int, payload: bytes, frag: int = 0, ihl: int = 5) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(payload), 1, frag, 64, proto, 0,
                      b"\x0a\0\0\1", b"\x0a\0\0\2")  # fmt: skip
    return hdr + bytes(4 * ihl - 20) + payload


def _eth(proto: int, payload: bytes) -> bytes:
    return b"\x02\0\0\0\0\1\x02\0\0\0\0\2" + struct.pack("!H", proto) + payload


def poff_frames() -> list[tuple[str, bytes]]:
    tcp = struct.pack("!HHIIBBHHH", 1, 2, 0, 0, 0x80, 0x18, 0, 0, 0) + bytes(12) + b"data" * 10
    udp = struct.pack("!HHHH", 1, 2, 30, 0) + b"x" * 22

    def ip6(nh: int, pl: bytes) -> bytes:
        return struct.pack("!IHBB16s16s", 0x60000000, len(pl), nh, 64, bytes(16), bytes(16)) + pl

    return [
        ("ipv4-tcp-opts", _eth(0x800, _ip4(6, tcp))),
        ("ipv4-options", _eth(0x800, _ip4(17, udp, ihl=7))),
        ("ipv4-first-frag", _eth(0x800, _ip4(6, tcp, frag=0x2000))),
        ("ipv4-later-frag", _eth(0x800, _ip4(6, tcp, frag=0x0010))),
        ("ipv4-bad-ihl", _eth(0x800, b"\x43" + bytes(40))),
        ("ipv4-sctp", _eth(0x800, _ip4(132, bytes(40)))),
        ("ipv4-dccp", _eth(0x800, _ip4(33, bytes(40)))),
        ("ipv4-igmp", _eth(0x800, _ip4(2, bytes(40)))),
        ("ipv4-other", _eth(0x800, _ip4(99, bytes(40)))),
        ("ipip", _eth(0x800, _ip4(4, _ip4(17, udp)))),
        ("ipv6-in-ipv4", _eth(0x800, _ip4(41, ip6(17, udp)))),
        (
            "ipv6-hop-dst-udp",
            _eth(0x86DD, ip6(0, bytes([60, 0]) + bytes(6) + bytes([17, 1]) + bytes(14) + udp)),
        ),
        ("ipv6-frag-first", _eth(0x86DD, ip6(44, bytes([6, 0, 0, 1]) + bytes(4) + tcp))),
        ("ipv6-frag-later", _eth(0x86DD, ip6(44, bytes([6, 0, 0, 0x10]) + bytes(4) + tcp))),
        ("ipv6-icmp6", _eth(0x86DD, ip6(58, bytes(40)))),
        ("vlan-ipv4", _eth(0x8100, b"\x00\x05\x08\x00" + _ip4(17, udp))),
        ("qinq-ipv6", _eth(0x88A8, b"\x00\x05\x81\x00\x00\x06\x86\xdd" + ip6(6, tcp))),
        ("pppoe-ipv4", _eth(0x8864, b"\x11\x00\x00\x01\x00\x30\x00\x21" + _ip4(17, udp))),
        ("pppoe-ipv6-compressed", _eth(0x8864, b"\x11\x00\x00\x01\x00\x30\x57" + ip6(17, udp))),
        ("pppoe-bad-version", _eth(0x8864, b"\x21\x00\x00\x01\x00\x30\x00\x21" + _ip4(17, udp))),
        ("mpls", _eth(0x8847, b"\x00\x01\x01\x40" + _ip4(17, udp))),
        ("arp", _eth(0x806, bytes(46))),
        ("gre-ipv4", _eth(0x800, _ip4(47, b"\x00\x00\x08\x00" + _ip4(6, tcp)))),
        ("gre-key-seq", _eth(0x800, _ip4(47, b"\x30\x00\x08\x00" + bytes(8) + _ip4(17, udp)))),
        ("gre-teb", _eth(0x800, _ip4(47, b"\x00\x00\x65\x58" + _eth(0x800, _ip4(17, udp))))),
        ("gre-routing", _eth(0x800, _ip4(47, b"\x40\x00\x08\x00" + bytes(40)))),
        ("gre-unknown-proto", _eth(0x800, _ip4(47, b"\x00\x00\x88\x3e" + bytes(40)))),
        ("unknown-ethertype", _eth(0x9999, bytes(46))),
        ("truncated-ipv4", _eth(0x800, b"\x45" + bytes(10))),
    ]


def test_payload_offset_on_crafted_frames(rig) -> None:
    diffs = []
    for shift in (0, 6):
        prog = ClassicProgram(assemble(f"ld #poff\nrsh #{shift}\nand #0x3f\nadd #1\nret a"))
        diffs += compare_on_socket(rig, prog, poff_frames())
    assert not diffs, diffs


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(classic_programs())
def test_random_programs_on_a_real_socket(rig, prog) -> None:
    if not deterministic(prog):
        return
    diffs = compare_on_socket(rig, ClassicProgram(prog), FRAMES[::3])
    assert not diffs, diffs[:5]


# --- BPF_PROG_TEST_RUN of the converted program ------------------------------------------------
def compare_test_run(prog: ClassicProgram, frames) -> list[str]:
    kp = prog.kernel_program()
    try:
        diffs = []
        for where, frame in frames:
            try:
                k: object = kp.test_run(frame).retval
            except BpfError as e:
                k = e.errno
            try:
                u: object = prog.test_run(frame).retval
            except NotSupportedError:
                continue
            except BpfError as e:
                u = e.errno
            STATS["test_run: frames x programs compared"] += 1
            if k != u:
                diffs.append(f"{where}: kernel {k} pybpf {u}")
        return diffs
    finally:
        kp.close()


@pytest.mark.kernel
@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_converted_libpcap_programs_with_test_run(expr: str) -> None:
    require_bpf()
    pc = compile_expression(expr, 1)
    diffs = compare_test_run(ClassicProgram(pc.filter), FRAMES)
    assert not diffs, diffs[:5]


@pytest.mark.kernel
def test_converted_ancillary_probes_with_test_run() -> None:
    require_bpf()
    for name in [n for n in PROBED if n not in ("poff", "hatype")]:
        prog = ClassicProgram(assemble(f"ld #{name}\nret a"))
        diffs = compare_test_run(prog, FRAMES)
        assert not diffs, (name, diffs[:5])


@pytest.mark.kernel
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(classic_programs(dead_code=False))
def test_converted_random_programs_with_test_run(prog) -> None:
    require_bpf()
    cp = ClassicProgram(prog)
    if not deterministic(prog) or internal_calls_in(cp.insns):
        return  # random values, or calls bpf() cannot load (the socket test covers those)
    try:
        diffs = compare_test_run(cp, FRAMES[::4])
    except KernelError as e:
        # the eBPF verifier refuses unreachable instructions, which classic programs may have
        assert "unreachable insn" in e.log, e.log[-500:]
        STATS["test_run: converted programs with dead code (verifier refuses)"] += 1
        return
    assert not diffs, diffs[:5]


def test_xor_cpu_and_random_on_a_real_socket(rig) -> None:
    """SKF_AD_ALU_XOR_X is exact; the cpu and a random number can only be range-checked."""
    import os

    frames = FRAMES[:20]
    xor = ClassicProgram(assemble("ld #0x35\nldx #0x0f\nld [-4056]\nadd #1\nret a"))
    assert not compare_on_socket(rig, xor, frames)
    assert xor.run(frames[0][1]) == (0x35 ^ 0x0F) + 1
    for src, hi in (("ld #cpu\nadd #1\nret a", os.cpu_count() or 1),
                    ("ld #rand\nand #0x3f\nadd #1\nret a", 64)):  # fmt: skip
        prog = ClassicProgram(assemble(src))
        rig.attach(prog)
        for _, frame in frames:
            k = rig.deliver(frame)
            assert k is None or 1 <= k <= hi, (src, k)
            assert 1 <= prog.run(model_skb(rig, frame)) <= hi


def test_report_kernel_agreement() -> None:
    """Print what the comparisons above covered (pytest -s shows it)."""
    for k, v in sorted(STATS.items()):
        print(f"{k}: {v}")
