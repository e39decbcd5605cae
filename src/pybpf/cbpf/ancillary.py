"""What classic BPF's ancillary loads read from an sk_buff, for pybpf's model sk_buff.

Most ancillaries are plain sk_buff fields (protocol, pkt_type, mark, queue
mapping, hash, vlan tag, device index and type); :func:`value` reads them
from a :class:`pybpf.net.skb.SkBuff`. Three are kernel functions, modelled
here:

* ``SKF_AD_PAY_OFFSET`` — ``skb_get_poff()`` (net/core/flow_dissector.c): the
  flow dissector's transport offset plus the transport header's length.
  :func:`skb_get_poff` follows ``__skb_flow_dissect`` for Ethernet frames of
  IPv4 (options, fragments), IPv6 (hop-by-hop, routing, destination-options
  and fragment headers), 802.1Q/802.1ad tags (in the packet or in
  ``skb->vlan_*``), PPPoE sessions, ARP/RARP, MPLS, IP-in-IP, IPv6-in-IP and
  version-0 GRE, and ``__skb_get_poff`` for TCP (its data offset), UDP,
  UDP-Lite, ICMP, ICMPv6, IGMP, DCCP and SCTP. EtherTypes the kernel
  dissects in ways not modelled here (TIPC addresses, FCoE, BATMAN, HSR/PRP,
  CFM, 1588) raise NotSupportedError rather than guess; other EtherTypes
  dissect to nothing (0), as in the kernel.
* ``SKF_AD_NLATTR`` / ``SKF_AD_NLATTR_NEST`` — ``bpf_skb_get_nlattr[_nest]``
  (net/core/filter.c): the offset of netlink attribute type X in the
  attribute stream at offset A (or nested inside the attribute at A).

The device type (``SKF_AD_HATYPE``) is ``skb.hatype`` when the sk_buff
carries one, else ARPHRD_ETHER (pybpf's sk_buffs come from Ethernet devices
unless their capture says otherwise).
"""

from __future__ import annotations

import errno as E
from typing import Any

from ..errors import NotSupportedError
from .insn import (
    SKF_AD_CPU,
    SKF_AD_HATYPE,
    SKF_AD_IFINDEX,
    SKF_AD_MARK,
    SKF_AD_NLATTR,
    SKF_AD_NLATTR_NEST,
    SKF_AD_PAY_OFFSET,
    SKF_AD_PKTTYPE,
    SKF_AD_PROTOCOL,
    SKF_AD_QUEUE,
    SKF_AD_RANDOM,
    SKF_AD_RXHASH,
    SKF_AD_VLAN_TAG,
    SKF_AD_VLAN_TAG_PRESENT,
    SKF_AD_VLAN_TPID,
)

__all__ = ["ARPHRD_ETHER", "dev_type", "nla_find", "skb_get_nlattr", "skb_get_nlattr_nest",
           "skb_get_poff", "value"]  # fmt: skip

ARPHRD_ETHER = 1

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_ARP = 0x0806
ETH_P_RARP = 0x8035
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ETH_P_PPP_SES = 0x8864
ETH_P_MPLS_UC = 0x8847
ETH_P_MPLS_MC = 0x8848
ETH_P_TEB = 0x6558
#: EtherTypes __skb_flow_dissect treats specially in ways pybpf does not model
_UNMODELLED = {
    0x88CA: "TIPC",
    0x8906: "FCoE",
    0x4305: "BATMAN",
    0x892F: "HSR",
    0x88FB: "PRP",
    0x8902: "CFM",
    0x88F7: "IEEE 1588",
}

IPPROTO_HOPOPTS = 0
IPPROTO_ICMP = 1
IPPROTO_IGMP = 2
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_DCCP = 33
IPPROTO_IPV6 = 41
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_GRE = 47
IPPROTO_ICMPV6 = 58
IPPROTO_DSTOPTS = 60
IPPROTO_SCTP = 132
IPPROTO_UDPLITE = 136
IPPROTO_MPLS = 137

