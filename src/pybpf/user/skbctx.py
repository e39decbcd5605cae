"""``struct __sk_buff`` as BPF_PROG_TEST_RUN takes and gives it (ctx_in, ctx_out).

net/bpf/test_run.c lets the caller set only some fields of the skb
(convert___skb_to_skb) and copies some back (convert_skb_to___skb); the user
Program's test_run for every skb program type uses these, as the kernel does.
"""

from __future__ import annotations

import errno as E
import os

from ..errors import BpfError
from ..net.skb import ETH_HLEN, QDISC_CB_PRIV_LEN, SkBuff
from ..progtypes import SIZEOF_SK_BUFF

__all__ = [
    "GSO_LEGACY_MAX_SIZE",
    "GSO_MAX_SEGS",
    "TEST_RUN_MAX_DATA",
    "ctx_to_skb",
    "device_exists",
    "skb_to_ctx",
    "test_run_ctx",
    "test_run_data",
]

#: bpf_test_init(): data must fit a page after NET_SKB_PAD headroom and skb_shared_info
TEST_RUN_MAX_DATA = 4096 - 64 - 320
#: GSO_MAX_SEGS / GSO_LEGACY_MAX_SIZE (include/linux/netdevice.h)
GSO_MAX_SEGS = 65535
GSO_LEGACY_MAX_SIZE = 65536


def test_run_data(data: bytes | bytearray | memoryview) -> bytes:
    """The frame of an skb test run, refused as bpf_prog_test_run_skb refuses it (EINVAL)."""
    data = bytes(data)
    if len(data) < ETH_HLEN or len(data) > TEST_RUN_MAX_DATA:
        raise BpfError(
            f"test_run data of {len(data)} bytes: must be {ETH_HLEN}..{TEST_RUN_MAX_DATA}",
            errno=E.EINVAL,
        )
    proto = int.from_bytes(data[12:14], "big")
    need = {0x0800: 20, 0x86DD: 40}.get(proto, 0)
    if len(data) < ETH_HLEN + need:
        raise BpfError(
            f"test_run data: {len(data) - ETH_HLEN} bytes after the Ethernet header cannot "
            f"hold the {need}-byte network header its EtherType {proto:#06x} announces",
            errno=E.EINVAL,
        )
    return data


def test_run_ctx(ctx_in: bytes | bytearray | None) -> tuple[bytearray | None, int]:
    """ctx_in as a full ``__sk_buff`` (or None) and the ifindex it asks for (1 when none).

    The kernel refuses a larger ctx_in whose excess is not zero (E2BIG) and an ifindex
    no device has (ENODEV).
    """
    if ctx_in is None:
        return None, 1
    if len(ctx_in) > SIZEOF_SK_BUFF and any(ctx_in[SIZEOF_SK_BUFF:]):
        raise BpfError(
            "ctx_in is larger than struct __sk_buff and the excess is not zero", errno=E.E2BIG
        )
    ctx = bytearray(bytes(ctx_in[:SIZEOF_SK_BUFF]).ljust(SIZEOF_SK_BUFF, b"\0"))
    ifindex = _u32(ctx, 40)
    if ifindex > 1:
        if not device_exists(ifindex):
            raise BpfError(f"ctx_in ifindex {ifindex}: no such device", errno=E.ENODEV)
        return ctx, ifindex
    return ctx, 1


def device_exists(ifindex: int) -> bool:
    """Whether a network device with ``ifindex`` exists in this network namespace."""
    try:
        for name in os.listdir("/sys/class/net"):
            with open(f"/sys/class/net/{name}/ifindex") as fh:
                if int(fh.read().strip()) == ifindex:
                    return True
    except OSError:
        return False
    return False


def _u32(b: bytes | bytearray, off: int) -> int:
    return int.from_bytes(b[off : off + 4], "little")


def ctx_to_skb(ctx: bytearray, skb: SkBuff) -> None:
    """convert___skb_to_skb(): only some __sk_buff fields may be set by the caller."""
    allowed = [(8, 12), (32, 44), (48, 68), (152, 168), (176, 180), (184, 192)]
    for i, b in enumerate(ctx):
        if b and not any(lo <= i < hi for lo, hi in allowed):
            raise BpfError(
                f"ctx_in byte {i} is set but that __sk_buff field is not an input", errno=E.EINVAL
            )
    skb.mark = _u32(ctx, 8)
    skb.priority = _u32(ctx, 32)
    skb.ingress_ifindex = _u32(ctx, 36)
    skb.tstamp = int.from_bytes(ctx[152:160], "little")
    skb.cb[:QDISC_CB_PRIV_LEN] = ctx[48:68]
    wire_len = _u32(ctx, 160)
    if wire_len:
        if wire_len < skb.len or wire_len > GSO_LEGACY_MAX_SIZE:
            raise BpfError(
                f"ctx_in wire_len {wire_len} is below the packet length or too big", errno=E.EINVAL
            )
        skb.wire_len = wire_len
    else:
        skb.wire_len = skb.len
    gso_segs = _u32(ctx, 164)
    if gso_segs > GSO_MAX_SEGS:
        raise BpfError(f"ctx_in gso_segs {gso_segs} > {GSO_MAX_SEGS}", errno=E.EINVAL)
    skb.gso_segs = gso_segs
    skb.gso_size = _u32(ctx, 176)
    skb.hwtstamp = int.from_bytes(ctx[184:192], "little")


def skb_to_ctx(skb: SkBuff, ctx: bytearray) -> bytearray:
    """convert_skb_to___skb(): the fields the kernel copies back out."""
    ctx[8:12] = (skb.mark & 0xFFFF_FFFF).to_bytes(4, "little")
    ctx[32:36] = (skb.priority & 0xFFFF_FFFF).to_bytes(4, "little")
    ctx[36:40] = (skb.ingress_ifindex & 0xFFFF_FFFF).to_bytes(4, "little")
    ctx[40:44] = (skb.ifindex & 0xFFFF_FFFF).to_bytes(4, "little")
    ctx[152:160] = (skb.tstamp & (2**64 - 1)).to_bytes(8, "little")
    ctx[48:68] = bytes(skb.cb[:QDISC_CB_PRIV_LEN])
    ctx[160:164] = ((skb.wire_len or skb.len) & 0xFFFF_FFFF).to_bytes(4, "little")
    ctx[164:168] = (skb.gso_segs & 0xFFFF_FFFF).to_bytes(4, "little")
    ctx[184:192] = (skb.hwtstamp & (2**64 - 1)).to_bytes(8, "little")
    return ctx
