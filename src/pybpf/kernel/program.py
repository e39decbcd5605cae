"""KernelProgram: a program loaded into the running kernel with BPF_PROG_LOAD.

The kernel's verifier decides; its log is kept on the object (and carried by
the KernelError when it refuses). A socket filter attaches to a real socket
with setsockopt(SOL_SOCKET, SO_ATTACH_BPF, &fd) and detaches with
SO_DETACH_BPF (net/core/sock.c, net/core/filter.c sk_attach_bpf()); it runs
in the kernel on every packet that socket receives.

Map references in the instructions are resolved here, as libbpf relocates
them: an LDDW with src ``BPF_PSEUDO_MAP_FD`` / ``BPF_PSEUDO_MAP_VALUE`` whose
``ref`` is a KernelMap (or a MapRef naming one in ``maps``) gets that map's fd.
"""

from __future__ import annotations

import errno as E
import os
import re
import socket
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from .. import uapi
from ..api import TestRunResult
from ..errors import KernelError, NotSupportedError
from ..isa import BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, Insn, decode
from ..spec.types import MapRef
from . import bpffs, probe
from . import info as kinfo
from . import syscall as sc
from .btf import btf_handle
from .fd import FdObject
from .maps import KernelMap

SOL_SOCKET = socket.SOL_SOCKET
#: the Ethernet header length eth_type_trans() pulls in a test run
ETH_HLEN = 14


def twice_mac_header(frame: bytes | bytearray | memoryview) -> bytes:
    """The data to give BPF_PROG_TEST_RUN so a socket filter sees ``frame`` as on AF_PACKET.

    For socket filters ``bpf_prog_test_run_skb()`` (net/bpf/test_run.c) calls
    ``eth_type_trans()``, which pulls the first 14 bytes as the MAC header:
    the program's offset 0 is what follows them. A packet socket instead runs
    the filter from the MAC header. So the frame's own Ethernet header goes in
    twice: the kernel consumes the first copy (so ``skb->protocol`` is the
    frame's EtherType and ``skb->len`` is ``len(frame)``, as on the socket) and
    the program reads the frame from its MAC header at offset 0. What differs
    from a real socket: ``SKF_NET_OFF`` points at the MAC header, ``SKF_LL_OFF``
    at the copy, ``pkt_type`` is relative to loopback's all-zero address and
    the skb lives on ``lo`` (ifindex 1). A frame shorter than 14 bytes has its
    copy padded with zeros.
    """
    raw = bytes(frame)
    return raw[:ETH_HLEN].ljust(ETH_HLEN, b"\0") + raw


def failed_insn(log: str) -> int | None:
    """The index of the instruction the verifier was looking at when it gave up."""
    idx = None
    for line in log.splitlines():
        m = re.match(r"(\d+): \([0-9a-f]{2}\)", line)
        if m:
            idx = int(m.group(1))
    return idx


def _sockfd(sock: socket.socket | int) -> int:
    return sock if isinstance(sock, int) else sock.fileno()


def _setsockopt(sock: socket.socket | int, opt: int, value: bytes, what: str) -> None:
    try:
        if isinstance(sock, int):
            s = socket.socket(fileno=os.dup(sock))
            try:
                s.setsockopt(SOL_SOCKET, opt, value)
            finally:
                s.close()
        else:
            sock.setsockopt(SOL_SOCKET, opt, value)
    except OSError as err:
        num = err.errno or E.EINVAL
        raise KernelError(
            f"{what} on socket fd {_sockfd(sock)} failed: {sc.errno_text(num)}", errno=num
        ) from None


