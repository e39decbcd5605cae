"""The ELF loader: objects built from C with pybpf's compiler, checked against LLVM's tools.

Reference: llvm-objdump -d -r / llvm-readelf -S -r -s (LLVM 14 at /usr/bin) read
the same objects; malformed and mutated objects must give ElfError (never another
exception).
"""

from __future__ import annotations

import random
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from pybpf import isa, uapi
from pybpf.errors import BtfError, ElfError
from pybpf.spec.cc import compile_c
from pybpf.spec.elf import internal_map_name, load_object, object_name
from pybpf.spec.elffile import EM_BPF, ElfFile
from pybpf.spec.reloc import relocated_maps
from pybpf.spec.sections import prog_type_for_section
from pybpf.spec.types import MapRef

ROOT = Path(__file__).resolve().parents[2]
from support.paths import DATA  # noqa: E402

EXAMPLES = ROOT / "examples"
OBJDUMP = shutil.which("llvm-objdump") or "/usr/bin/llvm-objdump"
READELF = shutil.which("llvm-readelf") or "/usr/bin/llvm-readelf"
have_llvm = pytest.mark.skipif(
    not Path(OBJDUMP).exists() or not Path(READELF).exists(),
    reason="llvm-objdump/llvm-readelf not installed",
)


@pytest.fixture(scope="module")
def objs() -> dict[str, Path]:
    return {
        "sockex1": compile_c(EXAMPLES / "sockex1_kern.c"),
        "sockex2": compile_c(EXAMPLES / "sockex2_kern.c"),
        "sockex3": compile_c(EXAMPLES / "sockex3_btf_kern.c"),
        "calls": compile_c(DATA / "elf_calls.c"),
        "maps": compile_c(DATA / "elf_maps.c"),
        "sections": compile_c(DATA / "elf_sections.c"),
    }


# ---- the examples ----


def test_sockex1_spec(objs):
    spec = load_object(objs["sockex1"], name="sockex1_kern")
    assert spec.license == "GPL"
    assert list(spec.programs) == ["count_by_protocol"]
    prog = spec.programs["count_by_protocol"]
    assert prog.section == "socket1"
    assert prog.prog_type == uapi.BPF_PROG_TYPE_SOCKET_FILTER
    m = spec.maps["proto_count"]
    assert (m.type, m.key_size, m.value_size, m.max_entries) == (uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 256)
    refs = relocated_maps(prog.insns)
    assert [r for _, r in refs] == [MapRef("proto_count", None)]
    slot, _ = refs[0]
    lddw = dict(isa.iter_slots(prog.insns))[slot]
    assert lddw.is_lddw and lddw.src == isa.BPF_PSEUDO_MAP_FD
    # the protocol load of the seed: LD_ABS byte at ETH_HLEN + 9
    assert any(i.code == isa.BPF_LD | isa.BPF_ABS | isa.BPF_B and i.imm == 23 for i in prog.insns)
    assert prog.line_info and all(li.file.endswith("sockex1_kern.c") for li in prog.line_info)
    assert any("load_byte" in li.text for li in prog.line_info)


def test_sockex2_spec(objs):
    spec = load_object(objs["sockex2"])
    prog = spec.programs["count_by_destination"]
    assert prog.section == "socket2"
    m = spec.maps["dst_count"]
    assert (m.type, m.key_size, m.value_size, m.max_entries) == (uapi.BPF_MAP_TYPE_HASH, 4, 8, 1024)
    assert {r.name for _, r in relocated_maps(prog.insns)} == {"dst_count"}
    assert isa.count_slots(prog.insns) > 150
    assert prog.func_info and prog.func_info[0][0] == 0


def test_sockex3_btf_spec(objs):
    spec = load_object(objs["sockex3"])
    assert spec.btf is not None
    flows = spec.maps["flows"]
    assert (flows.type, flows.key_size, flows.value_size, flows.max_entries) == (
        uapi.BPF_MAP_TYPE_HASH,
        4,
        16,
        1024,
    )
    assert spec.btf.type_str(flows.key_type) == "__be32"
    assert spec.btf.type_str(flows.value_type) == "struct flow_stats"
    # global data maps named as libbpf names them: 8 chars of the object name + section
    ro = spec.maps["sockex3_.rodata"]
    assert ro.frozen and ro.flags & uapi.BPF_F_RDONLY_PROG and ro.initial == bytes(4)
    bss = spec.maps["sockex3_.bss"]
    assert bss.initial is None and bss.value_size == 8 and not bss.frozen
    prog = spec.programs["flow_bytes"]
    names = [r for _, r in relocated_maps(prog.insns)]
    assert MapRef("sockex3_.rodata", 0) in names and MapRef("sockex3_.bss", 0) in names
    # the .text sub-program is appended and the call lands on its first instruction
    calls = [(s, i) for s, i in isa.iter_slots(prog.insns) if isa.is_local_call(i)]
    assert len(calls) == 1
    target = isa.jump_target(*calls[0])
    assert target in {fi[0] for fi in prog.func_info}
    assert len(prog.func_info) == 2


