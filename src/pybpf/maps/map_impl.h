/* What the map implementations share: the creation attributes, each type's class
 * (ops plus the user-space extras), allocation helpers.  Private to pybpf.maps;
 * the public face is bpf_map.h.
 *
 * Attributes reach this code only after Python has checked them the way each
 * type's map_alloc_check() does (the modules of pybpf.maps); keys and values always have
 * the map's exact sizes and `cpu` is < ncpus.  The code still never trusts the
 * contents of `storage`, which programs write.
 */
#ifndef PYBPF_MAP_IMPL_H
#define PYBPF_MAP_IMPL_H

#include <errno.h>
#include <linux/bpf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf_map.h"

/* the kernel-internal errno bpf() returns for an op a map type lacks */
#define ENOTSUPP 524

#define PYBPF_EXPORT __attribute__((visibility("default")))

/* what pybpf.maps passes to create a map (a ctypes Structure mirrors it) */
struct pybpf_map_attr {
	uint32_t map_type, key_size, value_size, max_entries, map_flags, ncpus;
	uint32_t hashrnd; /* hash maps: the jhash seed (0 with BPF_F_ZERO_SEED) */
	uint32_t pad;
};

/* one map type's implementation (the kernel's bpf_map_ops plus what user space needs) */
struct map_class {
	const struct pybpf_map_ops *ops;
	/* bytes of storage and of private state a map with `attr` needs; fills the
	 * layout fields of `layout` (slot_size, value_stride, key_stride, elem_size);
	 * -E2BIG when a size overflows */
	long (*mem_usage)(const struct pybpf_map_attr *attr, struct pybpf_map *layout,
			  uint64_t *storage_size, uint64_t *private_size);
	/* the type's struct (pybpf_map first) with its private state, zeroed; NULL: ENOMEM */
	struct pybpf_map *(*alloc)(const struct pybpf_map_attr *attr);
	void (*free)(struct pybpf_map *map);
	/* elements in the map (what len() of the Python map says) */
	uint64_t (*count)(struct pybpf_map *map);
};

extern const struct map_class htab_class;	 /* HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH */
extern const struct map_class array_class;	 /* ARRAY, PERCPU_ARRAY */
extern const struct map_class trie_class;	 /* LPM_TRIE */
extern const struct map_class queue_stack_class; /* QUEUE, STACK */
extern const struct map_class ringbuf_class;	 /* RINGBUF */

static inline uint64_t round_up8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

/* calloc(n, size), NULL when n * size overflows */
static inline void *map_calloc(uint64_t n, uint64_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return calloc(n ? n : 1, size ? size : 1);
}

/* n * size into *out; false on u64 overflow */
static inline bool mul_ok(uint64_t n, uint64_t size, uint64_t *out)
{
	return !__builtin_mul_overflow(n, size, out);
}

/* the "not for this map type" entries of an ops table */
void *map_lookup_elem_null(struct pybpf_map *map, const void *key, uint32_t cpu);
long map_push_elem_einval(struct pybpf_map *map, const void *value, uint64_t flags);
long map_pop_elem_einval(struct pybpf_map *map, void *value);
void *ringbuf_reserve_null(struct pybpf_map *map, uint64_t size, uint64_t flags);
long ringbuf_commit_einval(struct pybpf_map *map, void *sample, uint64_t flags);
long ringbuf_output_einval(struct pybpf_map *map, const void *data, uint64_t size,
			   uint64_t flags);
uint64_t ringbuf_query_zero(struct pybpf_map *map, uint64_t flags);
long map_lookup_and_delete_enotsupp(struct pybpf_map *map, const void *key, void *value,
				    uint32_t cpu);

#define MAP_OPS_NOT_QUEUE                                                                  \
	.map_push_elem = map_push_elem_einval, .map_pop_elem = map_pop_elem_einval,       \
	.map_peek_elem = map_pop_elem_einval
#define MAP_OPS_NOT_RINGBUF                                                                \
	.ringbuf_reserve = ringbuf_reserve_null, .ringbuf_submit = ringbuf_commit_einval, \
	.ringbuf_discard = ringbuf_commit_einval, .ringbuf_output = ringbuf_output_einval, \
	.ringbuf_query = ringbuf_query_zero

#endif /* PYBPF_MAP_IMPL_H */
