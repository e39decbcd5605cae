"""BPF_MAP_TYPE_LPM_TRIE (kernel/bpf/lpm_trie.c): longest-prefix match.

Keys are ``struct bpf_lpm_trie_key_u8``: a host-order u32 ``prefixlen`` and
``key_size - 4`` bytes of data in network order (IPv4: 4, IPv6: 16).  The
trie has the kernel's shape — path-compressed binary nodes, intermediate
nodes where two prefixes diverge — so BPF_MAP_GET_NEXT_KEY walks it in the
kernel's post-order (more specific prefixes first).
A node keeps the key bytes it was last written with, bits past the prefix
included, as trie_update_elem() copies them.  Values live in ``storage``
slots handed out by a free list.
"""

from __future__ import annotations

import errno as E

from ..uapi import BPF_EXIST, BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_MAP_TYPE_LPM_TRIE, BPF_NOEXIST
from .base import BPF_F_ACCESS_MASK, KMALLOC_MAX_SIZE, Map, flags_access_ok, map_err, round_up

LPM_DATA_SIZE_MAX = 256
LPM_DATA_SIZE_MIN = 1
LPM_KEY_SIZE_MIN = 4 + LPM_DATA_SIZE_MIN
LPM_KEY_SIZE_MAX = 4 + LPM_DATA_SIZE_MAX
#: sizeof(struct lpm_trie_node) on x86-64
LPM_NODE_SIZE = 40
LPM_VAL_SIZE_MAX = KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX - LPM_NODE_SIZE
LPM_CREATE_FLAG_MASK = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK


class _Node:
    __slots__ = ("prefixlen", "data", "im", "child", "slot")

    def __init__(self, prefixlen: int, data: bytes, im: bool = False, slot: int = -1):
        self.prefixlen = prefixlen
        self.data = data
        self.im = im
        self.child: list[_Node | None] = [None, None]
        self.slot = slot


