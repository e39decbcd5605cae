/* The native side of pybpf's VM: what the JIT's code, the native helpers and the
 * packet drivers share.
 *
 * The numbers (RT_* slots of the run-time block, EXIT_* codes, the region bias and
 * handle layout, the __sk_buff size) are defined once, in Python
 * (pybpf.vm.jit.abi, pybpf.vm.memory), and passed to the compiler as -D flags by
 * pybpf.vm.native: nothing here repeats them.
 *
 * A run-time block `rt` is the JIT's (see abi.py); rt[RT_ENV] points to the
 * struct vm_env of the driver running it, which native helpers read: the packet
 * under way, what each map handle stands for, the simulated cpu, the prandom
 * state.
 */
#ifndef PYBPF_VM_H
#define PYBPF_VM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bpf_map.h"

#ifndef RT_SIZE
#error "compile through pybpf.vm.native: the RT_* numbers come from pybpf.vm.jit.abi"
#endif

typedef int32_t (*vm_prog_fn)(uint64_t *rt);
typedef uint64_t (*vm_helper_fn)(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2,
				 uint64_t r3, uint64_t r4, uint64_t r5, uint64_t pc);
typedef uint64_t (*vm_ldabs_fn)(uint64_t *rt, int64_t off, uint64_t size, uint64_t pc);

/* One program image bound to the driver's memory: its code and its own run-time
 * block (consts, helper calls, inline arrays and region table already set). */
struct vm_image {
	vm_prog_fn fn;
	uint64_t *rt;
	/* bytes at the top of frame 0 the program can touch (what is zeroed when it is
	   entered): the verifier's stack depth, 512 for a program not verified */
	uint64_t frame_bytes;
};

/* BPF_MAP_TYPE_PROG_ARRAY as a tail call sees it: slot i's image or NULL */
struct vm_progarray {
	uint32_t max_entries;
	uint32_t pad;
	struct vm_image **slots;
};

/* What one map handle stands for natively (Memory.handle numbers them) */
struct vm_handle {
	struct pybpf_map *map;	     /* a map whose helpers run natively, or NULL */
	struct vm_progarray *progs; /* a prog array, or NULL */
	uint64_t storage_base;	     /* the bpf address of map->storage[0] */
	uint32_t percpu;	     /* per-cpu map: the helper selects the program's cpu */
	uint32_t cpu;		     /* other maps: the cpu their ops are given (Map.cpu) */
};

/* The linear sk_buff of the packet under way, as pybpf.net.skb.SkBuff models it:
 * head[data_off:] is the packet from skb->data; mac_off and net_off are head
 * offsets (mac_off < 0: no MAC header), and the fields the __sk_buff shows
 * (progtypes.render_sk_buff). */
struct vm_skb {
	uint8_t *head; /* a capture's bytes (read-only) for a socket filter; the writable
			  packet buffer (struct vm_pkt) for tc and cgroup_skb */
	uint64_t head_len;
	uint64_t data_off;
	int64_t mac_off;
	int64_t net_off;
	uint32_t pkt_type, mark, queue_mapping, protocol;
	uint32_t vlan_present, vlan_tci, vlan_proto, priority;
	uint32_t ingress_ifindex, ifindex, tc_index, hash;
	uint32_t tc_classid, napi_id, wire_len, gso_segs;
	uint32_t gso_size, pad;
	uint64_t tstamp, hwtstamp;
	uint8_t cb[20];
	uint8_t pad2[4];
};

/* The packet of a program with direct packet access (XDP, tc, cgroup_skb): a writable
 * buffer mapped as the program's packet region (bpf address `bpf`); the XDP frame's
 * geometry (offsets into buf: data_meta, data, data_end; frame_sz); an skb's extra
 * state (its geometry is the vm_skb's: head = buf); the redirect bpf_redirect()
 * recorded (bpf_redirect_info). Mirrored by pybpf.vm.native.VmPkt; pybpf.net.xdp
 * and pybpf.net.tcskb keep their state here (packet.c). */
struct vm_pkt {
	uint8_t *buf;
	uint64_t cap;
	uint64_t bpf;
	uint64_t meta, data, end;
	uint64_t frame_sz;
	uint32_t ingress_ifindex, rx_queue_index, egress_ifindex, meta_len;
	uint32_t ri_ifindex, ri_flags;
	uint32_t csum;
	uint8_t ip_summed, csum_level, l4_hash, sw_hash;
	uint32_t max_len, hwm;
	int64_t trans_off;
	uint8_t encap, tstamp_type;
	uint16_t mac_len;
	uint32_t low;	/* XDP: the lowest data_meta of the last frame (what to clear below data) */
	uint64_t ts_ns; /* the capture timestamp of the packet under way */
};

/* MT19937, the generator behind Python's random.Random (getrandbits(32) is one
 * output): the state is exported from the backend's Random and given back. */
struct vm_mt {
	uint32_t mt[624];
	uint32_t index;
};

struct vm_env {
	struct vm_skb skb;
	struct vm_handle *handles;
	uint64_t nhandles;
	struct vm_image *tail_target; /* set by the tail_call helper */
	uint32_t tail_calls;
	uint32_t cpu;
	struct vm_mt *rng;
	uint8_t *ctx;	  /* host address of the __sk_buff image */
	uint64_t touched; /* bit k: a per-cpu map of handle k+1 had its cpu selected */
	uint64_t serial;  /* packets run so far (a Python helper's context is built once per packet) */
	struct vm_pkt pkt;
};

static inline struct vm_env *vm_env_of(uint64_t *rt)
{
	return (struct vm_env *)(uintptr_t)rt[RT_ENV];
}

