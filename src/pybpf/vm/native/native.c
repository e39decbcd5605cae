/* Native helpers, the socket buffer seen from a program, and the packet drivers.
 *
 * Every function here has a Python twin that it must agree with exactly (the
 * differential tests in tests/vm/test_batch.py check it):
 *
 *   vm_render_sk_buff / vm_writeback_sk_buff   pybpf.progtypes.render_sk_buff / writeback_sk_buff
 *   vm_ld_abs                                  pybpf.net.skb.SkBuff.load_abs (a linear skb)
 *   nat_skb_load_bytes                         pybpf.helpers.skb.skb_load_bytes
 *   nat_map_lookup_elem / update / delete      pybpf.helpers.maps (through the maps' C ops)
 *   nat_tail_call                              pybpf.helpers.maps.tail_call + the core's limit
 *   nat_ringbuf_*                              pybpf.helpers.output (through the ring's C ops)
 *   nat_ktime_get_ns, nat_get_prandom_u32,     pybpf.helpers.time
 *   nat_get_smp_processor_id
 *
 * A native helper hands anything it does not handle exactly (a handle it does not
 * know natively, a map with timers ...) to the Python trampoline in rt[RT_PYCALL],
 * which runs the Python helper: the answer is the same either way.
 */
#include <time.h>

#include "vm.h"

#define M32 0xffffffffull
#define ETH_HLEN_ 14
#define PACKET_HOST_ 0
#define PACKET_BROADCAST_ 1
#define PACKET_MULTICAST_ 2
#define PACKET_OTHERHOST_ 3
#define NEG(e) ((uint64_t)(-(int64_t)(e)))
#define EFAULT_ 14

static inline uint64_t pycall(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2, uint64_t r3,
			      uint64_t r4, uint64_t r5, uint64_t pc)
{
	return ((vm_helper_fn)(uintptr_t)rt[RT_PYCALL])(rt, idx, r1, r2, r3, r4, r5, pc);
}

/* --- the __sk_buff image (include/uapi/linux/bpf.h, progtypes.render_sk_buff) --------- */

static inline void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
/* a host number as the u32 a program reads from a __be16 field (x86-64) */
static inline uint32_t be16(uint32_t v) { v &= 0xffff; return ((v & 0xff) << 8) | (v >> 8); }

void vm_render_sk_buff(const struct vm_skb *skb, uint8_t *image)
{
	uint64_t len = skb->head_len - skb->data_off;
	memset(image, 0, SIZEOF_SK_BUFF);
	put32(image + 0, (uint32_t)len);
	put32(image + 4, skb->pkt_type & 7);
	put32(image + 8, skb->mark);
	put32(image + 12, skb->queue_mapping & 0xffff);
	put32(image + 16, be16(skb->protocol));
	put32(image + 20, skb->vlan_present ? 1 : 0);
	put32(image + 24, skb->vlan_tci & 0xffff);
	put32(image + 28, be16(skb->vlan_proto));
	put32(image + 32, skb->priority);
	put32(image + 36, skb->ingress_ifindex);
	put32(image + 40, skb->ifindex);
	put32(image + 44, skb->tc_index & 0xffff);
	memcpy(image + 48, skb->cb, 20);
	put32(image + 68, skb->hash);
	put32(image + 72, skb->tc_classid & 0xffff);
	put32(image + 84, skb->napi_id);
	put64(image + 152, skb->tstamp);
	put32(image + 160, skb->wire_len ? skb->wire_len : (uint32_t)len);
	put32(image + 164, skb->gso_segs & 0xffff);
	put32(image + 176, skb->gso_size & 0xffff);
	put64(image + 184, skb->hwtstamp);
}

