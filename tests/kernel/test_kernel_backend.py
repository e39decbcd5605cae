"""The kernel backend end to end: pybpf.load(..., backend="kernel") and KernelProgram runs.

Checked against the running kernel: names as bpftool lists them, global data
maps (initial contents, .rodata frozen, PSEUDO_MAP_VALUE), the seed's macro
program, fds released with the objects, refusals carrying the verifier log,
test_run's Ethernet-header behaviour and the two ways of running a frame from
its MAC header (KernelProgram.run via test-run, run_frame via a real socket).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import require_bpf
from pybpf import uapi
from pybpf.asm.macros import (
    BPF_ALU64_IMM,
    BPF_EXIT_INSN,
    BPF_LD_ABS,
    BPF_LDX_MEM,
    BPF_MOV64_IMM,
    BPF_MOV64_REG,
    BPF_REG_0,
    BPF_REG_1,
    BPF_REG_6,
)
from pybpf.errors import KernelError, MapError, NotSupportedError
from pybpf.isa import BPF_ADD, BPF_B, BPF_W

pytestmark = pytest.mark.kernel

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SKF_LL_OFF = -0x200000
#: an IPv4/UDP frame: MAC header, then 20 bytes of IP with protocol 17 at frame offset 23
FRAME = (
    bytes.fromhex("ffffffffffff0200000000010800")
    + bytes.fromhex("4500002e0000400040110000c0a80001c0a80002")
    + bytes(range(26))
)


def bpftool(*args: str):
    r = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, timeout=60)
    if r.returncode:
        return None
    return json.loads(r.stdout)


needs_bpftool = pytest.mark.skipif(
    subprocess.run(["which", "bpftool"], capture_output=True).returncode != 0,
    reason="bpftool is not installed",
)


def load(name: str, **kw):
    import pybpf

    require_bpf()
    return pybpf.load(EXAMPLES / name, backend="kernel", **kw)


# ----------------------------------------------------------------------- load and names
@needs_bpftool
def test_names_reach_the_kernel() -> None:
    with load("sockex3_btf_kern.c") as coll:
        prog = coll.program()
        shown = bpftool("prog", "show", "id", str(prog.id))
        assert shown["name"] == "flow_bytes"
        assert shown["type"] == "socket_filter"
        names = {bpftool("map", "show", "id", str(m.id))["name"] for m in coll.maps.values()}
        assert names == {"flows", "sockex3_.rodata", "sockex3_.bss"}
        assert set(shown["map_ids"]) == {m.id for m in coll.maps.values()}


@needs_bpftool
def test_long_names_cut_as_libbpf_does() -> None:
    """The kernel keeps 15 characters; bpftool shows the full name from the BTF func_info."""
    with load("sockex1_kern.c") as coll:
        prog = coll.program()
        assert prog.info().name == "count_by_protoc"
        assert bpftool("prog", "show", "id", str(prog.id))["name"] == "count_by_protocol"


def test_fds_closed_with_the_collection() -> None:
    coll = load("sockex2_kern.c")
    prog, m = coll.program(), coll.maps["dst_count"]
    fds, pid = [prog.fd, m.fd], prog.id
    coll.close()
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    from pybpf.kernel import info as kinfo

    deadline = time.monotonic() + 5  # the kernel frees after an RCU grace period
    while time.monotonic() < deadline:
        try:
            fd = kinfo.prog_get_fd_by_id(pid)
        except KernelError as e:
            assert e.errno == errno.ENOENT
            break
        os.close(fd)
        time.sleep(0.05)
    else:
        pytest.fail(f"program id {pid} still exists after close")


def test_global_data_maps() -> None:
    with load("sockex3_btf_kern.c") as coll:
        ro, bss = coll.maps["sockex3_.rodata"], coll.maps["sockex3_.bss"]
        assert ro.frozen and ro.flags & uapi.BPF_F_RDONLY_PROG
        assert ro[0] == bytes(4)  # min_len = 0, the initial contents
        with pytest.raises(MapError) as ei:
            ro[0] = bytes(4)
        assert ei.value.errno == errno.EPERM  # frozen: user space may not write
        prog = coll.program()
        assert prog.run(FRAME) == len(FRAME)  # counted, and the whole packet kept
        # the .bss counter went up through the PSEUDO_MAP_VALUE pointer
        assert int.from_bytes(bss[0], "little") == 1
        dst = bytes.fromhex("c0a80002")
        st = coll.maps["flows"][dst]
        assert int.from_bytes(st[:8], "little") == 1
        assert int.from_bytes(st[8:], "little") == len(FRAME)


def test_macro_module_is_the_seed_program() -> None:
    """The seed's 12 instructions with BPF_LD_MAP_FD(BPF_REG_1, kernel map)."""
    from pybpf.kernel import KernelMap

    with load("sockex1_macros.py") as coll:
        prog, m = coll.program(), coll.maps["my_map"]
        assert isinstance(m, KernelMap)
        assert len(prog.insns) == 12
        ld = [i for i in prog.insns if i.is_lddw]
        assert len(ld) == 1 and ld[0].imm == m.fd and ld[0].src == 1
        for _ in range(3):
            prog.run(FRAME)
        assert int.from_bytes(m[17], "little") == 3  # IPPROTO_UDP
        assert m.typed("I", "Q")[17] == 3


