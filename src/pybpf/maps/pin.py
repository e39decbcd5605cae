"""Pinning maps to files: the user-space analogue of bpffs (BPF_OBJ_PIN / BPF_OBJ_GET).

A pin file describes itself::

    "PYBPFMAP"  u16 version  u16 0  u32 header_len  header (JSON: type, key_size,
    value_size, max_entries, flags, name, ncpus, type-specific state)
    u32 nrecords, then per record: u32 key_len, key, u32 value_len, value
    u32 crc32 of everything before it

All integers are little-endian.  A save goes to a temporary file in the same
directory, is fsync'ed and then renamed over the target (and the directory
fsync'ed), so a crash mid-save leaves the previous pin intact.  A truncated
or corrupt file raises MapError naming the file offset where it goes wrong.
"""

from __future__ import annotations

import errno as E
import json
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import MapError

if TYPE_CHECKING:
    from .base import Map

MAGIC = b"PYBPFMAP"
VERSION = 1
_HEAD = struct.Struct("<8sHHI")
_U32 = struct.Struct("<I")


def _encode(m: Map) -> bytes:
    extra, records = m._pin_state()
    header = {
        "type": m.type,
        "key_size": m.key_size,
        "value_size": m.value_size,
        "max_entries": m.max_entries,
        "flags": m.flags,
        "name": m.name,
        "ncpus": m.ncpus,
        "frozen": m.frozen,
        "extra": extra,
    }
    hj = json.dumps(header, sort_keys=True).encode()
    parts = [_HEAD.pack(MAGIC, VERSION, 0, len(hj)), hj, _U32.pack(len(records))]
    for k, v in records:
        parts += [_U32.pack(len(k)), k, _U32.pack(len(v)), v]
    body = b"".join(parts)
    return body + _U32.pack(zlib.crc32(body))


def pin_map(m: Map, path: str | os.PathLike[str]) -> None:
    """Write ``m`` to ``path`` atomically (temp file + fsync + rename + directory fsync)."""
    data = _encode(m)
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".pybpf-pin-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


class _Reader:
    def __init__(self, data: bytes, path: str):
        self.data = data
        self.path = path
        self.off = 0
        self.data_end = len(data)

    def fail(self, msg: str, off: int | None = None) -> MapError:
        o = self.off if off is None else off
        return MapError(msg, errno=E.EINVAL, where=f"{self.path} offset {o:#x}")

    def take(self, n: int, what: str) -> bytes:
        if self.off + n > self.data_end:
            raise self.fail(
                f"truncated pin file: {what} needs {n} bytes, "
                f"{max(self.data_end - self.off, 0)} left"
            )
        b = self.data[self.off : self.off + n]
        self.off += n
        return b

    def u32(self, what: str) -> int:
        return _U32.unpack(self.take(4, what))[0]


@dataclass
class Pinned:
    """A pin file's contents: the map's attributes and the records that recreate it."""

    header: dict[str, Any]
    records: list[tuple[bytes, bytes]]
    #: file offset of the record count, for errors about the records
    records_offset: int
    path: str

    def fail(self, message: str) -> MapError:
        return MapError(
            message, errno=E.EINVAL, where=f"{self.path} offset {self.records_offset:#x}"
        )


def decode(data: bytes, path: str = "<pin>") -> Pinned:
    r = _Reader(data, path)
    magic, version, _, hlen = _HEAD.unpack(r.take(_HEAD.size, "file header"))
    if magic != MAGIC:
        raise r.fail(f"not a pybpf map pin file (magic {magic!r})", 0)
    if version != VERSION:
        raise r.fail(f"unsupported pin file version {version}", 8)
    if len(data) < _HEAD.size + 4:
        raise r.fail("truncated pin file: no checksum", len(data))
    r.data_end = len(data) - 4
    hoff = r.off
    try:
        header: dict[str, Any] = json.loads(r.take(hlen, "JSON header"))
        for field in ("type", "key_size", "value_size", "max_entries", "flags", "name"):
            header[field]  # noqa: B018 - a KeyError names the missing field
    except (ValueError, KeyError, TypeError) as e:
        if isinstance(e, MapError):
            raise
        raise r.fail(f"corrupt JSON header: {e}", hoff) from None
    nrec_off = r.off
    nrec = r.u32("record count")
    records = []
    for i in range(nrec):
        kl = r.u32(f"record {i} key length")
        k = r.take(kl, f"record {i} key")
        vl = r.u32(f"record {i} value length")
        v = r.take(vl, f"record {i} value")
        records.append((k, v))
    if r.off != r.data_end:
        raise r.fail(
            f"{r.data_end - r.off} unexpected bytes after {nrec} records (count at {nrec_off:#x})"
        )
    want = _U32.unpack_from(data, r.data_end)[0]
    got = zlib.crc32(data[: r.data_end])
    if want != got:
        raise r.fail(f"checksum mismatch (stored {want:#010x}, computed {got:#010x})", r.data_end)
    return Pinned(header, records, nrec_off, path)


def read_pinned(path: str | os.PathLike[str]) -> Pinned:
    """The contents of the pin file at ``path`` (ENOENT when there is none)."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise MapError(f"no pinned map at {p}", errno=E.ENOENT) from None
    return decode(data, p)
