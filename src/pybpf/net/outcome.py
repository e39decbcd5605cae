"""What one run of an XDP, tc or cgroup_skb program did to one packet."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PacketOutcome", "describe_redirect"]


@dataclass
class PacketOutcome:
    """The program's return value and what became of the packet.

    ``action`` names the return value (``XDP_TX``, ``TC_ACT_OK``, ``allow`` ...);
    ``leaves`` says whether the packet goes on (XDP_PASS/TX/REDIRECT, tc's OK,
    PIPE, RECLASSIFY, UNSPEC and REDIRECT, a cgroup's allow); ``packet`` is the
    frame as the program left it, from its MAC header (a tc program's offloaded
    VLAN tag written in, as it goes on the wire); ``redirect`` the
    ``(ifindex, flags)`` a REDIRECT action sends it to; ``clones`` the
    ``(ifindex, flags, frame)`` copies bpf_clone_redirect sent on during the run.
    """

    retval: int
    action: str
    leaves: bool
    packet: bytes = b""
    redirect: tuple[int, int] | None = None
    clones: list[tuple[int, int, bytes]] = field(default_factory=list)

    def comment(self) -> str:
        """The action, and where a redirect goes: one line for a pcapng comment."""
        if self.redirect is not None:
            return f"{self.action} {describe_redirect(*self.redirect)}"
        return self.action


def describe_redirect(ifindex: int, flags: int) -> str:
    """``to ifindex 3 (ingress)`` ... for a recorded redirect."""
    if not ifindex:
        return "to no device (ifindex 0: the kernel drops it)"
    where = []
    if flags & 1:
        where.append("ingress")
    if flags & (1 << 2):
        where.append("peer")
    if flags & (1 << 1):
        where.append("neigh")
    return f"to ifindex {ifindex}" + (f" ({', '.join(where)})" if where else "")
