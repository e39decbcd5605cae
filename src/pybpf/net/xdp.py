"""A model ``struct xdp_buff``: the frame an XDP program works on, and its helpers' mechanics.

An XDP frame (include/net/xdp.h) is one buffer: ``data_hard_start`` at its
start, headroom, optional metadata ``[data_meta, data)``, the packet
``[data, data_end)``, then tailroom up to ``frame_sz``, whose last
``SKB_DATA_ALIGN(sizeof(struct skb_shared_info))`` bytes (320 on x86-64) are
reserved. The offsets here are into that buffer (``data_hard_start`` is 0).

The frame lives in a :class:`pybpf.vm.native.VmPkt` over a writable buffer that
the program's memory maps as its packet region (``bpf`` is the buffer's
address there): the pointers a program loads from ``xdp_md`` are ``bpf +
data`` and so on, and a Python helper called from a native run changes the
very frame the native code sees.

The methods are the kernel's helpers' mechanics, with their checks and errnos
(net/core/filter.c): :meth:`adjust_head` (bpf_xdp_adjust_head),
:meth:`adjust_meta` (bpf_xdp_adjust_meta), :meth:`adjust_tail`
(bpf_xdp_adjust_tail), :meth:`load_bytes` / :meth:`store_bytes`
(bpf_xdp_load_bytes / store_bytes on a linear frame). The frame BPF_PROG_TEST_RUN
builds (net/bpf/test_run.c, bpf_prog_test_run_xdp) is :meth:`XdpBuff.for_test_run`:
256 bytes of headroom (less the metadata), a 4096-byte frame, the loopback
device's first receive queue. Checked against Linux 6.18 (tests/progtypes).
"""

from __future__ import annotations

import ctypes
import errno as E
import struct

from .. import uapi
from ..errors import BpfError, NotSupportedError
from ..vm.native import VmPkt

__all__ = [
    "ETH_HLEN",
    "FRAME_SIZE",
    "SKB_SHARED_INFO_SIZE",
    "XDP_FRAME_SIZE",
    "XdpBuff",
    "check_test_run_ctx",
    "max_test_run_data",
    "render_ctx_out",
]

ETH_HLEN = 14
#: SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86-64: the tailroom a frame keeps
SKB_SHARED_INFO_SIZE = 320
#: sizeof(struct xdp_frame): the head of the headroom no program may reach into
XDP_FRAME_SIZE = 40
#: the frame of a test run (PAGE_SIZE)
FRAME_SIZE = 4096
#: the most metadata a frame may hold (skb_shared_info.meta_len is a u8, 4-byte aligned)
XDP_META_MAX = 255


def _neg(errno: int) -> int:
    return (-errno) & 0xFFFF_FFFF_FFFF_FFFF


def metalen_invalid(n: int) -> bool:
    """xdp_metalen_invalid(): metadata is a multiple of 4 bytes, at most 255."""
    return n % 4 != 0 or n > XDP_META_MAX


def max_test_run_data(meta_len: int = 0) -> int:
    """The most bytes (metadata included) a test run keeps in the linear frame."""
    return FRAME_SIZE - (uapi.XDP_PACKET_HEADROOM - meta_len) - SKB_SHARED_INFO_SIZE


