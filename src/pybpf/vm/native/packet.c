/* Programs with direct packet access (XDP, tc, cgroup_skb) natively: their context and
 * the packet helpers run most.
 *
 * The Python twins each part must agree with exactly (tests/vm/test_batch_packets.py
 * runs the same programs both ways):
 *
 *   vm_render_ctx / vm_writeback_ctx   pybpf.progtypes.render_ctx / writeback_ctx
 *   nat_xdp_adjust_*, nat_xdp_*_bytes  pybpf.net.xdp.XdpBuff (through pybpf.helpers.packet)
 *   nat_redirect                       pybpf.helpers.packet
 *   nat_csum_diff, nat_l3/l4_csum_replace   pybpf.helpers.csum
 *   nat_skb_store_bytes, nat_skb_vlan_push/pop   pybpf.helpers.skb_change
 *
 * The frames a capture run loads and what each packet became are in actions.c.
 *
 * Helpers that change an skb take what the program wrote to its __sk_buff first and
 * render the context again afterwards, as the Python ones do.
 */
#include "vm.h"

#define M32 0xffffffffull
#define NEG(e) ((uint64_t)(-(int64_t)(e)))
#define EINVAL_ 22
#define EFAULT_ 14
#define ENOMEM_ 12
#define ETH_HLEN_ 14
#define VLAN_HLEN_ 4
#define SHINFO 320
#define XDP_FRAME_HDR 40
#define SKB_HEADROOM_ 256 /* where a fresh skb's data starts (actions.c, TcSkb) */
#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define CHECKSUM_COMPLETE_ 2
#define CHECKSUM_PARTIAL_ 3
#define XDP_ABORTED_ 0
#define XDP_REDIRECT_ 4
#define TC_ACT_SHOT_ 2
#define TC_ACT_REDIRECT_ 7
#define BPF_F_INGRESS_ 1ull
#define BPF_F_PSEUDO_HDR_ (1ull << 4)
#define BPF_F_MARK_MANGLED_0_ (1ull << 5)
#define BPF_F_MARK_ENFORCE_ (1ull << 6)
#define BPF_F_IPV6_ (1ull << 7)
#define BPF_F_RECOMPUTE_CSUM_ 1ull
#define BPF_F_INVALIDATE_HASH_ 2ull

