/* <bpf_helpers.h>: pybpf's one-include convenience for socket-filter programs.
 *
 * New programs should include what libbpf-style programs include --
 * <linux/bpf.h>, <bpf/bpf_helpers.h>, <bpf/bpf_endian.h>, the <linux/...>
 * protocol headers -- which pybpf ships too. This header pulls those in and adds
 * only what they do not have:
 *   - load_byte/load_half/load_word: the BPF_LD_ABS packet loads, as llvm's
 *     bpf intrinsics (what the kernel samples' bpf_legacy.h declares);
 *   - struct bpf_map_def, for the legacy "maps" section of the 3.19 samples;
 *   - size_t, and the IPv4 fragment and GRE flag bits (kernel-internal names).
 */
#ifndef __PYBPF_BPF_HELPERS_H
#define __PYBPF_BPF_HELPERS_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

typedef unsigned long size_t;

/* The legacy map definition of the 3.19 samples (section "maps"); map_flags came later. */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

/* Packet loads: BPF_LD_ABS / BPF_LD_IND. The first argument must be the
 * program's context (the skb pointer the kernel keeps in r6); the offset is
 * from the start of the packet; the result is in host order. A load past the
 * end of the packet ends the program with return value 0. */
unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

/* IPv4 fragment bits of iphdr.frag_off, host order (include/net/ip.h) */
#define IP_CE		0x8000
#define IP_DF		0x4000
#define IP_MF		0x2000
#define IP_OFFSET	0x1FFF

/* GRE flags, network order of the first 16 bits (include/net/gre.h) */
#define GRE_CSUM	0x8000
#define GRE_ROUTING	0x4000
#define GRE_KEY		0x2000
#define GRE_SEQ		0x1000
#define GRE_VERSION	0x0007

#endif /* __PYBPF_BPF_HELPERS_H */
