"""``union bpf_attr`` and the ``*_info`` structs, one ctypes Structure per command.

The layouts follow include/uapi/linux/bpf.h. Every pointer there is an
``__aligned_u64``, so a u64 always sits at an 8-byte offset even on 32-bit
architectures where a plain C ``u64`` (and ctypes' ``c_uint64``) is only
4-byte aligned. ``_layout`` therefore packs the structure and inserts the
padding the kernel's compiler would, explicitly, making the layout identical
on every architecture (the kernel's uapi promise).

The kernel copies ``min(size, sizeof(union bpf_attr))`` bytes and requires any
tail it does not know to be zero (bpf_check_uarg_tail_zero in
kernel/bpf/syscall.c), so each command passes only its own struct.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from .. import uapi

U8 = ctypes.c_uint8
U32 = ctypes.c_uint32
S32 = ctypes.c_int32
U64 = ctypes.c_uint64
NAME = ctypes.c_char * 16  # BPF_OBJ_NAME_LEN


def _layout(name: str, fields: list[tuple[str, type]]) -> type[ctypes.Structure]:
    """A packed Structure with explicit C padding (u64 aligned to 8, size a multiple of 8)."""
    out: list[tuple[str, type]] = []
    off = 0
    for fname, ctype in fields:
        align = 8 if ctype is U64 else ctypes.alignment(ctype)
        if off % align:
            gap = align - off % align
            out.append((f"_pad{off}", U8 * gap))
            off += gap
        out.append((fname, ctype))
        off += ctypes.sizeof(ctype)
    if off % 8:
        out.append((f"_pad{off}", U8 * (8 - off % 8)))
    return type(name, (ctypes.Structure,), {"_pack_": 1, "_fields_": out})


MapCreateAttr = _layout(
    "MapCreateAttr",
    [
        ("map_type", U32),
        ("key_size", U32),
        ("value_size", U32),
        ("max_entries", U32),
        ("map_flags", U32),
        ("inner_map_fd", U32),
        ("numa_node", U32),
        ("map_name", NAME),
        ("map_ifindex", U32),
        ("btf_fd", U32),
        ("btf_key_type_id", U32),
        ("btf_value_type_id", U32),
        ("btf_vmlinux_value_type_id", U32),
        ("map_extra", U64),
        ("value_type_btf_obj_fd", S32),
        ("map_token_fd", S32),
    ],
)

#: BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM, GET_NEXT_KEY, LOOKUP_AND_DELETE_ELEM, FREEZE.
#: ``value`` and ``next_key`` share one slot in the kernel's union.
MapElemAttr = _layout(
    "MapElemAttr",
    [
        ("map_fd", U32),
        ("key", U64),
        ("value", U64),
        ("flags", U64),
    ],
)

MapBatchAttr = _layout(
    "MapBatchAttr",
    [
        ("in_batch", U64),
        ("out_batch", U64),
        ("keys", U64),
        ("values", U64),
        ("count", U32),
        ("map_fd", U32),
        ("elem_flags", U64),
        ("flags", U64),
    ],
)

ProgLoadAttr = _layout(
    "ProgLoadAttr",
    [
        ("prog_type", U32),
        ("insn_cnt", U32),
        ("insns", U64),
        ("license", U64),
        ("log_level", U32),
        ("log_size", U32),
        ("log_buf", U64),
        ("kern_version", U32),
        ("prog_flags", U32),
        ("prog_name", NAME),
        ("prog_ifindex", U32),
        ("expected_attach_type", U32),
        ("prog_btf_fd", U32),
        ("func_info_rec_size", U32),
        ("func_info", U64),
        ("func_info_cnt", U32),
        ("line_info_rec_size", U32),
        ("line_info", U64),
        ("line_info_cnt", U32),
        ("attach_btf_id", U32),
        ("attach_prog_fd", U32),
        ("core_relo_cnt", U32),
        ("fd_array", U64),
        ("core_relos", U64),
        ("core_relo_rec_size", U32),
        ("log_true_size", U32),
        ("prog_token_fd", S32),
        ("fd_array_cnt", U32),
    ],
)

ObjAttr = _layout(
    "ObjAttr",
    [
        ("pathname", U64),
        ("bpf_fd", U32),
        ("file_flags", U32),
        ("path_fd", S32),
    ],
)

TestRunAttr = _layout(
    "TestRunAttr",
    [
        ("prog_fd", U32),
        ("retval", U32),
        ("data_size_in", U32),
        ("data_size_out", U32),
        ("data_in", U64),
        ("data_out", U64),
        ("repeat", U32),
        ("duration", U32),
        ("ctx_size_in", U32),
        ("ctx_size_out", U32),
        ("ctx_in", U64),
        ("ctx_out", U64),
        ("flags", U32),
        ("cpu", U32),
        ("batch_size", U32),
    ],
)

#: BPF_{PROG,MAP,BTF,LINK}_GET_NEXT_ID and *_GET_FD_BY_ID: ``start_id`` is also
#: ``prog_id``/``map_id``/``btf_id`` in the kernel's union.
GetIdAttr = _layout(
    "GetIdAttr",
    [
        ("start_id", U32),
        ("next_id", U32),
        ("open_flags", U32),
        ("fd_by_id_token_fd", S32),
    ],
)

InfoAttr = _layout("InfoAttr", [("bpf_fd", U32), ("info_len", U32), ("info", U64)])

BtfLoadAttr = _layout(
    "BtfLoadAttr",
    [
        ("btf", U64),
        ("btf_log_buf", U64),
        ("btf_size", U32),
        ("btf_log_size", U32),
        ("btf_log_level", U32),
        ("btf_log_true_size", U32),
        ("btf_flags", U32),
        ("btf_token_fd", S32),
    ],
)

LinkCreateAttr = _layout(
    "LinkCreateAttr",
    [
        ("prog_fd", U32),
        ("target", U32),  # target_fd (cgroup) or target_ifindex (XDP, tcx)
        ("attach_type", U32),
        ("flags", U32),
        ("relative_fd", U32),  # tcx: place relative to this program or link
        ("expected_revision", U64),  # tcx: fail if the chain changed since
    ],
)

ProgAttachAttr = _layout(
    "ProgAttachAttr",
    [
        ("target_fd", U32),
        ("attach_bpf_fd", U32),
        ("attach_type", U32),
        ("attach_flags", U32),
        ("replace_bpf_fd", U32),
        ("relative_fd", U32),
        ("expected_revision", U64),
    ],
)

# --- BPF_OBJ_GET_INFO_BY_FD results -----------------------------------------------------

#: ``gpl_flags`` holds the ``gpl_compatible:1`` bitfield (bit 0 on little-endian).
BpfProgInfo = _layout(
    "BpfProgInfo",
    [
        ("type", U32),
        ("id", U32),
        ("tag", U8 * 8),
        ("jited_prog_len", U32),
        ("xlated_prog_len", U32),
        ("jited_prog_insns", U64),
        ("xlated_prog_insns", U64),
        ("load_time", U64),
        ("created_by_uid", U32),
        ("nr_map_ids", U32),
        ("map_ids", U64),
        ("name", NAME),
        ("ifindex", U32),
        ("gpl_flags", U32),
        ("netns_dev", U64),
        ("netns_ino", U64),
        ("nr_jited_ksyms", U32),
        ("nr_jited_func_lens", U32),
        ("jited_ksyms", U64),
        ("jited_func_lens", U64),
        ("btf_id", U32),
        ("func_info_rec_size", U32),
        ("func_info", U64),
        ("nr_func_info", U32),
        ("nr_line_info", U32),
        ("line_info", U64),
        ("jited_line_info", U64),
        ("nr_jited_line_info", U32),
        ("line_info_rec_size", U32),
        ("jited_line_info_rec_size", U32),
        ("nr_prog_tags", U32),
        ("prog_tags", U64),
        ("run_time_ns", U64),
        ("run_cnt", U64),
        ("recursion_misses", U64),
        ("verified_insns", U32),
        ("attach_btf_obj_id", U32),
        ("attach_btf_id", U32),
    ],
)

BpfMapInfo = _layout(
    "BpfMapInfo",
    [
        ("type", U32),
        ("id", U32),
        ("key_size", U32),
        ("value_size", U32),
        ("max_entries", U32),
        ("map_flags", U32),
        ("name", NAME),
        ("ifindex", U32),
        ("btf_vmlinux_value_type_id", U32),
        ("netns_dev", U64),
        ("netns_ino", U64),
        ("btf_id", U32),
        ("btf_key_type_id", U32),
        ("btf_value_type_id", U32),
        ("btf_vmlinux_id", U32),
        ("map_extra", U64),
    ],
)

BpfBtfInfo = _layout(
    "BpfBtfInfo",
    [
        ("btf", U64),
        ("btf_size", U32),
        ("id", U32),
        ("name", U64),
        ("name_len", U32),
        ("kernel_btf", U32),
    ],
)

# --- the same, decoded (what syscall.*_get_info return) ---------------------------------


@dataclass
class ProgInfo:
    """struct bpf_prog_info, decoded (the fields bpftool prog show prints)."""

    type: int
    id: int
    tag: bytes
    name: str
    jited_prog_len: int
    xlated_prog_len: int
    load_time: int
    created_by_uid: int
    map_ids: list[int]
    gpl_compatible: bool
    btf_id: int
    run_time_ns: int
    run_cnt: int
    verified_insns: int
    ifindex: int = 0
    nr_func_info: int = 0
    nr_line_info: int = 0

    @property
    def type_name(self) -> str:
        return uapi.PROG_TYPE_NAMES.get(self.type, str(self.type))


@dataclass
class MapInfo:
    """struct bpf_map_info, decoded."""

    type: int
    id: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int
    name: str
    btf_id: int = 0
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    map_extra: int = 0
    ifindex: int = 0

    @property
    def type_name(self) -> str:
        return uapi.MAP_TYPE_NAMES.get(self.type, str(self.type))


@dataclass
class BtfInfo:
    """struct bpf_btf_info, decoded."""

    id: int
    btf_size: int
    name: str
    kernel_btf: bool


__all__ = [
    "BpfBtfInfo",
    "BpfMapInfo",
    "BpfProgInfo",
    "BtfInfo",
    "BtfLoadAttr",
    "GetIdAttr",
    "InfoAttr",
    "MapBatchAttr",
    "MapCreateAttr",
    "MapElemAttr",
    "MapInfo",
    "ObjAttr",
    "LinkCreateAttr",
    "ProgAttachAttr",
    "ProgInfo",
    "ProgLoadAttr",
    "TestRunAttr",
]
