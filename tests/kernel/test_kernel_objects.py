"""KernelMap, KernelProgram and the capability probes against the running kernel."""

from __future__ import annotations

import errno
import gc
import json
import os
import shutil
import socket
import struct
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import require_bpf
from pybpf import uapi
from pybpf.errors import KernelError, MapError, NotSupportedError
from pybpf.isa import BPF_PSEUDO_MAP_FD, Insn
from pybpf.kernel import bpffs, probe
from pybpf.kernel.maps import KernelMap
from pybpf.kernel.program import KernelProgram, failed_insn
from pybpf.spec.types import MapRef, MapSpec, ProgramSpec

pytestmark = pytest.mark.kernel

# raw opcodes: this file depends only on isa, not on the macro DSL
MOV64_IMM, MOV64_REG, ADD64_IMM = 0xB7, 0xBF, 0x07
LDABS_B, LDXW, STXW, LDDW, CALL, JEQ_IMM, XADD_DW, EXIT = (
    0x30,
    0x61,
    0x63,
    0x18,
    0x85,
    0x15,
    0xDB,
    0x95,
)


def ret(v: int) -> list[Insn]:
    return [Insn(MOV64_IMM, 0, 0, 0, v), Insn(EXIT)]


def k32(i: int) -> bytes:
    return struct.pack("<I", i)


def fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _bpf():
    require_bpf()


# --- KernelMap ---------------------------------------------------------------------------


def test_kernel_map_fds_close_with_the_map():
    """The dict face, errnos, typed views, per-cpu values and queues are tests/api's
    (both backends); what is the kernel's own: the fd lives as long as the map object."""
    with KernelMap(uapi.BPF_MAP_TYPE_HASH, 4, 8, 3, name="km_hash") as m:
        fd = m.fd
        assert fd_open(fd)
    assert m.closed and not fd_open(fd)
    m2 = KernelMap(uapi.BPF_MAP_TYPE_ARRAY, 4, 4, 2, name="km_array")
    fd = m2.fd
    del m2
    gc.collect()
    assert not fd_open(fd)  # __del__ closed it


def test_batches_freeze_from_spec_and_pin(tmp_path):
    spec = MapSpec(
        name="km_spec",
        type=uapi.BPF_MAP_TYPE_HASH,
        key_size=4,
        value_size=4,
        max_entries=100,
        initial={k32(i): k32(i * 2) for i in range(50)},
    )
    with KernelMap.from_spec(spec) as m:
        assert dict(m.lookup_batch(count=7)) == {k32(i): k32(i * 2) for i in range(50)}
        # count 1 meets buckets holding two elements: the kernel's ENOSPC grows the count
        assert dict(m.lookup_batch(count=1)) == {k32(i): k32(i * 2) for i in range(50)}
        assert m.delete_batch([k32(i) for i in range(10)]) == 10
        assert m.update_batch([(k32(200), k32(1))]) == 1
        assert len(m) == 41
        assert m.info().name == "km_spec"
        mnt = tmp_path / "bpffs"
        mnt.mkdir()
        try:
            bpffs.ensure_bpffs(str(mnt))
        except KernelError as e:  # pragma: no cover
            pytest.skip(f"cannot mount bpffs: {e}")
        try:
            m.pin(mnt / "m")
            with KernelMap.open_pinned(mnt / "m") as again:
                assert again.name == "km_spec" and again.id == m.id
                assert again[k32(200)] == k32(1)
        finally:
            os.system(f"umount {mnt} 2>/dev/null")
        m.freeze()
        with pytest.raises(MapError) as ei:
            m.update(k32(1), k32(1))
        assert ei.value.errno == errno.EPERM
    ro = MapSpec(
        name="rodata",
        type=uapi.BPF_MAP_TYPE_ARRAY,
        key_size=4,
        value_size=8,
        max_entries=1,
        initial=b"abc",
        frozen=True,
    )
    with KernelMap.from_spec(ro) as m:
        assert m[0] == b"abc\0\0\0\0\0"


def test_unsupported_map_type_says_so():
    with pytest.raises(NotSupportedError) as ei:
        KernelMap(200, 4, 4, 1)
    assert "not supported by this kernel" in str(ei.value)
    # a supported type with bad attributes still gets the kernel's errno
    with pytest.raises(MapError) as ei:
        KernelMap(uapi.BPF_MAP_TYPE_ARRAY, 3, 4, 1)
    assert ei.value.errno == errno.EINVAL


# --- KernelProgram -----------------------------------------------------------------------