class XdpBuff:
    """One XDP frame in ``buf`` (see module doc); ``pkt`` holds its geometry."""

    __slots__ = ("buf", "pkt", "_view")

    def __init__(self, buf: bytearray, pkt: VmPkt | None = None) -> None:
        self.buf = buf
        if pkt is None:
            pkt = VmPkt()
            pkt.buf = ctypes.addressof(ctypes.c_char.from_buffer(buf)) if buf else 0
            pkt.cap = len(buf)
        self.pkt = pkt
        self._view = memoryview(buf)

    # --- geometry --------------------------------------------------------------------------
    @property
    def data_meta(self) -> int:
        return int(self.pkt.meta)

    @property
    def data(self) -> int:
        return int(self.pkt.data)

    @property
    def data_end(self) -> int:
        return int(self.pkt.end)

    @property
    def frame_sz(self) -> int:
        return int(self.pkt.frame_sz)

    @property
    def bpf(self) -> int:
        """The program's address of ``data_hard_start`` (the packet region's base)."""
        return int(self.pkt.bpf)

    @property
    def ingress_ifindex(self) -> int:
        return int(self.pkt.ingress_ifindex)

    @property
    def rx_queue_index(self) -> int:
        return int(self.pkt.rx_queue_index)

    @property
    def egress_ifindex(self) -> int:
        return int(self.pkt.egress_ifindex)

    @property
    def len(self) -> int:
        """Bytes of packet (``data_end - data``)."""
        return self.data_end - self.data

    @property
    def meta_len(self) -> int:
        """xdp_get_metalen(): bytes of metadata before ``data``."""
        return self.data - self.data_meta

    @property
    def hard_end(self) -> int:
        """xdp_data_hard_end(): where the reserved tailroom begins."""
        return self.frame_sz - SKB_SHARED_INFO_SIZE

    # --- building a frame --------------------------------------------------------------------
    def load(
        self,
        frame: bytes | bytearray | memoryview,
        *,
        meta_len: int = 0,
        ingress_ifindex: int = 1,
        rx_queue_index: int = 0,
        frame_sz: int | None = None,
    ) -> XdpBuff:
        """Put ``frame`` (its first ``meta_len`` bytes metadata) in the buffer as
        bpf_prog_test_run_xdp does: data at XDP_PACKET_HEADROOM, the metadata just
        before it, a frame of ``frame_sz`` bytes (4096 when it fits, else as large
        as the frame needs: generic XDP linearizes a large packet)."""
        n = len(frame)
        need = uapi.XDP_PACKET_HEADROOM + _align(n) + SKB_SHARED_INFO_SIZE
        if frame_sz is None:
            frame_sz = max(FRAME_SIZE, need)
        if need > len(self.buf) or frame_sz > len(self.buf):
            raise NotSupportedError(
                f"an XDP frame of {n} bytes does not fit pybpf's {len(self.buf)}-byte packet buffer"
            )
        start = uapi.XDP_PACKET_HEADROOM - meta_len
        self._clear(start + n)
        low = int(self.pkt.low)  # a test run's frame is zeroed memory: clear what the
        if low < start:  # last frame's metadata and head moves wrote
            self.buf[low:start] = bytes(start - low)
        self.pkt.low = start
        self.buf[start : start + n] = frame
        p = self.pkt
        p.meta, p.data, p.end = start, start + meta_len, start + n
        p.frame_sz = frame_sz
        p.ingress_ifindex, p.rx_queue_index, p.egress_ifindex = ingress_ifindex, rx_queue_index, 0
        return self

    def _clear(self, end: int) -> None:
        """Zero what a longer earlier frame left past ``end`` (the buffer is reused)."""
        hwm = int(self.pkt.hwm)
        if hwm > end:
            self.buf[end:hwm] = bytes(hwm - end)
        self.pkt.hwm = end

    # --- what leaves ---------------------------------------------------------------------------
    def packet(self) -> bytes:
        """The packet as the program left it (``[data, data_end)``)."""
        return bytes(self._view[self.data : self.data_end])

    def data_out(self) -> bytes:
        """What BPF_PROG_TEST_RUN copies out: metadata and packet (``[data_meta, data_end)``)."""
        return bytes(self._view[self.data_meta : self.data_end])

    # --- the helpers' mechanics -----------------------------------------------------------------
    def adjust_head(self, delta: int) -> int:
        """bpf_xdp_adjust_head(): move ``data`` by ``delta`` (metadata moves with it)."""
        p = self.pkt
        metalen = self.meta_len
        data = self.data + delta
        if data < XDP_FRAME_SIZE + metalen or data > self.data_end - ETH_HLEN:
            return _neg(E.EINVAL)
        if metalen:
            m = self.data_meta
            self.buf[m + delta : m + delta + metalen] = self.buf[m : m + metalen]
        p.meta = self.data_meta + delta
        p.data = data
        p.low = min(int(p.low), int(p.meta))
        return 0

    def adjust_meta(self, delta: int) -> int:
        """bpf_xdp_adjust_meta(): move ``data_meta`` by ``delta``."""
        meta = self.data_meta + delta
        if meta < XDP_FRAME_SIZE or meta > self.data:
            return _neg(E.EINVAL)
        if metalen_invalid(self.data - meta):
            return _neg(E.EACCES)
        self.pkt.meta = meta
        self.pkt.low = min(int(self.pkt.low), meta)
        return 0

    def adjust_tail(self, delta: int) -> int:
        """bpf_xdp_adjust_tail(): move ``data_end`` by ``delta``; grown bytes read 0."""
        end = self.data_end + delta
        if end > self.hard_end or end < self.data + ETH_HLEN:
            return _neg(E.EINVAL)
        if delta > 0:
            self.buf[self.data_end : end] = bytes(delta)
            if end > int(self.pkt.hwm):
                self.pkt.hwm = end
        self.pkt.end = end
        return 0

    def load_bytes(self, off: int, n: int) -> bytes | None:
        """bpf_xdp_load_bytes() on a linear frame: None when out of bounds (-EINVAL)."""
        if off < 0 or n < 0 or off + n > self.len:
            return None
        return bytes(self._view[self.data + off : self.data + off + n])

    def store_bytes(self, off: int, data: bytes) -> bool:
        """bpf_xdp_store_bytes() on a linear frame: False when out of bounds."""
        n = len(data)
        if off < 0 or off + n > self.len:
            return False
        self.buf[self.data + off : self.data + off + n] = data
        return True

    def redirect(self, ifindex: int, flags: int) -> None:
        """Record bpf_redirect()'s target (bpf_redirect_info)."""
        self.pkt.ri_ifindex = ifindex & 0xFFFF_FFFF
        self.pkt.ri_flags = flags & 0xFFFF_FFFF

    def __repr__(self) -> str:
        return (
            f"<XdpBuff data={self.data} len={self.len} meta={self.meta_len} "
            f"frame_sz={self.frame_sz}>"
        )


