"""The bpf() layer against the running kernel: layouts, map and program commands, errnos."""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import uuid

import pytest

from conftest import require_bpf
from pybpf import uapi
from pybpf.errors import KernelError
from pybpf.isa import Insn
from pybpf.kernel import attr, bpffs
from pybpf.kernel import info as kinfo
from pybpf.kernel import syscall as sc

# --- instruction shorthands (raw opcodes so this file depends only on isa) ---------------
MOV64_IMM = 0xB7
EXIT = 0x95
LDXW = 0x61


def mov(dst: int, imm: int) -> Insn:
    return Insn(MOV64_IMM, dst, 0, 0, imm)


def ret_imm(v: int) -> list[Insn]:
    return [mov(0, v), Insn(EXIT)]


def k32(i: int) -> bytes:
    return struct.pack("<I", i)


def v64(i: int) -> bytes:
    return struct.pack("<Q", i)


# --- layouts (no kernel needed) -----------------------------------------------------------


@pytest.mark.parametrize(
    "struct_, field, offset",
    [
        (attr.MapCreateAttr, "map_name", 28),
        (attr.MapCreateAttr, "map_ifindex", 44),
        (attr.MapCreateAttr, "btf_vmlinux_value_type_id", 60),
        (attr.MapCreateAttr, "map_extra", 64),
        (attr.MapCreateAttr, "map_token_fd", 76),
        (attr.MapElemAttr, "key", 8),
        (attr.MapElemAttr, "value", 16),
        (attr.MapElemAttr, "flags", 24),
        (attr.MapBatchAttr, "count", 32),
        (attr.MapBatchAttr, "map_fd", 36),
        (attr.MapBatchAttr, "elem_flags", 40),
        (attr.ProgLoadAttr, "log_buf", 32),
        (attr.ProgLoadAttr, "prog_name", 48),
        (attr.ProgLoadAttr, "expected_attach_type", 68),
        (attr.ProgLoadAttr, "func_info", 80),
        (attr.ProgLoadAttr, "line_info", 96),
        (attr.ProgLoadAttr, "fd_array", 120),
        (attr.ProgLoadAttr, "log_true_size", 140),
        (attr.ProgLoadAttr, "fd_array_cnt", 148),
        (attr.ObjAttr, "path_fd", 16),
        (attr.TestRunAttr, "data_in", 16),
        (attr.TestRunAttr, "repeat", 32),
        (attr.TestRunAttr, "ctx_in", 48),
        (attr.TestRunAttr, "batch_size", 72),
        (attr.InfoAttr, "info", 8),
        (attr.BtfLoadAttr, "btf_size", 16),
        (attr.BtfLoadAttr, "btf_log_true_size", 28),
        (attr.BpfProgInfo, "load_time", 40),
        (attr.BpfProgInfo, "name", 64),
        (attr.BpfProgInfo, "netns_dev", 88),
        (attr.BpfProgInfo, "verified_insns", 216),
        (attr.BpfMapInfo, "name", 24),
        (attr.BpfMapInfo, "netns_dev", 48),
        (attr.BpfMapInfo, "map_extra", 80),
    ],
)
def test_attr_offsets_match_uapi(struct_, field, offset):
    assert getattr(struct_, field).offset == offset
    assert ctypes.sizeof(struct_) % 8 == 0


def test_obj_name_sanitised_like_libbpf():
    assert sc.obj_name("my-map.v1") == b"my_map.v1"
    assert sc.obj_name("x" * 40) == b"x" * 15
    assert sc.obj_name("") == b""


def test_cpu_list_parsing():
    assert sc.parse_cpu_list("0-3,5,7-8\n") == [0, 1, 2, 3, 5, 7, 8]
    assert sc.parse_cpu_list("0") == [0]
    assert sc.num_possible_cpus() >= 1
    assert sc.percpu_value_size(4) == 8 * sc.num_possible_cpus()


def test_verifier_reason_skips_statistics():
    log = "0: (95) exit\nR0 !read_ok\nprocessed 1 insns (limit 1000000) max_states 0\n"
    assert sc.verifier_reason(log) == "R0 !read_ok"


