"""The VM's native runtime: helpers, the socket buffer, captures and the packet drivers, in C.

``lib()`` builds (once, cached on disk by :func:`pybpf.native.library`, with the
bundled zig clang) native.c and capture.c. The numbers the C shares with the
JIT's generated code — the run-time block's slots, the exit codes, the region
bias and handle layout — are defined in Python (:mod:`pybpf.vm.jit.abi`,
:mod:`pybpf.vm.memory`) and handed to the compiler as ``-D`` flags, so they are
written once. The ctypes structures below mirror vm.h.

What the C does, and the Python each part must agree with, is in the header
comments of native.c and capture.c; the driver that uses it is
:mod:`pybpf.vm.batch`.
"""

from __future__ import annotations

import ctypes
from functools import cache
from pathlib import Path

from ... import uapi
from ...progtypes import SIZEOF_SK_BUFF
from ..blocks import MAX_TAIL_CALL_CNT
from ..jit import abi
from ..memory import HANDLE_BASE, HANDLE_STRIDE, REGION_BIAS

__all__ = [
    "VmCounts",
    "VmDriver",
    "VmEnv",
    "VmFrameMeta",
    "VmHandle",
    "VmImage",
    "VmActions",
    "VmMt",
    "VmOut",
    "VmPkt",
    "VmProgArray",
    "VmSkb",
    "lib",
]

HERE = Path(__file__).resolve().parent

u8, u16, u32, u64, i32, i64, vp = (
    ctypes.c_uint8,
    ctypes.c_uint16,
    ctypes.c_uint32,
    ctypes.c_uint64,
    ctypes.c_int32,
    ctypes.c_int64,
    ctypes.c_void_p,
)


class VmImage(ctypes.Structure):
    _fields_ = [("fn", vp), ("rt", vp), ("frame_bytes", u64)]


class VmProgArray(ctypes.Structure):
    _fields_ = [("max_entries", u32), ("pad", u32), ("slots", vp)]


class VmHandle(ctypes.Structure):
    _fields_ = [
        ("map", vp),
        ("progs", vp),
        ("storage_base", u64),
        ("percpu", u32),
        ("cpu", u32),
    ]


class VmSkb(ctypes.Structure):
    _fields_ = [
        ("head", vp),
        ("head_len", u64),
        ("data_off", u64),
        ("mac_off", i64),
        ("net_off", i64),
        *(
            (name, u32)
            for name in (
                "pkt_type mark queue_mapping protocol vlan_present vlan_tci vlan_proto "
                "priority ingress_ifindex ifindex tc_index hash tc_classid napi_id wire_len "
                "gso_segs gso_size pad"
            ).split()
        ),
        ("tstamp", u64),
        ("hwtstamp", u64),
        ("cb", u8 * 20),
        ("pad2", u8 * 4),
    ]


class VmPkt(ctypes.Structure):
    """struct vm_pkt: the writable frame of a program with direct packet access (XDP, tc,
    cgroup_skb), mapped as its packet region; the XDP geometry; the redirect and
    checksum state (see vm.h). pybpf.net.xdp.XdpBuff and pybpf.net.tcskb.TcSkb keep
    their state here, so that a Python helper called from a native run works on the
    very packet the native code sees."""

    _fields_ = [
        ("buf", vp),
        ("cap", u64),
        ("bpf", u64),
        ("meta", u64),
        ("data", u64),
        ("end", u64),
        ("frame_sz", u64),
        ("ingress_ifindex", u32),
        ("rx_queue_index", u32),
        ("egress_ifindex", u32),
        ("meta_len", u32),
        ("ri_ifindex", u32),
        ("ri_flags", u32),
        ("csum", u32),
        ("ip_summed", u8),
        ("csum_level", u8),
        ("l4_hash", u8),
        ("sw_hash", u8),
        ("max_len", u32),
        ("hwm", u32),
        ("trans_off", i64),
        ("encap", u8),
        ("tstamp_type", u8),
        ("mac_len", u16),
        ("low", u32),
        ("ts_ns", u64),
    ]


class VmMt(ctypes.Structure):
    _fields_ = [("mt", u32 * 624), ("index", u32)]


