"""pcapng capture files: a streaming reader.

Format: draft-ietf-opsawg-pcapng (the PCAP Next Generation dump file format).
A file is a sequence of sections; each starts with a Section Header Block whose
byte-order magic sets the byte order of every block in the section.  Interface
Description Blocks number the section's interfaces from 0 and give each its
link type, snapshot length and timestamp resolution (if_tsresol: 10^-n, or 2^-n
when the top bit is set; default microseconds) and offset (if_tsoffset).
Packets come in Enhanced Packet Blocks (interface id, 64-bit timestamp,
captured and original lengths, epb_flags), Simple Packet Blocks (interface 0,
no timestamp, captured length = min(original length, snaplen)) and the
obsolete Packet Block.  Every other block — name resolution, statistics,
decryption secrets, custom, unknown — is skipped by its total length.

Damage: a block length that is not a multiple of 4, shorter than its fixed
part, longer than 256 MiB or that disagrees with the trailing copy; a packet
on an undeclared interface; a truncated block.  Each raises CaptureError with
the block's file offset (see pybpf.net.capture for strict / lenient use).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .linktype import (
    LINKTYPE_ETHERNET,
    PACKET_BROADCAST,
    PACKET_HOST,
    PACKET_MULTICAST,
    PACKET_OTHERHOST,
    PACKET_OUTGOING,
)
from .reader import MAX_RECORD, CaptureReader, Record

BT_SHB = 0x0A0D0D0A
BT_IDB = 0x00000001
BT_PB = 0x00000002  # obsolete Packet Block
BT_SPB = 0x00000003
BT_NRB = 0x00000004
BT_ISB = 0x00000005
BT_EPB = 0x00000006
BT_DSB = 0x0000000A
BT_CUSTOM = 0x00000BAD
BT_CUSTOM_NOCOPY = 0x40000BAD
BYTE_ORDER_MAGIC = 0x1A2B3C4D

OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_HARDWARE = 2
SHB_OS = 3
SHB_USERAPPL = 4
IF_NAME = 2
IF_DESCRIPTION = 3
IF_TSRESOL = 9
IF_FCSLEN = 13
IF_TSOFFSET = 14
EPB_FLAGS = 2

#: epb_flags reception type (bits 2-4) to sk_buff pkt_type.
_RECEPTION_PKT_TYPE = {
    1: PACKET_HOST,
    2: PACKET_MULTICAST,
    3: PACKET_BROADCAST,
    4: PACKET_OTHERHOST,
}


@dataclass
class Interface:
    """One Interface Description Block of the current section."""

    linktype: int
    snaplen: int
    ts_num: int = 1_000_000_000  # ns = units * ts_num // ts_den + offset
    ts_den: int = 1_000_000
    ts_offset_ns: int = 0
    name: str | None = None
    description: str | None = None
    fcs_len: int | None = None
    options: dict[int, list[bytes]] = field(default_factory=dict)

    def timestamp_ns(self, units: int) -> int:
        return units * self.ts_num // self.ts_den + self.ts_offset_ns


@dataclass
class Section:
    """One Section Header Block: byte order, version and its options."""

    offset: int
    byte_order: str
    version: tuple[int, int]
    section_length: int
    options: dict[int, list[bytes]] = field(default_factory=dict)
    interfaces: list[Interface] = field(default_factory=list)

    def option_text(self, code: int) -> str | None:
        vals = self.options.get(code)
        return vals[0].decode("utf-8", "replace").rstrip("\0") if vals else None


def tsresol(value: int) -> tuple[int, int]:
    """(numerator, denominator) turning if_tsresol units into nanoseconds."""
    exp = value & 0x7F
    if value & 0x80:
        return 1_000_000_000, 1 << exp
    return 1_000_000_000, 10**exp


class PcapngReader(CaptureReader):
    """Stream a pcapng file.  ``sections`` lists the sections met so far."""

    format = "pcapng"

    def __init__(
        self, source: str | os.PathLike[str] | BinaryIO, *, path: str | None = None
    ) -> None:
        super().__init__(source, path=path)
        self.sections: list[Section] = []
        self.skipped_blocks: dict[int, int] = {}

    @property
    def interfaces(self) -> list[Interface]:
        return self.sections[-1].interfaces if self.sections else []

    @property
    def linktype(self) -> int | None:
        """The first interface's link type (pcapng allows one per interface)."""
        for sec in self.sections:
            if sec.interfaces:
                return sec.interfaces[0].linktype
        return None

    def _options(
        self, body: bytes, start: int, order: str, block_off: int, strict: bool
    ) -> dict[int, list[bytes]]:
        """Parse an options area; a malformed one is damage only when ``strict``."""
        opts: dict[int, list[bytes]] = {}
        pos = start
        end = len(body)
        hdr = struct.Struct(order + "HH")
        while pos + 4 <= end:
            code, length = hdr.unpack_from(body, pos)
            if code == OPT_ENDOFOPT:
                break
            if pos + 4 + length > end:
                if strict:
                    raise self._fail(
                        f"option {code} length {length} runs past the end of its block",
                        block_off + 8 + pos,
                    )
                break
            opts.setdefault(code, []).append(body[pos + 4 : pos + 4 + length])
            pos += 4 + ((length + 3) & ~3)
        return opts

    def _records(self) -> Iterator[Record]:
        read = self._read
        section: Section | None = None
        order = "<"
        while True:
            offset = self._pos
            head = self._read_or_eof(8, "block header")
            if head is None:
                if section is None:
                    raise self._fail("empty file: no section header block", 0)
                return
            if head[:4] == b"\x0a\x0d\x0d\x0a":
                magic = read(4, "section header byte-order magic")
                if magic == b"\x4d\x3c\x2b\x1a":
                    order = "<"
                elif magic == b"\x1a\x2b\x3c\x4d":
                    order = ">"
                else:
                    raise self._fail(
                        f"bad byte-order magic {magic.hex()} in section header block", offset + 8
                    )
                btype = BT_SHB
                blen = struct.unpack(order + "I", head[4:])[0]
                prefix = magic
            else:
                if section is None:
                    raise self._fail(
                        "not a pcapng file: first block is not a section header", offset
                    )
                btype, blen = struct.unpack(order + "II", head)
                prefix = b""
            if blen % 4 or blen < 12:
                raise self._fail(
                    f"bad block total length {blen} for block type {btype:#x}", offset + 4
                )
            if btype == BT_SHB and blen < 28:
                raise self._fail(
                    f"section header block length {blen} is shorter than its 28-byte minimum",
                    offset + 4,
                )
            if blen > MAX_RECORD:
                raise self._fail(
                    f"absurd block total length {blen} for block type "
                    f"{btype:#x} (limit {MAX_RECORD})",
                    offset + 4,
                )
            body_len = blen - 12
            if btype in (BT_SHB, BT_IDB, BT_EPB, BT_SPB, BT_PB):
                body = prefix + read(body_len - len(prefix), "block body")
            else:
                self._skip(body_len, "block body")
                body = None
            trailer = read(4, "block trailing length")
            tail = struct.unpack(order + "I", trailer)[0]
            if tail != blen:
                raise self._fail(
                    f"block trailing length {tail}"
                    f" disagrees with leading length {blen}"
                    f" (block type {btype:#x})",
                    self._pos - 4,
                )
            if body is None:
                self.skipped_blocks[btype] = self.skipped_blocks.get(btype, 0) + 1
                continue
            if btype == BT_SHB:
                section = self._section(body, order, offset)
                self.sections.append(section)
                continue
            assert section is not None
            if btype == BT_IDB:
                section.interfaces.append(self._interface(body, order, offset))
                continue
            rec = self._packet(btype, body, order, offset, section)
            if rec is not None:
                yield rec

    def _section(self, body: bytes, order: str, offset: int) -> Section:
        if len(body) < 16:
            raise self._fail(f"section header block too short ({len(body) + 12} bytes)", offset)
        major, minor, seclen = struct.unpack_from(order + "HHq", body, 4)
        if major != 1:
            raise self._fail(f"unsupported pcapng version {major}.{minor}", offset + 12)
        opts = self._options(body, 16, order, offset, strict=False)
        return Section(offset, order, (major, minor), seclen, opts)

    def _interface(self, body: bytes, order: str, offset: int) -> Interface:
        if len(body) < 8:
            raise self._fail(
                f"interface description block too short ({len(body) + 12} bytes)", offset
            )
        linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
        opts = self._options(body, 8, order, offset, strict=False)
        iface = Interface(linktype, snaplen, options=opts)
        if IF_TSRESOL in opts and len(opts[IF_TSRESOL][0]) >= 1:
            res = opts[IF_TSRESOL][0][0]
            if (res & 0x7F) > 64:
                raise self._fail(f"absurd if_tsresol {res:#x}", offset)
            iface.ts_num, iface.ts_den = tsresol(res)
        if IF_TSOFFSET in opts and len(opts[IF_TSOFFSET][0]) >= 8:
            secs = struct.unpack_from(order + "q", opts[IF_TSOFFSET][0])[0]
            iface.ts_offset_ns = secs * 1_000_000_000
        if IF_NAME in opts:
            iface.name = opts[IF_NAME][0].decode("utf-8", "replace").rstrip("\0")
        if IF_DESCRIPTION in opts:
            iface.description = opts[IF_DESCRIPTION][0].decode("utf-8", "replace").rstrip("\0")
        if IF_FCSLEN in opts and opts[IF_FCSLEN][0]:
            iface.fcs_len = opts[IF_FCSLEN][0][0]
        return iface

    def _iface(self, section: Section, iid: int, offset: int) -> Interface:
        if iid >= len(section.interfaces):
            raise self._fail(
                f"packet on interface {iid}, but the section declares only "
                f"{len(section.interfaces)} interface(s)",
                offset,
            )
        return section.interfaces[iid]

    def _packet(
        self, btype: int, body: bytes, order: str, offset: int, section: Section
    ) -> Record | None:
        if btype == BT_EPB:
            if len(body) < 20:
                raise self._fail("enhanced packet block too short", offset)
            iid, ts_hi, ts_lo, caplen, olen = struct.unpack_from(order + "IIIII", body)
            data_start = 20
        elif btype == BT_PB:
            if len(body) < 20:
                raise self._fail("packet block too short", offset)
            iid, _drops, ts_hi, ts_lo, caplen, olen = struct.unpack_from(order + "HHIIII", body)
            data_start = 20
        else:  # BT_SPB
            if len(body) < 4:
                raise self._fail("simple packet block too short", offset)
            iface = self._iface(section, 0, offset)
            olen = struct.unpack_from(order + "I", body)[0]
            caplen = min(olen, len(body) - 4)
            if iface.snaplen:
                caplen = min(caplen, iface.snaplen)
            return Record(body[4 : 4 + caplen], 0, olen, iface.linktype, 0, offset)
        iface = self._iface(section, iid, offset)
        if caplen > len(body) - data_start:
            raise self._fail(
                f"captured length {caplen} exceeds the block's {len(body) - data_start} data bytes",
                offset + 8 + 12,
            )
        data = body[data_start : data_start + caplen]
        ts = iface.timestamp_ns((ts_hi << 32) | ts_lo)
        pkt_type = None
        comment = ""
        if btype == BT_EPB:
            opt_start = data_start + ((caplen + 3) & ~3)
            if opt_start + 4 <= len(body):
                opts = self._options(body, opt_start, order, offset, strict=False)
                if opts.get(OPT_COMMENT):
                    comment = opts[OPT_COMMENT][0].decode("utf-8", "replace").rstrip("\0")
                flags = opts.get(EPB_FLAGS)
                if flags and len(flags[0]) >= 4:
                    value = struct.unpack_from(order + "I", flags[0])[0]
                    if value & 3 == 2:
                        pkt_type = PACKET_OUTGOING
                    else:
                        pkt_type = _RECEPTION_PKT_TYPE.get((value >> 2) & 7)
        return Record(data, ts, olen, iface.linktype, iid, offset, pkt_type, comment=comment)


