"""The examples attached for real, in a private network namespace, against pybpf's runs.

* XDP (generic mode) on the receiving end of a veth pair: each frame sent into the
  other end is answered (XDP_TX: the reply comes back out, byte for byte what
  pybpf's run_packet gives), passed (it reaches a packet socket unchanged) or
  dropped (nothing arrives);
* tc on the sending end's egress, through tcx and through a clsact qdisc (iproute2's
  ``tc``): the frame that arrives — its VLAN tag from the packet socket's auxdata —
  is pybpf's output frame;
* cgroup_skb on a cgroup v2 directory: UDP datagrams to a process in the cgroup are
  counted as pybpf counts the same packets.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pybpf
from conftest import require_bpf
from pybpf.errors import KernelError, NotSupportedError
from pybpf.kernel.link import attach_cgroup, attach_clsact, attach_tcx, attach_xdp
from pybpf.kernel.netns import in_netns
from pybpf.net.capture import read_packets
from pybpf.spec.cc import compile_c
from support.paths import EXAMPLES, PCAPS

pytestmark = pytest.mark.kernel

SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_IGNORE_OUTGOING = 23
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
ETH_P_ALL = 3


@pytest.fixture(scope="module")
def rig():
    require_bpf()
    from pybpf.kernel.netns import VethRig

    try:
        r = VethRig(timeout=0.3)
    except (KernelError, NotSupportedError) as e:
        pytest.skip(f"no private network namespace with a veth pair here: {e}")
    yield r
    r.close()


def _listen(rig, dev: str, auxdata: bool = False) -> socket.socket:
    with in_netns(rig.path):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    if auxdata:
        s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((dev, ETH_P_ALL))
    s.setblocking(False)
    return s


def _recv(s: socket.socket, timeout: float = 0.5) -> bytes | None:
    """One frame, with a VLAN tag from the auxdata written back in (as on the wire)."""
    ready, _, _ = select.select([s], [], [], timeout)
    if not ready:
        return None
    data, anc, _flags, _addr = s.recvmsg(1 << 16, socket.CMSG_SPACE(32))
    for level, kind, body in anc:
        if level == SOL_PACKET and kind == PACKET_AUXDATA:
            status, _len, _snap, _mac, _net, tci, tpid = struct.unpack_from("<IIIHHHH", body)
            if status & TP_STATUS_VLAN_VALID:
                tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
    return data


def _drain(s: socket.socket) -> None:
    while _recv(s, 0) is not None:
        pass


def test_xdp_firewall_on_a_veth(rig):
    obj = compile_c(EXAMPLES / "xdp_firewall_kern.c")
    kc = pybpf.load(obj, backend="kernel")
    uc = pybpf.load(obj)
    back = _listen(rig, rig.TX)  # what XDP_TX sends back out of rx
    seen = _listen(rig, rig.RX)  # what rx lets through
    with in_netns(rig.path):
        link = attach_xdp(kc.program(), rig.RX, "generic")
    actions = []
    try:
        for pk in read_packets(PCAPS / "icmp_echo_veth.pcap"):
            f = pk.data
            want = uc.program().run_packet(f)
            _drain(back)
            _drain(seen)
            rig.sender.send(f)
            actions.append(want.action)
            if want.action == "XDP_TX":
                assert _recv(back) == want.packet
                assert _recv(seen, 0.05) is None
            elif want.action == "XDP_PASS":
                assert _recv(seen) == f
            else:
                assert want.action == "XDP_DROP"
                assert _recv(seen, 0.2) is None and _recv(back, 0.05) is None
    finally:
        link.close()
        back.close()
        seen.close()
    assert actions.count("XDP_TX") == 6 and actions.count("XDP_DROP") == 1
    assert {bytes(k): bytes(v) for k, v in kc.maps["xdp_actions"].items()} == {
        bytes(k): bytes(v) for k, v in uc.maps["xdp_actions"].items()
    }
    kc.close()
    uc.close()


@pytest.mark.parametrize("how", ["tcx", "clsact"])
def test_tc_vlan_on_a_veth_egress(rig, how):
    obj = compile_c(EXAMPLES / "tc_vlan_kern.c")
    kc = pybpf.load(obj, backend="kernel")
    uc = pybpf.load(obj)
    seen = _listen(rig, rig.RX, auxdata=True)
    if how == "tcx":
        with in_netns(rig.path):
            link = attach_tcx(kc.program(), rig.TX, "egress")
    else:
        try:
            link = attach_clsact(kc.program(), rig.TX, "egress", netns=rig.name)
        except KernelError as e:
            pytest.skip(f"no clsact qdisc through tc here: {e}")
    frames = [p.data for p in read_packets(PCAPS / "icmp_echo_veth.pcap")][:6]
    frames += [p.data for p in read_packets(PCAPS / "802.1ad_QinQ.pcap")][:4]
    try:
        for f in frames:
            want = uc.program().run_packet(f)
            _drain(seen)
            rig.sender.send(f)
            assert _recv(seen) == want.packet, f[:18].hex()
    finally:
        link.close()
        seen.close()
    assert {bytes(k): bytes(v) for k, v in kc.maps["vlans"].items()} == {
        bytes(k): bytes(v) for k, v in uc.maps["vlans"].items()
    }
    kc.close()
    uc.close()


CGROUP2 = Path("/sys/fs/cgroup/unified")

CHILD = """
import os, socket, sys
with open(sys.argv[1] + "/cgroup.procs", "w") as f:
    f.write(str(os.getpid()))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 9999))
