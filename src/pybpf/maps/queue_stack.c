/* QUEUE and STACK (kernel/bpf/queue_stack_maps.c).
 *
 * A ring of max_entries + 1 value slots (value_size bytes each) with head and tail
 * indices, as struct bpf_queue_stack keeps it.  There are no keys: push is
 * BPF_MAP_UPDATE_ELEM with a NULL key, peek is LOOKUP_ELEM, pop is
 * LOOKUP_AND_DELETE_ELEM.  Push with BPF_EXIST on a full map drops the oldest
 * element to make room.
 */
#include "map_impl.h"

struct bpf_queue_stack {
	struct pybpf_map map;
	uint32_t head, tail;
	uint32_t size; /* max_entries + 1 */
};

static inline struct bpf_queue_stack *qs_of(struct pybpf_map *map)
{
	return (struct bpf_queue_stack *)map;
}

static inline uint8_t *qs_slot(struct bpf_queue_stack *qs, uint32_t index)
{
	return qs->map.storage + (uint64_t)index * qs->map.value_size;
}

static bool queue_stack_map_is_empty(struct bpf_queue_stack *qs)
{
	return qs->head == qs->tail;
}

static bool queue_stack_map_is_full(struct bpf_queue_stack *qs)
{
	uint32_t head = qs->head + 1;

	if (head >= qs->size)
		head = 0;
	return head == qs->tail;
}

static long queue_stack_map_push_elem(struct pybpf_map *map, const void *value, uint64_t flags)
{
	struct bpf_queue_stack *qs = qs_of(map);

	if (flags & BPF_NOEXIST || flags > BPF_EXIST)
		return -EINVAL;
	if (queue_stack_map_is_full(qs)) {
		if (!(flags & BPF_EXIST))
			return -E2BIG;
		/* overwrite the oldest element */
		if (++qs->tail >= qs->size)
			qs->tail = 0;
	}
	memcpy(qs_slot(qs, qs->head), value, map->value_size);
	if (++qs->head >= qs->size)
		qs->head = 0;
	return 0;
}

/* __queue_map_get() / __stack_map_get(): zeros and -ENOENT when empty */
static long queue_stack_get(struct pybpf_map *map, void *value, bool delete)
{
	struct bpf_queue_stack *qs = qs_of(map);
	uint32_t index;

	if (queue_stack_map_is_empty(qs)) {
		memset(value, 0, map->value_size);
		return -ENOENT;
	}
	if (map->map_type == BPF_MAP_TYPE_STACK) {
		index = qs->head ? qs->head - 1 : qs->size - 1;
		memcpy(value, qs_slot(qs, index), map->value_size);
		if (delete)
			qs->head = index;
	} else {
		memcpy(value, qs_slot(qs, qs->tail), map->value_size);
		if (delete && ++qs->tail >= qs->size)
			qs->tail = 0;
	}
	return 0;
}

static long queue_stack_map_pop_elem(struct pybpf_map *map, void *value)
{
	return queue_stack_get(map, value, true);
}

static long queue_stack_map_peek_elem(struct pybpf_map *map, void *value)
{
	return queue_stack_get(map, value, false);
}

/* bpf() on a queue: update pushes, lookup peeks, lookup_and_delete pops */
static long queue_stack_map_update_sys(struct pybpf_map *map, const void *key, const void *value,
				       uint64_t flags, uint32_t cpu)
{
	return queue_stack_map_push_elem(map, value, flags);
}

static long queue_stack_map_lookup_sys(struct pybpf_map *map, const void *key, void *value,
				       uint32_t cpu)
{
	return queue_stack_get(map, value, false);
}

static long queue_stack_map_lookup_and_delete_sys(struct pybpf_map *map, const void *key,
						  void *value, uint32_t cpu)
{
	return queue_stack_get(map, value, true);
}

/* what programs may not do to a queue (the verifier refuses it) */
static long queue_stack_map_update_elem(struct pybpf_map *map, const void *key,
					const void *value, uint64_t flags, uint32_t cpu)
{
	return -EINVAL;
}

static long queue_stack_map_delete_elem(struct pybpf_map *map, const void *key, uint32_t cpu)
{
	return -EINVAL;
}

static long queue_stack_map_get_next_key(struct pybpf_map *map, const void *key, void *next_key)
{
	return -EINVAL;
}

static const struct pybpf_map_ops queue_stack_ops = {
	.map_lookup_elem = map_lookup_elem_null,
	.map_update_elem = queue_stack_map_update_elem,
	.map_delete_elem = queue_stack_map_delete_elem,
	.map_push_elem = queue_stack_map_push_elem,
	.map_pop_elem = queue_stack_map_pop_elem,
	.map_peek_elem = queue_stack_map_peek_elem,
	.map_lookup_sys = queue_stack_map_lookup_sys,
	.map_update_sys = queue_stack_map_update_sys,
	.map_lookup_and_delete_sys = queue_stack_map_lookup_and_delete_sys,
	.map_get_next_key = queue_stack_map_get_next_key,
	MAP_OPS_NOT_RINGBUF,
};

static long queue_stack_mem_usage(const struct pybpf_map_attr *attr, struct pybpf_map *layout,
				  uint64_t *storage_size, uint64_t *private_size)
{
	if (attr->key_size || !attr->value_size || !attr->max_entries)
		return -EINVAL;
	if (attr->max_entries == UINT32_MAX)
		return -E2BIG;
	layout->slot_size = attr->value_size;
	layout->value_stride = round_up8(attr->value_size);
	if (!mul_ok((uint64_t)attr->max_entries + 1, attr->value_size, storage_size))
		return -E2BIG;
	*private_size = sizeof(struct bpf_queue_stack);
	return 0;
}

static struct pybpf_map *queue_stack_alloc(const struct pybpf_map_attr *attr)
{
	struct bpf_queue_stack *qs = calloc(1, sizeof(*qs));

	if (qs)
		qs->size = attr->max_entries + 1;
	return qs ? &qs->map : NULL;
}

static void queue_stack_free(struct pybpf_map *map)
{
	free(map);
}

static uint64_t queue_stack_count(struct pybpf_map *map)
{
	struct bpf_queue_stack *qs = qs_of(map);

	return qs->head >= qs->tail ? qs->head - qs->tail : qs->size - qs->tail + qs->head;
}

const struct map_class queue_stack_class = {
	.ops = &queue_stack_ops,
	.mem_usage = queue_stack_mem_usage,
	.alloc = queue_stack_alloc,
	.free = queue_stack_free,
	.count = queue_stack_count,
};

/* head, tail and size, for the Python side's values() and pinning */
PYBPF_EXPORT long pybpf_queue_stack_state(struct pybpf_map *map, uint32_t *state)
{
	struct bpf_queue_stack *qs = qs_of(map);

	if (map->ops != &queue_stack_ops)
		return -EINVAL;
	state[0] = qs->head;
	state[1] = qs->tail;
	state[2] = qs->size;
	return 0;
}
