"""BPF_MAP_TYPE_LPM_TRIE (kernel/bpf/lpm_trie.c): longest-prefix match.

Keys are ``struct bpf_lpm_trie_key_u8``: a host-order u32 ``prefixlen`` and
``key_size - 4`` bytes of data in network order (IPv4: 4, IPv6: 16).  The
trie has the kernel's shape — path-compressed binary nodes, intermediate
nodes where two prefixes diverge — so BPF_MAP_GET_NEXT_KEY walks it in the
kernel's post-order (more specific prefixes first).
A node keeps the key bytes it was last written with, bits past the prefix
included, as trie_update_elem() copies them.  The trie and its nodes are C
(lpm_trie.c); values live in ``storage`` slots of ``round_up(value_size, 8)``
bytes handed out by a free list, and keep their slot while the prefix lives.
"""

from __future__ import annotations

import errno as E

from ..uapi import BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_MAP_TYPE_LPM_TRIE
from .base import BPF_F_ACCESS_MASK, KMALLOC_MAX_SIZE, Map, flags_access_ok, map_err
from .native_map import NativeMap

LPM_DATA_SIZE_MAX = 256
LPM_DATA_SIZE_MIN = 1
LPM_KEY_SIZE_MIN = 4 + LPM_DATA_SIZE_MIN
LPM_KEY_SIZE_MAX = 4 + LPM_DATA_SIZE_MAX
#: sizeof(struct lpm_trie_node) on x86-64
LPM_NODE_SIZE = 40
LPM_VAL_SIZE_MAX = KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX - LPM_NODE_SIZE
LPM_CREATE_FLAG_MASK = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK


@Map.register
class LpmTrieMap(NativeMap):
    map_types = (BPF_MAP_TYPE_LPM_TRIE,)
    messages = {
        ("update", E.EINVAL): "bad update flags {flags:#x} or prefixlen of key {key} too long",
        ("update", E.ENOENT): "no prefix {key} (BPF_EXIST)",
        ("update", E.EEXIST): "prefix {key} exists (BPF_NOEXIST)",
        ("update", E.ENOSPC): "lpm trie full ({max_entries} entries)",
        ("delete", E.EINVAL): "prefixlen of key {key} is too long",
        ("delete", E.ENOENT): "no prefix {key}",
        ("lookup_and_delete", 524): "lpm tries have no lookup_and_delete (ENOTSUPP)",
    }

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
        super()._init_storage()

    @staticmethod
    def key(prefixlen: int, data: bytes) -> bytes:
        """Build a ``bpf_lpm_trie_key_u8``: host-order prefixlen then the data bytes."""
        return prefixlen.to_bytes(4, "little") + bytes(data)

    def _pin_state(self):
        # re-inserting parents before children in any order rebuilds the same trie
        return {}, list(reversed(self.items()))
