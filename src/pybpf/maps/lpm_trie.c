/* LPM_TRIE (kernel/bpf/lpm_trie.c): longest-prefix match.
 *
 * Keys are struct bpf_lpm_trie_key_u8: a host-order u32 prefixlen and key_size - 4
 * bytes of data in network order.  The trie has the kernel's shape -- path-compressed
 * binary nodes, intermediate nodes where two prefixes diverge -- so get_next_key walks
 * it in the kernel's post-order (more specific prefixes first).  A node keeps the key
 * bytes it was last written with, bits past the prefix included, as trie_update_elem()
 * copies them.
 *
 * Nodes come from a private pool (an intermediate node has two children, so there are
 * fewer than 2 * max_entries); values live in storage slots of round_up(value_size, 8)
 * bytes handed out by a LIFO free list.  Replacing a prefix's value rewrites its slot,
 * so a value pointer stays valid while its prefix is in the trie.
 */
#include "map_impl.h"

#define LPM_TREE_NODE_FLAG_IM 1U
#define NIL 0U /* node references are index + 1 */

struct lpm_trie_node {
	uint32_t child[2];
	uint32_t prefixlen;
	uint32_t flags;
	uint32_t slot; /* value slot in storage (not for intermediate nodes) */
	uint8_t data[]; /* data_size bytes */
};

struct lpm_trie {
	struct pybpf_map map;
	uint32_t data_size, max_prefixlen;
	uint32_t n_entries;
	uint32_t root;
	uint64_t node_size;
	uint8_t *pool; /* 2 * max_entries nodes */
	uint32_t *free_nodes;
	uint32_t nfree_nodes, next_unused_node, pool_nodes;
	uint32_t *free_slots;
	uint32_t nfree_slots, next_unused_slot;
};

static inline struct lpm_trie *trie_of(struct pybpf_map *map)
{
	return (struct lpm_trie *)map;
}

static inline struct lpm_trie_node *node_at(struct lpm_trie *trie, uint32_t ref)
{
	return (struct lpm_trie_node *)(trie->pool + (uint64_t)(ref - 1) * trie->node_size);
}

static inline uint32_t key_prefixlen(const void *key)
{
	uint32_t plen;

	memcpy(&plen, key, sizeof(plen));
	return plen;
}

static inline const uint8_t *key_data(const void *key)
{
	return (const uint8_t *)key + 4;
}

static inline int extract_bit(const uint8_t *data, uint32_t index)
{
	return (data[index / 8] >> (7 - index % 8)) & 1;
}

static inline uint64_t load_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

/* longest_prefix_match(): how many leading bits of node and key agree, at most the
 * shorter of their prefix lengths (compared 8 bytes at a time, as the kernel does) */
static uint32_t longest_prefix_match(struct lpm_trie *trie, const struct lpm_trie_node *node,
				     const uint8_t *data, uint32_t key_plen)
{
	uint32_t limit = node->prefixlen < key_plen ? node->prefixlen : key_plen;
	uint32_t prefixlen = 0, i = 0;

	for (; i + 8 <= trie->data_size && prefixlen < limit; i += 8) {
		uint64_t diff = load_be64(node->data + i) ^ load_be64(data + i);

		if (diff) {
			prefixlen += __builtin_clzll(diff);
			return prefixlen < limit ? prefixlen : limit;
		}
		prefixlen += 64;
	}
	if (i + 4 <= trie->data_size && prefixlen < limit) {
		uint32_t a, b, diff;

		memcpy(&a, node->data + i, 4);
		memcpy(&b, data + i, 4);
		diff = __builtin_bswap32(a ^ b);
		if (diff) {
			prefixlen += __builtin_clz(diff);
			return prefixlen < limit ? prefixlen : limit;
		}
		prefixlen += 32;
		i += 4;
	}
	for (; i < trie->data_size && prefixlen < limit; i++) {
		uint8_t diff = node->data[i] ^ data[i];

		if (diff) {
			prefixlen += __builtin_clz((uint32_t)diff) - 24;
			break;
		}
		prefixlen += 8;
	}
	return prefixlen < limit ? prefixlen : limit;
}

static inline uint8_t *slot_value(struct lpm_trie *trie, uint32_t slot)
{
	return trie->map.storage + (uint64_t)slot * trie->map.slot_size;
}

/* ---- pools ---- */