#: transport header sizes __skb_get_poff adds (tcp: at least 20, else its data offset)
_L4_HLEN = {
    IPPROTO_UDP: 8,
    IPPROTO_UDPLITE: 8,
    IPPROTO_ICMP: 8,
    IPPROTO_ICMPV6: 8,
    IPPROTO_IGMP: 8,
    IPPROTO_DCCP: 12,
    IPPROTO_SCTP: 12,
}
#: MAX_FLOW_DISSECT_HDRS (net/core/flow_dissector.c)
MAX_FLOW_DISSECT_HDRS = 15


def _u8(skb: Any, off: int) -> int | None:
    b = skb.header_pointer(off, 1)
    return None if b is None else b[0]


def _be16(skb: Any, off: int) -> int | None:
    b = skb.header_pointer(off, 2)
    return None if b is None else (b[0] << 8) | b[1]


class _Keys:
    __slots__ = ("thoff", "ip_proto", "fragment", "first_frag")

    def __init__(self) -> None:
        self.thoff = 0
        self.ip_proto = 0
        self.fragment = False
        self.first_frag = False


def _dissect(skb: Any) -> _Keys | None:
    """__skb_flow_dissect with the basic keys and no flags: None when it fails."""
    keys = _Keys()
    nhoff = skb.network_offset
    proto = skb.vlan_proto if skb.vlan_present else skb.protocol
    vlan_accel_seen = False
    ip_proto = 0
    hdrs = -1  # the headers dissected again so far (skb_flow_dissect_allowed)
    state = "proto"
    while True:
        hdrs += 1
        if hdrs > MAX_FLOW_DISSECT_HDRS:
            break  # FLOW_DISSECT_RET_OUT_GOOD
        if state == "proto":
            state = "out_good"
            if proto == ETH_P_IP:
                b0 = _u8(skb, nhoff)
                hdr = skb.header_pointer(nhoff, 20)
                if hdr is None or b0 is None or b0 & 0xF < 5:
                    return None
                ihl = b0 & 0xF
                ip_proto = hdr[9]
                frag_off = (hdr[6] << 8) | hdr[7]
                nhoff += ihl * 4
                if frag_off & 0x3FFF:  # ip_is_fragment: MF or an offset
                    keys.fragment = True
                    if not frag_off & 0x1FFF:
                        keys.first_frag = True
                    break  # no FLOW_DISSECTOR_F_PARSE_1ST_FRAG: stop here
                state = "ipproto"
            elif proto == ETH_P_IPV6:
                hdr = skb.header_pointer(nhoff, 40)
                if hdr is None:
                    return None
                ip_proto = hdr[6]
                nhoff += 40
                state = "ipproto"
            elif proto in (ETH_P_8021Q, ETH_P_8021AD):
                if skb.vlan_present and not vlan_accel_seen:
                    proto = skb.protocol
                    vlan_accel_seen = True
                else:
                    vlan_accel_seen = True
                    inner = _be16(skb, nhoff + 2)
                    if inner is None:
                        return None
                    proto = inner
                    nhoff += 4
                state = "proto"
            elif proto == ETH_P_PPP_SES:
                hdr = skb.header_pointer(nhoff, 8)
                if hdr is None:
                    return None
                if hdr[0] != 0x11 or hdr[1] != 0:  # is_pppoe_ses_hdr_valid: ver 1 type 1 code 0
                    return None
                # the 16-bit PPP protocol (Linux 6.18 does not take a compressed
                # one-byte protocol: checked against the kernel)
                ppp = (hdr[6] << 8) | hdr[7]
                nhoff += 8
                if ppp == 0x21:
                    proto = ETH_P_IP
                elif ppp == 0x57:
                    proto = ETH_P_IPV6
                elif ppp == 0x281:
                    proto = ETH_P_MPLS_UC
                else:
                    return None
                state = "proto"
            elif proto in (ETH_P_MPLS_UC, ETH_P_MPLS_MC):
                if skb.header_pointer(nhoff, 4) is None:
                    return None
                nhoff += 4
                break
            elif proto in (ETH_P_ARP, ETH_P_RARP):
                break
            elif proto in _UNMODELLED:
                raise NotSupportedError(
                    f"the flow dissector's handling of {_UNMODELLED[proto]} frames "
                    f"(EtherType {proto:#06x}) is not modelled: SKF_AD_PAY_OFFSET unknown",
                    errno=E.EOPNOTSUPP,
                )
            else:
                return None
        else:  # "ipproto"
            state = "out_good"
            if ip_proto in (IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS):
                if proto != ETH_P_IPV6:
                    break
                opt = skb.header_pointer(nhoff, 2)
                if opt is None:
                    return None
                ip_proto = opt[0]
                nhoff += (opt[1] + 1) << 3
                state = "ipproto"
            elif ip_proto == IPPROTO_FRAGMENT:
                if proto != ETH_P_IPV6:
                    break
                fh = skb.header_pointer(nhoff, 8)
                if fh is None:
                    return None
                keys.fragment = True
                nhoff += 8
                ip_proto = fh[0]
                if not ((fh[2] << 8) | fh[3]) & 0xFFF8:
                    keys.first_frag = True
                break
            elif ip_proto == IPPROTO_IPIP:
                proto, state = ETH_P_IP, "proto"
            elif ip_proto == IPPROTO_IPV6:
                proto, state = ETH_P_IPV6, "proto"
            elif ip_proto == IPPROTO_MPLS:
                proto, state = ETH_P_MPLS_UC, "proto"
            elif ip_proto == IPPROTO_GRE:
                res = _gre(skb, nhoff)
                if res is None:
                    return None
                if res[0] == "good":
                    break
                _, proto, nhoff = res
                state = "proto"
        if state == "out_good":
            break
    keys.thoff = min(nhoff, skb.len)
    keys.ip_proto = ip_proto
    return keys


