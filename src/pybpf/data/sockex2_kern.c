/* sockex2: flow tracking -- count packets per destination address.
 *
 * The seed's "300-instruction eBPF program": a flow dissector written in
 * restricted C with packet loads only (load_byte/half/word = BPF_LD_ABS, so a
 * read past the end of the packet ends the program with 0 and nothing is
 * counted).  It understands
 *   - one 802.1ad (QinQ outer) tag, then one 802.1Q tag;
 *   - IPv4: fragments are counted as protocol 0, the header length comes from
 *     IHL (20 bytes fast path for 0x45); IPv6: fixed 40-byte header, the
 *     addresses folded to 32 bits by XOR of their words;
 *   - GRE (version 0, no routing): skips checksum, key and sequence words,
 *     an inner 802.1Q tag, and (an extension over the 3.19 sample, as the
 *     kernel's own flow dissector does) transparent Ethernet bridging
 *     (ETH_P_TEB: an inner Ethernet header);
 *   - IP-in-IP and IPv6-in-IP;
 *   - the 4 bytes at the transport header (the ports; 4 further bytes in for AH).
 * The map is a HASH keyed by the destination IPv4 address (__be32, as read by
 * load_word: host order of the big-endian field) whose value is a long packet
 * count -- exactly what the 3.19 sample stored (struct {packets, bytes} values
 * came later; see sockex3_btf_kern.c for that modern form).
 */
#include <bpf_net.h>

struct flow {
	__be32 src;
	__be32 dst;
	__be32 ports;
	__u16 thoff;
	__u8 ip_proto;
};

struct bpf_map_def SEC("maps") dst_count = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__be32),
	.value_size = sizeof(long),
	.max_entries = 1024,
};

/* offset of the port pair after the transport header start */
static __always_inline int ports_offset(__u64 proto)
{
	return proto == IPPROTO_AH ? 4 : 0;
}

static __always_inline __u32 fold_ipv6(void *skb, __u64 off)
{
	return (__u32)(load_word(skb, off) ^ load_word(skb, off + 4) ^
		       load_word(skb, off + 8) ^ load_word(skb, off + 12));
}

/* IPv4 header at nhoff: protocol (0 for a fragment), addresses unless GRE;
 * returns the offset of what follows the header. */
static __always_inline __u64 dissect_ipv4(void *skb, __u64 nhoff, __u64 *proto,
					  volatile struct flow *f)
{
	__u64 vihl;

	if (load_half(skb, nhoff + offsetof(struct iphdr, frag_off)) & (IP_MF | IP_OFFSET))
		*proto = 0;
	else
		*proto = load_byte(skb, nhoff + offsetof(struct iphdr, protocol));

	if (*proto != IPPROTO_GRE) {
		f->src = load_word(skb, nhoff + offsetof(struct iphdr, saddr));
		f->dst = load_word(skb, nhoff + offsetof(struct iphdr, daddr));
	}

	vihl = load_byte(skb, nhoff);	/* version and IHL share the first byte */
	if (vihl == 0x45)
		return nhoff + 20;
	return nhoff + ((vihl & 0xF) << 2);
}

static __always_inline __u64 dissect_ipv6(void *skb, __u64 nhoff, __u64 *proto,
					  volatile struct flow *f)
{
	*proto = load_byte(skb, nhoff + offsetof(struct ipv6hdr, nexthdr));
	f->src = fold_ipv6(skb, nhoff + offsetof(struct ipv6hdr, saddr));
	f->dst = fold_ipv6(skb, nhoff + offsetof(struct ipv6hdr, daddr));
	return nhoff + sizeof(struct ipv6hdr);
}

static __always_inline int dissect(void *skb, volatile struct flow *f)
{
	__u64 nhoff = ETH_HLEN;
	__u64 ethertype = load_half(skb, offsetof(struct ethhdr, h_proto));
	__u64 proto;

	if (ethertype == ETH_P_8021AD) {
		ethertype = load_half(skb, nhoff + offsetof(struct vlan_hdr,
							    h_vlan_encapsulated_proto));
		nhoff += sizeof(struct vlan_hdr);
	}
	if (ethertype == ETH_P_8021Q) {
		ethertype = load_half(skb, nhoff + offsetof(struct vlan_hdr,
							    h_vlan_encapsulated_proto));
		nhoff += sizeof(struct vlan_hdr);
	}

	if (ethertype == ETH_P_IP)
		nhoff = dissect_ipv4(skb, nhoff, &proto, f);
	else if (ethertype == ETH_P_IPV6)
		nhoff = dissect_ipv6(skb, nhoff, &proto, f);
	else
		return 0;

	if (proto == IPPROTO_GRE) {
		__u64 flags = load_half(skb, nhoff + offsetof(struct gre_hdr, flags));
		__u64 inner = load_half(skb, nhoff + offsetof(struct gre_hdr, proto));

		if (!(flags & (GRE_VERSION | GRE_ROUTING))) {
			nhoff += sizeof(struct gre_hdr);
			if (flags & GRE_CSUM)
				nhoff += 4;
			if (flags & GRE_KEY)
				nhoff += 4;
			if (flags & GRE_SEQ)
				nhoff += 4;
			if (inner == ETH_P_TEB) {
				inner = load_half(skb, nhoff + offsetof(struct ethhdr, h_proto));
				nhoff += ETH_HLEN;
			}
			if (inner == ETH_P_8021Q) {
				inner = load_half(skb, nhoff + offsetof(struct vlan_hdr,
									h_vlan_encapsulated_proto));
				nhoff += sizeof(struct vlan_hdr);
			}
			if (inner == ETH_P_IP)
				nhoff = dissect_ipv4(skb, nhoff, &proto, f);
			else if (inner == ETH_P_IPV6)
				nhoff = dissect_ipv6(skb, nhoff, &proto, f);
			else
				return 0;
		}
	} else if (proto == IPPROTO_IPIP) {
		nhoff = dissect_ipv4(skb, nhoff, &proto, f);
	} else if (proto == IPPROTO_IPV6) {
		nhoff = dissect_ipv6(skb, nhoff, &proto, f);
	}

	f->ip_proto = proto;
	nhoff += ports_offset(proto);
	f->ports = load_word(skb, nhoff);
	f->thoff = (__u16)nhoff;
	return 1;
}

SEC("socket2")
int count_by_destination(struct __sk_buff *skb)
{
	/* volatile: every field is stored, so no packet load is optimised away and a
	 * frame too short for any of them (the ports included) is not counted */
	volatile struct flow f = {};
	__u32 key;
	long *packets;

	if (!dissect(skb, &f))
		return 0;

	key = f.dst;
	packets = bpf_map_lookup_elem(&dst_count, &key);
	if (packets) {
		__sync_fetch_and_add(packets, 1);
	} else {
		long one = 1;

		bpf_map_update_elem(&dst_count, &key, &one, BPF_ANY);
	}
	return 0;
}

char _license[] SEC("license") = "GPL";