static uint32_t node_alloc(struct lpm_trie *trie, uint32_t prefixlen, const uint8_t *data,
			   uint32_t flags)
{
	uint32_t ref;
	struct lpm_trie_node *node;

	if (trie->nfree_nodes)
		ref = trie->free_nodes[--trie->nfree_nodes];
	else if (trie->next_unused_node < trie->pool_nodes)
		ref = ++trie->next_unused_node;
	else
		return NIL;
	node = node_at(trie, ref);
	node->child[0] = node->child[1] = NIL;
	node->prefixlen = prefixlen;
	node->flags = flags;
	node->slot = 0;
	memcpy(node->data, data, trie->data_size);
	return ref;
}

static void node_free(struct lpm_trie *trie, uint32_t ref)
{
	trie->free_nodes[trie->nfree_nodes++] = ref;
}

static uint32_t slot_alloc(struct lpm_trie *trie)
{
	if (trie->nfree_slots)
		return trie->free_slots[--trie->nfree_slots];
	return trie->next_unused_slot++;
}

static void slot_free(struct lpm_trie *trie, uint32_t slot)
{
	trie->free_slots[trie->nfree_slots++] = slot;
}

/* ---- lookup ---- */

/* trie_lookup_elem(): the node of the longest prefix matching the key, or NIL */
static uint32_t trie_lookup(struct lpm_trie *trie, const void *key)
{
	uint32_t plen = key_prefixlen(key), found = NIL, ref = trie->root;
	const uint8_t *data = key_data(key);

	if (plen > trie->max_prefixlen)
		return NIL;
	while (ref) {
		struct lpm_trie_node *node = node_at(trie, ref);
		uint32_t matchlen = longest_prefix_match(trie, node, data, plen);

		if (matchlen == trie->max_prefixlen) {
			found = ref;
			break;
		}
		if (matchlen < node->prefixlen)
			break;
		if (!(node->flags & LPM_TREE_NODE_FLAG_IM))
			found = ref;
		ref = node->child[extract_bit(data, node->prefixlen)];
	}
	return found;
}

static void *trie_lookup_elem(struct pybpf_map *map, const void *key, uint32_t cpu)
{
	struct lpm_trie *trie = trie_of(map);
	uint32_t ref = trie_lookup(trie, key);

	return ref ? slot_value(trie, node_at(trie, ref)->slot) : NULL;
}

static long trie_lookup_sys(struct pybpf_map *map, const void *key, void *value, uint32_t cpu)
{
	void *v = trie_lookup_elem(map, key, cpu);

	if (!v)
		return -ENOENT;
	memcpy(value, v, map->value_size);
	return 0;
}

/* ---- update ---- */

/* trie_check_add_elem(): room for one more prefix? */
static long trie_check_add_elem(struct lpm_trie *trie, uint64_t flags)
{
	if (flags == BPF_EXIST)
		return -ENOENT;
	if (trie->n_entries == trie->map.max_entries)
		return -ENOSPC;
	return 0;
}

static uint32_t *child_ref(struct lpm_trie *trie, uint32_t parent, int side)
{
	return parent ? &node_at(trie, parent)->child[side] : &trie->root;
}

static long trie_update_elem(struct pybpf_map *map, const void *key, const void *value,
			     uint64_t flags, uint32_t cpu)
{
	struct lpm_trie *trie = trie_of(map);
	uint32_t plen = key_prefixlen(key), matchlen = 0, ref, parent = NIL, new_ref, im_ref;
	const uint8_t *data = key_data(key);
	struct lpm_trie_node *node = NULL, *new_node;
	int side = 0;
	long err;

	if (flags > BPF_EXIST)
		return -EINVAL;
	if (plen > trie->max_prefixlen)
		return -EINVAL;
	/* walk down while the node's whole prefix matches and is shorter than the key's */
	for (ref = trie->root; ref; ref = node->child[side]) {
		node = node_at(trie, ref);
		matchlen = longest_prefix_match(trie, node, data, plen);
		if (node->prefixlen != matchlen || node->prefixlen == plen)
			break;
		parent = ref;
		side = extract_bit(data, node->prefixlen);
	}
	if (!ref) {
		/* an empty place: the new node goes there */
		err = trie_check_add_elem(trie, flags);
		if (err)
			return err;
		new_ref = node_alloc(trie, plen, data, 0);
		if (!new_ref)
			return -ENOMEM;
		new_node = node_at(trie, new_ref);
		new_node->slot = slot_alloc(trie);
		memcpy(slot_value(trie, new_node->slot), value, map->value_size);
		trie->n_entries++;
		*child_ref(trie, parent, side) = new_ref;
		return 0;
	}
	if (node->prefixlen == matchlen) {
		/* the same prefix: replace the value (an intermediate node becomes real) */
		if (!(node->flags & LPM_TREE_NODE_FLAG_IM)) {
			if (flags == BPF_NOEXIST)
				return -EEXIST;
		} else {
			err = trie_check_add_elem(trie, flags);
			if (err)
				return err;
			node->flags = 0;
			node->slot = slot_alloc(trie);
			trie->n_entries++;
		}
		memcpy(node->data, data, trie->data_size);
		memcpy(slot_value(trie, node->slot), value, map->value_size);
		return 0;
	}
	err = trie_check_add_elem(trie, flags);
	if (err)
		return err;
	new_ref = node_alloc(trie, plen, data, 0);
	if (!new_ref)
		return -ENOMEM;
	if (matchlen != plen) {
		/* the prefixes diverge: an intermediate node joins them */
		im_ref = node_alloc(trie, matchlen, node->data, LPM_TREE_NODE_FLAG_IM);
		if (!im_ref) {
			node_free(trie, new_ref);
			return -ENOMEM;
		}
	} else {
		im_ref = NIL;
	}
	node = node_at(trie, ref);
	new_node = node_at(trie, new_ref);
	new_node->slot = slot_alloc(trie);
	memcpy(slot_value(trie, new_node->slot), value, map->value_size);
	trie->n_entries++;
	if (!im_ref) {
		/* the new prefix is an ancestor of node */
		new_node->child[extract_bit(node->data, matchlen)] = ref;
		*child_ref(trie, parent, side) = new_ref;
		return 0;
	}
	if (extract_bit(data, matchlen)) {
		node_at(trie, im_ref)->child[0] = ref;
		node_at(trie, im_ref)->child[1] = new_ref;
	} else {
		node_at(trie, im_ref)->child[0] = new_ref;
		node_at(trie, im_ref)->child[1] = ref;
	}
	*child_ref(trie, parent, side) = im_ref;
	return 0;
}

