"""The bpf_conformance suite ($PYBPF_CONFORMANCE or ../shared/conformance): every file passes, in-process, through
`pybpf conformance` and through the `pybpf plugin` protocol the suite's runner speaks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from pybpf.cli import main
from pybpf.errors import BpfError
from pybpf.isa import encode
from pybpf.vm.conformance import (
    ConformanceTest,
    load_test,
    parse_test,
    run_program,
    run_test,
)
from support.paths import CONFORMANCE_MISSING, conformance_files  # noqa: E402

FILES = conformance_files()
SUITE = FILES[0].parent if FILES else Path("absent")
pytestmark = pytest.mark.skipif(not FILES, reason=CONFORMANCE_MISSING)


def test_the_suite_has_313_files() -> None:
    assert len(FILES) == 313


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_conformance_file(path: Path) -> None:
    outcome = run_test(load_test(path))
    assert outcome.passed, outcome.detail


def test_cli_runs_the_folder_and_ends_with_the_count() -> None:
    res = CliRunner().invoke(main, ["conformance", str(SUITE)])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[-1] == "313 passed, 0 failed"


def test_cli_reports_failures_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "good.data").write_text("-- asm\nmov %r0, 1\nexit\n-- result\n0x1\n")
    (tmp_path / "bad.data").write_text("-- asm\nmov %r0, 2\nexit\n-- result\n0x1\n")
    (tmp_path / "fault.data").write_text("-- asm\nldxw %r0, [%r1]\nexit\n-- result\n0x0\n")
    res = CliRunner().invoke(main, ["conformance", str(tmp_path)])
    assert res.exit_code == 1
    lines = res.output.splitlines()
    assert lines[-1] == "1 passed, 2 failed"
    assert any("bad.data" in ln and "expected 0x1, got 0x2" in ln for ln in lines)
    assert any("fault.data" in ln and "invalid read of 4 bytes" in ln for ln in lines)


def test_error_expectation_passes_on_any_pybpf_error() -> None:
    t = parse_test("-- asm\nldxw %r0, [%r1]\nexit\n-- error\nout of bounds\n")
    assert t.error == "out of bounds" and run_test(t).passed
    t = parse_test("-- asm\nmov %r0, 0\nexit\n-- error\nsomething\n")
    assert not run_test(t).passed


def test_parser_sections() -> None:
    text = (
        "# comment\n-- asm\nmov %r0, %r2 # trailing\nexit\n-- mem\n00 01\n02 # x\n"
        "-- no register offset\n-- result\n0x3\n"
    )
    t = parse_test(text, "x")
    assert t.mem == b"\x00\x01\x02" and t.has_mem and t.result == 3
    assert run_test(t).passed
    raw = parse_test("-- raw\n0xb7 # nothing\n-- result\n5\n")
    assert raw.raw == [0xB7] and raw.result == 5
    assert isinstance(raw, ConformanceTest)


# --- the plugin protocol ------------------------------------------------------------------------


def _hex(data: bytes) -> str:
    """Bytes the way bpf_conformance's runner writes them ("%02x" and two spaces)."""
    return "".join(f"{b:02x}  " for b in data)


def _plugin_args(path: Path) -> tuple[list[str], str, ConformanceTest]:
    t = load_test(path)
    return [_hex(t.mem), ""], _hex(encode(t.program())) + "\n", t


def _check_plugin_output(t: ConformanceTest, code: int, out: str) -> str | None:
    if code != 0:
        return f"{t.name}: exit {code}: {out.strip()}"
    if t.result is not None and int(out.strip(), 16) & 0xFFFF_FFFF != t.result & 0xFFFF_FFFF:
        return f"{t.name}: got {out.strip()} expected {t.result:#x}"
    return None


def test_plugin_in_process_over_the_whole_suite() -> None:
    runner = CliRunner()
    bad = []
    for path in FILES:
        args, stdin, t = _plugin_args(path)
        res = runner.invoke(main, ["plugin", *args], input=stdin)
        err = _check_plugin_output(t, res.exit_code, res.output)
        if err:
            bad.append(err)
    assert not bad, "\n".join(bad)


def test_plugin_prints_the_error_and_exits_nonzero() -> None:
    prog = _hex(encode(load_test(SUITE / "ldxw.data").program()))
    res = CliRunner().invoke(main, ["plugin"], input=prog)  # no memory: r1 = 0
    assert res.exit_code == 1
    assert "invalid read of 4 bytes at 0x" in res.output
    res = CliRunner().invoke(main, ["plugin", "zz"], input=prog)
    assert res.exit_code == 1 and "invalid hex" in res.output
    res = CliRunner().invoke(main, ["plugin", "00", "--bogus"], input=prog)
    assert res.exit_code == 1 and "Unexpected arguments" in res.output


def test_plugin_program_option_and_run_together_hex() -> None:
    res = CliRunner().invoke(main, ["plugin", "--program", "b7000000070000009500000000000000"])
    assert res.exit_code == 0 and res.output.strip() == "7"


def _pybpf_cmd() -> list[str]:
    exe = shutil.which("pybpf")
    return [exe] if exe else [sys.executable, "-c", "from pybpf.cli import main; main()"]


def _run_plugin_subprocess(path: Path) -> str | None:
    args, stdin, t = _plugin_args(path)
    p = subprocess.run(
        [*_pybpf_cmd(), "plugin", *args], input=stdin, capture_output=True, text=True, timeout=120
    )
    return _check_plugin_output(t, p.returncode, p.stdout + p.stderr)


SAMPLE = [
    p
    for p in FILES
    if p.name
    in {
        "prime.data",
        "subnet.data",
        "callx.data",
        "call_unwind_fail.data",
        "lddw.data",
        "mem-len.data",
        "call_local.data",
        "lock_cmpxchg.data",
    }
]


@pytest.mark.parametrize("path", SAMPLE, ids=[p.name for p in SAMPLE])
def test_plugin_subprocess_sample(path: Path) -> None:
    assert _run_plugin_subprocess(path) is None


@pytest.mark.slow
def test_plugin_subprocess_over_the_whole_suite() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        bad = [e for e in pool.map(_run_plugin_subprocess, FILES) if e]
    assert not bad, "\n".join(bad)


def test_run_program_errors_are_bpf_errors() -> None:
    with pytest.raises(BpfError):
        run_program(encode(load_test(SUITE / "ldxw.data").program()))
