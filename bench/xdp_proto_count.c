// SPDX-License-Identifier: GPL-2.0
/* The seed's sockex1 as an XDP program: packets per IP protocol, read through the
 * packet pointers instead of LD_ABS. bench/bench_xdp.py runs it beside
 * examples/sockex1_kern.c to compare the per-packet cost of the two native paths on
 * the same work. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, long);
	__uint(max_entries, 256);
} proto_count SEC(".maps");

SEC("xdp")
int xdp_count_by_protocol(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + ETH_HLEN;

	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	__u32 index = ip->protocol;
	long *value = bpf_map_lookup_elem(&proto_count, &index);

	if (value)
		__sync_fetch_and_add(value, 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