def test_deterministic(objs):
    for p in objs.values():
        a, b = load_object(p), load_object(p)
        assert a == b
        assert load_object(p.read_bytes(), name=object_name(p, None)).programs == a.programs


# ---- sub-programs, data, callbacks ----


def _func_bytes(path: Path, name: str) -> bytes:
    """The bytes of a function as the ELF holds them (from the symbol table)."""
    elf = ElfFile(path.read_bytes())
    sym = next(s for s in elf.symbols if s.name == name and s.type == 2)
    sec = elf.sections[sym.shndx]
    return sec.data[sym.value : sym.value + sym.size]


def _same_code(insns: list[isa.Insn], start: int, raw: bytes) -> bool:
    by_slot = dict(isa.iter_slots(insns))
    slot = start
    for want in isa.decode(raw, check=False):
        got = by_slot.get(slot)
        if got is None or got.code != want.code:
            return False
        if not isinstance(got.ref, MapRef) and got != want:
            return False
        slot += want.slots
    return True


def test_calls_append_reachable_subprograms(objs):
    spec = load_object(objs["calls"], name="elf_calls")
    assert spec.license == "Dual BSD/GPL"
    first, second, third = (spec.programs[n] for n in ("first", "second", "third"))
    assert list(spec.programs) == ["first", "second", "fourth", "third"]  # section order
    assert third.section == "socket/7"

    # first -> middle -> leaf ; second -> leaf and loop_cb (bpf_loop callback, PSEUDO_FUNC)
    # third -> unused_helper only
    def entries(p):
        return sorted(fi[0] for fi in p.func_info)

    assert len(entries(first)) == 3 and len(entries(second)) == 3 and len(entries(third)) == 2
    leaf = _func_bytes(objs["calls"], "leaf")
    for prog in (first, second):
        for slot, insn in isa.iter_slots(prog.insns):
            if isa.is_local_call(insn) or (insn.is_lddw and insn.src == isa.BPF_PSEUDO_FUNC):
                t = slot + 1 + insn.imm
                assert t in entries(prog), (prog.name, slot)
        # one of the entries is leaf's code (its LDDW of `limit` aside, which was relocated)
        assert any(_same_code(prog.insns, e, leaf) for e in entries(prog))
    funcs = [i for i in second.insns if i.is_lddw and i.src == isa.BPF_PSEUDO_FUNC]
    assert len(funcs) == 1


def test_global_data_relocations(objs):
    spec = load_object(objs["calls"], name="elf_calls")
    data = spec.maps["elf_call.data"]
    assert data.initial == struct.pack("<QQ", 7, 9)
    assert spec.maps["elf_call.rodata"].initial == struct.pack("<I", 3)
    assert spec.maps["elf_call.bss"].value_size == 16
    refs = [r for _, r in relocated_maps(spec.programs["first"].insns)]
    # `total` by its symbol (offset 0); the static `hidden` through the section symbol +8 in imm
    assert MapRef("elf_call.data", 0) in refs and MapRef("elf_call.data", 8) in refs
    for i in spec.programs["first"].insns:
        if isinstance(i.ref, MapRef) and i.ref.value_offset is not None:
            assert i.src == isa.BPF_PSEUDO_MAP_VALUE and i.imm == 0
            assert i.imm_hi == i.ref.value_offset
    assert spec.btf.value(data.value_type, data.initial) == {"total": 7, "hidden": 9}
    # string literals: .rodata.str1.1, named without prefix, frozen, section offsets in imm
    strs = spec.maps[".rodata.str1.1"]
    assert strs.frozen and strs.initial == b"long packet %d\n\0short %d\n\0"
    refs = {r for _, r in relocated_maps(spec.programs["fourth"].insns)}
    assert refs == {MapRef(".rodata.str1.1", 0), MapRef(".rodata.str1.1", 16)}


