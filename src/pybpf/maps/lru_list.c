/* The kernel's approximate LRU (kernel/bpf/bpf_lru_list.c), list for list, so that an
 * LRU map driven from one cpu evicts exactly the elements a kernel map would.
 *
 * Common LRU (the default): global ACTIVE / INACTIVE / FREE lists, and per cpu a
 * local FREE and a local PENDING list.  A new element takes a node from its cpu's
 * local free list; when that is empty the pending nodes are flushed to the global
 * lists, the lists rotated, and up to target_free nodes moved to the local free list
 * (shrinking INACTIVE: evicting elements whose ref bit is clear; if none, the oldest
 * element goes).  With BPF_F_NO_COMMON_LRU each cpu has its own ACTIVE / INACTIVE /
 * FREE lists and nr_elems / ncpus nodes.
 */
#include "lru_list.h"

#include <errno.h>
#include <stdlib.h>

#define LOCAL_FREE_TARGET 128
#define LOCAL_NR_SCANS LOCAL_FREE_TARGET
#define PERCPU_FREE_TARGET 4
#define PERCPU_NR_SCANS PERCPU_FREE_TARGET

#define N(i) (lru->nodes[i])

/* ---- list_head primitives over node indices ---- */

static void list_add(struct bpf_lru *lru, uint32_t node, uint32_t head)
{
	uint32_t next = N(head).next;

	N(head).next = node;
	N(node).prev = head;
	N(node).next = next;
	N(next).prev = node;
}

static void list_del(struct bpf_lru *lru, uint32_t node)
{
	uint32_t prev = N(node).prev, next = N(node).next;

	N(prev).next = next;
	N(next).prev = prev;
}

static void list_move(struct bpf_lru *lru, uint32_t node, uint32_t head)
{
	list_del(lru, node);
	list_add(lru, node, head);
}

static bool list_empty(struct bpf_lru *lru, uint32_t head)
{
	return N(head).next == head;
}

static void init_head(struct bpf_lru *lru, uint32_t head)
{
	N(head).prev = N(head).next = head;
}

/* ---- node moves ---- */

static void bpf_lru_list_count_inc(struct bpf_lru_list *l, uint8_t type)
{
	if (type < NR_BPF_LRU_LIST_COUNT)
		l->counts[type]++;
}

static void bpf_lru_list_count_dec(struct bpf_lru_list *l, uint8_t type)
{
	if (type < NR_BPF_LRU_LIST_COUNT)
		l->counts[type]--;
}

static void __bpf_lru_node_move_to_free(struct bpf_lru *lru, struct bpf_lru_list *l,
					uint32_t node, uint32_t free_list, uint8_t tgt_free_type)
{
	if (node == l->next_inactive_rotation)
		l->next_inactive_rotation = N(node).prev;
	bpf_lru_list_count_dec(l, N(node).type);
	N(node).type = tgt_free_type;
	list_move(lru, node, free_list);
}

static void __bpf_lru_node_move_in(struct bpf_lru *lru, struct bpf_lru_list *l, uint32_t node,
				   uint8_t tgt_type)
{
	bpf_lru_list_count_inc(l, tgt_type);
	N(node).type = tgt_type;
	N(node).ref = 0;
	list_move(lru, node, l->lists[tgt_type]);
}

static void __bpf_lru_node_move(struct bpf_lru *lru, struct bpf_lru_list *l, uint32_t node,
				uint8_t tgt_type)
{
	if (N(node).type != tgt_type) {
		bpf_lru_list_count_dec(l, N(node).type);
		bpf_lru_list_count_inc(l, tgt_type);
		N(node).type = tgt_type;
	}
	N(node).ref = 0;
	if (node == l->next_inactive_rotation)
		l->next_inactive_rotation = N(node).prev;
	list_move(lru, node, l->lists[tgt_type]);
}

/* ---- rotation and shrinking ---- */

static void __bpf_lru_list_rotate_active(struct bpf_lru *lru, struct bpf_lru_list *l)
{
	uint32_t head = l->lists[BPF_LRU_LIST_T_ACTIVE];
	uint32_t first = N(head).next, cur, tmp;
	uint32_t i = 0;

	for (cur = N(head).prev; cur != head; cur = tmp) {
		tmp = N(cur).prev;
		__bpf_lru_node_move(lru, l, cur,
				    N(cur).ref ? BPF_LRU_LIST_T_ACTIVE : BPF_LRU_LIST_T_INACTIVE);
		if (++i == lru->nr_scans || cur == first)
			break;
	}
}

