"""`pybpf cc`: restricted C -> eBPF objects with the ziglang clang, and the shipped headers."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pybpf import isa, uapi
from pybpf.errors import CompileError
from pybpf.spec.btf import BTF, BTF_KIND_STRUCT
from pybpf.spec.cc import INCLUDE_DIR, compile_c
from pybpf.spec.elf import load_object

VMLINUX = Path("/sys/kernel/btf/vmlinux")


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(d))
    return d


def _write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


SIMPLE = """
#include <bpf_helpers.h>
SEC("socket") int prog(struct __sk_buff *skb) { return VALUE; }
char _license[] SEC("license") = "GPL";
"""


def test_compile_cache_and_output(tmp_path, cache):
    src = _write(tmp_path / "p.c", SIMPLE)
    obj = compile_c(src, defines=["VALUE=7"])
    assert obj.parent == cache and obj.read_bytes()[:4] == b"\x7fELF"
    mtime = obj.stat().st_mtime_ns
    t = time.monotonic()
    again = compile_c(src, defines=["VALUE=7"])
    assert again == obj and obj.stat().st_mtime_ns == mtime
    assert time.monotonic() - t < 5
    prog = load_object(obj).programs["prog"]
    assert prog.insns[-2].imm == 7 and prog.insns[-1].code == isa.BPF_JMP | isa.BPF_EXIT
    # another define -> another object; -o copies
    out = compile_c(src, tmp_path / "out" / "p.o", defines=["VALUE=9"])
    assert out == tmp_path / "out" / "p.o"
    assert load_object(out).programs["prog"].insns[-2].imm == 9
    # the source changes -> recompiled
    _write(src, SIMPLE.replace("VALUE", "VALUE + 1"))
    assert load_object(compile_c(src, defines=["VALUE=7"])).programs["prog"].insns[-2].imm == 8


def test_header_change_invalidates_cache(tmp_path, cache):
    inc = tmp_path / "inc"
    inc.mkdir()
    _write(inc / "val.h", "#define VALUE 3\n")
    src = _write(tmp_path / "q.c", '#include "val.h"\n' + SIMPLE)
    src.write_text(
        SIMPLE.replace("#include <bpf_helpers.h>", "#include <bpf_helpers.h>\n#include <val.h>")
    )
    a = compile_c(src, include_dirs=[inc])
    assert load_object(a).programs["prog"].insns[-2].imm == 3
    _write(inc / "val.h", "#define VALUE 4\n")
    b = compile_c(src, include_dirs=[inc])
    assert a != b and load_object(b).programs["prog"].insns[-2].imm == 4


def test_compile_errors_carry_compiler_text(tmp_path, cache):
    bad = _write(tmp_path / "bad.c", "int broken( {\n")
    with pytest.raises(CompileError) as ei:
        compile_c(bad)
    assert "bad.c:1:" in str(ei.value) and "error" in str(ei.value)
    with pytest.raises(CompileError, match="no such source"):
        compile_c(tmp_path / "missing.c")
    # no libc, no system headers
    libc = _write(tmp_path / "libc.c", "#include <stdio.h>\nint x;\n")
    with pytest.raises(CompileError, match="stdio.h"):
        compile_c(libc)


def test_object_has_btf_and_line_info(tmp_path, cache):
    src = _write(tmp_path / "l.c", SIMPLE)
    spec = load_object(compile_c(src, defines=["VALUE=1"]))
    assert spec.btf is not None
    prog = spec.programs["prog"]
    assert prog.line_info and prog.line_info[0].file.endswith("l.c")
    assert prog.func_info


def _helper_ids(text: str) -> dict[str, int]:
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"\(\* const bpf_(\w+)\)\(.*\) = \(void \*\) (\d+);", text)
    }


def test_every_helper_declared_with_its_id():
    ids = _helper_ids((INCLUDE_DIR / "bpf" / "bpf_helper_defs.h").read_text())
    want = {n: i for i, n in uapi.FUNC_NAMES.items() if i}
    assert ids == want


def test_helper_calls_and_packet_loads(tmp_path, cache):
    src = _write(
        tmp_path / "h.c",
        """
