/* pybpf test object: both map definition styles, prog arrays and map-in-map. */
#include <bpf_helpers.h>

struct bpf_map_def SEC("maps") legacy_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = 8,
	.value_size = 16,
	.max_entries = 32,
	.map_flags = BPF_F_NO_PREALLOC,
};

struct bpf_map_def SEC("maps") legacy_array = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = 4,
	.value_size = 4,
	.max_entries = 3,
};

struct pair {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct pair);
	__uint(max_entries, 128);
	__uint(map_flags, 0);
} btf_lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(key_size, 4);
	__uint(value_size, 24);
	__uint(max_entries, 2);
} sized SEC(".maps");

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer SEC(".maps");

int tail(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int (void *));
} jump SEC(".maps") = {
	.values = { [1] = (void *)&tail },
};

SEC("socket")
int tail(struct __sk_buff *skb)
{
	return 1;
}

SEC("socket")
int use_maps(struct __sk_buff *skb)
{
	__u64 k8 = skb->len;
	__u32 k4 = 0;
	struct pair *p;
	void *inner;

	if (bpf_map_lookup_elem(&legacy_hash, &k8))
		return 1;
	if (bpf_map_lookup_elem(&legacy_array, &k4))
		return 2;
	p = bpf_map_lookup_elem(&btf_lru, &k4);
	if (p)
		__sync_fetch_and_add(&p->bytes, skb->len);
	if (bpf_map_lookup_elem(&sized, &k4))
		return 3;
	inner = bpf_map_lookup_elem(&outer, &k4);
	if (inner && bpf_map_lookup_elem(inner, &k4))
		return 4;
	bpf_tail_call(skb, &jump, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
