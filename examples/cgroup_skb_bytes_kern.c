// SPDX-License-Identifier: GPL-2.0
/* A cgroup_skb program in the style of libbpf: count the packets and bytes a cgroup's
 * sockets receive, per IP version and transport protocol, and let everything through.
 *
 * The program sees each packet from its network header (skb->data), reads the IP
 * header through the packet pointers and adds skb->len to a per-CPU-free HASH map
 * keyed by (version << 8 | protocol); non-IP traffic is counted under key 0.
 *
 *     pybpf run examples/cgroup_skb_bytes_kern.c --pcap tests/data/pcaps/*.pcap*
 *     python examples/cgroup_skb_bytes_user.py --pcap tests/data/pcaps/dns_udp.pcap
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct traffic {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32); /* IP version << 8 | protocol; 0 for anything else */
	__type(value, struct traffic);
	__uint(max_entries, 64);
} traffic SEC(".maps");

SEC("cgroup_skb/ingress")
int count_bytes(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 key = 0;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) <= end)
			key = 4 << 8 | ip->protocol;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) <= end)
			key = 6 << 8 | ip6->nexthdr;
	}
	struct traffic *t = bpf_map_lookup_elem(&traffic, &key);

	if (t) {
		__sync_fetch_and_add(&t->packets, 1);
		__sync_fetch_and_add(&t->bytes, skb->len);
	} else {
		struct traffic first = {1, skb->len};

		bpf_map_update_elem(&traffic, &key, &first, BPF_NOEXIST);
	}
	return 1;
}

char _license[] SEC("license") = "GPL";