class KernelProgram(FdObject):
    """``KernelProgram(insns, prog_type=SOCKET_FILTER, license="GPL", name="")``.

    ``insns`` is a list of :class:`Insn` or wire bytes. ``log`` is the
    verifier's log (filled when ``log_level`` > 0). The fd is closed by
    :meth:`close`, a ``with`` block, or garbage collection; an attached filter
    stays on its socket after the fd is closed, as in the kernel.
    """

    def __init__(
        self,
        insns: Sequence[Insn] | bytes | bytearray,
        prog_type: int = uapi.BPF_PROG_TYPE_SOCKET_FILTER,
        license: str = "GPL",
        name: str = "",
        *,
        log_level: int = 0,
        log_size: int = sc.LOG_SIZE_DEFAULT,
        expected_attach_type: int = 0,
        prog_flags: int = 0,
        maps: Mapping[str, KernelMap] | None = None,
        **load_kw: Any,
    ):
        self.fd = -1
        if isinstance(insns, (bytes, bytearray, memoryview)):
            insns = decode(bytes(insns), check=False)
        self.insns: list[Insn] = self._relocate(list(insns), maps or {})
        self.prog_type = prog_type
        self.license = license
        self.name = name
        try:
            r = sc.prog_load_result(
                prog_type,
                self.insns,
                license,
                log_level,
                log_size,
                name,
                expected_attach_type,
                prog_flags,
                **load_kw,
            )
        except KernelError as err:
            if err.errno in (E.EINVAL, E.EOPNOTSUPP, sc.ENOTSUPP) and not err.log.strip():
                try:
                    probe.require_prog_type(prog_type)
                except NotSupportedError as ns:
                    raise NotSupportedError(str(ns), errno=ns.errno) from err
            err.index = failed_insn(err.log)  # type: ignore[attr-defined]
            raise
        self.fd = r.fd
        self.log = r.log

    def _relocate(self, insns: list[Insn], maps: Mapping[str, KernelMap]) -> list[Insn]:
        """Give every map-referencing LDDW the kernel fd of its map."""
        out = []
        self.maps: list[KernelMap] = []
        for i, insn in enumerate(insns):
            ref = insn.ref
            if (
                insn.is_lddw
                and insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE)
                and ref is not None
            ):
                m, off = ref, None
                if isinstance(ref, MapRef):
                    if ref.name not in maps:
                        raise KernelError(
                            f"insn {i}: program refers to map {ref.name!r}, which was not given",
                            errno=E.EBADF,
                        )
                    m, off = maps[ref.name], ref.value_offset
                if not isinstance(m, KernelMap):
                    raise KernelError(
                        f"insn {i}: {m!r} is not a kernel map (a user-space map's fd means "
                        f"nothing to the kernel; create it with the kernel backend)",
                        errno=E.EBADF,
                    )
                self.maps.append(m)
                if off is None:
                    insn = insn.replace(imm=m.fd)
                else:
                    insn = insn.replace(src=BPF_PSEUDO_MAP_VALUE, imm=m.fd, imm_hi=off)
            out.append(insn)
        return out

    @classmethod
    def from_spec(
        cls, spec: Any, maps: Mapping[str, KernelMap] | None = None, **kw: Any
    ) -> KernelProgram:
        """Load a :class:`pybpf.spec.types.ProgramSpec`; MapRef relocations resolve in ``maps``.

        When the object had BTF (``spec.btf``, a ProgramBtf), the BTF is loaded
        once (shared with the object's maps) and the program carries
        ``prog_btf_fd``, ``func_info`` and ``line_info``, as libbpf passes them:
        the verifier log then quotes the C source lines and ``bpftool prog dump``
        shows them.
        """
        pbtf = getattr(spec, "btf", None)
        if pbtf is not None and getattr(pbtf, "func_info", None) and "prog_btf_fd" not in kw:
            handle = btf_handle(pbtf.btf)
            if handle is not None:
                kw["prog_btf_fd"] = handle.fd
                kw["func_info"] = pbtf.func_info_bytes()
                if pbtf.line_info:
                    kw["line_info"] = pbtf.line_info_bytes()
        return cls(
            spec.insns,
            spec.prog_type,
            spec.license,
            spec.name,
            maps=maps,
            expected_attach_type=spec.expected_attach_type,
            **kw,
        )

    @classmethod
    def from_fd(cls, fd: int) -> KernelProgram:
        """Wrap an existing program fd (ownership passes to the object)."""
        info = kinfo.prog_get_info(fd)
        self = cls.__new__(cls)
        self.fd, self.prog_type, self.name, self.license = fd, info.type, info.name, ""
        self.log, self.maps = "", []
        self.insns = decode(kinfo.prog_get_xlated(fd), check=False)
        return self

    @classmethod
    def open_pinned(cls, path: str | os.PathLike[str]) -> KernelProgram:
        return cls.from_fd(bpffs.obj_get(os.fspath(path)))

    def pin(self, path: str | os.PathLike[str]) -> None:
        bpffs.obj_pin(self._fd(), os.fspath(path))

    def _fd(self) -> int:
        if self.fd < 0:
            raise KernelError(f"program {self.name!r} is closed", errno=E.EBADF)
        return self.fd

    # -- running ------------------------------------------------------------------------

    def test_run(
        self, data: bytes, repeat: int = 1, ctx_in: bytes | None = None, **kw: Any
    ) -> TestRunResult:
        """BPF_PROG_TEST_RUN on ``data``, exactly as the kernel does it.

        For socket filters (and the other non-L2 skb types) the kernel builds the
        skb on the loopback device and calls ``eth_type_trans``, which pulls the
        14-byte Ethernet header (net/bpf/test_run.c ``bpf_prog_test_run_skb``):
        ``skb->data``, LD_ABS offset 0 and ``bpf_skb_load_bytes`` offset 0 are the
        *network* header, ``skb->len`` is ``len(data) - 14``, the MAC header is
        reachable only through ``SKF_LL_OFF``, and ``data_out`` comes back with
        the Ethernet header zeroed. ``data`` shorter than 14 bytes is EINVAL.
        The user backend's ``Program.test_run`` models the same thing.
        """
        return sc.prog_test_run(self._fd(), data, repeat, ctx_in, **kw)

    def frame_mode(self) -> str:
        """How :meth:`run` can present a MAC-header frame to this program via test-run.

        ``"data"``: the program addresses the packet relative to ``skb->data``
        (LD_ABS/LD_IND with offsets >= 0, ``bpf_skb_load_bytes``, a read of
        ``skb->len`` from a register copied from R1) —
        run with the Ethernet header given twice, so that after the kernel pulls
        the first copy ``skb->data`` is the MAC header with ``skb->len`` the frame's
        length, as on a SOCK_RAW packet socket. ``"headers"``: it only uses the
        ``SKF_LL_OFF``/``SKF_NET_OFF`` bases (or ``bpf_skb_load_bytes_relative``),
        which test-run already sets where a packet socket has them — run as is.
        ``"socket"``: it mixes both, and no test-run input is faithful; only
        :meth:`run_frame` (a real socket) is.
        """
        data = hdr = False
        ctx_regs = {1}  # registers holding the context, tracked along the text (approximate)
        for insn in self.insns:
            cls, mode = insn.code & 0x07, insn.code & 0xE0
            if cls == 0x01 and insn.code == 0x61 and insn.src in ctx_regs and insn.off == 0:
                data = True  # reads skb->len, which counts from skb->data
            if insn.code == 0xBF and insn.src in ctx_regs:  # mov64 dst, ctx
                ctx_regs.add(insn.dst)
            elif insn.code == 0x85:
                ctx_regs -= {1, 2, 3, 4, 5}
            elif cls in (0x00, 0x01, 0x04, 0x07):  # LD, LDX, ALU, ALU64 write dst
                ctx_regs.discard(insn.dst)
            if cls == 0x00 and mode in (0x20, 0x40):  # BPF_LD | BPF_ABS / BPF_IND
                if insn.imm < 0:
                    hdr = True
                else:
                    data = True
            elif insn.code == 0x85 and insn.src == 0:  # helper call
                if insn.imm == uapi.BPF_FUNC_skb_load_bytes_relative:
                    hdr = True
                elif insn.imm == uapi.BPF_FUNC_skb_load_bytes:
                    data = True
        if hdr and data:
            return "socket"
        return "headers" if hdr else "data"

    def run(self, data_or_skb: Any) -> int:
        """The return value a socket's filter gives for one packet — the one place that
        presents a packet to BPF_PROG_TEST_RUN as a socket would see it.

        ``data_or_skb`` is a frame from the MAC header (as ``Program.run`` in the
        user backend and af_packet's ``run_filter`` present it) or an
        :class:`pybpf.net.skb.SkBuff`, whose ``data`` offset says where the
        program's packet starts: at the MAC header (a packet socket) or past it
        (a UDP socket's filter sees the transport header). BPF_PROG_TEST_RUN
        would start a socket filter at the network header, so the packet is
        presented as :meth:`frame_mode` says (see there). The skb is the
        test-run one: device loopback (ifindex 1, address 00:00:00:00:00:00, so
        ``pkt_type`` comes from the destination address against that; the
        loopback device has no broadcast address, so ff:ff:ff:ff:ff:ff is
        PACKET_MULTICAST, not PACKET_BROADCAST), no VLAN untagging. A program
        that mixes MAC- and network-relative addressing is run through a real
        packet socket (:meth:`run_frame`), which tells only what the socket kept,
        ``min(retval, len)``. KernelError when the kernel refuses the test run (a
        frame too short for its headers, say).
        """
        tobytes = getattr(data_or_skb, "tobytes", None)
        if callable(tobytes):  # an SkBuff: its bytes from skb->data on
            data = bytes(tobytes())
            past_mac = data_or_skb.data_off > max(data_or_skb.mac_off, 0)
        else:
            data = bytes(data_or_skb)
            past_mac = False
        if self.prog_type in (uapi.BPF_PROG_TYPE_SCHED_CLS, uapi.BPF_PROG_TYPE_SCHED_ACT):
            return self.test_run(data).retval  # tc programs: test-run keeps the MAC header
        if self.prog_type in (uapi.BPF_PROG_TYPE_XDP, uapi.BPF_PROG_TYPE_CGROUP_SKB):
            return int(self.run_packet(data).retval)
        if past_mac:  # give test-run a MAC header to pull; the program sees what follows
            return self.test_run(bytes(ETH_HLEN) + data).retval
        mode = self.frame_mode()
        if mode == "socket":
            kept = self.run_frame(data)
            if kept is None:
                raise KernelError(
                    f"program {self.name!r}: the receive path dropped the frame before any "
                    "socket saw it",
                    errno=E.EINVAL,
                )
            return kept
        if mode == "data":
            data = twice_mac_header(data)
        return self.test_run(data).retval

    def run_packet(self, frame: bytes | bytearray | memoryview) -> Any:
        """One BPF_PROG_TEST_RUN of an XDP, tc or cgroup_skb program on an Ethernet
        ``frame``: its action and the packet as it left it
        (:class:`pybpf.net.outcome.PacketOutcome`), as the user backend's
        ``Program.run_packet`` reports them.

        What test-run cannot tell is left out: a redirect's target (``redirect``
        is None), clones sent by bpf_clone_redirect, and a VLAN tag a tc program
        moved into the skb (``skb->vlan_tci`` is not in data_out): the packet is
        data_out as the kernel gives it. An XDP frame's metadata is cut off (the
        xdp_md given in ctx_in comes back with its length).
        """
        from ..net.outcome import PacketOutcome
        from ..progtypes import get_prog_type

        pt = get_prog_type(self.prog_type)
        if not pt.pointers or pt.action_name is None or pt.leaves is None:
            raise NotSupportedError(
                f"run_packet is for XDP, tc and cgroup_skb programs, not {pt.name}"
            )
        raw = bytes(frame)
        if self.prog_type == uapi.BPF_PROG_TYPE_XDP:
            ctx = struct.pack("<6I", 0, len(raw), 0, 0, 0, 0)
            r = self.test_run(raw, 1, ctx, data_size_out=len(raw) + 8192)
            meta = struct.unpack_from("<I", r.ctx_out, 0)[0] if len(r.ctx_out) >= 4 else 0
            packet = r.data_out[meta:]
        else:
            r = self.test_run(raw, 1, None, data_size_out=len(raw) + 65536)
            packet = r.data_out
            if self.prog_type == uapi.BPF_PROG_TYPE_CGROUP_SKB:
                packet = raw[:ETH_HLEN] + packet[ETH_HLEN:]
        ret = r.retval & 0xFFFF_FFFF
        return PacketOutcome(ret, pt.action_name(ret), pt.leaves(ret), packet)

    def run_frame(self, frame: bytes, rig: Any = None) -> int | None:
        """Bytes of ``frame`` a real AF_PACKET socket with this filter receives.

        The frame is sent into one end of a veth pair in a private network
        namespace (:class:`pybpf.kernel.netns.VethRig`; one per process unless
        ``rig`` is given) and the filter runs in ``packet_rcv`` on the other end:
        the true oracle, with the receive path's own skb (one outer VLAN tag
        moved to ``skb->vlan_tci``, ``pkt_type`` against the veth's address).
        Returns ``min(retval, len)`` — 0 when the filter dropped it — or None
        when the receive path dropped the frame before any socket saw it.
        """
        from .netns import shared_rig

        rig = rig or shared_rig()
        rig.attach(self)
        return rig.deliver(bytes(frame))

    def attach(self, sock: socket.socket | int) -> None:
        """setsockopt(SO_ATTACH_BPF): filter every packet the socket receives."""
        _setsockopt(sock, uapi.SO_ATTACH_BPF, struct.pack("i", self._fd()), "SO_ATTACH_BPF")

    def attach_xdp(self, dev: int | str, mode: str = "generic") -> Any:
        """Attach this XDP program to a device; the returned Link detaches it when closed."""
        from .link import attach_xdp

        return attach_xdp(self, dev, mode)

    def attach_tc(
        self,
        dev: int | str,
        direction: str = "ingress",
        *,
        clsact: bool = False,
        netns: str | None = None,
    ) -> Any:
        """Attach this tc program to a device's ingress or egress and return the link:
        through tcx, or (``clsact``) a clsact qdisc's cls_bpf filter set up by iproute2's
        ``tc`` in network namespace ``netns``."""
        from .link import attach_clsact, attach_tcx

        if clsact:
            return attach_clsact(self, str(dev), direction, netns=netns)
        return attach_tcx(self, dev, direction)

    def attach_cgroup(self, cgroup: str | os.PathLike[str], direction: str = "ingress") -> Any:
        """Attach this cgroup_skb program to a cgroup v2 directory; returns the Link."""
        from .link import attach_cgroup

        return attach_cgroup(self, cgroup, direction)

    @staticmethod
    def detach(sock: socket.socket | int) -> None:
        """setsockopt(SO_DETACH_BPF): remove the socket's filter (ENOENT if it has none)."""
        _setsockopt(sock, uapi.SO_DETACH_BPF, struct.pack("i", 0), "SO_DETACH_BPF")

    # -- introspection ------------------------------------------------------------------

    def info(self) -> sc.ProgInfo:
        return kinfo.prog_get_info(self._fd())

    @property
    def id(self) -> int:
        return self.info().id

    @property
    def tag(self) -> str:
        return self.info().tag.hex()

    def xlated(self) -> list[Insn]:
        """The instructions as the kernel rewrote them (bpftool prog dump xlated)."""
        return decode(kinfo.prog_get_xlated(self._fd()), check=False)

    def __repr__(self) -> str:
        return (
            f"<KernelProgram {uapi.PROG_TYPE_NAMES.get(self.prog_type, self.prog_type)} "
            f"name={self.name!r} fd={self.fd} insns={len(self.insns)}>"
        )


__all__ = ["KernelProgram", "failed_insn", "twice_mac_header"]
