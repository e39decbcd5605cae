"""Seccomp in user space: actions, precedence, the kernel's filter check, text, tables, engines."""

from __future__ import annotations

import ctypes
import errno
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.cbpf import ClassicError, SockFilter
from pybpf.cbpf.asm import assemble as bpf_asm
from pybpf.cbpf.insn import decode
from pybpf.errors import AsmError, BpfError
from pybpf.seccomp import (
    Action,
    FilterStack,
    SeccompData,
    SeccompFilter,
    assemble,
    dump,
    parse_action,
    precedence,
    read_policy,
    resolve_syscall,
    syscall_name,
)
from pybpf.seccomp.actions import (
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_KILL_THREAD,
    SECCOMP_RET_LOG,
    SECCOMP_RET_TRACE,
    SECCOMP_RET_TRAP,
    SECCOMP_RET_USER_NOTIF,
)
from pybpf.seccomp.check import check_seccomp
from pybpf.seccomp.data import AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64
from pybpf.seccomp.filter import MAX_INSNS_PER_PATH
from pybpf.seccomp.libseccomp import Arg, Policy, parse_rules
from pybpf.seccomp.syscalls import syscall_table

ORDER = [SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO,
         SECCOMP_RET_USER_NOTIF, SECCOMP_RET_TRACE, SECCOMP_RET_LOG, SECCOMP_RET_ALLOW]  # fmt: skip


def test_actions_read_and_print() -> None:
    for text, value in [
        ("ALLOW", 0x7FFF0000),
        ("ERRNO(1)", 0x50001),
        ("errno(0x16)", 0x50016),
        ("KILL", 0),
        ("KILL_THREAD", 0),
        ("KILL_PROCESS", 0x80000000),
        ("SECCOMP_RET_TRAP", 0x30000),
        ("TRACE(7)", 0x7FF00007),
        ("LOG", 0x7FFC0000),
        ("USER_NOTIF", 0x7FC00000),
        ("0x7fff0000", 0x7FFF0000),
    ]:
        assert parse_action(text) == value, text
    assert str(Action(0x50001)) == "ERRNO(1)"
    assert Action(0x80000000).to_json() == {"action": "KILL_PROCESS", "data": 0}
    assert Action(0x50001).to_json() == {"action": "ERRNO", "data": 1}
    odd = Action(0x00010005)
    assert not odd.known and odd.effective == "KILL_PROCESS"
    assert Action(0x50000 | 5000).errno == 4095
    for bad in ("NOPE", "ERRNO(x)", "ERRNO(70000)", "ALLOW("):
        with pytest.raises(BpfError):
            parse_action(bad)


@given(st.lists(st.integers(0, 0xFFFF_FFFF), max_size=6))
def test_precedence_is_the_lowest_signed_action_newest_first(results: list[int]) -> None:
    got = precedence(results)
    if not results:
        assert got.ret == SECCOMP_RET_ALLOW
        return

    def key(r: int) -> int:
        v = r & 0xFFFF0000
        return v - (1 << 32) if v & 0x80000000 else v

    best = min(results + [SECCOMP_RET_ALLOW], key=key)
    assert key(got.ret) == key(best)
    # a tie goes to the first (newest) filter with that action
    first = next((r for r in results if key(r) == key(best)), SECCOMP_RET_ALLOW)
    assert got.ret == first


def test_precedence_order_is_the_kernels() -> None:
    for i, a in enumerate(ORDER):
        for b in ORDER[i + 1 :]:
            assert precedence([b | 1, a | 2]).action == a
            assert precedence([a | 2, b | 1]).action == a