/* ---- delete ---- */

static long trie_delete_elem(struct pybpf_map *map, const void *key, uint32_t cpu)
{
	struct lpm_trie *trie = trie_of(map);
	uint32_t plen = key_prefixlen(key), matchlen = 0, ref, parent = NIL, grand = NIL;
	const uint8_t *data = key_data(key);
	struct lpm_trie_node *node = NULL, *pnode;
	int side = 0, gside = 0;

	if (plen > trie->max_prefixlen)
		return -EINVAL;
	for (ref = trie->root; ref; ref = node->child[side]) {
		node = node_at(trie, ref);
		matchlen = longest_prefix_match(trie, node, data, plen);
		if (node->prefixlen != matchlen || node->prefixlen == plen)
			break;
		grand = parent;
		gside = side;
		parent = ref;
		side = extract_bit(data, node->prefixlen);
	}
	if (!ref || node->prefixlen != plen || node->prefixlen != matchlen ||
	    (node->flags & LPM_TREE_NODE_FLAG_IM))
		return -ENOENT;
	trie->n_entries--;
	slot_free(trie, node->slot);
	if (node->child[0] && node->child[1]) {
		/* still needed where its children diverge */
		node->flags |= LPM_TREE_NODE_FLAG_IM;
		return 0;
	}
	pnode = parent ? node_at(trie, parent) : NULL;
	if (pnode && (pnode->flags & LPM_TREE_NODE_FLAG_IM) && !node->child[0] &&
	    !node->child[1]) {
		/* a leaf under an intermediate node: the sibling takes the parent's place */
		*child_ref(trie, grand, gside) =
			pnode->child[0] == ref ? pnode->child[1] : pnode->child[0];
		node_free(trie, parent);
		node_free(trie, ref);
		return 0;
	}
	*child_ref(trie, parent, side) = node->child[0] ? node->child[0] : node->child[1];
	node_free(trie, ref);
	return 0;
}

/* ---- get_next_key ---- */

static long copy_key(struct lpm_trie *trie, uint32_t ref, void *next_key)
{
	struct lpm_trie_node *node = node_at(trie, ref);

	memcpy(next_key, &node->prefixlen, 4);
	memcpy((uint8_t *)next_key + 4, node->data, trie->data_size);
	return 0;
}

/* the first real node of the subtree in post-order */
static long leftmost(struct lpm_trie *trie, uint32_t ref, void *next_key)
{
	uint32_t next = NIL;

	while (ref) {
		struct lpm_trie_node *node = node_at(trie, ref);

		if (node->flags & LPM_TREE_NODE_FLAG_IM) {
			ref = node->child[0];
		} else {
			next = ref;
			ref = node->child[0] ? node->child[0] : node->child[1];
		}
	}
	return next ? copy_key(trie, next, next_key) : -ENOENT;
}

