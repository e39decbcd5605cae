"""Filter expressions match what tcpdump matches: every capture, a broad set of expressions.

libpcap compiles each expression for each capture (as ``tcpdump -r`` does)
and pybpf runs the program over the capture's records; the number of
matching packets must equal ``tcpdump -r FILE --count EXPR``. The captures of
tests/data/pcaps are checked in the quick loop; the whole tcpdump test suite
(.ci/fetch-tcpdump-tests) in the slow one.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from classic_cases import EXPRESSIONS, TCPDUMP, tcpdump_count

from pybpf.cbpf.capture import filter_captures
from pybpf.cbpf.libpcap import compile_for_file
from pybpf.cbpf.printer import image
from support.paths import PCAPS, captures

pytestmark = pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is not installed")

SUITE = Path(
    os.environ.get("PYBPF_TCPDUMP_TESTS", Path.home() / ".cache" / "pybpf" / "tcpdump-tests")
)
SUITE_FILES = sorted(SUITE.glob("*.pcap*")) if SUITE.is_dir() else []
STATS: Counter[str] = Counter()


def compare(files: list[Path], exprs: list[str], engine: str) -> list[str]:
    """Every (file, expression) where pybpf's count differs from tcpdump's."""
    diffs = []
    with ThreadPoolExecutor(2) as pool:
        for expr in exprs:
            got = pool.map(tcpdump_count, files, [expr] * len(files))
            counts = dict(zip(files, got, strict=True))
            for f in files:
                want = counts[f]
                if want is None:  # tcpdump cannot read the file (or the link type lacks EXPR)
                    STATS[f"{engine}: file x expression tcpdump refuses"] += 1
                    continue
                got = filter_captures(expr, [f], engine=engine).accepted
                STATS[f"{engine}: file x expression compared"] += 1
                if got != want:
                    diffs.append(f"{f.name} {expr!r}: tcpdump {want} pybpf {got}")
    return diffs


@pytest.mark.parametrize("engine", ["classic", "interp"])
def test_counts_equal_tcpdump_on_the_repository_captures(engine: str) -> None:
    diffs = compare(captures(), EXPRESSIONS, engine)
    assert not diffs, diffs[:10]


def test_pybpf_compiles_what_tcpdump_compiles_for_each_file() -> None:
    import subprocess

    for f in captures():
        for expr in ("ip6", "tcp port 80", "vlan and udp"):
            out = subprocess.run(
                [TCPDUMP, "-r", str(f), "-d", expr], capture_output=True, text=True
            )
            if out.returncode:
                continue
            prog = compile_for_file(expr, str(f))
            assert prog is not None and image(prog.filter) == out.stdout, (f.name, expr)


@pytest.mark.slow
@pytest.mark.skipif(
    not SUITE_FILES, reason=f"tcpdump test suite not found in {SUITE} (run .ci/fetch-tcpdump-tests)"
)
def test_counts_equal_tcpdump_on_the_whole_suite() -> None:
    diffs = compare(SUITE_FILES, EXPRESSIONS, "classic")
    diffs += compare(SUITE_FILES, EXPRESSIONS[::7], "interp")
    for k, v in sorted(STATS.items()):
        print(f"{k}: {v}")
    assert not diffs, diffs[:10]


def test_damage_and_warnings() -> None:
    damaged = PCAPS / "tcp_header_heapoverflow.pcap"
    res = filter_captures("tcp", [damaged, PCAPS / "missing.pcap"])
    assert res.files_failed == 1
    assert any("missing.pcap" in w for w in res.warnings)