# --- kernel ------------------------------------------------------------------------------


@pytest.fixture
def fds():
    """fds opened by a test; closed afterwards."""
    opened: list[int] = []
    yield opened
    for fd in opened:
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.mark.kernel
def test_bpf_available():
    require_bpf()
    ok, reason = sc.bpf_available()
    assert ok, reason


@pytest.mark.kernel
def test_hash_map_ops_and_errnos(fds):
    require_bpf()
    fd = sc.map_create(uapi.BPF_MAP_TYPE_HASH, 4, 8, 2, name="t_hash")
    fds.append(fd)
    assert sc.map_lookup_elem(fd, k32(1), 8) is None
    sc.map_update_elem(fd, k32(1), v64(10))
    assert sc.map_lookup_elem(fd, k32(1), 8) == v64(10)
    with pytest.raises(KernelError) as ei:
        sc.map_update_elem(fd, k32(1), v64(11), uapi.BPF_NOEXIST)
    assert ei.value.errno == errno.EEXIST and "EEXIST" in str(ei.value)
    assert ei.value.cmd == "BPF_MAP_UPDATE_ELEM"
    with pytest.raises(KernelError) as ei:
        sc.map_update_elem(fd, k32(2), v64(20), uapi.BPF_EXIST)
    assert ei.value.errno == errno.ENOENT
    sc.map_update_elem(fd, k32(2), v64(20), uapi.BPF_NOEXIST)
    with pytest.raises(KernelError) as ei:
        sc.map_update_elem(fd, k32(3), v64(30))
    assert ei.value.errno == errno.E2BIG
    sc.map_update_elem(fd, k32(2), v64(21), uapi.BPF_EXIST)  # replacing in a full map works
    with pytest.raises(KernelError) as ei:
        sc.map_update_elem(fd, k32(2), v64(0), 7)
    assert ei.value.errno == errno.EINVAL
    # iteration: missing key -> first key; last -> None
    first = sc.map_get_next_key(fd, None, 4)
    assert first in (k32(1), k32(2))
    assert sc.map_get_next_key(fd, k32(99), 4) == first
    second = sc.map_get_next_key(fd, first, 4)
    assert {first, second} == {k32(1), k32(2)}
    assert sc.map_get_next_key(fd, second, 4) is None
    sc.map_delete_elem(fd, k32(1))
    with pytest.raises(KernelError) as ei:
        sc.map_delete_elem(fd, k32(1))
    assert ei.value.errno == errno.ENOENT


@pytest.mark.kernel
def test_array_map_ops_and_errnos(fds):
    require_bpf()
    fd = sc.map_create(uapi.BPF_MAP_TYPE_ARRAY, 4, 4, 3, name="t_array")
    fds.append(fd)
    assert sc.map_lookup_elem(fd, k32(2), 4) == b"\0" * 4
    assert sc.map_lookup_elem(fd, k32(3), 4) is None  # out of range lookup: ENOENT
    sc.map_update_elem(fd, k32(2), k32(7))
    assert sc.map_lookup_elem(fd, k32(2), 4) == k32(7)
    with pytest.raises(KernelError) as ei:
        sc.map_update_elem(fd, k32(3), k32(1))
    assert ei.value.errno == errno.E2BIG
    with pytest.raises(KernelError) as ei:
        sc.map_update_elem(fd, k32(0), k32(1), uapi.BPF_NOEXIST)
    assert ei.value.errno == errno.EEXIST
    with pytest.raises(KernelError) as ei:
        sc.map_delete_elem(fd, k32(0))
    assert ei.value.errno == errno.EINVAL
    assert sc.map_get_next_key(fd, None, 4) == k32(0)
    assert sc.map_get_next_key(fd, k32(1), 4) == k32(2)
    assert sc.map_get_next_key(fd, k32(2), 4) is None
    assert sc.map_get_next_key(fd, k32(50), 4) == k32(0)