print("ready", flush=True)
s.settimeout(5)
for _ in range(int(sys.argv[2])):
    s.recv(65536)
print("done", flush=True)
"""


def test_cgroup_skb_bytes_on_a_cgroup(rig, tmp_path):
    """UDP datagrams to a process in a cgroup: the kernel program counts what pybpf's run
    of the same packets (as the loopback device frames them) counts."""
    root = CGROUP2 if CGROUP2.is_dir() else Path("/sys/fs/cgroup")
    if not (root / "cgroup.procs").exists():
        pytest.skip("no cgroup v2 hierarchy here")
    cg = root / f"pybpf-test-{os.getpid()}"
    cg.mkdir()
    obj = compile_c(EXAMPLES / "cgroup_skb_bytes_kern.c")
    kc = pybpf.load(obj, backend="kernel")
    uc = pybpf.load(obj)
    sizes = [0, 1, 100, 1000, 1400]
    child = None
    link = attach_cgroup(kc.program(), cg, "ingress")
    try:
        with in_netns(rig.path):
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        with in_netns(rig.path):  # the child starts in the namespace (its thread's)
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(cg), str(len(sizes))],
                stdout=subprocess.PIPE,
                text=True,
            )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with in_netns(rig.path):
            tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for n in sizes:
            tx.sendto(bytes(n), ("127.0.0.1", 9999))
            time.sleep(0.01)
        assert child.stdout.readline().strip() == "done"
        tx.close()
    finally:
        if child is not None:
            child.wait(10)
        link.close()
        cg.rmdir()
    # the same datagrams as the loopback device frames them: zero MACs, IPv4, UDP
    for n in sizes:
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            28 + n,
            0,
            0x4000,
            64,
            17,
            0,
            socket.inet_aton("127.0.0.1"),
            socket.inet_aton("127.0.0.1"),
        )
        frame = bytes(12) + b"\x08\x00" + ip + struct.pack("!HHHH", 1, 9999, 8 + n, 0) + bytes(n)
        assert uc.program().run_packet(frame).action == "allow"
    want = {bytes(k): bytes(v) for k, v in uc.maps["traffic"].items()}
    got = {bytes(k): bytes(v) for k, v in kc.maps["traffic"].items()}
    assert (
        got
        == want
        == {
            struct.pack("<I", 4 << 8 | 17): struct.pack(
                "<QQ", len(sizes), sum(28 + n for n in sizes)
            )
        }
    )
    kc.close()
    uc.close()