def test_user_map_refused_by_kernel_program() -> None:
    require_bpf()
    from pybpf.asm.macros import BPF_LD_MAP_FD
    from pybpf.kernel import KernelProgram
    from pybpf.maps import Map

    m = Map(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 4)
    with pytest.raises(KernelError, match="not a kernel map") as ei:
        KernelProgram([BPF_LD_MAP_FD(BPF_REG_1, m), BPF_MOV64_IMM(BPF_REG_0, 0), BPF_EXIT_INSN()])
    assert ei.value.errno == errno.EBADF


def test_refusal_carries_the_verifier_log() -> None:
    require_bpf()
    from pybpf.kernel import KernelProgram

    with pytest.raises(KernelError) as ei:
        KernelProgram([BPF_MOV64_REG(BPF_REG_0, 2), BPF_EXIT_INSN()])
    e = ei.value
    assert e.errno == errno.EACCES
    assert "R2 !read_ok" in e.log and "R2 !read_ok" in str(e)
    assert e.index == 0


def test_refused_example_load_closes_its_maps(tmp_path) -> None:
    """A refused program leaves no maps behind (the loader closes what it made)."""
    require_bpf()
    from pybpf.kernel.backend import KernelBackend
    from pybpf.kernel.maps import KernelMap
    from pybpf.loader import load_spec, read_spec

    spec = read_spec(EXAMPLES / "sockex1_kern.c")
    ps = next(iter(spec.programs.values()))
    ps.insns = ps.insns[:-1]  # no exit: "last insn is not an exit or jmp"

    def bpf_objects() -> set[str]:
        out = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                link = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if link.startswith(("anon_inode:bpf-map", "anon_inode:bpf-prog")):
                out.add(fd)
        return out

    before = bpf_objects()
    with pytest.raises(KernelError) as ei:
        load_spec(spec, KernelBackend())
    assert ei.value.errno == errno.EINVAL and ei.value.log
    assert bpf_objects() <= before
    assert KernelMap  # imported for the type only


# ----------------------------------------------------------------------- test_run / run
def _prog(*insns):
    from pybpf.kernel import KernelProgram

    require_bpf()
    return KernelProgram([*insns, BPF_EXIT_INSN()])