def _bit(data: bytes, index: int) -> int:
    return (data[index // 8] >> (7 - index % 8)) & 1


def _match(a: bytes, b: bytes, limit: int) -> int:
    """longest_prefix_match(): how many leading bits agree, at most ``limit``."""
    diff = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    nbits = len(a) * 8
    common = nbits - diff.bit_length()
    return min(common, limit)


@Map.register
class LpmTrieMap(Map):
    map_types = (BPF_MAP_TYPE_LPM_TRIE,)

    def check_create(self) -> None:
        # trie_alloc()
        if (
            self.max_entries == 0
            or not self.flags & BPF_F_NO_PREALLOC
            or self.flags & ~LPM_CREATE_FLAG_MASK
            or not flags_access_ok(self.flags)
            or not LPM_KEY_SIZE_MIN <= self.key_size <= LPM_KEY_SIZE_MAX
            or not 1 <= self.value_size <= LPM_VAL_SIZE_MAX
        ):
            raise map_err(
                E.EINVAL,
                "bad lpm_trie attributes: needs BPF_F_NO_PREALLOC, key_size "
                f"4+1..4+256 (got {self.key_size}), value_size > 0, "
                "max_entries > 0",
            )

    def _init_storage(self) -> None:
        self.data_size = self.key_size - 4
        self.max_prefixlen = self.data_size * 8
        self.elem_size = round_up(self.value_size, 8)
        # values are allocated per node in the kernel; here they get slots up front
        self._alloc_storage(self.elem_size * self.max_entries)
        self.free = list(range(self.max_entries - 1, -1, -1))
        self.root: _Node | None = None
        self.n_entries = 0

    @staticmethod
    def key(prefixlen: int, data: bytes) -> bytes:
        """Build a ``bpf_lpm_trie_key_u8``: host-order prefixlen then the data bytes."""
        return prefixlen.to_bytes(4, "little") + bytes(data)

    def _split(self, key: bytes) -> tuple[int, bytes]:
        return int.from_bytes(key[:4], "little"), key[4:]

    def _lpm(self, key: bytes) -> _Node | None:
        # trie_lookup_elem()
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return None
        found = None
        node = self.root
        while node is not None:
            m = _match(node.data, data, min(node.prefixlen, plen))
            if m == self.max_prefixlen:
                found = node
                break
            if m < node.prefixlen:
                break
            if not node.im:
                found = node
            node = node.child[_bit(data, node.prefixlen)]
        return found

    def _value(self, node: _Node) -> bytes:
        off = node.slot * self.elem_size
        return bytes(self.storage[off : off + self.value_size])

    def _lookup(self, key: bytes) -> bytes | None:
        node = self._lpm(key)
        return None if node is None else self._value(node)

    def value_offset(self, key: bytes) -> int | None:
        node = self._lpm(bytes(key))
        return None if node is None else node.slot * self.elem_size

    def _check_add(self, flags: int) -> None:
        # trie_check_add_elem()
        if flags == BPF_EXIST:
            raise map_err(E.ENOENT, "no such prefix (BPF_EXIST)")
        if self.n_entries == self.max_entries:
            raise map_err(E.ENOSPC, f"lpm trie full ({self.max_entries} entries)")
        self.n_entries += 1

    def _new_node(self, plen: int, data: bytes, value: bytes, slot: int | None = None) -> _Node:
        if slot is None:
            slot = self.free.pop()
        off = slot * self.elem_size
        self.storage[off : off + self.value_size] = value
        return _Node(plen, data, slot=slot)

    def _update(self, key: bytes, value: bytes, flags: int) -> None:
        # trie_update_elem()
        if flags > BPF_EXIST:
            raise map_err(E.EINVAL, f"unknown update flags {flags:#x}")
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            raise map_err(E.EINVAL, f"prefixlen {plen} > {self.max_prefixlen}")
        parent: _Node | None = None
        side = 0
        node = self.root
        m = 0
        while node is not None:
            m = _match(node.data, data, min(node.prefixlen, plen))
            if node.prefixlen != m or node.prefixlen == plen:
                break
            parent, side = node, _bit(data, node.prefixlen)
            node = node.child[side]

        def attach(n: _Node) -> None:
            if parent is None:
                self.root = n
            else:
                parent.child[side] = n

        if node is None:
            self._check_add(flags)
            attach(self._new_node(plen, data, value))
            return
        if node.prefixlen == m:
            # the same prefix: replace the node (an intermediate one becomes real)
            if not node.im:
                if flags == BPF_NOEXIST:
                    raise map_err(E.EEXIST, "prefix exists (BPF_NOEXIST)")
                slot = node.slot
            else:
                self._check_add(flags)
                slot = None
            new = self._new_node(plen, data, value, slot)
            new.child = node.child
            attach(new)
            return
        self._check_add(flags)
        new = self._new_node(plen, data, value)
        if m == plen:
            # the new prefix is an ancestor of node
            new.child[_bit(node.data, m)] = node
            attach(new)
            return
        im = _Node(m, node.data, im=True)
        if _bit(data, m):
            im.child = [node, new]
        else:
            im.child = [new, node]
        attach(im)

    def _delete(self, key: bytes) -> None:
        # trie_delete_elem()
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            raise map_err(E.EINVAL, f"prefixlen {plen} > {self.max_prefixlen}")
        # path of (node, its parent, side in parent)
        grand: _Node | None = None
        gside = 0
        parent: _Node | None = None
        side = 0
        node = self.root
        m = 0
        while node is not None:
            m = _match(node.data, data, min(node.prefixlen, plen))
            if node.prefixlen != m or node.prefixlen == plen:
                break
            grand, gside = parent, side
            parent, side = node, _bit(data, node.prefixlen)
            node = node.child[side]
        if node is None or node.prefixlen != plen or node.prefixlen != m or node.im:
            raise map_err(E.ENOENT, "no such prefix")
        self.n_entries -= 1
        self.free.append(node.slot)
        if node.child[0] is not None and node.child[1] is not None:
            node.im = True
            node.slot = -1
            return

        def set_slot(owner: _Node | None, s: int, n: _Node | None) -> None:
            if owner is None:
                self.root = n
            else:
                owner.child[s] = n

        if parent is not None and parent.im and node.child[0] is None and node.child[1] is None:
            other = parent.child[1] if parent.child[0] is node else parent.child[0]
            set_slot(grand, gside, other)
            return
        set_slot(parent, side, node.child[0] if node.child[0] is not None else node.child[1])

    def _next_key(self, key: bytes | None) -> bytes | None:
        # trie_get_next_key(): post-order, leftmost first
        search_root = self.root
        if search_root is None:
            return None
        if key is not None:
            plen, data = self._split(key)
        if key is not None and plen <= self.max_prefixlen:
            stack: list[_Node] = []
            node: _Node | None = search_root
            m = 0
            while node is not None:
                stack.append(node)
                m = _match(node.data, data, min(node.prefixlen, plen))
                if node.prefixlen != m or node.prefixlen == plen:
                    break
                node = node.child[_bit(data, node.prefixlen)]
            # an exact match: all of the node's prefix matched and the lengths agree
            if node is not None and node.prefixlen == m == plen and not node.im:
                node = stack.pop()
                while stack:
                    parent = stack[-1]
                    if parent.child[0] is node and parent.child[1] is not None:
                        return self._leftmost(parent.child[1])
                    if not parent.im:
                        return self._key_of(parent)
                    node = stack.pop()
                return None
        return self._leftmost(search_root)

    def _leftmost(self, node: _Node | None) -> bytes | None:
        nxt = None
        while node is not None:
            if node.im:
                node = node.child[0]
            else:
                nxt = node
                node = node.child[0] if node.child[0] is not None else node.child[1]
        return None if nxt is None else self._key_of(nxt)

    def _key_of(self, node: _Node) -> bytes:
        return self.key(node.prefixlen, node.data)

    def __len__(self) -> int:
        return self.n_entries

    def _pin_state(self):
        # re-inserting parents before children in any order rebuilds the same trie
        return {}, list(reversed(self.items()))
