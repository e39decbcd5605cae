/* XDP, tc and cgroup_skb programs over many frames: each frame loaded as a test run
 * presents it, the program run, what became of the packet counted and recorded.
 *
 * The Python twins it must agree with exactly (tests/progtypes run both):
 *
 *   load_xdp / load_skb     pybpf.net.xdp.XdpBuff.load, pybpf.net.tcskb.TcSkb.load
 *   wire_frame              XdpBuff.packet, TcSkb.wire_frame
 *   vm_action_packet        pybpf.user.direct.outcome, pybpf.net.replay.record_outcome
 */
#include "vm.h"

#define ETH_HLEN_ 14
#define VLAN_HLEN_ 4
#define XDP_HEADROOM 256
#define XDP_FRAME_SZ 4096
#define SHINFO 320
#define SKB_HEADROOM_ 256
#define XDP_REDIRECT_ 4
#define TC_ACT_REDIRECT_ 7

static inline uint32_t be16at(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }

static inline int is_tc(const struct vm_driver *d)
{
	return d->prog_type == PROG_TYPE_SCHED_CLS || d->prog_type == PROG_TYPE_SCHED_ACT;
}

/* --- frames as a test run presents them ----------------------------------------------- */

static inline uint64_t align64(uint64_t n) { return (n + 63) & ~63ull; }

/* zero what a longer earlier packet left past `end` */
static void clear_tail(struct vm_pkt *p, uint64_t end)
{
	if (p->hwm > end)
		memset(p->buf + end, 0, p->hwm - end);
	p->hwm = (uint32_t)end;
}

static int load_xdp(struct vm_driver *d, const uint8_t *frame, uint64_t len)
{
	struct vm_pkt *p = &d->env.pkt;
	uint64_t need = XDP_HEADROOM + align64(len) + SHINFO;
	if (need > p->cap)
		return -1;
	clear_tail(p, XDP_HEADROOM + len);
	if (p->low < XDP_HEADROOM) /* what the last frame's metadata or head moves wrote */
		memset(p->buf + p->low, 0, XDP_HEADROOM - p->low);
	p->low = XDP_HEADROOM;
	memcpy(p->buf + XDP_HEADROOM, frame, len);
	p->meta = p->data = XDP_HEADROOM;
	p->end = XDP_HEADROOM + len;
	p->frame_sz = need > XDP_FRAME_SZ ? need : XDP_FRAME_SZ;
	p->ingress_ifindex = 1;
	p->rx_queue_index = 0;
	p->egress_ifindex = 0;
	return 0;
}

/* eth_type_trans() on the loopback device (address and broadcast address all zero) */
static void loopback_eth_type_trans(const uint8_t *f, uint64_t len, uint32_t *proto,
				    uint32_t *pkt_type)
{
	static const uint8_t zero[6];
	if (!memcmp(f, zero, 6))
		*pkt_type = 0; /* PACKET_HOST */
	else if (f[0] & 1)
		*pkt_type = 2; /* PACKET_MULTICAST: lo has no broadcast address */
	else
		*pkt_type = 3; /* PACKET_OTHERHOST */
	uint32_t t = be16at(f + 12);
	if (t >= 0x0600)
		*proto = t;
	else if (len >= 16 && f[14] == 0xff && f[15] == 0xff)
		*proto = 0x0001;
	else
		*proto = 0x0004;
}

static int load_skb(struct vm_driver *d, const uint8_t *frame, uint64_t len)
{
	struct vm_pkt *p = &d->env.pkt;
	struct vm_skb *skb = &d->env.skb;
	uint64_t start = SKB_HEADROOM_;
	if (start + len + SKB_HEADROOM_ > p->cap)
		return -1;
	clear_tail(p, start + len);
	memcpy(p->buf + start, frame, len);
	memset(skb, 0, sizeof *skb);
	skb->head = p->buf;
	skb->head_len = start + len;
	skb->mac_off = (int64_t)start;
	skb->net_off = (int64_t)(start + ETH_HLEN_);
	skb->data_off = is_tc(d) ? start : start + ETH_HLEN_;
	loopback_eth_type_trans(frame, len, &skb->protocol, &skb->pkt_type);
	skb->ifindex = 1;
	p->meta_len = p->csum = 0;
	p->ip_summed = p->csum_level = p->l4_hash = p->sw_hash = 0;
	p->encap = p->tstamp_type = 0;
	p->mac_len = 0;
	p->trans_off = -1;
	return 0;
}

/* --- one packet's outcome (pybpf.user.direct.outcome, pybpf.net.replay) ---------------- */

static int leaves(const struct vm_driver *d, uint32_t r)
{
	if (d->kind == KIND_XDP)
		return r == 2 || r == 3 || r == 4;
	if (d->prog_type == PROG_TYPE_CGROUP_SKB)
		return r & 1;
	int32_t s = (int32_t)r;
	return s == -1 || s == 0 || s == 1 || s == 3 || s == 7;
}

/* The frame as it leaves: XDP's [data, data_end); an skb from its MAC header, an
 * offloaded VLAN tag written in (TcSkb.wire_frame). Returns its length; writes it to
 * `out` (room for `cap` bytes) when that is not NULL. */
