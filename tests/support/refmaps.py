"""The pure-Python map algorithms pybpf had before its maps moved to C: a test oracle.

HASH / PERCPU_HASH and LPM_TRIE here, LRU_HASH / LRU_PERCPU_HASH (the kernel's
bpf_lru_list reproduced list for list) in refmaps_lru.py, as Python structures over a
``storage`` bytearray laid out as the C maps lay theirs out.  The kernel can only
be compared with on one cpu and with BPF_F_ZERO_SEED; these models take any cpu
and any seed, so the differential tests in tests/maps/test_maps_reference.py
drive a C map and its model with the same operations and compare results, value
offsets, iteration order and every byte of storage.
"""

from __future__ import annotations

import bisect
import errno as E

from pybpf.errors import MapError
from pybpf.maps.jhash import htab_map_hash
from pybpf.uapi import (
    BPF_EXIST,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_NOEXIST,
)


def map_err(errno: int, message: str) -> MapError:
    return MapError(message, errno=errno)


def round_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def check_update_flags(flags: int) -> None:
    if flags > BPF_EXIST:
        raise map_err(E.EINVAL, f"unknown update flags {flags:#x}")


def roundup_pow_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length() if n > 1 else 1


class RefMap:
    """What the models need of a map: attributes, cpu, storage, the program-side update."""

    percpu = False

    def __init__(self, type, key_size, value_size, max_entries, flags=0, *, ncpus, hashrnd=0):
        self.type = type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.ncpus = ncpus
        self.cpu = 0
        self.hashrnd = hashrnd
        self.storage = bytearray()
        self._init_storage()

    def _alloc_storage(self, size: int) -> None:
        self.storage = bytearray(size)

    def prog_update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        if self.percpu:
            self._prog_percpu_update(key, value, flags)
        else:
            self._update(key, value, flags)

    def keys(self) -> list[bytes]:
        out, k = [], self._next_key(None)
        while k is not None and len(out) <= self.max_entries:
            out.append(k)
            k = self._next_key(k)
        return out


