/* HASH, PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH (kernel/bpf/hashtab.c).
 *
 * Elements live in preallocated slots of storage (prealloc_init()): a slot is
 * round_up(key_size, 8) + round_up(value_size, 8) bytes, key then value, for a plain
 * hash; ncpus values of round_up(value_size, 8) for a per-cpu one (whose keys are not
 * program-visible).  An element keeps its slot while it lives, so a value pointer
 * handed to a program stays valid; the key copy the table compares against is
 * private, so a program scribbling over storage cannot corrupt the table.
 *
 * Buckets are roundup_pow_of_two(max_entries) lists chosen by htab_map_hash() (jhash
 * with the map's seed, 0 with BPF_F_ZERO_SEED); a new element goes to the head of its
 * bucket, updating a HASH element relinks it at the head (as the kernel links the
 * replacement element first), and get_next_key walks buckets in order, so iteration
 * order is the kernel's whenever the seed is.
 *
 * Free slots come from a LIFO free list (the most recently freed first, then slots
 * never used, lowest first); LRU maps take their slots from the LRU lists instead
 * (lru_list.c), and updating an LRU_HASH element moves it to a fresh slot, as
 * htab_lru_map_update_elem() does.
 */
#include "jhash.h"
#include "lru_list.h"
#include "map_impl.h"

/* bookkeeping of one slot: its place in its bucket's list */
struct htab_elem {
	uint32_t next, prev; /* slot + 1 in the bucket list; 0: none (prev 0: bucket head) */
	uint32_t hash;
	uint32_t linked;
};

struct bpf_htab {
	struct pybpf_map map;
	uint32_t n_buckets; /* a power of two */
	uint32_t hashrnd;
	uint32_t count; /* linked elements */
	bool percpu, lru;
	uint32_t *buckets;     /* first slot + 1 of each bucket, 0 when empty */
	uint64_t *nonempty;    /* one bit per bucket: get_next_key skips empty ones fast */
	struct htab_elem *elems;
	uint8_t *keys; /* max_entries * key_size: the key of each slot */
	uint32_t *freelist;
	uint32_t nfree, next_unused;
	struct bpf_lru lru_list;
};

static inline struct bpf_htab *htab_of(struct pybpf_map *map)
{
	return (struct bpf_htab *)map;
}