@pytest.mark.kernel
def test_map_create_errors_name_the_command():
    require_bpf()
    with pytest.raises(KernelError) as ei:
        sc.map_create(uapi.BPF_MAP_TYPE_HASH, 0, 4, 1)
    assert ei.value.errno == errno.EINVAL
    assert "BPF_MAP_CREATE" in str(ei.value) and "EINVAL" in str(ei.value)
    with pytest.raises(KernelError) as ei:
        sc.map_lookup_elem(987654, k32(0), 4)
    assert ei.value.errno == errno.EBADF


@pytest.mark.kernel
def test_percpu_array_values_per_possible_cpu(fds):
    require_bpf()
    ncpu = sc.num_possible_cpus()
    fd = sc.map_create(uapi.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1, name="t_pcpu")
    fds.append(fd)
    size = sc.percpu_value_size(4)
    vals = b"".join(k32(100 + c) + b"\0" * 4 for c in range(ncpu))
    sc.map_update_elem(fd, k32(0), vals)
    assert sc.map_lookup_elem(fd, k32(0), size) == vals


@pytest.mark.kernel
def test_queue_stack_pop_and_freeze(fds):
    require_bpf()
    q = sc.map_create(uapi.BPF_MAP_TYPE_QUEUE, 0, 4, 4, name="t_queue")
    s = sc.map_create(uapi.BPF_MAP_TYPE_STACK, 0, 4, 4, name="t_stack")
    fds.extend([q, s])
    for i in (1, 2, 3):
        sc.map_update_elem(q, None, k32(i))
        sc.map_update_elem(s, None, k32(i))
    assert sc.map_lookup_elem(q, None, 4) == k32(1)  # peek
    assert [sc.map_lookup_and_delete_elem(q, None, 4) for _ in range(4)] == [
        k32(1),
        k32(2),
        k32(3),
        None,
    ]
    assert sc.map_lookup_and_delete_elem(s, None, 4) == k32(3)
    sc.map_freeze(s)
    with pytest.raises(KernelError) as ei:
        sc.map_update_elem(s, None, k32(9))
    assert ei.value.errno == errno.EPERM


@pytest.mark.kernel
def test_batch_ops(fds):
    require_bpf()
    fd = sc.map_create(uapi.BPF_MAP_TYPE_HASH, 4, 8, 64, name="t_batch")
    fds.append(fd)
    keys = [k32(i) for i in range(40)]
    assert sc.map_update_batch(fd, keys, [v64(i * i) for i in range(40)]) == 40
    got: dict[bytes, bytes] = {}
    batch = None
    for _ in range(100):
        r = sc.map_lookup_batch(fd, 4, 8, 7, batch)
        got.update(zip(r.keys, r.values, strict=True))
        if r.done:
            break
        batch = r.next_batch
    assert got == {k32(i): v64(i * i) for i in range(40)}
    assert sc.map_delete_batch(fd, keys[:10]) == 10
    with pytest.raises(KernelError) as ei:
        sc.map_delete_batch(fd, [k32(11), k32(5)])
    assert ei.value.errno == errno.ENOENT and ei.value.count == 1
    assert sc.map_lookup_elem(fd, k32(11), 8) is None
    # arrays batch by index
    arr = sc.map_create(uapi.BPF_MAP_TYPE_ARRAY, 4, 4, 4)
    fds.append(arr)
    r = sc.map_lookup_batch(arr, 4, 4, 10)
    assert r.done and r.keys == [k32(i) for i in range(4)]


