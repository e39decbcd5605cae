"""``pybpf run``: JSON schema, tables, exit codes, damaged and bad input (CliRunner and subprocess)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import require_bpf
from pybpf.cli import main
from pybpf.net.capture import read_packets

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
from support.paths import PCAPS  # noqa: E402

SOCKEX1 = str(EXAMPLES / "sockex1_kern.c")
SOCKEX2 = str(EXAMPLES / "sockex2_kern.c")
ALL_PCAPS = sorted(str(p) for p in PCAPS.glob("*.pcap*"))


def run(*args: str):
    return CliRunner().invoke(main, ["run", *args], catch_exceptions=False)


#: the packet socket's counters, the one vocabulary of run, attach and --json
COUNTERS = (
    "received",
    "accepted",
    "dropped_by_filter",
    "delivered_bytes",
    "queue_drops",
    "filter_errors",
)


def entries(dump: list[dict]) -> dict[str, str]:
    """{key hex: value hex} of a map dumped as bpftool -j does (byte lists "0x..")."""
    return {"".join(b[2:] for b in e["key"]): "".join(b[2:] for b in e["value"]) for e in dump}


def run_json(*args: str) -> dict:
    r = run(*args, "--json")
    assert r.exit_code == 0, r.output + r.stderr
    return json.loads(r.stdout)


def test_json_schema_and_every_array_index():
    d = run_json(SOCKEX1, "--pcap", str(PCAPS / "dns_udp.pcap"))
    assert set(d) == {"program", *COUNTERS, "maps"}
    assert d["program"] == "count_by_protocol"
    assert (d["received"], d["accepted"], d["delivered_bytes"]) == (2, 0, 0)
    assert (d["dropped_by_filter"], d["queue_drops"], d["filter_errors"]) == (2, 0, 0)
    dump = d["maps"]["proto_count"]
    assert all(set(e) == {"key", "value"} for e in dump)  # no BTF: bytes only, as bpftool
    assert dump[0]["key"] == ["0x00", "0x00", "0x00", "0x00"]
    m = entries(dump)
    assert sorted(m) == [struct.pack("<I", i).hex() for i in range(256)]
    assert all(len(v) == 16 and v == v.lower() for v in m.values())
    assert m[struct.pack("<I", 17).hex()] == struct.pack("<q", 2).hex()
    assert sum(int.from_bytes(bytes.fromhex(v), "little") for v in m.values()) == 2


def test_json_formats_btf_values_as_bpftool():
    d = run_json(str(EXAMPLES / "sockex3_btf_kern.c"), "--pcap", str(PCAPS / "dns_udp.pcap"))
    (flow, *_rest) = d["maps"]["flows"]
    assert flow["formatted"]["value"] == {"packets": 1, "bytes": 266}
    assert isinstance(flow["formatted"]["key"], int)


def test_several_captures_after_one_pcap_option():
    d = run_json(SOCKEX2, "--pcap", *ALL_PCAPS)
    frames = sum(
        len(read_packets(p, strict=False)) for p in ALL_PCAPS if not p.endswith(("empty.pcap",))
    )
    assert d["received"] == frames
    flows = entries(d["maps"]["dst_count"])
    assert list(flows) == sorted(flows)  # hash rows sorted by key: runs diff clean
    assert len(flows) > 10
    # 192.168.1.11, the DNS server of dns_udp.pcap, as load_word stored it (host order)
    assert flows[struct.pack("<I", 0xC0A8010B).hex()]


def test_repeated_pcap_options_add_up():
    a = run_json(
        SOCKEX1, "--pcap", str(PCAPS / "dns_udp.pcap"), "--pcap", str(PCAPS / "dns_tcp.pcap")
    )
    assert a["received"] == 13


def test_accepting_filter_counts_bytes(tmp_path):
    mod = tmp_path / "accept_all.py"
    mod.write_text(
        "from pybpf.asm.macros import BPF_MOV64_IMM, BPF_EXIT_INSN\n"
        "MAPS = {}\n"
        "def build(maps):\n"
        "    return [BPF_MOV64_IMM(0, -1), BPF_EXIT_INSN()]\n"
    )
    pcap = str(PCAPS / "dns_tcp.pcap")
    d = run_json(str(mod), "--pcap", pcap)
    frames = read_packets(pcap)
    assert d["program"] == "accept_all"
    assert d["accepted"] == d["received"] == len(frames)
    assert d["delivered_bytes"] == sum(len(p.data) for p in frames)
    assert d["maps"] == {}


def test_macro_module_and_object_file(tmp_path):
    d = run_json(str(EXAMPLES / "sockex1_macros.py"), "--pcap", str(PCAPS / "dns_udp.pcap"))
    assert entries(d["maps"]["my_map"])[struct.pack("<I", 17).hex()] == struct.pack("<q", 2).hex()
    from pybpf.spec.cc import compile_c

    obj = compile_c(Path(SOCKEX1), tmp_path / "sockex1.o")
    d2 = run_json(str(obj), "--pcap", str(PCAPS / "dns_udp.pcap"))
    assert (
        d2["maps"]["proto_count"]
        == run_json(SOCKEX1, "--pcap", str(PCAPS / "dns_udp.pcap"))["maps"]["proto_count"]
    )


def test_section_selection():
    d = run_json(SOCKEX1, "--section", "socket1", "--pcap", str(PCAPS / "dns_udp.pcap"))
    assert d["program"] == "count_by_protocol"
    r = run(SOCKEX1, "--section", "nope", "--pcap", str(PCAPS / "dns_udp.pcap"))
    assert r.exit_code == 1 and "nope" in r.stderr and "socket1" in r.stderr


def test_tables():
    r = run(SOCKEX1, "--pcap", str(PCAPS / "dns_udp.pcap"))
    assert r.exit_code == 0
    out = r.stdout
    assert "map proto_count" in out and "11 00 00 00" in out and "02 00 00 00 00 00 00 00" in out
    assert "dropped_by_filter" in out and "count_by_protocol" in out


def test_damaged_capture_warns_and_keeps_earlier_packets(tmp_path):
    src = (PCAPS / "dns_tcp.pcap").read_bytes()
    bad = tmp_path / "cut.pcap"
    bad.write_bytes(src[: len(src) - 30])  # the last record is cut short
    r = run(SOCKEX1, "--pcap", str(bad), "--json")
    assert r.exit_code == 0
    assert "warning" in r.stderr and "offset 0x" in r.stderr and "cut.pcap" in r.stderr
    d = json.loads(r.stdout)
    assert d["received"] == len(read_packets(PCAPS / "dns_tcp.pcap")) - 1


def test_non_capture_beside_a_good_one_is_a_warning(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all")
    r = run(SOCKEX1, "--pcap", str(junk), str(PCAPS / "dns_udp.pcap"), "--json")
    assert r.exit_code == 0, r.stderr
    assert "junk.pcap" in r.stderr and "not a pcap" in r.stderr
    assert json.loads(r.stdout)["received"] == 2


@pytest.mark.parametrize("content", [b"", b"garbage!" * 4, b"\xd4\xc3"])
def test_nothing_readable_exits_1(tmp_path, content):
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(content)
    r = run(SOCKEX1, "--pcap", str(junk))
    assert r.exit_code == 1
    assert "Traceback" not in r.output + r.stderr
    assert "junk.pcap" in r.stderr


def test_missing_files_without_traceback(tmp_path):
    """A missing program is a usage error (exit 2, as in verify and disasm); a capture that
    cannot be read is reported and, when no capture could be read, exit 1."""
    r = run(str(tmp_path / "nope.o"), "--pcap", str(PCAPS / "dns_udp.pcap"))
    assert r.exit_code == 2 and "nope.o" in r.stderr and "does not exist" in r.stderr
    r = run(SOCKEX1, "--pcap", str(tmp_path / "nope.pcap"))
    assert r.exit_code == 1 and "nope.pcap" in r.stderr
    assert "Traceback" not in r.output + r.stderr


def test_no_capture_is_a_usage_error():
    r = run(SOCKEX1)
    assert r.exit_code == 2 and "--pcap" in r.stderr


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("bad.o", b"\x7fELF" + bytes(60), "ELF"),
        ("bad.o", b"not elf", "ELF"),
        ("bad.c", b"int f( {", "error"),
        ("bad.py", b"raise RuntimeError('boom')\n", "boom"),
        ("bad2.py", b"X = 1\n", "build"),
    ],
)
def test_bad_programs_exit_1_without_traceback(tmp_path, name, content, words):
    p = tmp_path / name
    p.write_bytes(content)
    r = run(str(p), "--pcap", str(PCAPS / "dns_udp.pcap"))
    assert r.exit_code == 1
    assert words in r.stderr
    assert "Traceback" not in r.output + r.stderr


def test_engine_jit_is_clear_when_unavailable():
    r = run(SOCKEX1, "--engine", "jit", "--pcap", str(PCAPS / "dns_udp.pcap"), "--json")
    try:
        import pybpf.vm.jit  # noqa: F401
    except ImportError:
        assert r.exit_code == 1 and "JIT" in r.stderr and "Traceback" not in r.stderr
    else:  # the JIT exists: it must agree with the interpreter or say it cannot
        if r.exit_code == 0:
            ref = run_json(SOCKEX1, "--pcap", str(PCAPS / "dns_udp.pcap"))
            assert json.loads(r.stdout) == ref
        else:
            assert "JIT" in r.stderr and "Traceback" not in r.stderr


def test_subprocess_entry_point():
    cmd = [
        sys.executable,
        "-c",
        "from pybpf.cli import main; main()",
        "run",
        SOCKEX1,
        "--pcap",
        str(PCAPS / "dns_udp.pcap"),
        str(PCAPS / "dns_tcp.pcap"),
        "--json",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["received"] == 13 and len(d["maps"]["proto_count"]) == 256
    bad = subprocess.run(
        cmd[:4] + ["/nonexistent.o", "--pcap", str(PCAPS / "dns_udp.pcap")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.kernel
@pytest.mark.parametrize("prog", [SOCKEX1, SOCKEX2])
def test_kernel_backend_agrees(prog):
    require_bpf()
    # not gso-*: its frame is larger than test_run takes; not the Linux cooked captures:
    # they record PACKET_OUTGOING frames, which BPF_PROG_TEST_RUN cannot present as such
    small = [p for p in ALL_PCAPS if "gso" not in p and "nano" not in p and "bgp" not in p]
    user = run_json(prog, "--pcap", *small)
    kern = run_json(prog, "--pcap", *small, "--backend", "kernel")
    assert kern == user


def test_tables_decode_with_btf():
    r = run(str(EXAMPLES / "sockex3_btf_kern.c"), "--pcap", str(PCAPS / "dns_udp.pcap"))
    assert r.exit_code == 0, r.stderr
    assert "{.packets = 1, .bytes = 266}" in r.stdout
    assert "{.ipv4_packets = 2}" in r.stdout


def test_tables_decode_with_declared_types(tmp_path):
    mod = tmp_path / "typed.py"
    mod.write_text(
        "from pybpf.asm.macros import BPF_MOV64_IMM, BPF_EXIT_INSN\n"
        "from pybpf.spec.types import MapSpec\n"
        "MAPS = {'typed': MapSpec('typed', 2, 4, 8, 3, key_type='<I', value_type='<q',\n"
        "                         initial={(1).to_bytes(4, 'little'): (-5).to_bytes(8, 'little',"
        " signed=True)})}\n"
        "def build(maps):\n"
        "    return [BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()]\n"
    )
    r = run(str(mod), "--pcap", str(PCAPS / "dns_udp.pcap"), "--all")
    assert r.exit_code == 0, r.stderr
    assert "map typed (array" in r.stdout
    rows = [line for line in r.stdout.splitlines() if line.startswith("│")]
    cells = [[c.strip() for c in line.strip("│").split("│")] for line in rows]
    assert ["0", "0"] in cells and ["1", "-5"] in cells and ["2", "0"] in cells


def test_progress_bar_only_on_a_terminal(monkeypatch, capsys):
    import pybpf
    from pybpf.cli import run as runmod

    coll = pybpf.load(SOCKEX1)
    monkeypatch.setattr(runmod, "PROGRESS_MIN_BYTES", 1)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    res, sock = runmod.run_captures(coll.program(), ALL_PCAPS, name="x", progress=True)
    assert res.received == sock.received > 50
    assert "packets" in capsys.readouterr().err  # the (transient) bar was drawn
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    res2, _ = runmod.run_captures(coll.program(), ALL_PCAPS, name="x", progress=True)
    assert res2.received == res.received
    assert capsys.readouterr().err == ""  # not a terminal: no bar


# ---- pybpf attach (live; root) -----------------------------------------------------------------


def test_attach_bad_interface_exits_1():
    r = CliRunner().invoke(main, ["attach", SOCKEX1, "--iface", "nonexistent0"])
    assert r.exit_code == 1 and "nonexistent0" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.kernel
@pytest.mark.parametrize("kernel", [False, True])
def test_attach_counts_loopback_datagrams(kernel):
    import socket
    import threading

    from pybpf.net.live import can_open_packet_socket

    require_bpf()
    why = can_open_packet_socket()
    if why:
        pytest.skip(why)
    stop = threading.Event()

    def traffic() -> None:
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", 0))
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while not stop.wait(0.02):
            tx.sendto(b"pybpf attach test", rx.getsockname())
        rx.close()
        tx.close()

    t = threading.Thread(target=traffic, daemon=True)
    t.start()
    try:
        args = ["attach", SOCKEX1, "--iface", "lo", "--interval", "0.5", "--count", "2", "--json"]
        r = CliRunner().invoke(main, args + (["--kernel"] if kernel else []))
    finally:
        stop.set()
        t.join()
    assert r.exit_code == 0, r.stderr
    ticks = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["interval"] for d in ticks] == [1, 2]
    udp = [
        int.from_bytes(
            bytes.fromhex(entries(d["maps"]["proto_count"])[struct.pack("<I", 17).hex()]),
            "little",
        )
        for d in ticks
    ]
    assert 0 < udp[0] <= udp[1]  # counters only grow
    if not kernel:
        assert ticks[1]["received"] >= udp[1]


# ---- damaged input never gives a traceback ------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SEED_CAPTURES = [
    (PCAPS / n).read_bytes()
    for n in ("dns_tcp.pcap", "icmp-length-zero.pcapng", "tcp-handshake-nano.pcap")
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.integers(0, len(_SEED_CAPTURES) - 1),
    cut=st.integers(0, 2000),
    flips=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=6),
)
def test_corrupted_captures_never_traceback(tmp_path, which, cut, flips):
    data = bytearray(_SEED_CAPTURES[which][:cut])
    for pos, val in flips:
        if pos < len(data):
            data[pos] = val
    p = tmp_path / "fuzz.pcap"
    p.write_bytes(bytes(data))
    r = CliRunner().invoke(main, ["run", SOCKEX2, "--pcap", str(p), "--json"])
    assert r.exit_code in (0, 1), r.exception
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    if r.exit_code == 0:
        assert set(json.loads(r.stdout)) == {"program", *COUNTERS, "maps"}
