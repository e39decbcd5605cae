"""The model sk_buff: geometry, reads across page fragments, LD_ABS bases, eth_type_trans."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf import uapi
from pybpf.errors import BpfError
from pybpf.net.skb import (
    ETH_P_802_2,
    ETH_P_802_3,
    ETH_P_8021Q,
    ETH_P_IP,
    ETH_P_IPV6,
    SkBuff,
    eth_type_trans,
)

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def ipv4_frame(payload_len: int = 40, proto: int = 17, dst: bytes = MAC_A) -> bytes:
    ip = bytes(
        [0x45, 0, 0, 20 + payload_len, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]
    )
    return dst + MAC_B + b"\x08\x00" + ip + bytes(range(payload_len))


def test_linear_frame_geometry():
    f = ipv4_frame()
    skb = SkBuff.from_frame(f)
    assert skb.len == len(f) and skb.headlen == len(f) and skb.data_len == 0
    assert skb.mac_offset == 0 and skb.network_offset == 14
    assert skb.protocol == ETH_P_IP
    assert skb.tobytes() == f and skb.frame() == f


def test_fragmented_frame_geometry():
    f = ipv4_frame(200)
    skb = SkBuff.from_frame(f, linear=20, frag_size=64)
    assert skb.headlen == 20
    assert skb.data_len == len(f) - 20
    assert len(skb.frags) == -(-(len(f) - 20) // 64)
    assert skb.len == len(f)
    assert skb.tobytes() == f


def test_frags_are_bio_vecs_over_pages():
    skb = SkBuff.from_frame(ipv4_frame(100), linear=14, frag_size=50)
    from pybpf.iov import BioVec
    from pybpf.iov.page import Page

    frag = skb.frags[0]
    assert isinstance(frag, BioVec) and isinstance(frag.bv_page, Page)
    assert frag.bv_len == 50 and frag.bv_offset == 0


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=14, max_size=300), st.data())
def test_copy_bits_matches_slicing(frame, data):
    linear = data.draw(st.integers(0, len(frame)))
    sizes = data.draw(st.lists(st.integers(1, 40), min_size=1, max_size=4))
    skb = SkBuff.from_frame(frame, linear=linear, frag_sizes=sizes)
    off = data.draw(st.integers(-5, len(frame) + 5))
    n = data.draw(st.integers(0, 64))
    got = skb.copy_bits(off, n)
    if off < 0 or off + n > len(frame):
        assert got is None
    else:
        assert got == frame[off : off + n]
        view = skb.header_pointer(off, n)
        assert bytes(view) == frame[off : off + n]


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=34, max_size=200), st.data())
def test_load_abs_big_endian_across_frags(frame, data):
    linear = data.draw(st.integers(0, len(frame)))
    skb = SkBuff.from_frame(frame, linear=linear, frag_size=data.draw(st.integers(1, 16)))
    for size in (1, 2, 4):
        off = data.draw(st.integers(0, len(frame)))
        want = int.from_bytes(frame[off : off + size], "big") if off + size <= len(frame) else None
        assert skb.load_abs(off, size) == want


def test_load_abs_negative_bases_on_a_socket():
    f = ipv4_frame()
    skb = SkBuff.from_frame(f)  # data at the MAC header, as a SOCK_RAW socket sees it
    assert skb.load_abs(uapi.SKF_NET_OFF + 9, 1) == 17
    assert skb.load_abs(uapi.SKF_LL_OFF + 12, 2) == 0x0800
    assert skb.load_abs(uapi.SKF_LL_OFF, 4) == int.from_bytes(f[:4], "big")
    # SKF_AD_OFF (classic-BPF ancillary data) is never readable by eBPF
    assert skb.load_abs(uapi.SKF_AD_OFF, 4) is None
    assert skb.load_abs(uapi.SKF_AD_OFF + 4, 1) is None
    assert skb.load_abs(uapi.SKF_LL_OFF - 1, 1) is None
    assert skb.load_abs(-1, 1) is None


def test_load_abs_after_eth_pull_as_test_run():
    f = ipv4_frame()
    skb = SkBuff.for_test_run(f)
    assert skb.len == len(f) - 14
    assert skb.load_abs(0, 1) == 0x45
    assert skb.load_abs(9, 1) == 17
    assert skb.load_abs(uapi.SKF_NET_OFF + 9, 1) == 17
    assert skb.load_abs(uapi.SKF_LL_OFF + 12, 2) == 0x0800
    assert skb.load_abs(uapi.SKF_LL_OFF, 1) == f[0]
    # the MAC header lies before data: an offset counted from data is negative (refused)
    assert skb.load_abs(-14 & 0xFFFF_FFFF, 1) is None


def test_load_abs_mac_header_in_head_network_header_in_frags():
    f = ipv4_frame(60)
    skb = SkBuff.from_frame(f, linear=14, frag_size=7)
    assert skb.load_abs(uapi.SKF_NET_OFF + 12, 4) == int.from_bytes(f[26:30], "big")
    assert skb.load_abs(uapi.SKF_LL_OFF + 10, 4) == int.from_bytes(f[10:14], "big")


def test_no_mac_header_for_raw_ip():
    f = ipv4_frame()[14:]
    skb = SkBuff.from_frame(f, l2=False)
    assert skb.protocol == ETH_P_IP and not skb.mac_header_was_set
    assert skb.load_abs(uapi.SKF_LL_OFF, 1) is None
    assert skb.load_abs(uapi.SKF_NET_OFF, 1) == 0x45
    v6 = bytes([0x60]) + bytes(39)
    assert SkBuff.from_frame(v6, l2=False).protocol == ETH_P_IPV6


def test_linear_bytes_stop_at_tail():
    f = ipv4_frame(100)
    skb = SkBuff.from_frame(f, linear=40)
    assert skb.linear_bytes(0, 40) == f[:40]
    assert skb.linear_bytes(30, 11) is None


@pytest.mark.parametrize(
    "dst,ptype",
    [
        (b"\xff" * 6, uapi.PACKET_BROADCAST),
        (bytes.fromhex("01005e000001"), uapi.PACKET_MULTICAST),
        (bytes(6), uapi.PACKET_HOST),
        (MAC_A, uapi.PACKET_OTHERHOST),
    ],
)
def test_eth_type_trans_pkt_type(dst, ptype):
    assert eth_type_trans(dst + MAC_B + b"\x08\x00" + bytes(20)) == (ETH_P_IP, ptype)


def test_eth_type_trans_802_3():
    base = MAC_A + MAC_B + (100).to_bytes(2, "big")
    assert eth_type_trans(base + b"\xff\xff" + bytes(10))[0] == ETH_P_802_3
    assert eth_type_trans(base + b"\xaa\xaa" + bytes(10))[0] == ETH_P_802_2


def test_vlan_untag():
    inner = ipv4_frame()[12:]
    tagged = MAC_A + MAC_B + b"\x81\x00" + (0x2005).to_bytes(2, "big") + inner
    plain = SkBuff.from_frame(tagged)
    assert plain.protocol == ETH_P_8021Q and not plain.vlan_present
    skb = SkBuff.from_frame(tagged, untag_vlan=True)
    assert skb.vlan_present == 1 and skb.vlan_tci == 0x2005 and skb.vlan_proto == ETH_P_8021Q
    assert skb.protocol == ETH_P_IP
    assert skb.tobytes() == MAC_A + MAC_B + inner


def test_trim_head_and_frags():
    f = ipv4_frame(100)
    for linear in (len(f), 30):
        for n in (0, 10, 29, 31, 70, len(f), len(f) + 5):
            skb = SkBuff.from_frame(f, linear=linear, frag_size=16)
            skb.trim(n)
            assert skb.tobytes() == f[:n]
            assert skb.len == min(n, len(f))


def test_pull_push_and_errors():
    skb = SkBuff.from_frame(ipv4_frame(), headroom=8)
    skb.pull(14)
    assert skb.network_offset == 0 and skb.mac_offset == -14
    skb.push(14)
    assert skb.mac_offset == 0
    with pytest.raises(BpfError):
        skb.push(9)
    with pytest.raises(BpfError):
        SkBuff.from_frame(ipv4_frame(), linear=1000)


def test_a_runt_frame_is_a_packet_as_on_the_socket():
    """A capture's snaplen can cut a frame below the Ethernet header: Program.run gets the
    same skb a packet socket builds for it (the network header past the end)."""
    skb = SkBuff.from_frame(b"short")
    assert skb.len == 5 and skb.mac_offset == 0 and skb.network_offset == 5
    assert skb.protocol == 0 and skb.load_abs(0, 1) == ord("s") and skb.load_abs(5, 1) is None


def test_copy_is_independent():
    skb = SkBuff.from_frame(ipv4_frame(50), linear=20, frag_size=10)
    other = skb.copy()
    other.cb[0] = 7
    other.head[0] = 0xEE
    assert skb.cb[0] == 0 and skb.head[0] != 0xEE
    assert other.tobytes()[1:] == skb.tobytes()[1:]
