"""BTF in the kernel backend: BPF_BTF_LOAD of the object's .BTF, typed maps, func/line info.

Checked against the running kernel with BPF_OBJ_GET_INFO_BY_FD and bpftool:
one BTF object per loaded ELF, shared by its BTF-defined maps, global-data
maps and programs; the key/value type ids of ``flows`` and the DATASEC value
type of ``.rodata``/``.bss``; func_info (two functions: the program and its
BPF-to-BPF callee) and line_info records; the verifier log quoting C lines.
"""

from __future__ import annotations

import errno
import json
import subprocess
from pathlib import Path

import pytest

from conftest import require_bpf
from pybpf.errors import KernelError

pytestmark = pytest.mark.kernel

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str, **kw):
    from pybpf.kernel.backend import KernelBackend
    from pybpf.loader import load_spec, read_spec

    require_bpf()
    spec = read_spec(EXAMPLES / name)
    coll = load_spec(spec, KernelBackend(), **kw)
    return spec, coll.maps, coll.programs, coll.verifier


def test_btf_reaches_maps_and_programs() -> None:
    spec, maps, progs, _ = load("sockex3_btf_kern.c")
    try:
        prog = progs["flow_bytes"]
        pinfo = prog.info()
        assert pinfo.btf_id > 0
        assert pinfo.nr_func_info == 2  # flow_bytes and ipv4_destination
        assert pinfo.nr_line_info == len(spec.programs["flow_bytes"].btf.line_info) > 10
        flows = maps["flows"].info()
        assert flows.btf_id == pinfo.btf_id  # one BTF object for the whole ELF
        assert (flows.btf_key_type_id, flows.btf_value_type_id) == (
            spec.maps["flows"].key_type,
            spec.maps["flows"].value_type,
        )
        assert spec.btf.type(flows.btf_value_type_id).name == "flow_stats"
        for data in ("sockex3_.rodata", "sockex3_.bss"):
            info = maps[data].info()
            assert info.btf_id == pinfo.btf_id and info.btf_key_type_id == 0
            assert spec.btf.type(info.btf_value_type_id).kind_name.lower() == "datasec"
    finally:
        for o in [*progs.values(), *maps.values()]:
            o.close()


def test_legacy_maps_carry_no_btf_but_programs_do() -> None:
    _spec, maps, progs, _ = load("sockex1_kern.c")
    try:
        assert maps["proto_count"].info().btf_id == 0
        assert progs["count_by_protocol"].info().nr_func_info == 1
    finally:
        for o in [*progs.values(), *maps.values()]:
            o.close()


def test_verifier_log_quotes_the_source() -> None:
    """line_info makes the kernel print '; <C line> @ file:line' before the instructions
    (a successful load keeps the full log at level 2; level 1 keeps only the statistics)."""
    _spec, maps, progs, logs = load("sockex3_btf_kern.c", log_level=2)
    try:
        log = logs["flow_bytes"]
        assert "; if (skb->pkt_type == PACKET_OUTGOING" in log
        assert "@ sockex3_btf_kern.c:71" in log
    finally:
        for o in [*progs.values(), *maps.values()]:
            o.close()


@pytest.mark.skipif(
    subprocess.run(["which", "bpftool"], capture_output=True).returncode != 0,
    reason="bpftool is not installed",
)
def test_bpftool_prints_values_by_type() -> None:
    _spec, maps, progs, _ = load("sockex3_btf_kern.c")
    try:
        frame = (
            bytes.fromhex("020000000002020000000001")
            + b"\x08\x00"
            + bytes.fromhex("4500002e0000400040110000c0a80001c0a80002")
            + bytes(26)
        )
        progs["flow_bytes"].run(frame)
        r = subprocess.run(
            ["bpftool", "-j", "map", "dump", "id", str(maps["flows"].id)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        dump = json.loads(r.stdout)
        assert dump[0]["formatted"]["value"] == {"packets": 1, "bytes": len(frame)}
        r = subprocess.run(
            ["bpftool", "-j", "map", "dump", "id", str(maps["sockex3_.bss"].id)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert json.loads(r.stdout)[0]["formatted"]["value"] == {".bss": [{"ipv4_packets": 1}]}
    finally:
        for o in [*progs.values(), *maps.values()]:
            o.close()


def test_btf_loaded_once_per_object() -> None:
    require_bpf()
    from pybpf.kernel.btf import btf_handle
    from pybpf.loader import read_spec

    spec = read_spec(EXAMPLES / "sockex3_btf_kern.c")
    a, b = btf_handle(spec.btf), btf_handle(spec.btf)
    assert a is b and a.fd >= 0 and a.id > 0
    assert btf_handle(None) is None


def test_bad_btf_is_refused_with_the_log() -> None:
    require_bpf()
    from pybpf.kernel import syscall as sc
    from pybpf.loader import read_spec

    raw = bytearray(read_spec(EXAMPLES / "sockex3_btf_kern.c").btf.raw)
    raw[4:8] = (99).to_bytes(4, "little")  # hdr_len that does not fit
    with pytest.raises(KernelError) as ei:
        sc.btf_load(bytes(raw))
    assert ei.value.errno == errno.E2BIG
    assert "Unsupported btf_header" in str(ei.value)
