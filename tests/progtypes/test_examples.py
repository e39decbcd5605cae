"""The XDP, tc and cgroup_skb examples over the shipped captures: against independent models
of what they do, against the kernel, and pybpf's engines against each other.

* every frame of every shipped Ethernet capture is test-run in the kernel and in
  pybpf (interpreter and JIT): the same return value, output bytes and maps;
* a whole capture run (``replay_actions``) gives the same counts and writes the
  same pcapng in both of pybpf's engines;
* Python models say what each program must do to each frame: the XDP program's
  echo replies (addresses swapped, checksums valid), its drops; the tc program's
  VLAN tags; the cgroup program's bytes per protocol.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import pybpf
from conftest import require_bpf
from pybpf.net.capture import open_capture, read_packets
from pybpf.net.linktype import LINKTYPE_ETHERNET
from pybpf.net.replay import ActionWriter, replay_actions
from pybpf.spec.cc import compile_c
from support.packets import frames
from support.paths import EXAMPLES, PCAPS

ECHO = PCAPS / "icmp_echo_veth.pcap"
QINQ = PCAPS / "802.1ad_QinQ.pcap"
CAPTURES = sorted(PCAPS.glob("*.pcap*"))


def load(name: str, engine: str = "interp", backend: str = "user") -> pybpf.Collection:
    obj = compile_c(EXAMPLES / f"{name}_kern.c")
    if backend == "kernel":
        return pybpf.load(obj, backend="kernel")
    return pybpf.load(obj, engine=engine)


def ethernet(path: Path) -> list[bytes]:
    return [p.data for p in read_packets(path, strict=False) if p.linktype == LINKTYPE_ETHERNET]


def presented(path: Path) -> list[bytes]:
    """What replay_actions runs: every frame as "ethernet" presentation gives it, but
    those too short for an Ethernet header."""
    return [p.data for p in read_packets(path, strict=False) if len(p.data) >= 14]


def _csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def maps_of(coll: pybpf.Collection) -> dict[str, dict[bytes, bytes]]:
    return {n: {bytes(k): bytes(v) for k, v in m.items()} for n, m in coll.maps.items()}


# --- models ------------------------------------------------------------------------------------


def xdp_model(frame: bytes, port: int = 53) -> str:
    """What xdp_firewall does to an Ethernet frame: XDP_TX, XDP_DROP or XDP_PASS."""
    if len(frame) < 14:
        return "XDP_PASS"
    et = frame[12:14]
    if et == b"\x08\x00" and len(frame) >= 34:
        ihl = frame[14] & 0xF
        if ihl < 5 or int.from_bytes(frame[20:22], "big") & 0x1FFF:
            return "XDP_PASS"
        proto, l4 = frame[23], 14 + ihl * 4
        hdr = {6: 20, 17: 8}.get(proto)
        if hdr and len(frame) >= l4 + hdr and int.from_bytes(frame[l4 + 2 : l4 + 4], "big") == port:
            return "XDP_DROP"
        if (
            proto == 1
            and ihl == 5
            and len(frame) >= l4 + 8
            and frame[l4] == 8
            and not frame[l4 + 1]
        ):
            return "XDP_TX"
        return "XDP_PASS"
    if et == b"\x86\xdd" and len(frame) >= 54:
        nh, l4 = frame[20], 54
        hdr = {6: 20, 17: 8}.get(nh)
        if hdr and len(frame) >= l4 + hdr and int.from_bytes(frame[l4 + 2 : l4 + 4], "big") == port:
            return "XDP_DROP"
        if nh == 58 and len(frame) >= l4 + 8 and frame[l4] == 128 and not frame[l4 + 1]:
            return "XDP_TX"
    return "XDP_PASS"


def check_reply(request: bytes, reply: bytes) -> None:
    """An echo reply made from ``request`` in place: addresses swapped, valid checksums."""
    assert reply[0:6] == request[6:12] and reply[6:12] == request[0:6]
    assert len(reply) == len(request)
    if reply[12:14] == b"\x08\x00":
        ip = reply[14:34]
        assert ip[12:16] == request[30:34] and ip[16:20] == request[26:30]
        assert ip[8] == 64 and _csum(ip) == 0xFFFF  # TTL reset, header checksum valid
        total = int.from_bytes(ip[2:4], "big")
        icmp = reply[34 : 14 + total] if total >= 20 else reply[34:]
        assert reply[34] == 0 and reply[35] == request[35]  # an echo reply, the same code
        if total >= 28 and 14 + total <= len(reply):
            assert _csum(icmp) == 0xFFFF, reply.hex()
    else:
        assert reply[22:38] == request[38:54] and reply[38:54] == request[22:38]
        assert reply[21] == 64 and reply[54] == 129
        plen = int.from_bytes(reply[18:20], "big")
        pseudo = reply[22:54] + plen.to_bytes(4, "big") + b"\0\0\0\x3a"
        assert _csum(pseudo + reply[54 : 54 + plen]) == 0xFFFF


# --- pybpf's engines: a whole capture run -------------------------------------------------------


@pytest.mark.parametrize("name", ["xdp_firewall", "tc_vlan", "cgroup_skb_bytes"])
def test_engines_agree_on_every_capture(name, tmp_path):
    out = {}
    for engine in ("interp", "jit"):
        with load(name, engine) as coll:
            path = tmp_path / f"{engine}.pcapng"
            writer = ActionWriter(path)
            res = replay_actions(coll.program(), CAPTURES, writer=writer)
            writer.close()
            out[engine] = (res.counters, maps_of(coll), path.read_bytes())
    assert out["interp"] == out["jit"]
    counters = out["interp"][0]
    assert counters["packets"] > 100 and counters["written"] > 50


def test_xdp_firewall_against_its_model(tmp_path):
    """Every frame: the model's action; every reply: a valid echo reply of its request."""
    with load("xdp_firewall") as coll:
        prog = coll.program()
        replies = 0
        for path in CAPTURES:
            for f in ethernet(path):
                out = prog.run_packet(f)
                assert out.action == xdp_model(f), (path.name, f.hex())
                if out.action == "XDP_TX" and f in ethernet(ECHO):
                    check_reply(f, out.packet)
                    replies += 1
                elif out.action == "XDP_PASS":
                    assert out.packet == f
        assert replies == 6  # three ICMP and three ICMPv6 echo requests