def count_protocols(map_ref) -> list[Insn]:
    """The seed's sockex1: count packets per IP protocol in a map, keep the packet."""
    return [
        Insn(MOV64_REG, 6, 1),
        Insn(LDABS_B, 0, 0, 0, uapi.SKF_NET_OFF + 9),  # r0 = ip->protocol
        Insn(STXW, 10, 0, -4),
        Insn(MOV64_REG, 2, 10),
        Insn(ADD64_IMM, 2, 0, 0, -4),
        Insn(LDDW, 1, BPF_PSEUDO_MAP_FD, 0, 0, ref=map_ref),
        Insn(CALL, 0, 0, 0, uapi.BPF_FUNC_map_lookup_elem),
        Insn(JEQ_IMM, 0, 0, 2, 0),
        Insn(MOV64_IMM, 1, 0, 0, 1),
        Insn(XADD_DW, 0, 1, 0, 0),
        Insn(MOV64_IMM, 0, 0, 0, -1),
        Insn(EXIT),
    ]


def test_program_load_log_test_run_and_info():
    with KernelProgram(ret(7), name="kp_seven", log_level=1) as p:
        assert "processed 2 insns" in p.log
        assert p.run(bytes(64)) == 7
        r = p.test_run(bytes(64), repeat=100)
        assert r.retval == 7 and r.duration >= 0
        info = p.info()
        assert info.name == "kp_seven" and info.type == uapi.BPF_PROG_TYPE_SOCKET_FILTER
        assert len(p.tag) == 16 and p.xlated() == ret(7)
        fd = p.fd
    assert not fd_open(fd)


def test_program_rejected_with_log_and_index():
    bad = [
        Insn(MOV64_IMM, 1, 0, 0, 0),
        Insn(MOV64_IMM, 2, 0, 0, 0),
        Insn(LDXW, 0, 2, 0, 0),
        Insn(EXIT),
    ]
    with pytest.raises(KernelError) as ei:
        KernelProgram(bad, name="kp_bad")
    e = ei.value
    assert e.errno == errno.EACCES and "R2 invalid mem access 'scalar'" in e.log
    assert e.index == 2 == failed_insn(e.log)
    with pytest.raises(KernelError) as ei:
        KernelProgram([Insn(EXIT)])
    assert "R0 !read_ok" in str(ei.value)


def test_unsupported_program_type_says_so():
    with pytest.raises(NotSupportedError) as ei:
        KernelProgram(ret(0), prog_type=200)
    assert "program type 200 is not supported by this kernel" in str(ei.value)


def test_seed_program_counts_protocols_in_a_kernel_map():
    """sockex1 on a real UDP socket: the kernel program updates the kernel map."""
    with (
        KernelMap(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 256, name="my_map") as m,
        KernelProgram(count_protocols(m), name="sockex1") as p,
    ):
        assert p.info().map_ids == [m.id]
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with rx, tx:
            rx.bind(("127.0.0.1", 0))
            rx.settimeout(2)
            p.attach(rx)
            for i in range(5):
                tx.sendto(b"x%d" % i, rx.getsockname())
                assert rx.recv(100) == b"x%d" % i  # -1 keeps the whole datagram
        assert m.typed("<I", "<Q")[socket.IPPROTO_UDP] == 5
        # the same program by test-run on an Ethernet frame carrying TCP
        frame = bytes(12) + b"\x08\x00" + bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6]) + bytes(30)
        assert p.run(frame) == 0xFFFFFFFF
        assert m.typed("<I", "<Q")[socket.IPPROTO_TCP] == 1


def test_map_ref_by_name_and_user_space_map_refused():
    with KernelMap(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 256, name="my_map") as m:
        with KernelProgram(count_protocols(MapRef("my_map")), maps={"my_map": m}) as p:
            assert p.insns[5].imm == m.fd
        spec = ProgramSpec(name="from_spec", insns=count_protocols(MapRef("my_map")))
        with KernelProgram.from_spec(spec, {"my_map": m}) as p:
            assert p.info().name == "from_spec" and p.info().map_ids == [m.id]
        with pytest.raises(KernelError) as ei:
            KernelProgram(count_protocols(MapRef("other")), maps={"my_map": m})
        assert ei.value.errno == errno.EBADF and "'other'" in str(ei.value)
        with pytest.raises(KernelError) as ei:
            KernelProgram(count_protocols(object()))
        assert "not a kernel map" in str(ei.value)


def _udp_pair():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.3)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return rx, tx