class VmEnv(ctypes.Structure):
    _fields_ = [
        ("skb", VmSkb),
        ("handles", vp),
        ("nhandles", u64),
        ("tail_target", vp),
        ("tail_calls", u32),
        ("cpu", u32),
        ("rng", vp),
        ("ctx", vp),
        ("touched", u64),
        ("serial", u64),
        ("pkt", VmPkt),
    ]


class VmDriver(ctypes.Structure):
    _fields_ = [
        ("env", VmEnv),
        ("main", VmImage),
        ("ctx_bpf", u64),
        ("stack_top", u64),
        ("budget", u64),
        ("prog_type", u32),
        ("writeback", u32),
        ("templated", u32),
        ("cb_only", u32),
        ("kind", u32),
        ("pad0", u32),
        ("tmpl", u8 * SIZEOF_SK_BUFF),
        ("failed_image", vp),
        ("failed_rc", i32),
        ("pad", u32),
        ("r0", u64),
        ("steps", u64),
    ]


class VmOut(ctypes.Structure):
    """struct vm_out: one packet that left (see vm.h)."""

    _fields_ = [
        ("index", u64),
        ("ts_ns", u64),
        ("retval", u32),
        ("ifindex", u32),
        ("flags", u32),
        ("len", u32),
        ("off", u64),
    ]


class VmActions(ctypes.Structure):
    """struct vm_actions: what a run of an XDP, tc or cgroup_skb program over many
    packets hands back (see vm.h)."""

    _fields_ = [
        ("arena", vp),
        ("arena_cap", u64),
        ("arena_used", u64),
        ("outs", vp),
        ("outs_cap", u64),
        ("nouts", u64),
        ("hist", u64 * 18),
        ("rd_ifindex", u32 * 16),
        ("rd_flags", u32 * 16),
        ("rd_count", u64 * 16),
        ("rd_other", u64),
        ("nrd", u32),
        ("write", u32),
        ("full", u32),
        ("pad", u32),
        ("too_short", u64),
    ]


class VmCounts(ctypes.Structure):
    _fields_ = [
        ("received", u64),
        ("accepted", u64),
        ("dropped", u64),
        ("delivered_bytes", u64),
        ("packets", u64),
        ("failed", u64),
    ]


class VmFrameMeta(ctypes.Structure):
    """The skb fields of a linear frame (struct vm_frame_meta): ``mac_off``/``net_off``
    are offsets into the frame (``mac_off`` -1: no MAC header), the rest as in
    pybpf.net.skb.SkBuff. Keyword construction; unset fields are 0 except
    ``net_off`` (14, the Ethernet header)."""

    def __init__(self, *args: int, **kw: int) -> None:
        if not args:
            kw.setdefault("net_off", 14)
        super().__init__(*args, **kw)

    _fields_ = [
        ("mac_off", i32),
        ("net_off", i32),
        ("protocol", u32),
        ("pkt_type", u32),
        ("ifindex", u32),
        ("vlan_present", u32),
        ("vlan_tci", u32),
        ("vlan_proto", u32),
    ]


class VmCapture(ctypes.Structure):
    """The leading, Python-visible fields of struct vm_capture (capture.c)."""

    _fields_ = [
        ("buf", vp),
        ("size", u64),
        ("pos", u64),
        ("format", u32),
        ("big", u32),
        ("kuz", u32),
        ("limit", u32),
        ("linktype", u32),
        ("mode", u32),
        ("vlan_untag", u32),
        ("sock_ifindex", u32),
        ("nano", u32),
        ("records", u64),
        ("failed", u32),
        ("pad2", u32),
        ("err_offset", u64),
        ("err", ctypes.c_char * 240),
        ("lt_ids", u32 * 16),
        ("lt_counts", u64 * 16),
        ("nlt", u32),
        ("pad4", u32),
    ]


