"""bpf_link: a program attached to a kernel hook for as long as the link lives.

``BPF_LINK_CREATE`` attaches without netlink or sockets: XDP to a network
device (``BPF_XDP``, with the XDP mode in the flags: generic works on any
device, veth included), tc programs to a device's ingress or egress through
tcx (``BPF_TCX_INGRESS``/``EGRESS``, Linux 6.6+: no clsact qdisc needed),
cgroup_skb programs to a cgroup. Closing the link's fd detaches the program
(kernel/bpf/syscall.c link_create, net/core/dev.c bpf_xdp_link_attach,
kernel/bpf/tcx.c). An ifindex is looked up in the calling thread's network
namespace, so attach inside :func:`pybpf.kernel.netns.in_netns` for a device
of another namespace.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

from .. import uapi
from ..errors import KernelError
from .attr import LinkCreateAttr
from .fd import FdObject
from .syscall import bpf

__all__ = ["XDP_MODES", "Link", "attach_cgroup", "attach_tcx", "attach_xdp", "ifindex_of"]

#: XDP attach modes by name: generic runs in the stack for any device (veth included),
#: native in the driver, hw offloaded to the NIC
XDP_MODES = {
    "generic": uapi.XDP_FLAGS_SKB_MODE,
    "native": uapi.XDP_FLAGS_DRV_MODE,
    "hw": uapi.XDP_FLAGS_HW_MODE,
    "auto": 0,
}
_TCX = {"ingress": uapi.BPF_TCX_INGRESS, "egress": uapi.BPF_TCX_EGRESS}
_CGROUP = {"ingress": uapi.BPF_CGROUP_INET_INGRESS, "egress": uapi.BPF_CGROUP_INET_EGRESS}


def ifindex_of(dev: int | str) -> int:
    """The ifindex of a device name (or an ifindex, returned as is), in this netns."""
    if isinstance(dev, int):
        return dev
    try:
        return socket.if_nametoindex(dev)
    except OSError:
        raise KernelError(f"no network device named {dev!r} here", errno=errno.ENODEV) from None


class Link(FdObject):
    """One attachment; ``close()`` (or leaving a ``with`` block) detaches the program."""

    def __init__(self, prog: Any, target: int, attach_type: int, flags: int, what: str) -> None:
        self.fd = -1
        self.what = what
        self.prog = prog
        attr = LinkCreateAttr(prog_fd=prog.fd, target=target, attach_type=attach_type, flags=flags)
        self.fd = bpf(uapi.BPF_LINK_CREATE, attr, f"attaching {getattr(prog, 'name', '')!r} {what}")

    def detach(self) -> None:
        """Detach the program (the same as closing the link)."""
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self.fd}"
        return f"<Link {getattr(self.prog, 'name', '')} {self.what} {state}>"


def attach_xdp(prog: Any, dev: int | str, mode: str = "generic") -> Link:
    """Attach an XDP program to a device (``mode``: generic, native, hw or auto)."""
    if mode not in XDP_MODES:
        raise KernelError(f"XDP mode {mode!r}: one of {', '.join(XDP_MODES)}", errno=errno.EINVAL)
    ifindex = ifindex_of(dev)
    return Link(
        prog, ifindex, uapi.BPF_XDP, XDP_MODES[mode], f"to XDP of ifindex {ifindex} ({mode})"
    )


def attach_tcx(prog: Any, dev: int | str, direction: str = "ingress") -> Link:
    """Attach a tc (SCHED_CLS) program to a device's ingress or egress through tcx."""
    if direction not in _TCX:
        raise KernelError(f"tc direction {direction!r}: ingress or egress", errno=errno.EINVAL)
    ifindex = ifindex_of(dev)
    return Link(prog, ifindex, _TCX[direction], 0, f"to tcx {direction} of ifindex {ifindex}")


def attach_cgroup(prog: Any, cgroup: str | os.PathLike[str], direction: str = "ingress") -> Link:
    """Attach a cgroup_skb program to a cgroup (v2) directory's ingress or egress."""
    if direction not in _CGROUP:
        raise KernelError(f"cgroup direction {direction!r}: ingress or egress", errno=errno.EINVAL)
    path = os.fspath(cgroup)
    try:
        cfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise KernelError(f"cgroup {path}: {e.strerror}", errno=e.errno or errno.ENOENT) from None
    try:
        return Link(prog, cfd, _CGROUP[direction], 0, f"to cgroup {path} {direction}")
    finally:
        os.close(cfd)