/* trie_get_next_key(): post-order, leftmost first; a key not in the trie restarts */
static long trie_get_next_key(struct pybpf_map *map, const void *key, void *next_key)
{
	struct lpm_trie *trie = trie_of(map);
	uint32_t stack[8 * 256 + 2]; /* one node per prefix length, at most */
	uint32_t depth = 0, ref, plen, matchlen = 0;
	const uint8_t *data;
	struct lpm_trie_node *node = NULL;

	if (!trie->root)
		return -ENOENT;
	if (!key || key_prefixlen(key) > trie->max_prefixlen)
		return leftmost(trie, trie->root, next_key);
	plen = key_prefixlen(key);
	data = key_data(key);
	for (ref = trie->root; ref; ref = node->child[extract_bit(data, node->prefixlen)]) {
		node = node_at(trie, ref);
		stack[depth++] = ref;
		matchlen = longest_prefix_match(trie, node, data, plen);
		if (node->prefixlen != matchlen || node->prefixlen == plen)
			break;
	}
	if (!ref || node->prefixlen != matchlen || matchlen != plen ||
	    (node->flags & LPM_TREE_NODE_FLAG_IM))
		return leftmost(trie, trie->root, next_key);
	/* the key's node: next is the right sibling's subtree, else the nearest real
	   ancestor */
	ref = stack[--depth];
	while (depth) {
		uint32_t parent = stack[depth - 1];
		struct lpm_trie_node *pnode = node_at(trie, parent);

		if (pnode->child[0] == ref && pnode->child[1])
			return leftmost(trie, pnode->child[1], next_key);
		if (!(pnode->flags & LPM_TREE_NODE_FLAG_IM))
			return copy_key(trie, parent, next_key);
		ref = stack[--depth];
	}
	return -ENOENT;
}

static const struct pybpf_map_ops trie_ops = {
	.map_lookup_elem = trie_lookup_elem,
	.map_update_elem = trie_update_elem,
	.map_delete_elem = trie_delete_elem,
	MAP_OPS_NOT_QUEUE,
	.map_lookup_sys = trie_lookup_sys,
	.map_update_sys = trie_update_elem,
	.map_lookup_and_delete_sys = map_lookup_and_delete_enotsupp,
	.map_get_next_key = trie_get_next_key,
	MAP_OPS_NOT_RINGBUF,
};

/* ---- creating ---- */

static uint64_t trie_node_size(uint32_t data_size)
{
	return (sizeof(struct lpm_trie_node) + data_size + 3) & ~(uint64_t)3;
}

static long trie_mem_usage(const struct pybpf_map_attr *attr, struct pybpf_map *layout,
			   uint64_t *storage_size, uint64_t *private_size)
{
	uint64_t me = attr->max_entries, pool;

	if (attr->key_size < 5 || attr->key_size > 4 + 256 || !attr->value_size || !me)
		return -EINVAL;
	layout->value_stride = round_up8(attr->value_size);
	layout->slot_size = layout->value_stride;
	if (!mul_ok(layout->slot_size, me, storage_size))
		return -E2BIG;
	pool = 2 * me * (trie_node_size(attr->key_size - 4) + 4);
	*private_size = sizeof(struct lpm_trie) + pool + me * 4;
	return 0;
}

static void trie_free(struct pybpf_map *map)
{
	struct lpm_trie *trie = trie_of(map);

	free(trie->pool);
	free(trie->free_nodes);
	free(trie->free_slots);
	free(trie);
}

static struct pybpf_map *trie_alloc(const struct pybpf_map_attr *attr)
{
	struct lpm_trie *trie = calloc(1, sizeof(*trie));
	uint64_t nodes = 2 * (uint64_t)attr->max_entries;

	if (!trie)
		return NULL;
	if (nodes > UINT32_MAX - 1)
		nodes = UINT32_MAX - 1;
	trie->data_size = attr->key_size - 4;
	trie->max_prefixlen = trie->data_size * 8;
	trie->node_size = trie_node_size(trie->data_size);
	trie->pool_nodes = nodes;
	/* calloc'ed pages are only touched as nodes are used */
	trie->pool = map_calloc(nodes, trie->node_size);
	trie->free_nodes = map_calloc(nodes, sizeof(uint32_t));
	trie->free_slots = map_calloc(attr->max_entries, sizeof(uint32_t));
	if (!trie->pool || !trie->free_nodes || !trie->free_slots) {
		trie_free(&trie->map);
		return NULL;
	}
	return &trie->map;
}

static uint64_t trie_count(struct pybpf_map *map)
{
	return trie_of(map)->n_entries;
}

const struct map_class trie_class = {
	.ops = &trie_ops,
	.mem_usage = trie_mem_usage,
	.alloc = trie_alloc,
	.free = trie_free,
	.count = trie_count,
};
