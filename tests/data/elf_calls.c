/* pybpf test object: BPF-to-BPF calls, global data, callbacks, two programs per section. */
#include <bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} counters SEC(".maps");

__u64 total = 7;			/* .data */
static volatile __u64 hidden = 9;	/* .data, reached through the section symbol + imm */
__u32 zeroed[4];			/* .bss */
const volatile __u32 limit = 3;		/* .rodata */
static const char greeting[] = "hi";	/* .rodata (static) */

static __noinline __u64 leaf(__u64 x)
{
	return x * 3 + limit;
}

static __noinline __u64 middle(__u64 x)
{
	return leaf(x) + leaf(x + 1);
}

static __noinline __u64 unused_helper(__u64 x)
{
	return x - 1;
}

static long loop_cb(__u64 index, void *ctx)
{
	*(__u64 *)ctx += index;
	return 0;
}

SEC("socket")
int first(struct __sk_buff *skb)
{
	__u32 k = 1;
	__u64 *v = bpf_map_lookup_elem(&counters, &k);

	if (v)
		*v += middle(skb->len);
	total += greeting[1];
	hidden += 2;
	zeroed[2] = 5;
	return 0;
}

SEC("socket")
int second(struct __sk_buff *skb)
{
	__u64 acc = 0;

	bpf_loop(4, loop_cb, &acc, 0);
	return leaf(acc) & 0xff;
}

SEC("socket/7")
int third(struct __sk_buff *skb)
{
	return unused_helper(skb->len) & 1;
}

SEC("socket")
int fourth(struct __sk_buff *skb)
{
	/* string literals land in .rodata.str1.1, reached through the section symbol */
	const char *msg = skb->len > 10 ? "long packet %d\n" : "short %d\n";

	bpf_trace_printk(msg, skb->len > 10 ? 16 : 10, skb->len);
	return 0;
}

char _license[] SEC("license") = "Dual BSD/GPL";