def _gre(skb: Any, nhoff: int) -> tuple[Any, ...] | None:
    """__skb_flow_dissect_gre: ("good",) to stop, ("again", proto, nhoff), None when bad."""
    hdr = skb.header_pointer(nhoff, 4)
    if hdr is None:
        return None
    flags = (hdr[0] << 8) | hdr[1]
    if flags & 0x4000:  # GRE_ROUTING
        return ("good",)
    ver = flags & 0x0007
    if ver > 1:
        return ("good",)
    if ver == 1:
        raise NotSupportedError(
            "the flow dissector's PPTP (GRE version 1) handling is not modelled: "
            "SKF_AD_PAY_OFFSET unknown",
            errno=E.EOPNOTSUPP,
        )
    proto = (hdr[2] << 8) | hdr[3]
    off = 4
    if flags & 0x8000:  # GRE_CSUM
        off += 4
    if flags & 0x2000:  # GRE_KEY
        if skb.header_pointer(nhoff + off, 4) is None:
            return None
        off += 4
    if flags & 0x1000:  # GRE_SEQ
        off += 4
    if proto == ETH_P_TEB:
        eth = skb.header_pointer(nhoff + off, 14)
        if eth is None:
            return None
        proto = (eth[12] << 8) | eth[13]
        off += 14
    return ("again", proto, nhoff + off)


def skb_get_poff(skb: Any) -> int:
    """skb_get_poff(): where the payload starts, as SKF_AD_PAY_OFFSET reports it (0: unknown)."""
    keys = _dissect(skb)
    if keys is None:
        return 0
    poff = keys.thoff
    if keys.fragment and not keys.first_frag:
        return poff
    p = keys.ip_proto
    if p == IPPROTO_TCP:
        doff = _u8(skb, poff + 12)
        if doff is None:
            return poff
        return poff + max(20, (doff & 0xF0) >> 2)
    return poff + _L4_HLEN.get(p, 0)