def test_internal_map_names():
    # examples from libbpf's internal_map_name() comment and rules
    assert internal_map_name("my_object_name", ".rodata") == "my_objec.rodata"
    assert internal_map_name("my_object_name", ".bss") == "my_objec.bss"
    assert internal_map_name("obj", ".data") == "obj.data"
    assert internal_map_name("obj", ".rodata.str1.1") == ".rodata.str1.1"
    assert internal_map_name("obj", ".data.a_very_long_custom_name") == ".data.a_very_lo"
    assert internal_map_name("my-obj", ".bss") == "my_obj.bss"
    assert object_name("/x/sockex3_btf_kern.o", None) == "sockex3_btf_kern"
    assert object_name("/x/a.b.o", None) == "a"


# ---- maps ----


def test_maps_both_styles(objs):
    spec = load_object(objs["maps"])
    lh = spec.maps["legacy_hash"]
    assert (lh.type, lh.key_size, lh.value_size, lh.max_entries, lh.flags) == (
        uapi.BPF_MAP_TYPE_HASH,
        8,
        16,
        32,
        uapi.BPF_F_NO_PREALLOC,
    )
    assert lh.extra["def_size"] == 20
    la = spec.maps["legacy_array"]
    assert (la.type, la.key_size, la.value_size, la.max_entries) == (2, 4, 4, 3)
    lru = spec.maps["btf_lru"]
    assert (lru.type, lru.key_size, lru.value_size, lru.max_entries) == (
        uapi.BPF_MAP_TYPE_LRU_HASH,
        4,
        16,
        128,
    )
    assert (
        spec.btf.format(lru.value_type, struct.pack("<QQ", 3, 180))
        == "{.packets = 3, .bytes = 180}"
    )
    sized = spec.maps["sized"]
    assert (sized.type, sized.key_size, sized.value_size) == (uapi.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 24)
    outer = spec.maps["outer"]
    assert outer.type == uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS and outer.value_size == 4
    assert outer.inner is not None and outer.inner.type == uapi.BPF_MAP_TYPE_ARRAY
    jump = spec.maps["jump"]
    assert jump.type == uapi.BPF_MAP_TYPE_PROG_ARRAY and jump.extra["values"] == {1: "tail"}
    refs = {r.name for _, r in relocated_maps(spec.programs["use_maps"].insns)}
    assert refs == {"legacy_hash", "legacy_array", "btf_lru", "sized", "outer", "jump"}


def test_section_program_types(objs):
    spec = load_object(objs["sections"])
    want = {
        "p_socket": (uapi.BPF_PROG_TYPE_SOCKET_FILTER, 0),
        "p_socket1": (uapi.BPF_PROG_TYPE_SOCKET_FILTER, 0),
        "p_socket_2": (uapi.BPF_PROG_TYPE_SOCKET_FILTER, 0),
        "p_kprobe": (uapi.BPF_PROG_TYPE_KPROBE, 0),
        "p_kretprobe": (uapi.BPF_PROG_TYPE_KPROBE, 0),
        "p_tracepoint": (uapi.BPF_PROG_TYPE_TRACEPOINT, 0),
        "p_raw_tp": (uapi.BPF_PROG_TYPE_RAW_TRACEPOINT, 0),
        "p_xdp": (uapi.BPF_PROG_TYPE_XDP, 37),
        "p_tc": (uapi.BPF_PROG_TYPE_SCHED_CLS, 0),
        "p_classifier": (uapi.BPF_PROG_TYPE_SCHED_CLS, 0),
        "p_cgroup_skb_in": (uapi.BPF_PROG_TYPE_CGROUP_SKB, 0),
        "p_cgroup_skb": (uapi.BPF_PROG_TYPE_CGROUP_SKB, 0),
        "p_sk_skb": (uapi.BPF_PROG_TYPE_SK_SKB, 5),
        "p_sockops": (uapi.BPF_PROG_TYPE_SOCK_OPS, 3),
        "p_perf": (uapi.BPF_PROG_TYPE_PERF_EVENT, 0),
        "p_flow": (uapi.BPF_PROG_TYPE_FLOW_DISSECTOR, 17),
        "p_lwt": (uapi.BPF_PROG_TYPE_LWT_IN, 0),
        "p_unknown": (uapi.BPF_PROG_TYPE_UNSPEC, 0),
    }
    assert {n: (p.prog_type, p.expected_attach_type) for n, p in spec.programs.items()} == want
    assert prog_type_for_section("sockops") == (uapi.BPF_PROG_TYPE_SOCK_OPS, 3)
    assert prog_type_for_section("tcp_whatever") is None
    assert prog_type_for_section("socketfilter")[0] == uapi.BPF_PROG_TYPE_SOCKET_FILTER


