"""A libbpf-style socket filter (tests/data/count_proto.c) with nothing but pybpf's headers.

It includes what such programs include -- <linux/bpf.h>, <linux/if_ether.h>,
<linux/ip.h>, <bpf/bpf_helpers.h>, <bpf/bpf_endian.h> ... -- and is compiled,
loaded in both backends and run over every frame of tests/data/pcaps; the
counts must equal each other and an independent reading of the frames.
"""

from __future__ import annotations

import struct
from collections import Counter

import pytest

import pybpf
from pybpf.errors import BpfError
from pybpf.loader import read_spec
from pybpf.net.capture import read_packets
from pybpf.spec.cc import compile_c
from support.paths import DATA, captures

SOURCE = DATA / "count_proto.c"


def _frames() -> list[bytes]:
    out = []
    for p in captures():
        try:
            pkts = read_packets(p, strict=False)
        except (BpfError, OSError):
            continue
        out += [bytes(pk.data) for pk in pkts if pk.linktype == 1 and 14 <= len(pk.data) <= 3000]
    return out  # BPF_PROG_TEST_RUN takes at most a page (frame plus overhead) per packet


def model(frames: list[bytes]) -> dict[int, tuple[int, int]]:
    """What count_proto counts, read from the frames directly: (packets, bytes) per protocol."""
    n: Counter[int] = Counter()
    b: Counter[int] = Counter()
    for f in frames:
        etype = int.from_bytes(f[12:14], "big")
        at = {0x0800: 14 + 9, 0x86DD: 14 + 6}.get(etype)
        if at is None or at >= len(f):
            continue
        n[f[at]] += 1
        b[f[at]] += len(f)
    return {k: (n[k], b[k]) for k in n}


def _counts(coll) -> dict[int, tuple[int, int]]:
    out = {}
    for k, v in coll.maps["counts"].items():
        pk, by = struct.unpack("<QQ", bytes(v))
        if pk:
            out[int.from_bytes(bytes(k), "little")] = (pk, by)
    return out


def test_compiles_with_pybpf_s_headers_only():
    obj = compile_c(SOURCE)
    spec = read_spec(obj)
    m = spec.maps["counts"]
    assert (m.type, m.key_size, m.value_size, m.max_entries) == (2, 4, 16, 256)
    assert spec.programs["count_proto"].section == "socket"


@pytest.mark.kernel
def test_runs_alike_in_both_backends_and_agrees_with_the_frames():
    from conftest import require_bpf

    frames = _frames()
    assert len(frames) > 50
    want = model(frames)
    user = pybpf.load(SOURCE, backend="user")
    results = [user.program().run(f) for f in frames]
    assert _counts(user) == want
    assert {0, 17, 6, 58} <= set(want)  # hop-by-hop, UDP, TCP, ICMPv6 in the captures
    require_bpf()
    with pybpf.load(SOURCE, backend="kernel") as kern:
        kresults = [kern.program().run(f) for f in frames]
        assert _counts(kern) == want
    assert results == kresults
