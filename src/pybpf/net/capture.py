"""Capture files as a stream of packets, whatever their format.

``open_capture(path)`` sniffs the magic number and returns a pcap or pcapng
reader.  Readers stream the file from a file object in pieces, so a capture of
any size is read in constant memory.  Each packet comes out as a ``Packet``:
the bytes a packet socket's program would see (see pybpf.net.linktype for how
each link type is presented) and the metadata the kernel keeps in the sk_buff.

Damage (a truncated file, an absurd length, a bad block) ends the stream with a
CaptureError naming the file offset; every packet before it has already been
yielded.  ``iter_packets(strict=True)`` raises that error; ``strict=False``
logs a warning and keeps it on ``reader.error``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, BinaryIO

from ..errors import CaptureError
from .pcap import PcapReader
from .pcapng import PcapngReader
from .reader import (
    MAX_RECORD,
    PCAP_MAGICS,
    PCAPNG_MAGIC,
    CaptureReader,
    Packet,
    Record,
    log,
)

__all__ = [
    "MAX_RECORD",
    "CaptureReader",
    "Packet",
    "Record",
    "log",
    "open_capture",
    "file_done",
    "open_or_report",
    "read_packets",
    "sniff_format",
]


def sniff_format(head: bytes) -> str | None:
    """ "pcap", "pcapng" or None from a file's first four bytes."""
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    return None


def open_capture(source: str | os.PathLike[str] | BinaryIO) -> CaptureReader:
    """Open a pcap or pcapng capture, chosen by its magic number.

    Raises CaptureError (offset 0) for a file that is not a capture, and
    OSError for one that cannot be opened.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, "rb") as f:
            head = f.read(4)
    else:
        path = getattr(source, "name", None) or "<stream>"
        if hasattr(source, "peek"):
            head = source.peek(4)[:4]
        else:
            start = source.tell()
            head = source.read(4)
            source.seek(start)
    kind = sniff_format(head)
    if kind == "pcap":
        return PcapReader(source)
    if kind == "pcapng":
        return PcapngReader(source)
    if not head:
        raise CaptureError("empty file: no capture header", offset=0, path=str(path))
    if len(head) < 4:
        raise CaptureError(
            f"file of {len(head)} bytes is too short for a capture header", offset=0, path=str(path)
        )
    raise CaptureError(
        f"not a pcap or pcapng capture (magic {head.hex()})", offset=0, path=str(path)
    )


def file_done(
    res: Any, path: str | os.PathLike[str], err: Any, n: int, report: Callable[[str], None]
) -> None:
    """Count a capture a command has gone through: read, or failed when damage left no
    packet; damage part-way is reported with where it starts and how much was used."""
    if err is not None:
        off = err.offset if err.offset is not None else 0
        report(
            f"{os.fspath(path)}: damaged at offset {off:#x}: {err.message}; "
            f"using the {n} packet{'s' if n != 1 else ''} before it"
        )
        if n == 0:
            res.files_failed += 1
            return
    res.files_read += 1


def open_or_report(
    path: str | os.PathLike[str], report: Callable[[str], None]
) -> CaptureReader | None:
    """Open a capture for a command that goes on past a bad file: a reader, or None after
    ``report(message)`` has said what is wrong with ``path`` (missing, not a regular
    file, not a capture, unreadable)."""
    f = os.fspath(path)
    if not os.path.isfile(f):
        report(f"{f}: {'does not exist' if not os.path.exists(f) else 'is not a regular file'}")
        return None
    try:
        return open_capture(f)
    except CaptureError as e:
        report(f"{f}: not read: {e.message} (offset {e.offset or 0:#x})")
    except OSError as e:
        report(f"{f}: cannot open: {e.strerror or e}")
    return None


def read_packets(
    path: str | os.PathLike[str], *, strict: bool = True, mode: str = "ethernet"
) -> list[Packet]:
    """All packets of a (small) capture as a list; strict by default."""
    with open_capture(path) as reader:
        return list(reader.iter_packets(strict=strict, mode=mode))
