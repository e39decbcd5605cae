/* sockex1: count packets per IP protocol -- the seed's restricted-C program.
 *
 * Compile:  pybpf cc examples/sockex1_kern.c -o sockex1_kern.o
 * Reader:   python examples/sockex1_user.py [--pcap FILE | --iface lo]
 *
 * An ARRAY of 256 counters indexed by the IPv4 protocol byte, defined in the
 * legacy "maps" section (struct bpf_map_def, as the 3.19 samples did).  The
 * protocol is read with load_byte(), i.e. BPF_LD_ABS: an out-of-range read
 * ends the program with return value 0, exactly like a classic BPF filter.
 *
 * pkt_type: the 3.19 program counted every packet the socket saw, so on a
 * loopback interface each packet was counted twice (once as it left, once as
 * it arrived).  Later kernels' version counts only PACKET_OUTGOING (and adds
 * skb->len).  pybpf keeps the packet count and skips PACKET_OUTGOING instead:
 * each packet is then counted once, on the side where it is received, which is
 * also how a replayed capture is delivered (PACKET_HOST).  Build with
 * -DSOCKEX1_SEED to get the seed's program exactly: no pkt_type test, and
 * the same 12 instructions as the seed's hand-written version.
 */
#include <bpf_net.h>

struct bpf_map_def SEC("maps") proto_count = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(long),
	.max_entries = 256,
};

SEC("socket1")
int count_by_protocol(struct __sk_buff *skb)
{
	int proto = load_byte(skb, ETH_HLEN + offsetof(struct iphdr, protocol));
	long *counter;

#ifndef SOCKEX1_SEED
	if (skb->pkt_type == PACKET_OUTGOING)
		return 0;
#endif
	counter = bpf_map_lookup_elem(&proto_count, &proto);
	if (counter)
#ifndef SOCKEX1_SEED
		__sync_fetch_and_add(counter, 1);
#else
		/* clang (-mcpu=v3) turns __sync_fetch_and_add into atomic_fetch_add
		 * (BPF_ADD | BPF_FETCH); a relaxed add whose result is unused is the
		 * seed's BPF_XADD ("lock *(u64 *)(r0 + 0) += r1"). */
		__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
#endif
	return 0;
}

char _license[] SEC("license") = "GPL";
