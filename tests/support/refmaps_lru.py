"""The old pure-Python LRU_HASH / LRU_PERCPU_HASH (bpf_lru_list reproduced list for list).

A test oracle for the C maps, as refmaps.py is (see there).
"""

from __future__ import annotations

import errno as E

from pybpf.errors import MapError
from pybpf.maps.jhash import htab_map_hash
from pybpf.uapi import BPF_EXIST, BPF_F_NO_COMMON_LRU, BPF_MAP_TYPE_LRU_PERCPU_HASH

from .refmaps import RefHash, check_update_flags, map_err

LOCAL_FREE_TARGET = 128
LOCAL_NR_SCANS = LOCAL_FREE_TARGET
PERCPU_FREE_TARGET = 4
PERCPU_NR_SCANS = PERCPU_FREE_TARGET

# enum bpf_lru_list_type
ACTIVE, INACTIVE, FREE, LOCAL_FREE, LOCAL_PENDING = range(5)


class _LruList:
    """struct bpf_lru_list: three list heads, two counts and the inactive rotation cursor."""

    def __init__(self, lru: BpfLru):
        self.heads = [lru.new_head() for _ in range(3)]
        self.counts = [0, 0]
        self.next_inactive_rotation = self.heads[INACTIVE]


class _LocalList:
    """struct bpf_lru_locallist: per-cpu free and pending lists."""

    def __init__(self, lru: BpfLru, cpu: int):
        self.free = lru.new_head()
        self.pending = lru.new_head()
        self.next_steal = cpu


