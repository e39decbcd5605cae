"""Classic programs at the command line: run --filter, a classic PROG, disasm (--ebpf), verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from classic_cases import TCPDUMP, tcpdump_count
from click.testing import CliRunner

from pybpf.cbpf.insn import encode
from pybpf.cbpf.libpcap import compile_expression
from pybpf.cbpf.printer import bpf_asm, c_array, decimal, image
from pybpf.cli import main
from support.paths import PCAPS, captures

COUNTERS = ("received", "accepted", "dropped_by_filter", "delivered_bytes", "queue_drops",
            "filter_errors")  # fmt: skip


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is not installed")
def test_run_filter_counts_as_tcpdump() -> None:
    files = [str(p) for p in captures() if tcpdump_count(p, "udp or icmp6") is not None]
    r = cli("run", "--filter", "udp or icmp6", "--json", "--pcap", *files)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(COUNTERS) <= set(out) and out["program"] == "udp or icmp6" and out["maps"] == {}
    assert out["accepted"] == sum(tcpdump_count(Path(f), "udp or icmp6") for f in files)
    assert out["received"] == out["accepted"] + out["dropped_by_filter"]
    r = cli("run", "--filter", "udp", str(PCAPS / "dns_udp.pcap"))  # positional captures too
    assert r.exit_code == 0 and "accepted" in r.output


def test_run_filter_engines_agree() -> None:
    outs = [
        json.loads(
            cli("run", "--filter", "tcp", "--engine", e, "--json", *map(str, captures()[:6])).stdout
        )  # fmt: skip
        for e in ("interp", "jit")
    ]
    assert outs[0] == outs[1]


def test_run_a_classic_prog_in_every_form(tmp_path: Path) -> None:
    prog = compile_expression("udp port 53", 1).filter
    results = set()
    for name, data in [
        ("p.raw", encode(prog)),
        ("p.dd", c_array(prog).encode()),
        ("p.ddd", decimal(prog).encode()),
        ("p.d", image(prog).encode()),
        ("p.asm", bpf_asm(prog).encode()),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        r = cli("run", str(path), "--json", "--pcap", str(PCAPS / "dns_udp.pcap"))
        assert r.exit_code == 0, (name, r.output)
        out = json.loads(r.stdout)
        results.add((out["received"], out["accepted"], out["delivered_bytes"]))
    assert len(results) == 1 and next(iter(results))[1] == 2


def test_disasm_and_verify_classic(tmp_path: Path) -> None:
    prog = compile_expression("tcp port 80", 1).filter
    path = tmp_path / "p.raw"
    path.write_bytes(encode(prog))
    r = cli("disasm", str(path))
    assert r.output == image(prog)
    r = cli("disasm", "--ebpf", str(path))
    assert r.exit_code == 0 and "w0 = 0" in r.output and "skb[12]" in r.output
    r = cli("verify", str(path))
    assert r.exit_code == 0 and "accepted by bpf_check_classic" in r.output
    bad = tmp_path / "bad.asm"
    bad.write_text("ld [12]\ndiv #0\nret a\n")
    r = cli("verify", str(bad))
    assert r.exit_code == 1 and "refused at insn 1: division by the constant zero" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--filter", "tcp port", str(PCAPS / "ntp.pcap")], "can't parse filter expression"),
        (["run", "--filter", "tcp"], "give at least one capture"),
        (
            ["run", "--filter", "tcp", "--backend", "kernel", str(PCAPS / "ntp.pcap")],
            "does not apply",
        ),
        (["disasm", "--ebpf", "{ebpf}"], "this is eBPF"),
        (["run", "{broken}", str(PCAPS / "ntp.pcap")], "line 2"),
    ],
)
def test_errors(args: list[str], message: str, tmp_path: Path) -> None:
    ebpf = tmp_path / "e.bin"
    ebpf.write_bytes(bytes.fromhex("b7000000000000009500000000000000"))
    broken = tmp_path / "broken.asm"
    broken.write_text("ld [12]\nbogus x\n")
    r = cli(*[a.format(ebpf=ebpf, broken=broken) for a in args])
    assert r.exit_code != 0 and message in r.output, r.output
    assert "Traceback" not in r.output
