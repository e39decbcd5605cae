/* ARRAY and PERCPU_ARRAY (kernel/bpf/arraymap.c).
 *
 * Every element exists from creation and holds zeros; the key is a u32 index.  An
 * ARRAY keeps max_entries values of round_up(value_size, 8) bytes, as struct
 * bpf_array lays out value[] (so elem_size gives programs the inline lookup of
 * array_map_gen_lookup()).  A PERCPU_ARRAY is element-major: element i, cpu c lives
 * at (i * ncpus + c) * round_up(value_size, 8).
 */
#include "map_impl.h"

static inline bool array_percpu(struct pybpf_map *map)
{
	return map->map_type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

static inline uint32_t array_index(const void *key)
{
	uint32_t i;

	memcpy(&i, key, sizeof(i));
	return i;
}

static inline uint8_t *array_elem(struct pybpf_map *map, uint32_t index)
{
	return map->storage + (uint64_t)index * map->slot_size;
}

static void *array_map_lookup_elem(struct pybpf_map *map, const void *key, uint32_t cpu)
{
	uint32_t index = array_index(key);

	if (index >= map->max_entries)
		return NULL;
	if (!array_percpu(map))
		return array_elem(map, index);
	if (cpu >= map->ncpus)
		return NULL;
	return array_elem(map, index) + (uint64_t)cpu * map->value_stride;
}

/* array_map_update_elem(): the flags, then the index, then NOEXIST, then BPF_F_LOCK
 * (no value here has a bpf_spin_lock) */
static long array_check_update(struct pybpf_map *map, uint32_t index, uint64_t flags)
{
	if ((flags & ~(uint64_t)BPF_F_LOCK) > BPF_EXIST)
		return -EINVAL;
	if (index >= map->max_entries)
		return -E2BIG;
	if (flags & BPF_NOEXIST)
		return -EEXIST;
	if (flags & BPF_F_LOCK)
		return -EINVAL;
	return 0;
}

/* a program's update: its cpu's copy of a per-cpu value */
static long array_map_update_elem(struct pybpf_map *map, const void *key, const void *value,
				  uint64_t flags, uint32_t cpu)
{
	uint32_t index = array_index(key);
	long err = array_check_update(map, index, flags);

	if (err)
		return err;
	if (array_percpu(map)) {
		if (cpu >= map->ncpus)
			return -EINVAL;
		memcpy(array_elem(map, index) + (uint64_t)cpu * map->value_stride, value,
		       map->value_size);
	} else {
		memcpy(array_elem(map, index), value, map->value_size);
	}
	return 0;
}

/* bpf(): a per-cpu value carries every cpu's copy, padding included
 * (bpf_percpu_array_update() copies round_up(value_size, 8) per cpu) */
static long array_map_update_sys(struct pybpf_map *map, const void *key, const void *value,
				 uint64_t flags, uint32_t cpu)
{
	uint32_t index = array_index(key);
	long err = array_check_update(map, index, flags);

	if (err)
		return err;
	memcpy(array_elem(map, index), value, array_percpu(map) ? map->slot_size : map->value_size);
	return 0;
}

static long array_map_delete_elem(struct pybpf_map *map, const void *key, uint32_t cpu)
{
	return -EINVAL;
}

static long array_map_lookup_sys(struct pybpf_map *map, const void *key, void *value,
				 uint32_t cpu)
{
	uint32_t index = array_index(key);

	if (index >= map->max_entries)
		return -ENOENT;
	memcpy(value, array_elem(map, index),
	       array_percpu(map) ? map->slot_size : map->value_size);
	return 0;
}

/* array_map_get_next_key(): a missing or out-of-range key restarts at 0 */
static long array_map_get_next_key(struct pybpf_map *map, const void *key, void *next_key)
{
	uint32_t index = key ? array_index(key) : map->max_entries, next;

	if (index >= map->max_entries) {
		next = 0;
	} else {
		if (index == map->max_entries - 1)
			return -ENOENT;
		next = index + 1;
	}
	memcpy(next_key, &next, sizeof(next));
	return 0;
}

static const struct pybpf_map_ops array_ops = {
	.map_lookup_elem = array_map_lookup_elem,
	.map_update_elem = array_map_update_elem,
	.map_delete_elem = array_map_delete_elem,
	MAP_OPS_NOT_QUEUE,
	.map_lookup_sys = array_map_lookup_sys,
	.map_update_sys = array_map_update_sys,
	.map_lookup_and_delete_sys = map_lookup_and_delete_enotsupp,
	.map_get_next_key = array_map_get_next_key,
	MAP_OPS_NOT_RINGBUF,
};

static long array_mem_usage(const struct pybpf_map_attr *attr, struct pybpf_map *layout,
			    uint64_t *storage_size, uint64_t *private_size)
{
	if (attr->key_size != 4 || !attr->value_size || !attr->max_entries)
		return -EINVAL;
	layout->value_stride = round_up8(attr->value_size);
	if (attr->map_type == BPF_MAP_TYPE_PERCPU_ARRAY) {
		if (!mul_ok(layout->value_stride, attr->ncpus, &layout->slot_size))
			return -E2BIG;
	} else {
		layout->slot_size = layout->value_stride;
		layout->elem_size = layout->value_stride; /* programs may inline the lookup */
	}
	if (!mul_ok(layout->slot_size, attr->max_entries, storage_size))
		return -E2BIG;
	*private_size = sizeof(struct pybpf_map);
	return 0;
}

static struct pybpf_map *array_map_alloc(const struct pybpf_map_attr *attr)
{
	return calloc(1, sizeof(struct pybpf_map));
}

static void array_map_free(struct pybpf_map *map)
{
	free(map);
}

static uint64_t array_map_count(struct pybpf_map *map)
{
	return map->max_entries;
}

const struct map_class array_class = {
	.ops = &array_ops,
	.mem_usage = array_mem_usage,
	.alloc = array_map_alloc,
	.free = array_map_free,
	.count = array_map_count,
};
