/* The LRU lists of LRU_HASH / LRU_PERCPU_HASH (kernel/bpf/bpf_lru_list.h).
 *
 * Node n (0 <= n < nr_elems) is the hash map's slot n.  List heads are extra nodes
 * after the elements, so every list is a ring of indices in one array.
 */
#ifndef PYBPF_LRU_LIST_H
#define PYBPF_LRU_LIST_H

#include <stdbool.h>
#include <stdint.h>

enum bpf_lru_list_type {
	BPF_LRU_LIST_T_ACTIVE,
	BPF_LRU_LIST_T_INACTIVE,
	BPF_LRU_LIST_T_FREE,
	BPF_LRU_LOCAL_LIST_T_FREE,
	BPF_LRU_LOCAL_LIST_T_PENDING,
};

#define NR_BPF_LRU_LIST_T 3
#define NR_BPF_LRU_LIST_COUNT 2

struct bpf_lru_node {
	uint32_t prev, next;
	uint32_t cpu;
	uint8_t type;
	uint8_t ref;
	uint16_t pad;
};

struct bpf_lru_list {
	uint32_t lists[NR_BPF_LRU_LIST_T]; /* head nodes */
	uint32_t counts[NR_BPF_LRU_LIST_COUNT];
	uint32_t next_inactive_rotation;
};

struct bpf_lru_locallist {
	uint32_t free, pending; /* head nodes */
	uint32_t next_steal;
};

/* evict the element using `node` from the hash table: false if it is not linked */
typedef bool (*del_from_htab_func)(void *arg, uint32_t node);

struct bpf_lru {
	struct bpf_lru_node *nodes; /* nr_elems elements, then the heads */
	uint32_t nr_elems, ncpus, nr_scans, target_free;
	bool percpu;
	struct bpf_lru_list *lists;	      /* percpu: one per cpu; else one, common */
	struct bpf_lru_locallist *local; /* common LRU: one per cpu */
	del_from_htab_func del_from_htab;
	void *del_arg;
};

/* bytes bpf_lru_init() allocates */
uint64_t bpf_lru_mem_usage(uint32_t nr_elems, uint32_t ncpus, bool percpu);
/* bpf_lru_init() + bpf_lru_populate(): every node on a free list; -ENOMEM */
int bpf_lru_init(struct bpf_lru *lru, uint32_t nr_elems, uint32_t ncpus, bool percpu,
		 del_from_htab_func del_from_htab, void *del_arg);
void bpf_lru_destroy(struct bpf_lru *lru);
/* a node for a new element, evicting one if it must; -1 when none can be freed */
int64_t bpf_lru_pop_free(struct bpf_lru *lru, uint32_t cpu);
/* give back the node of a deleted or replaced element */
void bpf_lru_push_free(struct bpf_lru *lru, uint32_t node);

/* bpf_lru_node_set_ref(): a program looked the element up */
static inline void bpf_lru_node_set_ref(struct bpf_lru *lru, uint32_t node)
{
	lru->nodes[node].ref = 1;
}

#endif /* PYBPF_LRU_LIST_H */
