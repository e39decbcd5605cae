"""Where the tests' data lives.

Everything a test needs ships in the repository (``tests/data``, the examples,
the package's own data), so a fresh clone passes on its own. Two external
suites are optional and found through environment variables, or beside the
repository where the project's CI keeps them; a test that needs one that is
absent skips, naming the variable to set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
DATA = TESTS / "data"
#: real captures from the tcpdump test suite (BSD licence: data/pcaps/LICENSE)
PCAPS = DATA / "pcaps"
EXAMPLES = ROOT / "examples"
SRC = ROOT / "src"


def _external(var: str, sub: str) -> Path | None:
    env = os.environ.get(var)
    if env:
        return Path(env)
    beside = ROOT.parent / "shared" / sub
    return beside if beside.is_dir() else None


#: the bpf_conformance suite (RFC 9669 test programs): $PYBPF_CONFORMANCE or ../shared/conformance
CONFORMANCE = _external("PYBPF_CONFORMANCE", "conformance")
CONFORMANCE_MISSING = (
    "the bpf_conformance suite is not here: set PYBPF_CONFORMANCE to its tests directory "
    "(a checkout of github.com/Alan-Jowett/bpf_conformance, tests/)"
)


def conformance_files() -> list[Path]:
    """The suite's ``*.data`` files, or [] when the suite is absent."""
    if CONFORMANCE is None or not CONFORMANCE.is_dir():
        return []
    return sorted(CONFORMANCE.glob("*.data"))


def require_conformance() -> Path:
    """The suite's directory; skips the calling test when it is absent."""
    if not conformance_files():
        pytest.skip(CONFORMANCE_MISSING)
    assert CONFORMANCE is not None
    return CONFORMANCE


def conformance_params() -> list:
    """Parametrize values over the suite: its files, or one skipped case saying why."""
    files = conformance_files()
    if files:
        return files
    return [pytest.param(None, marks=pytest.mark.skip(reason=CONFORMANCE_MISSING), id="absent")]


def captures() -> list[Path]:
    """Every capture in tests/data/pcaps (pcap and pcapng, including damaged ones)."""
    return sorted(p for p in PCAPS.iterdir() if p.suffix in (".pcap", ".pcapng"))
