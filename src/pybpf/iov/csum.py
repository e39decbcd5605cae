"""Internet checksums, and copying through an iov_iter while summing.

lib/checksum.c, include/net/checksum.h, the csum parts of lib/iov_iter.c and
net/core/datagram.c.  A ``__wsum`` here is a 32-bit partial sum of the data
read as little-endian 16-bit words (what x86 computes); only its folded
16-bit value is meaningful, and that matches the kernel's.  ``csum_fold``
returns the complemented 16-bit checksum in the same byte order, so it can be
stored with ``struct.pack("<H", ...)`` into a header.
"""

from __future__ import annotations

import errno
import socket
import struct
from dataclasses import dataclass
from typing import Any

from ..errors import IovError
from .copy import _check_copy_size, _writable
from .iter import (
    ITER_DISCARD,
    WARN_ON,
    IovIter,
    _byte_view,
    iov_iter_revert,
    iterate_and_advance,
)
from .usermem import UserMemory, access_ok

IPPROTO_UDP = 17
IPPROTO_TCP = 6
_M32 = 0xFFFFFFFF


def _sum16(data: Any) -> int:
    """Ones'-complement sum of the data as LE 16-bit words: 0 only for all-zero data."""
    n = int.from_bytes(data, "little")
    if not n:
        return 0
    return n % 0xFFFF or 0xFFFF


def csum_add(csum: int, addend: int) -> int:
    """32-bit ones'-complement addition (end-around carry)."""
    res = (csum + addend) & _M32
    return (res + (res < addend)) & _M32


def csum_sub(csum: int, addend: int) -> int:
    return csum_add(csum, ~addend & _M32)


def ror32(word: int, shift: int) -> int:
    word &= _M32
    return ((word >> shift) | (word << (32 - shift))) & _M32


def csum_shift(csum: int, offset: int) -> int:
    """A partial sum moved to an odd byte offset has its bytes swapped (rotate by 8)."""
    return ror32(csum, 8) if offset & 1 else csum & _M32


def csum_block_add(csum: int, csum2: int, offset: int) -> int:
    """Add the sum of a block that starts ``offset`` bytes into the summed data."""
    return csum_add(csum, csum_shift(csum2, offset))


def csum_block_sub(csum: int, csum2: int, offset: int) -> int:
    return csum_block_add(csum, ~csum2 & _M32, offset)


def csum_partial(buff: Any, length: int | None = None, wsum: int = 0) -> int:
    """Partial checksum of ``length`` bytes of ``buff``, added to ``wsum``."""
    mv = _byte_view(buff)
    if length is not None:
        if length < 0 or length > len(mv):
            raise IovError(f"csum_partial of {length} bytes from a {len(mv)}-byte buffer")
        mv = mv[:length]
    return csum_add(wsum, _sum16(mv))


def csum_fold(csum: int) -> int:
    """Fold a 32-bit partial sum to 16 bits and complement it (a __sum16)."""
    s = (csum & 0xFFFF) + ((csum >> 16) & 0xFFFF)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def csum_unfold(n: int) -> int:
    return n & 0xFFFF


def ip_compute_csum(buff: Any, length: int | None = None) -> int:
    return csum_fold(csum_partial(buff, length, 0))


def _ip4(addr: Any) -> bytes:
    if isinstance(addr, int):
        return addr.to_bytes(4, "big")
    if isinstance(addr, str):
        return socket.inet_aton(addr)
    return bytes(addr)


def csum_tcpudp_nofold(saddr: Any, daddr: Any, length: int, proto: int, wsum: int = 0) -> int:
    """Partial sum of the IPv4 pseudo-header (addresses as bytes, dotted str or host int)."""
    pseudo = _ip4(saddr) + _ip4(daddr) + struct.pack("!BBH", 0, proto, length)
    return csum_partial(pseudo, None, wsum)


def csum_tcpudp_magic(saddr: Any, daddr: Any, length: int, proto: int, wsum: int = 0) -> int:
    return csum_fold(csum_tcpudp_nofold(saddr, daddr, length, proto, wsum))


# -- copying while summing (lib/iov_iter.c) -------------------------------------------


@dataclass
class CsumState:
    """struct csum_state: the running sum and the offset it has reached."""

    csum: int = 0
    off: int = 0


def csum_and_copy_to_iter(addr: Any, nbytes: int | None, csstate: CsumState, i: IovIter) -> int:
    """copy_to_iter that also sums what it copies into ``csstate``.

    A user segment that faults contributes nothing (csum_and_copy_to_user is
    all-or-nothing per piece).  Kept quirk: on ITER_DISCARD all ``nbytes`` are
    summed and reported copied, and the iterator is not advanced.
    """
    src = _byte_view(addr)
    if nbytes is None:
        nbytes = len(src)
    if not _check_copy_size(src, nbytes, "csum_and_copy_to_iter"):
        return 0
    if WARN_ON(i.data_source, "csum_and_copy_to_iter on an ITER_SOURCE iterator"):
        return 0
    if i.iter_type == ITER_DISCARD:
        csstate.csum = csum_block_add(csstate.csum, csum_partial(src, nbytes, 0), csstate.off)
        csstate.off += nbytes
        return nbytes
    acc = [csum_shift(csstate.csum, csstate.off)]

    def ustep(mm: UserMemory, uaddr: int, progress: int, n: int) -> int:
        piece = src[progress : progress + n]
        if not access_ok(uaddr, n) or mm.raw_copy_to_user(uaddr, piece, n, nofault=i.nofault):
            return n
        acc[0] = csum_block_add(acc[0], _sum16(piece), progress)
        return 0

    def step(view: memoryview, progress: int) -> int:
        piece = src[progress : progress + len(view)]
        view[:] = piece
        acc[0] = csum_block_add(acc[0], _sum16(piece), progress)
        return 0

    copied = iterate_and_advance(i, nbytes, ustep, step)
    csstate.csum = csum_shift(acc[0], csstate.off)
    csstate.off += copied
    return copied


