"""Every capture of the tcpdump test suite: read without a traceback, run by both seed programs.

The suite (667 pcap/pcapng files, many deliberately malformed) comes from
Debian's tcpdump source package; .ci/fetch-tcpdump-tests puts it in
~/.cache/pybpf/tcpdump-tests (or $PYBPF_TCPDUMP_TESTS). Packet counts are
checked against tcpdump itself, and the seed programs' maps against the
independent models of tests/test_examples_pcaps.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

import pybpf
from pybpf.errors import CaptureError
from pybpf.net.capture import open_capture
from pybpf.net.socket import PacketSocket
from pybpf.spec.cc import compile_c
from support.models import as_counts, model_sockex1, model_sockex2

SUITE = Path(
    os.environ.get("PYBPF_TCPDUMP_TESTS", Path.home() / ".cache" / "pybpf" / "tcpdump-tests")
)
FILES = sorted(SUITE.glob("*.pcap*")) if SUITE.is_dir() else []
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TCPDUMP = shutil.which("tcpdump")

pytestmark = pytest.mark.skipif(
    not FILES, reason=f"tcpdump test suite not found in {SUITE} (run .ci/fetch-tcpdump-tests)"
)


def read_all(path: Path) -> tuple[list, CaptureError | None]:
    """Every packet before any damage, and the damage (never another exception)."""
    packets: list = []
    try:
        with open_capture(path) as r:
            packets.extend(r.iter_packets(strict=False))
            return packets, r.error
    except CaptureError as e:  # not a capture at all, or damaged before the first packet
        return packets, e


@pytest.fixture(scope="module")
def suite() -> dict[str, tuple[list, CaptureError | None]]:
    return {p.name: read_all(p) for p in FILES}


def test_the_suite_is_the_whole_suite():
    assert len(FILES) >= 600


def test_every_file_reads_as_tcpdump_counts(suite):
    """No traceback on any file, and the packet count tcpdump itself reports."""
    if TCPDUMP is None:
        pytest.skip("tcpdump is not installed: counts not compared")
    mismatches = []
    for path in FILES:
        packets, err = suite[path.name]
        out = subprocess.run([TCPDUMP, "-r", str(path), "--count"], capture_output=True, text=True)
        m = re.search(r"(\d+) packets?", out.stdout + out.stderr)
        if m is None:  # tcpdump refused the file outright: we must have said why
            assert err is not None, path.name
            continue
        if int(m.group(1)) != len(packets):
            mismatches.append((path.name, len(packets), int(m.group(1)), str(err)))
    assert not mismatches


def test_damage_is_reported_with_an_offset(suite):
    for name, (_packets, err) in suite.items():
        if err is not None:
            assert err.offset is not None, name


@pytest.mark.parametrize("prog", ["sockex1", "sockex2"])
def test_seed_programs_on_every_packet(suite, prog):
    """sockex1/sockex2 on all ~9,500 packets: no fault, and the maps the models predict."""
    obj = compile_c(EXAMPLES / f"{prog}_kern.c")
    coll = pybpf.load(obj)
    sock = PacketSocket()
    sock.attach(coll.program())
    frames: list[tuple[bytes, int]] = []
    for packets, _err in suite.values():
        sock.deliver_all(packets)
        frames.extend((bytes(p.data), p.pkt_type) for p in packets)
    assert sock.stats()["filter_errors"] == 0
    got = as_counts({bytes(k): bytes(v) for k, v in next(iter(coll.maps.values())).items()})
    expected = model_sockex1(frames) if prog == "sockex1" else model_sockex2(frames)
    assert got == +Counter(expected)
    assert sum(got.values()) > 1000
