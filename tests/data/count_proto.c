/* count_proto: packets and bytes per IP protocol -- a socket filter written the
 * way libbpf's documentation and the kernel's samples write one, compiled by
 * `pybpf cc` with nothing but pybpf's own headers.
 *
 *   pybpf cc count_proto.c -o count_proto.o
 *   pybpf run count_proto.o --pcap capture.pcap
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(max_entries, 256);
} counts SEC(".maps");

SEC("socket")
int count_proto(struct __sk_buff *skb)
{
	__u8 proto = 0;
	__u32 key;
	struct counter *c;

	if (skb->pkt_type == PACKET_OUTGOING)
		return 0;
	switch (skb->protocol) {
	case bpf_htons(ETH_P_IP):
		if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, protocol), &proto, 1))
			return 0;
		break;
	case bpf_htons(ETH_P_IPV6):
		if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct ipv6hdr, nexthdr), &proto, 1))
			return 0;
		break;
	default:
		return 0;
	}
	key = proto;
	c = bpf_map_lookup_elem(&counts, &key);
	if (c) {
		__sync_fetch_and_add(&c->packets, 1);
		__sync_fetch_and_add(&c->bytes, skb->len);
	}
	return skb->len;
}

char _license[] SEC("license") = "GPL";
