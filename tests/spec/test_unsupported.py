"""What pybpf cannot provide is refused by name, at the C line that needs it.

kfuncs, kernel symbols and kernel configuration values (externs libbpf resolves
against the running kernel), CO-RE relocations against types pybpf does not
model, program types pybpf does not run yet, headers pybpf does not ship: each
gives one message naming the construct and ``file.c:LINE`` -- never a compiler
or loader error about something else.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pybpf import uapi
from pybpf.cli import main
from pybpf.errors import CompileError, ElfError, NotSupportedError
from pybpf.spec.cc import compile_c
from pybpf.spec.elf import load_object
from pybpf.spec.support import check_program_types, program_origin

HEAD = """#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
"""
TAIL = 'char _license[] SEC("license") = "GPL";\n'


def _src(tmp_path: Path, body: str, name: str = "p.c") -> Path:
    p = tmp_path / name
    p.write_text(HEAD + body + TAIL)
    return p


def _line(src: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(src.read_text().splitlines(), 1) if needle in ln)


def _refused(src: Path) -> str:
    with pytest.raises(ElfError) as ei:
        load_object(compile_c(src))
    return str(ei.value)


def test_kfunc_call(tmp_path):
    src = _src(
        tmp_path,
        """extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __weak __ksym;
SEC("socket") int prog(struct __sk_buff *skb)
{
	struct bpf_iter_num it;
	if (skb->len > 10)
		bpf_iter_num_new(&it, 0, 3);
	return 0;
}
""",
    )
    msg = _refused(src)
    line = _line(src, "bpf_iter_num_new(&it")
    assert msg.startswith(f"{src}:{line}: `bpf_iter_num_new(&it, 0, 3);` calls the kernel function")
    assert "'bpf_iter_num_new' (a kfunc: extern __ksym); pybpf does not support kfuncs" in msg


def test_kconfig_and_ksym_variables(tmp_path):
    src = _src(
        tmp_path,
        """extern unsigned int LINUX_KERNEL_VERSION __kconfig;
SEC("socket") int prog(struct __sk_buff *skb)
{
	return LINUX_KERNEL_VERSION > KERNEL_VERSION(5, 0, 0);
}
""",
    )
    msg = _refused(src)
    assert f"{src}:{_line(src, 'return LINUX_KERNEL_VERSION')}:" in msg
    assert "reads the kernel configuration value 'LINUX_KERNEL_VERSION' (extern __kconfig)" in msg
    src = _src(
        tmp_path,
        """extern const int bpf_prog_active __ksym;
SEC("socket") int prog(struct __sk_buff *skb)
{
	return *(volatile const int *)&bpf_prog_active;
}
""",
        "k.c",
    )
    msg = _refused(src)
    assert "uses the kernel symbol 'bpf_prog_active' (extern __ksym)" in msg
    assert f"{src}:{_line(src, 'return *(volatile')}:" in msg


def test_a_call_to_a_c_library_function(tmp_path):
    src = _src(
        tmp_path,
        """#include <string.h>
