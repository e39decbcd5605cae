/* <bpf_net.h>: pybpf's one-include convenience for packet-parsing programs.
 *
 * <bpf_helpers.h> plus the protocol headers eBPF programs parse
 * (<linux/ip.h>, ipv6.h, udp.h, tcp.h, icmp.h), and the two on-the-wire
 * headers the kernel keeps out of its uapi: the 802.1Q tag and GRE's fixed part.
 */
#ifndef __PYBPF_BPF_NET_H
#define __PYBPF_BPF_NET_H

#include "bpf_helpers.h"
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <linux/icmp.h>

/* an 802.1Q / 802.1ad tag as it follows the MAC addresses' ethertype
 * (include/linux/if_vlan.h) */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

/* the fixed part of a GRE header (RFC 2784/2890): flags+version, protocol */
struct gre_hdr {
	__be16 flags;
	__be16 proto;
};

#endif /* __PYBPF_BPF_NET_H */
