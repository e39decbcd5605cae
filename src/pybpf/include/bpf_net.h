/* bpf_net.h - written for pybpf: on-the-wire protocol headers for eBPF programs.
 *
 * Layouts as in include/uapi/linux/{if_ether,ip,ipv6,udp,tcp,icmp}.h for a
 * little-endian target (bitfields low nibble first).  Multi-byte fields are in
 * network byte order.
 */
#ifndef __PYBPF_BPF_NET_H
#define __PYBPF_BPF_NET_H

#include "bpf_helpers.h"

struct ethhdr {
	unsigned char h_dest[ETH_ALEN];
	unsigned char h_source[ETH_ALEN];
	__be16 h_proto;
} __attribute__((packed));

/* an 802.1Q / 802.1ad tag as it follows the MAC addresses' ethertype */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

struct iphdr {
	__u8 ihl:4, version:4;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be16 u6_addr16[8];
		__be32 u6_addr32[4];
	} in6_u;
};

struct ipv6hdr {
	__u8 priority:4, version:4;
	__u8 flow_lbl[3];
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	struct in6_addr saddr;
	struct in6_addr daddr;
};

struct udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__sum16 check;
};

struct tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u16 res1:4, doff:4, fin:1, syn:1, rst:1, psh:1, ack:1, urg:1, ece:1, cwr:1;
	__be16 window;
	__sum16 check;
	__be16 urg_ptr;
};

struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 un;
};

/* the fixed part of a GRE header (RFC 2784/2890): flags+version, protocol */
struct gre_hdr {
	__be16 flags;
	__be16 proto;
};

#endif /* __PYBPF_BPF_NET_H */
