// SPDX-License-Identifier: GPL-2.0
/* A tc program in the style of libbpf: put untagged frames on VLAN 100 and take tagged
 * frames off their VLAN, marking each packet with what was done.
 *
 * An untagged frame gets an 802.1Q tag with VLAN_ID (bpf_skb_vlan_push(): the tag goes
 * to the skb, to be inserted when the frame goes out) and mark VLAN_ID; a tagged
 * frame (802.1Q or 802.1ad) loses its outer tag (bpf_skb_vlan_pop(): an inner tag
 * becomes the skb's) and is marked 0x10000 | the VLAN it left. `vlans` counts the
 * packets per action and VLAN id.
 *
 *     pybpf run examples/tc_vlan_kern.c --pcap tests/data/pcaps/*.pcap* \
 *         --write-pcap /tmp/out.pcapng
 *     python examples/tc_vlan_user.py --pcap tests/data/pcaps/802.1ad_QinQ.pcap
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef VLAN_ID
#define VLAN_ID 100
#endif
#define POPPED 0x10000

/* include/linux/if_vlan.h: the tag after the Ethernet addresses' EtherType */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32); /* POPPED | vid for a tag taken off, vid for one put on */
	__type(value, __u64);
	__uint(max_entries, 64);
} vlans SEC(".maps");

static __always_inline void count(__u32 key)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(&vlans, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&vlans, &key, &one, BPF_NOEXIST);
}

SEC("tc")
int tc_vlan(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return TC_ACT_OK;
	if (eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vh = (void *)(eth + 1);

		if ((void *)(vh + 1) > end)
			return TC_ACT_OK;
		__u32 vid = bpf_ntohs(vh->h_vlan_TCI) & 0x0fff;

		if (bpf_skb_vlan_pop(skb))
			return TC_ACT_SHOT;
		skb->mark = POPPED | vid;
		count(POPPED | vid);
		return TC_ACT_OK;
	}
	if (bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), VLAN_ID))
		return TC_ACT_SHOT;
	skb->mark = VLAN_ID;
	count(VLAN_ID);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