static bool htab_type_percpu(uint32_t t)
{
	return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

static bool htab_type_lru(uint32_t t)
{
	return t == BPF_MAP_TYPE_LRU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

static uint64_t roundup_pow_of_two(uint64_t n)
{
	uint64_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* ---- slots, keys, values ---- */

static inline uint8_t *elem_key(struct bpf_htab *htab, uint32_t slot)
{
	return htab->keys + (uint64_t)slot * htab->map.key_size;
}

static inline uint8_t *slot_base(struct bpf_htab *htab, uint32_t slot)
{
	return htab->map.storage + (uint64_t)slot * htab->map.slot_size;
}

static inline uint8_t *value_base(struct bpf_htab *htab, uint32_t slot)
{
	return slot_base(htab, slot) + htab->map.key_stride;
}

/* the value a program or user space writes: user space gives every cpu's copy of a
 * per-cpu value (pcpu_copy_value(onallcpus)), a program its own cpu's; a new per-cpu
 * element starts with value_size zero bytes on the other cpus (pcpu_init_value()) */
static void write_value(struct bpf_htab *htab, uint32_t slot, const void *value,
			bool onallcpus, uint32_t cpu, bool new_elem)
{
	uint8_t *v = value_base(htab, slot);
	uint32_t stride = htab->map.value_stride, vs = htab->map.value_size;

	if (!htab->percpu) {
		memcpy(v, value, vs);
	} else if (onallcpus) {
		memcpy(v, value, htab->map.slot_size);
	} else {
		if (new_elem)
			for (uint32_t c = 0; c < htab->map.ncpus; c++)
				memset(v + (uint64_t)c * stride, 0, vs);
		memcpy(v + (uint64_t)cpu * stride, value, vs);
	}
}

/* the value user space reads: value_size bytes, or every cpu's padded copy */
static void read_value(struct bpf_htab *htab, uint32_t slot, void *value)
{
	memcpy(value, value_base(htab, slot),
	       htab->percpu ? htab->map.slot_size : htab->map.value_size);
}

/* ---- buckets ---- */

static inline uint32_t bucket_of(struct bpf_htab *htab, uint32_t hash)
{
	return hash & (htab->n_buckets - 1);
}

static int64_t lookup_elem_raw(struct bpf_htab *htab, const void *key, uint32_t hash)
{
	uint32_t s = htab->buckets[bucket_of(htab, hash)];

	while (s) {
		struct htab_elem *e = &htab->elems[s - 1];

		if (e->hash == hash && !memcmp(elem_key(htab, s - 1), key, htab->map.key_size))
			return s - 1;
		s = e->next;
	}
	return -1;
}

/* hlist_nulls_add_head_rcu(): a new element is found first in its bucket */
static void bucket_add_head(struct bpf_htab *htab, uint32_t slot)
{
	uint32_t b = bucket_of(htab, htab->elems[slot].hash);
	uint32_t first = htab->buckets[b];

	htab->elems[slot].prev = 0;
	htab->elems[slot].next = first;
	if (first)
		htab->elems[first - 1].prev = slot + 1;
	htab->buckets[b] = slot + 1;
	htab->nonempty[b / 64] |= 1ULL << (b % 64);
}

static void bucket_del(struct bpf_htab *htab, uint32_t slot)
{
	struct htab_elem *e = &htab->elems[slot];
	uint32_t b = bucket_of(htab, e->hash);

	if (e->prev)
		htab->elems[e->prev - 1].next = e->next;
	else
		htab->buckets[b] = e->next;
	if (e->next)
		htab->elems[e->next - 1].prev = e->prev;
	e->next = e->prev = 0;
	if (!htab->buckets[b])
		htab->nonempty[b / 64] &= ~(1ULL << (b % 64));
}

static void link_elem(struct bpf_htab *htab, uint32_t slot, const void *key, uint32_t hash)
{
	memcpy(elem_key(htab, slot), key, htab->map.key_size);
	if (htab->map.key_stride)
		memcpy(slot_base(htab, slot), key, htab->map.key_size);
	htab->elems[slot].hash = hash;
	htab->elems[slot].linked = 1;
	bucket_add_head(htab, slot);
	htab->count++;
}

static void unlink_elem(struct bpf_htab *htab, uint32_t slot)
{
	bucket_del(htab, slot);
	htab->elems[slot].linked = 0;
	htab->count--;
}

/* the first non-empty bucket at or after `start`, -1 if none */
static int64_t next_nonempty(struct bpf_htab *htab, uint64_t start)
{
	uint64_t nwords = (htab->n_buckets + 63) / 64, w, bits;

	if (start >= htab->n_buckets)
		return -1;
	w = start / 64;
	bits = htab->nonempty[w] & (~0ULL << (start % 64));
	while (!bits) {
		if (++w >= nwords)
			return -1;
		bits = htab->nonempty[w];
	}
	return (int64_t)(w * 64 + __builtin_ctzll(bits));
}

/* ---- free slots ---- */

static int64_t alloc_slot(struct bpf_htab *htab, uint32_t cpu)
{
	if (htab->lru)
		return bpf_lru_pop_free(&htab->lru_list, cpu);
	if (htab->nfree)
		return htab->freelist[--htab->nfree];
	if (htab->next_unused < htab->map.max_entries)
		return htab->next_unused++;
	return -1;
}

static void free_slot(struct bpf_htab *htab, uint32_t slot)
{
	if (htab->lru)
		bpf_lru_push_free(&htab->lru_list, slot);
	else
		htab->freelist[htab->nfree++] = slot;
}

/* htab_lru_map_delete_node(): the LRU evicts the element using `node` */
static bool htab_lru_map_delete_node(void *arg, uint32_t node)
{
	struct bpf_htab *htab = arg;

	if (!htab->elems[node].linked)
		return false;
	unlink_elem(htab, node);
	return true;
}

/* ---- update ---- */

static long check_flags(int64_t old, uint64_t flags)
{
	if (old >= 0 && flags == BPF_NOEXIST)
		return -EEXIST;
	if (old < 0 && flags == BPF_EXIST)
		return -ENOENT;
	return 0;
}

/* htab_map_update_elem() / htab_percpu_map_update_elem() */
static long htab_update(struct bpf_htab *htab, const void *key, const void *value,
			uint64_t flags, uint32_t hash, bool onallcpus, uint32_t cpu)
{
	int64_t old = lookup_elem_raw(htab, key, hash), slot;
	long err = check_flags(old, flags);

	if (err)
		return err;
	if (old >= 0) {
		write_value(htab, old, value, onallcpus, cpu, false);
		if (!htab->percpu) {
			bucket_del(htab, old);
			bucket_add_head(htab, old);
		}
		return 0;
	}
	slot = alloc_slot(htab, cpu);
	if (slot < 0)
		return -E2BIG;
	write_value(htab, slot, value, onallcpus, cpu, true);
	link_elem(htab, slot, key, hash);
	return 0;
}

/* htab_lru_map_update_elem(): take a node first (this may evict), then check the flags;
 * the element moves to the new node and the old one is freed */
static long htab_lru_update(struct bpf_htab *htab, const void *key, const void *value,
			    uint64_t flags, uint32_t hash, uint32_t cpu)
{
	int64_t slot = alloc_slot(htab, cpu), old;
	long err;

	if (slot < 0)
		return -ENOMEM;
	write_value(htab, slot, value, true, cpu, true);
	old = lookup_elem_raw(htab, key, hash);
	err = check_flags(old, flags);
	if (err) {
		free_slot(htab, slot);
		return err;
	}
	link_elem(htab, slot, key, hash);
	if (old >= 0) {
		bpf_lru_node_set_ref(&htab->lru_list, slot);
		unlink_elem(htab, old);
		free_slot(htab, old);
	}
	return 0;
}

/* __htab_lru_percpu_map_update_elem(): an existing element is updated in place */
static long htab_lru_percpu_update(struct bpf_htab *htab, const void *key, const void *value,
				   uint64_t flags, uint32_t hash, bool onallcpus, uint32_t cpu)
{
	int64_t slot = -1, old;
	long err;

	if (flags != BPF_EXIST) {
		slot = alloc_slot(htab, cpu);
		if (slot < 0)
			return -ENOMEM;
	}
	old = lookup_elem_raw(htab, key, hash);
	err = check_flags(old, flags);
	if (err) {
		if (slot >= 0)
			free_slot(htab, slot);
		return err;
	}
	if (old >= 0) {
		bpf_lru_node_set_ref(&htab->lru_list, old);
		write_value(htab, old, value, onallcpus, cpu, false);
		if (slot >= 0)
			free_slot(htab, slot);
	} else {
		write_value(htab, slot, value, onallcpus, cpu, true);
		link_elem(htab, slot, key, hash);
	}
	return 0;
}

static long htab_update_any(struct pybpf_map *map, const void *key, const void *value,
			    uint64_t flags, bool onallcpus, uint32_t cpu)
{
	struct bpf_htab *htab = htab_of(map);
	uint32_t hash;

	/* (map_flags & ~BPF_F_LOCK) > BPF_EXIST, and BPF_F_LOCK without a bpf_spin_lock */
	if (flags > BPF_EXIST)
		return -EINVAL;
	if ((htab->percpu || htab->lru) && cpu >= map->ncpus)
		return -EINVAL;
	hash = htab_map_hash(key, map->key_size, htab->hashrnd);
	if (!htab->lru)
		return htab_update(htab, key, value, flags, hash, onallcpus, cpu);
	if (htab->percpu)
		return htab_lru_percpu_update(htab, key, value, flags, hash, onallcpus, cpu);
	return htab_lru_update(htab, key, value, flags, hash, cpu);
}

/* ---- the ops ---- */

static void *htab_map_lookup_elem(struct pybpf_map *map, const void *key, uint32_t cpu)
{
	struct bpf_htab *htab = htab_of(map);
	int64_t slot;

	if (htab->percpu && cpu >= map->ncpus)
		return NULL;
	slot = lookup_elem_raw(htab, key, htab_map_hash(key, map->key_size, htab->hashrnd));
	if (slot < 0)
		return NULL;
	if (htab->lru)
		bpf_lru_node_set_ref(&htab->lru_list, slot);
	return value_base(htab, slot) + (htab->percpu ? (uint64_t)cpu * map->value_stride : 0);
}

static long htab_map_update_elem(struct pybpf_map *map, const void *key, const void *value,
				 uint64_t flags, uint32_t cpu)
{
	return htab_update_any(map, key, value, flags, false, cpu);
}

static long htab_map_update_sys(struct pybpf_map *map, const void *key, const void *value,
				uint64_t flags, uint32_t cpu)
{
	return htab_update_any(map, key, value, flags, true, cpu);
}

static long htab_map_delete_elem(struct pybpf_map *map, const void *key, uint32_t cpu)
{
	struct bpf_htab *htab = htab_of(map);
	int64_t slot = lookup_elem_raw(htab, key, htab_map_hash(key, map->key_size, htab->hashrnd));

	if (slot < 0)
		return -ENOENT;
	unlink_elem(htab, slot);
	free_slot(htab, slot);
	return 0;
}

static long htab_map_lookup_sys(struct pybpf_map *map, const void *key, void *value, uint32_t cpu)
{
	struct bpf_htab *htab = htab_of(map);
	int64_t slot = lookup_elem_raw(htab, key, htab_map_hash(key, map->key_size, htab->hashrnd));

	if (slot < 0)
		return -ENOENT;
	read_value(htab, slot, value);
	return 0;
}

static long htab_map_lookup_and_delete_sys(struct pybpf_map *map, const void *key, void *value,
					   uint32_t cpu)
{
	long err = htab_map_lookup_sys(map, key, value, cpu);

	return err ? err : htab_map_delete_elem(map, key, cpu);
}

/* htab_map_get_next_key(): the next element of the key's bucket, else the first of a
 * later bucket; a key not in the map restarts from the first bucket */
static long htab_map_get_next_key(struct pybpf_map *map, const void *key, void *next_key)
{
	struct bpf_htab *htab = htab_of(map);
	uint64_t start = 0;
	int64_t slot, b;

	if (key) {
		slot = lookup_elem_raw(htab, key,
				       htab_map_hash(key, map->key_size, htab->hashrnd));
		if (slot >= 0) {
			uint32_t next = htab->elems[slot].next;

			if (next) {
				memcpy(next_key, elem_key(htab, next - 1), map->key_size);
				return 0;
			}
			start = (uint64_t)bucket_of(htab, htab->elems[slot].hash) + 1;
		}
	}
	b = next_nonempty(htab, start);
	if (b < 0)
		return -ENOENT;
	memcpy(next_key, elem_key(htab, htab->buckets[b] - 1), map->key_size);
	return 0;
}

static const struct pybpf_map_ops htab_ops = {
	.map_lookup_elem = htab_map_lookup_elem,
	.map_update_elem = htab_map_update_elem,
	.map_delete_elem = htab_map_delete_elem,
	MAP_OPS_NOT_QUEUE,
	.map_lookup_sys = htab_map_lookup_sys,
	.map_update_sys = htab_map_update_sys,
	.map_lookup_and_delete_sys = htab_map_lookup_and_delete_sys,
	.map_get_next_key = htab_map_get_next_key,
	MAP_OPS_NOT_RINGBUF,
};

/* ---- creating ---- */

static long htab_mem_usage(const struct pybpf_map_attr *attr, struct pybpf_map *layout,
			   uint64_t *storage_size, uint64_t *private_size)
{
	bool percpu = htab_type_percpu(attr->map_type);
	uint64_t me = attr->max_entries, n_buckets, priv, part;

	if (!me || !attr->key_size || !attr->value_size || me > (1ULL << 31))
		return -EINVAL;
	layout->value_stride = round_up8(attr->value_size);
	layout->key_stride = percpu ? 0 : round_up8(attr->key_size);
	if (percpu) {
		if (!mul_ok(layout->value_stride, attr->ncpus, &layout->slot_size))
			return -E2BIG;
	} else {
		layout->slot_size = (uint64_t)layout->key_stride + layout->value_stride;
	}
	if (!mul_ok(layout->slot_size, me, storage_size))
		return -E2BIG;
	n_buckets = roundup_pow_of_two(me);
	priv = sizeof(struct bpf_htab) + n_buckets * 4 + ((n_buckets + 63) / 64) * 8;
	priv += me * (sizeof(struct htab_elem) + 4);
	if (!mul_ok(me, attr->key_size, &part) || __builtin_add_overflow(priv, part, &priv))
		return -E2BIG;
	if (htab_type_lru(attr->map_type))
		priv += bpf_lru_mem_usage(attr->max_entries, attr->ncpus,
					  attr->map_flags & BPF_F_NO_COMMON_LRU);
	*private_size = priv;
	return 0;
}

static void htab_map_free(struct pybpf_map *map)
{
	struct bpf_htab *htab = htab_of(map);

	bpf_lru_destroy(&htab->lru_list);
	free(htab->buckets);
	free(htab->nonempty);
	free(htab->elems);
	free(htab->keys);
	free(htab->freelist);
	free(htab);
}

static struct pybpf_map *htab_map_alloc(const struct pybpf_map_attr *attr)
{
	struct bpf_htab *htab = calloc(1, sizeof(*htab));
	uint64_t me = attr->max_entries;

	if (!htab)
		return NULL;
	htab->percpu = htab_type_percpu(attr->map_type);
	htab->lru = htab_type_lru(attr->map_type);
	htab->n_buckets = roundup_pow_of_two(me);
	htab->hashrnd = attr->hashrnd;
	htab->buckets = map_calloc(htab->n_buckets, sizeof(uint32_t));
	htab->nonempty = map_calloc((htab->n_buckets + 63) / 64, sizeof(uint64_t));
	htab->elems = map_calloc(me, sizeof(struct htab_elem));
	htab->keys = map_calloc(me, attr->key_size);
	htab->freelist = htab->lru ? NULL : map_calloc(me, sizeof(uint32_t));
	if (!htab->buckets || !htab->nonempty || !htab->elems || !htab->keys ||
	    (!htab->lru && !htab->freelist))
		goto fail;
	if (htab->lru && bpf_lru_init(&htab->lru_list, attr->max_entries, attr->ncpus,
				      attr->map_flags & BPF_F_NO_COMMON_LRU,
				      htab_lru_map_delete_node, htab))
		goto fail;
	return &htab->map;
fail:
	htab_map_free(&htab->map);
	return NULL;
}

static uint64_t htab_map_count(struct pybpf_map *map)
{
	return htab_of(map)->count;
}

const struct map_class htab_class = {
	.ops = &htab_ops,
	.mem_usage = htab_mem_usage,
	.alloc = htab_map_alloc,
	.free = htab_map_free,
	.count = htab_map_count,
};

/* ---- what Python's for_each / timer helpers and pinning need ---- */

static bool is_htab(struct pybpf_map *map)
{
	return map->ops == &htab_ops;
}

/* the first non-empty bucket at or after `start`; -1 if none (or not a hash map) */
PYBPF_EXPORT int64_t pybpf_htab_next_bucket(struct pybpf_map *map, uint64_t start)
{
	return is_htab(map) ? next_nonempty(htab_of(map), start) : -1;
}

/* how many buckets hold elements */
PYBPF_EXPORT uint64_t pybpf_htab_nr_nonempty(struct pybpf_map *map)
{
	struct bpf_htab *htab = htab_of(map);
	uint64_t n = 0;

	if (!is_htab(map))
		return 0;
	for (uint64_t w = 0; w < (htab->n_buckets + 63) / 64; w++)
		n += __builtin_popcountll(htab->nonempty[w]);
	return n;
}

/* the index of the n-th (from 0) non-empty bucket; -1 past the last */
PYBPF_EXPORT int64_t pybpf_htab_nth_bucket(struct pybpf_map *map, uint64_t n)
{
	struct bpf_htab *htab = htab_of(map);

	if (!is_htab(map))
		return -1;
	for (uint64_t w = 0; w < (htab->n_buckets + 63) / 64; w++) {
		uint64_t bits = htab->nonempty[w];
		uint64_t c = __builtin_popcountll(bits);

		if (n >= c) {
			n -= c;
			continue;
		}
		while (n--)
			bits &= bits - 1;
		return (int64_t)(w * 64 + __builtin_ctzll(bits));
	}
	return -1;
}

/* the slots of bucket `b`, head first: how many there are (at most `cap` are written) */
PYBPF_EXPORT int64_t pybpf_htab_bucket_slots(struct pybpf_map *map, uint64_t b, uint32_t *out,
					     uint64_t cap)
{
	struct bpf_htab *htab = htab_of(map);
	int64_t n = 0;

	if (!is_htab(map) || b >= htab->n_buckets)
		return -EINVAL;
	for (uint32_t s = htab->buckets[b]; s; s = htab->elems[s - 1].next, n++)
		if ((uint64_t)n < cap)
			out[n] = s - 1;
	return n;
}

/* the key of the element in `slot`: 0, -ENOENT when the slot is free */
PYBPF_EXPORT long pybpf_htab_slot_key(struct pybpf_map *map, uint64_t slot, void *key)
{
	struct bpf_htab *htab = htab_of(map);

	if (!is_htab(map) || slot >= map->max_entries)
		return -EINVAL;
	if (!htab->elems[slot].linked)
		return -ENOENT;
	memcpy(key, elem_key(htab, slot), map->key_size);
	return 0;
}

PYBPF_EXPORT uint32_t pybpf_htab_hashrnd(struct pybpf_map *map)
{
	return is_htab(map) ? htab_of(map)->hashrnd : 0;
}

/* set the seed of an empty map (restoring a pinned one): 0, -EBUSY if it has elements */
PYBPF_EXPORT long pybpf_htab_set_hashrnd(struct pybpf_map *map, uint32_t hashrnd)
{
	if (!is_htab(map))
		return -EINVAL;
	if (htab_of(map)->count)
		return -EBUSY;
	htab_of(map)->hashrnd = hashrnd;
	return 0;
}

/* htab_map_hash() itself, to check it against the Python reference */
PYBPF_EXPORT uint32_t pybpf_htab_map_hash(const void *key, uint32_t key_len, uint32_t hashrnd)
{
	return htab_map_hash(key, key_len, hashrnd);
}
