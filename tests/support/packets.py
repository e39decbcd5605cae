"""The same XDP, tc or cgroup_skb program in pybpf and in the kernel, run on the same frames.

``Pair`` loads one instruction list into both backends (each with its own
maps; pybpf's runs unverified on the interpreter, or verified — pybpf's verifier
must accept what the kernel's did — natively on the JIT, ``engine``);
``compare`` test-runs every frame in both and asserts the same return
value, the same output bytes, the same context out and the same maps — or the
same errno when the kernel refuses the run. ``frames()`` are real frames from
the shipped captures (and the tcpdump test suite's, when it is there).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from pybpf.errors import BpfError, KernelError
from pybpf.isa import Insn
from pybpf.kernel.maps import KernelMap
from pybpf.kernel.program import KernelProgram
from pybpf.maps.base import Map
from pybpf.net.capture import open_capture
from pybpf.net.linktype import LINKTYPE_ETHERNET
from pybpf.user.program import Program

from .paths import PCAPS

#: the tcpdump test suite's captures (optional): $PYBPF_TCPDUMP_TESTS or the cache
SUITE = Path(
    os.environ.get("PYBPF_TCPDUMP_TESTS", Path.home() / ".cache" / "pybpf" / "tcpdump-tests")
)


def _ethernet_frames(path: Path, limit: int, lo: int, hi: int) -> list[bytes]:
    try:
        reader = open_capture(path)
    except Exception:  # noqa: BLE001 - not a capture: nothing to take from it
        return []
    out: list[bytes] = []
    with reader:
        for pk in reader.iter_packets(strict=False):
            if pk.linktype == LINKTYPE_ETHERNET and lo <= len(pk.data) <= hi:
                out.append(bytes(pk.data))
                if len(out) >= limit:
                    break
    return out


def frames(per_file: int = 4, *, lo: int = 14, hi: int = 3500, suite: int = 0) -> list[bytes]:
    """Ethernet frames of every shipped capture (``per_file`` each), plus ``suite`` files'
    worth from the tcpdump test suite when it is present."""
    out: list[bytes] = []
    for p in sorted(PCAPS.glob("*.pcap*")):
        out += _ethernet_frames(p, per_file, lo, hi)
    if suite and SUITE.is_dir():
        for p in sorted(SUITE.glob("*.pcap*"))[:suite]:
            out += _ethernet_frames(p, per_file, lo, hi)
    return out


def _short(b: bytes) -> str:
    return b[:24].hex() + (f"... ({len(b)} bytes)" if len(b) > 24 else "")


def _diff(mine: bytes, theirs: bytes) -> str:
    """Where two outputs first differ (lengths, offset, a few bytes of each)."""
    i = next((k for k, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b), None)
    if i is None:
        i = min(len(mine), len(theirs))
    return (
        f"pybpf {len(mine)} bytes, kernel {len(theirs)} bytes; first difference at {i}: "
        f"pybpf {mine[i : i + 16].hex()} kernel {theirs[i : i + 16].hex()}"
    )


class Pair:
    """One program in both backends. ``build(maps)`` makes the instructions from the
    backend's maps (``map_args``: (type, key_size, value_size, max_entries) each)."""

    def __init__(
        self,
        build: Callable[[list[Any]], Sequence[Insn]],
        prog_type: int,
        *,
        map_args: Sequence[tuple[int, int, int, int]] = (),
        expected_attach_type: int = 0,
        engine: str = "interp",
    ) -> None:
        self.kmaps = [KernelMap(*a) for a in map_args]
        self.umaps = [Map(*a) for a in map_args]
        self.kernel = KernelProgram(
            list(build(self.kmaps)), prog_type, expected_attach_type=expected_attach_type
        )
        # the JIT runs verified programs only: pybpf's verifier must take what the kernel took
        self.user = Program(
            list(build(self.umaps)),
            prog_type,
            engine=engine,
            expected_attach_type=expected_attach_type,
        )

    def compare(
        self,
        frames: Sequence[bytes],
        *,
        ctx_in: bytes | None = None,
        repeat: int = 1,
        what: str = "",
    ) -> int:
        """Test-run every frame both ways; assert they agree. Returns how many ran."""
        ran = 0
        for f in frames:
            try:
                kr = self.kernel.test_run(f, repeat, ctx_in)
            except KernelError as exc:
                with pytest.raises(BpfError) as ei:
                    self.user.test_run(f, repeat, ctx_in)
                assert ei.value.errno == exc.errno, (what, f.hex())
                continue
            ur = self.user.test_run(f, repeat, ctx_in)
            where = f"{what}: frame {_short(f)}"
            assert ur.retval == kr.retval, (where, hex(ur.retval), hex(kr.retval))
            if kr.data_size_out > len(kr.data_out):  # more than the buffer took (ENOSPC:
                assert len(ur.data_out) == kr.data_size_out, where  # no ctx_out then)
                assert ur.data_out[: len(kr.data_out)] == kr.data_out, where
            else:
                assert ur.data_out == kr.data_out, (where, _diff(ur.data_out, kr.data_out))
            if ctx_in is not None and kr.data_size_out <= len(kr.data_out):
                assert ur.ctx_out == kr.ctx_out, (where, _diff(ur.ctx_out, kr.ctx_out))
            ran += 1
        for km, um in zip(self.kmaps, self.umaps, strict=True):
            assert dict(km.items()) == dict(um.items()), what
        return ran

    def close(self) -> None:
        self.kernel.close()
        self.user.close()
        for m in [*self.kmaps, *self.umaps]:
            m.close()

    def __enter__(self) -> Pair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(params=["interp", "jit"], name="engine")
def engine_fixture(request: pytest.FixtureRequest) -> str:
    """pybpf's interpreter, then the JIT (its runs native, the common packet helpers in C):
    import it into a test module to run each case on both."""
    return str(request.param)