@pytest.mark.kernel
def test_prog_load_ok_and_info(fds):
    require_bpf()
    r = sc.prog_load_result(
        uapi.BPF_PROG_TYPE_SOCKET_FILTER, ret_imm(1), name="pybpf_ok", log_level=1
    )
    fds.append(r.fd)
    assert "processed 2 insns" in r.log
    info = kinfo.obj_get_info_by_fd(r.fd)
    assert isinstance(info, sc.ProgInfo)
    assert info.name == "pybpf_ok" and info.type == uapi.BPF_PROG_TYPE_SOCKET_FILTER
    assert info.gpl_compatible and info.xlated_prog_len == 16
    assert kinfo.prog_get_xlated(r.fd) == b"".join(i.encode() for i in ret_imm(1))
    # the id round trip
    fd2 = kinfo.prog_get_fd_by_id(info.id)
    fds.append(fd2)
    assert kinfo.prog_get_info(fd2).id == info.id
    # bytes work as well as Insn lists
    fds.append(
        sc.prog_load(
            uapi.BPF_PROG_TYPE_SOCKET_FILTER,
            b"".join(i.encode() for i in ret_imm(0)),
            license="Dual BSD/GPL",
        )
    )


@pytest.mark.kernel
def test_prog_load_rejected_carries_log():
    require_bpf()
    with pytest.raises(KernelError) as ei:
        sc.prog_load(uapi.BPF_PROG_TYPE_SOCKET_FILTER, [Insn(EXIT)], name="bad")
    e = ei.value
    assert e.errno == errno.EACCES
    assert "R0 !read_ok" in e.log and "R0 !read_ok" in str(e)
    assert e.cmd == "BPF_PROG_LOAD" and "EACCES" in str(e)
    # out-of-bounds stack read: the kernel's message, at any log level
    bad = [Insn(LDXW, 0, 10, 8, 0), Insn(EXIT)]
    with pytest.raises(KernelError) as ei:
        sc.prog_load(uapi.BPF_PROG_TYPE_SOCKET_FILTER, bad, log_level=2)
    assert "invalid" in ei.value.log.lower()


@pytest.mark.kernel
def test_prog_load_license_and_gpl_helpers():
    require_bpf()
    # bpf_trace_printk is gpl_only: a non-GPL program calling it is refused
    call = [mov(1, 0), mov(2, 0), Insn(0x85, 0, 0, 0, uapi.BPF_FUNC_trace_printk), Insn(EXIT)]
    with pytest.raises(KernelError) as ei:
        sc.prog_load(uapi.BPF_PROG_TYPE_SOCKET_FILTER, call, license="Proprietary")
    assert "GPL" in ei.value.log


@pytest.mark.kernel
def test_prog_load_log_grows(fds):
    require_bpf()
    prog = [mov(i % 10, i) for i in range(300)] + ret_imm(3)
    r = sc.prog_load_result(uapi.BPF_PROG_TYPE_SOCKET_FILTER, prog, log_level=2, log_size=256)
    fds.append(r.fd)
    assert len(r.log) > 4096
    assert r.log.rstrip().splitlines()[-1].startswith("processed 302 insns")
    # a refusal with a long log arrives whole, too
    bad = [mov(i % 10, i) for i in range(300)] + [Insn(LDXW, 0, 10, 8, 0), Insn(EXIT)]
    with pytest.raises(KernelError) as ei:
        sc.prog_load_result(uapi.BPF_PROG_TYPE_SOCKET_FILTER, bad, log_level=2, log_size=128)
    assert ei.value.log.startswith("func#0") or ei.value.log.startswith("0:")
    assert ei.value.errno == errno.EACCES


@pytest.mark.kernel
def test_prog_test_run(fds):
    require_bpf()
    for value in (0, 1, 0xFFFFFFFF, 12345):
        fd = sc.prog_load(uapi.BPF_PROG_TYPE_SOCKET_FILTER, ret_imm(value))
        fds.append(fd)
        r = sc.prog_test_run(fd, b"\xaa" * 60, repeat=5)
        assert r.retval == value
        # the kernel hands back the frame with its Ethernet header zeroed (socket filters
        # run from the network header; net/bpf/test_run.c pushes a blank one back)
        assert r.data_out == b"\0" * 14 + b"\xaa" * 46
        assert r.duration >= 0
    # skb->len as seen by a socket filter in test-run excludes the 14-byte Ethernet header
    ld_len = [Insn(LDXW, 0, 1, 0, 0), Insn(EXIT)]  # r0 = skb->len
    fd = sc.prog_load(uapi.BPF_PROG_TYPE_SOCKET_FILTER, ld_len)
    fds.append(fd)
    assert sc.prog_test_run(fd, bytes(100)).retval == 100 - 14
    with pytest.raises(KernelError) as ei:
        sc.prog_test_run(fd, bytes(8))
    assert ei.value.errno == errno.EINVAL


