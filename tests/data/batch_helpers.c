/* A socket filter touching every helper the native batch path runs natively (and one it
 * hands back to Python), for tests/vm/test_batch.py: hash, LRU, per-cpu and array maps
 * updated, looked up and deleted; skb_load_bytes; LD_ABS and LD_IND, SKF_LL_OFF and
 * SKF_NET_OFF included; __sk_buff fields; get_prandom_u32 and get_smp_processor_id; a
 * tail call; bpf_get_socket_cookie (Python). */
#include <bpf_helpers.h>

char _license[] SEC("license") = "GPL";

struct counts {
	__u64 packets;
	__u64 bytes;
};

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, __u32);
	 __type(value, struct counts); } by_proto SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 8); __type(key, __u32);
	 __type(value, __u64); } recent SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 4); __type(key, __u32);
	 __type(value, __u64); } percpu SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8); __type(key, __u32);
	 __type(value, __u64); } stats SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4); __type(key, __u32);
	 __type(value, __u32); } jmp SEC(".maps");

static void add(__u32 k, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&stats, &k);
	if (p)
		__sync_fetch_and_add(p, v);
}

SEC("socket") int udp_tail(struct __sk_buff *skb)
{
	add(5, 1);
	return skb->len / 2;
}

SEC("socket") int prog(struct __sk_buff *skb)
{
	__u8 mac[14] = {0};
	__u32 proto = 0, zero = 0, src = 0;
	long r = bpf_skb_load_bytes(skb, 0, mac, sizeof(mac));
	add(0, r == 0 ? 1 : 100);
	if (skb->protocol == bpf_htons(0x0800) && skb->len >= 34) {
		proto = load_byte(skb, 14 + 9);
		src = load_word(skb, 14 + 12);
		/* the same bytes through the network-header base */
		if (load_byte(skb, -0x100000 + 9) != proto)
			add(6, 1);
	}
	add(7, load_half(skb, -0x200000 + 12));
	struct counts *c = bpf_map_lookup_elem(&by_proto, &proto);
	if (c) {
		c->packets++;
		c->bytes += skb->len;
		if (c->packets == 3)
			bpf_map_delete_elem(&by_proto, &proto);
	} else {
		struct counts init = {1, skb->len};
		bpf_map_update_elem(&by_proto, &proto, &init, BPF_NOEXIST);
	}
	__u64 seen = skb->len;
	bpf_map_update_elem(&recent, &src, &seen, BPF_ANY);
	__u64 *pc = bpf_map_lookup_elem(&percpu, &zero);
	if (pc)
		*pc += bpf_get_smp_processor_id() + 1;
	add(1, bpf_get_prandom_u32() & 0xff);
	add(2, bpf_get_socket_cookie(skb));
	add(3, skb->pkt_type + skb->vlan_present * 16 + skb->ifindex * 256);
	if (proto == 17)
		bpf_tail_call(skb, &jmp, 0);
	if (mac[0] & 1)
		return 0;
	return skb->len - (skb->len > 60 ? 20 : 0);
}
