"""BTF and BTF.ext reader, checked against bpftool and the running kernel's own BTF."""

from __future__ import annotations

import random
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from pybpf.errors import BtfError
from pybpf.spec.btf import (
    BTF,
    BTF_KIND_DATASEC,
    BTF_KIND_STRUCT,
    KIND_NAMES,
    BtfExt,
)
from pybpf.spec.cc import compile_c
from pybpf.spec.elf import load_object
from pybpf.spec.elffile import ElfFile

ROOT = Path(__file__).resolve().parents[2]
from support.paths import DATA  # noqa: E402

EXAMPLES = ROOT / "examples"
BPFTOOL = shutil.which("bpftool") or (
    "/usr/sbin/bpftool" if Path("/usr/sbin/bpftool").exists() else None
)
VMLINUX = Path("/sys/kernel/btf/vmlinux")


@pytest.fixture(scope="module")
def objs() -> dict[str, Path]:
    return {
        "sockex3": compile_c(EXAMPLES / "sockex3_btf_kern.c"),
        "calls": compile_c(DATA / "elf_calls.c"),
        "maps": compile_c(DATA / "elf_maps.c"),
        "sockex2": compile_c(EXAMPLES / "sockex2_kern.c"),
    }


def _sections(path: Path) -> tuple[bytes, bytes]:
    elf = ElfFile(path.read_bytes())
    return elf.by_name(".BTF").data, elf.by_name(".BTF.ext").data


def test_types_match_bpftool(objs):
    if BPFTOOL is None:
        pytest.skip("bpftool is not installed (apt install bpftool): cannot cross-check BTF")
    for path in objs.values():
        raw, _ = _sections(path)
        btf = BTF.parse(raw)
        out = subprocess.run(
            [BPFTOOL, "btf", "dump", "file", str(path)], capture_output=True, text=True, check=True
        ).stdout
        heads = re.findall(r"^\[(\d+)\] (\w+) '([^']*)'", out, re.M)
        assert len(heads) == len(btf.types) - 1
        for tid, kind, name in heads:
            t = btf.type(int(tid))
            assert KIND_NAMES[t.kind] == kind
            assert (t.name or "(anon)") == name
        # struct members: name, type id and bit offset
        for m in re.finditer(r"^\[(\d+)\] (?:STRUCT|UNION) .*\n((?:\t'.*\n)*)", out, re.M):
            t = btf.type(int(m.group(1)))
            mems = re.findall(r"\t'([^']*)' type_id=(\d+) bits_offset=(\d+)", m.group(2))
            assert [(x.name or "(anon)", x.type, x.bit_offset) for x in t.members] == [
                (a, int(b), int(c)) for a, b, c in mems
            ]


def test_line_info_points_at_source(objs):
    for key in ("sockex3", "sockex2", "calls"):
        path = objs[key]
        raw, ext_raw = _sections(path)
        btf = BTF.parse(raw)
        ext = BtfExt.parse(ext_raw, btf)
        assert ext.line_info and ext.func_info
        for recs in ext.line_info.values():
            for r in recs:
                src = Path(r.file).read_text().splitlines()
                assert src[r.line - 1] == r.text
                assert r.col <= len(r.text) + 1
        for sec, fis in ext.func_info.items():
            for fi in fis:
                assert KIND_NAMES[btf.type(fi.type_id).kind] == "FUNC", sec


def test_spec_line_info_and_values(objs):
    spec = load_object(objs["sockex3"])
    prog = spec.programs["flow_bytes"]
    texts = [li.text for li in prog.line_info]
    assert any("bpf_skb_load_bytes" in t for t in texts)  # from the appended sub-program
    assert any("pkt_type" in t for t in texts)
    slots = [li.insn for li in prog.line_info]
    assert slots == sorted(slots)
    btf = spec.btf
    st = btf.find("flow_stats", BTF_KIND_STRUCT)
    assert btf.size(st) == 16
    assert btf.value(st, struct.pack("<QQ", 2, 120)) == {"packets": 2, "bytes": 120}
    sk = btf.find("__sk_buff", BTF_KIND_STRUCT)
    assert btf.size(sk) == 192


