"""Build a large Ethernet pcap for throughput benchmarks by cycling the test captures.

    python bench/make_capture.py [--count N] [--out PATH]

Every Ethernet (link type 1) packet of tests/data/pcaps (pcap and pcapng, files
in name order) is written in turn, over and over, until N records (default
1,000,000) are written; timestamps advance one microsecond per record.  The
default output is bench/out/cycle-N.pcap (bench/out is git-ignored: never
commit a large capture).  An existing file with the same size and record
count is reused unless --force is given.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pybpf.net.capture import open_capture
from pybpf.net.linktype import LINKTYPE_ETHERNET
from pybpf.net.pcap import PcapReader, PcapWriter

ROOT = Path(__file__).resolve().parents[1]
BENCH_OUT = ROOT / "bench" / "out"
_BATCH = 4096


def test_pcaps() -> Path:
    """The captures the tests ship (tests/data/pcaps)."""
    return ROOT / "tests" / "data" / "pcaps"


def ethernet_frames(directory: Path | None = None) -> list[bytes]:
    """The Ethernet frames of every test capture, in file-name order."""
    frames: list[bytes] = []
    directory = directory or test_pcaps()
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".pcap", ".pcapng"):
            continue
        with open_capture(path) as reader:
            for rec in reader.records(strict=False):
                if rec.linktype == LINKTYPE_ETHERNET:
                    frames.append(rec.data)
    if not frames:
        raise SystemExit(f"no Ethernet packets found in {directory}")
    return frames


def build_capture(
    out: Path,
    count: int = 1_000_000,
    frames: list[bytes] | None = None,
    *,
    start_ns: int = 1_700_000_000 * 10**9,
) -> Path:
    """Write ``count`` records cycling ``frames`` into the pcap ``out``; returns ``out``."""
    frames = frames or ethernet_frames()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".part")
    with PcapWriter(tmp, linktype=LINKTYPE_ETHERNET) as w:
        record = w.record
        nframes = len(frames)
        done = 0
        while done < count:
            n = min(_BATCH, count - done)
            w.write_raw(
                b"".join(
                    record(frames[(done + i) % nframes], start_ns + (done + i) * 1000)
                    for i in range(n)
                ),
                n,
            )
            done += n
    os.replace(tmp, out)
    return out


def _count_ok(path: Path, count: int) -> bool:
    try:
        with PcapReader(path) as r:
            # Cheap check: the header parses; the size matches a fresh build's.
            return r.linktype == LINKTYPE_ETHERNET and path.stat().st_size > 24 + 16 * count
    except Exception:
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000, help="records to write")
    ap.add_argument("--out", type=Path, default=None, help="output pcap path")
    ap.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    args = ap.parse_args(argv)
    out = args.out or BENCH_OUT / f"cycle-{args.count}.pcap"
    if out.exists() and not args.force and _count_ok(out, args.count):
        print(f"{out}: exists ({out.stat().st_size:,} bytes); --force to rebuild")
        return 0
    t0 = time.perf_counter()
    frames = ethernet_frames()
    build_capture(out, args.count, frames)
    dt = time.perf_counter() - t0
    print(
        f"{out}: {args.count:,} records cycling {len(frames)} test Ethernet frames, "
        f"{out.stat().st_size:,} bytes in {dt:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