class RefHash(RefMap):
    """The old HashMap (HASH, PERCPU_HASH)."""

    lru = False
    #: user-space updates carry every cpu's value; a program's carries only its own
    _onallcpus = True
    percpu_types: tuple[int, ...] = (BPF_MAP_TYPE_PERCPU_HASH,)

    def __init__(self, *args, **kwargs):
        t = args[0] if args else kwargs.get("type")
        self._percpu = t in self.percpu_types
        super().__init__(*args, **kwargs)

    @property
    def percpu(self) -> bool:  # type: ignore[override]
        return self._percpu

    # -- creation --------------------------------------------------------------------------

    def _adjust_max_entries(self) -> None:
        """htab_map_alloc() may round max_entries (LRU with per-cpu lists)."""

    def _init_storage(self) -> None:
        self._adjust_max_entries()
        if self.max_entries > 1 << 31:
            raise map_err(E.E2BIG, f"max_entries {self.max_entries} > 2^31")
        self.n_buckets = roundup_pow_of_two(self.max_entries)
        if self.n_buckets > 0xFFFFFFFF // 16:  # sizeof(struct bucket) overflow check
            raise map_err(E.E2BIG, f"max_entries {self.max_entries}: too many buckets")
        self.key_stride = round_up(self.key_size, 8)
        self.stride = round_up(self.value_size, 8)
        if self.percpu:
            self.key_stride = 0  # keys of a per-cpu hash are not in program-visible storage
            self.elem_size = self.stride * self.ncpus
        else:
            self.elem_size = self.key_stride + self.stride
        self._alloc_storage(self.elem_size * self.max_entries)
        self.buckets: dict[int, list[int]] = {}
        self.nonempty: list[int] = []  # sorted indices of non-empty buckets
        self.slot_key: list[bytes | None] = [None] * self.max_entries
        self.slot_hash: list[int] = [0] * self.max_entries
        self.key_slot: dict[bytes, int] = {}
        self._init_free()

    def _init_free(self) -> None:
        self.free = list(range(self.max_entries - 1, -1, -1))

    # -- bucket list primitives ------------------------------------------------------------

    def _bucket_of(self, h: int) -> int:
        return h & (self.n_buckets - 1)

    def _link_head(self, slot: int, key: bytes, h: int) -> None:
        """hlist_nulls_add_head_rcu(): a new element is found first in its bucket."""
        self.slot_key[slot] = key
        self.slot_hash[slot] = h
        self.key_slot[key] = slot
        b = self._bucket_of(h)
        lst = self.buckets.get(b)
        if lst is None:
            self.buckets[b] = [slot]
            bisect.insort(self.nonempty, b)
        else:
            lst.insert(0, slot)
        if self.key_stride:
            off = slot * self.elem_size
            self.storage[off : off + self.key_size] = key

    def _unlink(self, slot: int) -> None:
        key = self.slot_key[slot]
        assert key is not None
        b = self._bucket_of(self.slot_hash[slot])
        lst = self.buckets[b]
        lst.remove(slot)
        if not lst:
            del self.buckets[b]
            del self.nonempty[bisect.bisect_left(self.nonempty, b)]
        if self.key_slot.get(key) == slot:
            del self.key_slot[key]
        self.slot_key[slot] = None

    def _move_to_head(self, slot: int) -> None:
        lst = self.buckets[self._bucket_of(self.slot_hash[slot])]
        lst.remove(slot)
        lst.insert(0, slot)

    def _value_base(self, slot: int) -> int:
        return slot * self.elem_size + self.key_stride

    def _write_value(self, slot: int, value: bytes, new: bool = False) -> None:
        off = self._value_base(slot)
        if not self.percpu:
            self.storage[off : off + self.value_size] = value
        elif self._onallcpus:
            # pcpu_copy_value(onallcpus): every cpu's padded value from user space
            self.storage[off : off + self.elem_size] = value
        else:
            # a program's update: this cpu's value; a new element is zeroed elsewhere
            # (pcpu_init_value() clears value_size bytes, leaving the padding)
            if new:
                for c in range(self.ncpus):
                    o = off + c * self.stride
                    self.storage[o : o + self.value_size] = bytes(self.value_size)
            o = off + self.cpu * self.stride
            self.storage[o : o + self.value_size] = value

    def _prog_percpu_update(self, key: bytes, value: bytes, flags: int) -> None:
        self._onallcpus = False
        try:
            self._update(key, value, flags)
        finally:
            self._onallcpus = True

    def _read_value(self, slot: int) -> bytes:
        off = self._value_base(slot)
        if self.percpu:
            return bytes(self.storage[off : off + self.elem_size])
        return bytes(self.storage[off : off + self.value_size])

    # -- ops -----------------------------------------------------------------------------

    def value_offset(self, key: bytes, cpu: int | None = None) -> int | None:
        slot = self.key_slot.get(bytes(key))
        if slot is None:
            return None
        off = self._value_base(slot)
        if self.percpu:
            c = self.cpu if cpu is None else cpu
            if not 0 <= c < self.ncpus:
                raise map_err(E.EINVAL, f"cpu {c} out of range (ncpus {self.ncpus})")
            off += c * self.stride
        return off

    def _lookup(self, key: bytes) -> bytes | None:
        slot = self.key_slot.get(key)
        return None if slot is None else self._read_value(slot)

    def _check_flags(self, exists: bool, flags: int) -> None:
        if exists and flags == BPF_NOEXIST:
            raise map_err(E.EEXIST, "element exists (BPF_NOEXIST)")
        if not exists and flags == BPF_EXIST:
            raise map_err(E.ENOENT, "no such element (BPF_EXIST)")

    def _update(self, key: bytes, value: bytes, flags: int) -> None:
        check_update_flags(flags)
        old = self.key_slot.get(key)
        self._check_flags(old is not None, flags)
        if old is not None:
            self._write_value(old, value)
            if not self.percpu:
                # htab_map_update_elem() links a fresh element at the head, then unlinks
                # the old one; the value stays in its slot here (see module docstring)
                self._move_to_head(old)
            return
        if not self.free:
            raise map_err(E.E2BIG, f"hash map full ({self.max_entries} entries)")
        slot = self.free.pop()
        self._write_value(slot, value, new=True)
        self._link_head(slot, key, htab_map_hash(key, self.hashrnd))

    def _delete(self, key: bytes) -> None:
        slot = self.key_slot.get(key)
        if slot is None:
            raise map_err(E.ENOENT, "no such element")
        self._unlink(slot)
        self._free_slot(slot)

    def _free_slot(self, slot: int) -> None:
        self.free.append(slot)

    def _lookup_and_delete(self, key: bytes) -> bytes:
        slot = self.key_slot.get(key)
        if slot is None:
            raise map_err(E.ENOENT, "no such element")
        value = self._read_value(slot)
        self._delete(key)
        return value

    def _next_key(self, key: bytes | None) -> bytes | None:
        # htab_map_get_next_key(): next in the bucket, else first of a later bucket;
        # an absent key restarts from the first bucket
        start = 0
        if key is not None:
            slot = self.key_slot.get(key)
            if slot is not None:
                b = self._bucket_of(self.slot_hash[slot])
                lst = self.buckets[b]
                i = lst.index(slot)
                if i + 1 < len(lst):
                    return self.slot_key[lst[i + 1]]
                start = b + 1
        j = bisect.bisect_left(self.nonempty, start)
        if j == len(self.nonempty):
            return None
        return self.slot_key[self.buckets[self.nonempty[j]][0]]

    def __len__(self) -> int:
        return len(self.key_slot)


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


class RefLpm(RefMap):
    """The old LpmTrieMap (LPM_TRIE)."""

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
