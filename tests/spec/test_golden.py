"""Golden objects (tests/data/golden): fixed bytes through the loader and both backends.

The objects are what `pybpf cc` made of the examples; reading them must give
the programs and maps the examples define, and each loads and counts the same
packets in pybpf and in the kernel. Recompiling the examples now must give
the same instructions, unless the compiler changed (then the test says so).
"""

from __future__ import annotations

import pytest

import pybpf
from pybpf.isa import encode
from pybpf.net.capture import read_packets
from pybpf.spec.cc import compile_c
from support.paths import DATA, EXAMPLES, PCAPS

GOLDEN = DATA / "golden"
#: object -> (program names, map names)
EXPECTED = {
    "sockex1_kern.o": (["count_by_protocol"], ["proto_count"]),
    "sockex2_kern.o": (["count_by_destination"], ["dst_count"]),
    "sockex3_btf_kern.o": (["flow_bytes"], ["flows", "sockex3_.bss", "sockex3_.rodata"]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_object_reads_as_the_example_defines(name: str) -> None:
    spec = pybpf.read_spec(GOLDEN / name)
    progs, maps = EXPECTED[name]
    assert sorted(spec.programs) == progs
    assert sorted(spec.maps) == maps
    assert all(p.insns and p.license == "GPL" for p in spec.programs.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_object_runs_in_each_backend(backend, name: str) -> None:
    frames = [p.data for p in read_packets(PCAPS / "dns_udp.pcap")]
    with pybpf.load(GOLDEN / name, backend=backend) as coll:
        prog = coll.program()
        for f in frames:
            prog.run(f)
        contents = {
            n: sorted((bytes(k), bytes(v)) for k, v in m.items())
            for n, m in coll.maps.items()
            if not n.endswith(".bss")
        }
    with pybpf.load(GOLDEN / name) as ref:
        for f in frames:
            ref.program().run(f)
        want = {
            n: sorted((bytes(k), bytes(v)) for k, v in m.items())
            for n, m in ref.maps.items()
            if not n.endswith(".bss")
        }
    assert contents == want


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recompiling_the_example_gives_the_golden_instructions(name: str) -> None:
    src = EXAMPLES / name.replace(".o", ".c")
    now = pybpf.read_spec(compile_c(src))
    golden = pybpf.read_spec(GOLDEN / name)
    for pname, ps in golden.programs.items():
        assert encode(now.programs[pname].insns) == encode(ps.insns), (
            f"{src.name}: the compiler now emits different instructions for {pname}; "
            "rebuild tests/data/golden (see its README) if the change is expected"
        )
