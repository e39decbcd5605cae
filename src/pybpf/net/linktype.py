"""How a captured frame of each link type is presented to a socket-filter program.

On Linux a SOCK_RAW packet socket runs its filter on ``skb->data`` after
``packet_rcv()`` (net/packet/af_packet.c) has pushed the data pointer back to the
MAC header — but only when the device has link-layer header operations
(``dev_has_header(dev)``: ``dev->header_ops && dev->header_ops->create``,
include/linux/netdevice.h).  So:

* Ethernet devices (``ether_setup``: ``eth_header_ops``, ``hard_header_len`` 14,
  ``ARPHRD_ETHER``) and the loopback device (drivers/net/loopback.c: also
  ``eth_header_ops``, ``ARPHRD_LOOPBACK``, frames built by ``eth_header`` with
  all-zero MAC addresses) present a 14-byte Ethernet header at offset 0.
* Devices without header_ops — tun in IFF_TUN mode (drivers/net/tun.c:
  ``hard_header_len`` 0, ``ARPHRD_NONE``), ipip/sit/most tunnels, PPP, raw-IP
  modems — present the IP header at offset 0; ``skb->protocol`` still carries
  ETH_P_IP / ETH_P_IPV6.

A capture file records the frame as its link type describes it, which is not
always what a packet socket on the original device saw.  pybpf offers three
presentation modes (see docs/capture-link-types.md):

``"ethernet"`` (default)
    Every frame starts with a 14-byte Ethernet header, so that programs written
    for Ethernet (``LD_ABS ETH_HLEN + ...``, the seed's sockex1/sockex2) work on
    any capture.  Ethernet frames are unchanged.  For other link types pybpf
    synthesises the header the way ``eth_header()`` builds it on ``lo``: zero
    MAC addresses (the source MAC from an SLL/SLL2 address when it has 6
    bytes, the destination ff:ff:ff:ff:ff:ff for broadcast SLL packets) and the
    EtherType of the packet.  This is byte-for-byte what a packet socket on
    ``lo`` shows for the same IP packet.
``"device"``
    What a SOCK_RAW packet socket on the capturing device showed: raw-IP
    captures (tun-like devices) present the IP header at offset 0; SLL/SLL2
    captures whose ARPHRD type has an Ethernet header (ETHER, LOOPBACK) get it
    rebuilt as in ``"ethernet"`` mode, header-less types get L3 at offset 0;
    null/loop captures (BSD loopback) get the Linux ``lo`` Ethernet header.
``"raw"``
    The bytes exactly as stored in the file, capture pseudo-header included.

In every mode the packet-socket metadata the kernel keeps beside the bytes —
``skb->protocol``, ``skb->pkt_type``, the ARPHRD type and the network-header
offset — comes from the capture (SLL's protocol and packet type are kept).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

# --- link types (https://www.tcpdump.org/linktypes.html) ---
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_DLT_RAW1 = 12  # DLT_RAW on most BSDs and Linux
LINKTYPE_DLT_RAW2 = 14  # DLT_RAW on OpenBSD
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

LINKTYPE_NAMES = {
    LINKTYPE_NULL: "NULL",
    LINKTYPE_ETHERNET: "EN10MB",
    LINKTYPE_DLT_RAW1: "RAW",
    LINKTYPE_DLT_RAW2: "RAW",
    LINKTYPE_RAW: "RAW",
    LINKTYPE_LOOP: "LOOP",
    LINKTYPE_LINUX_SLL: "LINUX_SLL",
    LINKTYPE_IPV4: "IPV4",
    LINKTYPE_IPV6: "IPV6",
    LINKTYPE_LINUX_SLL2: "LINUX_SLL2",
}
RAW_IP_LINKTYPES = frozenset(
    {LINKTYPE_DLT_RAW1, LINKTYPE_DLT_RAW2, LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6}
)
SUPPORTED_LINKTYPES = frozenset(LINKTYPE_NAMES)

# --- EtherTypes / skb->protocol (include/uapi/linux/if_ether.h) ---
ETH_HLEN = 14
ETH_ALEN = 6
ETH_P_802_3 = 0x0001
ETH_P_802_2 = 0x0004
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ETH_P_IPV6 = 0x86DD
ETH_P_802_3_MIN = 0x0600

# --- device types, dev->type (include/uapi/linux/if_arp.h) ---
ARPHRD_ETHER = 1
ARPHRD_PPP = 512
ARPHRD_RAWIP = 519
ARPHRD_TUNNEL = 768
ARPHRD_TUNNEL6 = 769
ARPHRD_LOOPBACK = 772
ARPHRD_SIT = 776
ARPHRD_IPGRE = 778
ARPHRD_IP6GRE = 823
ARPHRD_NONE = 0xFFFE
ARPHRD_VOID = 0xFFFF

#: Device types whose link header is an Ethernet header built by eth_header_ops.
ETHERNET_HEADER_HATYPES = frozenset({ARPHRD_ETHER, ARPHRD_LOOPBACK})

# --- sk_buff pkt_type (include/uapi/linux/if_packet.h) ---
PACKET_HOST = 0
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3
PACKET_OUTGOING = 4

#: Address families a BSD null/loop header may carry for IPv6 (NetBSD/OpenBSD,
#: FreeBSD, Darwin, Linux).
_AF_INET = 2
_AF_INET6_VALUES = frozenset({24, 28, 30, 10})

MODES = ("ethernet", "device", "raw")

_BROADCAST_MAC = b"\xff" * 6
_ZERO_MAC = bytes(6)
_ETHERTYPE = struct.Struct("!H")
_SLL = struct.Struct("!HHH8sH")
_SLL2 = struct.Struct("!HHIHBB8s")


class Presented(NamedTuple):
    """A frame as a program sees it plus the metadata a packet socket keeps.

    ``orig_delta`` is added to the capture's original length so that
    ``orig_len - len(data)`` stays the number of bytes the capture dropped.
    """

    data: bytes
    protocol: int
    pkt_type: int
    hatype: int
    mac_len: int
    orig_delta: int
    ifindex: int = 0


def ip_protocol(data: bytes | memoryview, offset: int = 0) -> int:
    """skb->protocol for a raw IP packet, from the version nibble (tun.c does the same)."""
    if len(data) <= offset:
        return 0
    version = data[offset] >> 4
    if version == 4:
        return ETH_P_IP
    if version == 6:
        return ETH_P_IPV6
    return 0


def eth_protocol(frame: bytes | memoryview) -> int:
    """skb->protocol as eth_type_trans() (net/ethernet/eth.c) derives it."""
    if len(frame) < ETH_HLEN:
        return 0
    proto = (frame[12] << 8) | frame[13]
    if proto >= ETH_P_802_3_MIN:
        return proto
    # Novell raw 802.3 frames carry 0xFFFF where the 802.2 LLC header would be.
    if len(frame) >= ETH_HLEN + 2 and frame[14] == 0xFF and frame[15] == 0xFF:
        return ETH_P_802_3
    return ETH_P_802_2


def eth_pkt_type(frame: bytes | memoryview) -> int:
    """skb->pkt_type from the destination MAC, as eth_type_trans() sets it.

    The receiving device's own address is unknown for a capture, so a unicast
    frame is taken as addressed to us (PACKET_HOST).
    """
    if len(frame) < ETH_ALEN or not frame[0] & 1:
        return PACKET_HOST
    if bytes(frame[:ETH_ALEN]) == _BROADCAST_MAC:
        return PACKET_BROADCAST
    return PACKET_MULTICAST


def eth_header(
    protocol: int, payload_len: int, *, src: bytes = _ZERO_MAC, dst: bytes = _ZERO_MAC
) -> bytes:
    """A 14-byte Ethernet header as eth_header() would build it.

    ETH_P_802_3 / ETH_P_802_2 frames are written with a length field, as on the
    wire, so that eth_protocol() recovers the same skb->protocol; an unknown
    protocol (0) is written as 0.
    """
    if protocol in (ETH_P_802_3, ETH_P_802_2):
        protocol = min(payload_len, ETH_P_802_3_MIN - 1)
    return dst + src + _ETHERTYPE.pack(protocol & 0xFFFF)


def _multicast_mac(protocol: int, l3: bytes) -> bytes:
    """The destination MAC an IP multicast packet had (RFC 1112 s6.4, RFC 2464 s7)."""
    if protocol == ETH_P_IP and len(l3) >= 20:
        return bytes((0x01, 0x00, 0x5E, l3[17] & 0x7F, l3[18], l3[19]))
    if protocol == ETH_P_IPV6 and len(l3) >= 40:
        return b"\x33\x33" + bytes(l3[36:40])
    return _ZERO_MAC


def _cooked_dst(pkt_type: int, protocol: int, l3: bytes) -> bytes:
    if pkt_type == PACKET_BROADCAST:
        return _BROADCAST_MAC
    if pkt_type == PACKET_MULTICAST:
        return _multicast_mac(protocol, l3)
    return _ZERO_MAC


def _null_family(header: bytes, big_endian: bool) -> int:
    if big_endian:
        return int.from_bytes(header, "big")
    family = int.from_bytes(header, "little")
    # The header is in the capturing host's byte order; a big-endian writer
    # leaves the low bytes (read little-endian) in the upper half.
    if family & 0xFFFF0000:
        family = int.from_bytes(header, "big")
    return family


def _l3_frame(
    mode: str,
    full: bytes,
    hlen: int,
    protocol: int,
    pkt_type: int,
    hatype: int,
    *,
    src: bytes = _ZERO_MAC,
    dst: bytes = _ZERO_MAC,
    ethernet_device: bool = True,
    ifindex: int = 0,
) -> Presented:
    """Present a frame that has a ``hlen``-byte pseudo-header before its L3 packet."""
    if mode == "raw":
        return Presented(full, protocol, pkt_type, hatype, hlen, 0, ifindex)
    l3 = full[hlen:]
    if mode == "device" and not ethernet_device:
        return Presented(l3, protocol, pkt_type, hatype, 0, -hlen, ifindex)
    frame = eth_header(protocol, len(l3), src=src, dst=dst) + l3
    return Presented(frame, protocol, pkt_type, hatype, ETH_HLEN, ETH_HLEN - hlen, ifindex)


def present(linktype: int, data: bytes, mode: str = "ethernet") -> Presented:
    """Turn one captured frame of ``linktype`` into what a packet socket's program sees.

    Unknown link types are passed through unchanged with protocol 0.  Frames too
    short for their pseudo-header are passed through unchanged (a truncated
    capture is still a packet a filter must survive).
    """
    if linktype == LINKTYPE_ETHERNET:
        return Presented(data, eth_protocol(data), eth_pkt_type(data), ARPHRD_ETHER, ETH_HLEN, 0)
    if mode not in MODES:
        raise ValueError(f"presentation mode must be one of {MODES}, not {mode!r}")
    if linktype in RAW_IP_LINKTYPES:
        if linktype == LINKTYPE_IPV4:
            proto = ETH_P_IP
        elif linktype == LINKTYPE_IPV6:
            proto = ETH_P_IPV6
        else:
            proto = ip_protocol(data)
        return _l3_frame(mode, data, 0, proto, PACKET_HOST, ARPHRD_NONE, ethernet_device=False)
    if linktype == LINKTYPE_LINUX_SLL and len(data) >= _SLL.size:
        pkt_type, hatype, halen, addr, proto = _SLL.unpack_from(data)
        return _cooked(mode, data, _SLL.size, proto, pkt_type, hatype, halen, addr, 0)
    if linktype == LINKTYPE_LINUX_SLL2 and len(data) >= _SLL2.size:
        proto, _res, ifindex, hatype, pkt_type, halen, addr = _SLL2.unpack_from(data)
        return _cooked(mode, data, _SLL2.size, proto, pkt_type, hatype, halen, addr, ifindex)
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP) and len(data) >= 4:
        family = _null_family(data[:4], linktype == LINKTYPE_LOOP)
        if family == _AF_INET:
            proto = ETH_P_IP
        elif family in _AF_INET6_VALUES:
            proto = ETH_P_IPV6
        else:
            proto = 0
        # Linux's own loopback device is an Ethernet-header device (loopback.c),
        # so "device" mode gives the same header as "ethernet" mode.
        return _l3_frame(mode, data, 4, proto, PACKET_HOST, ARPHRD_LOOPBACK)
    return Presented(data, 0, PACKET_HOST, ARPHRD_VOID, 0, 0)


def _cooked(
    mode: str,
    data: bytes,
    hlen: int,
    proto: int,
    pkt_type: int,
    hatype: int,
    halen: int,
    addr: bytes,
    ifindex: int,
) -> Presented:
    """SLL / SLL2: libpcap's cooked header written from a packet socket's sockaddr_ll."""
    src = addr[:ETH_ALEN] if halen == ETH_ALEN else _ZERO_MAC
    l3 = data[hlen:]
    dst = _cooked_dst(pkt_type, proto, l3)
    return _l3_frame(
        mode,
        data,
        hlen,
        proto,
        pkt_type,
        hatype,
        src=src,
        dst=dst,
        ethernet_device=hatype in ETHERNET_HEADER_HATYPES,
        ifindex=ifindex,
    )


def skb_vlan_untag(frame: bytes) -> tuple[bytes, int, int] | None:
    """Strip the outer 802.1Q/802.1ad tag as the receive path does before taps.

    __netif_receive_skb_core() (net/core/dev.c) calls skb_vlan_untag() before
    delivering to packet sockets, so on a real receive a packet socket sees the
    frame without its outer tag and the tag in skb->vlan_proto/vlan_tci.
    Returns (frame, vlan_proto, vlan_tci) or None when the frame is untagged.
    """
    if len(frame) < ETH_HLEN + 4:
        return None
    tpid = (frame[12] << 8) | frame[13]
    if tpid not in (ETH_P_8021Q, ETH_P_8021AD):
        return None
    tci = (frame[14] << 8) | frame[15]
    return frame[:12] + frame[16:], tpid, tci


def linktype_name(linktype: int) -> str:
    return LINKTYPE_NAMES.get(linktype, f"LINKTYPE_{linktype}")
