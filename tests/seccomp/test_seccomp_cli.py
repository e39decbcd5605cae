"""``pybpf seccomp dump|asm|emu|rules``: output, JSON, and one-line errors with a non-zero exit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from pybpf.cbpf.insn import decode, encode
from pybpf.cli import main
from pybpf.seccomp import assemble
from pybpf.seccomp.libseccomp import Arg, Policy

RULES = """\
default KILL_PROCESS
ALLOW read
ERRNO(1) close arg0 == 5
ALLOW lseek arg1 > 0x10000000000
"""


def cli(*args: str):
    return CliRunner().invoke(main, ["seccomp", *args], catch_exceptions=False)


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    p = Policy("KILL_PROCESS")
    p.add("ALLOW", "read")
    p.add("ERRNO(1)", "close", Arg(0) == 5)
    p.add("ALLOW", "lseek", Arg(1) > 1 << 40)
    path = tmp_path / "policy.bpf"
    path.write_bytes(p.export())
    return path


def test_emu_prints_the_action(policy: Path) -> None:
    for args, want in [
        (["read"], "ALLOW"),
        (["close", "5"], "ERRNO(1)"),
        (["close", "0x100000005"], "KILL_PROCESS"),
        (["3", "5"], "ERRNO(1)"),
        (["lseek", "0", "0x10000000001"], "ALLOW"),
        (["lseek", "0", str(1 << 40)], "KILL_PROCESS"),
        (["lseek", "0", "-1"], "ALLOW"),  # -1 is the 64-bit 0xffff...
        (["read", "--arch", "i386"], "KILL_THREAD"),
        (["write"], "KILL_PROCESS"),
    ]:
        r = cli("emu", str(policy), *args)
        assert r.exit_code == 0 and r.output.strip() == want, (args, r.output)


def test_emu_json_and_engines(policy: Path) -> None:
    for engine in ("interp", "jit", "classic"):
        r = cli("emu", str(policy), "close", "5", "--json", "--engine", engine)
        assert json.loads(r.output) == {"action": "ERRNO", "data": 1}


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 system calls")
def test_emu_in_the_kernel(policy: Path) -> None:
    r = cli("emu", str(policy), "close", "5", "--kernel", "--json")
    out = json.loads(r.output)
    assert out["agree"] and out["kernel"] == {"kind": "returned", "ret": -1, "errno": 1}
    r = cli("emu", str(policy), "getppid", "--kernel")
    assert r.exit_code == 0 and "the process was killed" in r.output


def test_emu_stacks_policies(policy: Path, tmp_path: Path) -> None:
    second = tmp_path / "second.txt"
    second.write_text("A = nr\nif (A == read) goto t\nreturn ALLOW\nt: return TRAP(9)\n")
    r = cli("emu", str(policy), "read", "--stack", str(second))
    assert r.output.strip() == "TRAP(9)"


def test_dump_and_asm_round_trip(policy: Path, tmp_path: Path) -> None:
    r = cli("dump", str(policy))
    assert "if (A == read)" in r.output and "return ERRNO(1)" in r.output
    text = tmp_path / "p.txt"
    text.write_text(r.output)
    out = tmp_path / "p2.bpf"
    r = cli("asm", str(text), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == policy.read_bytes()
    for fmt in ("bpf_asm", "tcpdump", "c", "ddd", "ebpf"):
        r = cli("dump", str(policy), "--format", fmt)
        assert r.exit_code == 0 and r.output, fmt
    r = cli("asm", str(text), "--format", "c")
    assert r.output.startswith("{ 0x20, 0, 0, 0x00000004 },")


def test_rules_compile_with_libseccomp(tmp_path: Path) -> None:
    rules = tmp_path / "rules.txt"
    rules.write_text(RULES)
    out = tmp_path / "r.bpf"
    r = cli("rules", str(rules), "-o", str(out))
    assert r.exit_code == 0
    prog = decode(out.read_bytes())
    r = cli("emu", str(out), "close", "5")
    assert r.output.strip() == "ERRNO(1)" and len(prog) > 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["emu", "{policy}", "nosuchcall"], "unknown system call 'nosuchcall'"),
        (["emu", "{policy}", "read", "12x"], "is not a number"),
        (["emu", "{policy}", "read", str(1 << 64)], "does not fit in 64 bits"),
        (["emu", "{policy}", "read", *["1"] * 7], "at most 6 arguments"),
        (["emu", "{policy}", "read", "--arch", "sparc"], "unknown architecture"),
        (["emu", "{bad}", "read"], "seccomp(2) would refuse this policy"),
        (["asm", "{bad}"], "seccomp(2) would refuse this policy"),
        (["asm", "{broken}"], "line 2"),
        (["emu", "{missing}", "read"], "does not exist"),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(
    args: list[str], message: str, policy: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("A = data[2]\nreturn ALLOW\n")
    broken = tmp_path / "broken.txt"
    broken.write_text("A = arch\nif (A == 1 goto x\n")
    names = {"policy": policy, "bad": bad, "broken": broken, "missing": tmp_path / "none"}
    r = CliRunner().invoke(main, ["seccomp", *[a.format(**names) for a in args]])
    assert r.exit_code != 0
    assert message in r.output, r.output
    assert "Traceback" not in r.output


def test_dump_warns_about_a_policy_the_kernel_refuses(tmp_path: Path) -> None:
    p = tmp_path / "half.txt"
    p.write_text("A = (u16)data[0]\nreturn ALLOW\n")
    r = CliRunner().invoke(main, ["seccomp", "dump", str(p)])
    assert r.exit_code == 0 and "A = (u16)data[0]" in r.stdout
    assert "seccomp(2) would refuse" in r.stderr
    assert encode(assemble(r.stdout)) == encode(assemble(p.read_text()))