def _defines() -> list[str]:
    names = {k: v for k, v in vars(abi).items() if k.startswith(("RT_", "EXIT_"))}
    names.update(
        FAULT_READ=abi.FAULT_READ,
        FAULT_WRITE=abi.FAULT_WRITE,
        FLAG_WRITABLE=abi.FLAG_WRITABLE,
        REGION_BIAS=REGION_BIAS,
        HANDLE_BASE=HANDLE_BASE,
        HANDLE_STRIDE=HANDLE_STRIDE,
        SIZEOF_SK_BUFF=SIZEOF_SK_BUFF,
        SKF_NET_OFF=uapi.SKF_NET_OFF,
        SKF_LL_OFF=uapi.SKF_LL_OFF,
        MAX_TAIL_CALL_CNT=MAX_TAIL_CALL_CNT,
        PROG_TYPE_SCHED_CLS=uapi.BPF_PROG_TYPE_SCHED_CLS,
        PROG_TYPE_SCHED_ACT=uapi.BPF_PROG_TYPE_SCHED_ACT,
        PROG_TYPE_CGROUP_SKB=uapi.BPF_PROG_TYPE_CGROUP_SKB,
    )
    out = []
    for k, v in sorted(names.items()):
        if isinstance(v, int):
            suffix = "ull" if v > 0x7FFF_FFFF else "ll" if v < -0x8000_0000 else ""
            out.append(f"-D{k}={v}{suffix}")
    return out


#: the maps/VM contract: struct pybpf_map and its ops (owned by pybpf.maps)
MAP_HEADER = HERE.parent.parent / "maps" / "bpf_map.h"


@cache
def lib() -> ctypes.CDLL:
    """The native runtime (built on first use; CompileError when that fails)."""
    from ...native import library

    header = MAP_HEADER
    so = library(
        "pybpf_vm",
        [HERE / "native.c", HERE / "capture.c", HERE / "packet.c", HERE / "actions.c"],
        [HERE / "vm.h", header],
        flags=(f"-I{header.parent}", *_defines()),
    )
    so.vm_native_helper.restype = vp
    so.vm_native_helper.argtypes = [ctypes.c_char_p]
    so.vm_ld_abs_fn.restype = vp
    so.vm_ld_abs_fn.argtypes = []
    for name in ("vm_run_packet",):
        getattr(so, name).restype = ctypes.c_int
        getattr(so, name).argtypes = [ctypes.POINTER(VmDriver)]
    so.vm_test_run.restype = ctypes.c_int
    so.vm_test_run.argtypes = [ctypes.POINTER(VmDriver), u64, ctypes.POINTER(u64)]
    so.vm_run_frames.restype = ctypes.c_int
    so.vm_run_frames.argtypes = [
        ctypes.POINTER(VmDriver),
        vp,
        vp,
        vp,
        u64,
        u64,
        vp,
        ctypes.POINTER(VmCounts),
    ]
    so.vm_run_eth_frame.restype = ctypes.c_int
    so.vm_run_eth_frame.argtypes = [ctypes.POINTER(VmDriver), ctypes.c_char_p, u64, u32]
    so.vm_run_frame.restype = ctypes.c_int
    so.vm_run_frame.argtypes = [ctypes.POINTER(VmDriver), vp, u64, ctypes.POINTER(VmFrameMeta)]
    so.vm_capture_new.restype = ctypes.POINTER(VmCapture)
    so.vm_capture_new.argtypes = []
    so.vm_capture_free.restype = None
    so.vm_capture_free.argtypes = [ctypes.POINTER(VmCapture)]
    so.vm_run_capture.restype = ctypes.c_int
    so.vm_run_capture.argtypes = [
        ctypes.POINTER(VmDriver),
        ctypes.POINTER(VmCapture),
        u64,
        vp,
        ctypes.POINTER(VmCounts),
    ]
    so.vm_run_actions_capture.restype = ctypes.c_int
    so.vm_run_actions_capture.argtypes = [
        ctypes.POINTER(VmDriver),
        ctypes.POINTER(VmCapture),
        u64,
        ctypes.POINTER(VmActions),
        ctypes.POINTER(VmCounts),
    ]
    so.vm_run_actions_frames.restype = ctypes.c_int
    so.vm_run_actions_frames.argtypes = [
        ctypes.POINTER(VmDriver),
        vp,
        vp,
        vp,
        u64,
        ctypes.POINTER(VmActions),
        ctypes.POINTER(u64),
    ]
    so.vm_capture_pending.restype = ctypes.c_int
    so.vm_capture_pending.argtypes = [ctypes.POINTER(VmCapture)]
    so.vm_capture_scan.restype = u64
    so.vm_capture_scan.argtypes = [ctypes.POINTER(VmCapture), u64, vp, vp, u64, ctypes.POINTER(u64)]
    return so