#: epb_flags direction bits (pcapng spec 4.3.1): 01 inbound, 10 outbound
EPB_INBOUND, EPB_OUTBOUND = 1, 2


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + bytes(-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


class PcapngWriter:
    """A pcapng file written as packets come: a section header, one interface per link
    type, an enhanced packet block per packet with its comment and direction.

    Timestamps are nanoseconds (``if_tsresol`` 9). The file is little-endian, as
    Wireshark and tcpdump write it; both read it back, comments included.
    """

    def __init__(
        self,
        dest: str | os.PathLike[str] | BinaryIO,
        *,
        snaplen: int = 262144,
        application: str = "pybpf",
    ) -> None:
        if isinstance(dest, (str, os.PathLike)):
            self._fh: BinaryIO = open(dest, "wb")  # noqa: SIM115 - closed by close()
            self._owns = True
        else:
            self._fh, self._owns = dest, False
        self.snaplen = snaplen
        self._ifaces: dict[int, int] = {}
        self.count = 0
        shb = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
        shb += _option(SHB_USERAPPL, application.encode()) + _option(0, b"")
        self._fh.write(_block(BT_SHB, shb))

    def _interface(self, linktype: int) -> int:
        iid = self._ifaces.get(linktype)
        if iid is None:
            iid = self._ifaces[linktype] = len(self._ifaces)
            body = struct.pack("<HHI", linktype, 0, self.snaplen)
            body += _option(IF_TSRESOL, bytes([9])) + _option(0, b"")
            self._fh.write(_block(BT_IDB, body))
        return iid

    def write(
        self,
        data: bytes,
        *,
        timestamp_ns: int = 0,
        linktype: int = LINKTYPE_ETHERNET,
        orig_len: int | None = None,
        comment: str = "",
        outbound: bool | None = None,
    ) -> None:
        """One packet; ``outbound`` sets the direction flag (None: not recorded)."""
        data = bytes(data)
        olen = len(data) if orig_len is None else max(orig_len, len(data))
        data = data[: self.snaplen]
        iid = self._interface(linktype)
        ts = max(timestamp_ns, 0)
        body = struct.pack("<IIIII", iid, ts >> 32, ts & 0xFFFF_FFFF, len(data), olen)
        body += data + bytes(-len(data) % 4)
        opts = b""
        if comment:
            opts += _option(OPT_COMMENT, comment.encode())
        if outbound is not None:
            flags = EPB_OUTBOUND if outbound else EPB_INBOUND
            opts += _option(EPB_FLAGS, struct.pack("<I", flags))
        if opts:
            body += opts + _option(0, b"")
        self._fh.write(_block(BT_EPB, body))
        self.count += 1

    def close(self) -> None:
        if self._owns:
            self._fh.close()
        else:
            self._fh.flush()

    def __enter__(self) -> PcapngWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