# --- netlink attributes (bpf_skb_get_nlattr, bpf_skb_get_nlattr_nest) ------------------------
NLA_HDRLEN = 4
NLA_TYPE_MASK = ~((1 << 15) | (1 << 14)) & 0xFFFF


def nla_find(data: bytes, start: int, rem: int, attrtype: int) -> int | None:
    """nla_find(): the offset of the first attribute of ``attrtype`` in ``data[start:start+rem]``."""
    pos = start
    while rem >= NLA_HDRLEN:
        nla_len = int.from_bytes(data[pos : pos + 2], "little")
        if nla_len < NLA_HDRLEN or nla_len > rem:
            return None
        nla_type = int.from_bytes(data[pos + 2 : pos + 4], "little") & NLA_TYPE_MASK
        if nla_type == attrtype:
            return pos
        step = (nla_len + 3) & ~3
        pos += step
        rem -= step
    return None


def skb_get_nlattr(skb: Any, a: int, x: int) -> int:
    """bpf_skb_get_nlattr(skb, A, X): the offset of attribute X in the stream at A, or 0."""
    if skb.frags:
        return 0
    length = skb.len
    if length < NLA_HDRLEN or a > length - NLA_HDRLEN:
        return 0
    data = skb.tobytes()
    off = nla_find(data, a, length - a, x)
    return off or 0


def skb_get_nlattr_nest(skb: Any, a: int, x: int) -> int:
    """bpf_skb_get_nlattr_nest(skb, A, X): attribute X inside the attribute at A, or 0."""
    if skb.frags:
        return 0
    length = skb.len
    if length < NLA_HDRLEN or a > length - NLA_HDRLEN:
        return 0
    data = skb.tobytes()
    nla_len = int.from_bytes(data[a : a + 2], "little")
    if nla_len > length - a:
        return 0
    off = nla_find(data, a + NLA_HDRLEN, nla_len - NLA_HDRLEN, x)
    return off or 0


def dev_type(skb: Any) -> int:
    """skb->dev->type: the sk_buff's ``hatype`` when it has one, else ARPHRD_ETHER."""
    return int(getattr(skb, "hatype", ARPHRD_ETHER))


def value(skb: Any, ad: int, a: int, x: int, cpu: int = 0, rng: Any = None) -> int:
    """The u32 ancillary load ``ad`` (an SKF_AD_* number) gives on ``skb``, with A and X."""
    if ad == SKF_AD_PROTOCOL:
        return skb.protocol & 0xFFFF
    if ad == SKF_AD_PKTTYPE:
        return skb.pkt_type & 7
    if ad == SKF_AD_IFINDEX:
        return skb.ifindex & 0xFFFF_FFFF
    if ad == SKF_AD_MARK:
        return skb.mark & 0xFFFF_FFFF
    if ad == SKF_AD_QUEUE:
        return skb.queue_mapping & 0xFFFF
    if ad == SKF_AD_HATYPE:
        return dev_type(skb) & 0xFFFF
    if ad == SKF_AD_RXHASH:
        return skb.hash & 0xFFFF_FFFF
    if ad == SKF_AD_CPU:
        return cpu & 0xFFFF_FFFF
    if ad == SKF_AD_VLAN_TAG:
        return skb.vlan_tci & 0xFFFF
    if ad == SKF_AD_VLAN_TAG_PRESENT:
        return 1 if skb.vlan_present else 0
    if ad == SKF_AD_VLAN_TPID:
        return skb.vlan_proto & 0xFFFF
    if ad == SKF_AD_PAY_OFFSET:
        return skb_get_poff(skb)
    if ad == SKF_AD_NLATTR:
        return skb_get_nlattr(skb, a, x)
    if ad == SKF_AD_NLATTR_NEST:
        return skb_get_nlattr_nest(skb, a, x)
    if ad == SKF_AD_RANDOM:
        from ..helpers.time import get_prandom_u32

        return get_prandom_u32(None)
    raise ValueError(f"SKF_AD {ad} is not a value load")
