"""Classic libpcap capture files: a streaming reader and a writer.

Format: the pcap file format (draft-ietf-opsawg-pcap; libpcap sf-pcap.c).
A 24-byte file header (magic, version 2.4, snaplen, link type) then records of
a 16-byte header (seconds, micro- or nanoseconds, captured length, original
length) and the captured bytes.  The magic's byte order is the file's byte
order; 0xa1b23c4d marks nanosecond timestamps; 0xa1b2cd34 is Alexey
Kuznetzov's patched format whose records carry 8 more bytes (ifindex,
protocol, pkt_type) — read, as libpcap does, for the metadata they hold.

The upper bits of the link-type field carry the FCS length (LT_FCS_LENGTH in
libpcap's pcap-common.h); the link type proper is the low 16 bits.

Like libpcap, a record whose captured length exceeds the file's snapshot
length (but is not absurd) is read and cut to the snapshot length; a record
longer than 256 MiB, a truncated header or truncated data is damage.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from .linktype import LINKTYPE_ETHERNET
from .reader import MAX_RECORD, CaptureReader, Packet, Record

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAP_MAGIC_KUZNETZOV = 0xA1B2CD34
PCAP_VERSION_MAJOR = 2
PCAP_VERSION_MINOR = 4
DEFAULT_SNAPLEN = 262144

_FILE_HEADER_LEN = 24


class PcapReader(CaptureReader):
    """Stream a classic pcap file; attributes describe its header.

    ``byte_order`` is "<" or ">", ``nanosecond`` says the timestamp unit,
    ``snaplen`` and ``linktype`` come from the header, ``fcs_len`` is the
    FCS length in bytes the header declares (0 when absent).
    """

    format = "pcap"

    def __init__(
        self, source: str | os.PathLike[str] | BinaryIO, *, path: str | None = None
    ) -> None:
        super().__init__(source, path=path)
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise

    def _read_header(self) -> None:
        head = self._read_or_eof(_FILE_HEADER_LEN, "pcap file header")
        if head is None:
            raise self._fail("empty file: no pcap file header", 0)
        known = (PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_KUZNETZOV)
        order = "<"
        magic = int.from_bytes(head[:4], "little")
        if magic not in known:
            order = ">"
            magic = int.from_bytes(head[:4], "big")
            if magic not in known:
                raise self._fail(f"not a pcap file (magic {head[:4].hex()})", 0)
        self.byte_order = order
        self.nanosecond = magic == PCAP_MAGIC_NS
        self.kuznetzov = magic == PCAP_MAGIC_KUZNETZOV
        major, minor, zone, _sigfigs, snaplen, ltfield = struct.unpack(order + "HHiIII", head[4:])
        if major != PCAP_VERSION_MAJOR:
            raise self._fail(f"unsupported pcap version {major}.{minor} (expected 2.x)", 4)
        self.version = (major, minor)
        self.thiszone = zone
        self.snaplen = snaplen
        self.linktype = ltfield & 0xFFFF
        self.fcs_len = ((ltfield >> 28) * 2) if ltfield & 0x04000000 else 0
        # libpcap replaces a zero or absurd snapshot length by its maximum.
        self._limit = snaplen if 0 < snaplen <= MAX_RECORD else MAX_RECORD
        self._rec = struct.Struct(order + ("IIIIiHBx" if self.kuznetzov else "IIII"))

    def _records(self) -> Iterator[Record]:
        rec = self._rec
        unpack = rec.unpack
        hlen = rec.size
        scale = 1 if self.nanosecond else 1000
        limit = self._limit
        linktype = self.linktype
        read = self._file.read
        kuz = self.kuznetzov
        while True:
            offset = self._pos
            head = read(hlen)
            if len(head) != hlen:
                if not head:
                    return
                raise self._fail(
                    f"truncated record header: needs {hlen} bytes, only {len(head)} left", offset
                )
            self._pos += hlen
            fields = unpack(head)
            sec, frac, caplen, olen = fields[:4]
            if caplen > MAX_RECORD:
                raise self._fail(
                    f"absurd captured length {caplen} in record header (limit {MAX_RECORD})", offset
                )
            if caplen <= limit:
                data = self._read(caplen, "packet data") if caplen > 0 else b""
            else:
                data = self._read(limit, "packet data")
                self._skip(caplen - limit, "packet data")
            ts = sec * 1_000_000_000 + frac * scale
            if kuz:
                ifindex, _proto, pkt_type = fields[4], fields[5], fields[6]
                yield Record(
                    data, ts, olen, linktype, 0, offset, pkt_type, ifindex if ifindex > 0 else 0
                )
            else:
                yield Record(data, ts, olen, linktype, 0, offset)


class PcapWriter:
    """Write a classic pcap file (version 2.4) record by record.

    ``nanosecond`` selects the 0xa1b23c4d magic; ``big_endian`` writes the
    file in network byte order (the reader accepts both).
    """

    def __init__(
        self,
        dest: str | os.PathLike[str] | BinaryIO,
        *,
        linktype: int = LINKTYPE_ETHERNET,
        snaplen: int = DEFAULT_SNAPLEN,
        nanosecond: bool = False,
        big_endian: bool = False,
    ) -> None:
        if isinstance(dest, (str, os.PathLike)):
            self._file: BinaryIO = open(dest, "wb", buffering=1 << 20)  # noqa: SIM115
            self._owns = True
        else:
            self._file = dest
            self._owns = False
        order = ">" if big_endian else "<"
        self.linktype = linktype
        self.snaplen = snaplen
        self.nanosecond = nanosecond
        self._rec = struct.Struct(order + "IIII")
        self._div = 1 if nanosecond else 1000
        magic = PCAP_MAGIC_NS if nanosecond else PCAP_MAGIC_US
        self._file.write(
            struct.pack(
                order + "IHHiIII",
                magic,
                PCAP_VERSION_MAJOR,
                PCAP_VERSION_MINOR,
                0,
                0,
                snaplen,
                linktype,
            )
        )
        self.count = 0

    def record(self, data: bytes, timestamp_ns: int = 0, orig_len: int | None = None) -> bytes:
        """The bytes of one record (header + data cut to snaplen), without writing it."""
        if len(data) > self.snaplen:
            data = data[: self.snaplen]
        sec, rest = divmod(timestamp_ns, 1_000_000_000)
        olen = len(data) if orig_len is None else max(orig_len, len(data))
        return self._rec.pack(sec & 0xFFFFFFFF, rest // self._div, len(data), olen) + data

    def write(self, data: bytes, timestamp_ns: int = 0, orig_len: int | None = None) -> None:
        self._file.write(self.record(data, timestamp_ns, orig_len))
        self.count += 1

    def write_packet(self, pkt: Packet) -> None:
        self.write(pkt.data, pkt.timestamp_ns, pkt.orig_len)

    def write_raw(self, records: bytes, count: int) -> None:
        """Append ``count`` records already encoded by record() (for bulk writers)."""
        self._file.write(records)
        self.count += count

    def close(self) -> None:
        if self._owns:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_pcap(
    dest: str | os.PathLike[str] | BinaryIO,
    frames: Iterable[bytes | Packet],
    *,
    linktype: int = LINKTYPE_ETHERNET,
    nanosecond: bool = False,
    big_endian: bool = False,
    snaplen: int = DEFAULT_SNAPLEN,
) -> int:
    """Write frames (bytes or Packets) to a pcap file; returns the record count.

    Bare bytes get timestamps one microsecond apart from zero.
    """
    with PcapWriter(
        dest, linktype=linktype, nanosecond=nanosecond, big_endian=big_endian, snaplen=snaplen
    ) as w:
        for i, frame in enumerate(frames):
            if isinstance(frame, Packet):
                w.write_packet(frame)
            else:
                w.write(frame, i * 1000)
        return w.count