static inline void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline uint16_t get16le(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline void put16le(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline uint32_t be16at(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static inline uint32_t swab16(uint32_t v) { v &= 0xffff; return ((v & 0xff) << 8) | (v >> 8); }

static inline struct vm_driver *driver_of(uint64_t *rt)
{
	return (struct vm_driver *)(void *)vm_env_of(rt); /* env is the driver's first member */
}

static inline int is_tc(const struct vm_driver *d)
{
	return d->prog_type == PROG_TYPE_SCHED_CLS || d->prog_type == PROG_TYPE_SCHED_ACT;
}

/* --- the context ---------------------------------------------------------------------- */

void vm_render_ctx(struct vm_driver *d)
{
	struct vm_env *env = &d->env;
	struct vm_pkt *p = &env->pkt;
	uint8_t *img = env->ctx;
	if (d->kind == KIND_XDP) {
		put32(img + 0, (uint32_t)(p->bpf + p->data));
		put32(img + 4, (uint32_t)(p->bpf + p->end));
		put32(img + 8, (uint32_t)(p->bpf + p->meta));
		put32(img + 12, p->ingress_ifindex);
		put32(img + 16, p->rx_queue_index);
		put32(img + 20, p->egress_ifindex);
		return;
	}
	struct vm_skb *skb = &env->skb;
	vm_render_sk_buff(skb, img);
	put32(img + 76, (uint32_t)(p->bpf + skb->data_off));
	put32(img + 80, (uint32_t)(p->bpf + skb->head_len));
	if (is_tc(d)) {
		img[180] = p->tstamp_type & 3;
		put32(img + 140, (uint32_t)(p->bpf + skb->data_off - p->meta_len));
	}
}

void vm_writeback_ctx(struct vm_driver *d)
{
	if (d->kind == KIND_SKB)
		vm_writeback_sk_buff(&d->env.skb, d->env.ctx, d->prog_type);
}

/* --- XDP helpers (pybpf.net.xdp.XdpBuff) ------------------------------------------------ */

#define HELPER(name)                                                                       \
	static uint64_t name(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2, uint64_t r3,  \
			     uint64_t r4, uint64_t r5, uint64_t pc)
#define UNUSED (void)idx, (void)r1, (void)r2, (void)r3, (void)r4, (void)r5, (void)pc

static inline uint64_t pycall(uint64_t *rt, uint64_t idx, uint64_t r1, uint64_t r2, uint64_t r3,
			      uint64_t r4, uint64_t r5, uint64_t pc)
{
	return ((vm_helper_fn)(uintptr_t)rt[RT_PYCALL])(rt, idx, r1, r2, r3, r4, r5, pc);
}

/* an XDP helper needs an XDP frame: anything else goes to Python, which says why */
#define NEED(kind_)                                                                        \
	struct vm_driver *d = driver_of(rt);                                               \
	if (d->kind != (kind_))                                                            \
		return pycall(rt, idx, r1, r2, r3, r4, r5, pc);

HELPER(nat_xdp_adjust_head)
{
	NEED(KIND_XDP);
	struct vm_pkt *p = &d->env.pkt;
	int64_t delta = (int32_t)(uint32_t)r2;
	uint64_t metalen = p->data - p->meta;
	int64_t data = (int64_t)p->data + delta;
	uint64_t ret = 0;
	if (data < (int64_t)(XDP_FRAME_HDR + metalen) || data > (int64_t)p->end - ETH_HLEN_) {
		ret = NEG(EINVAL_);
	} else {
		if (metalen)
			memmove(p->buf + p->meta + delta, p->buf + p->meta, metalen);
		p->meta += delta;
		p->data = (uint64_t)data;
		if (p->meta < p->low)
			p->low = (uint32_t)p->meta;
	}
	vm_render_ctx(d);
	return ret;
}

HELPER(nat_xdp_adjust_meta)
{
	NEED(KIND_XDP);
	struct vm_pkt *p = &d->env.pkt;
	int64_t meta = (int64_t)p->meta + (int32_t)(uint32_t)r2;
	uint64_t ret = 0;
	if (meta < XDP_FRAME_HDR || meta > (int64_t)p->data)
		ret = NEG(EINVAL_);
	else if ((p->data - meta) % 4 || p->data - meta > 255)
		ret = NEG(13); /* EACCES */
	else
		p->meta = (uint64_t)meta;
	if (p->meta < p->low)
		p->low = (uint32_t)p->meta;
	vm_render_ctx(d);
	return ret;
}

HELPER(nat_xdp_adjust_tail)
{
	NEED(KIND_XDP);
	struct vm_pkt *p = &d->env.pkt;
	int64_t delta = (int32_t)(uint32_t)r2;
	int64_t end = (int64_t)p->end + delta;
	uint64_t ret = 0;
	if (end > (int64_t)(p->frame_sz - SHINFO) || end < (int64_t)p->data + ETH_HLEN_) {
		ret = NEG(EINVAL_);
	} else {
		if (delta > 0) {
			memset(p->buf + p->end, 0, (size_t)delta);
			if ((uint64_t)end > p->hwm)
				p->hwm = (uint32_t)end;
		}
		p->end = (uint64_t)end;
	}
	vm_render_ctx(d);
	return ret;
}

HELPER(nat_xdp_get_buff_len)
{
	NEED(KIND_XDP);
	return d->env.pkt.end - d->env.pkt.data;
}

HELPER(nat_xdp_load_bytes)
{
	NEED(KIND_XDP);
	struct vm_pkt *p = &d->env.pkt;
	uint64_t off = r2 & M32, n = r4 & M32;
	uint8_t *to = vm_xlate(rt, r3, n, 1);
	if (!to)
		return vm_memfault(rt, 1, r3, n);
	if (off + n > p->end - p->data)
		return NEG(EINVAL_);
	memcpy(to, p->buf + p->data + off, n);
	return 0;
}

HELPER(nat_xdp_store_bytes)
{
	NEED(KIND_XDP);
	struct vm_pkt *p = &d->env.pkt;
	uint64_t off = r2 & M32, n = r4 & M32;
	const uint8_t *from = vm_xlate(rt, r3, n, 0);
	if (!from)
		return vm_memfault(rt, 0, r3, n);
	if (off + n > p->end - p->data)
		return NEG(EINVAL_);
	memmove(p->buf + p->data + off, from, n);
	return 0;
}

/* bpf_redirect: XDP's or tc's, by the context */
HELPER(nat_redirect)
{
	UNUSED;
	struct vm_driver *d = driver_of(rt);
	struct vm_pkt *p = &d->env.pkt;
	if (d->kind == KIND_XDP) {
		if (r2)
			return XDP_ABORTED_;
		p->ri_ifindex = (uint32_t)r1;
		p->ri_flags = 0;
		return XDP_REDIRECT_;
	}
	if (d->kind != KIND_SKB)
		return pycall(rt, idx, r1, r2, r3, r4, r5, pc);
	if (r2 & ~BPF_F_INGRESS_)
		return TC_ACT_SHOT_;
	p->ri_ifindex = (uint32_t)r1;
	p->ri_flags = (uint32_t)r2;
	return TC_ACT_REDIRECT_;
}

/* --- checksums (include/net/checksum.h on x86-64; pybpf.helpers.packet) ---------------- */

/* csum_partial() as x86-64 computes it: 0 only when the seed and every byte are 0 */
static uint32_t csum_partial32(const uint8_t *p, uint64_t n, uint32_t seed)
{
	unsigned __int128 s = seed;
	uint64_t i = 0, w;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		s += w;
	}
	if (i < n) {
		w = 0;
		memcpy(&w, p + i, n - i);
		s += w;
	}
	if (!s)
		return 0;
	return (uint32_t)((s - 1) % 0xffffffffu) + 1;
}

static inline uint32_t csum_add(uint32_t a, uint32_t b)
{
	uint32_t r = a + b;
	return r + (r < b);
}

static inline uint32_t csum_sub(uint32_t a, uint32_t b) { return csum_add(a, ~b); }

static inline uint16_t csum_fold(uint32_t s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static inline uint32_t from32to16(uint32_t s)
{
	s += (s >> 16) | (s << 16);
	return s >> 16;
}

static inline uint16_t add16(uint16_t a, uint16_t b)
{
	uint16_t r = a + b;
	return r + (r < b);
}

static inline uint16_t csum_replace2(uint16_t sum, uint16_t old, uint16_t new_)
{
	return (uint16_t)~add16(add16((uint16_t)~sum, (uint16_t)~old), new_);
}

static inline uint16_t csum_replace4(uint16_t sum, uint32_t from, uint32_t to)
{
	return csum_fold(csum_add(csum_sub(~(uint32_t)sum, from), to));
}

static inline uint16_t csum_replace_by_diff(uint16_t sum, uint32_t diff)
{
	return csum_fold(csum_add(diff, ~(uint32_t)sum));
}

HELPER(nat_csum_diff)
{
	(void)idx, (void)pc;
	uint64_t from_size = r2 & M32, to_size = r4 & M32;
	uint32_t seed = (uint32_t)r5;
	if ((from_size | to_size) & 3)
		return NEG(EINVAL_);
	const uint8_t *from = from_size ? vm_xlate(rt, r1, from_size, 0) : NULL;
	if (from_size && !from)
		return vm_memfault(rt, 0, r1, from_size);
	const uint8_t *to = to_size ? vm_xlate(rt, r3, to_size, 0) : NULL;
	if (to_size && !to)
		return vm_memfault(rt, 0, r3, to_size);
	if (from_size && to_size)
		return from32to16(
		    csum_sub(csum_partial32(to, to_size, seed), csum_partial32(from, from_size, 0)));
	if (to_size)
		return from32to16(csum_partial32(to, to_size, seed));
	if (from_size)
		return from32to16(~csum_partial32(from, from_size, ~seed));
	return seed;
}

/* --- skb helpers (pybpf.net.tcskb.TcSkb through pybpf.helpers.packet) ------------------- */

static inline uint64_t skb_len(const struct vm_skb *skb) { return skb->head_len - skb->data_off; }

static void rcsum_block(struct vm_pkt *p, const struct vm_skb *skb, uint64_t off, uint64_t n,
			int pull)
{
	if (p->ip_summed != CHECKSUM_COMPLETE_)
		return;
	uint32_t part = csum_partial32(skb->head + skb->data_off + off, n, 0);
	if (pull)
		part = ~part;
	if (off & 1)
		part = (part >> 8) | (part << 24);
	p->csum = csum_add(p->csum, part);
}

HELPER(nat_skb_store_bytes)
{
	NEED(KIND_SKB);
	struct vm_skb *skb = &d->env.skb;
	struct vm_pkt *p = &d->env.pkt;
	uint64_t off = r2 & M32, n = r4 & M32, ret = 0;
	vm_writeback_ctx(d);
	const uint8_t *from = vm_xlate(rt, r3, n, 0);
	if (r5 & ~(BPF_F_RECOMPUTE_CSUM_ | BPF_F_INVALIDATE_HASH_)) {
		ret = NEG(EINVAL_);
	} else if (off > 0x7fffffff || off + n > skb_len(skb)) {
		ret = NEG(EFAULT_);
	} else if (!from) {
		vm_render_ctx(d);
		return vm_memfault(rt, 0, r3, n);
	} else {
		if (r5 & BPF_F_RECOMPUTE_CSUM_)
			rcsum_block(p, skb, off, n, 1);
		memmove(skb->head + skb->data_off + off, from, n);
		if (r5 & BPF_F_RECOMPUTE_CSUM_)
			rcsum_block(p, skb, off, n, 0);
		if (r5 & BPF_F_INVALIDATE_HASH_)
			skb->hash = p->sw_hash = p->l4_hash = 0;
	}
	vm_render_ctx(d);
	return ret;
}

HELPER(nat_l3_csum_replace)
{
	NEED(KIND_SKB);
	struct vm_skb *skb = &d->env.skb;
	uint64_t off = r2 & M32, ret = 0, size = r5 & 0xf;
	vm_writeback_ctx(d);
	if (r5 & ~0xfull) {
		ret = NEG(EINVAL_);
	} else if (off > 0xffff || off & 1 || off + 2 > skb_len(skb)) {
		ret = NEG(EFAULT_);
	} else {
		uint8_t *ptr = skb->head + skb->data_off + off;
		uint16_t sum = get16le(ptr);
		if (size == 0 && !r3)
			put16le(ptr, csum_replace_by_diff(sum, (uint32_t)r4));
		else if (size == 2)
			put16le(ptr, csum_replace2(sum, (uint16_t)r3, (uint16_t)r4));
		else if (size == 4)
			put16le(ptr, csum_replace4(sum, (uint32_t)r3, (uint32_t)r4));
		else
			ret = NEG(EINVAL_);
	}
	vm_render_ctx(d);
	return ret;
}

HELPER(nat_l4_csum_replace)
{
	NEED(KIND_SKB);
	struct vm_skb *skb = &d->env.skb;
	struct vm_pkt *p = &d->env.pkt;
	uint64_t off = r2 & M32, ret = 0, size = r5 & 0xf;
	int pseudo = !!(r5 & BPF_F_PSEUDO_HDR_), mmzero = !!(r5 & BPF_F_MARK_MANGLED_0_);
	int mforce = !!(r5 & BPF_F_MARK_ENFORCE_), ipv6 = !!(r5 & BPF_F_IPV6_);
	vm_writeback_ctx(d);
	if (r5 & ~(BPF_F_MARK_MANGLED_0_ | BPF_F_MARK_ENFORCE_ | BPF_F_PSEUDO_HDR_ | 0xfull |
		   BPF_F_IPV6_)) {
		ret = NEG(EINVAL_);
		goto out;
	}
	if (off > 0xffff || off & 1 || off + 2 > skb_len(skb)) {
		ret = NEG(EFAULT_);
		goto out;
	}
	uint8_t *ptr = skb->head + skb->data_off + off;
	uint16_t sum = get16le(ptr), new_ = sum;
	if (mmzero && !mforce && !sum)
		goto out;
	if (size == 0) {
		if (r3) {
			ret = NEG(EINVAL_);
			goto out;
		}
		uint32_t diff = (uint32_t)r4;
		if (p->ip_summed != CHECKSUM_PARTIAL_) {
			new_ = csum_replace_by_diff(sum, diff);
			if (p->ip_summed == CHECKSUM_COMPLETE_ && pseudo && !ipv6)
				p->csum = ~csum_sub(diff, p->csum);
		} else if (pseudo) {
			new_ = (uint16_t)~csum_fold(csum_add(diff, sum));
		}
	} else if (size == 2 || size == 4) {
		uint32_t from = size == 2 ? (uint16_t)r3 : (uint32_t)r3;
		uint32_t to = size == 2 ? (uint16_t)r4 : (uint32_t)r4;
		if (p->ip_summed != CHECKSUM_PARTIAL_) {
			new_ = csum_replace4(sum, from, to);
			if (p->ip_summed == CHECKSUM_COMPLETE_ && pseudo)
				p->csum = ~csum_add(csum_sub(~p->csum, from), to);
		} else if (pseudo) {
			new_ = (uint16_t)~csum_fold(csum_add(csum_sub(sum, from), to));
		}
	} else {
		ret = NEG(EINVAL_);
		goto out;
	}
	if (mmzero && !new_)
		new_ = 0xffff;
	put16le(ptr, new_);
out:
	vm_render_ctx(d);
	return ret;
}

/* room before data (skb_cow): the packet moves on in the buffer when there is none */
static int skb_headroom_for(struct vm_driver *d, uint64_t n)
{
	struct vm_skb *skb = &d->env.skb;
	struct vm_pkt *p = &d->env.pkt;
	if (skb->data_off >= n)
		return 0;
	uint64_t k = (n > SKB_HEADROOM_ ? n : SKB_HEADROOM_) - skb->data_off;
	if (skb->head_len + k > p->cap)
		return -1;
	memmove(p->buf + k, p->buf, skb->head_len);
	memset(p->buf, 0, k);
	skb->data_off += k;
	if (skb->mac_off >= 0)
		skb->mac_off += k;
	skb->net_off += k;
	if (p->trans_off >= 0)
		p->trans_off += k;
	skb->head_len += k;
	if (skb->head_len > p->hwm)
		p->hwm = (uint32_t)skb->head_len;
	return 0;
}

static inline int is_vlan(uint32_t proto) { return proto == ETH_P_8021Q_ || proto == ETH_P_8021AD_; }

/* __skb_vlan_pop(): the tag after the MAC addresses leaves the packet; its TCI, or -errno */
static int64_t vlan_pop_data(struct vm_driver *d)
{
	struct vm_skb *skb = &d->env.skb;
	struct vm_pkt *p = &d->env.pkt;
	if ((int64_t)skb->data_off != skb->mac_off)
		return -EINVAL_;
	if (skb_len(skb) < ETH_HLEN_ + VLAN_HLEN_)
		return -ENOMEM_;
	uint8_t *h = skb->head + skb->data_off;
	uint32_t tci = be16at(h + 14), encap = be16at(h + 16);
	rcsum_block(p, skb, 12, VLAN_HLEN_, 1);
	memmove(h + VLAN_HLEN_, h, 12);
	skb->data_off += VLAN_HLEN_;
	skb->mac_off += VLAN_HLEN_;
	if (skb->net_off - (int64_t)skb->data_off < ETH_HLEN_)
		skb->net_off = (int64_t)skb->data_off + ETH_HLEN_;
	p->mac_len = (uint16_t)(skb->net_off - skb->mac_off);
	h = skb->head + skb->data_off;
	if (encap >= 0x0600)
		skb->protocol = encap;
	else if (skb->head_len >= skb->data_off + 16 && h[14] == 0xff && h[15] == 0xff)
		skb->protocol = 0x0001;
	else
		skb->protocol = 0x0004;
	return tci;
}

HELPER(nat_skb_vlan_push)
{
	NEED(KIND_SKB);
	struct vm_skb *skb = &d->env.skb;
	struct vm_pkt *p = &d->env.pkt;
	uint64_t ret = 0;
	uint32_t proto = swab16((uint32_t)r2);
	if (!is_vlan(proto))
		proto = ETH_P_8021Q_;
	vm_writeback_ctx(d);
	if (skb->vlan_present) {
		if ((int64_t)skb->data_off != skb->mac_off) {
			ret = NEG(EINVAL_);
			goto out;
		}
		if (skb_headroom_for(d, VLAN_HLEN_)) {
			ret = NEG(ENOMEM_);
			goto out;
		}
		skb->data_off -= VLAN_HLEN_;
		uint8_t *h = skb->head + skb->data_off;
		memmove(h, h + VLAN_HLEN_, 12);
		h[12] = (uint8_t)(skb->vlan_proto >> 8);
		h[13] = (uint8_t)skb->vlan_proto;
		h[14] = (uint8_t)(skb->vlan_tci >> 8);
		h[15] = (uint8_t)skb->vlan_tci;
		skb->mac_off = (int64_t)skb->data_off;
		skb->net_off -= VLAN_HLEN_; /* it now points at the tag: mac_len stays 14 */
		skb->protocol = skb->vlan_proto;
		rcsum_block(p, skb, 12, VLAN_HLEN_, 0);
	}
	skb->vlan_present = 1;
	skb->vlan_proto = proto;
	skb->vlan_tci = (uint32_t)r3 & 0xffff;
	p->mac_len = (uint16_t)(skb->net_off - skb->mac_off);
out:
	vm_render_ctx(d);
	return ret;
}

HELPER(nat_skb_vlan_pop)
{
	NEED(KIND_SKB);
	struct vm_skb *skb = &d->env.skb;
	uint64_t ret = 0;
	vm_writeback_ctx(d);
	if (skb->vlan_present) {
		skb->vlan_present = skb->vlan_tci = skb->vlan_proto = 0;
	} else {
		if (!is_vlan(skb->protocol))
			goto out;
		int64_t got = vlan_pop_data(d);
		if (got < 0) {
			ret = (uint64_t)got;
			goto out;
		}
	}
	if (is_vlan(skb->protocol)) {
		uint32_t proto = skb->protocol;
		int64_t got = vlan_pop_data(d);
		if (got < 0) {
			ret = (uint64_t)got;
			goto out;
		}
		skb->vlan_present = 1;
		skb->vlan_proto = proto;
		skb->vlan_tci = (uint32_t)got;
	}
out:
	vm_render_ctx(d);
	return ret;
}

struct packet_helper {
	const char *name;
	vm_helper_fn fn;
};

static const struct packet_helper PACKET_HELPERS[] = {
	{"xdp_adjust_head", nat_xdp_adjust_head},
	{"xdp_adjust_meta", nat_xdp_adjust_meta},
	{"xdp_adjust_tail", nat_xdp_adjust_tail},
	{"xdp_get_buff_len", nat_xdp_get_buff_len},
	{"xdp_load_bytes", nat_xdp_load_bytes},
	{"xdp_store_bytes", nat_xdp_store_bytes},
	{"redirect", nat_redirect},
	{"csum_diff", nat_csum_diff},
	{"skb_store_bytes", nat_skb_store_bytes},
	{"l3_csum_replace", nat_l3_csum_replace},
	{"l4_csum_replace", nat_l4_csum_replace},
	{"skb_vlan_push", nat_skb_vlan_push},
	{"skb_vlan_pop", nat_skb_vlan_pop},
	{NULL, NULL},
};

void *vm_packet_helper(const char *name)
{
	for (const struct packet_helper *h = PACKET_HELPERS; h->name; h++)
		if (!strcmp(h->name, name))
			return (void *)h->fn;
	return NULL;
}

