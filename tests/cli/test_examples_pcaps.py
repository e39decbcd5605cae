"""sockex1 and sockex2 on every Ethernet capture of tests/data/pcaps: pybpf vs a model vs the kernel.

For each capture, the program is loaded with ``pybpf.load`` and every packet is
delivered to a :class:`pybpf.net.socket.PacketSocket` (as ``pybpf run`` does); the
map must equal an independent count made here with a plain Python parse of the same
frames, and (``@pytest.mark.kernel``) the map the kernel fills when the same program,
loaded with bpf(), runs on each frame with BPF_PROG_TEST_RUN (frames presented as on
a packet socket: :func:`pybpf.net.socket.kernel_test_run_frame`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf
from conftest import require_bpf
from pybpf.net.socket import PacketSocket
from pybpf.spec.cc import compile_c

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

from support.models import (  # noqa: E402
    CAPTURES,
    IDS,
    TEST_RUN_MAX,
    as_counts,
    model_sockex1,
    model_sockex2,
    model_sockex2_key,
)

# ---- running pybpf and the kernel -------------------------------------------------------------


@pytest.fixture(scope="module")
def objects() -> dict[str, Path]:
    return {
        "sockex1": compile_c(EXAMPLES / "sockex1_kern.c"),
        "sockex2": compile_c(EXAMPLES / "sockex2_kern.c"),
    }


def run_on(obj: Path, packets: list, backend: str) -> tuple[dict[bytes, bytes], PacketSocket]:
    coll = pybpf.load(obj, backend=backend)
    try:
        sock = PacketSocket()
        sock.attach(coll.program())
        sock.deliver_all(packets)
        m = next(iter(coll.maps.values()))
        return {bytes(k): bytes(v) for k, v in m.items()}, sock
    finally:
        coll.close()


def test_there_are_ethernet_captures():
    assert len(CAPTURES) >= 15
    assert sum(len(p) for _n, p in CAPTURES) > 70


@pytest.mark.parametrize(("name", "packets"), CAPTURES, ids=IDS)
def test_sockex1_user_matches_model(objects, name, packets):
    got, sock = run_on(objects["sockex1"], packets, "user")
    want = model_sockex1([(p.data, p.pkt_type) for p in packets])
    assert as_counts(got) == want
    assert sock.received == len(packets) and sock.accepted == 0  # it always returns 0
    assert len(got) == 256  # an array lists every index


@pytest.mark.parametrize(("name", "packets"), CAPTURES, ids=IDS)
def test_sockex2_user_matches_model(objects, name, packets):
    got, _ = run_on(objects["sockex2"], packets, "user")
    want = model_sockex2([(p.data, p.pkt_type) for p in packets])
    assert as_counts(got) == want


def test_models_cover_the_interesting_cases():
    """The captures exercise what the dissector handles: QinQ, GRE, IPv6, short frames."""
    keys = {}
    for name, packets in CAPTURES:
        keys[name] = [model_sockex2_key(p.data) for p in packets]
    assert any(k is not None for k in keys["dns_udp.pcap"])
    assert all(k is None for k in keys["802.1ad_QinQ.pcap"])  # ARP inside QinQ: not counted
    assert any(k is not None for k in keys["icmpv6.pcap"])  # folded IPv6 destinations
    total = sum(1 for ks in keys.values() for k in ks if k is not None)
    assert total > 40


@pytest.mark.kernel
@pytest.mark.parametrize(("name", "packets"), CAPTURES, ids=IDS)
@pytest.mark.parametrize("prog", ["sockex1", "sockex2"])
def test_kernel_agrees(objects, prog, name, packets):
    require_bpf()
    # frames BPF_PROG_TEST_RUN cannot take (over a page) are left out of both sides
    fits = [p for p in packets if len(p.data) + 14 <= TEST_RUN_MAX]
    user, _ = run_on(objects[prog], fits, "user")
    kern, ksock = run_on(objects[prog], fits, "kernel")
    assert ksock.filter_errors == 0
    assert kern == user
    model = model_sockex1 if prog == "sockex1" else model_sockex2
    assert as_counts(kern) == model([(p.data, p.pkt_type) for p in fits])
