/* RINGBUF, the producer side (kernel/bpf/ringbuf.c): reserve, submit, discard, output,
 * query.  The consumer (pybpf/maps/ringbuf.py) reads the same storage and advances
 * consumer_pos, as libbpf's ring_buffer__consume() does over the kernel's mmap.
 *
 * Each record starts with the 8-byte struct bpf_ringbuf_hdr (u32 len with
 * BPF_RINGBUF_BUSY_BIT while reserved and BPF_RINGBUF_DISCARD_BIT when discarded,
 * u32 pg_off) and is padded to 8 bytes.  The kernel maps the data pages twice so a
 * record crossing the end is contiguous; storage is likewise two ring sizes long, and
 * a commit copies the part written past the end back to the start.  Positions grow
 * without bound and are masked, exactly as in __bpf_ringbuf_reserve().
 *
 * Record headers live in storage, which programs can write: they are checked before
 * any length read from them is used.
 */
#include "map_impl.h"

/* pages before the data in struct bpf_ringbuf: header, consumer, producer page */
#define RINGBUF_PGOFF 3
#define RINGBUF_PAGE_SIZE 4096
#define RINGBUF_MAX_RECORD_SZ (UINT32_MAX / 4)
#define RINGBUF_LEN_MASK (~(uint32_t)(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT))

/* the positions the consumer shares (the kernel's consumer and producer pages) */
struct ringbuf_pos {
	uint64_t consumer_pos;
	uint64_t producer_pos;
	uint64_t pending_pos;
	uint64_t wakeups; /* irq_work a commit would queue for a sleeping consumer */
};

struct bpf_ringbuf {
	struct pybpf_map map;
	uint64_t mask;
	struct ringbuf_pos pos;
};

static inline struct bpf_ringbuf *rb_of(struct pybpf_map *map)
{
	return (struct bpf_ringbuf *)map;
}

static inline uint32_t hdr_len(struct bpf_ringbuf *rb, uint64_t off)
{
	uint32_t len;

	memcpy(&len, rb->map.storage + off, 4);
	return len;
}

static void *__bpf_ringbuf_reserve(struct bpf_ringbuf *rb, uint64_t size)
{
	uint64_t len, cons_pos, prod_pos, pend_pos, new_prod_pos, off;
	uint32_t hdr[2];

	if (size > RINGBUF_MAX_RECORD_SZ)
		return NULL;
	len = round_up8(size + BPF_RINGBUF_HDR_SZ);
	if (len > rb->map.max_entries)
		return NULL;
	cons_pos = rb->pos.consumer_pos;
	prod_pos = rb->pos.producer_pos;
	pend_pos = rb->pos.pending_pos;
	/* skip records committed since: the space of the oldest busy one is still taken */
	while (pend_pos < prod_pos) {
		uint32_t hl = hdr_len(rb, pend_pos & rb->mask & ~(uint64_t)7);

		if (hl & BPF_RINGBUF_BUSY_BIT)
			break;
		pend_pos += round_up8((uint64_t)(hl & ~(uint32_t)BPF_RINGBUF_DISCARD_BIT) +
				      BPF_RINGBUF_HDR_SZ);
	}
	rb->pos.pending_pos = pend_pos;
	new_prod_pos = prod_pos + len;
	if (new_prod_pos - cons_pos > rb->mask || new_prod_pos - pend_pos > rb->mask)
		return NULL;
	off = prod_pos & rb->mask & ~(uint64_t)7;
	hdr[0] = (uint32_t)size | BPF_RINGBUF_BUSY_BIT;
	hdr[1] = RINGBUF_PGOFF + off / RINGBUF_PAGE_SIZE;
	memcpy(rb->map.storage + off, hdr, sizeof(hdr));
	rb->pos.producer_pos = new_prod_pos;
	return rb->map.storage + off + BPF_RINGBUF_HDR_SZ;
}

static void *ringbuf_map_reserve(struct pybpf_map *map, uint64_t size, uint64_t flags)
{
	if (flags)
		return NULL;
	return __bpf_ringbuf_reserve(rb_of(map), size);
}

/* bpf_ringbuf_commit(): clear BUSY (set DISCARD), fold the wrapped tail back */
static long bpf_ringbuf_commit(struct pybpf_map *map, void *sample, uint64_t flags, bool discard)
{
	struct bpf_ringbuf *rb = rb_of(map);
	uintptr_t p = (uintptr_t)sample, base = (uintptr_t)map->storage;
	uint64_t hoff, end;
	uint32_t new_len;

	if (p < base + BPF_RINGBUF_HDR_SZ)
		return -EINVAL;
	hoff = p - base - BPF_RINGBUF_HDR_SZ;
	if (hoff >= map->max_entries || hoff % 8)
		return -EINVAL;
	new_len = hdr_len(rb, hoff);
	if (!(new_len & BPF_RINGBUF_BUSY_BIT))
		return -EINVAL;
	new_len ^= BPF_RINGBUF_BUSY_BIT;
	if (discard)
		new_len |= BPF_RINGBUF_DISCARD_BIT;
	if ((uint64_t)(new_len & RINGBUF_LEN_MASK) + BPF_RINGBUF_HDR_SZ > map->max_entries)
		return -EINVAL; /* a header a program overwrote */
	end = hoff + round_up8((uint64_t)(new_len & RINGBUF_LEN_MASK) + BPF_RINGBUF_HDR_SZ);
	if (end > map->max_entries)
		memcpy(map->storage, map->storage + map->max_entries, end - map->max_entries);
	memcpy(map->storage + hoff, &new_len, 4);
	if ((flags & BPF_RB_FORCE_WAKEUP) ||
	    ((rb->pos.consumer_pos & rb->mask) == hoff && !(flags & BPF_RB_NO_WAKEUP)))
		rb->pos.wakeups++;
	return 0;
}