static void __bpf_lru_list_rotate_inactive(struct bpf_lru *lru, struct bpf_lru_list *l)
{
	uint32_t head = l->lists[BPF_LRU_LIST_T_INACTIVE];
	uint32_t cur, last, next;
	uint32_t i = 0;

	if (list_empty(lru, head))
		return;
	last = N(l->next_inactive_rotation).next;
	if (last == head)
		last = N(last).next;
	cur = l->next_inactive_rotation;
	next = cur;
	while (i < lru->nr_scans) {
		if (cur == head) {
			cur = N(cur).prev;
			continue;
		}
		next = N(cur).prev;
		if (N(cur).ref)
			__bpf_lru_node_move(lru, l, cur, BPF_LRU_LIST_T_ACTIVE);
		if (cur == last)
			break;
		cur = next;
		i++;
	}
	l->next_inactive_rotation = next;
}

static void __bpf_lru_list_rotate(struct bpf_lru *lru, struct bpf_lru_list *l)
{
	if (l->counts[BPF_LRU_LIST_T_INACTIVE] < l->counts[BPF_LRU_LIST_T_ACTIVE])
		__bpf_lru_list_rotate_active(lru, l);
	__bpf_lru_list_rotate_inactive(lru, l);
}

static uint32_t __bpf_lru_list_shrink_inactive(struct bpf_lru *lru, struct bpf_lru_list *l,
					       uint32_t tgt_nshrink, uint32_t free_list,
					       uint8_t tgt_free_type)
{
	uint32_t head = l->lists[BPF_LRU_LIST_T_INACTIVE];
	uint32_t nshrinked = 0, i = 0, cur, tmp;

	for (cur = N(head).prev; cur != head; cur = tmp) {
		tmp = N(cur).prev;
		if (N(cur).ref) {
			__bpf_lru_node_move(lru, l, cur, BPF_LRU_LIST_T_ACTIVE);
		} else if (lru->del_from_htab(lru->del_arg, cur)) {
			__bpf_lru_node_move_to_free(lru, l, cur, free_list, tgt_free_type);
			if (tgt_nshrink == ++nshrinked)
				break;
		}
		if (++i == lru->nr_scans)
			break;
	}
	return nshrinked;
}

static uint32_t __bpf_lru_list_shrink(struct bpf_lru *lru, struct bpf_lru_list *l,
				      uint32_t tgt_nshrink, uint32_t free_list,
				      uint8_t tgt_free_type)
{
	uint32_t nshrinked, force, cur, tmp;

	nshrinked = __bpf_lru_list_shrink_inactive(lru, l, tgt_nshrink, free_list, tgt_free_type);
	if (nshrinked)
		return nshrinked;
	/* nothing without its ref bit: force the oldest element out */
	force = l->lists[BPF_LRU_LIST_T_INACTIVE];
	if (list_empty(lru, force))
		force = l->lists[BPF_LRU_LIST_T_ACTIVE];
	for (cur = N(force).prev; cur != force; cur = tmp) {
		tmp = N(cur).prev;
		if (lru->del_from_htab(lru->del_arg, cur)) {
			__bpf_lru_node_move_to_free(lru, l, cur, free_list, tgt_free_type);
			return 1;
		}
	}
	return 0;
}

/* ---- common LRU: the per-cpu local lists ---- */

static void __local_list_flush(struct bpf_lru *lru, struct bpf_lru_list *l,
			       struct bpf_lru_locallist *loc)
{
	uint32_t cur, tmp;

	for (cur = N(loc->pending).prev; cur != loc->pending; cur = tmp) {
		tmp = N(cur).prev;
		__bpf_lru_node_move_in(lru, l, cur,
				       N(cur).ref ? BPF_LRU_LIST_T_ACTIVE : BPF_LRU_LIST_T_INACTIVE);
	}
}

