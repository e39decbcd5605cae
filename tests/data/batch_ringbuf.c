/* Ring-buffer helpers in a socket filter, for tests/vm/test_batch.py: a record reserved,
 * filled and submitted (or discarded) per packet, bpf_ringbuf_output, bpf_ringbuf_query;
 * the ring is small, so reservations start failing once it is full. */
#include <bpf_helpers.h>

char _license[] SEC("license") = "GPL";

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } ring SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32);
	 __type(value, __u64); } stats SEC(".maps");

SEC("socket") int prog(struct __sk_buff *skb)
{
	__u32 k = 0;
	__u64 *st = bpf_map_lookup_elem(&stats, &k);
	if (!st)
		return 0;
	__u32 *rec = bpf_ringbuf_reserve(&ring, 16, 0);
	if (rec) {
		rec[0] = skb->len;
		rec[1] = skb->protocol;
		rec[2] = skb->pkt_type;
		rec[3] = 0xabcd;
		if (skb->len & 1)
			bpf_ringbuf_discard(rec, 0);
		else
			bpf_ringbuf_submit(rec, 0);
	} else {
		*st += 1;
	}
	__u64 len = skb->len;
	if (bpf_ringbuf_output(&ring, &len, sizeof(len), 0))
		*st += 1000;
	k = 1;
	st = bpf_map_lookup_elem(&stats, &k);
	if (st)
		*st = bpf_ringbuf_query(&ring, 0);
	return skb->len;
}
