"""What every capture reader shares: the Packet it yields, its Records, the streaming base class.

pcap (:mod:`.pcap`) and pcapng (:mod:`.pcapng`) readers subclass
:class:`CaptureReader`; :func:`pybpf.net.capture.open_capture` picks one by the
file's magic number.
"""

from __future__ import annotations

import io
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import CaptureError
from . import linktype as lt

log = logging.getLogger("pybpf.net.capture")

#: Longer records than this are damage, not packets (libpcap's largest snapshot
#: length for any link type is 256 MiB).
MAX_RECORD = 256 * 1024 * 1024

PCAP_MAGICS = frozenset(
    {
        b"\xd4\xc3\xb2\xa1",
        b"\xa1\xb2\xc3\xd4",  # microseconds
        b"\x4d\x3c\xb2\xa1",
        b"\xa1\xb2\x3c\x4d",  # nanoseconds
        b"\x34\xcd\xb2\xa1",
        b"\xa1\xb2\xcd\x34",  # Kuznetzov (extra record fields)
    }
)
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

_CHUNK = 1 << 20


@dataclass(slots=True)
class Packet:
    """One packet as a packet socket sees it.

    ``data`` is what the program reads from offset 0 (after link-type
    presentation); ``orig_len`` is the length on the wire in the same framing
    (so ``orig_len - len(data)`` bytes were not captured).  ``protocol``,
    ``pkt_type``, ``hatype`` and ``ifindex`` are the sk_buff / sockaddr_ll
    fields; ``mac_len`` is the offset of the network header in ``data``
    (skb_network_offset), 0 when the frame starts at L3.  ``linktype`` and
    ``interface`` say where it came from in the capture (interface: pcapng
    interface id, 0 for pcap).  ``ifindex`` is 0 when the capture does not say.
    """

    data: bytes
    timestamp_ns: int = 0
    orig_len: int = 0
    linktype: int = lt.LINKTYPE_ETHERNET
    interface: int = 0
    protocol: int = 0
    pkt_type: int = lt.PACKET_HOST
    ifindex: int = 0
    hatype: int = lt.ARPHRD_ETHER
    mac_len: int = lt.ETH_HLEN
    vlan_proto: int = 0
    vlan_tci: int = 0
    vlan_present: bool = False
    #: the record's comment (a pcapng opt_comment), "" when it has none
    comment: str = ""

    @property
    def caplen(self) -> int:
        return len(self.data)

    @classmethod
    def from_frame(
        cls,
        linktype: int,
        data: bytes,
        *,
        timestamp_ns: int = 0,
        orig_len: int | None = None,
        interface: int = 0,
        mode: str = "ethernet",
        pkt_type: int | None = None,
        ifindex: int = 0,
        vlan_untag: bool = False,
        comment: str = "",
    ) -> Packet:
        """Build a Packet from a captured frame, presenting it as ``mode`` says."""
        p = lt.present(linktype, data, mode)
        frame = p.data
        olen = (len(data) if orig_len is None else orig_len) + p.orig_delta
        vproto = vtci = 0
        vpresent = False
        protocol = p.protocol
        if vlan_untag and p.mac_len == lt.ETH_HLEN:
            untagged = lt.skb_vlan_untag(frame)
            if untagged is not None:
                frame, vproto, vtci = untagged
                vpresent = True
                olen -= 4
                protocol = lt.eth_protocol(frame)
        return cls(
            frame,
            timestamp_ns,
            max(olen, len(frame)),
            linktype,
            interface,
            protocol,
            p.pkt_type if pkt_type is None else pkt_type,
            p.ifindex or ifindex,
            p.hatype,
            p.mac_len,
            vproto,
            vtci,
            vpresent,
            comment,
        )


@dataclass(slots=True)
class Record:
    """One stored record before presentation: the file's own bytes and fields."""

    data: bytes
    timestamp_ns: int
    orig_len: int
    linktype: int
    interface: int = 0
    offset: int = 0
    pkt_type: int | None = None
    ifindex: int = 0
    comment: str = ""