def test_datasec_fixup(objs):
    spec = load_object(objs["calls"], name="elf_calls")
    btf = spec.btf
    for name, size in ((".data", 16), (".bss", 16), (".rodata", 4)):
        ds = btf.type(btf.find(name, BTF_KIND_DATASEC))
        assert ds.size == size
    ds = btf.type(btf.find(".data", BTF_KIND_DATASEC))
    assert [(btf.type(t).name, off) for t, off, _ in ds.secinfos] == [("total", 0), ("hidden", 8)]
    again = BTF.parse(btf.raw)  # the patched raw blob parses to the same DATASECs
    assert again.type(ds.id).secinfos == ds.secinfos


def test_vmlinux_btf_parses():
    if not VMLINUX.exists():
        pytest.skip("/sys/kernel/btf/vmlinux not available (kernel without CONFIG_DEBUG_INFO_BTF)")
    btf = BTF.parse(VMLINUX.read_bytes(), section="vmlinux")
    sk = btf.find("__sk_buff", BTF_KIND_STRUCT)
    assert sk is not None and btf.size(sk) == 192
    assert btf.type_str(btf.type(sk).members[0].type) == "__u32"
    # bitfields (ihl:4, version:4) and nested unions, by the kernel's own types
    ip = btf.find("iphdr", BTF_KIND_STRUCT)
    hdr = bytes.fromhex("4500003c1c4640004006b1e6ac100a0cac100a0d")
    v = btf.value(ip, hdr)
    assert (v["version"], v["ihl"], v["protocol"], v["ttl"]) == (4, 5, 6, 64)


@pytest.mark.kernel
def test_kernel_accepts_object_btf(objs):
    from conftest import require_bpf

    require_bpf()
    from pybpf.kernel import info as kinfo
    from pybpf.kernel import syscall as sc

    for path in objs.values():
        spec = load_object(path)
        fd = sc.btf_load(spec.btf.raw)
        try:
            info = kinfo.btf_get_info(fd)
            assert info.btf_size == len(spec.btf.raw)
        finally:
            sc.close(fd)


# ---- malformed ----


def test_malformed_btf(objs):
    raw, ext_raw = _sections(objs["sockex3"])
    with pytest.raises(BtfError, match="bad magic"):
        BTF.parse(b"\x00" * 32)
    with pytest.raises(BtfError, match="truncated header"):
        BTF.parse(raw[:10])
    with pytest.raises(BtfError, match="big-endian"):
        BTF.parse(b"\xeb\x9f" + raw[2:])
    bad = bytearray(raw)
    struct.pack_into("<I", bad, 12, len(raw))  # type_len beyond the body
    with pytest.raises(BtfError, match=r"section \.BTF offset 0x8: type section"):
        BTF.parse(bytes(bad))
    # a PTR to a type beyond the last
    btf = BTF.parse(raw)
    ptr = next(t for t in btf.types if KIND_NAMES[t.kind] == "PTR")
    bad = bytearray(raw)
    struct.pack_into("<I", bad, ptr.pos + 8, 100000)
    with pytest.raises(BtfError, match="beyond the last type"):
        BTF.parse(bytes(bad))
    with pytest.raises(BtfError, match="record size"):
        hdr_len, fi_off = struct.unpack_from("<II", ext_raw, 4)
        BtfExt.parse(_patch_u32(ext_raw, hdr_len + fi_off, 3), btf)


def _patch_u32(b: bytes, off: int, v: int) -> bytes:
    out = bytearray(b)
    struct.pack_into("<I", out, off, v)
    return bytes(out)


def test_fuzz_btf(objs):
    raw, ext_raw = _sections(objs["maps"])
    btf = BTF.parse(raw)
    rng = random.Random(1234)
    for i in range(1500):
        target = raw if i % 3 else ext_raw
        b = bytearray(target)
        if i % 5 == 0:
            b = b[: rng.randrange(len(b))]
        else:
            for _ in range(rng.randint(1, 6)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        try:
            if target is raw:
                t = BTF.parse(bytes(b))
                for tid in range(1, len(t.types)):
                    t.type_str(tid)
            else:
                BtfExt.parse(bytes(b), btf)
        except BtfError:
            pass