# ---- against LLVM's own reading of the objects ----


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


@have_llvm
def test_sections_match_llvm_readelf(objs):
    for path in objs.values():
        elf = ElfFile(path.read_bytes())
        rows = re.findall(
            r"^\s*\[\s*(\d+)\]\s+(\S*)\s+([A-Z_]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+"
            r"([0-9a-f]+)",
            _run(READELF, "-S", "-W", str(path)),
            re.M,
        )
        assert len(rows) == len(elf.sections)
        for idx, name, _t, off, size in rows:
            sec = elf.sections[int(idx)]
            assert (sec.name or "") == (name if idx != "0" else "")
            assert sec.size == int(size, 16)
            if sec.type != 0:
                assert sec.offset == int(off, 16)


@have_llvm
def test_relocations_match_llvm_readelf(objs):
    for path in objs.values():
        elf = ElfFile(path.read_bytes())
        text = _run(READELF, "-r", "-W", str(path))
        ours = []
        for blk in re.split(r"\n(?=Relocation section)", text):
            m = re.match(r"Relocation section '\.rel(\S+)'", blk)
            if not m:
                continue
            target = elf.by_name(m.group(1))
            assert target is not None
            theirs = re.findall(
                r"^([0-9a-f]{16})\s+[0-9a-f]+\s+(R_BPF_\S+)\s+[0-9a-f]+\s+(\S+)", blk, re.M
            )
            ours = [
                (f"{r.offset:016x}", _rname(r.type), r.sym.name) for r in elf.relocs[target.index]
            ]
            assert ours == theirs, m.group(1)


def _rname(t: int) -> str:
    from pybpf.spec.elffile import RELOC_NAMES

    return RELOC_NAMES[t]


@have_llvm
def test_instructions_match_llvm_objdump(objs):
    """Every instruction the loader kept unchanged has llvm-objdump's bytes at its place."""
    for key in ("sockex1", "sockex2", "sockex3", "calls"):
        path = objs[key]
        dump = _run(OBJDUMP, "-d", str(path))
        elf = ElfFile(path.read_bytes())
        for blk in re.split(r"\nDisassembly of section ", dump)[1:]:
            secname = blk.split(":", 1)[0]
            sec = elf.by_name(secname)
            hexes = re.findall(r"^\s*(\d+):\t([0-9a-f]{2}(?: [0-9a-f]{2})*)", blk, re.M)
            code = b"".join(bytes.fromhex(h) for _, h in hexes)
            assert code == sec.data, secname
            assert [int(s) for s, _ in hexes] == [
                s for s, _ in isa.iter_slots(isa.decode(sec.data, check=False))
            ]
        spec = load_object(path)
        for prog in spec.programs.values():
            sec = elf.by_name(prog.section)
            sym = next(s for s in elf.symbols if s.name == prog.name)
            own = isa.decode(sec.data[sym.value : sym.value + sym.size], check=False)
            for a, b in zip(own, prog.insns[: len(own)], strict=True):
                if a.is_lddw and (isinstance(b.ref, MapRef) or b.src == isa.BPF_PSEUDO_FUNC):
                    continue
                if isa.is_local_call(a):
                    assert b.code == a.code
                    continue
                assert a == b


# ---- malformed objects ----


def _good(objs) -> bytes:
    return objs["sockex1"].read_bytes()


def _patch(data: bytes, off: int, fmt: str, *vals) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, off, *vals)
    return bytes(b)


def test_not_elf_and_header_errors(objs):
    good = _good(objs)
    with pytest.raises(ElfError, match="not an ELF"):
        load_object(b"hello world, not an object")
    with pytest.raises(ElfError, match="not EM_BPF"):
        load_object(_patch(good, 18, "<H", 62))
    with pytest.raises(ElfError, match="big-endian"):
        load_object(_patch(good, 5, "<B", 2))
    with pytest.raises(ElfError, match="ELFCLASS64"):
        load_object(_patch(good, 4, "<B", 1))
    with pytest.raises(ElfError, match="truncated ELF header"):
        load_object(good[:40])
    with pytest.raises(ElfError, match="section header table"):
        load_object(good[: len(good) - 100])
    assert EM_BPF == 247


def _section_header(data: bytes, idx: int) -> int:
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    return shoff + idx * 64