static void bpf_lru_list_pop_free_to_local(struct bpf_lru *lru, struct bpf_lru_locallist *loc)
{
	struct bpf_lru_list *l = lru->lists;
	uint32_t head = l->lists[BPF_LRU_LIST_T_FREE];
	uint32_t nfree = 0, cur, tmp;

	__local_list_flush(lru, l, loc);
	__bpf_lru_list_rotate(lru, l);
	for (cur = N(head).next; cur != head; cur = tmp) {
		tmp = N(cur).next;
		__bpf_lru_node_move_to_free(lru, l, cur, loc->free, BPF_LRU_LOCAL_LIST_T_FREE);
		if (++nfree == lru->target_free)
			break;
	}
	if (nfree < lru->target_free)
		__bpf_lru_list_shrink(lru, l, lru->target_free - nfree, loc->free,
				      BPF_LRU_LOCAL_LIST_T_FREE);
}

static void __local_list_add_pending(struct bpf_lru *lru, struct bpf_lru_locallist *loc,
				     uint32_t cpu, uint32_t node)
{
	N(node).cpu = cpu;
	N(node).type = BPF_LRU_LOCAL_LIST_T_PENDING;
	N(node).ref = 0;
	list_add(lru, node, loc->pending);
}

static int64_t __local_list_pop_free(struct bpf_lru *lru, struct bpf_lru_locallist *loc)
{
	uint32_t node;

	if (list_empty(lru, loc->free))
		return -1;
	node = N(loc->free).next;
	list_del(lru, node);
	return node;
}

static int64_t __local_list_pop_pending(struct bpf_lru *lru, struct bpf_lru_locallist *loc)
{
	bool force = false;
	uint32_t cur;

ignore_ref:
	for (cur = N(loc->pending).prev; cur != loc->pending; cur = N(cur).prev) {
		if ((!N(cur).ref || force) && lru->del_from_htab(lru->del_arg, cur)) {
			list_del(lru, cur);
			return cur;
		}
	}
	if (!force) {
		force = true;
		goto ignore_ref;
	}
	return -1;
}

static int64_t bpf_common_lru_pop_free(struct bpf_lru *lru, uint32_t cpu)
{
	struct bpf_lru_locallist *loc = &lru->local[cpu], *steal_loc;
	uint32_t first_steal, steal;
	int64_t node;

	node = __local_list_pop_free(lru, loc);
	if (node < 0) {
		bpf_lru_list_pop_free_to_local(lru, loc);
		node = __local_list_pop_free(lru, loc);
	}
	if (node >= 0) {
		__local_list_add_pending(lru, loc, cpu, node);
		return node;
	}
	/* nothing local: steal a free or pending node from some cpu, round robin */
	first_steal = loc->next_steal;
	steal = first_steal;
	do {
		steal_loc = &lru->local[steal];
		node = __local_list_pop_free(lru, steal_loc);
		if (node < 0)
			node = __local_list_pop_pending(lru, steal_loc);
		steal = (steal + 1) % lru->ncpus;
	} while (node < 0 && steal != first_steal);
	loc->next_steal = steal;
	if (node >= 0)
		__local_list_add_pending(lru, loc, cpu, node);
	return node;
}

static int64_t bpf_percpu_lru_pop_free(struct bpf_lru *lru, uint32_t cpu)
{
	struct bpf_lru_list *l = &lru->lists[cpu];
	uint32_t free_list = l->lists[BPF_LRU_LIST_T_FREE], node;

	__bpf_lru_list_rotate(lru, l);
	if (list_empty(lru, free_list))
		__bpf_lru_list_shrink(lru, l, PERCPU_FREE_TARGET, free_list, BPF_LRU_LIST_T_FREE);
	if (list_empty(lru, free_list))
		return -1;
	node = N(free_list).next;
	N(node).ref = 0;
	__bpf_lru_node_move(lru, l, node, BPF_LRU_LIST_T_INACTIVE);
	return node;
}

int64_t bpf_lru_pop_free(struct bpf_lru *lru, uint32_t cpu)
{
	if (cpu >= lru->ncpus)
		return -1;
	if (lru->percpu)
		return bpf_percpu_lru_pop_free(lru, cpu);
	return bpf_common_lru_pop_free(lru, cpu);
}

void bpf_lru_push_free(struct bpf_lru *lru, uint32_t node)
{
	struct bpf_lru_locallist *loc;

	if (lru->percpu) {
		__bpf_lru_node_move(lru, &lru->lists[N(node).cpu], node, BPF_LRU_LIST_T_FREE);
		return;
	}
	if (N(node).type == BPF_LRU_LOCAL_LIST_T_PENDING) {
		/* still on its cpu's pending list: back to that cpu's local free list */
		loc = &lru->local[N(node).cpu];
		N(node).type = BPF_LRU_LOCAL_LIST_T_FREE;
		N(node).ref = 0;
		list_move(lru, node, loc->free);
		return;
	}
	__bpf_lru_node_move(lru, lru->lists, node, BPF_LRU_LIST_T_FREE);
}

