"""Bad input of every kind, as a hostile user gives it: never a traceback, never a hang,
never exit 0 on garbage, never a half-written output file.

One test per category: input files, numbers, encodings, captures, output files,
interrupted runs, the Python API, and the last-resort handler for bugs.
"""

from __future__ import annotations

import errno
import os
import struct

import pytest
from click.testing import CliRunner

import pybpf
from pybpf.cli import main
from pybpf.errors import BpfError
from pybpf.net.pcap import write_pcap
from support.paths import EXAMPLES, PCAPS

SOCKEX1 = str(EXAMPLES / "sockex1_kern.c")
DNS = str(PCAPS / "dns_udp.pcap")


def invoke(*args: str, input: bytes | None = None):
    r = CliRunner().invoke(main, list(args), input=input)
    text = r.output  # stdout and stderr, interleaved
    assert "Traceback" not in text, text
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r, text


def refused(*args: str, input: bytes | None = None, code: tuple[int, ...] = (1, 2)) -> str:
    r, text = invoke(*args, input=input)
    assert r.exit_code in code, (args, r.exit_code, text)
    return text


@pytest.fixture
def bad_files(tmp_path):
    """name -> path of one kind of bad input file."""
    real = pybpf.read_spec  # an object to truncate
    from pybpf.spec.cc import compile_c

    obj = compile_c(EXAMPLES / "sockex1_kern.c").read_bytes()
    assert real
    files = {
        "empty": b"",
        "garbage": os.urandom(300),
        "elf_header_only": obj[:64],
        "truncated_elf": obj[: len(obj) // 2],
        "elf_bad_section_table": obj[:40] + struct.pack("<Q", 1 << 60) + obj[48:],
        "text": b"hello world\n",
    }
    out = {}
    for name, data in files.items():
        p = tmp_path / f"{name}.o"
        p.write_bytes(data)
        out[name] = str(p)
    fifo = tmp_path / "fifo.o"
    os.mkfifo(fifo)
    out["fifo"] = str(fifo)
    out["directory"] = str(tmp_path)
    out["missing"] = str(tmp_path / "missing.o")
    out["device"] = "/dev/zero"
    return out


@pytest.mark.parametrize(
    "command",
    [
        ["run", "{f}", "--pcap", DNS],
        ["verify", "{f}"],
        ["disasm", "{f}"],
        ["asm", "{f}"],
    ],
    ids=lambda c: c[0],
)
def test_bad_input_files(bad_files, command):
    for kind, path in bad_files.items():
        if command[0] == "asm" and kind == "text":
            continue  # text is what asm reads; "hello world" is refused by the assembler below
        args = [a.format(f=path) for a in command]
        text = refused(*args)
        shown = os.path.basename(path) if kind != "device" else path
        assert shown in text or "FILE" in text or "PROG" in text, (kind, text)
    text = refused("asm", bad_files["text"])
    assert "line 1" in text or "hello" in text


def test_bad_numbers():
    refused("iov", "fault", "--seg", "0:100", "--pos", "abc")
    refused("iov", "fault", "--seg", "0:100", "--pos", "-1")
    refused("iov", "fault", "--seg", "x:100")
    refused("iov", "fault", "--pages", "0", "--seg", "0:10")
    refused("iov", "fault", "--pages", "99999999", "--seg", "0:10")
    refused("attach", SOCKEX1, "--iface", "lo", "--interval", "-1")
    refused("attach", SOCKEX1, "--iface", "lo", "--count", "0")
    refused("attach", SOCKEX1, "--iface", "no-such-if0")
    refused("run", SOCKEX1, "--pcap", DNS, "--engine", "turbo")
    refused("verify", SOCKEX1, "--log-level", "9")


def test_bad_encodings(tmp_path):
    src = tmp_path / "latin1.c"
    src.write_bytes(b"int f(void) { return '\xe9'; }\n")
    refused("run", str(src), "--pcap", DNS)
    s = tmp_path / "bin.s"
    s.write_bytes(b"\xff\xfe r0 = 1\nexit\n")
    assert "not UTF-8" in refused("asm", str(s))
    weird = tmp_path / "ünï cöde.pcap"
    weird.write_bytes((PCAPS / "dns_udp.pcap").read_bytes())
    r, text = invoke("run", SOCKEX1, "--pcap", str(weird), "--json")
    assert r.exit_code == 0, text


def test_bad_captures(tmp_path):
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(os.urandom(1000))
    trunc = tmp_path / "trunc.pcap"
    trunc.write_bytes((PCAPS / "dns_tcp.pcap").read_bytes()[:100])
    fifo = tmp_path / "fifo.pcap"
    os.mkfifo(fifo)
    wifi = tmp_path / "wifi.pcap"
    write_pcap(wifi, [bytes(range(60))], linktype=105)
    # nothing readable at all: exit 1, every file named
    text = refused("run", SOCKEX1, "--pcap", str(garbage), str(fifo), str(tmp_path), code=(1,))
    for p in (garbage, fifo, tmp_path):
        assert str(p) in text
    # damage and foreign link types are warnings; good packets still count
    r, text = invoke("run", SOCKEX1, "--pcap", str(trunc), str(wifi), DNS, "--json")
    assert r.exit_code == 0 and "link type 105" in text and "damaged at offset" in text


def test_output_files_whole_or_untouched(tmp_path):
    good = tmp_path / "good.s"
    good.write_text("r0 = 1\nexit\n")
    bad = tmp_path / "bad.s"
    bad.write_text("r0 = 1\nthis is not an instruction\n")
    out = tmp_path / "out.bin"
    out.write_bytes(b"precious")
    refused("asm", str(bad), "-o", str(out))
    assert out.read_bytes() == b"precious"  # a failed run does not touch it
    refused("asm", str(good), "-o", str(tmp_path / "no" / "such" / "dir" / "x.bin"))
    assert not (tmp_path / "no").exists()  # no directory is created
    refused("asm", str(good), "-o", str(tmp_path))
    r, _ = invoke("asm", str(good), "-o", str(out))
    assert r.exit_code == 0 and len(out.read_bytes()) == 16
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pybpf-")] == []


def test_interrupted_run_exits_130(monkeypatch):
    from pybpf.net import replay

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(replay.PacketSocket, "deliver", interrupted)
    r, text = invoke("run", SOCKEX1, "--pcap", DNS)
    assert r.exit_code == 130 and "interrupted" in text


def test_a_bug_is_one_line_and_exit_70(monkeypatch):
    from pybpf.cli import run as runmod

    def broken(*_a, **_k):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(runmod, "replay_captures", broken)
    r, text = invoke("run", SOCKEX1, "--pcap", DNS)
    assert r.exit_code == 70 and "internal error: ZeroDivisionError: boom" in text
    assert len(text.strip().splitlines()) == 1


def test_python_api_bad_arguments(tmp_path):
    cases = [
        lambda: pybpf.Program([1, 2, 3]),
        lambda: pybpf.Program("r0 = 0"),
        lambda: pybpf.Program([]),
        lambda: pybpf.Program(b"\x00" * 7),
        lambda: pybpf.load(b"garbage"),
        lambda: pybpf.load(tmp_path),
        lambda: pybpf.load(tmp_path / "missing.o"),
        lambda: pybpf.load(EXAMPLES / "sockex1_kern.c", backend="cloud"),
        lambda: pybpf.load(EXAMPLES / "sockex1_kern.c", engine="turbo"),
        lambda: pybpf.Map(1, 4, 8, 0),
        lambda: pybpf.Map(1, -4, 8, 4),
        lambda: pybpf.Map(1, 4, 8, 1 << 40),
        lambda: pybpf.Map(9999, 4, 8, 4),
        lambda: pybpf.Map(1, 4, 8, 4).typed(key="zz"),
        lambda: pybpf.Map(1, 4, 8, 4).update(b"abc", b"12345678"),
        lambda: pybpf.Map(1, 4, 8, 4).update(1, "eight!!!"),
    ]
    for i, case in enumerate(cases):
        with pytest.raises(BpfError) as ei:
            case()
        assert str(ei.value), i
        assert ei.value.errno in (
            errno.EINVAL,
            errno.E2BIG,
            errno.ENOENT,
            errno.EISDIR,
            errno.ENOMEM,
            errno.EOPNOTSUPP,
            errno.EBADF,
            errno.EACCES,
        ), (i, ei.value, ei.value.errno)
