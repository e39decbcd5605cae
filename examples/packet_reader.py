"""What the XDP, tc and cgroup_skb examples' user-space halves share: build, load, replay.

Each example's ``*_user.py`` compiles its C half with ``pybpf cc``, loads it into
pybpf's runtime (``--backend user``) or the running kernel (``--backend kernel``),
runs it over captures with :func:`pybpf.net.replay.replay_actions` — every frame
presented as BPF_PROG_TEST_RUN presents it, the packets that leave optionally
written to a pcapng file — and prints its maps its own way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def build(source: Path, defines: Sequence[str] = ()) -> Path:
    """Compile the C half with the bundled clang (cached)."""
    from pybpf.spec.cc import compile_c

    return compile_c(source, defines=tuple(defines))


def arguments(description: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--pcap", nargs="+", required=True, metavar="FILE", help="captures to run on")
    ap.add_argument("--backend", choices=("user", "kernel"), default="user")
    ap.add_argument("--write-pcap", metavar="OUT", help="write the packets that leave here")
    ap.add_argument("-D", dest="defines", action="append", default=[], help="a C define")
    return ap


def run(
    source: Path,
    argv: list[str] | None,
    description: str,
    show: Callable[[Any, dict[str, int]], None],
) -> int:
    """Parse the arguments, load, replay the captures, ``show(collection, counters)``."""
    import pybpf
    from pybpf.net.replay import ActionWriter, replay_actions

    args = arguments(description).parse_args(argv)
    with pybpf.load(build(source, args.defines), backend=args.backend) as coll:
        writer = ActionWriter(args.write_pcap) if args.write_pcap else None
        try:
            res = replay_actions(
                coll.program(),
                args.pcap,
                writer=writer,
                warn=lambda m: print(f"warning: {m}", file=sys.stderr),
            )
        finally:
            if writer is not None:
                writer.close()
        if res.files_read == 0:
            raise SystemExit("error: no packets could be read from " + ", ".join(args.pcap))
        show(coll, res.counters)
    return 0