def test_test_run_starts_at_the_network_header() -> None:
    p_len = _prog(BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, 0))
    p_abs0 = _prog(BPF_MOV64_REG(BPF_REG_6, BPF_REG_1), BPF_LD_ABS(BPF_B, 0))
    assert p_len.test_run(FRAME).retval == len(FRAME) - 14
    assert p_abs0.test_run(FRAME).retval == 0x45  # the IP header's first byte
    with pytest.raises(KernelError) as ei:
        p_len.test_run(FRAME[:10])
    assert ei.value.errno == errno.EINVAL


def test_run_presents_the_frame_from_the_mac_header() -> None:
    from pybpf.user.program import Program

    cases = [
        (BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, 0),),  # skb->len
        (BPF_MOV64_REG(BPF_REG_6, BPF_REG_1), BPF_LD_ABS(BPF_B, 23)),  # ip->protocol
        (BPF_MOV64_REG(BPF_REG_6, BPF_REG_1), BPF_LD_ABS(BPF_B, SKF_LL_OFF + 23)),
        (BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, 4),),  # pkt_type
        (BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, 16),),  # protocol
    ]
    for insns in cases:
        k = _prog(*insns)
        u = Program([*insns, BPF_EXIT_INSN()])
        # the model of test-run's device: loopback, no broadcast address
        assert k.run(FRAME) == u.run(FRAME, dev_broadcast=bytes(6)), insns
    assert _prog(*cases[1]).run(FRAME) == 17
    assert _prog(*cases[2]).frame_mode() == "headers"
    assert _prog(*cases[1]).frame_mode() == "data"


def test_mixed_addressing_needs_the_socket() -> None:
    p = _prog(
        BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
        BPF_LD_ABS(BPF_B, 23),
        BPF_MOV64_REG(BPF_REG_1, BPF_REG_0),
        BPF_LD_ABS(BPF_B, SKF_LL_OFF + 23),
        BPF_ALU64_IMM(BPF_ADD, BPF_REG_0, 0),
    )
    assert p.frame_mode() == "socket"
    # no test-run input is faithful: run() goes through a real packet socket
    assert p.run(FRAME) == p.run_frame(FRAME) == FRAME[23] == 17


@pytest.fixture(scope="module")
def rig():
    require_bpf()
    from pybpf.kernel.netns import VethRig

    try:
        r = VethRig()
    except (KernelError, NotSupportedError) as e:
        pytest.skip(f"no private network namespace with a veth pair here: {e}")
    yield r
    r.close()


def test_run_frame_through_a_real_socket(rig) -> None:
    keep_len_minus_4 = _prog(
        BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, 0), BPF_ALU64_IMM(BPF_ADD, BPF_REG_0, -4)
    )
    assert keep_len_minus_4.run_frame(FRAME, rig) == len(FRAME) - 4
    drop = _prog(BPF_MOV64_IMM(BPF_REG_0, 0))
    assert drop.run_frame(FRAME, rig) == 0
    # a VLAN tag is moved out of the data by the receive path (skb_vlan_untag)
    tagged = FRAME[:12] + b"\x81\x00\x00\x07" + FRAME[12:]
    proto = _prog(BPF_MOV64_REG(BPF_REG_6, BPF_REG_1), BPF_LD_ABS(BPF_B, 23))
    assert proto.run_frame(tagged, rig) == 17
    assert keep_len_minus_4.run_frame(tagged, rig) == len(FRAME) - 4


def test_socket_attach_and_maps_like_the_seed(rig) -> None:
    """sockex1: attach to a packet socket, send frames, read the kernel's map."""
    with load("sockex1_kern.c") as coll:
        prog, m = coll.program(), coll.maps["proto_count"]
        for _ in range(4):
            assert prog.run_frame(FRAME, rig) == 0  # sockex1 returns 0: counts, keeps nothing
        assert int.from_bytes(m[17], "little") == 4