def test_so_attach_bpf_drops_keeps_and_trims():
    rx, tx = _udp_pair()
    with (
        rx,
        tx,
        KernelProgram(ret(0), name="drop") as drop,
        KernelProgram(ret(-1), name="keep") as keep,
        KernelProgram(ret(8 + 3), name="trim") as trim,
    ):
        drop.attach(rx)
        tx.sendto(b"dropped", rx.getsockname())
        with pytest.raises(socket.timeout):
            rx.recv(100)
        keep.attach(rx)  # replaces the filter
        tx.sendto(b"kept", rx.getsockname())
        assert rx.recv(100) == b"kept"
        # N keeps N bytes from skb->data, which for UDP is the 8-byte UDP header
        trim.attach(rx.fileno())
        tx.sendto(b"0123456789", rx.getsockname())
        assert rx.recv(100) == b"012"
        KernelProgram.detach(rx)
        tx.sendto(b"free", rx.getsockname())
        assert rx.recv(100) == b"free"
        with pytest.raises(KernelError) as ei:
            KernelProgram.detach(rx)
        assert ei.value.errno == errno.ENOENT


def test_filter_survives_closing_the_program_fd():
    rx, tx = _udp_pair()
    with rx, tx:
        p = KernelProgram(ret(0))
        p.attach(rx)
        p.close()
        tx.sendto(b"x", rx.getsockname())
        with pytest.raises(socket.timeout):
            rx.recv(100)
        with pytest.raises(KernelError) as ei:
            p.attach(rx)
        assert ei.value.errno == errno.EBADF


def test_attach_wrong_program_type_refused():
    with KernelProgram(ret(0), prog_type=uapi.BPF_PROG_TYPE_XDP) as p:
        rx, tx = _udp_pair()
        with rx, tx, pytest.raises(KernelError) as ei:
            p.attach(rx)
        assert ei.value.errno == errno.EINVAL


_NETNS_CHILD = r"""
import json, socket, struct, subprocess
from pybpf import uapi
from pybpf.isa import Insn, BPF_PSEUDO_MAP_FD
from pybpf.kernel import KernelMap, KernelProgram

def sh(*a):
    subprocess.run(a, check=True)

sh("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
sh("ip", "link", "add", "pa", "type", "veth", "peer", "name", "pb")
sh("ip", "link", "set", "pa", "up")
sh("ip", "link", "set", "pb", "up")
rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
rx.bind(("pb", 0))
rx.settimeout(2)
tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
tx.bind(("pa", 0))
m = KernelMap(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 256, name="my_map")
prog = [Insn(0xbf, 6, 1), Insn(0x30, 0, 0, 0, uapi.SKF_NET_OFF + 9), Insn(0x63, 10, 0, -4),
        Insn(0xbf, 2, 10), Insn(0x07, 2, 0, 0, -4), Insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, 0, ref=m),
        Insn(0x85, 0, 0, 0, 1), Insn(0x15, 0, 0, 2, 0), Insn(0xb7, 1, 0, 0, 1),
        Insn(0xdb, 0, 1, 0, 0), Insn(0xb7, 0, 0, 0, 20), Insn(0x95)]
KernelProgram(prog, name="sockex1").attach(rx)

def frame(proto):
    ip = bytes([0x45, 0, 0, 60, 0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + bytes(40)

sent = {17: 3, 6: 2, 1: 1}
for proto, k in sent.items():
    for _ in range(k):
        tx.send(frame(proto))
lens = [len(rx.recv(2000)) for _ in range(6)]
counts = {p: struct.unpack("<Q", m[p])[0] for p in sent}
print(json.dumps({"lens": lens, "counts": counts}))
"""


def test_packet_socket_on_veth_in_private_netns():
    """The seed's setting: a filter on a SOCK_RAW packet socket sees frames from the MAC
    header, counts them per protocol in a kernel map, and N keeps N bytes."""
    if not (shutil.which("unshare") and shutil.which("ip")):
        pytest.skip("needs unshare(1) and ip(8) (iproute2) to build a private veth pair")
    r = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", _NETNS_CHILD],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["lens"] == [20] * 6
    assert out["counts"] == {"17": 3, "6": 2, "1": 1}


# --- probes ------------------------------------------------------------------------------


