/* Creating and freeing maps, and the entry points Python calls (kernel/bpf/syscall.c's
 * part: find the type's ops, then call them).
 *
 * Python computes nothing about a map's layout: it asks pybpf_map_mem_usage() how
 * much storage a map needs, allocates that block (a bytearray, so a value pointer
 * stays valid as long as anyone holds the storage), and hands it to
 * pybpf_map_create().  Every other export is one call through the map's ops.
 */
#include "map_impl.h"

static const struct map_class *class_of(uint32_t map_type)
{
	switch (map_type) {
	case BPF_MAP_TYPE_HASH:
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_LRU_HASH:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
		return &htab_class;
	case BPF_MAP_TYPE_ARRAY:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
		return &array_class;
	case BPF_MAP_TYPE_LPM_TRIE:
		return &trie_class;
	case BPF_MAP_TYPE_QUEUE:
	case BPF_MAP_TYPE_STACK:
		return &queue_stack_class;
	case BPF_MAP_TYPE_RINGBUF:
		return &ringbuf_class;
	}
	return NULL;
}

PYBPF_EXPORT long pybpf_map_mem_usage(const struct pybpf_map_attr *attr, uint64_t *storage_size,
				      uint64_t *private_size)
{
	const struct map_class *cls = class_of(attr->map_type);
	struct pybpf_map layout;

	if (!cls || !attr->ncpus)
		return -EINVAL;
	memset(&layout, 0, sizeof(layout));
	return cls->mem_usage(attr, &layout, storage_size, private_size);
}

PYBPF_EXPORT struct pybpf_map *pybpf_map_create(const struct pybpf_map_attr *attr,
						uint8_t *storage, uint64_t storage_size)
{
	const struct map_class *cls = class_of(attr->map_type);
	struct pybpf_map layout, *map;
	uint64_t need, priv;

	if (!cls || !attr->ncpus)
		return NULL;
	memset(&layout, 0, sizeof(layout));
	if (cls->mem_usage(attr, &layout, &need, &priv) || need != storage_size ||
	    (need && !storage))
		return NULL;
	map = cls->alloc(attr);
	if (!map)
		return NULL;
	map->ops = cls->ops;
	map->map_type = attr->map_type;
	map->key_size = attr->key_size;
	map->value_size = attr->value_size;
	map->max_entries = attr->max_entries;
	map->map_flags = attr->map_flags;
	map->ncpus = attr->ncpus;
	map->storage = storage;
	map->storage_size = storage_size;
	map->elem_size = layout.elem_size;
	map->slot_size = layout.slot_size;
	map->value_stride = layout.value_stride;
	map->key_stride = layout.key_stride;
	return map;
}

PYBPF_EXPORT void pybpf_map_free(struct pybpf_map *map)
{
	if (map)
		class_of(map->map_type)->free(map);
}

PYBPF_EXPORT uint64_t pybpf_map_count(struct pybpf_map *map)
{
	return class_of(map->map_type)->count(map);
}

/* ---- one export per op, for callers that hold a map's address but not its ops ---- */

PYBPF_EXPORT void *pybpf_map_lookup_elem(struct pybpf_map *map, const void *key, uint32_t cpu)
{
	return map->ops->map_lookup_elem(map, key, cpu);
}

PYBPF_EXPORT long pybpf_map_update_elem(struct pybpf_map *map, const void *key,
					const void *value, uint64_t flags, uint32_t cpu)
{
	return map->ops->map_update_elem(map, key, value, flags, cpu);
}

PYBPF_EXPORT long pybpf_map_delete_elem(struct pybpf_map *map, const void *key, uint32_t cpu)
{
	return map->ops->map_delete_elem(map, key, cpu);
}

PYBPF_EXPORT long pybpf_map_push_elem(struct pybpf_map *map, const void *value, uint64_t flags)
{
	return map->ops->map_push_elem(map, value, flags);
}

PYBPF_EXPORT long pybpf_map_pop_elem(struct pybpf_map *map, void *value)
{
	return map->ops->map_pop_elem(map, value);
}

PYBPF_EXPORT long pybpf_map_peek_elem(struct pybpf_map *map, void *value)
{
	return map->ops->map_peek_elem(map, value);
}

PYBPF_EXPORT long pybpf_map_lookup_sys(struct pybpf_map *map, const void *key, void *value,
				       uint32_t cpu)
{
	return map->ops->map_lookup_sys(map, key, value, cpu);
}

PYBPF_EXPORT long pybpf_map_update_sys(struct pybpf_map *map, const void *key, const void *value,
				       uint64_t flags, uint32_t cpu)
{
	return map->ops->map_update_sys(map, key, value, flags, cpu);
}

PYBPF_EXPORT long pybpf_map_lookup_and_delete_sys(struct pybpf_map *map, const void *key,
						  void *value, uint32_t cpu)
{
	return map->ops->map_lookup_and_delete_sys(map, key, value, cpu);
}

PYBPF_EXPORT long pybpf_map_get_next_key(struct pybpf_map *map, const void *key, void *next_key)
{
	return map->ops->map_get_next_key(map, key, next_key);
}

PYBPF_EXPORT void *pybpf_ringbuf_reserve(struct pybpf_map *map, uint64_t size, uint64_t flags)
{
	return map->ops->ringbuf_reserve(map, size, flags);
}

PYBPF_EXPORT long pybpf_ringbuf_submit(struct pybpf_map *map, void *sample, uint64_t flags)
{
	return map->ops->ringbuf_submit(map, sample, flags);
}

PYBPF_EXPORT long pybpf_ringbuf_discard(struct pybpf_map *map, void *sample, uint64_t flags)
{
	return map->ops->ringbuf_discard(map, sample, flags);
}

PYBPF_EXPORT long pybpf_ringbuf_output(struct pybpf_map *map, const void *data, uint64_t size,
				       uint64_t flags)
{
	return map->ops->ringbuf_output(map, data, size, flags);
}

PYBPF_EXPORT uint64_t pybpf_ringbuf_query(struct pybpf_map *map, uint64_t flags)
{
	return map->ops->ringbuf_query(map, flags);
}

/* ---- ops table entries for operations a map type does not have ---- */

void *map_lookup_elem_null(struct pybpf_map *map, const void *key, uint32_t cpu)
{
	return NULL;
}

long map_push_elem_einval(struct pybpf_map *map, const void *value, uint64_t flags)
{
	return -EINVAL;
}

long map_pop_elem_einval(struct pybpf_map *map, void *value)
{
	return -EINVAL;
}

long map_lookup_and_delete_enotsupp(struct pybpf_map *map, const void *key, void *value,
				    uint32_t cpu)
{
	return -ENOTSUPP;
}

void *ringbuf_reserve_null(struct pybpf_map *map, uint64_t size, uint64_t flags)
{
	return NULL;
}

long ringbuf_commit_einval(struct pybpf_map *map, void *sample, uint64_t flags)
{
	return -EINVAL;
}

long ringbuf_output_einval(struct pybpf_map *map, const void *data, uint64_t size,
			   uint64_t flags)
{
	return -EINVAL;
}

uint64_t ringbuf_query_zero(struct pybpf_map *map, uint64_t flags)
{
	return 0;
}