def test_bad_section_index(objs):
    good = _good(objs)
    elf = ElfFile(good)
    # section name table index out of range
    shnum = len(elf.sections)
    with pytest.raises(ElfError, match="out of range"):
        load_object(_patch(good, 0x3E, "<H", shnum + 3))
    # the relocation section's sh_info points at a section that does not exist
    rel = next(s for s in elf.sections if s.name == ".relsocket1")
    with pytest.raises(ElfError, match=r"section \.relsocket1 .*index 99"):
        load_object(_patch(good, _section_header(good, rel.index) + 44, "<I", 99))
    # a symbol in a section beyond the last
    tab = next(s for s in elf.sections if s.name == ".symtab")
    sym = next(s for s in elf.symbols if s.name == "proto_count")
    with pytest.raises(ElfError, match="beyond the last section"):
        load_object(_patch(good, tab.offset + sym.index * 24 + 6, "<H", 200))
    # section data past the end of the file
    with pytest.raises(ElfError, match="runs past the end"):
        load_object(_patch(good, _section_header(good, rel.index) + 32, "<Q", 1 << 20))


def test_relocations_pointing_nowhere(objs):
    good = _good(objs)
    elf = ElfFile(good)
    rel = next(s for s in elf.sections if s.name == ".relsocket1")
    # symbol index beyond the symbol table
    with pytest.raises(ElfError, match=r"\.relsocket1 offset 0x0: .*symbol #999"):
        load_object(_patch(good, rel.offset + 8, "<Q", (999 << 32) | 1))
    # offset outside the target section
    with pytest.raises(ElfError, match="outside section"):
        load_object(_patch(good, rel.offset, "<Q", 0x10000))
    # offset not at an instruction start / on a non-LDDW instruction
    with pytest.raises(ElfError, match="start of an instruction"):
        load_object(_patch(good, rel.offset, "<Q", 0x3C))
    with pytest.raises(ElfError, match="non-LDDW"):
        load_object(_patch(good, rel.offset, "<Q", 0x0))
    # unknown relocation type
    r_info = struct.unpack_from("<Q", good, rel.offset + 8)[0]
    with pytest.raises(ElfError, match="unknown relocation type 77"):
        load_object(_patch(good, rel.offset + 8, "<Q", (r_info & ~0xFFFFFFFF) | 77))
    # a symbol that is not a map
    lic = next(s for s in elf.symbols if s.name == "_license")
    with pytest.raises(ElfError, match="names no map"):
        load_object(_patch(good, rel.offset + 8, "<Q", (lic.index << 32) | 1))


def test_unknown_map_type(objs):
    good = _good(objs)
    elf = ElfFile(good)
    maps = elf.by_name("maps")
    with pytest.raises(
        ElfError,
        match=r"section maps offset 0x0: map 'proto_count': unknown "
        r"map type 999",
    ):
        load_object(_patch(good, maps.offset, "<I", 999))
    data3 = objs["sockex3"].read_bytes()
    spec = load_object(data3)
    assert spec.maps["flows"].type == uapi.BPF_MAP_TYPE_HASH


def test_missing_file():
    with pytest.raises(ElfError, match="cannot read"):
        load_object("/nonexistent/prog.o")


_TARGETS = (".BTF", ".BTF.ext", ".symtab", ".strtab", "maps", ".maps", "license")


def _mutants(data: bytes, rng: random.Random, n: int):
    """Deterministic mutants: truncations, bit flips, bytes in the section headers or in
    the sections the loader reads (BTF, symbols, relocations, maps, code), and whole
    64-bit words replaced by boundary values."""
    size = len(data)
    elf = ElfFile(data)
    targets = [
        (s.offset, s.size)
        for s in elf.sections
        if s.size and s.type != 8 and (s.name in _TARGETS or s.type == 9 or s.is_exec)
    ]
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    targets.append((shoff, size - shoff))
    for i in range(n):
        kind = i % 4
        b = bytearray(data)
        if kind == 0:
            yield bytes(b[: rng.randrange(size)])
            continue
        if kind == 1:
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(size)] ^= 1 << rng.randrange(8)
        elif kind == 2:
            off, length = rng.choice(targets)
            for _ in range(rng.randint(1, 4)):
                b[off + rng.randrange(length)] = rng.randrange(256)
        else:
            off, length = rng.choice(targets)
            pos = off + rng.randrange(max(length - 8, 1))
            b[pos : pos + 8] = struct.pack(
                "<Q", rng.choice([0, 1, 0xFFFFFFFF, 1 << 32, 1 << 63, rng.getrandbits(64)])
            )
        yield bytes(b[:size])