void vm_writeback_sk_buff(struct vm_skb *skb, const uint8_t *image, uint32_t prog_type)
{
	memcpy(skb->cb, image + 48, 20);
	if (prog_type == PROG_TYPE_CGROUP_SKB) {
		skb->mark = get32(image + 8);
		skb->priority = get32(image + 32);
		skb->tstamp = get64(image + 152);
	} else if (prog_type == PROG_TYPE_SCHED_CLS || prog_type == PROG_TYPE_SCHED_ACT) {
		skb->mark = get32(image + 8);
		skb->queue_mapping = get32(image + 12) & 0xffff;
		skb->priority = get32(image + 32);
		skb->tc_index = get32(image + 44) & 0xffff;
		skb->tc_classid = get32(image + 72);
		skb->tstamp = get64(image + 152);
	}
}

/* --- LD_ABS / LD_IND (bpf_skb_load_helper_* and _convert_offset, net/core/filter.c) -- */

/* Big-endian bytes at packet offset `off` (relative to skb->data), or -1 */
static int64_t skb_bytes(const struct vm_skb *skb, int64_t off, uint64_t size)
{
	if (off < -(int64_t)skb->data_off)
		return -1;
	uint64_t start = skb->data_off + off;
	if (start + size > skb->head_len)
		return -1;
	uint64_t v = 0;
	for (uint64_t i = 0; i < size; i++)
		v = (v << 8) | skb->head[start + i];
	return (int64_t)v;
}

uint64_t vm_ld_abs(uint64_t *rt, int64_t off, uint64_t size, uint64_t pc)
{
	(void)pc;
	const struct vm_skb *skb = &vm_env_of(rt)->skb;
	off = (int32_t)(uint32_t)off; /* the kernel's int */
	int64_t v = -1;
	if (off >= 0) {
		v = skb_bytes(skb, off, size);
	} else if (off >= SKF_NET_OFF) {
		v = skb_bytes(skb, off - SKF_NET_OFF + skb->net_off - (int64_t)skb->data_off, size);
	} else if (off >= SKF_LL_OFF && skb->mac_off >= 0) {
		v = skb_bytes(skb, off - SKF_LL_OFF + skb->mac_off - (int64_t)skb->data_off, size);
	}
	if (v < 0) { /* out of bounds: the program ends returning 0 */
		rt[RT_EXIT_VALUE] = 0;
		rt[RT_STATUS] = EXIT_PROGRAM;
		return 0;
	}
	return (uint64_t)v;
}

/* --- helpers ------------------------------------------------------------------------ */

/* bpf_skb_load_bytes(skb, offset, to, len): skb_header_pointer over the packet */
static uint64_t nat_skb_load_bytes(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2,
				   uint64_t r3, uint64_t r4, uint64_t r5, uint64_t pc)
{
	(void)idx, (void)r1, (void)r5, (void)pc;
	const struct vm_skb *skb = &vm_env_of(rt)->skb;
	uint64_t off = r2 & M32, n = r4 & M32;
	uint8_t *to = vm_xlate(rt, r3, n, 1);
	if (!to)
		return vm_memfault(rt, 1, r3, n);
	uint64_t len = skb->head_len - skb->data_off;
	if (off > 0x7fffffff || off + n > len) {
		memset(to, 0, n);
		return NEG(EFAULT_);
	}
	memcpy(to, skb->head + skb->data_off + off, n);
	return 0;
}