class BpfLru:
    """struct bpf_lru with its node lists as index-linked doubly linked lists."""

    def __init__(self, nr_elems: int, ncpus: int, percpu: bool, del_from_htab):
        self.n = nr_elems
        self.ncpus = ncpus
        self.percpu = percpu
        self.del_from_htab = del_from_htab
        self.prev: list[int] = list(range(nr_elems))
        self.next: list[int] = list(range(nr_elems))
        self.type = [FREE] * nr_elems
        self.ref = [0] * nr_elems
        self.cpu = [0] * nr_elems
        self.nr_scans = PERCPU_NR_SCANS if percpu else LOCAL_NR_SCANS
        if percpu:
            self.lists = [_LruList(self) for _ in range(ncpus)]
            per = nr_elems // ncpus
            node = 0
            for c in range(ncpus):
                for _ in range(per):
                    if node == nr_elems:
                        break
                    self.cpu[node] = c
                    self._add(node, self.lists[c].heads[FREE])
                    node += 1
        else:
            self.l = _LruList(self)
            self.local = [_LocalList(self, c) for c in range(ncpus)]
            for node in range(nr_elems):
                self._add(node, self.l.heads[FREE])
            self.target_free = max(1, min((nr_elems // ncpus) // 2, LOCAL_FREE_TARGET))

    # -- list_head primitives -----------------------------------------------------------------

    def new_head(self) -> int:
        h = len(self.prev)
        self.prev.append(h)
        self.next.append(h)
        return h

    def _add(self, node: int, head: int) -> None:
        nx = self.next[head]
        self.next[head] = node
        self.prev[node] = head
        self.next[node] = nx
        self.prev[nx] = node

    def _del(self, node: int) -> None:
        p, nx = self.prev[node], self.next[node]
        self.next[p] = nx
        self.prev[nx] = p

    def _move(self, node: int, head: int) -> None:
        self._del(node)
        self._add(node, head)

    def _empty(self, head: int) -> bool:
        return self.next[head] == head

    def _reverse(self, head: int):
        """list_for_each_entry_safe_reverse(): the previous node is taken before the body."""
        cur = self.prev[head]
        while cur != head:
            tmp = self.prev[cur]
            yield cur
            cur = tmp

    # -- node moves (the kernel's __bpf_lru_node_* helpers) --------------------------------

    def _count(self, l: _LruList, t: int, d: int) -> None:
        if t < 2:
            l.counts[t] += d

    def _move_to_free(self, l: _LruList, node: int, free_head: int, tgt: int) -> None:
        if node == l.next_inactive_rotation:
            l.next_inactive_rotation = self.prev[node]
        self._count(l, self.type[node], -1)
        self.type[node] = tgt
        self._move(node, free_head)

    def _move_in(self, l: _LruList, node: int, tgt: int) -> None:
        self._count(l, tgt, 1)
        self.type[node] = tgt
        self.ref[node] = 0
        self._move(node, l.heads[tgt])

    def _node_move(self, l: _LruList, node: int, tgt: int) -> None:
        if self.type[node] != tgt:
            self._count(l, self.type[node], -1)
            self._count(l, tgt, 1)
            self.type[node] = tgt
        self.ref[node] = 0
        if node == l.next_inactive_rotation:
            l.next_inactive_rotation = self.prev[node]
        self._move(node, l.heads[tgt])

    # -- rotation and shrinking ------------------------------------------------------------

    def _rotate_active(self, l: _LruList) -> None:
        head = l.heads[ACTIVE]
        first = self.next[head]
        i = 0
        for node in self._reverse(head):
            self._node_move(l, node, ACTIVE if self.ref[node] else INACTIVE)
            i += 1
            if i == self.nr_scans or node == first:
                break

    def _rotate_inactive(self, l: _LruList) -> None:
        head = l.heads[INACTIVE]
        if self._empty(head):
            return
        last = self.next[l.next_inactive_rotation]
        if last == head:
            last = self.next[last]
        cur = l.next_inactive_rotation
        nxt = cur
        i = 0
        while i < self.nr_scans:
            if cur == head:
                cur = self.prev[cur]
                continue
            node = cur
            nxt = self.prev[cur]
            if self.ref[node]:
                self._node_move(l, node, ACTIVE)
            if cur == last:
                break
            cur = nxt
            i += 1
        l.next_inactive_rotation = nxt

    def _rotate(self, l: _LruList) -> None:
        if l.counts[INACTIVE] < l.counts[ACTIVE]:
            self._rotate_active(l)
        self._rotate_inactive(l)

    def _shrink_inactive(self, l: _LruList, tgt: int, free_head: int, tgt_type: int) -> int:
        n = 0
        i = 0
        for node in self._reverse(l.heads[INACTIVE]):
            if self.ref[node]:
                self._node_move(l, node, ACTIVE)
            elif self.del_from_htab(node):
                self._move_to_free(l, node, free_head, tgt_type)
                n += 1
                if n == tgt:
                    break
            i += 1
            if i == self.nr_scans:
                break
        return n

    def _shrink(self, l: _LruList, tgt: int, free_head: int, tgt_type: int) -> int:
        n = self._shrink_inactive(l, tgt, free_head, tgt_type)
        if n:
            return n
        force = l.heads[INACTIVE] if not self._empty(l.heads[INACTIVE]) else l.heads[ACTIVE]
        for node in self._reverse(force):
            if self.del_from_htab(node):
                self._move_to_free(l, node, free_head, tgt_type)
                return 1
        return 0

    # -- common LRU: local lists ------------------------------------------------------------

    def _flush(self, loc: _LocalList) -> None:
        for node in self._reverse(loc.pending):
            self._move_in(self.l, node, ACTIVE if self.ref[node] else INACTIVE)

    def _pop_free_to_local(self, loc: _LocalList) -> None:
        l = self.l
        self._flush(loc)
        self._rotate(l)
        nfree = 0
        head = l.heads[FREE]
        cur = self.next[head]
        while cur != head:
            tmp = self.next[cur]
            self._move_to_free(l, cur, loc.free, LOCAL_FREE)
            nfree += 1
            if nfree == self.target_free:
                break
            cur = tmp
        if nfree < self.target_free:
            self._shrink(l, self.target_free - nfree, loc.free, LOCAL_FREE)

    def _add_pending(self, loc: _LocalList, cpu: int, node: int) -> None:
        self.cpu[node] = cpu
        self.type[node] = LOCAL_PENDING
        self.ref[node] = 0
        self._add(node, loc.pending)

    def _local_pop_free(self, loc: _LocalList) -> int | None:
        if self._empty(loc.free):
            return None
        node = self.next[loc.free]
        self._del(node)
        return node

    def _local_pop_pending(self, loc: _LocalList) -> int | None:
        for force in (False, True):
            cur = self.prev[loc.pending]
            while cur != loc.pending:
                if (not self.ref[cur] or force) and self.del_from_htab(cur):
                    self._del(cur)
                    return cur
                cur = self.prev[cur]
        return None

    # -- the interface hashtab.c uses ----------------------------------------------------------

    def pop_free(self, cpu: int) -> int | None:
        """bpf_lru_pop_free(): a node for a new element, evicting if it must (None: ENOMEM)."""
        if self.percpu:
            l = self.lists[cpu]
            self._rotate(l)
            free = l.heads[FREE]
            if self._empty(free):
                self._shrink(l, PERCPU_FREE_TARGET, free, FREE)
            if self._empty(free):
                return None
            first = self.next[free]
            self.ref[first] = 0
            self._node_move(l, first, INACTIVE)
            return first
        loc = self.local[cpu]
        node: int | None = self._local_pop_free(loc)
        if node is None:
            self._pop_free_to_local(loc)
            node = self._local_pop_free(loc)
        if node is not None:
            self._add_pending(loc, cpu, node)
            return node
        first = loc.next_steal
        steal = first
        while True:
            sl = self.local[steal]
            node = self._local_pop_free(sl)
            if node is None:
                node = self._local_pop_pending(sl)
            steal = (steal + 1) % self.ncpus
            if node is not None or steal == first:
                break
        loc.next_steal = steal
        if node is not None:
            self._add_pending(loc, cpu, node)
        return node

    def push_free(self, node: int) -> None:
        """bpf_lru_push_free(): a node whose element was deleted or replaced."""
        if self.percpu:
            self._node_move(self.lists[self.cpu[node]], node, FREE)
            return
        if self.type[node] == LOCAL_PENDING:
            loc = self.local[self.cpu[node]]
            self.type[node] = LOCAL_FREE
            self.ref[node] = 0
            self._move(node, loc.free)
            return
        self._node_move(self.l, node, FREE)


class RefLru(RefHash):
    """The old LruHashMap (LRU_HASH, LRU_PERCPU_HASH)."""

    percpu_types = (BPF_MAP_TYPE_LRU_PERCPU_HASH,)
    lru = True

    def _adjust_max_entries(self) -> None:
        if self.flags & BPF_F_NO_COMMON_LRU:
            # each cpu's list gets the same number of nodes, at least one
            n, c = self.max_entries, self.ncpus
            up = (n + c - 1) // c * c
            self.max_entries = up if up <= 0xFFFFFFFF else n // c * c

    def _init_free(self) -> None:
        self.free = []
        self.lru_list = BpfLru(
            self.max_entries, self.ncpus, bool(self.flags & BPF_F_NO_COMMON_LRU), self._del_node
        )

    def _del_node(self, slot: int) -> bool:
        """htab_lru_map_delete_node(): evict the element using this node, if it is linked."""
        if self.slot_key[slot] is None:
            return False
        self._unlink(slot)
        return True

    def _free_slot(self, slot: int) -> None:
        self.lru_list.push_free(slot)

    def value_offset(self, key: bytes, cpu: int | None = None) -> int | None:
        """A program's lookup: like bpf_map_lookup_elem() on an LRU map it sets the ref bit."""
        slot = self.key_slot.get(bytes(key))
        if slot is not None:
            self.lru_list.ref[slot] = 1
        return super().value_offset(key, cpu)

    def _update(self, key: bytes, value: bytes, flags: int) -> None:
        check_update_flags(flags)
        h = htab_map_hash(key, self.hashrnd)
        if self.percpu:
            self._update_percpu(key, value, flags, h)
            return
        # htab_lru_map_update_elem(): take a node first (this may evict), then check flags
        slot = self.lru_list.pop_free(self.cpu)
        if slot is None:
            raise map_err(E.ENOMEM, "no LRU node could be freed")
        self._write_value(slot, value)
        old = self.key_slot.get(key)
        try:
            self._check_flags(old is not None, flags)
        except MapError:
            self.lru_list.push_free(slot)
            raise
        self._link_head(slot, key, h)
        if old is not None:
            self.lru_list.ref[slot] = 1
            self._unlink(old)
            self.lru_list.push_free(old)

    def _update_percpu(self, key: bytes, value: bytes, flags: int, h: int) -> None:
        # __htab_lru_percpu_map_update_elem(): existing elements are updated in place
        slot = None
        if flags != BPF_EXIST:
            slot = self.lru_list.pop_free(self.cpu)
            if slot is None:
                raise map_err(E.ENOMEM, "no LRU node could be freed")
        old = self.key_slot.get(key)
        try:
            self._check_flags(old is not None, flags)
        except MapError:
            if slot is not None:
                self.lru_list.push_free(slot)
            raise
        if old is not None:
            self.lru_list.ref[old] = 1
            self._write_value(old, value)
            if slot is not None:
                self.lru_list.push_free(slot)
        else:
            assert slot is not None
            self._write_value(slot, value, new=True)
            self._link_head(slot, key, h)