def csum_and_copy_from_iter_full(
    addr: Any, nbytes: int | None, csum: int, i: IovIter
) -> tuple[bool, int]:
    """Copy exactly ``nbytes`` out of the iterator while summing; returns (ok, csum).

    On a short copy the iterator is reverted and ``(False, csum)`` returned.
    """
    dst = _writable(addr, "csum_and_copy_from_iter_full")
    if nbytes is None:
        nbytes = len(dst)
    if not _check_copy_size(dst, nbytes, "csum_and_copy_from_iter_full"):
        return False, csum
    if WARN_ON(not i.data_source, "csum_and_copy_from_iter_full on an ITER_DEST iterator"):
        return False, csum
    acc = [csum]

    def ustep(mm: UserMemory, uaddr: int, progress: int, n: int) -> int:
        piece = dst[progress : progress + n]
        if not access_ok(uaddr, n) or mm.raw_copy_from_user(piece, uaddr, n, nofault=i.nofault):
            return n
        acc[0] = csum_block_add(acc[0], _sum16(piece), progress)
        return 0

    def step(view: memoryview, progress: int) -> int:
        dst[progress : progress + len(view)] = view
        acc[0] = csum_block_add(acc[0], _sum16(view), progress)
        return 0

    copied = iterate_and_advance(i, nbytes, ustep, step)
    if copied == nbytes:
        return True, acc[0]
    iov_iter_revert(i, copied)
    return False, csum


# -- datagram delivery (net/core/datagram.c) -------------------------------------------


def _datagram_copy(data: memoryview, to: IovIter, csstate: CsumState | None) -> int:
    """__skb_datagram_iter over a linear skb: 0, or -EFAULT for a fault with room left."""
    n = len(data)
    if csstate is None:
        from .copy import copy_to_iter

        got = copy_to_iter(data, n, to)
    else:
        got = csum_and_copy_to_iter(data, n, csstate, to)
    if got != n and to.count:
        return -errno.EFAULT
    return 0


def skb_copy_and_csum_datagram_msg(data: Any, hlen: int, to: IovIter, csum: int = 0) -> int:
    """Deliver ``data[hlen:]`` into ``to`` while verifying the checksum over all of ``data``.

    ``data`` is the transport segment (UDP header + payload), ``csum`` the
    skb->csum seed (the pseudo-header sum).  Returns 0, -EINVAL for a bad
    checksum (the iterator is reverted: the reader sees nothing) or -EFAULT.
    When the iterator is smaller than the payload, the whole datagram is
    checked first and then copied truncated, as the kernel does.
    """
    skb = _byte_view(data)
    chunk = len(skb) - hlen
    if chunk < 0:
        raise IovError(f"header length {hlen} beyond a {len(skb)}-byte datagram")
    if not chunk:
        return 0
    if to.count < chunk:
        if csum_fold(csum_partial(skb, None, csum)):
            return -errno.EINVAL
        return _datagram_copy(skb[hlen:], to, None)
    state = CsumState(csum_partial(skb[:hlen], None, csum), 0)
    if _datagram_copy(skb[hlen:], to, state):
        return -errno.EFAULT
    if csum_fold(state.csum):
        iov_iter_revert(to, chunk)
        return -errno.EINVAL
    return 0


def udp_checksum(saddr: Any, daddr: Any, segment: Any) -> int:
    """The UDP checksum field value for ``segment`` (its checksum field zeroed), as wire bytes
    read little-endian (store with ``struct.pack('<H', ...)``); 0 is sent as 0xffff."""
    seg = _byte_view(segment)
    seed = csum_tcpudp_nofold(saddr, daddr, len(seg), IPPROTO_UDP, 0)
    return csum_fold(csum_partial(seg, None, seed)) or 0xFFFF


def udp_recv_to_iter(saddr: Any, daddr: Any, segment: Any, to: IovIter) -> int:
    """Deliver a UDP segment's payload into ``to``, verifying its checksum like udp_recvmsg.

    Returns the payload bytes copied (fewer when ``to`` is smaller: the rest
    is truncated).  A bad checksum raises IovError(EINVAL) with ``to``
    untouched in position; a fault raises IovError(EFAULT).  A zero checksum
    field means "not computed" (IPv4) and skips the check.
    """
    seg = _byte_view(segment)
    if len(seg) < 8:
        raise IovError(
            f"UDP segment of {len(seg)} bytes is shorter than its header", errno=errno.EINVAL
        )
    before = to.count
    if seg[6] == 0 and seg[7] == 0:
        err = _datagram_copy(seg[8:], to, None)
    else:
        seed = csum_tcpudp_nofold(saddr, daddr, len(seg), IPPROTO_UDP, 0)
        err = skb_copy_and_csum_datagram_msg(seg, 8, to, seed)
    if err == -errno.EINVAL:
        raise IovError("UDP checksum mismatch: datagram dropped", errno=errno.EINVAL)
    if err:
        raise IovError("fault copying the datagram to the reader", errno=-err)
    return before - to.count