def test_stack_runs_newest_first_and_caps_the_path() -> None:
    allow = SeccompFilter(assemble("return ALLOW"))
    e1 = SeccompFilter(assemble("return ERRNO(1)"))
    e2 = SeccompFilter(assemble("return ERRNO(2)"))
    st_ = FilterStack([e1, allow, e2])
    assert str(st_.evaluate(SeccompData(0))) == "ERRNO(2)"  # the newest of the tie
    big = SeccompFilter([SockFilter(0, 0, 0, 1)] * 4095 + [SockFilter(6, 0, 0, SECCOMP_RET_ALLOW)])
    stack = FilterStack()
    with pytest.raises(ClassicError) as ei:
        for _ in range(MAX_INSNS_PER_PATH // 4096 + 1):
            stack.install(big)
    assert ei.value.errno == errno.ENOMEM
    assert len(stack) == MAX_INSNS_PER_PATH // 4100


@pytest.mark.parametrize(
    ("src", "reason"),
    [
        ("ldh [0]\nret #0", "16-bit load"),
        ("ldb [4]\nret #0", "8-bit load"),
        ("ld [64]\nret #0", "outside struct seccomp_data"),
        ("ld [2]\nret #0", "4-byte aligned"),
        ("ld #proto\nret #0", "ancillary"),
        ("ld [x + 0]\nret #0", "indirect load"),
        ("ldxb 4*([0]&0xf)\nret #0", "ldxb"),
        ("ld #1\nmod #3\nret a", "BPF_MOD"),
    ],
)
def test_seccomp_check_filter_refusals(src: str, reason: str) -> None:
    with pytest.raises(ClassicError) as ei:
        check_seccomp(bpf_asm(src))
    assert ei.value.errno == errno.EINVAL and reason in str(ei.value)


def test_seccomp_rewrites_loads_and_len() -> None:
    prog = check_seccomp(bpf_asm("ld [4]\nld #len\nldx #len\nret a"))
    assert [f.code for f in prog[:3]] == [0x21, 0x00, 0x01]  # LDX|W|ABS, LD|IMM, LDX|IMM
    assert prog[1].k == prog[2].k == 64
    f = SeccompFilter(bpf_asm("ld #len\nret a"), engine="classic")
    assert f.run(SeccompData(0)) == 64


def test_seccomp_data_layout() -> None:
    d = SeccompData(-1, AUDIT_ARCH_X86_64, 0x1122334455667788, (1 << 63, 5))
    raw = d.pack("little")
    assert raw[:4] == b"\xff\xff\xff\xff" and raw[4:8] == (0xC000003E).to_bytes(4, "little")
    assert raw[8:16] == (0x1122334455667788).to_bytes(8, "little")
    assert d.words()[5] == 0x80000000 and d.words()[4] == 0 and d.words()[6] == 5
    with pytest.raises(BpfError, match="at most 6"):
        SeccompData(0, args=(0,) * 7)


# --- engines --------------------------------------------------------------------------------
@st.composite
def policies(draw) -> list[SockFilter]:
    """libseccomp-shaped policies: arch check, syscall dispatch, 64-bit argument comparisons."""
    nrs = draw(st.lists(st.integers(0, 40), min_size=1, max_size=4, unique=True))
    lines = ["A = arch", "if (A != ARCH_X86_64) goto bad", "A = sys_number"]
    for j, nr in enumerate(nrs):
        lines.append(f"if (A != {nr}) goto n{j}")
        arg = draw(st.integers(0, 5))
        half = draw(st.sampled_from(["", " >> 32"]))
        op = draw(st.sampled_from(["==", "!=", ">", ">=", "<", "<=", "&"]))
        k = draw(st.integers(0, 0xFFFF_FFFF))
        act = draw(st.sampled_from(["ALLOW", "ERRNO(13)", "TRAP(3)", "TRACE(9)", "LOG",
                                    "KILL_THREAD", "USER_NOTIF", "0x00010000"]))  # fmt: skip
        lines += [f"A = args[{arg}]{half}", f"if (A {op} {k:#x}) goto a{j}", "return ERRNO(1)",
                  f"a{j}: return {act}", f"n{j}: A = sys_number"]  # fmt: skip
    lines += ["return ALLOW", "bad: return KILL_PROCESS"]
    return assemble("\n".join(lines))


@settings(max_examples=200, deadline=None)
@given(policies(), st.integers(0, 42), st.lists(st.integers(0, 2**64 - 1), max_size=6),
       st.sampled_from([AUDIT_ARCH_X86_64, AUDIT_ARCH_I386]))  # fmt: skip
def test_engines_agree(prog, nr, args, arch) -> None:
    data = SeccompData(nr, arch, 0, tuple(args))
    got = {e: SeccompFilter(prog, engine=e).run(data) for e in ("classic", "interp")}
    assert got["classic"] == got["interp"]


def test_jit_agrees() -> None:
    p = Policy("KILL_PROCESS")
    p.add("ALLOW", "read")
    p.add("ERRNO(1)", "close", Arg(0) == 5)
    p.add("ALLOW", "lseek", Arg(1) > 1 << 40)
    raw = p.export()
    jit, interp = SeccompFilter(raw, engine="jit"), SeccompFilter(raw, engine="interp")
    for nr in (0, 3, 8, 1, 60):
        for a1 in (0, 1 << 40, (1 << 40) + 1, 2**64 - 1):
            d = SeccompData(nr, args=(5, a1))
            assert jit.run(d) == interp.run(d)


# --- text -------------------------------------------------------------------------------------
def test_dump_names_syscalls_and_round_trips() -> None:
    p = Policy("KILL_PROCESS")
    for name in ("read", "write", "exit_group"):
        p.add("ALLOW", name)
    p.add("ERRNO(1)", "ioctl", Arg(1).masked(0xFF) == 0x54)
    prog = decode(p.export())
    text = dump(prog)
    assert "if (A != ARCH_X86_64)" in text and "if (A == read)" in text
    assert "args[1] >> 32" in text and "return ERRNO(1)" in text
    assert assemble(text) == prog
    bare = "\n".join(line.split("  ", 1)[1] for line in text.splitlines()[2:])
    assert assemble(bare) == prog  # the statements alone, numbered gotos


def test_dump_uses_the_policy_arch() -> None:
    prog = assemble("A = arch\nif (A != ARCH_AARCH64) goto k\nA = nr\n"
                    "if (A == 63) goto k\nreturn ALLOW\nk: return KILL_PROCESS", arch="aarch64")  # fmt: skip
    assert "if (A == read)" in dump(prog)  # 63 is read on aarch64
    assert "if (A == 63)" not in dump(prog)


@pytest.mark.parametrize(
    ("src", "line", "what"),
    [
        ("A = nosuchthing\nreturn ALLOW", 1, "not a number"),
        ("goto nowhere\nreturn ALLOW", 1, "no such label"),
        ("here: return ALLOW\ngoto here", 2, "forward"),
        ("A = arch\nfrobnicate\n", 2, "cannot read"),
        ("return MAYBE", 1, "unknown seccomp action"),
        ("0003: return ALLOW", 1, "out of order"),
        ("if !(A == 1) goto x\nx: return ALLOW", 1, "A & VALUE"),
    ],
)
def test_asm_errors_name_the_line(src: str, line: int, what: str) -> None:
    with pytest.raises(AsmError) as ei:
        assemble(src)
    assert ei.value.line == line and what in str(ei.value)


def test_read_policy_in_every_form(tmp_path: Path) -> None:
    prog = assemble("A = nr\nif (A == close) goto e\nreturn ALLOW\ne: return ERRNO(9)")
    from pybpf.cbpf import printer
    from pybpf.cbpf.insn import encode

    forms = {
        "raw.bpf": encode(prog),
        "seccomp.txt": dump(prog).encode(),
        "asm.txt": printer.bpf_asm(prog).encode(),
        "dd.h": printer.c_array(prog).encode(),
        "ddd.txt": printer.decimal(prog).encode(),
        "image.txt": printer.image(prog).encode(),
    }
    for name, data in forms.items():
        (tmp_path / name).write_bytes(data)
        assert read_policy(tmp_path / name) == prog, name
    (tmp_path / "bad.txt").write_text("A = arch\nif (A == 1 goto x\n")
    with pytest.raises(BpfError, match=r"bad\.txt: line 2"):
        read_policy(tmp_path / "bad.txt")


# --- syscall tables ----------------------------------------------------------------------------
def _header_numbers(path: str, prefix: str = "__NR_") -> dict[str, int]:
    out = {}
    try:
        text = Path(path).read_text()
    except OSError:
        return out
    for m in re.finditer(rf"#define\s+{prefix}(\w+)\s+(\d+)\b", text):
        out[m.group(1)] = int(m.group(2))
    return out


@pytest.mark.parametrize(
    ("arch", "header"),
    [
        ("x86_64", "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
        ("i386", "/usr/include/x86_64-linux-gnu/asm/unistd_32.h"),
        ("aarch64", "/usr/include/asm-generic/unistd.h"),
    ],
)
def test_tables_agree_with_the_installed_kernel_headers(arch: str, header: str) -> None:
    want = _header_numbers(header)
    if not want:
        pytest.skip(f"{header} is not installed (linux-libc-dev)")
    table = syscall_table(arch)
    if arch == "aarch64":  # asm-generic also defines arch-optional and 32-bit-only numbers
        want = {k: v for k, v in want.items() if k in table}
    common = set(want) & set(table)
    assert len(common) > 280
    assert {k: want[k] for k in common} == {k: table[k] for k in common}


def test_tables_agree_with_the_installed_libseccomp() -> None:
    from pybpf.seccomp.libseccomp import libseccomp

    lib = libseccomp()
    checked = 0
    for arch, token in (("x86_64", AUDIT_ARCH_X86_64), ("i386", AUDIT_ARCH_I386),
                        ("aarch64", AUDIT_ARCH_AARCH64)):  # fmt: skip
        for name, nr in syscall_table(arch).items():
            got = lib.seccomp_syscall_resolve_name_arch(token, name.encode())
            if got < 0:  # unknown to this (older) libseccomp, or one of its pseudo-numbers
                continue
            assert got == nr, (arch, name)
            checked += 1
    assert checked > 900
    name = ctypes.cast(lib.seccomp_syscall_resolve_num_arch(AUDIT_ARCH_X86_64, 0), ctypes.c_char_p)
    assert name.value == b"read"


def test_names_and_numbers() -> None:
    assert resolve_syscall("read") == 0 and resolve_syscall("__NR_write") == 1
    assert resolve_syscall("read", "aarch64") == 63 and resolve_syscall("read", "i386") == 3
    assert resolve_syscall("0x3c") == 60
    assert syscall_name(59) == "execve" and syscall_name(0x40000000 | 1) == "x32:write"
    assert syscall_name(AUDIT_ARCH_I386 and 11, AUDIT_ARCH_I386) == "execve"
    with pytest.raises(BpfError, match="unknown system call"):
        resolve_syscall("nosuchcall")


# --- libseccomp rules --------------------------------------------------------------------------
def test_rules_text() -> None:
    policy = parse_rules(
        "default KILL_PROCESS  # everything else\n"
        "arch x86_64\n"
        "ALLOW read\n"
        "ERRNO(1) close arg0 == 5\n"
        "ALLOW lseek arg1 > 0x10000000000, arg2 != 1\n"
        "ALLOW ioctl arg1 & 0xff == 0x54\n"
    )
    f = SeccompFilter(policy.export())
    assert str(f.evaluate(SeccompData(3, args=(5,)))) == "ERRNO(1)"
    assert str(f.evaluate(SeccompData(3, args=(5 + (1 << 32),)))) == "KILL_PROCESS"
    assert str(f.evaluate(SeccompData(8, args=(0, (1 << 40) + 1, 0)))) == "ALLOW"
    assert str(f.evaluate(SeccompData(8, args=(0, (1 << 40) + 1, 1)))) == "KILL_PROCESS"
    assert str(f.evaluate(SeccompData(16, args=(0, 0x1254)))) == "ALLOW"
    assert (
        str(f.evaluate(SeccompData(0, AUDIT_ARCH_I386))) == "KILL_THREAD"
    )  # libseccomp's bad arch
    for bad, line in (("ALLOW read\n", 1), ("default ALLOW\nALLOW nosuch\n", 2),
                      ("default ALLOW\nALLOW read arg9 == 1\n", 2)):  # fmt: skip
        with pytest.raises(AsmError) as ei:
            parse_rules(bad)
        assert ei.value.line == line
