"""A private network namespace with a veth pair: real packets through a real socket filter.

BPF_PROG_TEST_RUN does not run a socket filter the way a packet socket does
(net/bpf/test_run.c: ``eth_type_trans`` pulls the Ethernet header, so the
program starts at the network header; see :mod:`pybpf.kernel.program`). The
faithful oracle is the receive path itself: a frame written into one end of a
veth pair (AF_PACKET, SOCK_RAW) comes out of the other end through
``veth_xmit`` -> ``__dev_forward_skb`` (``eth_type_trans`` against the
receiving device's address) -> ``__netif_receive_skb_core`` (one outer VLAN tag
moved into ``skb->vlan_*`` by ``skb_vlan_untag``) -> ``packet_rcv``, which
pushes the MAC header back and runs the filter of every packet socket bound to
that device (net/packet/af_packet.c ``run_filter``).

What a test can observe there is not the return value but its effect: the
packet reaches the socket truncated to ``min(ret, len)`` bytes, or not at all
when the filter returns 0. A second, unfiltered socket on the same device
tells "dropped by the filter" from "not arrived yet": packet sockets are
pushed onto the head of the device's tap list (``dev_add_pack``), so the
observer is created first and sees each frame after the filtered socket has.

The namespace (``ip netns add``) and both devices are private to the rig and
are deleted by :meth:`VethRig.close`; IPv6 is disabled inside it so the kernel
itself sends nothing the filter would count.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as E
import itertools
import json
import os
import select
import socket
import subprocess
from collections.abc import Iterator

from ..errors import KernelError, NotSupportedError
from ..uapi import SOL_PACKET

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
PACKET_IGNORE_OUTGOING = 23
_RECV_MAX = 1 << 17

_counter = itertools.count()
_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def in_netns(path: str) -> Iterator[None]:
    """Run the block in the network namespace at ``path`` (this thread only), then return.

    Sockets created inside stay in that namespace after the switch back
    (setns(2) changes only where new sockets are made).
    """
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(there, CLONE_NEWNET) != 0:
            num = ctypes.get_errno()
            raise KernelError(f"setns({path}): {os.strerror(num)}", errno=num)
        try:
            yield
        finally:
            if _libc.setns(here, CLONE_NEWNET) != 0:  # pragma: no cover - cannot fail as root
                num = ctypes.get_errno()
                raise KernelError(f"setns back to our namespace: {os.strerror(num)}", errno=num)
    finally:
        os.close(there)
        os.close(here)


def _ip(*args: str) -> str:
    try:
        r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise NotSupportedError(
            "the 'ip' command (iproute2) is not installed", errno=E.ENOENT
        ) from None
    if r.returncode:
        msg = r.stderr.strip() or r.stdout.strip()
        num = E.EPERM if "ermission" in msg or "not permitted" in msg else E.EINVAL
        raise KernelError(f"ip {' '.join(args)}: {msg}", errno=num)
    return r.stdout


class VethRig:
    """``VethRig()``: netns ``pybpf-<pid>-<n>`` holding veth ``tx`` <-> ``rx``.

    :meth:`deliver` sends one Ethernet frame into ``tx`` and reports how many
    bytes of it the filtered packet socket on ``rx`` received (0: the filter
    dropped it; None: the receive path dropped it before any packet socket).
    ``rx_mac`` and ``rx_ifindex`` describe the receiving device, for a model
    of the same skb (``SkBuff.from_frame(frame, untag_vlan=True,
    dev_addr=rig.rx_mac, ifindex=rig.rx_ifindex)``).
    """

    TX, RX = "pbtx", "pbrx"

    def __init__(self, mtu: int = 65535, timeout: float = 1.0):
        self.name = f"pybpf-{os.getpid()}-{next(_counter)}"
        self.path = f"/run/netns/{self.name}"
        self.timeout = timeout
        self._socks: list[socket.socket] = []
        _ip("netns", "add", self.name)
        try:
            self._setup(mtu)
        except BaseException:
            self.close()
            raise

    def _setup(self, mtu: int) -> None:
        with in_netns(self.path):
            for knob in ("all", "default"):
                with open(f"/proc/sys/net/ipv6/conf/{knob}/disable_ipv6", "w") as f:
                    f.write("1")
        _ip("-n", self.name, "link", "add", self.TX, "type", "veth", "peer", "name", self.RX)
        for dev in (self.TX, self.RX):
            for m in (mtu, 9000, 1500):
                try:
                    _ip("-n", self.name, "link", "set", dev, "mtu", str(m))
                    break
                except KernelError:
                    continue
            _ip("-n", self.name, "link", "set", dev, "up")
        info = {d["ifname"]: d for d in json.loads(_ip("-j", "-n", self.name, "link", "show"))}
        rx = info[self.RX]
        self.rx_ifindex = int(rx["ifindex"])
        self.rx_mac = bytes.fromhex(rx["address"].replace(":", ""))
        self.mtu = int(rx["mtu"])
        with in_netns(self.path):
            # observer first: the filtered socket, added later, sits before it on the tap list
            self.observer = self._packet_socket()
            self.filtered = self._packet_socket()
            self.sender = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            self._socks.append(self.sender)
            self.sender.bind((self.TX, 0))

    def _packet_socket(self) -> socket.socket:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self._socks.append(s)
        s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((self.RX, ETH_P_ALL))
        s.setblocking(False)
        return s

    def attach(self, prog: object) -> None:
        """Put ``prog`` (a KernelProgram) on the filtered socket (SO_ATTACH_BPF replaces)."""
        prog.attach(self.filtered)  # type: ignore[attr-defined]

    @staticmethod
    def _drain(s: socket.socket) -> None:
        while True:
            try:
                s.recv(_RECV_MAX)
            except BlockingIOError:
                return

    def deliver(self, frame: bytes) -> int | None:
        """Send ``frame`` into tx; bytes the filtered socket got (None: never reached rx)."""
        self._drain(self.observer)
        self._drain(self.filtered)
        try:
            self.sender.send(frame)
        except OSError as err:
            num = err.errno or E.EINVAL
            raise KernelError(
                f"sending a {len(frame)}-byte frame into {self.TX}: {os.strerror(num)}", errno=num
            ) from None
        ready, _, _ = select.select([self.observer], [], [], self.timeout)
        if not ready:
            return None
        self.observer.recv(_RECV_MAX)
        try:
            return len(self.filtered.recv(_RECV_MAX))
        except BlockingIOError:
            return 0

    def close(self) -> None:
        for s in self._socks:
            s.close()
        self._socks.clear()
        if self.name:
            name, self.name = self.name, ""
            with contextlib.suppress(KernelError, NotSupportedError):
                _ip("netns", "del", name)

    def __enter__(self) -> VethRig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


_shared: VethRig | None = None


def shared_rig() -> VethRig:
    """One rig per process for :meth:`KernelProgram.run_frame` (deleted at exit)."""
    global _shared
    if _shared is None or not _shared.name:
        import atexit

        _shared = VethRig()
        atexit.register(_shared.close)
    return _shared


__all__ = ["VethRig", "in_netns", "shared_rig"]