def test_probes():
    assert probe.probe_map_type(uapi.BPF_MAP_TYPE_HASH).supported is True
    assert probe.probe_map_type(uapi.BPF_MAP_TYPE_RINGBUF).supported is True
    assert probe.probe_map_type(uapi.BPF_MAP_TYPE_SK_STORAGE).supported is True
    assert probe.probe_map_type(uapi.BPF_MAP_TYPE_HASH_OF_MAPS).supported is True
    assert probe.probe_map_type(250).supported is False
    assert probe.probe_prog_type(uapi.BPF_PROG_TYPE_SOCKET_FILTER).supported is True
    assert probe.probe_prog_type(uapi.BPF_PROG_TYPE_CGROUP_SOCK_ADDR).supported is True
    assert probe.probe_prog_type(250).supported is False
    sf = uapi.BPF_PROG_TYPE_SOCKET_FILTER
    for helper in (
        "map_lookup_elem",
        "skb_load_bytes",
        "get_socket_cookie",
        "ringbuf_output",
        "ktime_get_ns",
        "tail_call",
    ):
        assert probe.probe_helper(sf, uapi.FUNC_IDS[helper]).supported is True, helper
    # skb_store_bytes changes packets: not for socket filters
    assert probe.probe_helper(sf, uapi.BPF_FUNC_skb_store_bytes).supported is False
    assert probe.probe_helper(sf, 9999).supported is False
    with pytest.raises(NotSupportedError) as ei:
        probe.require_helper(sf, uapi.BPF_FUNC_skb_store_bytes)
    assert "skb_store_bytes" in str(ei.value)
    probe.require_map_type(uapi.BPF_MAP_TYPE_LPM_TRIE)
    names = probe.supported_helpers(sf)
    assert "map_lookup_elem" in names and "skb_store_bytes" not in names
    assert probe.supported_map_types()["hash"] is True


# --- a property: KernelMap (HASH) behaves as the bpf(2) man page's model -----------------

_ops = st.lists(
    st.tuples(
        st.sampled_from(["update", "delete", "lookup", "next"]),
        st.integers(0, 6),
        st.integers(0, 3),
        st.sampled_from([0, 1, 2]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(_ops)
def test_hash_map_matches_model(ops):
    model: dict[bytes, bytes] = {}
    with KernelMap(uapi.BPF_MAP_TYPE_HASH, 4, 4, 4, name="km_prop") as m:
        for op, k, v, flags in ops:
            key, val = k32(k), k32(v)
            if op == "update":
                want = 0
                if flags == uapi.BPF_NOEXIST and key in model:
                    want = errno.EEXIST
                elif flags == uapi.BPF_EXIST and key not in model:
                    want = errno.ENOENT
                elif key not in model and len(model) >= 4:
                    want = errno.E2BIG
                try:
                    m.update(key, val, flags)
                    got = 0
                except MapError as e:
                    got = e.errno
                assert got == want, (op, k, v, flags)
                if not want:
                    model[key] = val
            elif op == "delete":
                try:
                    m.delete(key)
                    got = 0
                except MapError as e:
                    got = e.errno
                assert got == (0 if key in model else errno.ENOENT)
                model.pop(key, None)
            elif op == "lookup":
                assert m.lookup(key) == model.get(key)
            else:
                nxt = m.next_key(key)
                assert nxt is None or nxt in model
        assert dict(m.items()) == model
        assert sorted(m) == sorted(model)


def test_prog_array_tail_call_and_map_in_map():
    """A PROG_ARRAY filled with a KernelProgram; the kernel's bpf_tail_call jumps to it."""
    with (
        KernelMap(uapi.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2, name="jmp_table") as table,
        KernelProgram(ret(42), name="target") as target,
    ):
        table[0] = target
        assert table.lookup(0) == k32(target.id)  # user space reads back the program id
        assert table.lookup(1) is None
        caller = [
            Insn(LDDW, 2, BPF_PSEUDO_MAP_FD, 0, 0, ref=table),
            Insn(MOV64_IMM, 3, 0, 0, 0),  # index 0
            Insn(CALL, 0, 0, 0, uapi.BPF_FUNC_tail_call),
            *ret(7),  # reached only when the tail call fails
        ]
        with KernelProgram(caller, name="caller") as p:
            assert p.run(bytes(64)) == 42
            del table[0]
            assert p.run(bytes(64)) == 7
    with (
        KernelMap(uapi.BPF_MAP_TYPE_ARRAY, 4, 4, 1) as inner,
        KernelMap(uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, inner_map_fd=inner.fd) as outer,
    ):
        outer[1] = inner
        assert outer[1] == k32(inner.id)


def test_bpftool_lists_objects_by_name():
    """Names reach the kernel, so the kernel's own tool shows them (as with libbpf)."""
    if not shutil.which("bpftool"):
        pytest.skip("bpftool is not installed")
    with (
        KernelMap(uapi.BPF_MAP_TYPE_HASH, 4, 4, 4, name="pybpf_bt") as m,
        KernelProgram(ret(0), name="pybpf_btp") as p,
    ):
        shown = json.loads(
            subprocess.run(
                ["bpftool", "-j", "map", "show", "id", str(m.id)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert (shown["name"], shown["type"], shown["max_entries"]) == ("pybpf_bt", "hash", 4)
        shown = json.loads(
            subprocess.run(
                ["bpftool", "-j", "prog", "show", "id", str(p.id)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert (shown["name"], shown["type"], shown["tag"]) == ("pybpf_btp", "socket_filter", p.tag)
