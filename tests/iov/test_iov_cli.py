"""``pybpf iov fault``: one layout through the real kernel and the model."""

from __future__ import annotations

from click.testing import CliRunner

from pybpf.cli import main


def test_fault_command_agrees_with_kernel():
    r = CliRunner().invoke(
        main, ["iov", "fault", "--prot", "1=none", "--seg", "100:1000", "--seg", "0xfa0:500"]
    )
    assert r.exit_code == 0, r.output
    assert r.output.count("1096 bytes") == 2 and "agree" in r.output


def test_fault_command_efault_and_bad_input():
    r = CliRunner().invoke(main, ["iov", "fault", "--prot", "0=none", "--seg", "0:10", "--write"])
    assert r.exit_code == 0 and r.output.count("-EFAULT") == 2
    r = CliRunner().invoke(main, ["iov", "fault", "--prot", "7=rw", "--seg", "0:1"])
    assert r.exit_code == 1 and "bad --prot" in r.output and "Traceback" not in r.output