class CaptureReader(ABC):
    """Common streaming machinery for pcap and pcapng readers.

    Subclasses implement ``_records()``; this class turns records into
    Packets and applies the strict / lenient damage policy.
    """

    format = "capture"

    def __init__(
        self, source: str | os.PathLike[str] | BinaryIO, *, path: str | None = None
    ) -> None:
        if isinstance(source, (str, os.PathLike)):
            self.path = os.fspath(source)
            self._file: BinaryIO = open(self.path, "rb", buffering=_CHUNK)  # noqa: SIM115
            self._owns = True
        else:
            self.path = path or getattr(source, "name", None) or "<stream>"
            self._file = source
            self._owns = False
        self._pos = 0
        self._size = self._file_size()
        self.error: CaptureError | None = None
        self.records_read = 0

    @property
    def position(self) -> int:
        """Bytes of the file read so far (for progress reports)."""
        return self._pos

    # --- byte stream ---
    def _file_size(self) -> int | None:
        try:
            start = self._file.tell()
            size = os.fstat(self._file.fileno()).st_size
        except (OSError, AttributeError, io.UnsupportedOperation):
            try:
                start = self._file.tell()
                end = self._file.seek(0, io.SEEK_END)
                self._file.seek(start)
                return end - start
            except (OSError, AttributeError, io.UnsupportedOperation):
                return None
        return size - start

    def _fail(self, message: str, offset: int | None = None) -> CaptureError:
        return CaptureError(message, offset=self._pos if offset is None else offset, path=self.path)

    def _read(self, n: int, what: str) -> bytes:
        """Exactly n bytes or a CaptureError at the current offset (truncation)."""
        start = self._pos
        if self._size is not None and n > self._size - start:
            have = max(self._size - start, 0)
            raise self._fail(f"truncated {what}: needs {n} bytes, only {have} left", start)
        if n <= _CHUNK:
            data = self._file.read(n)
        else:
            parts = []
            left = n
            while left:
                piece = self._file.read(min(left, _CHUNK))
                if not piece:
                    break
                parts.append(piece)
                left -= len(piece)
            data = b"".join(parts)
        self._pos += len(data)
        if len(data) != n:
            raise self._fail(f"truncated {what}: needs {n} bytes, only {len(data)} left", start)
        return data

    def _read_or_eof(self, n: int, what: str) -> bytes | None:
        """Like _read, but a clean end of file (no byte at all) returns None."""
        data = self._file.read(n)
        if not data:
            return None
        self._pos += len(data)
        if len(data) != n:
            raise self._fail(
                f"truncated {what}: needs {n} bytes, only {len(data)} left", self._pos - len(data)
            )
        return data

    def _skip(self, n: int, what: str) -> None:
        if self._size is not None:
            self._read_check_skip(n, what)
            self._file.seek(n, io.SEEK_CUR)
            self._pos += n
            return
        while n:
            got = len(self._read(min(n, _CHUNK), what))
            n -= got

    def _read_check_skip(self, n: int, what: str) -> None:
        if self._size is not None and n > self._size - self._pos:
            have = max(self._size - self._pos, 0)
            raise self._fail(f"truncated {what}: needs {n} bytes, only {have} left")

    # --- records and packets ---
    @abstractmethod
    def _records(self) -> Iterator[Record]:
        """The file's records in order (pcap and pcapng readers say how)."""

    def records(self, *, strict: bool = True) -> Iterator[Record]:
        """The stored records, unpresented; damage handled as in iter_packets()."""
        try:
            for rec in self._records():
                self.records_read += 1
                yield rec
        except CaptureError as err:
            self.error = err
            if strict:
                raise
            log.warning("%s (after %d packets)", err, self.records_read)

    def iter_packets(
        self, *, strict: bool = False, mode: str = "ethernet", vlan_untag: bool = False
    ) -> Iterator[Packet]:
        """Every packet, presented as ``mode`` says (see pybpf.net.linktype).

        On damage every earlier packet has been yielded; then strict=True raises
        the CaptureError and strict=False logs a warning and stores it on
        ``self.error``.
        """
        if mode not in lt.MODES:
            raise ValueError(f"presentation mode must be one of {lt.MODES}, not {mode!r}")
        from_frame = Packet.from_frame
        eth_protocol, eth_pkt_type = lt.eth_protocol, lt.eth_pkt_type
        ether, arphrd_ether, hlen = lt.LINKTYPE_ETHERNET, lt.ARPHRD_ETHER, lt.ETH_HLEN
        for r in self.records(strict=strict):
            if r.linktype == ether and not vlan_untag:
                # Fast path: Ethernet frames are presented unchanged in every mode.
                d = r.data
                yield Packet(
                    d,
                    r.timestamp_ns,
                    max(r.orig_len, len(d)),
                    ether,
                    r.interface,
                    eth_protocol(d),
                    eth_pkt_type(d) if r.pkt_type is None else r.pkt_type,
                    r.ifindex,
                    arphrd_ether,
                    hlen,
                    comment=r.comment,
                )
                continue
            yield from_frame(
                r.linktype,
                r.data,
                timestamp_ns=r.timestamp_ns,
                orig_len=r.orig_len,
                interface=r.interface,
                mode=mode,
                pkt_type=r.pkt_type,
                ifindex=r.ifindex,
                vlan_untag=vlan_untag,
                comment=r.comment,
            )

    def __iter__(self) -> Iterator[Packet]:
        return self.iter_packets()

    def close(self) -> None:
        if self._owns:
            self._file.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