static long ringbuf_map_submit(struct pybpf_map *map, void *sample, uint64_t flags)
{
	return bpf_ringbuf_commit(map, sample, flags, false);
}

static long ringbuf_map_discard(struct pybpf_map *map, void *sample, uint64_t flags)
{
	return bpf_ringbuf_commit(map, sample, flags, true);
}

static long ringbuf_map_output(struct pybpf_map *map, const void *data, uint64_t size,
			       uint64_t flags)
{
	void *rec;

	if (flags & ~(uint64_t)(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP))
		return -EINVAL;
	rec = __bpf_ringbuf_reserve(rb_of(map), size);
	if (!rec)
		return -EAGAIN;
	memcpy(rec, data, size);
	return bpf_ringbuf_commit(map, rec, flags, false);
}

static uint64_t ringbuf_map_query(struct pybpf_map *map, uint64_t flags)
{
	struct bpf_ringbuf *rb = rb_of(map);

	switch (flags) {
	case BPF_RB_AVAIL_DATA:
		return rb->pos.producer_pos - rb->pos.consumer_pos;
	case BPF_RB_RING_SIZE:
		return map->max_entries;
	case BPF_RB_CONS_POS:
		return rb->pos.consumer_pos;
	case BPF_RB_PROD_POS:
		return rb->pos.producer_pos;
	}
	return 0;
}

/* what bpf() and programs cannot do to a ring buffer */
static long ringbuf_map_update_elem(struct pybpf_map *map, const void *key, const void *value,
				    uint64_t flags, uint32_t cpu)
{
	return -ENOTSUPP;
}

static long ringbuf_map_delete_elem(struct pybpf_map *map, const void *key, uint32_t cpu)
{
	return -ENOTSUPP;
}

static long ringbuf_map_lookup_sys(struct pybpf_map *map, const void *key, void *value,
				   uint32_t cpu)
{
	return -ENOTSUPP;
}

static long ringbuf_map_get_next_key(struct pybpf_map *map, const void *key, void *next_key)
{
	return -ENOTSUPP;
}

static const struct pybpf_map_ops ringbuf_ops = {
	.map_lookup_elem = map_lookup_elem_null,
	.map_update_elem = ringbuf_map_update_elem,
	.map_delete_elem = ringbuf_map_delete_elem,
	MAP_OPS_NOT_QUEUE,
	.map_lookup_sys = ringbuf_map_lookup_sys,
	.map_update_sys = ringbuf_map_update_elem,
	.map_lookup_and_delete_sys = map_lookup_and_delete_enotsupp,
	.map_get_next_key = ringbuf_map_get_next_key,
	.ringbuf_reserve = ringbuf_map_reserve,
	.ringbuf_submit = ringbuf_map_submit,
	.ringbuf_discard = ringbuf_map_discard,
	.ringbuf_output = ringbuf_map_output,
	.ringbuf_query = ringbuf_map_query,
};

static long ringbuf_mem_usage(const struct pybpf_map_attr *attr, struct pybpf_map *layout,
			      uint64_t *storage_size, uint64_t *private_size)
{
	uint32_t n = attr->max_entries;

	if (attr->key_size || attr->value_size || !n || (n & (n - 1)) || n % RINGBUF_PAGE_SIZE)
		return -EINVAL;
	*storage_size = 2 * (uint64_t)n;
	*private_size = sizeof(struct bpf_ringbuf);
	return 0;
}

static struct pybpf_map *ringbuf_alloc(const struct pybpf_map_attr *attr)
{
	struct bpf_ringbuf *rb = calloc(1, sizeof(*rb));

	if (rb)
		rb->mask = attr->max_entries - 1;
	return rb ? &rb->map : NULL;
}

static void ringbuf_free(struct pybpf_map *map)
{
	free(map);
}

static uint64_t ringbuf_count(struct pybpf_map *map)
{
	return rb_of(map)->pos.producer_pos - rb_of(map)->pos.consumer_pos;
}

const struct map_class ringbuf_class = {
	.ops = &ringbuf_ops,
	.mem_usage = ringbuf_mem_usage,
	.alloc = ringbuf_alloc,
	.free = ringbuf_free,
	.count = ringbuf_count,
};

/* the positions the consumer reads and advances (consumer_pos is user space's to
 * write; a bad value makes reservations fail, never touches memory out of the ring) */
PYBPF_EXPORT struct ringbuf_pos *pybpf_ringbuf_pos(struct pybpf_map *map)
{
	return map->ops == &ringbuf_ops ? &rb_of(map)->pos : NULL;
}

/* restore a pinned ring's positions: 0, -EINVAL unless they are 8-aligned and
 * consumer <= pending <= producer <= consumer + ring size */
PYBPF_EXPORT long pybpf_ringbuf_restore(struct pybpf_map *map, uint64_t consumer_pos,
					uint64_t producer_pos, uint64_t pending_pos)
{
	struct bpf_ringbuf *rb = rb_of(map);

	if (map->ops != &ringbuf_ops || (consumer_pos | producer_pos | pending_pos) % 8 ||
	    consumer_pos > pending_pos || pending_pos > producer_pos ||
	    producer_pos - consumer_pos > map->max_entries)
		return -EINVAL;
	rb->pos.consumer_pos = consumer_pos;
	rb->pos.producer_pos = producer_pos;
	rb->pos.pending_pos = pending_pos;
	return 0;
}
