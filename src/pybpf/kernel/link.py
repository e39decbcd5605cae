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

tc's older path is there too (:func:`attach_clsact`): a ``clsact`` qdisc and a
``cls_bpf`` filter in direct-action mode, set up by iproute2's ``tc`` (the
program pinned in the BPF filesystem for it to find: ``object-pinned``). That is
what kernels before tcx (6.6) offer, and what most deployed tc programs use;
netlink is spoken by ``tc`` itself rather than by pybpf, which keeps pybpf free
of a netlink implementation for one attachment.
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
import subprocess
from typing import Any

from .. import uapi
from ..errors import KernelError
from .attr import LinkCreateAttr
from .fd import FdObject
from .syscall import bpf

__all__ = [
    "XDP_MODES",
    "ClsactLink",
    "Link",
    "attach_cgroup",
    "attach_clsact",
    "attach_tcx",
    "attach_xdp",
    "ifindex_of",
]

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


_pins = itertools.count()


def _tc(netns: str | None, *args: str) -> str:
    """Run ``tc args`` in network namespace ``netns`` (an ``ip netns`` name). The child
    enters it with this thread (not ``tc -n``, which remounts /sys and so loses the BPF
    filesystem the program is pinned in)."""
    import contextlib

    from .netns import in_netns

    cmd = ["tc", *args]
    where = in_netns(f"/run/netns/{netns}") if netns else contextlib.nullcontext()
    try:
        with where:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise KernelError(
            "the 'tc' command (iproute2) is not installed", errno=errno.ENOENT
        ) from None
    if r.returncode:
        msg = (r.stderr.strip() or r.stdout.strip()).splitlines()
        text = msg[0] if msg else f"exit status {r.returncode}"
        num = errno.EEXIST if "exists" in text else errno.EINVAL
        where_ = f" (netns {netns})" if netns else ""
        raise KernelError(f"{' '.join(cmd)}{where_}: {text}", errno=num)
    return r.stdout


class ClsactLink:
    """A tc program on a clsact qdisc's ingress or egress (cls_bpf, direct-action);
    ``close()`` deletes the filter, and the qdisc when it was made for this link."""

    def __init__(self, dev: str, direction: str, netns: str | None, made_qdisc: bool) -> None:
        self.dev, self.direction, self.netns = dev, direction, netns
        self._made_qdisc = made_qdisc
        self.closed = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            _tc(self.netns, "filter", "del", "dev", self.dev, self.direction)
        finally:
            if self._made_qdisc:
                _tc(self.netns, "qdisc", "del", "dev", self.dev, "clsact")

    def detach(self) -> None:
        self.close()

    def __enter__(self) -> ClsactLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ClsactLink {self.dev} {self.direction}{' closed' if self.closed else ''}>"


def attach_clsact(
    prog: Any, dev: str, direction: str = "ingress", *, netns: str | None = None
) -> ClsactLink:
    """Attach a tc program to ``dev``'s ingress or egress through a clsact qdisc (made if
    the device has none), as ``tc filter add dev DEV ingress bpf direct-action`` does.
    ``netns`` names the network namespace of ``dev`` (``ip netns`` name)."""
    from .bpffs import ensure_bpffs

    if direction not in _TCX:
        raise KernelError(f"tc direction {direction!r}: ingress or egress", errno=errno.EINVAL)
    made = True
    try:
        _tc(netns, "qdisc", "add", "dev", dev, "clsact")
    except KernelError as e:
        if e.errno != errno.EEXIST:
            raise
        made = False
    path = os.path.join(ensure_bpffs(), f"pybpf-tc-{os.getpid()}-{next(_pins)}")
    try:
        prog.pin(path)
        _tc(
            netns,
            "filter",
            "add",
            "dev",
            dev,
            direction,
            "bpf",
            "direct-action",
            "object-pinned",
            path,
        )
    except BaseException:
        if made:
            _tc(netns, "qdisc", "del", "dev", dev, "clsact")
        raise
    finally:
        if os.path.exists(path):
            os.unlink(path)  # the filter holds the program now
    return ClsactLink(dev, direction, netns, made)