# ----------------------------------------------------------------------- probing
def test_probes() -> None:
    require_bpf()
    from pybpf.kernel import probe

    assert probe.probe_map_type(uapi.BPF_MAP_TYPE_HASH)
    assert probe.probe_prog_type(uapi.BPF_PROG_TYPE_SOCKET_FILTER)
    assert probe.probe_helper(uapi.BPF_PROG_TYPE_SOCKET_FILTER, uapi.BPF_FUNC_map_lookup_elem)
    assert not probe.probe_map_type(999)
    with pytest.raises(NotSupportedError, match="not supported by this kernel"):
        probe.require_map_type(999)
    helpers = probe.supported_helpers(uapi.BPF_PROG_TYPE_SOCKET_FILTER)
    assert "skb_load_bytes" in helpers and "skb_store_bytes" not in helpers


def test_unknown_map_type_says_not_supported() -> None:
    require_bpf()
    from pybpf.kernel import KernelMap

    with pytest.raises(NotSupportedError, match="not supported by this kernel"):
        KernelMap(999, 4, 4, 1)


# ----------------------------------------------------------------------- objects from C
TAIL_CALL_C = r"""
#include <bpf_net.h>

SEC("socket")
int leaf(struct __sk_buff *skb)
{
	return 42;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct __sk_buff *));
} jump SEC(".maps") = {
	.values = { [1] = (void *)&leaf },
};

SEC("socket")
int entry(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &jump, 1);
	return 7;
}

char _license[] SEC("license") = "GPL";
"""

REFUSED_C = r"""
#include <bpf_net.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} counters SEC(".maps");

SEC("socket")
int no_null_check(struct __sk_buff *skb)
{
	__u32 key = skb->len;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	return *v;  /* the verifier refuses: v may be NULL */
}

char _license[] SEC("license") = "GPL";
"""


def test_prog_array_filled_from_the_object(tmp_path) -> None:
    src = tmp_path / "tail.c"
    src.write_text(TAIL_CALL_C)
    import pybpf

    require_bpf()
    with pybpf.load(src, backend="kernel") as coll:
        jump = coll.maps["jump"]
        leaf_id = coll.program("leaf").id
        assert int.from_bytes(jump[1], "little") == leaf_id  # the kernel reports prog ids
        assert jump.lookup(0) is None
        assert coll.program("entry").run(FRAME) == 42


def test_refused_object_shows_the_kernel_log(tmp_path) -> None:
    src = tmp_path / "refused.c"
    src.write_text(REFUSED_C)
    import pybpf

    require_bpf()
    with pytest.raises(KernelError) as ei:
        pybpf.load(src, backend="kernel")
    e = ei.value
    assert e.errno == errno.EACCES
    assert "invalid mem access 'map_value_or_null'" in e.log
    assert "map_value_or_null" in str(e)
    assert e.index is not None


def test_kernel_map_offers_the_user_map_interface() -> None:
    """Every public Map method a user calls exists on KernelMap (the program-side
    simulation hooks prog_* / value_offset and the type registry are user-space only)."""
    from pybpf.kernel import KernelMap
    from pybpf.maps.base import Map

    internal = {
        "check_create",
        "map_types",
        "register",
        "prog_delete",
        "prog_lookup",
        "prog_update",
        "value_offset",
        "percpu",
    }
    public = {n for n in dir(Map) if not n.startswith("_")} - internal
    assert public <= set(dir(KernelMap))


def test_frame_mode_counts_skb_len_as_data_relative() -> None:
    reads_len = _prog(
        BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
        BPF_LD_ABS(BPF_B, SKF_LL_OFF + 12),
        BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_6, 0),
    )
    assert reads_len.frame_mode() == "socket"
    assert (
        _prog(BPF_MOV64_REG(BPF_REG_6, BPF_REG_1), BPF_LD_ABS(BPF_B, SKF_LL_OFF + 12)).frame_mode()
        == "headers"
    )


def test_fds_closed_when_the_collection_is_dropped() -> None:
    import gc

    coll = load("sockex3_btf_kern.c")
    fds = [coll.program().fd, *(m.fd for m in coll.maps.values())]
    del coll
    gc.collect()
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
