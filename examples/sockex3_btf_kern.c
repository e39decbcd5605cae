/* sockex3_btf: the flow counter in today's style.
 *
 * What changed since 3.19, and what this example shows:
 *   - maps are defined with BTF in ".maps" (__uint/__type), so their key and
 *     value types travel with the object and a reader can print values by type;
 *   - the program reads struct __sk_buff fields: pkt_type (outgoing packets are
 *     skipped) and len (bytes are counted next to packets);
 *   - packet bytes are copied with bpf_skb_load_bytes() instead of LD_ABS, which
 *     also allows a real sub-program (a BPF-to-BPF call, placed in .text);
 *   - global variables: a read-only tunable in .rodata and a counter in .bss,
 *     which the loader turns into single-element ARRAY maps.
 * The map: destination IPv4 address (network byte order, as in the header)
 * -> struct flow_stats {packets, bytes}.
 */
#include <bpf_net.h>

struct flow_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __be32);
	__type(value, struct flow_stats);
	__uint(max_entries, 1024);
} flows SEC(".maps");

/* packets shorter than this are ignored; set before load (frozen .rodata) */
const volatile __u32 min_len = 0;
/* every IPv4 packet the program counted, visible to user space through .bss */
__u64 ipv4_packets = 0;

/* Destination address of the IPv4 packet in skb, 0 if it is not IPv4. */
static __noinline __be32 ipv4_destination(struct __sk_buff *skb)
{
	struct vlan_hdr tag;
	struct iphdr ip;
	__be16 proto;
	__u32 off = ETH_HLEN;

	if (bpf_skb_load_bytes(skb, offsetof(struct ethhdr, h_proto), &proto, sizeof(proto)))
		return 0;
	if (proto == bpf_htons(ETH_P_8021AD)) {
		if (bpf_skb_load_bytes(skb, off, &tag, sizeof(tag)))
			return 0;
		proto = tag.h_vlan_encapsulated_proto;
		off += sizeof(tag);
	}
	if (proto == bpf_htons(ETH_P_8021Q)) {
		if (bpf_skb_load_bytes(skb, off, &tag, sizeof(tag)))
			return 0;
		proto = tag.h_vlan_encapsulated_proto;
		off += sizeof(tag);
	}
	if (proto != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
		return 0;
	if (ip.version != 4)
		return 0;
	return ip.daddr;
}

SEC("socket")
int flow_bytes(struct __sk_buff *skb)
{
	struct flow_stats *st, init;
	__be32 dst;

	if (skb->pkt_type == PACKET_OUTGOING || skb->len < min_len)
		return 0;
	dst = ipv4_destination(skb);
	if (!dst)
		return 0;
	__sync_fetch_and_add(&ipv4_packets, 1);

	st = bpf_map_lookup_elem(&flows, &dst);
	if (st) {
		__sync_fetch_and_add(&st->packets, 1);
		__sync_fetch_and_add(&st->bytes, skb->len);
	} else {
		init.packets = 1;
		init.bytes = skb->len;
		bpf_map_update_elem(&flows, &dst, &init, BPF_NOEXIST);
	}
	return skb->len;
}

char _license[] SEC("license") = "GPL";
