/* The native face of a pybpf map: what programs (the JIT, the batch engine) call.
 *
 * Every user-space map of a native type (hash, array, LRU, LPM trie, queue/stack,
 * ring buffer, and their per-cpu forms) is one `struct pybpf_map` followed by the
 * type's private state, and ONE block of memory, `storage`, holding every value a
 * program can be handed a pointer to.  The ops mirror the kernel's struct
 * bpf_map_ops (include/linux/bpf.h) as far as programs and bpf() need them, and
 * return what the kernel's helpers return: a value pointer or NULL, 0 or -errno.
 *
 * Python creates and owns the maps (pybpf.maps): `Map.native` is the address of
 * the struct, `Map.storage` a bytearray over [storage, storage + storage_size).
 * The ops do no locking: callers serialise access to one map (Python does by
 * holding the GIL across every call).  Keys and values are key_size and
 * value_size bytes; `cpu` is the program's cpu modulo ncpus (the interpreter
 * passes RunEnv.cpu % ncpus): per-cpu and LRU maps answer a cpu >= ncpus with
 * NULL or -EINVAL, the others do not use it.
 *
 * Compatibility: fields and ops are only ever added at the end.
 */
#ifndef PYBPF_BPF_MAP_H
#define PYBPF_BPF_MAP_H

#include <stdint.h>

struct pybpf_map;

struct pybpf_map_ops {
	/* bpf_map_lookup_elem(): value pointer (into storage) or NULL.  `cpu` picks a
	 * per-cpu copy (cpu >= ncpus: NULL); bpf_map_lookup_percpu_elem() on a per-cpu
	 * map is this op with the requested cpu.  LRU maps set the element's ref bit. */
	void *(*map_lookup_elem)(struct pybpf_map *map, const void *key, uint32_t cpu);
	/* bpf_map_update_elem() from a program: 0 or -errno (BPF_ANY/NOEXIST/EXIST,
	 * BPF_F_LOCK: -EINVAL, no value here has a bpf_spin_lock).  Per-cpu maps change
	 * `cpu`'s copy only; a new per-cpu element starts zeroed on the other cpus. */
	long (*map_update_elem)(struct pybpf_map *map, const void *key, const void *value,
				uint64_t flags, uint32_t cpu);
	/* bpf_map_delete_elem(): 0 or -errno */
	long (*map_delete_elem)(struct pybpf_map *map, const void *key, uint32_t cpu);
	/* bpf_map_push_elem / pop_elem / peek_elem (QUEUE, STACK): 0 or -errno; pop and
	 * peek fill value_size bytes of `value` (zeros and -ENOENT when empty) */
	long (*map_push_elem)(struct pybpf_map *map, const void *value, uint64_t flags);
	long (*map_pop_elem)(struct pybpf_map *map, void *value);
	long (*map_peek_elem)(struct pybpf_map *map, void *value);

	/* ---- additions after the contract's ops ---- */

	/* bpf(BPF_MAP_LOOKUP_ELEM): copy the user-space value (per-cpu maps: every cpu's
	 * copy, each padded to 8 bytes) to `value`; 0 or -ENOENT.  No LRU ref bit. */
	long (*map_lookup_sys)(struct pybpf_map *map, const void *key, void *value, uint32_t cpu);
	/* bpf(BPF_MAP_UPDATE_ELEM): `value` is the user-space value (per-cpu: every cpu's);
	 * `cpu` is the cpu the caller runs on (whose LRU lists an insertion uses) */
	long (*map_update_sys)(struct pybpf_map *map, const void *key, const void *value,
			       uint64_t flags, uint32_t cpu);
	/* bpf(BPF_MAP_LOOKUP_AND_DELETE_ELEM): copy as map_lookup_sys, then delete */
	long (*map_lookup_and_delete_sys)(struct pybpf_map *map, const void *key, void *value,
					  uint32_t cpu);
	/* bpf(BPF_MAP_GET_NEXT_KEY): key NULL = the first; 0, -ENOENT at the end */
	long (*map_get_next_key)(struct pybpf_map *map, const void *key, void *next_key);

	/* BPF_MAP_TYPE_RINGBUF producer side (kernel/bpf/ringbuf.c); other types: NULL,
	 * -EINVAL or 0 */
	void *(*ringbuf_reserve)(struct pybpf_map *map, uint64_t size, uint64_t flags);
	/* submit/discard a sample from ringbuf_reserve: 0, -EINVAL if `sample` is not a
	 * reserved, uncommitted sample of this ring (the kernel's verifier rules that out) */
	long (*ringbuf_submit)(struct pybpf_map *map, void *sample, uint64_t flags);
	long (*ringbuf_discard)(struct pybpf_map *map, void *sample, uint64_t flags);
	long (*ringbuf_output)(struct pybpf_map *map, const void *data, uint64_t size,
			       uint64_t flags);
	uint64_t (*ringbuf_query)(struct pybpf_map *map, uint64_t flags);
};

struct pybpf_map {
	const struct pybpf_map_ops *ops; /* NULL ops for a map type without native operations */
	uint32_t map_type, key_size, value_size, max_entries, map_flags, ncpus;
	uint8_t *storage; /* ONE block: every value pointer handed to a program lies in it */
	uint64_t storage_size;
	/* inline lookup (the kernel's map_gen_lookup) for BPF_MAP_TYPE_ARRAY:
	   value of index i (i < max_entries) is at storage + i * elem_size; elem_size 0 = none */
	uint64_t elem_size;

	/* ---- additions after the contract's fields: the layout of storage ---- */

	/* bytes per element slot (hash: key copy then value(s); per-cpu: ncpus copies;
	   0 for the ring buffer, whose storage is its data pages twice over) */
	uint64_t slot_size;
	/* distance between the per-cpu copies of one value: round_up(value_size, 8) */
	uint32_t value_stride;
	/* HASH/LRU_HASH: bytes of key (rounded to 8) in front of each value; else 0 */
	uint32_t key_stride;
	/* private fields follow (each type's struct embeds this one first) */
};

#endif /* PYBPF_BPF_MAP_H */