/* The host address of `size` bytes at bpf address `addr`, or NULL when the access
 * leaves every region (or writes a read-only one): the JIT's check, in C. */
static inline uint8_t *vm_xlate(uint64_t *rt, uint64_t addr, uint64_t size, int write)
{
	uint64_t slot = addr >> 32;
	if (slot >= rt[RT_TABLE_LEN])
		return NULL;
	const uint64_t *e = (const uint64_t *)(uintptr_t)rt[RT_TABLE] + 3 * slot;
	uint64_t raw = addr & 0xffffffffu;
	if (raw < REGION_BIAS)
		return NULL;
	uint64_t off = raw - REGION_BIAS;
	if (off + size > e[1])
		return NULL;
	if (write && !(e[2] & FLAG_WRITABLE))
		return NULL;
	return (uint8_t *)(uintptr_t)(e[0] + off);
}

/* Stop the program with a memory fault (the helper's caller bails out). */
static inline uint64_t vm_memfault(uint64_t *rt, int write, uint64_t addr, uint64_t size)
{
	rt[RT_FAULT_KIND] = write ? FAULT_WRITE : FAULT_READ;
	rt[RT_FAULT_ADDR] = addr;
	rt[RT_FAULT_SIZE] = size;
	rt[RT_STATUS] = EXIT_MEMFAULT;
	return 0;
}

/* The native handle entry behind a bpf handle value, or NULL */
static inline struct vm_handle *vm_handle_of(uint64_t *rt, uint64_t h)
{
	struct vm_env *env = vm_env_of(rt);
	if (h < HANDLE_BASE || (h - HANDLE_BASE) % HANDLE_STRIDE)
		return NULL;
	uint64_t k = (h - HANDLE_BASE) / HANDLE_STRIDE;
	if (k == 0 || k > env->nhandles)
		return NULL;
	return &env->handles[k - 1];
}

/* What Python fills for a run of packets through one program (see pybpf.vm.native). */
struct vm_driver {
	struct vm_env env;
	struct vm_image main;
	uint64_t ctx_bpf;	  /* R1: the __sk_buff's address */
	uint64_t stack_top;	  /* R10 of frame 0 */
	uint64_t budget;
	uint32_t prog_type;
	uint32_t writeback; /* copy what the program wrote to the __sk_buff back (test_run) */
	uint32_t templated; /* the __sk_buff image comes from `tmpl` (test_run's repeat loop) */
	uint32_t cb_only;   /* a verified program whose type may write cb[] only */
	uint32_t kind;	    /* KIND_*: what the context is (packet.c) */
	uint32_t pad0;
	uint8_t tmpl[SIZEOF_SK_BUFF];
	/* after a packet that failed: the image it failed in and its EXIT_* code */
	struct vm_image *failed_image;
	int32_t failed_rc;
	uint32_t pad;
	uint64_t r0;
	uint64_t steps;
};

/* What a packet socket counts (net/packet/af_packet.c: packet_rcv, run_filter) */
struct vm_counts {
	uint64_t received;
	uint64_t accepted;
	uint64_t dropped;
	uint64_t delivered_bytes;
	uint64_t packets; /* packets run in this call */
	uint64_t failed;  /* index (in this call) of the packet that failed, when rc != 0 */
};

/* Frames laid end to end in `buf` (frame i is buf[off[i]:off[i+1]]), each described
 * by `meta` (struct vm_frame_meta). */
struct vm_frame_meta {
	int32_t mac_off; /* head offset of the MAC header, -1 none */
	int32_t net_off;
	uint32_t protocol, pkt_type, ifindex;
	uint32_t vlan_present, vlan_tci, vlan_proto;
};

/* what a program's context is: a socket filter's __sk_buff over a capture's bytes, an
 * XDP frame, the __sk_buff of tc/cgroup_skb over the packet buffer */
#define KIND_SOCKET 0
#define KIND_XDP 1
#define KIND_SKB 2

/* The outcome of one packet of an XDP, tc or cgroup_skb program (vm_run_actions_*) */
struct vm_out {
	uint64_t index; /* the packet's index in the call */
	uint64_t ts_ns; /* its capture timestamp */
	uint32_t retval, ifindex, flags, len;
	uint64_t off; /* its bytes in the arena */
};

/* What a run of such a program over many packets hands back: the return values
 * counted (0..15, -1, others), the redirect targets counted, and the packets that
 * leave with their bytes when `write` is set (a call stops early when the arena or the
 * outcome list is full: `full`). */
struct vm_actions {
	uint8_t *arena;
	uint64_t arena_cap, arena_used;
	struct vm_out *outs;
	uint64_t outs_cap, nouts;
	uint64_t hist[18];
	uint32_t rd_ifindex[16], rd_flags[16];
	uint64_t rd_count[16];
	uint64_t rd_other;
	uint32_t nrd, write;
	uint32_t full, pad;
	uint64_t too_short;
};

/* native.c */
void vm_render_sk_buff(const struct vm_skb *skb, uint8_t *image);
void vm_writeback_sk_buff(struct vm_skb *skb, const uint8_t *image, uint32_t prog_type);
uint64_t vm_ld_abs(uint64_t *rt, int64_t off, uint64_t size, uint64_t pc);
int vm_run_packet(struct vm_driver *d);
int vm_run_one(struct vm_driver *d);

/* packet.c */
void vm_render_ctx(struct vm_driver *d);
void vm_writeback_ctx(struct vm_driver *d);
void *vm_packet_helper(const char *name);

#endif
