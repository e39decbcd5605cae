"""`pybpf btf dump`: BTF printed as C compiles back to the same types.

Layouts are compared through BTF, never as text: the dump is compiled with a
probe that names every type, and the probe's BTF must give each struct, union,
enum and typedef the size and member offsets of the original. For the running
kernel the original is /sys/kernel/btf/vmlinux itself, and bpftool's dump of it
(``bpftool btf dump file ... format c``) is measured the same way.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import header_probe as hp
import pytest
from click.testing import CliRunner

from pybpf.cli import main
from pybpf.spec.btf import BTF
from pybpf.spec.btf_dump import dump_c, dump_raw, read_btf
from pybpf.spec.cc import compile_c
from support.paths import DATA, PCAPS

_TAGS = {4: "struct", 5: "union", 6: "enum", 19: "enum"}


def named_types(btf: BTF) -> dict[str, str]:
    """C spellings of every struct, union, enum and typedef with a name of its own."""
    seen = Counter((t.kind in _TAGS, t.name) for t in btf.types if t.name and t.kind in (*_TAGS, 8))
    out = {}
    for t in btf.types:
        if not t.name or seen[(t.kind in _TAGS, t.name)] > 1 or t.name.startswith("__builtin"):
            continue
        if t.kind in _TAGS:
            out[f"{_TAGS[t.kind]} {t.name}"] = f"{_TAGS[t.kind]} {t.name}"
        elif t.kind == 8:
            out[t.name] = t.name
    return out


def dumped_layouts(header: str, want: dict[str, str], tmp: Path, name: str) -> dict:
    d = tmp / name
    d.mkdir()
    (d / "vmlinux.h").write_text(header)
    return hp.layouts(hp.HeaderSet(name, (d,)), ["vmlinux.h"], want, tmp)


def test_roundtrip_of_the_hard_cases(tmp_path):
    """Bitfields, packed and over-aligned structs, gaps, function pointers, odd enums ..."""
    obj = compile_c(DATA / "btf_types.c")
    btf = read_btf(obj)
    want = named_types(btf)
    assert {"struct bits", "struct gaps", "struct list", "union wide_union", "enum small"} <= set(
        want
    )
    original = hp.btf_layouts(btf, want)
    text = dump_c(btf)
    again = dumped_layouts(text, want, tmp_path, "dump")
    diff = {
        k: hp._layout_diff(original[k], again.get(k, hp.Layout("?", -1)))
        for k in original
        if again.get(k) != original[k]
    }
    assert not diff, diff
    assert "__attribute__((packed))" in text and "mode(byte)" in text
    assert "\tenum {\n\t\tINLINE_X = 0," in text  # anonymous: printed where it is used


def test_object_dump_cli_and_raw_format(tmp_path):
    obj = compile_c(DATA / "btf_types.c")
    runner = CliRunner()
    res = runner.invoke(main, ["btf", "dump", str(obj), "--format", "raw"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines == list(dump_raw(read_btf(obj)))
    assert any(ln.startswith("[") and "STRUCT 'bits'" in ln for ln in lines)
    assert "\t'd' type_id=" in res.output and "bitfield_size=31" in res.output
    res = runner.invoke(main, ["btf", "dump", str(obj)])
    assert res.exit_code == 0 and res.output.startswith("#ifndef __VMLINUX_H__")


def test_dump_refuses_what_is_not_btf(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["btf", "dump", str(PCAPS / "ntp.pcap")])
    assert res.exit_code == 1
    assert "neither raw BTF (magic 0xeb9f) nor an ELF object" in res.output
    truncated = tmp_path / "t.btf"
    truncated.write_bytes(b"\x9f\xeb\x01\x00\x18\x00")
    res = runner.invoke(main, ["btf", "dump", str(truncated)])
    assert res.exit_code == 1 and "truncated header" in res.output
    nodebug = tmp_path / "nodebug.c"
    nodebug.write_text("int x = 1;\n")
    obj = tmp_path / "nodebug.o"
    exe = [
        *hp.compiler_command(),
        "-target",
        "bpfel-freestanding",
        "-c",
        str(nodebug),
        "-o",
        str(obj),
    ]
    subprocess.run(exe, check=True, capture_output=True, timeout=120)
    res = runner.invoke(main, ["btf", "dump", str(obj)])
    assert res.exit_code == 1 and "has no .BTF section" in res.output


def _vmlinux() -> BTF:
    if not hp.VMLINUX.exists():
        pytest.skip("/sys/kernel/btf/vmlinux is not here: no BTF of the running kernel")
    return read_btf(hp.VMLINUX)


VMLINUX_PROG = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} bytes SEC(".maps");
SEC("socket") int count(struct __sk_buff *skb)
{
	__u32 k = skb->pkt_type & 3;
	__u64 *v = bpf_map_lookup_elem(&bytes, &k);
	if (v)
		__sync_fetch_and_add(v, skb->len);
	return skb->len > 60 ? skb->len - skb->protocol % 7 : 0;
}
char _license[] SEC("license") = "GPL";
"""