static uint64_t nat_ktime_get_ns(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2,
				 uint64_t r3, uint64_t r4, uint64_t r5, uint64_t pc)
{
	(void)rt, (void)idx, (void)r1, (void)r2, (void)r3, (void)r4, (void)r5, (void)pc;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t nat_get_smp_processor_id(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2,
					 uint64_t r3, uint64_t r4, uint64_t r5, uint64_t pc)
{
	(void)idx, (void)r1, (void)r2, (void)r3, (void)r4, (void)r5, (void)pc;
	return vm_env_of(rt)->cpu & M32;
}

/* MT19937 as CPython's _randommodule.c runs it: getrandbits(32) is one output */
static uint32_t mt_next(struct vm_mt *s)
{
	static const uint32_t mag01[2] = {0x0u, 0x9908b0dfu};
	uint32_t *mt = s->mt, y;
	if (s->index >= 624) {
		int kk;
		for (kk = 0; kk < 624 - 397; kk++) {
			y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
			mt[kk] = mt[kk + 397] ^ (y >> 1) ^ mag01[y & 1];
		}
		for (; kk < 623; kk++) {
			y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
			mt[kk] = mt[kk + (397 - 624)] ^ (y >> 1) ^ mag01[y & 1];
		}
		y = (mt[623] & 0x80000000u) | (mt[0] & 0x7fffffffu);
		mt[623] = mt[396] ^ (y >> 1) ^ mag01[y & 1];
		s->index = 0;
	}
	y = mt[s->index++];
	y ^= (y >> 11);
	y ^= (y << 7) & 0x9d2c5680u;
	y ^= (y << 15) & 0xefc60000u;
	y ^= (y >> 18);
	return y;
}

static uint64_t nat_get_prandom_u32(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2,
				    uint64_t r3, uint64_t r4, uint64_t r5, uint64_t pc)
{
	struct vm_env *env = vm_env_of(rt);
	if (!env->rng)
		return pycall(rt, idx, r1, r2, r3, r4, r5, pc);
	return mt_next(env->rng);
}

/* The cpu a map's ops are given: per-cpu maps take the program's (Python's
 * _select_cpu leaves it in Map.cpu: remember that it was selected) */
static inline uint32_t map_cpu(uint64_t *rt, struct vm_handle *h)
{
	struct vm_env *env = vm_env_of(rt);
	if (!h->percpu)
		return h->cpu;
	uint32_t n = h->map->ncpus ? h->map->ncpus : 1;
	uint64_t k = (uint64_t)(h - env->handles);
	if (k < 64)
		env->touched |= 1ull << k;
	return env->cpu % n;
}

static uint64_t nat_map_lookup_elem(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2,
				    uint64_t r3, uint64_t r4, uint64_t r5, uint64_t pc)
{
	struct vm_handle *h = vm_handle_of(rt, r1);
	if (!h || !h->map)
		return pycall(rt, idx, r1, r2, r3, r4, r5, pc);
	struct pybpf_map *m = h->map;
	const uint8_t *key = vm_xlate(rt, r2, m->key_size, 0);
	if (!key)
		return vm_memfault(rt, 0, r2, m->key_size);
	uint8_t *v = m->ops->map_lookup_elem(m, key, map_cpu(rt, h));
	if (!v)
		return 0;
	return h->storage_base + (uint64_t)(v - m->storage);
}

static uint64_t nat_map_update_elem(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2,
				    uint64_t r3, uint64_t r4, uint64_t r5, uint64_t pc)
{
	struct vm_handle *h = vm_handle_of(rt, r1);
	if (!h || !h->map)
		return pycall(rt, idx, r1, r2, r3, r4, r5, pc);
	struct pybpf_map *m = h->map;
	const uint8_t *key = vm_xlate(rt, r2, m->key_size, 0);
	if (!key)
		return vm_memfault(rt, 0, r2, m->key_size);
	const uint8_t *value = vm_xlate(rt, r3, m->value_size, 0);
	if (!value)
		return vm_memfault(rt, 0, r3, m->value_size);
	return (uint64_t)m->ops->map_update_elem(m, key, value, r4, map_cpu(rt, h));
}

static uint64_t nat_map_delete_elem(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2,
				    uint64_t r3, uint64_t r4, uint64_t r5, uint64_t pc)
{
	struct vm_handle *h = vm_handle_of(rt, r1);
	if (!h || !h->map)
		return pycall(rt, idx, r1, r2, r3, r4, r5, pc);
	struct pybpf_map *m = h->map;
	const uint8_t *key = vm_xlate(rt, r2, m->key_size, 0);
	if (!key)
		return vm_memfault(rt, 0, r2, m->key_size);
	return (uint64_t)m->ops->map_delete_elem(m, key, map_cpu(rt, h));
}

/* --- ring buffers (kernel/bpf/ringbuf.c through the map's ops; pybpf.helpers.output) --- */

/* The handle entry of a native ring buffer map, or NULL */
static struct vm_handle *ringbuf_of(uint64_t *rt, uint64_t h)
{
	struct vm_handle *e = vm_handle_of(rt, h);
	if (!e || !e->map || !e->map->ops || !e->map->ops->ringbuf_reserve)
		return NULL;
	return e;
}

/* The ring buffer whose storage holds the record at `addr`: its handle entry */
static struct vm_handle *ringbuf_holding(uint64_t *rt, uint64_t addr)
{
	struct vm_env *env = vm_env_of(rt);
	for (uint64_t k = 0; k < env->nhandles; k++) {
		struct vm_handle *e = &env->handles[k];
		if (e->map && e->map->ops && e->map->ops->ringbuf_reserve &&
		    (e->storage_base >> 32) == (addr >> 32))
			return e;
	}
	return NULL;
}

#define U64_MAX_ 0xffffffffffffffffull
#define RINGBUF_HDR_SZ 8

static uint64_t nat_ringbuf_output(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2,
				   uint64_t r3, uint64_t r4, uint64_t r5, uint64_t pc)
{
	struct vm_handle *e = ringbuf_of(rt, r1);
	if (!e || r4 == U64_MAX_) /* Python refuses that flags value with its own error */
		return pycall(rt, idx, r1, r2, r3, r4, r5, pc);
	uint64_t n = r3 & M32;
	const uint8_t *data = vm_xlate(rt, r2, n, 0);
	if (!data)
		return vm_memfault(rt, 0, r2, n);
	return (uint64_t)e->map->ops->ringbuf_output(e->map, data, n, r4);
}

static uint64_t nat_ringbuf_reserve(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2,
				    uint64_t r3, uint64_t r4, uint64_t r5, uint64_t pc)
{
	struct vm_handle *e = ringbuf_of(rt, r1);
	if (!e)
		return pycall(rt, idx, r1, r2, r3, r4, r5, pc);
	if (r3)
		return 0;
	uint8_t *p = e->map->ops->ringbuf_reserve(e->map, r2, 0);
	if (!p)
		return 0;
	return e->storage_base + (uint64_t)(p - e->map->storage);
}

/* submit or discard: anything but a reserved record of a ring buffer goes to Python,
 * which raises the error */
static uint64_t ringbuf_commit(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2, uint64_t r3,
			       uint64_t r4, uint64_t r5, uint64_t pc, int discard)
{
	struct vm_handle *e = ringbuf_holding(rt, r1);
	if (!e || r2 == U64_MAX_ || r1 < e->storage_base)
		return pycall(rt, idx, r1, r2, r3, r4, r5, pc);
	uint64_t off = r1 - e->storage_base;
	if (off < RINGBUF_HDR_SZ || off >= (uint64_t)e->map->max_entries + RINGBUF_HDR_SZ)
		return pycall(rt, idx, r1, r2, r3, r4, r5, pc);
	uint8_t *sample = e->map->storage + off;
	long err = discard ? e->map->ops->ringbuf_discard(e->map, sample, r2)
			   : e->map->ops->ringbuf_submit(e->map, sample, r2);
	if (err)
		return pycall(rt, idx, r1, r2, r3, r4, r5, pc);
	return 0;
}

static uint64_t nat_ringbuf_submit(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2,
				   uint64_t r3, uint64_t r4, uint64_t r5, uint64_t pc)
{
	return ringbuf_commit(rt, idx, r1, r2, r3, r4, r5, pc, 0);
}

static uint64_t nat_ringbuf_discard(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2,
				    uint64_t r3, uint64_t r4, uint64_t r5, uint64_t pc)
{
	return ringbuf_commit(rt, idx, r1, r2, r3, r4, r5, pc, 1);
}

static uint64_t nat_ringbuf_query(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2,
				  uint64_t r3, uint64_t r4, uint64_t r5, uint64_t pc)
{
	struct vm_handle *e = ringbuf_of(rt, r1);
	if (!e || r2 == U64_MAX_)
		return pycall(rt, idx, r1, r2, r3, r4, r5, pc);
	return e->map->ops->ringbuf_query(e->map, r2);
}

/* bpf_tail_call(ctx, prog_array, index): an empty slot, an index past the end or the
 * MAX_TAIL_CALL_CNT limit fall through with R0 unchanged */
static uint64_t nat_tail_call(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2, uint64_t r3,
			      uint64_t r4, uint64_t r5, uint64_t pc)
{
	struct vm_handle *h = vm_handle_of(rt, r2);
	if (!h || !h->progs)
		return pycall(rt, idx, r1, r2, r3, r4, r5, pc);
	struct vm_env *env = vm_env_of(rt);
	uint32_t i = (uint32_t)r3;
	if (i >= h->progs->max_entries || !h->progs->slots[i] ||
	    env->tail_calls >= MAX_TAIL_CALL_CNT)
		return rt[0];
	env->tail_target = h->progs->slots[i];
	rt[RT_STATUS] = EXIT_TAILCALL;
	return 0;
}

/* The native helper for a helper name (pybpf.vm.api.native_name), or NULL */
struct native_helper {
	const char *name;
	vm_helper_fn fn;
	int needs_maps;
};

static const struct native_helper HELPERS[] = {
	{"map_lookup_elem", nat_map_lookup_elem, 1},
	{"map_update_elem", nat_map_update_elem, 1},
	{"map_delete_elem", nat_map_delete_elem, 1},
	{"tail_call", nat_tail_call, 0},
	{"ringbuf_output", nat_ringbuf_output, 1},
	{"ringbuf_reserve", nat_ringbuf_reserve, 1},
	{"ringbuf_submit", nat_ringbuf_submit, 1},
	{"ringbuf_discard", nat_ringbuf_discard, 1},
	{"ringbuf_query", nat_ringbuf_query, 1},
	{"skb_load_bytes", nat_skb_load_bytes, 0},
	{"ktime_get_ns", nat_ktime_get_ns, 0},
	{"get_prandom_u32", nat_get_prandom_u32, 0},
	{"get_smp_processor_id", nat_get_smp_processor_id, 0},
	{NULL, NULL, 0},
};

void *vm_native_helper(const char *name)
{
	void *packet = vm_packet_helper(name);
	if (packet)
		return packet;
	for (const struct native_helper *h = HELPERS; h->name; h++)
		if (!strcmp(h->name, name))
			return (void *)h->fn;
	return NULL;
}

void *vm_ld_abs_fn(void) { return (void *)vm_ld_abs; }

/* --- the driver: one packet ---------------------------------------------------------- */

static void skb_from_meta(struct vm_skb *skb, const uint8_t *data, uint64_t len,
			  const struct vm_frame_meta *m);

static inline uint8_t *stack_host(uint64_t *rt, uint64_t bpf)
{
	return (uint8_t *)(uintptr_t)(bpf + rt[RT_STACK_DELTA]);
}

static inline void enter_frame0(struct vm_driver *d, struct vm_image *img)
{
	uint64_t *rt = img->rt;
	memset(stack_host(rt, d->stack_top) - img->frame_bytes, 0, img->frame_bytes);
	rt[1] = d->ctx_bpf;
	rt[10] = d->stack_top;
	rt[RT_STATUS] = 0;
	rt[RT_ENTRY] = 0;
	rt[RT_DEPTH0] = 0;
	rt[RT_DEPTH] = 0;
	rt[RT_PKT] = (uint64_t)(uintptr_t)(d->env.skb.head + d->env.skb.data_off);
	rt[RT_PKT_LEN] = d->env.skb.head_len - d->env.skb.data_off;
}

/* Run the program on the packet in d->env.skb: EXIT_OK with d->r0, or the EXIT_* code
 * of a failure (d->failed_image tells whose rt holds the details). */
static int run_one(struct vm_driver *d)
{
	struct vm_image *img = &d->main;
	uint64_t *rt = img->rt;
	d->env.tail_calls = 0;
	d->env.serial++;
	if (d->kind != KIND_SOCKET) { /* XDP, tc, cgroup_skb: the context from the packet */
		vm_render_ctx(d);
	} else if (d->templated == 1) { /* the same skb again: only cb[] can differ (the writeback) */
		memcpy(d->env.ctx, d->tmpl, SIZEOF_SK_BUFF);
		memcpy(d->env.ctx + 48, d->env.skb.cb, 20);
	} else if (d->templated == 2) { /* ... and the program writes nothing but cb[] */
		d->templated = 3;
		vm_render_sk_buff(&d->env.skb, d->env.ctx);
	} else if (d->templated != 3) {
		vm_render_sk_buff(&d->env.skb, d->env.ctx);
	}
	memset(rt, 0, 11 * sizeof(uint64_t));
	rt[RT_STEPS] = 0;
	rt[RT_BUDGET] = d->budget;
	enter_frame0(d, img);
	for (;;) {
		int rc = img->fn(rt);
		if (rc == EXIT_OK) {
			d->r0 = rt[0];
			break;
		}
		if (rc == EXIT_PROGRAM) {
			d->r0 = rt[RT_EXIT_VALUE];
			break;
		}
		if (rc == EXIT_TAILCALL && rt[RT_DEPTH] == 0) {
			struct vm_image *t = d->env.tail_target;
			uint64_t *nrt = t->rt;
			d->env.tail_calls++;
			memcpy(nrt, rt, 11 * sizeof(uint64_t));
			nrt[RT_STEPS] = rt[RT_STEPS];
			nrt[RT_BUDGET] = rt[RT_BUDGET];
			enter_frame0(d, t);
			img = t;
			rt = nrt;
			continue;
		}
		d->failed_image = img;
		d->failed_rc = rc;
		d->steps = rt[RT_STEPS];
		return rc;
	}
	d->steps = rt[RT_STEPS];
	if (d->writeback && d->kind != KIND_SOCKET) {
		vm_writeback_ctx(d);
	} else if (d->writeback) {
		vm_writeback_sk_buff(&d->env.skb, d->env.ctx, d->prog_type);
		if (d->templated && (d->prog_type == PROG_TYPE_SCHED_CLS ||
				     d->prog_type == PROG_TYPE_SCHED_ACT))
			vm_render_sk_buff(&d->env.skb, d->tmpl); /* tc writes more than cb[] */
	}
	return EXIT_OK;
}

/* One packet: what Program.run / PacketSocket.deliver need */
int vm_run_packet(struct vm_driver *d) { return run_one(d); }

/* One run on the packet the driver holds (XDP, tc, cgroup_skb: packet.c) */
int vm_run_one(struct vm_driver *d) { return run_one(d); }

/* One linear frame with its skb fields: the verdict in d->r0 */
int vm_run_frame(struct vm_driver *d, const uint8_t *frame, uint64_t len,
		 const struct vm_frame_meta *meta)
{
	skb_from_meta(&d->env.skb, frame, len, meta);
	return run_one(d);
}

/* An Ethernet frame from its MAC header as a receiving device builds its skb
 * (pybpf.net.skb.SkBuff.from_frame: eth_type_trans with the device address all
 * zeros and the broadcast address all ones, data at the MAC header) */
int vm_run_eth_frame(struct vm_driver *d, const uint8_t *frame, uint64_t len, uint32_t ifindex)
{
	static const uint8_t zero[6], ones[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct vm_frame_meta m = {0, ETH_HLEN_, 0, 0, ifindex, 0, 0, 0};
	if (len < ETH_HLEN_)
		return -1;
	if (!memcmp(frame, zero, 6))
		m.pkt_type = PACKET_HOST_;
	else if (frame[0] & 1)
		m.pkt_type = memcmp(frame, ones, 6) ? PACKET_MULTICAST_ : PACKET_BROADCAST_;
	else
		m.pkt_type = PACKET_OTHERHOST_;
	uint32_t proto = (uint32_t)frame[12] << 8 | frame[13];
	if (proto >= 0x0600)
		m.protocol = proto;
	else if (len >= ETH_HLEN_ + 2 && frame[14] == 0xff && frame[15] == 0xff)
		m.protocol = 0x0001; /* ETH_P_802_3: raw IPX */
	else
		m.protocol = 0x0004; /* ETH_P_802_2 */
	skb_from_meta(&d->env.skb, frame, len, &m);
	return run_one(d);
}

/* BPF_PROG_TEST_RUN's repeat loop (bpf_test_run in net/bpf/test_run.c): the same skb
 * `repeat` times, what one run writes to the __sk_buff seen by the next; the mean
 * duration per run in ns in *duration. */
int vm_test_run(struct vm_driver *d, uint64_t repeat, uint64_t *duration)
{
	struct timespec t0, t1;
	int rc = EXIT_OK;
	if (!repeat)
		repeat = 1;
	vm_render_sk_buff(&d->env.skb, d->tmpl);
	/* a verified program of a type that may write cb[] only leaves the image as the
	   next iteration's render would make it: render it once */
	d->templated = d->kind != KIND_SOCKET ? 0 : d->cb_only ? 2 : 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t i = 0; i < repeat; i++) {
		rc = run_one(d);
		if (rc != EXIT_OK)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	d->templated = 0;
	uint64_t ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull +
		      (uint64_t)(t1.tv_nsec - t0.tv_nsec);
	*duration = ns / repeat;
	return rc;
}

/* --- the driver: many packets -------------------------------------------------------- */

static inline void count(struct vm_counts *c, uint64_t len, uint32_t verdict)
{
	c->received++;
	if (!verdict) {
		c->dropped++;
		return;
	}
	c->accepted++;
	c->delivered_bytes += verdict < len ? verdict : len;
}

static void skb_from_meta(struct vm_skb *skb, const uint8_t *data, uint64_t len,
			  const struct vm_frame_meta *m)
{
	memset(skb, 0, sizeof *skb);
	skb->head = (uint8_t *)(uintptr_t)data; /* read-only: a socket filter cannot write it */
	skb->head_len = len;
	skb->data_off = 0;
	skb->mac_off = m->mac_off;
	skb->net_off = m->net_off;
	skb->protocol = m->protocol;
	skb->pkt_type = m->pkt_type;
	skb->ifindex = m->ifindex;
	skb->vlan_present = m->vlan_present;
	skb->vlan_tci = m->vlan_tci;
	skb->vlan_proto = m->vlan_proto;
}

/* `meta` holds one struct per frame, or one for all (`one_meta`) */
int vm_run_frames(struct vm_driver *d, const uint8_t *buf, const uint64_t *off,
		  const struct vm_frame_meta *meta, uint64_t one_meta, uint64_t n, uint32_t *verdicts,
		  struct vm_counts *c)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t len = off[i + 1] - off[i];
		skb_from_meta(&d->env.skb, buf + off[i], len, &meta[one_meta ? 0 : i]);
		int rc = run_one(d);
		if (rc != EXIT_OK) {
			c->failed = i;
			return rc;
		}
		uint32_t v = (uint32_t)d->r0;
		if (verdicts)
			verdicts[i] = v;
		count(c, len, v);
		c->packets++;
	}
	return EXIT_OK;
}