def test_xdp_firewall_reader_output(tmp_path, capsys):
    """The reader's lines, and its --write-pcap: the replies with their action as comment."""
    import sys

    sys.path.insert(0, str(EXAMPLES))
    try:
        import xdp_firewall_user as reader
    finally:
        sys.path.remove(str(EXAMPLES))
    with load("xdp_firewall") as coll:
        writer = ActionWriter(tmp_path / "o.pcapng", split=True)
        replay_actions(coll.program(), [ECHO], writer=writer)
        writer.close()
        reader.show(coll, {})
    assert capsys.readouterr().out.splitlines() == [
        "XDP_DROP 1 XDP_PASS 9 XDP_TX 6",
        "dropped IPv4 UDP 1",
    ]
    with open_capture(tmp_path / "o-XDP_TX.pcapng") as r:
        sent = list(r.iter_packets())
    requests = [f for f in ethernet(ECHO) if xdp_model(f) == "XDP_TX"]
    assert [p.comment for p in sent] == ["XDP_TX"] * 6
    for req, rep in zip(requests, sent, strict=True):
        check_reply(req, rep.data)
    assert not (tmp_path / "o-XDP_DROP.pcapng").exists()  # a dropped packet does not leave


def vlan_model(frame: bytes) -> tuple[bytes, int]:
    """tc_vlan: (the wire frame out, the mark)."""
    et = frame[12:14]
    if et in (b"\x81\x00", b"\x88\xa8") and len(frame) >= 18:
        vid = int.from_bytes(frame[14:16], "big") & 0xFFF
        return frame[:12] + frame[16:], 0x10000 | vid
    return frame[:12] + b"\x81\x00\x00\x64" + frame[12:], 100


def test_tc_vlan_against_its_model():
    with load("tc_vlan") as coll:
        prog = coll.program()
        n = 0
        for path in CAPTURES:
            for f in ethernet(path):
                out = prog.run_packet(f)
                want, mark = vlan_model(f)
                assert out.action == "TC_ACT_OK" and out.packet == want, f.hex()
                assert prog.packet_area().model.mark == mark
                n += 1
        assert n > 80
        pushed = coll.maps["vlans"].lookup(struct.pack("<I", 100))
        assert struct.unpack("<Q", pushed)[0] == sum(
            1 for p in CAPTURES for f in ethernet(p) if vlan_model(f)[1] == 100
        )


