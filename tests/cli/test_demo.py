"""``pybpf demo``: no arguments, shipped programs and captures, the seed's words; and it
works from an installed wheel (not only from this editable tree)."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from pybpf.cli import main
from pybpf.cli.demo import data_dir, shipped_captures
from pybpf.net.capture import read_packets
from support.models import model_sockex1, model_sockex2

ROOT = Path(__file__).resolve().parents[2]


def expected_lines() -> tuple[str, list[str]]:
    """The demo's result lines, from the independent models over the shipped captures."""
    with data_dir() as base:
        frames = [
            (p.data, p.pkt_type)
            for c in shipped_captures(base)
            for p in read_packets(c, strict=False)
        ]
    c1 = model_sockex1(frames)
    line1 = f"TCP {c1[6]} UDP {c1[17]} ICMP {c1[1]} packets"
    c2 = model_sockex2(frames)
    lines2 = [
        f"ip {socket.inet_ntoa(struct.pack('>I', k))} count {n}" for k, n in sorted(c2.items())
    ]
    return line1, lines2


def test_shipped_data():
    with data_dir() as base:
        caps = shipped_captures(base)
        assert len(caps) >= 5
        assert sum(p.stat().st_size for p in base.iterdir()) < 100_000
        assert "Redistribution and use" in (base / "LICENSE.pcaps").read_text()
        for name in ("sockex1_kern.c", "sockex2_kern.c"):  # the same programs as examples/
            assert (base / name).read_bytes() == (ROOT / "examples" / name).read_bytes()
        for c in caps:
            assert all(p.linktype == 1 for p in read_packets(c))


def test_demo_prints_the_seed_results():
    r = CliRunner().invoke(main, ["demo"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = r.stdout.splitlines()
    line1, lines2 = expected_lines()
    assert line1 != "TCP 0 UDP 0 ICMP 0 packets"
    out = [line.strip() for line in out]
    assert line1 in out
    i = out.index(lines2[0])
    assert out[i : i + len(lines2)] == lines2
    assert "dropped on purpose" in r.stdout and "IP protocol" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 100
    tables = CliRunner().invoke(main, ["demo", "--tables"], catch_exceptions=False)
    assert "map proto_count (array" in tables.stdout and "map dst_count (hash" in tables.stdout


def test_demo_takes_no_arguments():
    r = CliRunner().invoke(main, ["demo", "extra"])
    assert r.exit_code == 2


@pytest.mark.slow
def test_demo_from_an_installed_wheel(tmp_path):
    """``pip install .`` then ``pybpf demo``: build the wheel, unpack it, run from there with
    an empty compiler cache (the C sources and headers must come from the package)."""
    wheel_dir = tmp_path / "wheel"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheel_dir)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if build.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {build.stderr.strip()[-300:]}")
    [whl] = wheel_dir.glob("pybpf-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        assert "pybpf/data/sockex1_kern.c" in names and "pybpf/include/bpf_net.h" in names
        z.extractall(site)
    env = dict(os.environ, PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "cache"))
    code = (
        "import pybpf, sys; assert pybpf.__file__.startswith(sys.argv[1]), pybpf.__file__; "
        "from pybpf.cli import main; main(['demo'])"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    line1, lines2 = expected_lines()
    got = [line.strip() for line in p.stdout.splitlines()]
    assert line1 in got
    assert all(line in got for line in lines2)