@pytest.mark.kernel
def test_a_program_including_the_kernels_vmlinux_h_compiles_loads_and_runs(tmp_path):
    """skb->len through vmlinux.h's preserve_access_index: CO-RE relocations pybpf checks."""
    import pybpf
    from conftest import require_bpf

    btf = _vmlinux()
    (tmp_path / "vmlinux.h").write_text(dump_c(btf))
    src = tmp_path / "count.c"
    src.write_text(VMLINUX_PROG)
    obj = compile_c(src, include_dirs=[tmp_path])
    from pybpf.loader import read_spec

    spec = read_spec(obj)
    assert spec.programs["count"].insns
    from pybpf.spec.btf import BtfExt
    from pybpf.spec.elffile import ElfFile

    elf = ElfFile(obj.read_bytes())
    ext = BtfExt.parse(elf.by_name(".BTF.ext").data, spec.btf)
    assert sum(len(v) for v in ext.core_relo.values()) >= 3  # len, pkt_type, protocol
    frames = [bytes(range(14)) + bytes([0x45]) + bytes(19 + n) for n in (0, 40, 200)]
    user = pybpf.load(obj, backend="user")
    results = {"user": [user.program().test_run(f).retval for f in frames]}
    require_bpf()
    with pybpf.load(obj, backend="kernel") as kern:
        results["kernel"] = [kern.program().test_run(f).retval for f in frames]
    assert results["user"] == results["kernel"]
    assert results["user"][2] > 0


@pytest.mark.slow
def test_every_kernel_type_keeps_its_layout_and_bpftool_is_measured_alike(tmp_path):
    """All uniquely named vmlinux types: pybpf's dump == the kernel; bpftool's where it can."""
    btf = _vmlinux()
    want = named_types(btf)
    kernel = hp.btf_layouts(btf, want)
    ours = dumped_layouts(dump_c(btf), want, tmp_path, "pybpf")
    wrong = [k for k in kernel if ours.get(k) != kernel[k]]
    assert not wrong, [
        (k, hp._layout_diff(kernel[k], ours[k]) if k in ours else "missing") for k in wrong[:20]
    ]
    assert len(kernel) > 10000
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        pytest.skip("bpftool is not installed: its dump cannot be measured")
    res = subprocess.run(
        [bpftool, "btf", "dump", "file", str(hp.VMLINUX), "format", "c"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    theirs = dumped_layouts(res.stdout, want, tmp_path, "bpftool")
    # both define the same types; where they differ, pybpf's is the kernel's
    assert set(theirs) == set(ours)
    differ = [k for k in kernel if theirs.get(k) != ours.get(k)]
    assert all(ours[k] == kernel[k] for k in differ)
    print(
        f"{len(kernel)} types; bpftool's dump differs from the kernel in {len(differ)}: "
        f"{differ[:8]}"
    )