def test_cgroup_skb_bytes_against_its_model():
    want: dict[int, list[int]] = {}
    for path in CAPTURES:
        for f in presented(path):
            et, key = f[12:14], 0
            if et == b"\x08\x00" and len(f) >= 34:
                key = 4 << 8 | f[23]
            elif et == b"\x86\xdd" and len(f) >= 54:
                key = 6 << 8 | f[20]
            t = want.setdefault(key, [0, 0])
            t[0] += 1
            t[1] += len(f) - 14
    with load("cgroup_skb_bytes") as coll:
        res = replay_actions(coll.program(), CAPTURES)
        assert res.counters["allow"] == res.counters["packets"]
        got = {
            struct.unpack("<I", k)[0]: list(struct.unpack("<QQ", v))
            for k, v in maps_of(coll)["traffic"].items()
        }
    assert got == want


# --- against the kernel ---------------------------------------------------------------------------


def _agree_with_the_kernel(name: str, engine: str, suite: int) -> None:
    from pybpf.errors import BpfError, KernelError

    kc, uc = load(name, backend="kernel"), load(name, engine)
    kp, up = kc.program(), uc.program()
    ran = 0
    try:
        for f in frames(10_000, suite=suite):
            try:
                kr = kp.test_run(f)
            except KernelError as e:
                with pytest.raises(BpfError) as ei:
                    up.test_run(f)
                assert ei.value.errno == e.errno
                continue
            ur = up.test_run(f)
            assert (ur.retval, ur.data_out) == (kr.retval, kr.data_out), f.hex()
            ran += 1
        assert maps_of(uc) == maps_of(kc)
    finally:
        kc.close()
        uc.close()
    assert ran > 100


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["xdp_firewall", "tc_vlan", "cgroup_skb_bytes"])
@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_examples_agree_with_the_kernel(name, engine):
    """Every test-runnable frame of every shipped capture (and of 40 tcpdump test-suite
    captures when present): the same return value, data_out and maps as the kernel's."""
    require_bpf()
    _agree_with_the_kernel(name, engine, 40)


@pytest.mark.slow
@pytest.mark.kernel
@pytest.mark.parametrize("name", ["xdp_firewall", "tc_vlan", "cgroup_skb_bytes"])
def test_examples_agree_with_the_kernel_on_the_whole_tcpdump_suite(name):
    """The same on every Ethernet frame of every capture of the tcpdump test suite."""
    require_bpf()
    from support.packets import SUITE

    if not SUITE.is_dir():
        pytest.skip(f"the tcpdump test suite is not at {SUITE} (set PYBPF_TCPDUMP_TESTS)")
    _agree_with_the_kernel(name, "jit", 100_000)


@pytest.mark.kernel
def test_cli_writes_what_leaves(tmp_path):
    """pybpf run --write-pcap --split-by-action with the kernel backend: counts per action
    in the JSON, one file per action, a comment per packet."""
    require_bpf()
    import json

    from click.testing import CliRunner

    from pybpf.cli import main

    out = tmp_path / "out.pcapng"
    r = CliRunner().invoke(
        main,
        [
            "run",
            str(EXAMPLES / "xdp_firewall_kern.c"),
            "--backend",
            "kernel",
            "--pcap",
            str(ECHO),
            "--write-pcap",
            str(out),
            "--split-by-action",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert (d["XDP_TX"], d["XDP_DROP"], d["XDP_PASS"], d["packets"]) == (6, 1, 9, 16)
    assert sorted(Path(p).name for p in d["written_files"]) == [
        "out-XDP_PASS.pcapng",
        "out-XDP_TX.pcapng",
    ]
    with open_capture(tmp_path / "out-XDP_PASS.pcapng") as rd:
        assert {p.comment for p in rd.iter_packets()} == {"XDP_PASS"}


def test_cli_refuses_bad_combinations(tmp_path):
    from click.testing import CliRunner

    from pybpf.cli import main

    r = CliRunner().invoke(main, ["run", "--filter", "udp", str(ECHO), "--write-pcap", "x"])
    assert r.exit_code != 0 and "--write-pcap" in r.output
    r = CliRunner().invoke(
        main, ["run", str(EXAMPLES / "sockex1_kern.c"), "--pcap", str(ECHO), "--split-by-action"]
    )
    assert r.exit_code != 0 and "--split-by-action needs --write-pcap" in r.output