SEC("socket") int prog(struct __sk_buff *skb)
{
	char a[64] = {}, b[64] = {};
	return memcmp(a, b, skb->len & 63);
}
""",
    )
    msg = _refused(src)
    assert "calls 'memcmp', a function the program does not define: eBPF has no C library" in msg
    assert f"{src}:{_line(src, 'return memcmp')}:" in msg


CORE = """#define __pai __attribute__((preserve_access_index))
struct task_struct { int pid; } __pai;
struct __sk_buff___same { __u32 len; __u32 pkt_type; __u32 mark; } __pai;
struct __sk_buff___shuffled { __u32 len; __u32 mark; } __pai;
SEC("socket") int same(struct __sk_buff *skb)
{
	struct __sk_buff___same *s = (void *)skb;
	return s->len + s->mark;
}
SEC("socket") int task(struct __sk_buff *skb)
{
	struct task_struct *t = (void *)(long)bpf_get_current_task();
	return t->pid;
}
SEC("socket") int shuffled(struct __sk_buff *skb)
{
	struct __sk_buff___shuffled *s = (void *)skb;
	return s->mark;
}
"""


def test_core_relocations(tmp_path):
    """Honoured where they change nothing; refused, at their line, against unmodelled types."""
    full = _src(tmp_path, CORE)
    msg = _refused(full)
    assert f"{full}:{_line(full, 'return t->pid')}:" in msg
    assert "needs a CO-RE relocation that pybpf cannot apply" in msg
    assert "struct task_struct is not a type pybpf models" in msg
    shuffled = _src(tmp_path, CORE.replace('SEC("socket") int task', "static int task"), "s.c")
    msg = _refused(shuffled)
    assert f"{shuffled}:{_line(shuffled, 'return s->mark;')}:" in msg
    assert "byte offset of struct __sk_buff___shuffled.mark is 8 in the kernel's ABI" in msg
    assert "compiled with 4" in msg
    same = _src(
        tmp_path,
        CORE.replace('SEC("socket") int task', "static int task").replace(
            'SEC("socket") int shuffled', "static int shuffled"
        ),
        "ok.c",
    )
    import pybpf

    prog = pybpf.load(same).program("same")
    assert prog.test_run(bytes(14) + bytes([0x45]) + bytes(49)).retval == 50  # len, mark 0


XDP = """SEC("xdp") int pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
SEC("socket") int sock(struct __sk_buff *skb)
{
	return 0;
}
SEC("weird") int odd(void *ctx)
{
	return 0;
}
"""


def test_program_types_pybpf_does_not_run(tmp_path):
    src = _src(tmp_path, XDP)
    spec = load_object(compile_c(src))
    assert program_origin(spec.programs["pass"]) == f"{src}:{_line(src, 'return XDP_PASS')}"
    with pytest.raises(NotSupportedError) as ei:
        check_program_types(spec, {uapi.BPF_PROG_TYPE_SOCKET_FILTER})
    lines = str(ei.value).splitlines()
    assert lines == [
        f"{src}:{_line(src, 'return XDP_PASS')}: program 'pass' (SEC('xdp')) is a xdp program, "
        "a type pybpf does not support yet",
        f"{src}:{_line(src, 'return 0;') + 4}: program 'odd' is in section 'weird', which names "
        'no program type (SEC("socket"), SEC("xdp"), SEC("tc") ... as libbpf names them)',
    ]
    with pytest.raises(NotSupportedError) as ei:
        check_program_types(spec, {uapi.BPF_PROG_TYPE_SOCKET_FILTER, uapi.BPF_PROG_TYPE_XDP})
    assert "'odd'" in str(ei.value) and "'pass'" not in str(ei.value)
    del spec.programs["odd"]
    check_program_types(spec, {uapi.BPF_PROG_TYPE_SOCKET_FILTER, uapi.BPF_PROG_TYPE_XDP})


def test_headers_pybpf_does_not_ship(tmp_path):
    src = tmp_path / "h.c"
    src.write_text("#include <linux/bpf.h>\n#include <linux/netlink.h>\nint x;\n")
    with pytest.raises(CompileError) as ei:
        compile_c(src)
    text = str(ei.value)
    assert f"{src}:2: <linux/netlink.h> is not among the headers pybpf ships (" in text
    assert "linux/bpf.h" in text and "pybpf btf dump /sys/kernel/btf/vmlinux" in text
    src.write_text('#include "vmlinux.h"\nint x;\n')
    with pytest.raises(CompileError, match="vmlinux.h is generated, not shipped"):
        compile_c(src)
    src.write_text("#include <stdio.h>\nint x;\n")
    with pytest.raises(CompileError, match="eBPF programs have no C library"):
        compile_c(src)
    res = CliRunner().invoke(main, ["cc", str(src), "-o", str(tmp_path / "h.o")])
    assert res.exit_code == 1 and "<stdio.h> is not found" in res.output