/* ---- setting up ---- */

static uint32_t nr_heads(uint32_t ncpus, bool percpu)
{
	return percpu ? NR_BPF_LRU_LIST_T * ncpus : NR_BPF_LRU_LIST_T + 2 * ncpus;
}

uint64_t bpf_lru_mem_usage(uint32_t nr_elems, uint32_t ncpus, bool percpu)
{
	uint64_t n = (uint64_t)nr_elems + nr_heads(ncpus, percpu);

	return n * sizeof(struct bpf_lru_node) +
	       (uint64_t)ncpus * (sizeof(struct bpf_lru_list) + sizeof(struct bpf_lru_locallist));
}

static void bpf_lru_list_init(struct bpf_lru *lru, struct bpf_lru_list *l, uint32_t *next_head)
{
	for (int t = 0; t < NR_BPF_LRU_LIST_T; t++) {
		l->lists[t] = (*next_head)++;
		init_head(lru, l->lists[t]);
	}
	l->counts[0] = l->counts[1] = 0;
	l->next_inactive_rotation = l->lists[BPF_LRU_LIST_T_INACTIVE];
}

int bpf_lru_init(struct bpf_lru *lru, uint32_t nr_elems, uint32_t ncpus, bool percpu,
		 del_from_htab_func del_from_htab, void *del_arg)
{
	uint64_t n = (uint64_t)nr_elems + nr_heads(ncpus, percpu);
	uint32_t head = nr_elems, node, cpu, per;

	lru->nodes = calloc(n, sizeof(*lru->nodes));
	lru->lists = calloc(percpu ? ncpus : 1, sizeof(*lru->lists));
	lru->local = percpu ? NULL : calloc(ncpus, sizeof(*lru->local));
	if (!lru->nodes || !lru->lists || (!percpu && !lru->local)) {
		bpf_lru_destroy(lru);
		return -ENOMEM;
	}
	lru->nr_elems = nr_elems;
	lru->ncpus = ncpus;
	lru->percpu = percpu;
	lru->del_from_htab = del_from_htab;
	lru->del_arg = del_arg;
	for (node = 0; node < nr_elems; node++) {
		init_head(lru, node);
		N(node).type = BPF_LRU_LIST_T_FREE;
	}
	if (percpu) {
		/* bpf_percpu_lru_populate(): nr_elems / ncpus nodes on each cpu's free list */
		lru->nr_scans = PERCPU_NR_SCANS;
		per = nr_elems / ncpus;
		node = 0;
		for (cpu = 0; cpu < ncpus; cpu++) {
			bpf_lru_list_init(lru, &lru->lists[cpu], &head);
			for (uint32_t i = 0; i < per && node < nr_elems; i++, node++) {
				N(node).cpu = cpu;
				list_add(lru, node, lru->lists[cpu].lists[BPF_LRU_LIST_T_FREE]);
			}
		}
	} else {
		/* bpf_common_lru_populate(): every node on the global free list */
		lru->nr_scans = LOCAL_NR_SCANS;
		bpf_lru_list_init(lru, lru->lists, &head);
		for (cpu = 0; cpu < ncpus; cpu++) {
			lru->local[cpu].free = head++;
			lru->local[cpu].pending = head++;
			init_head(lru, lru->local[cpu].free);
			init_head(lru, lru->local[cpu].pending);
			lru->local[cpu].next_steal = cpu;
		}
		for (node = 0; node < nr_elems; node++)
			list_add(lru, node, lru->lists->lists[BPF_LRU_LIST_T_FREE]);
		per = (nr_elems / ncpus) / 2;
		lru->target_free = per < LOCAL_FREE_TARGET ? (per ? per : 1) : LOCAL_FREE_TARGET;
	}
	return 0;
}

void bpf_lru_destroy(struct bpf_lru *lru)
{
	free(lru->nodes);
	free(lru->lists);
	free(lru->local);
	lru->nodes = NULL;
	lru->lists = NULL;
	lru->local = NULL;
}