def test_fuzz_mutated_objects(objs):
    """Truncations, bit flips and word overwrites: only ElfError/BtfError may escape."""
    rng = random.Random(0x5EED)
    count = 0
    errors = 0
    for key in ("sockex1", "sockex3", "calls", "maps"):
        data = objs[key].read_bytes()
        for m in _mutants(data, rng, 900):
            count += 1
            try:
                load_object(m)
            except (ElfError, BtfError) as e:
                errors += 1
                assert str(e)
    assert count == 3600 and errors > 1000


def test_source_line(objs):
    from pybpf.spec.elf import source_line

    prog = load_object(objs["sockex1"]).programs["count_by_protocol"]
    ldabs = next(s for s, i in isa.iter_slots(prog.insns) if isa.BPF_MODE(i.code) == isa.BPF_ABS)
    assert "load_byte" in source_line(prog, ldabs).text
    call = next(s for s, i in isa.iter_slots(prog.insns) if isa.is_helper_call(i))
    assert "bpf_map_lookup_elem" in source_line(prog, call).text


def test_load_c_source_directly():
    spec = load_object(EXAMPLES / "sockex3_btf_kern.c")
    assert "flow_bytes" in spec.programs and "sockex3_.rodata" in spec.maps


@pytest.mark.kernel
def test_kernel_runs_calls_and_global_data(objs):
    """Sub-programs, a bpf_loop callback and .data/.bss/.rodata relocations, in the kernel."""
    from conftest import require_bpf

    require_bpf()
    from pybpf.kernel import syscall as sc
    from pybpf.kernel.maps import KernelMap
    from pybpf.kernel.program import KernelProgram

    spec = load_object(objs["calls"], name="elf_calls")
    btf_fd = sc.btf_load(spec.btf.raw)
    maps = {n: KernelMap.from_spec(m) for n, m in spec.maps.items()}
    progs = {}
    try:
        for n, p in spec.programs.items():
            progs[n] = KernelProgram(
                p.insns,
                p.prog_type,
                p.license,
                n,
                maps=maps,
                prog_btf_fd=btf_fd,
                func_info=p.btf.func_info_bytes(),
                line_info=p.btf.line_info_bytes(),
            )
        frame = bytes(14) + bytes(range(50))  # zero MAC header + 50 bytes: skb->len == 50
        assert progs["first"].test_run(frame).retval == 0
        assert progs["second"].test_run(frame).retval == 3 * 6 + 3  # leaf(0+1+2+3)
        assert progs["third"].test_run(frame).retval == (50 - 1) & 1
        assert progs["fourth"].fd >= 0
        counters = struct.unpack("<Q", maps["counters"].lookup(struct.pack("<I", 1)))[0]
        assert counters == 6 * 50 + 9  # middle(50) = leaf(50) + leaf(51), limit 3
        data = maps["elf_call.data"].lookup(bytes(4))
        assert struct.unpack("<QQ", data) == (7 + ord("i"), 9 + 2)
        bss = maps["elf_call.bss"].lookup(bytes(4))
        assert struct.unpack("<4I", bss) == (0, 0, 5, 0)
    finally:
        for kp in progs.values():
            kp.close()
        for m in maps.values():
            m.close()
        sc.close(btf_fd)


@pytest.mark.kernel
def test_kernel_loads_map_in_map_and_prog_array(objs):
    from conftest import require_bpf

    require_bpf()
    from pybpf.kernel.maps import KernelMap
    from pybpf.kernel.program import KernelProgram

    spec = load_object(objs["maps"])
    maps = {}
    progs = {}
    try:
        for n, m in spec.maps.items():
            if m.inner is not None:
                inner = KernelMap.from_spec(m.inner)
                maps[n] = KernelMap.from_spec(m, inner_map_fd=inner.fd)
                inner.close()
            else:
                maps[n] = KernelMap.from_spec(m)
        for n, p in spec.programs.items():
            progs[n] = KernelProgram(p.insns, p.prog_type, p.license, n, maps=maps)
        for idx, prog in spec.maps["jump"].extra["values"].items():
            maps["jump"].update(struct.pack("<I", idx), struct.pack("<I", progs[prog].fd))
        # legacy_array always has element 0: the program returns 2 there
        assert progs["use_maps"].test_run(bytes(14) + bytes(40)).retval == 2
    finally:
        for kp in progs.values():
            kp.close()
        for m in maps.values():
            m.close()
