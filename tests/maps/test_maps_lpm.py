"""LPM_TRIE: longest-prefix match on IPv4/IPv6 keys, post-order iteration, errnos."""

from __future__ import annotations

import errno
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.errors import MapError
from pybpf.maps import LpmTrieMap, Map
from pybpf.uapi import BPF_EXIST, BPF_F_NO_PREALLOC, BPF_MAP_TYPE_LPM_TRIE, BPF_NOEXIST


def key(cidr: str) -> bytes:
    net = ipaddress.ip_network(cidr, strict=False)
    return LpmTrieMap.key(net.prefixlen, net.network_address.packed)


def host(addr: str) -> bytes:
    a = ipaddress.ip_address(addr)
    return LpmTrieMap.key(a.max_prefixlen, a.packed)


def errno_of(fn, *a):
    with pytest.raises(MapError) as ei:
        fn(*a)
    return ei.value.errno


def test_ipv4_longest_prefix_and_postorder():
    m = Map(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 16, BPF_F_NO_PREALLOC)
    # the example trie at the top of kernel/bpf/lpm_trie.c
    for i, cidr in [
        (1, "192.168.0.0/16"),
        (2, "192.168.0.0/24"),
        (3, "192.168.128.0/24"),
        (5, "192.168.1.0/24"),
    ]:
        m[key(cidr)] = i
    t = m.typed(value="<I")
    assert t[host("192.168.0.77")] == 2
    assert t[host("192.168.1.1")] == 5
    assert t[host("192.168.200.1")] == 1
    assert host("10.0.0.1") not in m
    assert m.keys() == [
        key(c) for c in ("192.168.0.0/24", "192.168.1.0/24", "192.168.128.0/24", "192.168.0.0/16")
    ]
    off = m.value_offset(host("192.168.1.9"))
    assert bytes(m.storage[off : off + 4]) == (5).to_bytes(4, "little")
    m.delete(key("192.168.1.0/24"))
    assert t[host("192.168.1.1")] == 1
    assert errno_of(m.delete, key("192.168.1.0/24")) == errno.ENOENT


def test_ipv6():
    m = Map(BPF_MAP_TYPE_LPM_TRIE, 20, 1, 8, BPF_F_NO_PREALLOC)
    m[key("2001:db8::/32")] = b"\1"
    m[key("2001:db8:1::/48")] = b"\2"
    m[key("::/0")] = b"\3"
    assert m[host("2001:db8:1::5")] == b"\2"
    assert m[host("2001:db8:2::5")] == b"\1"
    assert m[host("fe80::1")] == b"\3"


def test_errnos_and_create():
    m = Map(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 2, BPF_F_NO_PREALLOC)
    m[key("10.0.0.0/8")] = 1
    assert errno_of(m.update, key("10.0.0.0/8"), 1, BPF_NOEXIST) == errno.EEXIST
    assert errno_of(m.update, key("11.0.0.0/8"), 1, BPF_EXIST) == errno.ENOENT
    m[key("11.0.0.0/8")] = 1
    assert errno_of(m.update, key("12.0.0.0/8"), 1) == errno.ENOSPC
    m[key("11.0.0.0/8")] = 2  # replacing in a full trie is fine
    assert errno_of(m.update, LpmTrieMap.key(33, bytes(4)), 1) == errno.EINVAL
    assert errno_of(m.update, key("10.0.0.0/8"), 1, 3) == errno.EINVAL
    assert errno_of(m.delete, LpmTrieMap.key(33, bytes(4))) == errno.EINVAL
    assert m.next_key(LpmTrieMap.key(40, bytes(4))) == m.next_key(None)
    for args in [
        (8, 4, 2, 0),
        (4, 4, 2, BPF_F_NO_PREALLOC),
        (8, 0, 2, BPF_F_NO_PREALLOC),
        (261, 4, 2, BPF_F_NO_PREALLOC),
        (8, 4, 0, BPF_F_NO_PREALLOC),
    ]:
        assert errno_of(Map, BPF_MAP_TYPE_LPM_TRIE, *args) == errno.EINVAL


prefixes = st.tuples(st.integers(0, 32), st.integers(0, 2**32 - 1))


@settings(max_examples=100, deadline=None)
@given(st.lists(prefixes, max_size=30), st.lists(st.integers(0, 2**32 - 1), max_size=20))
def test_lookup_matches_brute_force(entries, probes):
    m = Map(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 64, BPF_F_NO_PREALLOC)
    model: dict[tuple[int, int], int] = {}
    for i, (plen, addr) in enumerate(entries):
        net = addr & ~((1 << (32 - plen)) - 1) & 0xFFFFFFFF
        m.update(LpmTrieMap.key(plen, net.to_bytes(4, "big")), i.to_bytes(4, "little"))
        model[(plen, net)] = i
    for probe in probes + [a for _, a in entries]:
        best = None
        for (plen, net), v in model.items():
            if probe >> (32 - plen) == net >> (32 - plen) if plen else True:
                if best is None or plen > best[0]:
                    best = (plen, v)
        got = m.typed(value="<I").lookup(LpmTrieMap.key(32, probe.to_bytes(4, "big")))
        assert got == (None if best is None else best[1])
    keys = m.keys()
    assert len(keys) == len(model) == len(m)
    # post-order: a prefix never comes before a longer prefix it contains
    seen = []
    for kb in keys:
        plen = int.from_bytes(kb[:4], "little")
        net = int.from_bytes(kb[4:], "big")
        for p2, n2 in seen:
            assert not (
                plen > p2 and (net >> (32 - p2) if p2 else 0) == (n2 >> (32 - p2) if p2 else 0)
            )
        seen.append((plen, net))
