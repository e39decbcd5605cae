// SPDX-License-Identifier: GPL-2.0
/* An XDP program in the style of libbpf: drop TCP and UDP traffic to one port, answer
 * ICMP and ICMPv6 echo requests at once with XDP_TX, let everything else pass.
 *
 * The reply is the request turned round in place: Ethernet and IP addresses swapped,
 * TTL (hop limit) reset, the echo type changed, and the checksums fixed — the IPv4
 * header checksum recomputed with bpf_csum_diff(), the ICMP and ICMPv6 checksums
 * updated incrementally (RFC 1624; an address swap leaves a pseudo-header sum as it
 * was).
 *
 * Maps: `xdp_actions` counts packets per action (index = the XDP action), `dropped`
 * counts the packets dropped per (IP version, protocol) pair.
 *
 *     pybpf run examples/xdp_firewall_kern.c --pcap tests/data/pcaps/*.pcap* \
 *         --write-pcap /tmp/out.pcapng
 *     python examples/xdp_firewall_user.py --pcap tests/data/pcaps/e1000g.pcap
 */
#include <linux/bpf.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef BLOCKED_PORT
#define BLOCKED_PORT 53 /* DNS: the shipped captures have some */
#endif
#define TTL 64

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 5); /* XDP_ABORTED .. XDP_REDIRECT */
} xdp_actions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32); /* IP version << 8 | protocol */
	__type(value, __u64);
	__uint(max_entries, 16);
} dropped SEC(".maps");

static __always_inline int count(__u32 action)
{
	__u64 *n = bpf_map_lookup_elem(&xdp_actions, &action);

	if (n)
		__sync_fetch_and_add(n, 1);
	return action;
}

static __always_inline int drop(__u32 version, __u32 proto)
{
	__u32 key = version << 8 | proto;
	__u64 one = 1, *n = bpf_map_lookup_elem(&dropped, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&dropped, &key, &one, BPF_NOEXIST);
	return count(XDP_DROP);
}

/* fold a 32-bit sum to the 16-bit one's complement checksum */
static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* RFC 1624: the checksum after one 16-bit word of the data changed from `old` to `new` */
static __always_inline __u16 csum_replace2(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + new;

	return csum_fold(sum);
}

static __always_inline void swap_mac(struct ethhdr *eth)
{
	unsigned char tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
}

static __always_inline int blocked(void *l4, void *end, __u8 proto)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		return (void *)(tcp + 1) <= end && tcp->dest == bpf_htons(BLOCKED_PORT);
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		return (void *)(udp + 1) <= end && udp->dest == bpf_htons(BLOCKED_PORT);
	}
	return 0;
}

static __always_inline int ipv4(struct xdp_md *ctx, struct ethhdr *eth, void *end)
{
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > end || ip->ihl < 5)
		return count(XDP_PASS);
	if (ip->frag_off & bpf_htons(0x1fff)) /* not the first fragment: no L4 header */
		return count(XDP_PASS);
	void *l4 = (void *)ip + ip->ihl * 4;

	if (blocked(l4, end, ip->protocol))
		return drop(4, ip->protocol);
	if (ip->protocol != IPPROTO_ICMP || ip->ihl != 5)
		return count(XDP_PASS);
	struct icmphdr *icmp = l4;

	if ((void *)(icmp + 1) > end || icmp->type != ICMP_ECHO || icmp->code)
		return count(XDP_PASS);

	__u16 old = *(__u16 *)icmp;

	icmp->type = ICMP_ECHOREPLY;
	icmp->checksum = csum_replace2(icmp->checksum, old, *(__u16 *)icmp);

	__be32 addr = ip->saddr;

	ip->saddr = ip->daddr;
	ip->daddr = addr;
	ip->ttl = TTL;
	ip->check = 0;
	ip->check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(*ip), 0));
	swap_mac(eth);
	return count(XDP_TX);
}

static __always_inline int ipv6(struct xdp_md *ctx, struct ethhdr *eth, void *end)
{
	struct ipv6hdr *ip6 = (void *)(eth + 1);

	if ((void *)(ip6 + 1) > end)
		return count(XDP_PASS);
	void *l4 = ip6 + 1; /* extension headers are not followed */

	if (blocked(l4, end, ip6->nexthdr))
		return drop(6, ip6->nexthdr);
	if (ip6->nexthdr != IPPROTO_ICMPV6)
		return count(XDP_PASS);
	struct icmp6hdr *icmp6 = l4;

	if ((void *)(icmp6 + 1) > end || icmp6->icmp6_type != ICMPV6_ECHO_REQUEST ||
	    icmp6->icmp6_code)
		return count(XDP_PASS);

	__u16 old = *(__u16 *)icmp6;

	icmp6->icmp6_type = ICMPV6_ECHO_REPLY;
	icmp6->icmp6_cksum = csum_replace2(icmp6->icmp6_cksum, old, *(__u16 *)icmp6);

	struct in6_addr addr = ip6->saddr;

	ip6->saddr = ip6->daddr;
	ip6->daddr = addr;
	ip6->hop_limit = TTL;
	swap_mac(eth);
	return count(XDP_TX);
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return count(XDP_PASS);
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return ipv4(ctx, eth, end);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return ipv6(ctx, eth, end);
	return count(XDP_PASS);
}

char _license[] SEC("license") = "GPL";