static uint64_t wire_frame(const struct vm_driver *d, uint8_t *out, uint64_t cap)
{
	const struct vm_pkt *p = &d->env.pkt;
	if (d->kind == KIND_XDP) {
		uint64_t n = p->end - p->data;
		if (out && n <= cap)
			memcpy(out, p->buf + p->data, n);
		return n;
	}
	const struct vm_skb *skb = &d->env.skb;
	uint64_t start = skb->mac_off >= 0 ? (uint64_t)skb->mac_off : skb->data_off;
	if (start > skb->data_off)
		start = skb->data_off;
	uint64_t n = skb->head_len - start;
	int tag = skb->vlan_present && skb->mac_off >= 0 && n >= 12;
	uint64_t total = n + (tag ? VLAN_HLEN_ : 0);
	if (!out || total > cap)
		return total;
	const uint8_t *f = skb->head + start;
	if (!tag) {
		memcpy(out, f, n);
		return n;
	}
	memcpy(out, f, 12);
	out[12] = (uint8_t)(skb->vlan_proto >> 8);
	out[13] = (uint8_t)skb->vlan_proto;
	out[14] = (uint8_t)(skb->vlan_tci >> 8);
	out[15] = (uint8_t)skb->vlan_tci;
	memcpy(out + 16, f + 12, n - 12);
	return total;
}

static void count_redirect(struct vm_actions *a, uint32_t ifindex, uint32_t flags)
{
	for (uint32_t i = 0; i < a->nrd; i++) {
		if (a->rd_ifindex[i] == ifindex && a->rd_flags[i] == flags) {
			a->rd_count[i]++;
			return;
		}
	}
	if (a->nrd < 16) {
		a->rd_ifindex[a->nrd] = ifindex;
		a->rd_flags[a->nrd] = flags;
		a->rd_count[a->nrd++] = 1;
		return;
	}
	a->rd_other++;
}

/* Load one Ethernet frame as a test run presents it, run the program, count and record
 * what became of it. 1: done; 0: no room left in `a` (nothing run: call again after
 * flushing); -1: the frame is too short (counted); another EXIT_* code (negated) when
 * the program failed. */
int vm_action_packet(struct vm_driver *d, const uint8_t *frame, uint64_t len, uint64_t ts,
		     uint64_t index, struct vm_actions *a)
{
	if (len < ETH_HLEN_) {
		a->too_short++;
		return -1;
	}
	uint64_t room = a->write ? len + VLAN_HLEN_ + 65536 : 0;
	if (a->write && (a->nouts == a->outs_cap || a->arena_used + room > a->arena_cap) &&
	    a->nouts) {
		a->full = 1;
		return 0;
	}
	int bad = d->kind == KIND_XDP ? load_xdp(d, frame, len) : load_skb(d, frame, len);
	if (bad)
		return -EXIT_VMFAULT;
	d->env.pkt.ts_ns = ts;
	int rc = vm_run_one(d);
	if (rc != EXIT_OK)
		return -rc;
	uint32_t r = (uint32_t)d->r0;
	a->hist[r < 16 ? r : r == 0xffffffffu ? 16 : 17]++;
	struct vm_pkt *p = &d->env.pkt;
	uint32_t ifindex = 0, flags = 0;
	int redirect = d->prog_type != PROG_TYPE_CGROUP_SKB &&
		       r == (d->kind == KIND_XDP ? XDP_REDIRECT_ : TC_ACT_REDIRECT_);
	if (redirect) {
		ifindex = p->ri_ifindex;
		flags = p->ri_flags;
		p->ri_ifindex = p->ri_flags = 0;
		count_redirect(a, ifindex, flags);
	}
	if (a->write && leaves(d, r)) {
		uint64_t n = wire_frame(d, NULL, 0);
		if (a->arena_used + n > a->arena_cap)
			return -EXIT_VMFAULT;
		if (d->prog_type == PROG_TYPE_CGROUP_SKB) { /* read-only: the frame as it came */
			memcpy(a->arena + a->arena_used, frame, len);
			n = len;
		} else {
			wire_frame(d, a->arena + a->arena_used, a->arena_cap - a->arena_used);
		}
		struct vm_out *o = &a->outs[a->nouts++];
		o->index = index;
		o->ts_ns = ts;
		o->retval = r;
		o->ifindex = ifindex;
		o->flags = redirect ? flags | 0x80000000u : 0;
		o->len = (uint32_t)n;
		o->off = a->arena_used;
		a->arena_used += n;
	}
	return 1;
}

/* Frames laid end to end (frame i is buf[off[i]:off[i+1]], timestamps ts[i] or 0):
 * run each; `done` counts the frames taken. EXIT_OK, or the failing EXIT_* code. */
int vm_run_actions_frames(struct vm_driver *d, const uint8_t *buf, const uint64_t *off,
			  const uint64_t *ts, uint64_t n, struct vm_actions *a, uint64_t *done)
{
	for (uint64_t i = *done; i < n; i++) {
		int rc = vm_action_packet(d, buf + off[i], off[i + 1] - off[i], ts ? ts[i] : 0, i, a);
		if (rc == 0)
			return EXIT_OK;
		if (rc < -1)
			return -rc;
		*done = i + 1;
	}
	return EXIT_OK;
}