#include <bpf_net.h>
SEC("socket") int prog(struct __sk_buff *skb)
{
	char buf[4];
	__u64 r = load_byte(skb, 1) + load_half(skb, 2) + load_word(skb, 4);
	r += bpf_get_prandom_u32() + bpf_ktime_get_ns();
	r += bpf_skb_load_bytes(skb, 0, buf, 4) + buf[1];
	r += bpf_get_socket_cookie(skb) + bpf_get_smp_processor_id();
	return r + skb->len + skb->pkt_type + skb->protocol;
}
char _license[] SEC("license") = "GPL";
""",
    )
    prog = load_object(compile_c(src)).programs["prog"]
    calls = [i.imm for i in prog.insns if isa.is_helper_call(i)]
    assert calls == [
        uapi.FUNC_IDS[n]
        for n in (
            "get_prandom_u32",
            "ktime_get_ns",
            "skb_load_bytes",
            "get_socket_cookie",
            "get_smp_processor_id",
        )
    ]
    ldabs = [(i.code, i.imm) for i in prog.insns if isa.BPF_MODE(i.code) == isa.BPF_ABS]
    assert sorted(ldabs, key=lambda x: x[1]) == [
        (isa.BPF_LD | isa.BPF_ABS | isa.BPF_B, 1),
        (isa.BPF_LD | isa.BPF_ABS | isa.BPF_H, 2),
        (isa.BPF_LD | isa.BPF_ABS | isa.BPF_W, 4),
    ]
    # context reads at the kernel's offsets: len 0, pkt_type 4, protocol 16
    ctx_offs = sorted(
        {
            i.off
            for i in prog.insns
            if i.code == isa.BPF_LDX | isa.BPF_MEM | isa.BPF_W and i.src == 6
        }
    )
    assert {0, 4, 16} <= set(ctx_offs)


def test_sk_buff_layout_matches_kernel(tmp_path, cache):
    if not VMLINUX.exists():
        pytest.skip("/sys/kernel/btf/vmlinux not available: cannot read the kernel's layout")
    src = _write(tmp_path / "sk.c", SIMPLE)
    spec = load_object(compile_c(src, defines=["VALUE=0"]))
    ours = spec.btf
    kern = BTF.parse(VMLINUX.read_bytes(), section="vmlinux")

    def layout(btf: BTF, name: str) -> list[tuple[str, int, int]]:
        t = btf.type(btf.find(name, BTF_KIND_STRUCT))
        out = []
        for m in t.members:
            mt = btf.resolve(m.type)
            if not m.name and mt.kind == 5:  # anonymous union (__bpf_md_ptr)
                out.append((mt.members[0].name, m.bit_offset, btf.size(m.type)))
            else:
                out.append((m.name, m.bit_offset, btf.size(m.type)))
        return out

    assert layout(ours, "__sk_buff") == layout(kern, "__sk_buff")
    assert ours.size(ours.find("__sk_buff", BTF_KIND_STRUCT)) == kern.size(
        kern.find("__sk_buff", BTF_KIND_STRUCT)
    )


def test_cli_cc(tmp_path, cache):
    from pybpf.cli import main

    src = _write(tmp_path / "c.c", SIMPLE)
    runner = CliRunner()
    res = runner.invoke(main, ["cc", str(src), "-o", str(tmp_path / "c.o"), "-D", "VALUE=5"])
    assert res.exit_code == 0, res.output
    assert load_object(tmp_path / "c.o").programs["prog"].insns[-2].imm == 5
    res = runner.invoke(main, ["cc", str(src), "-D", "VALUE=6"])
    assert res.exit_code == 0 and (tmp_path / "c.o").exists()
    bad = _write(tmp_path / "bad.c", "int x(\n")
    res = runner.invoke(main, ["cc", str(bad)])
    assert res.exit_code == 1 and "compilation failed" in res.output