def _align(n: int) -> int:
    """SKB_DATA_ALIGN(): up to the cache line (64 bytes)."""
    return (n + 63) & ~63


def check_test_run_ctx(ctx: bytes, size: int) -> tuple[int, int, int]:
    """The ``struct xdp_md`` a test run may be given: (meta_len, ingress_ifindex,
    rx_queue_index), or BpfError(EINVAL) as bpf_prog_test_run_xdp refuses it.

    In Linux 6.18 ``data_end`` is the length of the linear part (what exceeds it
    goes into fragments) and ``data`` the metadata's length.
    """
    raw = bytes(ctx[:24]).ljust(24, b"\0")
    if any(ctx[24:]):
        raise BpfError(
            "ctx_in is larger than struct xdp_md and the excess is not zero", errno=E.E2BIG
        )
    data, data_end, data_meta, ingress, rxq, egress = struct.unpack("<6I", raw)
    if data_meta or data_end > size or data > data_end or metalen_invalid(data):
        raise BpfError(
            f"ctx_in: xdp_md data {data}, data_end {data_end}, data_meta {data_meta} do not "
            f"describe the {size}-byte input (data_meta 0, data_end at most the input's "
            "size, data the metadata's length: a multiple of 4, at most 252)",
            errno=E.EINVAL,
        )
    if data_end < size:
        raise NotSupportedError(
            f"ctx_in data_end {data_end} < the input's {size} bytes: the kernel puts the "
            "rest in fragments (a multi-buffer XDP frame), which pybpf does not model"
        )
    if egress:
        raise BpfError("ctx_in: egress_ifindex must be 0", errno=E.EINVAL)
    if not ingress and rxq:
        raise BpfError("ctx_in: rx_queue_index without ingress_ifindex", errno=E.EINVAL)
    return data, ingress, rxq


def render_ctx_out(xdp: XdpBuff, ctx_in: bytes) -> bytes:
    """xdp_convert_buff_to_md(): the xdp_md test-run copies back out."""
    out = bytearray(bytes(ctx_in[:24]).ljust(24, b"\0"))
    struct.pack_into("<II", out, 0, xdp.meta_len, xdp.data_end - xdp.data_meta)
    return bytes(out)