@pytest.mark.kernel
def test_pin_and_get(fds, tmp_path):
    require_bpf()
    mnt = tmp_path / "bpffs"
    mnt.mkdir()
    try:
        bpffs.ensure_bpffs(str(mnt))
    except KernelError as e:  # pragma: no cover - depends on CAP_SYS_ADMIN
        pytest.skip(f"cannot mount bpffs: {e}")
    try:
        assert bpffs.bpffs_mounted(str(mnt))
        mfd = sc.map_create(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 2, name="pinned_map")
        fds.append(mfd)
        sc.map_update_elem(mfd, k32(1), v64(42))
        path = str(mnt / f"m_{uuid.uuid4().hex[:8]}")
        bpffs.obj_pin(mfd, path)
        fd2 = bpffs.obj_get(path)
        fds.append(fd2)
        assert sc.map_lookup_elem(fd2, k32(1), 8) == v64(42)
        assert kinfo.map_get_info(fd2).name == "pinned_map"
        with pytest.raises(KernelError) as ei:
            bpffs.obj_pin(mfd, path)
        assert ei.value.errno == errno.EEXIST
        pfd = sc.prog_load(uapi.BPF_PROG_TYPE_SOCKET_FILTER, ret_imm(9), name="pinned_prog")
        fds.append(pfd)
        bpffs.obj_pin(pfd, str(mnt / "p"))
        pfd2 = bpffs.obj_get(str(mnt / "p"))
        fds.append(pfd2)
        assert kinfo.fd_kind(pfd2) == "prog"
        assert sc.prog_test_run(pfd2, bytes(20)).retval == 9
        with pytest.raises(KernelError) as ei:
            bpffs.obj_get(str(mnt / "absent"))
        assert ei.value.errno == errno.ENOENT
        with pytest.raises(KernelError) as ei:  # not a bpffs
            bpffs.obj_pin(mfd, str(tmp_path / "x"))
        assert ei.value.errno == errno.EPERM
    finally:
        os.system(f"umount {mnt} 2>/dev/null")


def _btf_blob(magic: int = 0xEB9F) -> bytes:
    """A minimal BTF: one 32-bit signed int named 'int' (include/uapi/linux/btf.h)."""
    strings = b"\0int\0"
    types = struct.pack("<III", 1, 1 << 24, 4) + struct.pack("<I", (1 << 24) | 32)
    hdr = struct.pack("<HBBIIIII", magic, 1, 0, 24, 0, len(types), len(types), len(strings))
    return hdr + types + strings


@pytest.mark.kernel
def test_btf_load(fds):
    require_bpf()
    fd = sc.btf_load(_btf_blob())
    fds.append(fd)
    info = kinfo.obj_get_info_by_fd(fd)
    assert isinstance(info, sc.BtfInfo) and info.btf_size == len(_btf_blob())
    # a map typed by that BTF (key and value are the int, type id 1)
    mfd = sc.map_create(
        uapi.BPF_MAP_TYPE_HASH,
        4,
        4,
        4,
        name="btf_map",
        btf_fd=fd,
        btf_key_type_id=1,
        btf_value_type_id=1,
    )
    fds.append(mfd)
    assert kinfo.map_get_info(mfd).btf_id == info.id
    with pytest.raises(KernelError) as ei:
        sc.btf_load(_btf_blob(magic=0x1234))
    assert ei.value.errno == errno.EINVAL
    assert "magic" in ei.value.log.lower()


@pytest.mark.kernel
def test_map_info_by_fd(fds):
    require_bpf()
    fd = sc.map_create(uapi.BPF_MAP_TYPE_LRU_HASH, 8, 16, 32, name="lru.info")
    fds.append(fd)
    info = kinfo.obj_get_info_by_fd(fd)
    assert isinstance(info, sc.MapInfo)
    assert (info.type, info.key_size, info.value_size, info.max_entries, info.name) == (
        uapi.BPF_MAP_TYPE_LRU_HASH,
        8,
        16,
        32,
        "lru.info",
    )
    assert info.type_name == "lru_hash"
    fd2 = kinfo.map_get_fd_by_id(info.id)
    fds.append(fd2)
    assert kinfo.map_get_info(fd2).name == "lru.info"
    with pytest.raises(KernelError):
        kinfo.obj_get_info_by_fd(0 if kinfo.fd_kind(0) == "" else 999999)


def _func_btf() -> tuple[bytes, bytes, bytes]:
    """BTF for `int prog(void)` plus one func_info and one line_info record for it."""
    strings = b"\0int\0prog\0prog.c\0    return 7;\0"

    def off(s: str) -> int:
        return strings.index(s.encode() + b"\0")

    types = struct.pack("<III", off("int"), 1 << 24, 4) + struct.pack("<I", 32)  # [1] int
    types += struct.pack("<III", 0, 13 << 24, 1)  # [2] FUNC_PROTO int (void)
    types += struct.pack("<III", off("prog"), (12 << 24) | 1, 2)  # [3] FUNC prog, global
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    func_info = struct.pack("<II", 0, 3)  # insn 0 starts FUNC [3]
    line_info = struct.pack("<IIII", 0, off("prog.c"), off("    return 7;"), (3 << 10) | 5)
    return hdr + types + strings, func_info, line_info


@pytest.mark.kernel
def test_prog_load_with_btf_func_and_line_info(fds):
    require_bpf()
    blob, fi, li = _func_btf()
    btf = sc.btf_load(blob)
    fds.append(btf)
    r = sc.prog_load_result(
        uapi.BPF_PROG_TYPE_SOCKET_FILTER,
        ret_imm(7),
        name="prog",
        prog_btf_fd=btf,
        func_info=fi,
        line_info=li,
        log_level=2,
    )
    fds.append(r.fd)
    assert "; return 7; @ prog.c:3" in r.log  # the verifier quotes the source line
    info = kinfo.prog_get_info(r.fd)
    assert info.btf_id == kinfo.btf_get_info(btf).id
    assert (info.nr_func_info, info.nr_line_info) == (1, 1)
    # a line_info record pointing outside the string section is refused with a reason
    bad = li[:4] + struct.pack("<I", 9999) + li[8:]
    with pytest.raises(KernelError) as ei:
        sc.prog_load(
            uapi.BPF_PROG_TYPE_SOCKET_FILTER,
            ret_imm(7),
            prog_btf_fd=btf,
            func_info=fi,
            line_info=bad,
        )
    assert ei.value.errno == errno.EINVAL and "line_info" in ei.value.log


_AUTOMOUNT_CHILD = r"""
import os
from pybpf.kernel import bpffs
from pybpf.kernel import syscall as sc
before = bpffs.bpffs_mounted()
fd = sc.map_create(2, 4, 4, 1, name="auto")
sc.map_update_elem(fd, b"\0" * 4, b"abcd")
path = "/sys/fs/bpf/pybpf_auto_%d" % os.getpid()
bpffs.obj_pin(fd, path)
fd2 = bpffs.obj_get(path)
os.unlink(path)
print(before, bpffs.bpffs_mounted(), sc.map_lookup_elem(fd2, b"\0" * 4, 4).decode())
"""


@pytest.mark.kernel
def test_pin_under_sys_fs_bpf_mounts_bpffs_when_absent():
    """Run in a private mount namespace so the mount does not outlive the test."""
    require_bpf()
    import shutil
    import subprocess
    import sys

    if not shutil.which("unshare"):
        pytest.skip("needs unshare(1) for a private mount namespace")
    r = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-c", _AUTOMOUNT_CHILD],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    _before, after, value = r.stdout.split()
    assert after == "True" and value == "abcd"
